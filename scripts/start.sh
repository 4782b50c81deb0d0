#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running platform:
# installs the dependencies, builds funless, starts `funless dev` (a Core and a
# Worker on 127.0.0.1, SQLite in ./funless-data) in the background, deploys the
# sample function built from examples/c/hello.c, and invokes it once.
# Stop it with: kill "$(cat funless-data/dev.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh build
api=http://127.0.0.1:${FUNLESS_PORT:-4000}
mkdir -p funless-data
if [ -f funless-data/dev.pid ] && kill -0 "$(cat funless-data/dev.pid)" 2>/dev/null; then
  echo "funless dev is already running (pid $(cat funless-data/dev.pid))"
else
  # --detach: returns once the Core listens, leaves the pid and the log in funless-data
  build/funless dev --detach --listen "127.0.0.1:${FUNLESS_PORT:-4000}" --data-dir funless-data
  for _ in $(seq 100); do # ready = the store answers and the Worker is connected
    curl -sf "$api/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "$api/readyz" >/dev/null || { cat funless-data/dev.log; echo "funless dev did not start" >&2; exit 1; }
fi
token=$(grep Guest funless-data/tokens | cut -d= -f2)
auth="Authorization: Bearer $token"
method=POST path=/v1/fn/_
if curl -sf -H "$auth" "$api/v1/fn/_/hello" >/dev/null; then method=PUT path=/v1/fn/_/hello; fi
curl -sf -X "$method" -H "$auth" -F name=hello -F code=@build/tests/c_hello.wasm \
  -F wait_for_workers=true "$api$path" >/dev/null
echo "deployed examples/c/hello.c as function _/hello"
echo "\$ curl -H \"Authorization: Bearer $token\" -d '{\"args\":{\"name\":\"funless\"}}' $api/v1/fn/_/hello"
curl -s -H "$auth" -d '{"args":{"name":"funless"}}' "$api/v1/fn/_/hello"
echo
