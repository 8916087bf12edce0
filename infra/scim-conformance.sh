#!/usr/bin/env bash
# A real third-party SCIM client against the local server: scim2-tester (infra/scim-conformance)
# drives both SCIM bases of the test world, on the embedded store and, when
# DYNAMODB_TEST_ENDPOINT is set, on the DynamoDB emulator. Its tools live in .venv-scim, apart
# from the project's, so that their pins cannot clash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requirements=infra/scim-conformance/requirements.txt
venv=.venv-scim
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  echo "==> installing scim2-tester into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi
cargo build --locked -p local-api --bin local-api

run_against() {
  local what="$1"; shift
  local port data
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  data="$(mktemp -d)"
  ./target/debug/local-api --listen "127.0.0.1:$port" --data-dir "$data" \
    --seed tests/fixtures/world.json "$@" > "$data/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/api/scim/v2/application/Users"; then
      break
    fi
    sleep 0.2
  done
  local status=0
  echo "==> scim2-tester, group SCIM ($what)"
  "$venv/bin/python" infra/scim-conformance/run.py \
    --base-url "http://127.0.0.1:$port/api/scim/v2/groups/group" --token scim-group || status=1
  echo "==> scim2-tester, instance SCIM ($what)"
  "$venv/bin/python" infra/scim-conformance/run.py \
    --base-url "http://127.0.0.1:$port/api/scim/v2/application" --token scim-instance || status=1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    echo "the server's log:" >&2
    cat "$data/server.log" >&2
  fi
  rm -rf "$data"
  return $status
}

run_against "embedded store" --in-memory
if [[ -n "${DYNAMODB_TEST_ENDPOINT:-}" ]]; then
  run_against "DynamoDB emulator" --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" \
    --table "scim-conformance-$RANDOM"
elif [[ "${CI:-}" == "true" ]]; then
  echo "CI=true but DYNAMODB_TEST_ENDPOINT is not set" >&2
  exit 1
fi
