#!/usr/bin/env bash
# Starts moto's DynamoDB-wire server (one request at a time, as DynamoDB applies each
# atomically; see dynamodb_emulator.py) on a free loopback port and prints its endpoint.
# Usage: eval "$(infra/dynamodb-emulator.sh)"   # sets DYNAMODB_TEST_ENDPOINT and MOTO_PID
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/tools.sh" >&2
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="${TMPDIR:-/tmp}/moto-$port.log"
python "$(dirname "${BASH_SOURCE[0]}")/dynamodb_emulator.py" 127.0.0.1 "$port" > "$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
    echo "export DYNAMODB_TEST_ENDPOINT=http://127.0.0.1:$port MOTO_PID=$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "moto_server exited; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "moto_server did not answer on port $port within 20 s; its log: $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
