#!/usr/bin/env bash
# Tenants end to end (docs/tenants.md), through real Core and Worker processes, on SQLite or (in
# with_postgres.sh) PostgreSQL: who sees, changes, invokes and reads the activations of a module
# (owner, each right, no right, admin, guest on `_`); token rotation with and without grace,
# expiry, deletion; quotas (functions, code, rate, concurrency, one subject's flood not slowing
# another); configuration and secrets reaching functions of both ABIs, and a secret's value in no
# GET, metric, log, activation or database file.
#
# usage: test_tenants.sh FUNLESS_BINARY   (env: FIXTURES_DIR; FUNLESS_TEST_DB for PostgreSQL)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=tenants
. "$HERE/lib_core.sh"

# as TOKEN METHOD PATH [curl args...]: the status, a space, the body
as() {
    local token=$1 method=$2 path=$3
    shift 3
    curl -s -X "$method" -H "Authorization: Bearer $token" -o "$TMP/as.body" -w '%{http_code}' \
        "$@" "$API$path"
    printf ' '
    cat "$TMP/as.body"
}
status_of() { as "$@" | cut -d' ' -f1; }
is() { # NAME WANT TOKEN METHOD PATH [curl args...]
    local name=$1 want=$2
    shift 2
    local got
    got=$(status_of "$@")
    expect "$name: $want (got $got)" test "$got" = "$want"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
new_subject() { # NAME [JSON-FIELDS]: prints its token
    api POST /v1/admin/subjects -H 'Content-Type: application/json' \
        -d "{\"subject\":{\"name\":\"$1\"${2:+,$2}}}" | json 'd["data"]["token"]'
}
upload() { # TOKEN MODULE NAME FIXTURE [curl args]: the status
    local token=$1 module=$2 fname=$3 fixture=$4
    shift 4
    status_of "$token" POST "/v1/fn/$module" -F "name=$fname" -F "code=@$fixture" \
        -F wait_for_workers=true "$@"
}

NAMED='{"args":{"name":"tenant"}}' # what the hello function wants
start_worker
start_core --quota-rate 0
wait_until 10 workers_are w1 || bad "the Worker did not join"
ADMIN=$(grep Admin "$DATA/tokens" | cut -d= -f2)
GUEST=$(grep Guest "$DATA/tokens" | cut -d= -f2)
ALICE=$(new_subject alice)
BOB=$(new_subject bob)
expect "subjects are created with tokens" test ${#ALICE} = 48 -a ${#BOB} = 48

# ---- ownership: a module is its creator's ----
is "alice creates module am" 201 "$ALICE" POST /v1/fn -d '{"module":{"name":"am"}}'
expect "... a function in it" test "$(upload "$ALICE" am hello "$FX/c_hello.wasm")" = 201
expect "alice lists am" bash -c "curl -s -H 'Authorization: Bearer $ALICE' $API/v1/fn | grep -q '\"am\"'"
expect "bob's list does not show am" bash -c "! curl -s -H 'Authorization: Bearer $BOB' $API/v1/fn | grep -q '\"am\"'"
expect "... but shows the shared _" bash -c "curl -s -H 'Authorization: Bearer $BOB' $API/v1/fn | grep -q '\"_\"'"
is "bob reads am" 404 "$BOB" GET /v1/fn/am
is "bob reads am/hello" 404 "$BOB" GET /v1/fn/am/hello
is "bob invokes am/hello" 404 "$BOB" POST /v1/fn/am/hello -d "$NAMED"
is "bob updates am/hello" 404 "$BOB" PUT /v1/fn/am/hello -F name=hello -F "code=@$FX/c_hello.wasm"
is "bob deletes am/hello" 404 "$BOB" DELETE /v1/fn/am/hello
is "bob creates a function in am" 404 "$BOB" POST /v1/fn/am -F name=x -F "code=@$FX/c_hello.wasm"
is "bob renames am" 404 "$BOB" PUT /v1/fn/am -d '{"module":{"name":"bm"}}'
is "bob deletes am" 404 "$BOB" DELETE /v1/fn/am
is "bob reads am's access list" 404 "$BOB" GET /v1/fn/am/access
is "bob reads am/hello's configuration" 404 "$BOB" GET /v1/fn/am/hello/config
is "bob sets am/hello's configuration" 404 "$BOB" PUT /v1/fn/am/hello/config -d '{"config":{"A":"1"}}'
expect "an unknown module answers bob the same" test "$(as "$BOB" GET /v1/fn/nowhere)" = "$(as "$BOB" GET /v1/fn/am | sed 's/am/nowhere/')"
status=$(curl -s -o /dev/null -D "$TMP/h" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" -d "$NAMED" "$API/v1/fn/am/hello")
aid=$(awk 'tolower($1)=="x-funless-activation:" {print $2}' "$TMP/h" | tr -d '\r')
expect "alice invokes am/hello: 200 (got $status)" test "$status" = 200
is "alice reads its activation" 200 "$ALICE" GET "/v1/activations/$aid"
is "bob reads alice's activation" 404 "$BOB" GET "/v1/activations/$aid"
is "bob reads its logs" 404 "$BOB" GET "/v1/activations/$aid/logs"
is "bob lists am's activations" 404 "$BOB" GET "/v1/activations?module=am"
expect "bob's activation list holds none of am's" bash -c "! curl -s -H 'Authorization: Bearer $BOB' '$API/v1/activations' | grep -q '\"module\":\"am\"'"
expect "alice's holds them" bash -c "curl -s -H 'Authorization: Bearer $ALICE' '$API/v1/activations' | grep -q '\"module\":\"am\"'"
is "the admin reads am" 200 "$ADMIN" GET /v1/fn/am/hello
is "... and its activation" 200 "$ADMIN" GET "/v1/activations/$aid"
expect "the admin lists am" bash -c "curl -s -H 'Authorization: Bearer $ADMIN' $API/v1/fn | grep -q '\"am\"'"

# ---- guests on _: shared by everyone ----
expect "guest uploads to _" test "$(upload "$GUEST" _ g "$FX/c_hello.wasm")" = 201
is "alice invokes _/g" 200 "$ALICE" POST /v1/fn/_/g -d "$NAMED"
is "bob updates _/g" 200 "$BOB" PUT /v1/fn/_/g -F name=g -F "code=@$FX/c_hello.wasm"
is "_ has no access list" 400 "$ADMIN" PUT /v1/fn/_/access -d '{"access":[]}'

# ---- sharing: each right ----
share() { as "$ALICE" PUT /v1/fn/am/access -H 'Content-Type: application/json' -d "{\"access\":$1}" | cut -d' ' -f1; }
expect "a bad access list: 400" test "$(share '[{"subject":"bob","rights":["fly"]}]')" = 400
expect "an unknown subject: 422" test "$(share '[{"subject":"nobody","rights":["read"]}]')" = 422
expect "alice shares am with bob: read" test "$(share '[{"subject":"bob","rights":["read"]}]')" = 200
is "bob (read) reads am" 200 "$BOB" GET /v1/fn/am
is "bob (read) reads am/hello" 200 "$BOB" GET /v1/fn/am/hello
is "bob (read) reads alice's activation" 200 "$BOB" GET "/v1/activations/$aid"
is "bob (read) invokes" 403 "$BOB" POST /v1/fn/am/hello -d "$NAMED"
is "bob (read) updates" 403 "$BOB" PUT /v1/fn/am/hello -F name=hello -F "code=@$FX/c_hello.wasm"
is "bob (read) shares further" 403 "$BOB" PUT /v1/fn/am/access -d '{"access":[]}'
expect "alice shares am with bob: invoke" test "$(share '[{"subject":"bob","rights":["invoke"]}]')" = 200
is "bob (invoke) invokes" 200 "$BOB" POST /v1/fn/am/hello -d "$NAMED"
is "bob (invoke) invokes asynchronously" 202 "$BOB" POST '/v1/fn/am/hello?async=true' -d "$NAMED"
is "bob (invoke) updates" 403 "$BOB" PUT /v1/fn/am/hello -F name=hello -F "code=@$FX/c_hello.wasm"
expect "alice shares am with bob: write" test "$(share '[{"subject":"bob","rights":["write","read"]}]')" = 200
is "bob (write) updates" 200 "$BOB" PUT /v1/fn/am/hello -F name=hello -F "code=@$FX/c_hello.wasm"
is "bob (write) creates" 201 "$BOB" POST /v1/fn/am -F name=by_bob -F "code=@$FX/c_hello.wasm"
is "bob (write) deletes" 204 "$BOB" DELETE /v1/fn/am/by_bob
is "bob (write) renames the module" 403 "$BOB" PUT /v1/fn/am -d '{"module":{"name":"bm"}}'
is "bob (write) deletes the module" 403 "$BOB" DELETE /v1/fn/am
expect "the owner reads the access list" test "$(as "$ALICE" GET /v1/fn/am/access | cut -d' ' -f2- | json 'd["data"]["access"][0]["rights"]')" = "['read', 'write']"
expect "everyone ('*') may be given a right" test "$(share '[{"subject":"*","rights":["invoke"]}]')" = 200
is "guest ('*': invoke) invokes am/hello" 200 "$GUEST" POST /v1/fn/am/hello -d "$NAMED"
is "guest ('*': invoke) reads am" 403 "$GUEST" GET /v1/fn/am
expect "alice takes the rights back" test "$(share '[]')" = 200
is "bob (none) reads am" 404 "$BOB" GET /v1/fn/am
is "a function may not be named access" 422 "$ALICE" POST /v1/fn/am -F name=access -F "code=@$FX/c_hello.wasm"

# ---- tokens: rotation, grace, expiry, deletion ----
CAROL=$(new_subject carol)
is "carol's token works" 200 "$CAROL" GET /v1/fn
NEW=$(api POST /v1/admin/subjects/carol/token | json 'd["data"]["token"]')
is "rotated without grace: the old token stops at once" 401 "$CAROL" GET /v1/fn
is "... the new one works" 200 "$NEW" GET /v1/fn
NEWER=$(api POST /v1/admin/subjects/carol/token -H 'Content-Type: application/json' -d '{"grace_seconds":2}' | json 'd["data"]["token"]')
is "rotated with 2 s of grace: the old token still works" 200 "$NEW" GET /v1/fn
is "... the new one too" 200 "$NEWER" GET /v1/fn
expect "the subject shows the grace's end" bash -c "curl -s -H 'Authorization: Bearer $ADMIN' $API/v1/admin/subjects/carol | grep -q '\"previous_token_until\":\"20'"
sleep 2.2
is "after the grace the old token fails" 401 "$NEW" GET /v1/fn
is "... the new one works" 200 "$NEWER" GET /v1/fn
DAVE=$(new_subject dave '"expires_in_seconds":1')
is "a token that expires in 1 s works" 200 "$DAVE" GET /v1/fn
sleep 1.2
is "... and then fails" 401 "$DAVE" GET /v1/fn
is "carol creates a private module" 201 "$NEWER" POST /v1/fn -d '{"module":{"name":"cm"}}'
is "the admin deletes carol" 204 "$ADMIN" DELETE /v1/admin/subjects/carol
is "a deleted subject's token fails at once" 401 "$NEWER" GET /v1/fn
is "... and the subject is gone" 404 "$ADMIN" GET /v1/admin/subjects/carol
CAROL2=$(new_subject carol)
is "a new subject named carol inherits nothing" 404 "$CAROL2" GET /v1/fn/cm
expect "... the admin now owns cm" test "$(api GET /v1/fn/cm/access | json 'd["data"]["owner"]')" = admin
is "the last admin cannot be deleted" 400 "$ADMIN" DELETE /v1/admin/subjects/admin
is "a user may not manage subjects" 403 "$ALICE" DELETE /v1/admin/subjects/bob
is "... nor rotate tokens" 403 "$ALICE" POST /v1/admin/subjects/alice/token
is "a bad grace: 400" 400 "$ADMIN" POST /v1/admin/subjects/bob/token -d '{"grace_seconds":-1}'
expect "no token or hash in a subject's GET" bash -c "! curl -s -H 'Authorization: Bearer $ADMIN' $API/v1/admin/subjects/bob | grep -q '$BOB'"

# ---- quotas ----
quota() { as "$ADMIN" PUT "/v1/admin/subjects/$1/quota" -H 'Content-Type: application/json' -d "{\"quota\":$2}" | cut -d' ' -f1; }
expect "an unknown quota: 400" test "$(quota bob '{"cpu":1}')" = 400
expect "a negative quota: 400" test "$(quota bob '{"rate":-1}')" = 400
expect "bob may have 1 function" test "$(quota bob '{"functions":1,"code_mb":1}')" = 200
is "bob creates module bm" 201 "$BOB" POST /v1/fn -d '{"module":{"name":"bm"}}'
expect "bob's first function: 201" test "$(upload "$BOB" bm one "$FX/c_hello.wasm")" = 201
expect "bob's second: 403 (quota)" test "$(upload "$BOB" bm two "$FX/c_hello.wasm")" = 403
expect "... in the shared _ too" test "$(upload "$BOB" _ two "$FX/c_hello.wasm")" = 403
expect "GET shows use against quota" test "$(api GET /v1/admin/subjects/bob | json 'd["data"]["use"]["functions"], d["data"]["quota"]["functions"]')" = "1 1"
# code past 1 MiB: the hello function with a 1.2 MB custom section (still valid Wasm)
python3 - "$FX/c_hello.wasm" "$TMP/big.wasm" <<'EOF'
import sys
code = open(sys.argv[1], 'rb').read()
name, pad = b'pad', b'\0' * 1200000
body = bytes([len(name)]) + name + pad
def leb(n):
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out
open(sys.argv[2], 'wb').write(code + b'\0' + leb(len(body)) + body)
EOF
is "bob's update to 1.2 MB of code: 403 (code_mb 1)" 403 "$BOB" PUT /v1/fn/bm/one -F name=one -F "code=@$TMP/big.wasm"
expect "bob back to the defaults" test "$(quota bob '{"functions":null,"code_mb":null}')" = 200
is "... and the update passes" 200 "$BOB" PUT /v1/fn/bm/one -F name=one -F "code=@$TMP/big.wasm"
# concurrency: one call at a time for bob
expect "bob may run 1 call at once" test "$(quota bob '{"concurrent":1}')" = 200
expect "a slow function" test "$(upload "$BOB" bm slow "$FX/c_wasi_tour.wasm" -F 'metadata={"timeout_ms":2000}')" = 201
curl -s -o /dev/null -X POST -H "Authorization: Bearer $BOB" -d '{"args":{"sleep":1}}' "$API/v1/fn/bm/slow" &
slow=$!
sleep 0.5
status=$(curl -s -o /dev/null -D "$TMP/h" -w '%{http_code}' -X POST -H "Authorization: Bearer $BOB" -d "$NAMED" "$API/v1/fn/bm/one")
expect "a second call while one runs: 429 (got $status)" test "$status" = 429
expect "... with Retry-After" grep -qi '^retry-after: [0-9]' "$TMP/h"
is "alice is not held back meanwhile" 200 "$ALICE" POST /v1/fn/am/hello -d "$NAMED"
wait $slow
is "once it ended, bob calls again" 200 "$BOB" POST /v1/fn/bm/one -d "$NAMED"
# rate: bob floods at 5x his rate while alice's latency is measured
expect "bob may make 20 calls a second" test "$(quota bob '{"rate":20,"concurrent":null}')" = 200
cat >"$TMP/rate.py" <<'EOF'
import http.client, multiprocessing, os, sys, time, urllib.parse
api, alice, bob = sys.argv[1:4]
host = urllib.parse.urlparse(api)
def connect():
    return http.client.HTTPConnection(host.hostname, host.port, timeout=10)
def call(conn, token, path):
    conn.request('POST', path, body='{"args":{"name":"t"}}',
                 headers={'Authorization': 'Bearer ' + token})
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader('Retry-After')
def p99(n=1000):
    conn, times = connect(), []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = call(conn, alice, '/v1/fn/am/hello')
        times.append(time.perf_counter() - t)
        assert status == 200, status
    times.sort()
    return times[int(len(times) * 0.99) - 1]
# bob floods from a process of his own, at the lowest priority: as a thread of this one, his
# client would hold Python's interpreter lock while alice's replies arrive, and at normal
# priority its wake-ups would take a core from the servers or from alice's client on this
# shared machine — her p99 would measure the load generator, not the Core (whose quota
# refusals cost her nothing)
def flood(stop, results):  # 100 calls a second: 5x bob's rate
    os.nice(19)
    conn, statuses = connect(), {}
    nxt = time.perf_counter()
    while not stop.is_set():
        status, retry = call(conn, bob, '/v1/fn/bm/one')
        statuses[status] = statuses.get(status, 0) + 1
        if status == 429 and not retry:
            statuses['no-retry-after'] = 1
        nxt += 0.01
        time.sleep(max(0, nxt - time.perf_counter()))
    results.put(statuses)
statuses = {}
best = None
for attempt in range(3):  # a shared machine: the best of three
    quiet = p99()
    stop, results = multiprocessing.Event(), multiprocessing.Queue()
    flooder = multiprocessing.Process(target=flood, args=(stop, results))
    flooder.start()
    time.sleep(1.0)  # past the bucket's first second's worth
    loaded = p99()
    stop.set()
    for status, n in results.get(timeout=30).items():
        statuses[status] = statuses.get(status, 0) + n
    flooder.join()
    # within 1.5x, or 0.3 ms: a second client on these two shared cores moves a p99 of a
    # third of a millisecond by that much whatever the server does (measured with bob's calls
    # all answered, none refused: the same); a flood that held alice up would cost her more
    allowed = max(1.5 * quiet, quiet + 0.0003)
    ratio = loaded / allowed
    print(f'attempt {attempt}: p99 quiet {quiet*1e3:.2f} ms, bob flooding {loaded*1e3:.2f} ms '
          f'({loaded/quiet:.2f}x; allowed {allowed*1e3:.2f} ms)')
    best = ratio if best is None else min(best, ratio)
    if best <= 1:
        break
print('statuses', statuses)
print('flooded p99 / allowed', f'{best:.2f}')
ok200, ok429 = statuses.get(200, 0), statuses.get(429, 0)
sys.exit(0 if best <= 1 and ok429 > ok200 and ok200 > 0 and 'no-retry-after' not in statuses else 1)
EOF
python3 "$TMP/rate.py" "$API" "$ALICE" "$BOB" >"$TMP/rate.out" 2>&1
rc=$?
cat "$TMP/rate.out"
expect "bob flooding at 5x his rate gets 429s with Retry-After, alice's p99 stays within 1.5x (or 0.3 ms)" test "$rc" = 0

# ---- configuration and secrets ----
SECRET=s3cr3t-V4lue-$RANDOM$RANDOM
expect "a function of each ABI" test "$(upload "$ALICE" am env "$FX/c_env_dump.wasm")$(upload "$ALICE" am env0 "$FX/c_env_dump_v0.wasm")" = 201201
cfg() { as "$ALICE" PUT "/v1/fn/am/$1/config" -H 'Content-Type: application/json' -d "$2" | cut -d' ' -f1; }
expect "config and a secret set: 200" test "$(cfg env "{\"config\":{\"GREETING\":\"hello there\"},\"secrets\":{\"S_DB_PASSWORD\":\"$SECRET\"}}")" = 200
fnv=$(python3 -c "
h = 2166136261
for c in '$SECRET'.encode(): h = ((h ^ c) * 16777619) & 0xffffffff
print('fnv:%08x' % h)")
expect "the function reads both from its environment" test "$(as "$ALICE" POST /v1/fn/am/env | cut -d' ' -f2- | json 'd["data"]["env"]["GREETING"], d["data"]["env"]["S_DB_PASSWORD"]')" = "hello there $fnv"
expect "a config change reaches the next call (no new upload)" test "$(cfg env '{"config":{"GREETING":"changed","EXTRA":"1"}}')" = 200
expect "... it does" test "$(as "$ALICE" POST /v1/fn/am/env | cut -d' ' -f2- | json 'd["data"]["env"]["GREETING"], d["data"]["env"]["EXTRA"], d["data"]["env"]["S_DB_PASSWORD"]')" = "changed 1 $fnv"
expect "null removes a key" test "$(cfg env '{"config":{"EXTRA":null}}')" = 200
expect "... it is gone" test "$(as "$ALICE" POST /v1/fn/am/env | cut -d' ' -f2- | json '"EXTRA" in d["data"]["env"]')" = False
expect "ABI v0 too" test "$(cfg env0 "{\"config\":{\"MODE\":\"v0\"},\"secrets\":{\"S_TOKEN\":\"$SECRET\"}}")" = 200
expect "... reads both" test "$(as "$ALICE" POST /v1/fn/am/env0 | cut -d' ' -f2- | json 'd["data"]["env"]["MODE"], d["data"]["env"]["S_TOKEN"]')" = "v0 len:${#SECRET}"
expect "GET config shows the secrets' names only" test "$(as "$ALICE" GET /v1/fn/am/env/config | cut -d' ' -f2- | json 'd["data"]["config"], d["data"]["secrets"]')" = "{'GREETING': 'changed'} ['S_DB_PASSWORD']"
expect "the function's GET shows them too, the secrets by name" test "$(as "$ALICE" GET /v1/fn/am/env | cut -d' ' -f2- | json 'd["data"]["config"], d["data"]["secrets"], d["data"]["name"]')" = "{'GREETING': 'changed'} ['S_DB_PASSWORD'] env"
expect "a key both config and secret: 400" test "$(cfg env '{"config":{"S_DB_PASSWORD":"x"}}')" = 400
expect "a key that is no variable name: 400" test "$(cfg env '{"config":{"1A":"x"}}')" = 400
expect "a value that is not a string: 400" test "$(cfg env '{"config":{"A":1}}')" = 400
expect "more than 32 KiB: 413" test "$(cfg env "{\"config\":{\"BIG\":\"$(head -c 40000 /dev/zero | tr '\0' x)\"}}")" = 413
expect "a bad body: 400" test "$(cfg env '{}')" = 400
api POST /v1/fn/am/env >/dev/null
stop_core
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join again"
expect "after a restart the function still reads its secret" test "$(as "$ALICE" POST /v1/fn/am/env | cut -d' ' -f2- | json 'd["data"]["env"]["S_DB_PASSWORD"]')" = "$fnv"
expect "... and ownership holds" test "$(status_of "$BOB" GET /v1/fn/am)" = 404
expect "... and quotas" test "$(api GET /v1/admin/subjects/bob | json 'd["data"]["quota"]["rate"]')" = 20
# nowhere a secret's value
{
    for p in /v1/fn/am/env /v1/fn/am/env/config /v1/fn/am/env0 "/v1/activations?limit=1000" /metrics; do
        api GET "$p"
    done
    for id in $(api GET '/v1/activations?module=am&limit=1000' | json '" ".join(a["id"] for a in d["data"])'); do
        api GET "/v1/activations/$id"
    done
    cat "$TMP"/core.out "$TMP"/core.err "$TMP"/worker.out "$TMP"/worker.err
} >"$TMP/everything" 2>&1
expect "no GET, record, metric or log holds the secret's value" bash -c "! grep -q '$SECRET' '$TMP/everything'"
expect "... the GETs and records were read" test "$(wc -c <"$TMP/everything")" -gt 1000
if [ -n "${FUNLESS_TEST_DB:-}" ]; then
    pg_dump "$FUNLESS_TEST_DB" >"$TMP/dump.sql"
    expect "the PostgreSQL dump holds the secrets, sealed" grep -q 'v1:' "$TMP/dump.sql"
    expect "... never their value" bash -c "! grep -q '$SECRET' '$TMP/dump.sql'"
else
    expect "the SQLite files hold the secrets, sealed" bash -c "cat '$DATA'/funless.db* | grep -aq 'v1:'"
    expect "... never their value" bash -c "! cat '$DATA'/funless.db* | grep -aq '$SECRET'"
fi
expect "the secret key file is 0600" test "$(stat -c %a "$DATA/secret.key")" = 600
stop_core
cp "$DATA/secret.key" "$TMP/key.saved"
head -c 32 /dev/urandom | xxd -p -c 64 >"$DATA/secret.key"
start_core
expect "another key: the Core starts and says it cannot open the secrets" grep -q 'secrets_unreadable' "$TMP/core.err"
stop_core
cp "$TMP/key.saved" "$DATA/secret.key"
chmod 644 "$DATA/secret.key"
"$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$DATA" "${STORE[@]}" >/dev/null 2>"$TMP/open.err"
expect "a key file others may read: the Core refuses to start" grep -q 'readable by others' "$TMP/open.err"
chmod 600 "$DATA/secret.key"
expect "no sanitizer report from the Core and the Worker" \
    bash -c "! grep -q 'Sanitizer\|runtime error' '$TMP'/core.err '$TMP'/worker.err"
finish
