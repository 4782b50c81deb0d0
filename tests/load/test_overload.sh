#!/usr/bin/env bash
# Heavy load on a healthy cluster (Core + Worker processes on loopback, bounded in time): wrk at
# 600 and 2,000 connections on a fast function, and at 1,000 against a Worker with one thread
# and a queue of 4. Only 200 and 429 may come back: a 5xx from a healthy cluster is a bug
# (the Core once hung up on busy Workers through an unsigned wrap in its silence check).
#
# usage: test_overload.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-overload-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

start_cluster() { # TAG THREADS QUEUE: sets API and TOKEN
    local tag=$1
    "$FUNLESS" worker --name "$tag" --listen 127.0.0.1:0 --metrics off --announce off \
        --threads "$2" --queue "$3" --cache-dir "$TMP/$tag-cache" >"$TMP/$tag-worker.out" 2>"$TMP/$tag-worker.err" &
    pids+=($!)
    wait_until 10 grep -q listening "$TMP/$tag-worker.out" || { bad "$tag: the Worker did not start"; return 1; }
    local wport
    wport=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$TMP/$tag-worker.out" | grep -o '[0-9]*$')
    "$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$TMP/$tag-core" --workers "127.0.0.1:$wport" \
        --max-connections 4096 >"$TMP/$tag-core.out" 2>"$TMP/$tag-core.err" &
    pids+=($!)
    wait_until 10 grep -q listening "$TMP/$tag-core.out" || { bad "$tag: the Core did not start"; return 1; }
    API=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/$tag-core.out" | grep -o '[0-9]*$')
    TOKEN=$(grep Guest "$TMP/$tag-core/tokens" | cut -d= -f2)
    wait_until 10 curl -sf "$API/readyz" -o /dev/null
    curl -sf -H "Authorization: Bearer $TOKEN" -F name=tiny -F code=@"$FX/wat_tiny.wasm" \
        -F wait_for_workers=true "$API/v1/fn/_" -o /dev/null || bad "$tag: deploy failed"
}

# load NAME CONNECTIONS SECONDS: wrk on _/tiny; only 200 and 429, and some 200s
load() {
    local name=$1 out
    out=$(FL_TOKEN=$TOKEN wrk -t2 -c"$2" -d"$3"s --timeout 10s -s "$HERE/statuses.lua" "$API/v1/fn/_/tiny" 2>&1)
    local statuses
    statuses=$(echo "$out" | awk '$1 == "status" {printf "%s=%s ", $2, $3}')
    echo "$name: $statuses$(echo "$out" | grep '^errors')"
    if echo "$out" | awk '$1 == "status" && $2 != 200 && $2 != 429 {bad = 1} END {exit bad}' &&
       echo "$out" | awk '$1 == "status" && $2 == 200 && $3 > 0 {good = 1} END {exit !good}'; then
        ok
    else
        bad "$name: a status other than 200 and 429 ($statuses)"
        echo "$out" | tail -5
        grep -h -A30 "ERROR: AddressSanitizer\|runtime error" "$TMP"/*-core.err | head -40
    fi
}

start_cluster big 2 256 && {
    load c600 600 4
    load c2000 2000 4
    expect "big: the Worker is still connected" curl -sf -H "Authorization: Bearer $(grep Admin "$TMP/big-core/tokens" | cut -d= -f2)" "$API/v1/admin/workers" -o /dev/null
}
start_cluster small 1 4 && load "c1000 on one thread, queue 4" 1000 4
finish
