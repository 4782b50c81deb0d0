#!/usr/bin/env bash
# Fills tests/spec/suite/ with the WebAssembly core test suite the spec tests run: the .wast
# files of WebAssembly/testsuite at a pinned commit (the snapshot that matches wabt 1.0.32 in
# Debian 12), without the SIMD files, which the engine refuses. Needs git and internet access;
# idempotent (an existing, complete folder is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
commit=4f77306bb63151631d84f58dedf67958eb9911b9 # 2022-09-19
dest=tests/spec/suite
if [ -f "$dest/COMMIT" ] && [ "$(cat "$dest/COMMIT")" = "$commit" ]; then
  echo "$dest: WebAssembly/testsuite $commit already there"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$tmp" init -q
git -C "$tmp" remote add origin https://github.com/WebAssembly/testsuite.git
git -C "$tmp" fetch -q --depth 1 origin "$commit"
git -C "$tmp" checkout -q FETCH_HEAD
rm -rf "$dest"
mkdir -p "$dest"
for f in "$tmp"/*.wast; do
  case "$(basename "$f")" in simd_*) continue ;; esac
  cp "$f" "$dest/"
done
cp "$tmp/LICENSE" "$dest/"
echo "$commit" >"$dest/COMMIT"
echo "$dest: $(ls "$dest"/*.wast | wc -l) .wast files of WebAssembly/testsuite $commit"
