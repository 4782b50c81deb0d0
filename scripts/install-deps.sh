#!/usr/bin/env bash
# Installs the Debian 12 packages funless needs to build, test and run; with --tests, also the
# test servers that come from the npm registry (scripts/test.sh asks for them).
# Idempotent and quiet: when everything is installed it touches no network.
set -euo pipefail

PACKAGES=(
  gcc make pkg-config meson ninja-build python3   # build
  clang lld wasi-libc libclang-rt-14-dev-wasm32   # C -> wasm32-wasi (functions, fixtures)
  rustc libstd-rust-dev-wasm32                    # Rust -> wasm32-wasi (Debian's rustc)
  wabt                                            # wasm2c, wasm-validate, wat2wasm, wast2json
  tcc libtcc-dev                                  # tier-0 compiler, in memory
  libcjson-dev nettle-dev                         # JSON; SHA3-256 and constant-time compare
  libcmocka-dev libclang-rt-14-dev                # unit tests; sanitizer and libFuzzer runtimes
  libmicrohttpd-dev libsqlite3-dev libpq-dev      # Core: HTTP server, stores
  libyaml-dev                                     # Core: APP scripts
  libmosquitto-dev                                # Core: mqtt events (an MQTT client)
  postgresql libcurl4-openssl-dev wrk             # tests: a real PostgreSQL, an HTTP client; benchmarks
  mosquitto mosquitto-clients                     # tests: a real MQTT broker, mosquitto_pub
  curl procps                                     # start.sh talks to the API; benchmarks stop what they started
  prometheus dnsmasq-base iproute2                # tests: promtool and a real Prometheus; a DNS server; netns
  python3-yaml systemd                            # tests: deployment manifests parse; systemd-analyze verify
  python3-jsonschema                              # tests: replies checked against docs/openapi.yaml
)

# Node.js and npm for the CouchDB-compatible test server below: Debian's, unless some npm is
# already there (a NodeSource nodejs bundles its own npm and conflicts with Debian's package).
command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "install-deps: installing ${#missing[@]} Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = --tests ] || exit 0

# tests: pouchdb-server from the npm registry, a CouchDB-compatible server (CouchDB itself is not
# packaged for Debian 12), for the couchdb sink; run in memory, so no native module is built
POUCHDB_DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/pouchdb-server"
if [ ! -x "$POUCHDB_DIR/node_modules/.bin/pouchdb-server" ]; then
  echo "install-deps: installing pouchdb-server (npm) into .cache/..." >&2
  npm install --prefix "$POUCHDB_DIR" --no-audit --no-fund --ignore-scripts --loglevel=error \
    pouchdb-server@4.2.0 >/dev/null
fi
