#!/usr/bin/env bash
# Parser fuzzing: builds every cargo-fuzz target of infra/fuzz once (libFuzzer, AddressSanitizer,
# debug assertions and overflow checks), then runs each for FUZZ_SECONDS (default 20) over its
# kept corpus, infra/fuzz/corpus/<target>. What a run finds that is new goes to a temporary
# directory, so the kept corpus (and the repository) is never written; a crash, a panic, a
# timeout or running out of memory fails the script, which prints the input's path and the line
# that reproduces it. Usage: bash infra/fuzz.sh [target ...]   (default: every target)
#
# Needs a nightly toolchain (`rustup toolchain list`); without one, the stable toolchain runs
# with RUSTC_BOOTSTRAP=1, which lets it take the same unstable flags (it ships the same
# sanitizer runtimes). cargo-fuzz is installed when missing, at the version pinned here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
# Inputs are bounded: requests and tokens of a few KB reach every branch of these parsers.
MAX_LEN="${FUZZ_MAX_LEN:-8192}"
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-2048}"
fuzz_dir=infra/fuzz

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
  toolchain=nightly
  reproduce="cargo +nightly"
else
  export RUSTC_BOOTSTRAP=1
  cargo=(cargo)
  toolchain="$(rustc --version) with RUSTC_BOOTSTRAP=1"
  reproduce="RUSTC_BOOTSTRAP=1 cargo"
fi

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <("${cargo[@]}" fuzz list --fuzz-dir "$fuzz_dir")
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets (cargo fuzz list --fuzz-dir $fuzz_dir found none)" >&2
  exit 1
fi

# The fuzz crate is its own workspace, so the root's `cargo fmt --all` does not see it.
cargo fmt --manifest-path "$fuzz_dir/Cargo.toml" -- --check

echo "fuzz: building ${#targets[@]} targets ($toolchain, AddressSanitizer)"
build_start=$SECONDS
if (($# > 0)); then
  for target in "${targets[@]}"; do
    "${cargo[@]}" fuzz build --fuzz-dir "$fuzz_dir" "$target"
  done
else
  "${cargo[@]}" fuzz build --fuzz-dir "$fuzz_dir"
fi
echo "fuzz: built in $((SECONDS - build_start)) s"

bin_dir="$fuzz_dir/target/x86_64-unknown-linux-gnu/release"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
  kept="$fuzz_dir/corpus/$target"
  new="$work/corpus/$target"
  artifacts="$fuzz_dir/artifacts/$target"
  log="$work/$target.log"
  mkdir -p "$kept" "$new" "$artifacts"
  start=$SECONDS
  status=0
  # The first corpus directory receives what is new; the kept one is only read.
  "$bin_dir/$target" "$new" "$kept" \
    -max_total_time="$FUZZ_SECONDS" -max_len="$MAX_LEN" -rss_limit_mb="$RSS_LIMIT_MB" \
    -malloc_limit_mb="$RSS_LIMIT_MB" -timeout=10 -print_final_stats=1 -print_funcs=0 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  elapsed=$((SECONDS - start))
  runs="$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log" | tail -n1)"
  rate="$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log" | tail -n1)"
  found="$(find "$new" -type f | wc -l)"
  if ((status == 0)); then
    echo "fuzz: $target: ${runs:-?} runs in $elapsed s (${rate:-?}/s), $found new inputs, no crash"
  else
    failed+=("$target")
    echo "fuzz: $target FAILED (exit $status) after ${runs:-?} runs in $elapsed s:"
    # The panic or sanitizer report's first lines, and libFuzzer's summary.
    awk '/panicked at|==ERROR:|ERROR: libFuzzer/ {shown = 1} shown && n < 12 {print; n++}' "$log" |
      sed 's/^/    /'
    grep -E '^SUMMARY:' "$log" | sed 's/^/    /' || true
    input="$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n1 | sed 's/^Test unit written to //')"
    if [[ -n "$input" ]]; then
      echo "fuzz: $target: the input is $input; reproduce with:"
      echo "    $reproduce fuzz run --fuzz-dir $fuzz_dir $target $input"
    fi
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
