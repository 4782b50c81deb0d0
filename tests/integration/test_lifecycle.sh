#!/usr/bin/env bash
# A Core's and a Worker's life: options refused at start, and stopping cleanly, for real: a Worker with a call running and calls queued, then the Core with
# a call out, each get SIGTERM. Each must exit 0 within seconds, answer what was out (502 for
# the calls the Worker took with it), and — in the sanitizer build — report no leak and no
# error. Also: request ids and the JSON log format.
#
# usage: test_lifecycle.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-shutdown-XXXXXX)
RUN= # lib.sh's api() runs curl here
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

start_worker() { # NAME [METRICS_ADDRESS [OPTION...]]: sets worker, WORKER_PORT
    rm -f "$TMP/$1.out" # else the wait below may read the previous process's line
    "$FUNLESS" worker --name "$1" --listen 127.0.0.1:0 --cache-dir "$TMP/cache-$1" --metrics "${2:-off}" \
        --announce off --threads 1 --queue 8 "${@:3}" >"$TMP/$1.out" 2>"$TMP/$1.err" &
    worker=$!
    pids+=("$worker")
    wait_until 10 grep -qs listening "$TMP/$1.out" || { bad "the Worker did not start"; return 1; }
    WORKER_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$TMP/$1.out" | grep -o '[0-9]*$')
}
start_core() { # [core options]: sets core, API, DATA
    DATA=$TMP/data
    rm -f "$TMP/core.out" # else the wait below may read the previous process's line
    "$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$DATA" "$@" >"$TMP/core.out" 2>"$TMP/core.err" &
    core=$!
    pids+=("$core")
    wait_until 10 grep -qs listening "$TMP/core.out" || { bad "the Core did not start"; return 1; }
    API=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/core.out" | grep -o '[0-9]*$')
}
# Waits up to SECONDS for PID to exit; true when its status was 0.
exits_cleanly() { # PID SECONDS
    local deadline=$(($(now_ms) + $2 * 1000))
    while kill -0 "$1" 2>/dev/null; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
    wait "$1"
}
no_sanitizer_report() { ! grep -q "Sanitizer\|runtime error" "$1"; }
spin() { # MS OUT: one call of spin in the background, its status in OUT
    curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
        -d "{\"args\":{\"ms\":$1}}" "$API/v1/fn/_/spin" >"$2" &
    spins+=($!)
}
spins=()

# ---- limits that could not hold are refused at start ----
# the largest upload and the largest arguments go to a Worker in one frame (96 MiB)
"$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$TMP/never" --max-json-kb 65536 2>"$TMP/refused.err"
expect "--max-json-kb past what fits a frame with the largest upload: exit 64" test $? = 64
expect "with a message naming the bound" grep -q 'from 1 to 16384' "$TMP/refused.err"
"$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$TMP/never" --max-upload-mb 65 2>/dev/null
expect "--max-upload-mb past 64: exit 64" test $? = 64
"$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$TMP/never" --log-format xml 2>/dev/null
expect "an unknown --log-format: exit 64" test $? = 64

# ---- the Worker stops with calls running and queued ----
start_worker w1
start_core --workers "127.0.0.1:$WORKER_PORT" --log-format json
wait_until 10 workers_are w1 || bad "the Worker did not join"
deploy spin "$FX/c_spin.wasm"
api POST /v1/fn/_/spin -d '{"args":{"ms":1}}' >/dev/null # compiled and warm
for i in 1 2 3; do spin 8000 "$TMP/spin$i.status"; done
# all three out on the Worker (a call that reached the Core after the Worker left would rightly
# get 503: no Worker)
worker_busy() { api GET /v1/admin/workers | grep -q '"in_flight":3'; }
wait_until 10 worker_busy || bad "the calls did not all reach the Worker"
started=$(now_ms)
kill -TERM "$worker"
expect "the Worker exits 0 on SIGTERM with calls running and queued" exits_cleanly "$worker" 15
expect "it stops within 5 s, not after its calls' 8 s (took $(($(now_ms) - started)) ms)" \
    test $(($(now_ms) - started)) -lt 5000
wait "${spins[@]}"
for i in 1 2 3; do
    got=$(cat "$TMP/spin$i.status")
    expect "call $i out on the stopped Worker answers 502 (got $got)" test "$got" = 502
done
expect "the Worker's stderr has no sanitizer report" no_sanitizer_report "$TMP/w1.err"
expect "the Worker logged its shutdown" grep -q 'event=shutdown' "$TMP/w1.err"

# ---- request ids, and the Core's JSON log ----
start_worker w2
api POST /v1/admin/workers -H 'Content-Type: application/json' -d "{\"address\":\"127.0.0.1:$WORKER_PORT\"}" >/dev/null
wait_until 10 workers_are w2 || bad "the second Worker did not join"
headers=$(curl -s -D - -o /dev/null -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
    -H 'X-Request-Id: trace-42' -d '{"args":{"ms":1}}' "$API/v1/fn/_/spin")
expect "a client's X-Request-Id comes back" grep -qi '^x-request-id: trace-42' <<<"$headers"
headers=$(curl -s -D - -o /dev/null -H 'X-Request-Id: bad id"with quotes' "$API/v1")
expect "a request id that is not a plain token is replaced" \
    grep -qiE '^x-request-id: [0-9a-f]{16}' <<<"$headers"
expect "every Core log line is a JSON object" python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines and all(json.loads(l)["component"] == "core" for l in lines)' "$TMP/core.err"
expect "the lost calls are logged with their request ids" python3 -c '
import json, sys
lost = [json.loads(l) for l in open(sys.argv[1]) if "invocation_failed" in l]
assert len(lost) >= 3 and all(e["request"] and e["status"] == "worker lost" for e in lost)' "$TMP/core.err"

# ---- the Core stops with a call out ----
spin 8000 "$TMP/spin-core.status"
sleep 0.5
started=$(now_ms)
kill -TERM "$core"
expect "the Core exits 0 on SIGTERM with a call out" exits_cleanly "$core" 15
expect "it stops at once (took $(($(now_ms) - started)) ms)" test $(($(now_ms) - started)) -lt 5000
wait_until 5 test -s "$TMP/spin-core.status"
got=$(cat "$TMP/spin-core.status")
expect "the call out answers 502 before the Core stops (got $got)" test "$got" = 502
expect "the Core's stderr has no sanitizer report" no_sanitizer_report "$TMP/core.err"
kill -TERM "$worker"
expect "the second Worker exits 0" exits_cleanly "$worker" 15
expect "its stderr has no sanitizer report" no_sanitizer_report "$TMP/w2.err"

# ---- a fast function that turns slow on its connection's reader holds nothing up ----
# A function whose calls were all fast runs on the thread that reads the Core's frames; when
# one call then runs long, the connection gets a new reader within a few ms: the next call,
# and the Core giving up on the slow one, are heard at once. Its reader also polls after each
# lone call (--busy-poll-us), which must change none of that.
start_worker w3 127.0.0.1:0 --busy-poll-us 200
metrics_port=$(grep -o 'metrics on port [0-9]*' "$TMP/w3.out" | grep -o '[0-9]*$')
worker_metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
start_core --workers "127.0.0.1:$WORKER_PORT"
wait_until 10 workers_are w3 || bad "the third Worker did not join"
# fast calls until three in a row ran on the reader (a call the machine's load slows past the
# bound starts the count again: sanitizer builds need more)
warm_fast() {
    local before=$(worker_metric funless_worker_calls_on_reader_total)
    for _ in $(seq 100); do
        api POST /v1/fn/_/spin -d '{"args":{"ms":0}}' >/dev/null
        [ "$(worker_metric funless_worker_calls_on_reader_total)" -ge $((before + 3)) ] && return 0
    done
    return 1
}
expect "fast calls run on the reader" warm_fast
spins=()
# a warm-up call the machine held up past 5 ms may have been rescued too: count from here
rescues=$(worker_metric funless_worker_reader_rescues_total)
spin 3000 "$TMP/slow.status"
sleep 0.5
started=$(now_ms)
got=$(api POST /v1/fn/_/spin -d '{"args":{"ms":0}}')
took=$(($(now_ms) - started))
expect "a call behind a slow one answers at once (took $took ms, got $got)" \
    test "$took" -lt 1500 -a "$got" = '{"data":{"spun":0}}'
wait "${spins[@]}"
expect "the slow call answers 200 (got $(cat "$TMP/slow.status"))" test "$(cat "$TMP/slow.status")" = 200
expect "its connection got a new reader" test "$(worker_metric funless_worker_reader_rescues_total)" = $((rescues + 1))
expect "fast calls run on the reader again" warm_fast
rescues=$(worker_metric funless_worker_reader_rescues_total)
curl -s -o /dev/null --max-time 1 -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
    -d '{"args":{"ms":9000}}' "$API/v1/fn/_/spin"
spin_cancelled() { curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -q 'function="spin",outcome="cancelled"} 1'; }
started=$(now_ms)
expect "a slow call on a reader is cancelled when its client goes away" wait_until 4 spin_cancelled
expect "within seconds, not its 9 (took $(($(now_ms) - started)) ms after the client left)" \
    test $(($(now_ms) - started)) -lt 4000
expect "that connection got a new reader too" test "$(worker_metric funless_worker_reader_rescues_total)" = $((rescues + 1))
expect "calls still answer" test "$(api POST /v1/fn/_/spin -d '{"args":{"ms":0}}')" = '{"data":{"spun":0}}'
kill -TERM "$core"
expect "the Core exits 0" exits_cleanly "$core" 15
kill -TERM "$worker"
expect "the third Worker exits 0" exits_cleanly "$worker" 15
expect "its stderr has no sanitizer report" no_sanitizer_report "$TMP/w3.err"
finish
