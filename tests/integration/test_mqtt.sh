#!/usr/bin/env bash
# mqtt events end to end, with a real Mosquitto broker, Core and Worker on loopback: 200
# messages become 200 activations with trigger event and their args; the broker stopped and
# started again, and the Core restarted, lose the subscription only for a moment; a message that
# is not JSON leaves an error record; a full queue holds the subscription back and no QoS 1
# message is lost; a deleted function is no longer called; a password is never shown.
#
# usage: test_mqtt.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=mqtt
. "$HERE/lib_core.sh"
broker=
trap '[ -n "$broker" ] && kill "$broker" 2>/dev/null; cleanup' EXIT # the broker first: cleanup waits for every child
[ -n "${KEEP_TMP:-}" ] && trap - EXIT
BROKER_PORT=$(free_port)
start_broker() {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$BROKER_PORT" \
        >"$TMP/mosquitto.conf"
    mosquitto -c "$TMP/mosquitto.conf" >>"$TMP/mosquitto.log" 2>&1 &
    broker=$!
    wait_until 10 bash -c "echo > /dev/tcp/127.0.0.1/$BROKER_PORT" 2>/dev/null ||
        bad "the broker did not start"
}
stop_broker() { kill "$broker"; wait "$broker" 2>/dev/null; broker=; }
start_core_joined() { # [options]
    start_core "$@"
    wait_until 10 workers_are w1 || bad "the Worker did not join"
}
# publish TOPIC [QOS]: each line of stdin is a message, sent on one connection
publish() { mosquitto_pub -p "$BROKER_PORT" -t "$1" -q "${2:-1}" -l; }
# event_calls FUNCTION [STATUS]: its activations with trigger event (of that status)
event_calls() {
    api GET "/v1/activations?function=$1&limit=1000" | python3 -c '
import json, sys
want = sys.argv[1]
print(sum(1 for r in json.load(sys.stdin)["data"] if r["trigger"] == "event" and (not want or r["status"] == want)))' "${2:-}"
}
event_state() { api GET "/v1/fn/_/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['events'][0]['state'])"; }
# (for wait_until, which runs its command again and again)
is_connected() { [ "$(event_state "$1")" = connected ]; }
calls_are() { [ "$(event_calls "$1" "$2")" = "$3" ]; } # FUNCTION STATUS COUNT
error_says_not_json() { api GET "/v1/activations?function=$1&status=error&limit=1" | grep -q 'not JSON'; }
upload() { # NAME WASM EVENTS
    api POST /v1/fn/_ -F "name=$1" -F "code=@$2" -F "events=$3" -F wait_for_workers=true \
        -o "$TMP/body" -w '%{http_code}'
}

start_broker
start_worker
start_core_joined

# ---- 200 messages, 200 calls ----
status=$(upload hello "$FX/c_hello.wasm" "[{\"type\":\"mqtt\",\"params\":{\"host\":\"127.0.0.1\",\"port\":\"$BROKER_PORT\",\"topic\":\"fl/hello\",\"qos\":1,\"username\":\"u\",\"password\":\"s3cret\"}}]")
expect "a function with an mqtt event: 201 (got $status)" test "$status" = 201
expect "it connects and subscribes" wait_until 10 bash -c "[ \"\$(cd '$PWD' && $(declare -f api event_state); API='$API' DATA='$DATA' RUN= event_state hello)\" = connected ]"
expect "the password is never shown" bash -c "! api_out=\$(curl -s -H 'Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)' '$API/v1/fn/_/hello'); ! grep -q s3cret <<<\"\$api_out\" && grep -q '\"password\":\"\\*\\*\\*\"' <<<\"\$api_out\""
seq 200 | sed 's/.*/{"name":"m&"}/' | publish fl/hello
expect "200 messages become 200 calls with trigger event" wait_until 30 calls_are hello success 200
expect "... each with its message as args" test "$(api GET '/v1/activations?function=hello&limit=1000' | python3 -c '
import json, sys
ids = [r["id"] for r in json.load(sys.stdin)["data"] if r["trigger"] == "event"]
print(len(ids))')" = 200
got=$(api GET '/v1/activations?function=hello&limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
expect "... and its result" bash -c "[[ '$(api GET "/v1/activations/$got" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"]["payload"])')' =~ ^Hello\ m[0-9]+!$ ]]"

# ---- a message that is not JSON ----
echo 'not json' | publish fl/hello
expect "a message that is not JSON leaves an error record saying so" \
    wait_until 10 error_says_not_json hello

# ---- the broker goes away and comes back ----
stop_broker
sleep 1
start_broker
expect "after the broker restarts the subscription is back" wait_until 40 is_connected hello
before=$(event_calls hello success)
seq 10 | sed 's/.*/{"name":"after&"}/' | publish fl/hello
expect "... and messages after it run" wait_until 20 calls_are hello success $((before + 10))

# ---- the Core restarts ----
stop_core
start_core_joined
expect "after the Core restarts the subscription is back without a request" \
    wait_until 20 is_connected hello
before=$(event_calls hello success)
seq 10 | sed 's/.*/{"name":"again&"}/' | publish fl/hello
expect "... and messages run" wait_until 20 calls_are hello success $((before + 10))

# ---- a full queue holds the subscription back; nothing is lost at QoS 1 ----
stop_core
start_core_joined --async-queue-max 2 --async-concurrency 1
status=$(upload spin "$FX/c_spin.wasm" "[{\"type\":\"mqtt\",\"params\":{\"host\":\"127.0.0.1\",\"port\":$BROKER_PORT,\"topic\":\"fl/spin\",\"qos\":1}}]")
expect "a slow function with an mqtt event: 201 (got $status)" test "$status" = 201
wait_until 10 is_connected spin
seq 40 | sed 's/.*/{"ms":20}/' | publish fl/spin
wait_until 60 calls_are spin success 40
expect "40 messages into a queue of 2: all 40 run, none lost ($(event_calls spin success))" \
    calls_are spin success 40

# ---- deleted: no more calls ----
api DELETE /v1/fn/_/hello >/dev/null
before=$(api GET '/v1/activations?function=hello&limit=1000' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
seq 5 | sed 's/.*/{"name":"gone"}/' | publish fl/hello
sleep 1
expect "a deleted function is not called any more" test "$(api GET '/v1/activations?function=hello&limit=1000' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')" = "$before"
stop_core
expect "the password is nowhere in the Core's logs" bash -c "! grep -q s3cret '$TMP'/core.out '$TMP'/core.err"
expect "no sanitizer report from the Core and the Worker" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/*.err"
finish
