#!/usr/bin/env bash
# Fuzzes with libFuzzer (clang, ASan+UBSan) for SECONDS per target, growing the
# committed corpora in tests/fuzz/corpus/<target> with what it finds (the
# normal suite replays those corpora under gcc). Targets: accept (module
# acceptance), names (any bytes as a module's names: nothing of them reaches a compiler),
# request (the Core's multipart, metadata and YAML parsing), proto (the Core <-> Worker
# frame decoder).
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../.."
./scripts/install-deps.sh
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dc_args=-fno-sanitize-recover=all -fsanitize=fuzzer-no-link" >/dev/null
fi
for target in accept names request proto; do
  ninja -C build-fuzz "tests/fuzz_$target" >/dev/null
  mkdir -p "build-fuzz/corpus-$target"
  "./build-fuzz/tests/fuzz_$target" -max_total_time="$seconds" -max_len=65536 \
    "build-fuzz/corpus-$target" "tests/fuzz/corpus/$target"
  # keep the committed corpus small: merge in only what adds coverage
  "./build-fuzz/tests/fuzz_$target" -merge=1 "tests/fuzz/corpus/$target" "build-fuzz/corpus-$target"
done
