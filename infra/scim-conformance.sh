#!/usr/bin/env bash
# A real third-party SCIM client against the local server: scim2-tester (infra/scim-conformance)
# drives both SCIM bases of the test world, on the embedded store and, when
# DYNAMODB_TEST_ENDPOINT is set, on the DynamoDB emulator. Its tools live in .venv-scim, apart
# from the project's, so that their pins cannot clash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/local-server.sh
client_venv .venv-scim infra/scim-conformance/requirements.txt
venv=.venv-scim
cargo build --locked -p local-api --bin local-api

run_against() {
  local what="$1"; shift
  local data
  data="$(mktemp -d)"
  start_local_api "$data" /api/scim/v2/application/Users --seed tests/fixtures/world.json "$@"
  local port="$LOCAL_API_PORT"
  local status=0
  echo "==> scim2-tester, group SCIM ($what)"
  "$venv/bin/python" infra/scim-conformance/run.py \
    --base-url "http://127.0.0.1:$port/api/scim/v2/groups/group" --token scim-group || status=1
  echo "==> scim2-tester, instance SCIM ($what)"
  "$venv/bin/python" infra/scim-conformance/run.py \
    --base-url "http://127.0.0.1:$port/api/scim/v2/application" --token scim-instance || status=1
  stop_local_api
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
