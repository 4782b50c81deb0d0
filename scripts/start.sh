#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running function:
# installs the dependencies, builds funless, builds the sample function from
# source and runs it through the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
echo "funless built: build/funless"
echo "sample function: examples/c/hello.c -> build/tests/c_hello.wasm"
echo '$ build/funless run build/tests/c_hello.wasm --input '"'"'{"name":"funless"}'"'"
build/funless run build/tests/c_hello.wasm --input '{"name":"funless"}'
