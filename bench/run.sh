#!/usr/bin/env bash
# Runs the benchmarks against BUILD_DIR (default build); see bench/README.md.
set -euo pipefail
dir=${1:-build}
cd "$(dirname "$0")/.."
./scripts/build.sh "$dir"
log=$(mktemp /tmp/funless-bench-XXXXXX)
trap 'rm -f "$log"' EXIT
reset=() # the memory-reset figures need the Rust hello (Debian's rustc builds it)
[ -f "$dir/tests/rust_hello.wasm" ] && reset=("$dir/tests/rust_hello.wasm" "$dir/tests/wat_touch64k.wasm" "$dir/tests/wat_touch64k_together.wasm")
{
    echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$dir/bench/bench_engine" "$dir/tests/wat_tiny.wasm" "$dir/tests/c_sha256.wasm" "$dir/bench/big.wasm" "${reset[@]}"
    "$dir/bench/bench_app"
    ./bench/core.sh "$dir"
    ./bench/invoke.sh "$dir"
} 2>&1 | tee "$log" || status=$? # the summary still comes
# one screen at the end: every figure that has a target (its baseline is in the lines above and
# in bench/README.md)
echo
echo "== summary: $(head -1 "$log")"
grep -E 'target' "$log" | sed -e 's/^ */  /' | cut -c1-150
exit "${status:-0}"
