#!/usr/bin/env bash
# The test command: installs what it needs, starts the DynamoDB emulator on loopback, then runs
# format and lint checks, the template checks, the whole test suite on both backends, the parser
# fuzz targets (cargo-fuzz), and a real SCIM client (scim2-tester) and Schemathesis (from
# openapi.yaml) against the local server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source infra/tools.sh

eval "$(bash infra/dynamodb-emulator.sh)"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
echo "==> DynamoDB emulator (moto) at $DYNAMODB_TEST_ENDPOINT"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> template checks: sam validate --lint, cfn-lint, expanded-template tests"
sam validate --lint --template template.yaml
cfn-lint template.yaml
pytest -q infra/template-tests
echo "==> cargo test (embedded store and DynamoDB emulator)"
log="$(mktemp)"
cargo test --workspace --locked 2>&1 | tee "$log"
read -r passed failed < <(awk '/^test result:/ {
  for (i = 2; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) }
} END { print p + 0, f + 0 }' "$log")
rm -f "$log"
echo "tests: $passed passed, $failed failed"
echo "==> cargo fuzz: every parser target, ${FUZZ_SECONDS:-20} s each (infra/fuzz.sh)"
bash infra/fuzz.sh
echo "==> function binaries within their size ceilings (release build)"
bash infra/binary-sizes.sh
echo "==> SCIM conformance: scim2-tester against the local server"
bash infra/scim-conformance.sh
echo "==> Schemathesis: requests generated from openapi.yaml against the local server"
bash infra/schemathesis.sh
