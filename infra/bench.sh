#!/usr/bin/env bash
# Requests/s of GET /api/v4/internal/authorized_keys on the local server (embedded store, in
# memory, demo world) under wrk on loopback. Bounded: one 10 s run per connection count.
# Usage: bash infra/bench.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10}"
if ! command -v wrk >/dev/null; then
  apt-get install -y -qq wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
fi
cargo build --release --locked -p local-api
dir="$(mktemp -d)"
./target/release/local-api --in-memory --data-dir "$dir" --listen 127.0.0.1:0 > "$dir/banner" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q 'Gitlab-Shell-Api-Request' "$dir/banner" && break; sleep 0.1; done
address="$(sed -n 's|^serving .* on http://\([^ ]*\) .*|\1|p' "$dir/banner")"
token="$(sed -n "s|.*Gitlab-Shell-Api-Request: \([^']*\)'.*|\1|p" "$dir/banner")"
# The blob of the demo world's root key, escaped the way GitLab Shell's Go client escapes it.
blob="$(python3 -c "import json; k=json.load(open('infra/local-api/demo-seed.json'))['keys'][0]['key'].split()[1]; print(k.replace('+','%2B').replace('/','%2F').replace('=','%3D'))")"
url="http://$address/api/v4/internal/authorized_keys?key=$blob"
curl -sf -H "Gitlab-Shell-Api-Request: $token" "$url" > /dev/null
for connections in 1 16 64; do
  echo "== $connections connection(s), ${duration}s"
  wrk -t1 -c"$connections" -d"${duration}s" --latency -H "Gitlab-Shell-Api-Request: $token" "$url" \
    | grep -E 'Requests/sec|Latency|50%|99%|requests in'
done
