#!/usr/bin/env bash
# `funless import-funless` against a FunLess installation's databases, made here on a real
# PostgreSQL with FunLess's schema (its Ecto migrations, main branch) and rows: its main
# database (modules, functions with code, function_metadata, app_scripts) and its subjects
# database (subjects, admins). After the import, FunLess's tokens work, code hashes are the
# code's, functions run, metadata and scripts came along, a broken function was refused; a
# second import changes nothing. Into PostgreSQL (our store beside it), then into SQLite.
#
# usage: with_postgres.sh test_import_funless.sh FUNLESS_BINARY   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=import-funless
. "$HERE/lib_core.sh"
[ -n "${FUNLESS_TEST_DB:-}" ] || { echo "run it inside with_postgres.sh"; exit 1; }
SERVER=${FUNLESS_TEST_DB%/*}
SOURCE=$SERVER/fl_src
psql -q "$FUNLESS_TEST_DB" -c 'CREATE DATABASE fl_src' -c 'CREATE DATABASE subjects' >/dev/null

# FunLess's schema, as its Ecto migrations leave it (ids bigserial, strings varchar(255))
psql -q -v ON_ERROR_STOP=1 "$SOURCE" >/dev/null <<'EOF'
CREATE TABLE modules (id bigserial PRIMARY KEY, name varchar(255),
  inserted_at timestamp(0) NOT NULL, updated_at timestamp(0) NOT NULL);
CREATE UNIQUE INDEX modules_name_index ON modules (name);
CREATE TABLE functions (id bigserial PRIMARY KEY, name varchar(255), code bytea,
  module_id bigint NOT NULL REFERENCES modules(id), inserted_at timestamp(0) NOT NULL,
  updated_at timestamp(0) NOT NULL, hash bytea);
CREATE INDEX functions_module_id_index ON functions (module_id);
CREATE UNIQUE INDEX function_module_index ON functions (module_id, name);
CREATE TABLE app_scripts (id bigserial PRIMARY KEY, name varchar(255),
  inserted_at timestamp(0) NOT NULL, updated_at timestamp(0) NOT NULL, script jsonb);
CREATE UNIQUE INDEX app_scripts_name_index ON app_scripts (name);
CREATE TABLE function_metadata (id bigserial PRIMARY KEY, tag varchar(255), capacity integer,
  function_id bigint NOT NULL REFERENCES functions(id), inserted_at timestamp(0) NOT NULL,
  updated_at timestamp(0) NOT NULL);
CREATE UNIQUE INDEX function_metadata_function_id_index ON function_metadata (function_id);
EOF
psql -q -v ON_ERROR_STOP=1 "$SERVER/subjects" >/dev/null <<'EOF'
CREATE TABLE subjects (id bigserial PRIMARY KEY, name varchar(255), token varchar(255),
  inserted_at timestamp(0) NOT NULL, updated_at timestamp(0) NOT NULL);
CREATE UNIQUE INDEX subjects_name_index ON subjects (name);
CREATE TABLE admins (id bigserial PRIMARY KEY, name varchar(255), token varchar(255),
  inserted_at timestamp(0) NOT NULL, updated_at timestamp(0) NOT NULL);
CREATE UNIQUE INDEX admins_name_index ON admins (name);
EOF
# FunLess's rows: Phoenix-signed tokens look like these
T_GUEST="SFMyNTY.g2gDdAAAAAF3BHVzZXJtAAAABWd1ZXN0bgYAuYyZno0BYgABUYA.guest$RANDOM"
T_ALICE="SFMyNTY.g2gDdAAAAAF3BHVzZXJtAAAABWFsaWNlbgYAuYyZno0BYgABUYA.alice$RANDOM"
T_ADMIN="SFMyNTY.g2gDdAAAAAF3BHVzZXJtAAAABWFkbWlubgYAuYyZno0BYgABUYA.admin$RANDOM"
HELLO_HEX=$(xxd -p "$FX/c_hello.wasm" | tr -d '\n')
psql -q -v ON_ERROR_STOP=1 "$SOURCE" >/dev/null <<EOF
INSERT INTO modules (name, inserted_at, updated_at) VALUES ('_', now(), now()), ('fm', now(), now()),
  (E'bad\nname\x1b[2J', now(), now());
INSERT INTO functions (name, code, module_id, inserted_at, updated_at) VALUES
  ('hello', decode('$HELLO_HEX', 'hex'), 1, now(), now()),
  ('hello2', decode('$HELLO_HEX', 'hex'), 2, now(), now()),
  ('broken', 'not wasm at all', 2, now(), now());
INSERT INTO function_metadata (tag, capacity, function_id, inserted_at, updated_at) VALUES
  ('t1', 32, 2, now(), now());
INSERT INTO app_scripts (name, script, inserted_at, updated_at) VALUES ('s_main',
  '{"tags":{"t1":{"blocks":[{"workers":["w1"],"strategy":"best-first","invalidate":{"capacity_used":50,"max_concurrent_invocations":"infinity"},"affinity":{"affinity":["a"],"antiaffinity":["b"]}}],"followup":"default"},"default":{"blocks":[{"workers":"*","strategy":"platform","invalidate":{"capacity_used":"infinity","max_concurrent_invocations":"infinity"},"affinity":{"affinity":[],"antiaffinity":[]}}],"followup":"fail"}}}',
  now(), now());
EOF
psql -q -v ON_ERROR_STOP=1 "$SERVER/subjects" >/dev/null <<EOF
INSERT INTO subjects (name, token, inserted_at, updated_at) VALUES
  ('guest', '$T_GUEST', now(), now()), ('alice', '$T_ALICE', now(), now());
INSERT INTO admins (name, token, inserted_at, updated_at) VALUES ('admin', '$T_ADMIN', now(), now());
EOF

as() { # TOKEN METHOD PATH [curl args]: the status, a space, the body
    local token=$1 method=$2 path=$3
    shift 3
    curl -s -X "$method" -H "Authorization: Bearer $token" -o "$TMP/as.body" -w '%{http_code}' "$@" "$API$path"
    printf ' '
    cat "$TMP/as.body"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
import_into() { "$FUNLESS" import-funless "$SOURCE" "$@" >"$TMP/report" 2>"$TMP/report.err"; }
report_says() { grep -q "^$1" "$TMP/report"; }

# ---- into PostgreSQL ----
import_into "${STORE[@]}" --data-dir "$DATA"
expect "the import succeeds (rc $?)" test $? = 0
expect "modules: 2 added" report_says "modules: 2 added, 0 already there"
expect "functions: 2 added, the broken one refused" report_says "functions: 2 added, 0 updated, 0 already there, 1 refused"
expect "... saying why" grep -q 'function "fm/broken" skipped' "$TMP/report.err"
expect "a module name FunLess would refuse is skipped, escaped (no raw control byte)" \
    bash -c "grep -q 'module \"bad\\\\x0aname\\\\x1b\[2J\" skipped' '$TMP/report.err' && ! grep -q \$'\\x1b' '$TMP/report.err'"
expect "APP scripts: 1 added" report_says "APP scripts: 1 added"
expect "subjects: 3 added" report_says "subjects: 3 added, 0 updated"
mkdir -p "$DATA"
printf 'Admin=%s\nGuest=%s\n' "$T_ADMIN" "$T_GUEST" >"$DATA/tokens" # for lib.sh's api()
start_worker
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"
expect "alice's FunLess token works" test "$(as "$T_ALICE" GET /v1/fn | cut -d' ' -f1)" = 200
expect "... and sees FunLess's modules (shared)" test "$(as "$T_ALICE" GET /v1/fn | cut -d' ' -f2- | json '",".join(sorted(m["name"] for m in d["data"]))')" = "_,fm"
expect "the FunLess admin's token is an admin's" test "$(as "$T_ADMIN" GET /v1/admin/subjects | cut -d' ' -f1)" = 200
expect "a FunLess subject's is not" test "$(as "$T_GUEST" GET /v1/admin/subjects | cut -d' ' -f1)" = 403
sha=$(python3 -c "import hashlib,sys; print(hashlib.sha3_256(open(sys.argv[1],'rb').read()).hexdigest())" "$FX/c_hello.wasm")
expect "the code hash is the code's SHA3-256" test "$(as "$T_ALICE" GET /v1/fn/_/hello | cut -d' ' -f2- | json 'd["data"]["hash"]')" = "$sha"
expect "an imported function runs" test "$(as "$T_ALICE" POST /v1/fn/_/hello -d '{"args":{"name":"Imported"}}' | cut -d' ' -f2-)" = '{"data":{"payload":"Hello Imported!"}}'
expect "its function_metadata came along" test "$(as "$T_ALICE" GET /v1/fn/fm/hello2 | cut -d' ' -f2- | json 'd["data"]["metadata"]["tag"], d["data"]["metadata"]["capacity"]')" = "t1 32"
expect "the broken function is not there" test "$(as "$T_ALICE" GET /v1/fn/fm/broken | cut -d' ' -f1)" = 404
expect "the APP script came along, the same" test "$(as "$T_ALICE" GET /v1/scripts/app/s_main | cut -d' ' -f2- | json 'd["data"]["script"]["tags"]["t1"]["blocks"][0]["invalidate"]["capacity_used"], d["data"]["script"]["tags"]["t1"]["blocks"][0]["affinity"], d["data"]["script"]["tags"]["t1"]["followup"]')" = "50 {'affinity': ['a'], 'antiaffinity': ['b']} default"
stop_core
dump() { pg_dump "$FUNLESS_TEST_DB" --data-only --exclude-table=activations | grep -v '^\\\(un\)\?restrict'; }
dump >"$TMP/before.sql"
import_into "${STORE[@]}" --data-dir "$DATA"
expect "a second import succeeds" test $? = 0
expect "... and changes nothing: modules" report_says "modules: 0 added, 2 already there"
expect "... functions" report_says "functions: 0 added, 0 updated, 2 already there, 1 refused"
expect "... APP scripts" report_says "APP scripts: 0 added, 1 already there"
expect "... subjects" report_says "subjects: 0 added, 0 updated (their FunLess token now), 3 already there"
dump >"$TMP/after.sql"
expect "... not a row ($(diff "$TMP/before.sql" "$TMP/after.sql" | head -5 | tr "\n" " "))" cmp -s "$TMP/before.sql" "$TMP/after.sql"

# ---- into SQLite ----
DATA=$TMP/sqlite-data
STORE=()
import_into --data-dir "$DATA"
expect "into SQLite too" report_says "functions: 2 added, 0 updated, 0 already there, 1 refused"
printf 'Admin=%s\nGuest=%s\n' "$T_ADMIN" "$T_GUEST" >"$DATA/tokens"
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join the SQLite Core"
expect "... where alice's token runs a function" test "$(as "$T_ALICE" POST /v1/fn/fm/hello2 -d '{"args":{"name":"Lite"}}' | cut -d' ' -f2-)" = '{"data":{"payload":"Hello Lite!"}}'
stop_core
import_into --data-dir "$DATA"
expect "... and a second import changes nothing there either" report_says "subjects: 0 added, 0 updated (their FunLess token now), 3 already there"
"$FUNLESS" import-funless "$SERVER/nothing_here" --data-dir "$DATA" >/dev/null 2>"$TMP/bad.err"
expect "a source that cannot be reached: exit 70, saying so" test $? = 70
expect "... saying so" grep -q "cannot reach FunLess's database" "$TMP/bad.err"
finish
