#!/usr/bin/env bash
# FunLess's REST API case by case (tests/integration/rest_parity.py: its statuses and body
# shapes) against a real Core and Worker, on SQLite or (in with_postgres.sh) PostgreSQL; then
# an invocation with no Worker: 503 and FunLess's "No worker available".
#
# usage: test_rest_parity.sh FUNLESS_BINARY   (env: FIXTURES_DIR; FUNLESS_TEST_DB for PostgreSQL)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=rest-parity
. "$HERE/lib_core.sh"
start_worker
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"
ADMIN=$(grep Admin "$DATA/tokens" | cut -d= -f2)
GUEST=$(grep Guest "$DATA/tokens" | cut -d= -f2)
/usr/bin/python3 "$HERE/rest_parity.py" "$API" "$ADMIN" "$GUEST" "$FX" | tee "$TMP/parity.out"
# the table's counts start the summary's (lib.sh's counters)
passed=$(tail -1 "$TMP/parity.out" | cut -d' ' -f1)
failed=$(tail -1 "$TMP/parity.out" | cut -d' ' -f3)
api POST /v1/fn/_ -F name=lone -F "code=@$FX/c_hello.wasm" >/dev/null
kill "$worker"
wait "$worker" 2>/dev/null
worker=
wait_until 10 workers_are "" || bad "the Worker did not leave"
status=$(api POST /v1/fn/_/lone -d '{"args":{"name":"x"}}' -o "$TMP/body" -w '%{http_code}')
expect "no Worker: 503 (got $status)" test "$status" = 503
expect "... with FunLess's detail (got $(cat "$TMP/body"))" \
    grep -q '"detail":"No worker available"' "$TMP/body"
stop_core
finish
