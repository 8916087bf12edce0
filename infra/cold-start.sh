#!/usr/bin/env bash
# Cold start of every function binary (host build, release profile) beside an empty Lambda
# function built the same way: process start to the first `invocation/next` (init), and to the
# first answer of a REST event, under a stand-in Runtime API, against the DynamoDB emulator
# with the demo world: RUNS fresh processes per function, one function after another.
# Also prints each binary's size.
# Usage: bash infra/cold-start.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-20}"
source infra/tools.sh
functions=(shell kas error-tracking admin billing scim)
cargo build --release --locked $(printf -- '-p %s ' "${functions[@]}") -p empty-function \
  -p local-api --bin provision $(printf -- '--bin %s ' "${functions[@]}") --bin empty-function
eval "$(bash infra/dynamodb-emulator.sh)"
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
./target/release/provision import-seed infra/local-api/demo-seed.json --table gitlab \
  --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" --region eu-west-1 --create-table > /dev/null
kas_secret="$(python3 -c 'import base64; print(base64.b64encode(b"k" * 32).decode())')"
common=(--runs "$runs" --env TABLE_NAME=gitlab --env "DYNAMODB_ENDPOINT=$DYNAMODB_TEST_ENDPOINT"
        --env GITLAB_SHELL_SECRET=cold-start-secret --env "GITLAB_KAS_SECRET=$kas_secret"
        --env ERROR_TRACKING_TOKEN=cold-start-token)
admin_token=glpat-demo-admin-token-0123456789
unknown=functions/shell/tests/fixtures/rest-unknown-path.json
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%F), commit $(git rev-parse --short HEAD)"
for binary in empty-function "${functions[@]}"; do
  printf '%s: %s bytes\n' "$binary" "$(stat -c %s "target/release/$binary")"
done
measure() { python infra/cold_start.py "$@" "${common[@]}" --baseline ./target/release/empty-function; }
measure ./target/release/empty-function "$unknown" --label "empty function (any event)"
# A request with one store round trip where one can be made again and again; billing and SCIM
# requests write, so theirs is an unknown path (404, no store), which still shows their init.
measure ./target/release/shell functions/shell/tests/fixtures/rest-check.json --label "shell GET /check"
measure ./target/release/shell functions/shell/tests/fixtures/rest-check.json --secret-from-extension \
  --label "shell GET /check, secret from the extension"
measure ./target/release/kas functions/kas/tests/fixtures/rest-agent-info.json --kas-jwt \
  --replace AGENT_TOKEN=glagent-demo-token-0123456789abcdef --label "kas GET /kubernetes/agent_info"
measure ./target/release/error-tracking "$unknown" --expect 404 --label "error-tracking, unknown path"
measure ./target/release/admin functions/admin/tests/fixtures/rest-list-exclusions.json \
  --replace "TOKEN=$admin_token" --label "admin GET /namespaces/storage/limit_exclusions"
measure ./target/release/billing "$unknown" --expect 404 --label "billing, unknown path"
measure ./target/release/scim "$unknown" --expect 404 --label "scim, unknown path"
