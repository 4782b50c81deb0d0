#!/usr/bin/env bash
# Functions' events (triggers) end to end, with real Core and Worker processes: FunLess's reply
# shapes (events, events_metadata, 207, 400), cron events firing on time as activations with
# trigger cron and their args, kept across a restart of the Core, following a rename, replaced
# by an update with a non-empty list only, gone with their function.
# The store is SQLite, or PostgreSQL when run inside with_postgres.sh (FUNLESS_TEST_DB).
#
# usage: [with_postgres.sh] test_triggers.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=triggers
. "$HERE/lib_core.sh"
start_core_joined() { # a Core, once w1 has joined it
    start_core
    wait_until 10 workers_are w1 || bad "the Worker did not join"
}
# upload METHOD PATH EVENTS [name]: the status in $status, the body in $TMP/body
upload() { # METHOD PATH EVENTS [NAME]: NAME, else the path's last segment (FunLess wants one)
    local extra=(-F "name=${4:-${2##*/}}")
    status=$(curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" \
        -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
        -F "code=@$FX/c_hello.wasm" -F "events=$3" -F wait_for_workers=true "${extra[@]}" "$API$2")
}
body() { python3 -c "import json,sys; d=json.load(open('$TMP/body'))['data']; print($1)"; }
# cron_calls FUNCTION: how many activations with trigger cron it has
cron_calls() {
    api GET "/v1/activations?function=$1&limit=1000" | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin)["data"] if r["trigger"] == "cron"]
print(len(rows))'
}
events_of() { api GET "/v1/fn/$1" | python3 -c "import json,sys; d=json.load(sys.stdin)['data']; print([e['params']['schedule'] for e in d.get('events', [])])"; }

start_worker
start_core_joined

# ---- reply shapes ----
upload POST /v1/fn/_ 'not json' shapes
expect "events that are not JSON: 400 (got $status)" test "$status" = 400
expect "... and the function is not created" test "$(api GET /v1/fn/_/shapes -o /dev/null -w "%{http_code}")" = 404
upload POST /v1/fn/_ '[{"type":"cron","params":{"schedule":"0 0 1 1 *"}},{"type":"cron","params":{"schedule":"61 * * * *"}},{"type":"nope","params":{}},{"params":{}}]' shapes
expect "a mix of good and bad events: 207 (got $status)" test "$status" = 207
expect "... events per element, in order" test "$(body '[e["status"] for e in d["events"]]')" = "['success', 'error', 'error', 'error']"
expect "... the reasons" test "$(body '"minute" in d["events"][1]["message"] and "nope" in d["events"][2]["message"]')" = True
expect "... events_metadata" test "$(body 'd["events_metadata"]')" = "{'successful': 1, 'failed': 3, 'total': 4}"
expect "... the function exists with the good event only" test "$(events_of _/shapes)" = "['0 0 1 1 *']"
expect "... shown with its state and next fire" test "$(api GET /v1/fn/_/shapes | python3 -c "import json,sys; e=json.load(sys.stdin)['data']['events'][0]; print(e['state'], e['next'][:4] > '2026')")" = "scheduled True"
upload POST /v1/fn/_ '[{"type":"cron","params":{"schedule":"@daily"}}]' daily
expect "good events only: 201 with events_metadata (got $status)" test "$status/$(body 'd["events_metadata"]["successful"]')" = "201/1"
upload POST /v1/fn/_ '' plain
expect "no events: 201 and the plain reply (got $status)" test "$status/$(body 'sorted(d)')" = "201/['name']"

# ---- cron fires ----
upload POST /v1/fn/_ '[{"type":"cron","params":{"schedule":"@every 1s","args":{"name":"cron"}}}]' ticker
expect "a cron event @every 1s: 201 (got $status)" test "$status" = 201
sleep 5.3
n=$(cron_calls ticker)
expect "it fired 5 +- 1 times in 5 s (got $n)" test "$n" -ge 4 -a "$n" -le 6
last=$(api GET "/v1/activations?function=ticker&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
expect "... each call an activation with trigger cron, its args and its result" \
    test "$(api GET "/v1/activations/$last" | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]; print(r["trigger"], r["status"], r["result"]["payload"])')" = "cron success Hello cron!"
expect "... the metrics of the fires in GET" test "$(api GET /v1/fn/_/ticker | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['events'][0]['fired'] >= 4)")" = True

# ---- kept across a restart; the fires missed meanwhile are skipped and logged ----
stop_core
sleep 2.2
start_core_joined
expect "the fires missed while the Core was down are logged, not replayed" \
    grep -qE 'event=cron_fires_missed function=_/ticker schedule="?@every 1s"? missed=[0-9]+' "$TMP/core.err"
expect "after a restart of the Core its events are back" test "$(events_of _/ticker)" = "['@every 1s']"
n0=$(cron_calls ticker)
sleep 2.5
n1=$(cron_calls ticker)
expect "... and fire without a new request ($n0 -> $n1)" test "$((n1 - n0))" -ge 1

# ---- update, rename, delete ----
upload PUT /v1/fn/_/shapes '[]'
expect "an update with [] keeps the events (FunLess): 200 (got $status)" test "$status/$(events_of _/shapes)" = "200/['0 0 1 1 *']"
upload PUT /v1/fn/_/shapes '[{"type":"cron","params":{"schedule":"*/5 * * * *"}}]'
expect "an update with a list replaces them" test "$status/$(events_of _/shapes)" = "200/['*/5 * * * *']"
upload PUT /v1/fn/_/shapes '[{"type":"cron","params":{"schedule":"*/5 * * * *"}}]' renamed
expect "a rename takes its events along" test "$status/$(events_of _/renamed)" = "200/['*/5 * * * *']"
api DELETE /v1/fn/_/ticker >/dev/null
n0=$(cron_calls ticker)
sleep 2.2
expect "a deleted function stops firing" test "$(cron_calls ticker)" = "$n0"
stop_core
start_core_joined
expect "... and stays gone after a restart" test "$(api GET /v1/fn/_/ticker -o /dev/null -w '%{http_code}')" = 404
expect "the renamed function's events came back under its new name" test "$(events_of _/renamed)" = "['*/5 * * * *']"
stop_core
expect "no sanitizer report from the Core and the Worker" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/*.err"
finish
