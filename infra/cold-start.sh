#!/usr/bin/env bash
# Cold start of the shell function's binary (host build, release profile): process start to
# the first API Gateway event handled, against the DynamoDB emulator with the demo world.
# Usage: bash infra/cold-start.sh [RUNS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-20}"
source infra/tools.sh
cargo build --release --locked -p shell -p local-api
eval "$(bash infra/dynamodb-emulator.sh)"
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
./target/release/provision import-seed infra/local-api/demo-seed.json --table gitlab \
  --dynamodb-endpoint "$DYNAMODB_TEST_ENDPOINT" --region eu-west-1 --create-table > /dev/null
for secret in environment extension; do
  echo "GitLab Shell secret from the $secret:"
  python infra/cold_start.py ./target/release/shell functions/shell/tests/fixtures/rest-check.json \
    --runs "$runs" --env TABLE_NAME=gitlab --env "DYNAMODB_ENDPOINT=$DYNAMODB_TEST_ENDPOINT" \
    --env GITLAB_SHELL_SECRET=cold-start-secret $([ "$secret" = extension ] && echo --secret-from-extension)
done
