#!/usr/bin/env bash
# Activation records end to end, with real Core and Worker processes: ids on every reply of an
# accepted call, records of successes, traps, time limits and a missing Worker with the status
# the caller got, logs in order, lists with filters and a cursor, retention, --activations errors.
# The store is SQLite, or PostgreSQL when run inside with_postgres.sh (FUNLESS_TEST_DB).
#
# usage: [with_postgres.sh] test_activations.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=activations
. "$HERE/lib_core.sh"
# invoke FUNCTION BODY: the status in $status, the activation id in $id
invoke() {
    status=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" -d "$2" "$API/v1/fn/_/$1")
    id=$(awk 'tolower($1)=="x-funless-activation:" {print $2}' "$TMP/headers" | tr -d '\r')
}
# field ID PYTHON-EXPRESSION-ON-r: prints it (r is the record's "data")
field() { api GET "/v1/activations/$1" | python3 -c "import json,sys; r=json.load(sys.stdin)['data']; print($2)"; }
get_status() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" "$API$1"; }

start_worker
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"
deploy tour "$FX/c_wasi_tour.wasm"
deploy hello "$FX/c_hello.wasm"
deploy trap "$FX/wat_unreachable.wasm"
api POST /v1/fn/_ -F name=loop -F "code=@$FX/wat_loop.wasm" -F 'metadata={"timeout_ms":300}' \
    -F wait_for_workers=true >/dev/null

# ---- a success, with its logs ----
invoke tour '{}'
expect "a call answers 200 with an activation id (got $status, '$id')" \
    bash -c "[ $status = 200 ] && [[ '$id' =~ ^[0-9a-f]{32}$ ]]"
expect "its record says success and 200" test "$(field "$id" 'r["status"], r["http_status"]')" = "success 200"
expect "... the Worker, one attempt, the trigger" test "$(field "$id" 'r["worker"], r["attempts"], r["trigger"]')" = "w1 1 http"
expect "... the result" test "$(field "$id" 'json.dumps(r["result"], sort_keys=True)')" = "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["data"], sort_keys=True))' "$TMP/body")"
expect "... the logs, in order" test "$(field "$id" 'r["logs"]')" = "['to stdout', 'to stderr']"
expect "... the code's hash" test "$(field "$id" 'r["hash"]')" = "$(api GET /v1/fn/_/tour | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["hash"])')"
expect "... a start in RFC 3339 with milliseconds" bash -c "[[ '$(field "$id" 'r["start"]')' =~ ^20[0-9-]{8}T[0-9:]{8}\.[0-9]{3}Z$ ]]"
expect "GET .../logs is the lines as text" test "$(api GET "/v1/activations/$id/logs")" = "$(printf 'to stdout\nto stderr')"
first_id=$id
sleep 0.01
invoke tour '{}'
expect "ids begin with the time they were made: a later call's id sorts after ($first_id < $id)" \
    bash -c "[[ '$first_id' < '$id' ]] && [ \$(( 16#${id:0:12} / 1000 - \$(date +%s) )) -le 1 ]"

# ---- failures keep what the caller got ----
invoke trap '{}'
expect "a trap: 500 with an id" test "$status" = 500 -a -n "$id"
expect "... recorded as a trap with 500 and the reason" test "$(field "$id" 'r["status"], r["http_status"], "trapped" in r["error"]')" = "trap 500 True"
invoke loop '{}'
expect "a time limit: 504" test "$status" = 504
expect "... recorded as timeout with 504" test "$(field "$id" 'r["status"], r["http_status"]')" = "timeout 504"
invoke nothing_here '{}'
expect "an unknown function: 404 and no id" test "$status:$id" = "404:"
invoke hello '{"args":'
expect "a malformed body: 400 and no id" test "$status:$id" = "400:"
expect "an unknown id: 404" test "$(get_status /v1/activations/0123456789abcdef0123456789abcdef)" = 404
expect "a malformed id: 404" test "$(get_status '/v1/activations/xyz')" = 404
expect "the logs of an unknown id: 404" test "$(get_status /v1/activations/0123456789abcdef0123456789abcdef/logs)" = 404

# ---- lists: filters, order, a cursor ----
python3 - "$API" "$(grep Admin "$DATA/tokens" | cut -d= -f2)" <<'PY'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
api, token = sys.argv[1], sys.argv[2]
def call(_):
    req = urllib.request.Request(api + "/v1/fn/_/hello", method="POST", data=b'{"args":{"name":"list"}}',
                                 headers={"Authorization": "Bearer " + token})
    assert urllib.request.urlopen(req).status == 200
with ThreadPoolExecutor(16) as pool:
    list(pool.map(call, range(2499)))
PY
invoke hello '{"args":{"name":"list"}}'
last=$id
expect "filters: function=trap lists the one trap" test "$(api GET '/v1/activations?function=trap' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')" = 1
expect "filters: status=timeout" test "$(api GET '/v1/activations?status=timeout' | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(len(d), d[0]["function"])')" = "1 loop"
expect "the newest comes first" test "$(api GET '/v1/activations?limit=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')" = "$last"
expect "paging with before= walks 2,500 calls of hello without a gap or a repeat" python3 - "$API" "$(grep Admin "$DATA/tokens" | cut -d= -f2)" <<'PY'
import json, sys, urllib.request
api, token = sys.argv[1], sys.argv[2]
def page(before):
    url = api + "/v1/activations?function=hello&limit=50" + ("&before=" + before if before else "")
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))["data"]
seen, before = [], None
while True:
    rows = page(before)
    if not rows:
        break
    seen += rows
    before = rows[-1]["id"]
ids = [r["id"] for r in seen]
starts = [r["start"] for r in seen]
assert len(ids) == 2500 and len(set(ids)) == 2500, len(ids)
assert starts == sorted(starts, reverse=True)
assert all("result" not in r and "logs" not in r for r in seen)  # summaries
PY
for query in 'limit=0' 'limit=1001' 'limit=x' 'status=done' 'module=a-b' 'before=zz' 'before=0123456789abcdef0123456789abcdef'; do
    expect "a bad parameter ($query): 400" test "$(get_status "/v1/activations?$query")" = 400
done
expect "the metrics count the records written" \
    bash -c "curl -s '$API/metrics' | grep -qE '^funless_core_activations_written_total [1-9]'"

# ---- logs that cannot hurt: 100 MB of them ----
deploy flood "$FX/c_log_flood.wasm"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$worker/status"; }
invoke flood '{}' # warm: compiled, its memory touched once
before=$(rss_kb)
invoke flood '{}' &
flood_call=$!
sleep 0.05
started=$(now_ms)
invoke hello '{"args":{"name":"beside"}}'
took=$(($(now_ms) - started))
wait $flood_call
expect "a normal call beside a 100 MB log flood answers 200 in under a second (${took} ms)" \
    test "$status" = 200 -a "$took" -lt 1000
invoke flood '{}'
expect "the flooding call itself succeeds" test "$status" = 200
expect "its record keeps 64 KiB of logs, marked truncated" \
    test "$(field "$id" 'len("\n".join(r["logs"])) <= 65536, r["logs_truncated"]')" = "True True"
after=$(rss_kb)
expect "the Worker's memory did not grow by the flood (${before} -> ${after} KiB)" \
    test $((after - before)) -lt 16384

# ---- asynchronous calls ----
status=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
    -d '{"args":{"name":"later"}}' "$API/v1/fn/_/hello?async=true")
aid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["activation_id"])' "$TMP/body")
expect "async=true: 202 with the id (got $status)" test "$status" = 202
expect "... and Location: /v1/activations/ID" grep -qi "^location: /v1/activations/$aid" "$TMP/headers"
final() { [[ "$(field "$1" 'r["status"]')" =~ ^(success|error|trap|timeout|unavailable|busy|lost)$ ]]; }
wait_until 10 final "$aid" || bad "the asynchronous call did not end"
expect "... it ran: success, its result in the record" test "$(field "$aid" 'r["status"], r["trigger"], r["result"]')" = "success async {'payload': 'Hello later!'}"
expect "async=maybe: 400" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" "$API/v1/fn/_/hello?async=maybe")" = 400
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" -d '{}' "$API/v1/fn/_/trap?async=true")
tid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["activation_id"])' "$TMP/body")
wait_until 10 final "$tid" || bad "the asynchronous trap did not end"
expect "a function's own failure is final, never retried" test "$(field "$tid" 'r["status"], r["attempts"], r["http_status"]')" = "trap 1 500"

# 1,000 accepted calls, the Core killed (-9) while they run, then started again: every id ends,
# with the right result
deploy spin "$FX/c_spin.wasm"
python3 - "$API" "$(grep Admin "$DATA/tokens" | cut -d= -f2)" "$TMP/accepted" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
api, token, out = sys.argv[1:4]
def submit(i):
    req = urllib.request.Request(api + "/v1/fn/_/spin?async=true", method="POST",
                                 data=json.dumps({"args": {"ms": i % 7}}).encode(),
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        assert r.status == 202
        return json.load(r)["data"]["activation_id"], i % 7
with ThreadPoolExecutor(16) as pool:
    accepted = list(pool.map(submit, range(1000)))
json.dump(accepted, open(out, "w"))
PY
expect "1,000 asynchronous calls accepted" test "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/accepted")" = 1000
kill -9 "$core"
wait "$core" 2>/dev/null
core=
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join the new Core"
all_final() {
    python3 - "$API" "$(grep Admin "$DATA/tokens" | cut -d= -f2)" "$TMP/accepted" <<'PY'
import json, sys, urllib.request
api, token, accepted = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
def get(i):
    req = urllib.request.Request(api + "/v1/activations/" + i, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req))["data"]
for aid, ms in accepted:
    r = get(aid)
    if r["status"] in ("queued", "running"):
        sys.exit(1)
    assert r["status"] == "success" and r["result"] == {"spun": ms}, r
PY
}
expect "after kill -9 and a restart, every accepted call ends, with its result" wait_until 60 all_final

# a call running when the Core dies runs again once it is back, and that attempt counts
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" -d '{"args":{"ms":2000}}' "$API/v1/fn/_/spin?async=true")
rid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["activation_id"])' "$TMP/body")
is_running() { [ "$(field "$rid" 'r["status"]')" = running ]; }
wait_until 10 is_running || bad "the call did not start"
kill -9 "$core"
wait "$core" 2>/dev/null
core=
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join the new Core"
wait_until 20 final "$rid" || bad "the call running at the crash did not end"
expect "a call running at kill -9 ends after the restart, its interrupted attempt counted ($(field "$rid" 'r["status"], r["attempts"]'))" \
    test "$(field "$rid" 'r["status"], r["attempts"]')" = "success 2"

# a store that stops answering never holds up a call (PostgreSQL only: it can be stopped)
if [ -n "${FUNLESS_TEST_PG_CTL:-}" ]; then
    eval "$FUNLESS_TEST_PG_CTL -m fast stop" >/dev/null
    started=$(now_ms)
    codes=$(for _ in $(seq 30); do invoke hello '{"args":{"name":"nostore"}}'; echo "$status"; done | sort | uniq -c | xargs)
    took=$(($(now_ms) - started))
    expect "the store stopped: 30 calls still answer 200 ($codes) in ${took} ms" \
        bash -c "[ '$codes' = '30 200' ] && [ $took -lt 5000 ]"
    dropped() { curl -s "$API/metrics" | awk '/^funless_core_activations_dropped_total/ {print $2}'; }
    wait_until 10 bash -c "[ \"\$(curl -s '$API/metrics' | awk '/^funless_core_activations_dropped_total/ {print \$2}')\" -gt 0 ]"
    expect "... their records are dropped and counted ($(dropped))" test "$(dropped)" -gt 0
    eval "$FUNLESS_TEST_PG_CTL start" >/dev/null
    invoke hello '{"args":{"name":"back"}}'
    back=$id
    expect "the store back: records are written again" test "$(field "$back" 'r["status"]')" = success
fi

# a Worker killed during a call: the call is retried on another Worker
"$FUNLESS" worker --name w2 --listen 127.0.0.1:0 --cache-dir "$TMP/cache2" --metrics off \
    --announce off >"$TMP/worker2.out" 2>"$TMP/worker2.err" &
worker2=$!
wait_until 10 grep -qs listening "$TMP/worker2.out"
api POST /v1/admin/workers -H 'Content-Type: application/json' \
    -d "{\"address\":\"127.0.0.1:$(grep -o 'listening on 127.0.0.1:[0-9]*' "$TMP/worker2.out" | grep -o '[0-9]*$')\"}" >/dev/null
wait_until 10 workers_are "w1 w2" || bad "the second Worker did not join"
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" -d '{"args":{"ms":3000}}' "$API/v1/fn/_/spin?async=true")
sid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["activation_id"])' "$TMP/body")
running_on() { [ "$(field "$sid" 'r["status"]')" = running ]; }
wait_until 10 running_on || bad "the long call did not start"
sleep 0.3
# the record says where it runs only at the end: kill the Worker that has a call in flight
victim=$(api GET /v1/admin/workers | python3 -c 'import json,sys; print([w["name"] for w in json.load(sys.stdin)["data"] if w["in_flight"]][0])')
if [ "$victim" = w1 ]; then kill -9 "$worker"; worker=; else kill -9 "$worker2"; worker2=; fi
wait_until 20 final "$sid" || bad "the retried call did not end"
expect "a Worker lost mid-call: retried on the other, success after 2 attempts ($victim died)" \
    test "$(field "$sid" 'r["status"], r["attempts"], r["worker"] != "'"$victim"'"')" = "success 2 True"
[ -n "${worker2:-}" ] && kill "$worker2" 2>/dev/null
[ -z "$worker" ] && start_worker

# ---- no Worker: the record says unavailable, with the 503 the caller got ----
kill "$worker"
wait "$worker" 2>/dev/null
worker=
wait_until 10 workers_are "" || bad "the Worker did not leave"
invoke hello '{}'
expect "no Worker: 503 with an id" test "$status" = 503 -a -n "$id"
expect "... recorded as unavailable with 503" test "$(field "$id" 'r["status"], r["http_status"], r["worker"]')" = "unavailable 503 "

# ---- a full queue answers 429 ----
stop_core
start_worker
start_core --async-queue-max 2 --async-concurrency 1
wait_until 10 workers_are w1 || bad "the Worker did not join again"
for i in 1 2 3; do
    got[$i]=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" -d '{"args":{"ms":1500}}' "$API/v1/fn/_/spin?async=true")
done
expect "--async-queue-max 2: two accepted, the third 429 (got ${got[*]})" test "${got[*]}" = "202 202 429"

# ---- retention, and --activations errors ----
stop_core
if [ -z "${FUNLESS_TEST_DB:-}" ]; then # SQLite: a record from two days ago, written by hand
    # ids begin with their time in ms (docs/activations.md): the old one, then the newest
    read -r old_id new_id < <(python3 - "$DATA/funless.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
now = int(time.time() * 1000)
ids = []
for start in (now - 48 * 3600 * 1000, now + 60 * 1000):
    rid = "%012x" % start + "0dd" * 6 + "00"
    ids.append(rid)
    db.execute("INSERT INTO activations (id, module, fname, hash, trigger_kind, status, http_status, "
               "worker, start_text, start_ms, duration_ms, attempts, result, result_truncated, "
               "error, logs, logs_truncated) VALUES (?, '_', 'hello', 'h', 'http', 'success', 200, "
               "'w1', '2020-01-01T00:00:00.000Z', ?, 1, 1, '{}', 0, '', '[]', 0)", (rid, start))
db.commit()
print(*ids)
PY
    )
fi
start_core --activation-max 10
sleep 4 # the two long calls of the full queue end first (their records are newer)
if [ -z "${FUNLESS_TEST_DB:-}" ]; then
    expect "a record older than --activation-keep-hours (24) is gone at start" \
        test "$(get_status "/v1/activations/$old_id")" = 404
    expect "... a recent one written the same way is there" \
        test "$(get_status "/v1/activations/$new_id")" = 200
fi
wait_until 10 workers_are w1 || bad "the Worker did not join again"
count() { api GET '/v1/activations?limit=1000' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))'; }
expect "--activation-max 10 keeps the newest 10 (got $(count))" test "$(count)" = 10
stop_core
start_core --activations errors
wait_until 10 workers_are w1 || bad "the Worker did not join again"
invoke hello '{"args":{"name":"kept"}}'
ok_id=$id
expect "--activations errors: a success answers 200 (got $status)" test "$status" = 200
invoke trap '{}'
trap_id=$id
expect "--activations errors: a success still gets an id" test -n "$ok_id"
expect "... but no record (got $(get_status "/v1/activations/$ok_id") $(field "$ok_id" 'r["status"]' 2>/dev/null))" test "$(get_status "/v1/activations/$ok_id")" = 404
expect "... and a trap has one" test "$(get_status "/v1/activations/$trap_id")" = 200
stop_core
expect "no sanitizer report from the Cores and Workers" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/*.err"
finish
