#!/usr/bin/env bash
# `funless run` as a function author uses it: results, exit codes, stdin input,
# --json, refused modules, and the compiled-code cache across runs.
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
CACHE=$(mktemp -d /tmp/funless-test-run-XXXXXX)
trap 'rm -rf "$CACHE"' EXIT
passed=0 failed=0

check() { # NAME EXPECTED_RC EXPECTED_STDOUT_SUBSTRING -- COMMAND...
    local name=$1 want_rc=$2 want_out=$3
    shift 4
    local out rc
    out=$("$@" 2>/tmp/funless-test-run-stderr) && rc=0 || rc=$?
    if [ "$rc" = "$want_rc" ] && [[ "$out$(cat /tmp/funless-test-run-stderr)" == *"$want_out"* ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: rc=$rc (want $want_rc) out=$out err=$(head -c 300 /tmp/funless-test-run-stderr)"
    fi
}

run() { "$FUNLESS" run --cache-dir "$CACHE" "$@"; }

check hello 0 '{"payload":"Hello Ada!"}' -- run "$FX/c_hello.wasm" --input '{"name":"Ada"}'
check hello_stdin 0 '{"payload":"Hello Bo!"}' -- bash -c "echo '{\"name\":\"Bo\"}' | $FUNLESS run --cache-dir $CACHE $FX/c_hello.wasm --input -"
check function_error 1 'Error: missing field `name`' -- run "$FX/c_hello.wasm" --input '{}'
check trap 2 'out of bounds memory access' -- run "$FX/wat_oob.wasm"
check bad_output 2 'exceeds 1048576 bytes' -- run "$FX/c_huge_output.wasm"
check timeout 3 'time limit of 200 ms' -- run "$FX/wat_loop.wasm" --timeout-ms 200
check refused_text 4 'not a WebAssembly module' -- run /etc/hostname
check refused_import 4 'launch_missiles' -- run "$FX/wat_unknown_import.wasm"
check refused_memory 4 'exceeds the limit of 64 MiB' -- run "$FX/wat_big_memory.wasm"
check bigger_memory_ok 2 'without setting a response' -- run "$FX/wat_big_memory.wasm" --memory-mb 200
check bad_input_json 64 'not valid JSON' -- run "$FX/c_hello.wasm" --input '{oops'
check missing_file 64 'cannot read' -- run /nonexistent.wasm
check usage 64 'usage: funless run' -- "$FUNLESS" run
check help 0 'exit codes' -- "$FUNLESS" run --help
check json_ok 0 '"status":"ok","result":{"echo":{"x":1}}' -- run "$FX/c_echo_v0.wasm" --input '{"x":1}' --json
check json_error 1 '"kind":"function_error"' -- run "$FX/c_error.wasm" --json
check memory_flag 0 '{"pages":32}' -- run "$FX/wat_grow.wasm" --memory-mb 2

# The first run above waited for tier 1: a second run of the same module compiles nothing.
before=$(find "$CACHE" -type f | sort | xargs -r stat -c '%n %Y' | md5sum)
check cached_tier1 0 '"tier":1' -- run "$FX/c_hello.wasm" --input '{"name":"C"}' --json
after=$(find "$CACHE" -type f | sort | xargs -r stat -c '%n %Y' | md5sum)
if [ "$before" = "$after" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL cache changed on a cached run"; fi

# Names that carry C source (tests/fixtures/hostile_names.py): the function runs, at tier 0 and
# then from its tier-1 artifact, and the C never runs (it would create $FX/injected-KIND).
for kind in export custom name all; do
    rm -f "$FX/injected-$kind"
    check "hostile_$kind" 0 '"result":{"ok":true}' -- run "$FX/hostile_$kind.wasm" --json
    check "hostile_${kind}_tier1" 0 '"tier":1' -- run "$FX/hostile_$kind.wasm" --json
    if [ -e "$FX/injected-$kind" ]; then
        failed=$((failed + 1)); echo "FAIL the C in the $kind names ran"
    else
        passed=$((passed + 1))
    fi
done
check hostile_import 4 'unknown import' -- run "$FX/hostile_import_module.wasm"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
