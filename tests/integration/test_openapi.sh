#!/usr/bin/env bash
# docs/openapi.yaml against real replies: a Core and a Worker, then every route of the document
# called (successes and errors) and each reply checked by tests/integration/openapi_check.py
# (Debian's python3-jsonschema and python3-yaml: /usr/bin/python3) against the status and schema
# the document gives.
#
# usage: test_openapi.sh FUNLESS_BINARY SOURCE_DIR   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
SRC=$2
FX=${FIXTURES_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../multihost/lib.sh"
NAME=openapi
. "$HERE/lib_core.sh"
start_worker
start_core
wait_until 10 workers_are w1 || bad "the Worker did not join"
/usr/bin/python3 "$HERE/openapi_check.py" "$API" "$(grep Admin "$DATA/tokens" | cut -d= -f2)" \
    "$(grep Guest "$DATA/tokens" | cut -d= -f2)" "$SRC/docs/openapi.yaml" "$FX"
rc=$?
stop_core
[ "$rc" = 0 ]
