#!/usr/bin/env bash
# Fuzzes module acceptance with libFuzzer (clang, ASan+UBSan) for SECONDS,
# growing the committed corpus in tests/fuzz/corpus/accept with what it finds
# (the normal suite replays that corpus under gcc).
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../.."
./scripts/install-deps.sh
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dc_args=-fno-sanitize-recover=all -fsanitize=fuzzer-no-link" >/dev/null
fi
ninja -C build-fuzz tests/fuzz_accept >/dev/null
mkdir -p build-fuzz/corpus-new
./build-fuzz/tests/fuzz_accept -max_total_time="$seconds" -max_len=65536 \
  build-fuzz/corpus-new tests/fuzz/corpus/accept
# keep a minimal corpus: merge what was found into the committed one
./build-fuzz/tests/fuzz_accept -merge=1 tests/fuzz/corpus/accept build-fuzz/corpus-new
