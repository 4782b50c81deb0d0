#!/usr/bin/env bash
# Outbound HTTP from functions (__http_request) end to end: a function built from C calls a
# loopback server through real Core and Worker processes; methods, headers, bodies and statuses
# pass; a host not listed, a listed name that leads to 127.0.0.1, a redirect out of the list, a
# 10 MB answer and a server that never answers each end in a clear refusal or error within the
# function's time limit, and the Worker keeps serving.
#
# usage: test_http_out.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=http-out
. "$HERE/lib_core.sh"
target=
trap '[ -n "$target" ] && kill "$target" 2>/dev/null; cleanup' EXIT
[ -n "${KEEP_TMP:-}" ] && trap - EXIT
TARGET_PORT=$(free_port)
python3 "$HERE/http_target.py" "$TARGET_PORT" 2>"$TMP/target.err" &
target=$!
wait_until 10 bash -c "echo > /dev/tcp/127.0.0.1/$TARGET_PORT" 2>/dev/null || bad "the target did not start"
WORKER_PORT=$(free_port)
start_worker_allowing() { # ALLOW-LIST: the Worker w1 on WORKER_PORT, the Core dialling it back
    [ -n "$worker" ] && { kill "$worker"; wait "$worker" 2>/dev/null; }
    rm -f "$TMP/worker.out"
    "$FUNLESS" worker --name w1 --listen "127.0.0.1:$WORKER_PORT" --cache-dir "$TMP/cache" \
        --metrics off --announce off --http-allow "$1" >"$TMP/worker.out" 2>>"$TMP/worker.err" &
    worker=$!
    wait_until 10 grep -qs listening "$TMP/worker.out" || bad "the Worker did not start"
    [ -n "$core" ] && { wait_until 15 workers_are w1 || bad "the Worker did not join"; }
}
# call ARGS-JSON: the reply's data in $TMP/body (status in $status), the activation in $id
call() {
    status=$(api POST /v1/fn/_/http -d "{\"args\":$1}" -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}')
    id=$(awk 'tolower($1)=="x-funless-activation:" {print $2}' "$TMP/headers" | tr -d '\r')
}
got() { python3 -c "import json; d=json.load(open('$TMP/body'))['data']; print(d['status'], d['length'], d['body'])"; }
logs() { api GET "/v1/activations/$id/logs"; }
logs_say() { logs | grep -qE "$1"; }
T=http://127.0.0.1:$TARGET_PORT

start_worker_allowing ""
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"
api POST /v1/fn/_ -F name=http -F "code=@$FX/c_http_call.wasm" -F 'metadata={"timeout_ms":3000}' \
    -F wait_for_workers=true >/dev/null

# ---- off unless allowed ----
call "{\"method\":0,\"url\":\"$T/echo\"}"
expect "by default a Worker allows nothing: status 0 (got $(got))" test "$(got)" = "0 0 "
expect "... and the call's logs say why" logs_say 'outbound HTTP is off'

# ---- an address listed ----
start_worker_allowing "127.0.0.1"
for m in "0 GET" "1 POST" "2 PUT" "3 DELETE"; do
    set -- $m
    call "{\"method\":$1,\"url\":\"$T/echo\",\"headers\":\"X-Test:h$1\\nX-Other:o\",\"body\":\"b$1\"}"
    expect "$2 with a header and a body reaches the server (got $(got))" test "$(got)" = "200 $((${#2} + 6)) $2 h$1 b$1"
done
call "{\"method\":0,\"url\":\"$T/missing\"}"
expect "the server's status reaches the function (got $(got))" test "$(got)" = "404 2 no"
call "{\"method\":0,\"url\":\"$T/redirect-in\"}"
expect "a redirect within the list is followed (got $(got))" test "$(got)" = "200 6 GET - "
call "{\"method\":0,\"url\":\"$T/redirect-to?http://example.com/\"}"
expect "a redirect out of the list is refused (got $(got))" test "$(got)" = "0 0 "
expect "... saying so" logs_say 'example.com is not in'
call "{\"method\":0,\"url\":\"http://example.com/\"}"
expect "a host not listed is refused" test "$(got)" = "0 0 "
call "{\"method\":0,\"url\":\"$T/big\"}"
expect "a 10 MB answer fails (past --http-max-kb 1024)" test "$(got)" = "0 0 "
expect "... saying so" logs_say 'larger than'
started=$(now_ms)
call "{\"method\":0,\"url\":\"$T/hang\"}"
took=$(($(now_ms) - started))
expect "a server that never answers: the function's time limit ends the call (status $status, ${took} ms)" \
    test "$status" = 504 -a "$took" -lt 4500
call "{\"method\":0,\"url\":\"$T/echo\"}"
expect "... and the Worker keeps serving" test "$(got)" = "200 6 GET - "

# ---- a function narrows the Worker's list, never widens it ----
status=$(api POST /v1/fn/_ -F name=narrow -F "code=@$FX/c_http_call.wasm" \
    -F 'metadata={"timeout_ms":3000,"http_allow":["example.com"]}' -F wait_for_workers=true \
    -o /dev/null -w '%{http_code}')
expect "a function with metadata.http_allow: 201 (got $status)" test "$status" = 201
expect "... shown by GET" test "$(api GET /v1/fn/_/narrow | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["metadata"]["http_allow"])')" = "['example.com']"
status=$(api POST /v1/fn/_/narrow -d "{\"args\":{\"method\":0,\"url\":\"$T/echo\"}}" -D "$TMP/headers" -o "$TMP/body" -w '%{http_code}')
id=$(awk 'tolower($1)=="x-funless-activation:" {print $2}' "$TMP/headers" | tr -d '\r')
expect "the Worker allows 127.0.0.1, the function does not: refused (got $(got))" test "$(got)" = "0 0 "
expect "... saying whose list" logs_say "not in the function's metadata.http_allow"
status=$(api POST /v1/fn/_ -F name=wide -F "code=@$FX/c_http_call.wasm" \
    -F 'metadata={"http_allow":["example.com","no good"]}' -o "$TMP/body" -w '%{http_code}')
expect "metadata.http_allow with an entry that is not one: 422 (got $status)" test "$status" = 422

# ---- a name that leads to a loopback address ----
start_worker_allowing "localhost"
call "{\"method\":0,\"url\":\"http://localhost:$TARGET_PORT/echo\"}"
expect "a listed name that resolves to 127.0.0.1 is refused (got $(got))" test "$(got)" = "0 0 "
expect "... saying where it led" logs_say 'leads to (127\.0\.0\.1|::1)'
call "{\"method\":0,\"url\":\"$T/echo\"}"
expect "the address itself, not listed, is refused too" test "$(got)" = "0 0 "

# ---- a bad allow-list stops the Worker at start ----
"$FUNLESS" worker --listen 127.0.0.1:0 --cache-dir "$TMP/cache2" --http-allow 'a b' >/dev/null 2>"$TMP/bad.err"
expect "an allow-list entry that is not one: the Worker does not start, saying which" \
    grep -q "'a b' is not a host" "$TMP/bad.err"
stop_core
expect "no sanitizer report from the Core and the Worker" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/core.err '$TMP'/worker.err"
finish
