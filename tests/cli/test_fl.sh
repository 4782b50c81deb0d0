#!/usr/bin/env bash
# `fl` against a real `funless dev`: every command, success and error paths
# (wrong token, missing module, bad file, server down), `-o json` read back,
# exit codes asserted. Then the README's tutorial, executed step by step.
#
# usage: test_fl.sh BUILD_DIR SOURCE_DIR   (env: FIXTURES_DIR, FL_HAVE_RUST)
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
FX=${FIXTURES_DIR:?}
TMP=$(mktemp -d /tmp/funless-test-fl-XXXXXX)
export HOME=$TMP/home PATH="$BUILD:$PATH"
unset FL_API_HOST FL_API_TOKEN FL_ADMIN_TOKEN FUNLESS_LISTEN
mkdir -p "$HOME"
cd "$TMP"
passed=0 failed=0
stop_dev() { [ -f "$1/dev.pid" ] && kill "$(cat "$1/dev.pid")" 2>/dev/null; }
trap 'stop_dev "$TMP/data"; stop_dev "$TMP/ftdata"; stop_dev "$TMP/home/fl-tutorial/funless-data"; rm -rf "$TMP"' EXIT

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

check() { # NAME EXPECTED_RC EXPECTED_OUTPUT_SUBSTRING -- COMMAND...
    local name=$1 want_rc=$2 want_out=$3
    shift 4
    local out rc
    out=$("$@" 2>"$TMP/stderr") && rc=0 || rc=$?
    LAST="$out"
    if [ "$rc" = "$want_rc" ] && [[ "$out$(cat "$TMP/stderr")" == *"$want_out"* ]]; then
        ok
    else
        bad "$name: rc=$rc (want $want_rc) out=$(head -c 300 <<<"$out") err=$(head -c 300 "$TMP/stderr")"
    fi
}

json_field() { # JSON_TEXT PYTHON_EXPR_ON_d -> prints the value (fails when not JSON)
    python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"
}

check_json() { # NAME PYTHON_EXPR EXPECTED -- (reads $LAST)
    local got
    got=$(json_field "$LAST" "$2" 2>&1)
    if [ "$got" = "$3" ]; then ok; else bad "$1: got '$got' want '$3' from $(head -c 200 <<<"$LAST")"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

# ---- without a Core ----
check version 0 "fl 0.1.0" -- fl version
check help 0 "exit codes" -- fl --help
check usage_empty 2 "usage: fl" -- fl
check usage_group 2 "fl fn takes" -- fl fn bogus
check usage_missing 2 "missing arguments" -- fl fn get
check usage_flag 2 "does not apply to fn list" -- fl fn list --tag x
check usage_output 2 "-o takes table or json" -- fl -o yaml fn list
check network_down 6 "cannot reach the Core" -- fl --api-host "http://127.0.0.1:$PORT" fn list
check cfg_unset 3 "api_token is not set" -- fl cfg get api_token
check cfg_unknown 2 "unknown setting" -- fl cfg set colour blue

# ---- funless dev writes fl's settings ----
check dev_start 0 "fl is set up to use it" -- funless dev --detach --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" --cache-dir "$TMP/cache"
check cfg_written 0 "http://127.0.0.1:$PORT" -- fl cfg get api_host
check cfg_mode 0 "600" -- stat -c %a "$HOME/.fl/config"
GUEST=$(grep Guest "$TMP/data/tokens" | cut -d= -f2)
check cfg_token 0 "$GUEST" -- fl cfg get api_token

# ---- building ----
check new_c 0 "wrote hello/hello.c" -- fl fn new hello -l c
check new_again 4 "File exists" -- fl fn new hello -l c
check new_bad_name 2 "a function name is" -- fl fn new ../evil -l c
check new_no_lang 2 "-l c or -l rust" -- fl fn new other
check build_c 0 "built hello.wasm" -- fl fn build hello hello -o hello.wasm
check build_magic 0 "00 61 73 6d" -- bash -c "head -c 4 hello.wasm | od -An -tx1"
# a folder and an output whose names a shell would run: fl runs no shell
evil='x;touch pwned-a;$(touch pwned-b)`touch pwned-c`'
mkdir -p "$evil" && cp hello/hello.c "$evil/hello.c"
check build_shell_chars 0 "built" -- fl fn build hello "$evil" -o "$evil.wasm"
if ls pwned-* >/dev/null 2>&1 || [ ! -s "$evil.wasm" ]; then bad "build_shell_chars ran a shell"; else ok; fi
mkdir -p broken && printf 'int oops(void) { return undefined_thing; }\n' >broken/broken.c
check build_error 9 "undefined_thing" -- fl fn build broken broken
check build_lang 2 "-l takes c or rust" -- fl fn build hello hello -l cobol
if [ "${FL_HAVE_RUST:-0}" = 1 ]; then
    check new_rust 0 "wrote hi_rs/hi_rs.rs" -- fl fn new hi_rs -l rust
    check create_rust 0 "function _/hi_rs uploaded" -- fl fn create hi_rs hi_rs
    check invoke_rust 0 '{"payload":"Hello Rusty!"}' -- fl fn invoke hi_rs -a name=Rusty
fi

# ---- functions ----
check create 0 "function _/hello uploaded" -- fl fn create hello hello
check create_conflict 4 "already exists" -- fl fn create hello hello
check invoke_arg 0 '{"payload":"Hello Ada!"}' -- fl fn invoke hello -a name=Ada
check invoke_json 0 '{"payload":"Hello Bo!"}' -- fl fn invoke hello -j '{"name":"Bo"}'
echo '{"name":"File"}' >input.json
check invoke_file 0 '{"payload":"Hello File!"}' -- fl fn invoke hello -j @input.json
check invoke_stdin 0 '{"payload":"Hello In!"}' -- bash -c "echo '{\"name\":\"In\"}' | fl fn invoke hello -j -"
check invoke_override 0 '{"payload":"Hello Cy!"}' -- fl fn invoke hello -j '{"name":"Bo"}' -a name=Cy
check invoke_fn_error 1 "Error: missing field" -- fl fn invoke hello -j '{}'
check invoke_bad_json 2 "not valid JSON" -- fl fn invoke hello -j '{oops'
check invoke_bad_pair 2 "KEY=VALUE" -- fl fn invoke hello -a name

# ---- activations: asynchronous calls, records and logs ----
check invoke_async 0 "" -- fl fn invoke hello -a name=Later --async
AID=$LAST
if [[ "$AID" =~ ^[0-9a-f]{32}$ ]]; then ok; else bad "invoke_async: not an id: '$AID'"; fi
for _ in $(seq 50); do fl activation get "$AID" -o json 2>/dev/null | grep -q '"status":"success"' && break; sleep 0.1; done
check activation_get 0 "success" -- fl activation get "$AID"
check activation_get_json 0 "" -- fl activation get "$AID" -o json
check_json activation_result 'd["result"]["payload"]' "Hello Later!"
check activation_list 0 "$AID" -- fl activation list -f hello --limit 3
check activation_list_status 0 "" -- fl activation list --status error -o json
check_json activation_list_errors 'all(r["status"] == "error" for r in d) and len(d) >= 1' "True"
check activation_logs_none 0 "" -- fl activation logs "$AID"
check activation_unknown 3 "not found" -- fl activation get 0123456789abcdef0123456789abcdef
check activation_bad_limit 8 "limit must be" -- fl activation list --limit 0
check activation_usage 2 "fl activation takes" -- fl activation bogus
check fn_logs 0 "== " -- fl fn logs hello -n 2
# --follow: the newest call, then only the calls that come after it (not the older ones -n 1
# left out)
for i in 1 2 3; do fl fn invoke hello -a name=old$i >/dev/null; done
fl fn logs hello -n 1 --follow >"$TMP/follow.out" 2>&1 &
FOLLOW=$!
sleep 1.5
F1=$(fl fn invoke hello -a name=new1 --async) F2=$(fl fn invoke hello -a name=new2 --async)
for _ in $(seq 40); do [ "$(grep -c '^== ' "$TMP/follow.out")" -ge 3 ] && break; sleep 0.1; done
sleep 1.2 # one more poll: nothing else may come
kill "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null
follow_ids=$(grep '^== ' "$TMP/follow.out" | cut -d' ' -f2 | tr '\n' ' ')
if [ "$(grep -c '^== ' "$TMP/follow.out")" = 3 ] && [[ "$follow_ids" == *"$F1"* ]] &&
    [[ "$follow_ids" == *"$F2"* ]]; then ok; else bad "fn_logs_follow: printed $follow_ids (want the newest, then $F1 and $F2)"; fi
check fn_logs_follow_bad_n 8 "limit must be" -- fl fn logs hello -n 0 --follow
check invoke_async_fn_error 0 "" -- fl fn invoke hello -j '{}' --async
EID=$LAST
for _ in $(seq 50); do fl activation get "$EID" -o json 2>/dev/null | grep -q '"status":"error"' && break; sleep 0.1; done
check activation_error 0 "missing field" -- fl activation get "$EID"
check invoke_missing 3 "function _/nope not found" -- fl fn invoke nope
echo "just some text" >notes.txt
check upload_text 2 "notes.txt is not a WebAssembly binary" -- fl fn upload notwasm notes.txt
check upload_no_file 2 "cannot read" -- fl fn upload x /nonexistent.wasm
check upload_no_module 3 "module nomod not found" -- fl fn upload hello2 hello.wasm -m nomod
check upload_meta 0 "uploaded" -- fl fn upload tiny "$FX/wat_tiny.wasm" --memory-mb 16 --timeout-ms 500 --tag light --no-wait
check get_json 0 '"name":"tiny"' -- fl fn get tiny -o json
check_json get_capacity 'd["metadata"]["capacity"], d["metadata"]["tag"], d["metadata"]["timeout_ms"]' "16 light 500"
check get_table 0 "hash " -- fl fn get tiny
check list_quiet 0 "tiny" -- fl fn list -q
check list_json 0 '"name":"hello"' -- fl fn list -o json
check_json list_parsed 'sorted({f["name"] for f in d["functions"]} & {"hello", "tiny"})' "['hello', 'tiny']"
check upload_loop 0 "uploaded" -- fl fn upload looper "$FX/wat_loop.wasm" --timeout-ms 300
check invoke_timeout 1 "time limit of 300 ms" -- fl fn invoke looper
check update 0 "function _/tiny updated" -- fl fn update tiny "$FX/wat_tiny.wasm" --memory-mb 32
check get_updated 0 '"capacity":32' -- fl fn get tiny -o json
check update_missing 3 "not found" -- fl fn update ghost "$FX/wat_tiny.wasm"
check delete 0 "function _/tiny deleted" -- fl fn delete tiny
check delete_again 3 "not found" -- fl fn delete tiny
check get_deleted 3 "not found" -- fl fn get tiny

# ---- settings: flag > environment > ~/.fl/config ----
check token_wrong 7 "missing or unknown token (set the token with fl cfg set api_token" -- env FL_API_TOKEN=wrong fl fn list
check token_flag_wins 0 "hello" -- env FL_API_TOKEN=wrong fl fn list -q --api-token "$GUEST"
check host_env_wins 6 "cannot reach" -- env FL_API_HOST="http://127.0.0.1:1" fl fn list
check host_flag_wins 0 "hello" -- env FL_API_HOST="http://127.0.0.1:1" fl --api-host "127.0.0.1:$PORT/" fn list -q

# ---- modules ----
check mod_create 0 "Successfully created module m1." -- fl mod create m1
check mod_conflict 4 "already exists" -- fl mod create m1
check mod_bad_name 8 "" -- fl mod create a-b
check mod_list 0 "m1" -- fl mod list -q
check fn_in_module 0 "function m1/hello uploaded" -- fl fn upload hello hello.wasm -m m1
check mod_get 0 "hello" -- fl mod get m1 -q
check mod_get_json 0 '"functions"' -- fl mod get m1 -o json
check mod_rename 0 "Successfully renamed module m1 to m2." -- fl mod update m1 m2
check invoke_in_module 0 "Hello Mo!" -- fl fn invoke hello -m m2 -a name=Mo
check mod_delete 0 "Successfully deleted module m2." -- fl mod delete m2
check mod_gone 3 "not found" -- fl mod get m2
check mod_default 8 "" -- fl mod delete _

# ---- APP scripts ----
printf -- '- default:\n  - workers: "*"\n    strategy: platform\n' >app.yaml
printf -- '- default:\n  - workers: [nobody]\n' >nobody.yaml
printf -- '- default:\n  - workers: "*"\n    strategy: fastest\n' >invalid.yaml
check app_upload 0 "APP script s1 uploaded" -- fl app upload s1 app.yaml
check app_conflict 4 "already exists" -- fl app upload s1 app.yaml
check app_invalid 8 "line 3: unknown strategy 'fastest'" -- fl app upload s2 invalid.yaml
check app_list 0 "s1" -- fl app list -q
check app_get 0 '"strategy":"platform"' -- fl app get s1
check app_get_json 0 '"name":"s1"' -- fl app get s1 -o json
check_json app_parsed 'd["script"]["tags"]["default"]["blocks"][0]["strategy"]' "platform"
check invoke_script 0 "Hello Sc!" -- fl fn invoke hello -a name=Sc --script s1
check invoke_no_script 3 "script ghost not found" -- fl fn invoke hello --script ghost
check app_update 0 "APP script s1 updated" -- fl app update s1 nobody.yaml
check invoke_unavailable 5 "no worker can run _/hello" -- fl fn invoke hello --script s1
check app_delete 0 "APP script s1 deleted" -- fl app delete s1
check app_gone 3 "not found" -- fl app get s1

# ---- admin ----
ADMIN=$(grep Admin "$TMP/data/tokens" | cut -d= -f2)
check user_create 0 "User alice created. Auth token:" -- fl admin user create alice
check user_create_json 0 '"token"' -- fl admin user create bob -o json
check_json user_token_len 'len(d["token"])' "48"
check user_list 0 "alice" -- fl admin user list -q
check user_not_admin 7 "(admin commands use the admin token" -- fl admin user list --admin-token "$GUEST"
check worker_list 0 "dev-worker" -- fl admin worker list
check worker_list_json 0 '"connected":true' -- fl admin worker list -o json
check worker_connect 0 "connecting to the Worker at 127.0.0.1:9" -- fl admin worker connect 127.0.0.1:9
check worker_connect_bad 8 "" -- fl admin worker connect nonsense
check admin_usage 2 "fl admin takes user or worker" -- fl admin nothing
BOB=$(json_field "$(fl admin user create carol -o json)" 'd["token"]')
check new_user_token 0 "hello" -- fl fn list -q --api-token "$BOB"

# ---- tenants: configuration, secrets, sharing, tokens, quotas ----
check tm_create 0 "Successfully created module tm." -- fl mod create tm
check tm_upload 0 "uploaded" -- fl fn upload envf "$FX/c_env_dump.wasm" -m tm
check config_set 0 "configuration of envf set" -- fl fn config set envf GREETING=hi MODE=x -m tm
check secret_set 0 "secret of envf set" -- bash -c "printf 'pw-123\n' | fl fn secret set envf S_PASS -m tm"
check secret_argv 2 "unexpected 'pw-123'" -- fl fn secret set envf S_PASS pw-123 -m tm
check config_get 0 "" -- fl fn config get envf -m tm -o json
check_json config_shown 'd["config"], d["secrets"]' "{'GREETING': 'hi', 'MODE': 'x'} ['S_PASS']"
check config_unset 0 "configuration of envf changed" -- fl fn config unset envf MODE -m tm
check config_bad_pair 2 "is not KEY=VALUE" -- fl fn config set envf NOEQUALS -m tm
check invoke_env 0 "" -- fl fn invoke envf -m tm -o json
FNV=$(python3 -c "
h = 2166136261
for c in b'pw-123': h = ((h ^ c) * 16777619) & 0xffffffff
print('fnv:%08x' % h)")
check_json invoke_env_values 'd["env"].get("GREETING"), d["env"].get("MODE"), d["env"].get("S_PASS")' "hi None $FNV"
check share_bad_right 2 "a right is read, invoke or write" -- fl mod share tm carol --rights fly
check share 0 "shared tm with carol" -- fl mod share tm carol --rights invoke
check access_list 0 "carol" -- fl mod access tm
check shared_invoke 0 "" -- fl fn invoke envf -m tm --api-token "$BOB"
check shared_no_read 7 "may not read" -- fl fn get envf -m tm --api-token "$BOB"
check unshare 0 "no longer shared: tm with carol" -- fl mod unshare tm carol
check unshared_gone 3 "not found" -- fl fn invoke envf -m tm --api-token "$BOB"
check user_get 0 "created_at" -- fl admin user get carol
check user_quota 0 "" -- fl admin user quota carol rate=5 functions=default -o json
check_json user_quota_set 'd["quota"]["rate"], d["quota_set"]' "5 {'rate': 5}"
check user_quota_bad 2 "is not KEY=NUMBER" -- fl admin user quota carol rate=fast
check user_rotate_grace 0 "new token of carol (shown only now)" -- fl admin user rotate carol --grace 60
check old_token_in_grace 0 "" -- fl fn list -q --api-token "$BOB"
check user_rotate 0 "" -- fl admin user rotate carol -o json
CAROL=$(json_field "$LAST" 'd["token"]')
check old_token_stopped 7 "unknown token" -- fl fn list -q --api-token "$BOB"
check new_token_works 0 "" -- fl fn list -q --api-token "$CAROL"
check user_delete 0 "user carol deleted" -- fl admin user delete carol
check deleted_token 7 "unknown token" -- fl fn list -q --api-token "$CAROL"
check user_delete_again 3 "no subject carol" -- fl admin user delete carol

# ---- FunLess's fl command lines: funlessdev/fl-testing's CLI scenarios, then every alias ----
# A Core of their own (the scenarios list every module), fl pointed at it with FunLess's -H.
PORT3=$(free_port)
check ft_dev 0 "" -- funless dev --detach --no-fl-config --listen "127.0.0.1:$PORT3" --data-dir "$TMP/ftdata" --cache-dir "$TMP/ftcache"
FT_TOKEN=$(grep Guest "$TMP/ftdata/tokens" | cut -d= -f2)
ft() { FL_API_TOKEN=$FT_TOKEN FL_ADMIN_TOKEN=$(grep Admin "$TMP/ftdata/tokens" | cut -d= -f2) fl "$@" -H "127.0.0.1:$PORT3"; }
fterr() { ft "$@" 2>&1 >/dev/null | tail -1; } # the last line fl writes on failure
HELLO=$BUILD/tests/c_hello.wasm
# TestOperationsSuccess
check ft_upload 0 "" -- ft fn upload hello_test "$HELLO" --namespace _
check ft_invoke 0 '{"payload":"Hello Test!"}' -- ft fn invoke hello_test --namespace _ -j '{"name":"Test"}'
[ "$LAST" = '{"payload":"Hello Test!"}' ] && ok || bad "ft_invoke: exactly the result line (got '$LAST')"
check ft_delete 0 "" -- ft fn delete hello_test --namespace _
if [ "${FL_HAVE_RUST:-0}" = 1 ]; then # FunLess's hello_rust needs crates.io (serde): our Rust hello
    check ft_create_rust 0 "" -- ft fn create built "$SRC/examples/rust" --namespace _ --language rust
    check ft_invoke_built 0 '{"payload":"Hello Build!"}' -- ft fn invoke built --namespace _ -j '{"name":"Build"}'
    check ft_delete_built 0 "" -- ft fn delete built --namespace _
    check ft_build_rust 0 "" -- ft fn build built "$SRC/examples/rust" --language rust
    [ -s built.wasm ] && ok || bad "ft_build_rust: built.wasm"
    rm -f built.wasm
fi
check ft_mod_create 0 "" -- ft mod create test_mod
[ "$LAST" = "Successfully created module test_mod." ] && ok || bad "ft_mod_create: '$LAST'"
check ft_upload_mod 0 "" -- ft fn upload hello_test "$HELLO" --namespace test_mod
check ft_invoke_mod 0 '{"payload":"Hello Test!"}' -- ft fn invoke hello_test --namespace test_mod -j '{"name":"Test"}'
check ft_upload_mod2 0 "" -- ft fn upload hello_test2 "$HELLO" --namespace test_mod
check ft_mod_get 0 "" -- ft mod get test_mod
[ "$LAST" = "$(printf 'Module: test_mod\nFunctions:\nhello_test\nhello_test2')" ] && ok || bad "ft_mod_get: '$LAST'"
check ft_mod_get_count 0 "" -- ft mod get test_mod -c
[ "$LAST" = "$(printf 'Module: test_mod\nFunctions:\nhello_test\nhello_test2\nCount: 2')" ] && ok || bad "ft_mod_get_count: '$LAST'"
check ft_mod_list 0 "" -- ft mod list
[ "$LAST" = "$(printf '_\ntest_mod')" ] && ok || bad "ft_mod_list: '$LAST'"
check ft_mod_list_count 0 "" -- ft mod list -c
[ "$LAST" = "$(printf '_\ntest_mod\nCount: 2')" ] && ok || bad "ft_mod_list_count: '$LAST'"
check ft_mod_delete 0 "" -- ft mod delete test_mod
[ "$LAST" = "Successfully deleted module test_mod." ] && ok || bad "ft_mod_delete: '$LAST'"
check ft_mod_list_after 0 "" -- ft mod list
[ "$LAST" = "_" ] && ok || bad "ft_mod_list_after: '$LAST'"
# TestOperationsFailure: the last line is FunLess's
ftlast() { # NAME WANT -- COMMAND...
    local name=$1 want=$2 got
    shift 3
    got=$("$@")
    [ "$got" = "$want" ] && ok || bad "$name: last line '$got' (want '$want')"
}
ftlast ft_invoke_before "fl: error: Not Found" -- fterr fn invoke hello_test --namespace _ -j '{"name":"Test"}'
ft fn upload hello_test "$HELLO" --namespace _ >/dev/null 2>&1
ftlast ft_invoke_wrong_ns "fl: error: Not Found" -- fterr fn invoke hello_test --namespace WRONG -j '{"name":"Test"}'
ft fn delete hello_test --namespace _ >/dev/null 2>&1
ftlast ft_invoke_deleted "fl: error: Not Found" -- fterr fn invoke hello_test --namespace _ -j '{"name":"Test"}'
ftlast ft_delete_before "fl: error: Not Found" -- fterr fn delete hello_test --namespace _
ftlast ft_upload_no_mod "fl: error: Not Found" -- fterr fn upload hello_test "$HELLO" --namespace test_mod
ft mod create test_mod >/dev/null && ft fn upload hello_test "$HELLO" --namespace test_mod >/dev/null && ft mod delete test_mod >/dev/null
ftlast ft_invoke_mod_gone "fl: error: Not Found" -- fterr fn invoke hello_test --namespace test_mod -j '{"name":"Test"}'
ftlast ft_delete_mod_gone "fl: error: Not Found" -- fterr mod delete test_mod
ft mod create test_mod >/dev/null
check ft_mod_exists 4 "fl: error: name has already been taken" -- ft mod create test_mod
check ft_mod_cleanup 0 "" -- ft mod delete test_mod
# every alias and flag of FunLess's fl v0.4
check alias_up 0 "uploaded" -- ft fn up al "$HELLO" -m _
check alias_i 0 "Hello Al!" -- ft fn i al -a name=Al
check alias_args 0 "Hello Ar!" -- ft fn invoke al --args name=Ar
check alias_args_string 0 "Hello 5!" -- ft fn i al -a name=5
check alias_host 0 "al" -- fl fn list -q --host "127.0.0.1:$PORT3" --api-token "$FT_TOKEN"
check alias_d 0 "deleted" -- ft fn d al
check alias_mod_c 0 "Successfully created module mc." -- ft mod c mc
check alias_mod_ls 0 "mc" -- ft mod ls
check alias_mod_l 0 "mc" -- ft mod l
check alias_mod_g 0 "Module: mc" -- ft mod g mc
check alias_mod_up 0 "Successfully renamed module mc to md." -- ft mod up mc md
check alias_mod_u 0 "Successfully renamed module md to me." -- ft mod u md me
check alias_mod_rm 0 "Successfully deleted module me." -- ft mod rm me
check alias_mod_d 3 "fl: error: Not Found" -- ft mod d me
check alias_admin 0 "Users:" -- ft a u l
check alias_admin_c 0 "User fu created. Auth token:" -- ft admin u c fu
check alias_cfg 0 "" -- fl c set api_host "http://127.0.0.1:$PORT"
check alias_config_get 0 "http://127.0.0.1:$PORT" -- fl config g api_host
check alias_version 0 "fl " -- fl -v
check alias_b 0 "built" -- ft fn b hb "$SRC/examples/c" -l c -d "$TMP"
[ -s "$TMP/hb.wasm" ] && ok || bad "alias_b: -d DIR holds hb.wasm"
check alias_n 0 "wrote" -- ft fn n nn -l c -o "$TMP" -t "$TMP"
[ -s "$TMP/nn/nn.c" ] && ok || bad "alias_n: -o DIR holds nn/nn.c"
check alias_c 0 "" -- ft fn c cc "$TMP/nn" -l c --namespace _
check alias_invoke_cc 0 "Hello Cc!" -- ft fn i cc -a name=Cc --namespace _
check template_list 0 "rust" -- fl template list
check template_pull 0 "fl carries its templates" -- fl template pull
check admin_deploy 2 "deploy/ holds" -- fl admin deploy docker up
check admin_deploy_alias 2 "deploy/ holds" -- fl a d docker up
# FunLess's config file: "key = value"
cp "$HOME/.fl/config" "$TMP/config.saved"
printf 'api_host = http://127.0.0.1:%s\napi_token = %s\n' "$PORT3" "$FT_TOKEN" >"$HOME/.fl/config"
check config_spaces 0 "cc" -- fl fn list -q
cp "$TMP/config.saved" "$HOME/.fl/config"
stop_dev "$TMP/ftdata"

# ---- the Core goes away ----
stop_dev "$TMP/data"
for _ in $(seq 50); do fl fn list >/dev/null 2>&1 || break; sleep 0.1; done
check server_down 6 "cannot reach the Core" -- fl fn list

# ---- the README's tutorial, step by step (it must not rot) ----
TUTORIAL=$TMP/tutorial.sh
awk '/<!-- tutorial:begin -->/{on=1; next} /<!-- tutorial:end -->/{on=0} on && !/^```/' "$SRC/README.md" >"$TUTORIAL"
if [ "$(grep -c . "$TUTORIAL")" -lt 4 ]; then
    bad "tutorial: not found in README.md"
else
    PORT2=$(free_port)
    out=$(cd "$SRC" && FUNLESS_LISTEN="127.0.0.1:$PORT2" PATH="$BUILD:/usr/bin:/bin" bash -euxo pipefail "$TUTORIAL" 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 0 ] && [[ "$out" == *'{"payload":"Hello Ada!"}'* ]]; then ok; else bad "tutorial: rc=$rc $(tail -c 1500 <<<"$out")"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
