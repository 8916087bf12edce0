#!/usr/bin/env bash
# Schema-driven fuzzing: Schemathesis generates requests from openapi.yaml (valid ones and
# ones that break the schema) for every operation and checks each answer: no 5xx, the status
# and content type the document lists, a body valid against its schema, no answer slower than
# MAX_RESPONSE_TIME, and no operation that lets a request without credentials through. Runs
# against the local server with the demo world on the embedded store and, when
# DYNAMODB_TEST_ENDPOINT is set, on the DynamoDB emulator. Credentials come from
# infra/schemathesis/hooks.py. Reports land in target/schemathesis/.
# Usage: bash infra/schemathesis.sh [extra schemathesis options]
#   ST_MAX_EXAMPLES (default 40 per operation), ST_SEED (default 1: CI replays the same cases)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/local-server.sh
client_venv .venv-schemathesis infra/schemathesis/requirements.txt
cargo build --locked -p local-api --bin local-api
max_examples="${ST_MAX_EXAMPLES:-40}"
seed="${ST_SEED:-1}"
max_response_time="${MAX_RESPONSE_TIME:-2}"
mkdir -p target/schemathesis

run_against() {
  local what="$1" label="$2"; shift 2
  local data
  data="$(mktemp -d)"
  printf 'schemathesis-shell-secret' > "$data/shell-secret"
  python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' > "$data/kas-secret"
  printf 'schemathesis-error-tracking-token' > "$data/error-tracking-token"
  start_local_api "$data" /api/v4/internal/check --seed infra/local-api/demo-seed.json \
    --shell-secret-file "$data/shell-secret" --kas-secret-file "$data/kas-secret" \
    --error-tracking-token-file "$data/error-tracking-token" --settings-cache-seconds 0 "$@"
  echo "==> schemathesis ($what): $max_examples examples per operation, seed $seed"
  local status=0
  SCHEMATHESIS_SECRETS_DIR="$data" SCHEMATHESIS_HOOKS=hooks PYTHONPATH=infra/schemathesis \
    .venv-schemathesis/bin/schemathesis run openapi.yaml \
      --url "http://127.0.0.1:$LOCAL_API_PORT" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth \
      --max-response-time "$max_response_time" \
      --max-examples "$max_examples" --seed "$seed" --workers 1 \
      --phases examples,coverage,fuzzing --generation-database none \
      --report junit --report-junit-path "target/schemathesis/$label.xml" \
      --no-color "${EXTRA[@]}" || status=1
  stop_local_api
  if [[ $status -ne 0 ]]; then
    echo "the server's log (last 50 lines):" >&2
    tail -50 "$data/server.log" >&2
  fi
  rm -rf "$data"
  return $status
}

EXTRA=("$@")
run_against "embedded store" embedded --in-memory
if [[ -n "${DYNAMODB_TEST_ENDPOINT:-}" ]]; then
  run_against "DynamoDB emulator" dynamodb --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" \
    --table "schemathesis-$RANDOM"
elif [[ "${CI:-}" == "true" ]]; then
  echo "CI=true but DYNAMODB_TEST_ENDPOINT is not set" >&2
  exit 1
fi
