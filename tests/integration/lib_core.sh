# Shared by the integration tests that drive one Core and one Worker: a temporary directory
# (kept with KEEP_TMP=1), the store (SQLite, or FUNLESS_TEST_DB inside with_postgres.sh), and
# starting and stopping the processes. Source it after tests/multihost/lib.sh, with FUNLESS set
# and NAME the test's name.
TMP=$(mktemp -d "/tmp/funless-test-$NAME-XXXXXX")
RUN=
DATA=$TMP/data
STORE=()
[ -n "${FUNLESS_TEST_DB:-}" ] && STORE=(--db "$FUNLESS_TEST_DB")
core= worker=
cleanup() {
    [ -n "$core" ] && kill "$core" 2>/dev/null
    [ -n "$worker" ] && kill "$worker" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
[ -n "${KEEP_TMP:-}" ] && trap - EXIT

start_worker() { # the Worker w1; its port in WORKER_PORT
    rm -f "$TMP/worker.out" # else the wait below may read the previous process's line
    "$FUNLESS" worker --name w1 --listen 127.0.0.1:0 --cache-dir "$TMP/cache" --metrics off \
        --announce off >"$TMP/worker.out" 2>"$TMP/worker.err" &
    worker=$!
    wait_until 10 grep -qs listening "$TMP/worker.out" || bad "the Worker did not start"
    WORKER_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$TMP/worker.out" | grep -o '[0-9]*$')
}
start_core() { # [options]: a Core dialling w1; its URL in API
    rm -f "$TMP/core.out" # else the wait below may read the previous process's line
    "$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$DATA" "${STORE[@]}" \
        --workers "127.0.0.1:$WORKER_PORT" "$@" >"$TMP/core.out" 2>>"$TMP/core.err" &
    core=$!
    wait_until 10 grep -qs listening "$TMP/core.out" || bad "the Core did not start"
    API=http://127.0.0.1:$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$TMP/core.out" | grep -o '[0-9]*$')
}
stop_core() { kill "$core"; wait "$core" 2>/dev/null; core=; }
