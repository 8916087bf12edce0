#!/usr/bin/env bash
# Provisioning at scale: `provision apply` of a world with KEYS SSH keys (one user per 100)
# into a fresh embedded store, and into a fresh table on the DynamoDB emulator (moto), timed;
# then the same file again, which must plan nothing; then `provision export` of that store and
# an apply (with --prune) of the export, which must plan nothing too.
# Usage: bash infra/provision-bench.sh [KEYS [EMULATOR_KEYS]]
# EMULATOR_KEYS defaults to 10,000 (100,000 take about 9 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
keys="${1:-100000}"
emulator_keys="${2:-10000}"
source infra/tools.sh
cargo build --release --locked -p local-api --bin provision
eval "$(bash infra/dynamodb-emulator.sh)"
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
dir="$(mktemp -d)"
world() {
python3 - "$1" <<'PY'
import base64, json, os, struct, sys
keys = int(sys.argv[1])
users = max(1, keys // 100)
def blob():
    # An ed25519 public key: the type name and 32 bytes, each length-prefixed.
    kind = b"ssh-ed25519"
    raw = os.urandom(32)
    return base64.b64encode(struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + raw).decode()
world = {
    "users": [{"id": u, "username": f"user{u}", "name": f"User {u}", "email": f"user{u}@example.com"} for u in range(1, users + 1)],
    "keys": [{"id": k, "user_id": (k % users) + 1, "title": f"key {k}", "key": f"ssh-ed25519 {blob()} key{k}"} for k in range(1, keys + 1)],
}
json.dump(world, sys.stdout)
PY
}
timed() {
  local started=$SECONDS
  ./target/release/provision apply "$@" | grep --line-buffered -v "^  [+~-] " | tail -2
  echo "($(( SECONDS - started )) s)"
}
exported() {
  local started=$SECONDS
  ./target/release/provision export "$@" --output "$dir/exported.json"
  echo "export: $(wc -c < "$dir/exported.json") bytes ($(( SECONDS - started )) s)"
  started=$SECONDS
  ./target/release/provision apply "$dir/exported.json" "$@" --prune --dry-run | tail -1
  echo "(the export planned again with --prune: $(( SECONDS - started )) s)"
}
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%F)"
world "$keys" > "$dir/world.json"
echo "== embedded store, $keys keys: first apply, then the same file again"
timed "$dir/world.json" --data-dir "$dir" --yes
timed "$dir/world.json" --data-dir "$dir" --dry-run
exported --data-dir "$dir"
world "$emulator_keys" > "$dir/small.json"
table="bench$RANDOM"
emulator=(--table "$table" --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" --region eu-west-1 --create-table)
echo "== DynamoDB emulator, $emulator_keys keys: first apply, then the same file again"
timed "$dir/small.json" "${emulator[@]}" --yes
timed "$dir/small.json" "${emulator[@]}" --dry-run
exported --table "$table" --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" --region eu-west-1
rm -rf "$dir"
