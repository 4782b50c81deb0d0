#!/usr/bin/env bash
# The store failing under the Core, for real: PostgreSQL stopped (503 with Retry-After, then
# served again once it is back), and the disk under SQLite full (507, deleting still works
# and frees room, writes work again). Run inside with_postgres.sh; the full disk is a 6 MiB
# tmpfs (skipped, and said, where mounting is not allowed).
#
# usage: with_postgres.sh test_store_failures.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-store-XXXXXX)
core=
cleanup() {
    [ -n "$core" ] && kill "$core" 2>/dev/null && wait "$core" 2>/dev/null
    mountpoint -q "$TMP/full" && umount "$TMP/full"
    rm -rf "$TMP"
}
trap cleanup EXIT

start_core() { # DATA_DIR [core options]: sets core, API, TOKEN
    local data=$1
    shift
    rm -f "$TMP/core.out" # else the wait below may read the previous process's line
    "$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$data" "$@" >"$TMP/core.out" 2>>"$TMP/core.err" &
    core=$!
    wait_until 10 grep -qs listening "$TMP/core.out" || { bad "the Core did not start"; return 1; }
    API=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/core.out" | grep -o '[0-9]*$')
    TOKEN=$(grep Guest "$data/tokens" | cut -d= -f2)
}
stop_core() { kill "$core"; wait "$core" 2>/dev/null; core=; }
status_of() { # METHOD PATH [curl args...]: prints the HTTP status
    local method=$1 path=$2
    shift 2
    curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TOKEN" "$@" "$API$path"
}
create_module() { status_of POST /v1/fn -H 'Content-Type: application/json' -d "{\"module\":{\"name\":\"$1\"}}"; }

# ---- PostgreSQL goes away, and comes back ----
start_core "$TMP/pg-data" --db "$FUNLESS_TEST_DB"
expect "a module is created" test "$(create_module before)" = 201
eval "$FUNLESS_TEST_PG_CTL -m fast stop" >/dev/null
got=$(create_module during)
expect "PostgreSQL stopped: 503 (got $got)" test "$got" = 503
expect "... with Retry-After" grep -qi '^retry-after:' "$TMP/headers"
expect "... saying the store cannot be reached" grep -q 'cannot be reached' "$TMP/body"
eval "$FUNLESS_TEST_PG_CTL start" >/dev/null
got=$(create_module after)
expect "PostgreSQL back: served again (got $got)" test "$got" = 201
stop_core

# ---- the disk under SQLite fills up ----
mkdir -p "$TMP/full"
if ! mount -t tmpfs -o size=6m tmpfs "$TMP/full" 2>/dev/null; then
    echo "SKIP the full-disk part: cannot mount a tmpfs here (needs root)"
    finish
    exit $?
fi
start_core "$TMP/full/data"
expect "the reserve is beside the database" test -s "$TMP/full/data/funless.db.reserve"
# functions of ~70 KiB each until the disk is full (the code is stored in the database)
created=0 full=
for i in $(seq 1 200); do
    got=$(status_of POST /v1/fn/_ -F "name=f$i" -F "code=@$FX/c_wasi_tour.wasm")
    if [ "$got" = 201 ]; then created=$((created + 1)); else full=$got; break; fi
done
expect "a full disk answers 507 (got ${full:-none} after $created functions)" test "$full" = 507
expect "... saying so" grep -q "disk is full" "$TMP/body"
got=$(status_of DELETE /v1/fn/_/f1)
expect "deleting works on a full disk (got $got)" test "$got" = 204
for i in $(seq 2 $((created / 2))); do status_of DELETE "/v1/fn/_/f$i" >/dev/null; done
got=$(status_of POST /v1/fn/_ -F "name=again" -F "code=@$FX/c_wasi_tour.wasm")
expect "after deletes there is room again (got $got)" test "$got" = 201
expect "the store logged it" grep -q 'event=store_full' "$TMP/core.err"
stop_core
finish
