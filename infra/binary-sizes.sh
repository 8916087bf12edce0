#!/usr/bin/env bash
# Each function binary against its size ceiling (infra/binary-size-ceilings.txt), built with
# the release profile for the host. Lambda runs the arm64 build (`cargo lambda build --release
# --arm64`), whose budget is 10 MiB; the host build is checked because CI has no arm64
# standard library, and the ceilings are the host sizes at which the arm64 build reaches its
# budget (the two move together: each arm64 function is 0.824-0.828 of its host build). Fails
# when any binary passes its ceiling.
# Usage: bash infra/binary-sizes.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ceilings=infra/binary-size-ceilings.txt
mapfile -t binaries < <(awk '!/^#/ && NF {print $1}' "$ceilings")
cargo build --release --locked $(printf -- '-p %s --bin %s ' $(for b in "${binaries[@]}"; do echo "$b $b"; done))
failed=0
while read -r binary ceiling; do
  [[ -z "$binary" || "$binary" == \#* ]] && continue
  size="$(stat -c %s "target/release/$binary")"
  if (( size > ceiling )); then
    echo "binary size: $binary is $size bytes, over its ceiling of $ceiling"
    failed=1
  else
    echo "binary size: $binary is $size bytes ($(( ceiling - size )) under its ceiling of $ceiling)"
  fi
done < "$ceilings"
exit "$failed"
