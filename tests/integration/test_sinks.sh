#!/usr/bin/env bash
# Sinks end to end, with a CouchDB-compatible server (pouchdb-server, installed by
# scripts/install-deps.sh), a webhook receiver, Core and Worker on loopback: every result of a
# function reaches both, whatever called it; the outcome is on each activation; a sink that is
# down fails after its retries without holding up a call; reply shapes, 207 and 400; kept
# across a restart; a password is never shown.
#
# usage: test_sinks.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=sinks
. "$HERE/lib_core.sh"
POUCHDB=$HERE/../../.cache/pouchdb-server/node_modules/.bin/pouchdb-server
couch= hook=
trap '[ -n "$couch" ] && kill "$couch" 2>/dev/null; [ -n "$hook" ] && kill "$hook" 2>/dev/null; cleanup' EXIT
[ -n "${KEEP_TMP:-}" ] && trap - EXIT
[ -x "$POUCHDB" ] || { bad "pouchdb-server is not installed (scripts/install-deps.sh)"; finish; exit 1; }

COUCH_PORT=$(free_port) HOOK_PORT=$(free_port) DOWN_PORT=$(free_port)
(cd "$TMP" && exec "$POUCHDB" --in-memory --host 127.0.0.1 --port "$COUCH_PORT" >"$TMP/couch.log" 2>&1) &
couch=$!
python3 "$HERE/webhook.py" "$HOOK_PORT" "$TMP/hook.jsonl" &
hook=$!
wait_until 20 curl -sf "http://127.0.0.1:$COUCH_PORT/" -o /dev/null || bad "pouchdb-server did not start"
# an admin, so that the server checks the credentials the sink sends (HTTP basic)
curl -s -X PUT "http://127.0.0.1:$COUCH_PORT/_config/admins/admin" -d '"s3cret"' >/dev/null
curl -s -u admin:s3cret -X PUT "http://127.0.0.1:$COUCH_PORT/results" >/dev/null
wait_until 10 bash -c "echo > /dev/tcp/127.0.0.1/$HOOK_PORT" 2>/dev/null || bad "the webhook receiver did not start"
start_worker
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"

# upload NAME SINKS: the status in $status, the body in $TMP/body
upload() {
    status=$(api POST /v1/fn/_ -F "name=$1" -F "code=@$FX/c_hello.wasm" -F "sinks=$2" \
        -F wait_for_workers=true -o "$TMP/body" -w '%{http_code}')
}
body() { python3 -c "import json,sys; d=json.load(open('$TMP/body'))['data']; print($1)"; }
invoke() { # FUNCTION NAME [?async=true]: the activation id in $id
    id=$(api POST "/v1/fn/_/$1${3:-}" -d "{\"args\":{\"name\":\"$2\"}}" -D - -o /dev/null |
        awk 'tolower($1)=="x-funless-activation:" {print $2}' | tr -d '\r')
}
couch_docs() { curl -s -u admin:s3cret "http://127.0.0.1:$COUCH_PORT/results/_all_docs?include_docs=true" | python3 -c 'import json,sys; print(" ".join(sorted(r["doc"]["payload"] for r in json.load(sys.stdin)["rows"])))'; }
hook_count() { [ -f "$TMP/hook.jsonl" ] && wc -l <"$TMP/hook.jsonl" || echo 0; }
hooks_are() { [ "$(hook_count)" = "$1" ]; }
couch_count_is() { [ "$(curl -s -u admin:s3cret "http://127.0.0.1:$COUCH_PORT/results/_all_docs" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rows"]))')" = "$1" ]; }
sinks_of() { api GET "/v1/activations/$1" | python3 -c "import json,sys; print([(s['type'], s['status']) for s in json.load(sys.stdin)['data'].get('sinks', [])])"; }
sinks_written() { [ "$(sinks_of "$1")" != "[]" ]; }

# ---- shapes ----
upload bad 'not json'
expect "sinks that are not JSON: 400 (got $status)" test "$status" = 400
upload mixed '[{"type":"http","params":{"url":"ftp://x"}},{"type":"nope","params":{}},{"type":"http","params":{"url":"http://127.0.0.1:1/"}}]'
expect "a mix of good and bad sinks: 207 with sinks_metadata (got $status)" \
    test "$status/$(body 'd["sinks_metadata"]')" = "207/{'successful': 1, 'failed': 2, 'total': 3}"
SINKS="[{\"type\":\"couchdb\",\"params\":{\"url\":\"http://127.0.0.1:$COUCH_PORT/results\",\"username\":\"admin\",\"password\":\"s3cret\"}},{\"type\":\"http\",\"params\":{\"url\":\"http://127.0.0.1:$HOOK_PORT/hook\",\"headers\":{\"X-Token\":\"t0k\"}}}]"
upload hello "$SINKS"
expect "a function with a couchdb and an http sink: 201 (got $status)" test "$status" = 201
shown=$(api GET /v1/fn/_/hello)
expect "GET shows its sinks, the password as ***" \
    bash -c "grep -qF '\"password\":\"***\"' <<<'$shown' && ! grep -q s3cret <<<'$shown'"

# ---- every result, whatever called ----
for i in $(seq 10); do invoke hello "s$i"; done
for i in $(seq 5); do invoke hello "a$i" '?async=true'; done
expect "15 results (10 synchronous, 5 asynchronous) reach the webhook" wait_until 20 hooks_are 15
expect "... and CouchDB, as documents" wait_until 20 couch_count_is 15
docs=$(couch_docs)
expect "... the documents are the results" bash -c "[[ '$docs' == *'Hello a5!'*'Hello s9!'* ]]"
expect "the webhook gets the activation id, the function and the result, with its header" \
    python3 - "$TMP/hook.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["token"] == "t0k" and r["body"]["function"] == "hello" and len(r["body"]["activation_id"]) == 32 for r in rows)
assert sorted(r["body"]["result"]["payload"] for r in rows)[0] == "Hello a1!"
PY
expect "the outcome is on the activation" wait_until 10 sinks_written "$id"
expect "... both delivered" test "$(sinks_of "$id")" = "[('couchdb', 'delivered'), ('http', 'delivered')]"

# ---- wrong credentials, a sink that is down ----
upload wrongpass "[{\"type\":\"couchdb\",\"params\":{\"url\":\"http://127.0.0.1:$COUCH_PORT/results\",\"username\":\"admin\",\"password\":\"nope\"}}]"
invoke wrongpass w
expect "a couchdb sink with a wrong password fails (CouchDB answers 401)" wait_until 15 sinks_written "$id"
expect "... with the status it got" test "$(api GET "/v1/activations/$id" | python3 -c "import json,sys; s=json.load(sys.stdin)['data']['sinks'][0]; print(s['status'], s['http_status'])")" = "failed 401"
upload down "[{\"type\":\"http\",\"params\":{\"url\":\"http://127.0.0.1:$DOWN_PORT/\"}}]"
started=$(now_ms)
invoke down late
took=$(($(now_ms) - started))
expect "a call whose sink is down answers at once (${took} ms)" test "$took" -lt 1000
expect "... its sink fails after the retries (1 s, 2 s, 4 s)" wait_until 15 sinks_written "$id"
expect "... failed, tried 4 times" test "$(api GET "/v1/activations/$id" | python3 -c "import json,sys; s=json.load(sys.stdin)['data']['sinks'][0]; print(s['status'], s['attempts'])")" = "failed 4"
expect "the metrics count the sends" bash -c "curl -s '$API/metrics' | grep -q 'funless_core_sink_sends_total{outcome=\"failed\"} 2'"

# ---- kept across a restart ----
stop_core
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join again"
invoke hello again
expect "after a restart the sinks are back: the webhook gets the next result" wait_until 20 hooks_are 16
stop_core
expect "the password is nowhere in the Core's logs" bash -c "! grep -q s3cret '$TMP'/core.out '$TMP'/core.err"
expect "no sanitizer report from the Core and the Worker" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/*.err"
finish
