#!/usr/bin/env bash
# Load on the local server (release build, embedded store in memory, demo world) with wrk on
# loopback: GET /authorized_keys, POST /allowed for a pull, and POST /allowed for a push of 100
# new branches, each at 1, 16 and 64 connections for DURATION seconds. Prints requests/s and
# the p50 and p99 latency of each run, and the machine it ran on. wrk shares the machine's
# cores with the server, so the numbers are for the pair.
# Usage: bash infra/bench.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10}"
if ! command -v wrk >/dev/null; then
  apt-get install -y -qq wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
fi
cargo build --release --locked -p local-api --bin local-api
dir="$(mktemp -d)"
./target/release/local-api --in-memory --data-dir "$dir" --listen 127.0.0.1:0 > "$dir/banner" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do grep -q 'Gitlab-Shell-Api-Request' "$dir/banner" && break; sleep 0.1; done
address="$(sed -n 's|^serving .* on http://\([^ ]*\) .*|\1|p' "$dir/banner")"
# A JWT lives five minutes: a fresh one per run.
token() { ./target/release/local-api token --data-dir "$dir"; }
# The blob of the demo world's root key, escaped the way GitLab Shell's Go client escapes it.
blob="$(python3 -c "import json; k=json.load(open('infra/local-api/demo-seed.json'))['keys'][0]['key'].split()[1]; print(k.replace('+','%2B').replace('/','%2F').replace('=','%3D'))")"
keys_url="http://$address/api/v4/internal/authorized_keys?key=$blob"
allowed_url="http://$address/api/v4/internal/allowed"
# /allowed bodies as GitLab Shell sends them: alice (key 2, a Developer of group/private)
# pulls, and pushes 100 new branches (creations: Gitaly is not asked).
python3 - "$dir" <<'PY'
import json, sys
zeros = "0" * 40
bodies = {
    "pull": {"action": "git-upload-pack", "project": "group/private", "key_id": "2",
             "changes": "_any", "protocol": "ssh"},
    "push100": {"action": "git-receive-pack", "project": "group/private", "key_id": "2",
                "protocol": "ssh",
                "changes": "\n".join(f"{zeros} {i + 1:040x} refs/heads/bench-{i}" for i in range(100))},
}
for name, body in bodies.items():
    with open(f"{sys.argv[1]}/{name}.lua", "w") as script:
        script.write('wrk.method = "POST"\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(f"wrk.body = {json.dumps(json.dumps(body))}\n")
PY
curl -sf -H "Gitlab-Shell-Api-Request: $(token)" "$keys_url" > /dev/null
for body in pull push100; do
  curl -sf -X POST -H "Gitlab-Shell-Api-Request: $(token)" -H 'Content-Type: application/json' \
    --data-binary "$(sed -n 's/^wrk.body = //p' "$dir/$body.lua" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read()))')" \
    "$allowed_url" | grep -q '"status":true' || { echo "/allowed ($body) was not allowed" >&2; exit 1; }
done
echo "machine: $(nproc) cores, $(uname -m), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
run() {
  local name="$1"; shift
  for connections in 1 16 64; do
    printf '== %s, %s connection(s), %ss: ' "$name" "$connections" "$duration"
    wrk -t1 -c"$connections" -d"${duration}s" --latency -H "Gitlab-Shell-Api-Request: $(token)" "$@" \
      | awk '/Requests\/sec/ {rps = $2} /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
             END {printf "%s req/s, p50 %s, p99 %s\n", rps, p50, p99}'
  done
}
run "GET /authorized_keys" "$keys_url"
run "POST /allowed (pull)" -s "$dir/pull.lua" "$allowed_url"
run "POST /allowed (push of 100 refs)" -s "$dir/push100.lua" "$allowed_url"
