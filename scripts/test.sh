#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a full test run:
# installs the dependencies, builds, runs every suite, then runs them all
# again under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# concurrency tests under ThreadSanitizer. Ends with one line
# "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --tests || exit 1

status=0
run_suite() { # BUILD_DIR LABEL "TESTS" [meson options...] ("": every test)
  local dir=$1 label=$2 tests=$3
  shift 3
  if ! ./scripts/build.sh "$dir" "$@"; then
    echo "== $label: build failed"
    status=1
    return
  fi
  echo "== $label"
  # shellcheck disable=SC2086 # the test names are words
  meson test -C "$dir" --print-errorlogs --num-processes 2 $tests || status=1
}

run_suite build "tests" ""
run_suite build-asan "tests under ASan+UBSan" "" -Db_sanitize=address,undefined \
  -Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all -Dbuildtype=debug
# the concurrency tests: the event loop and the links (common, proto), the invocation state
# machine against fake Workers (calls), and real Core and Worker processes built with TSan
# (cluster, core_api_sqlite, lifecycle; triggers_sqlite, mqtt and sinks: the API's threads, the
# loop's timer, the MQTT clients' and the sinks' threads, the queue and the records' writer;
# tenants_sqlite: tokens, quotas and environments changed by the API's threads while the loop
# invokes); a race stops the process that has it (halt_on_error)
FL_UNDER_TSAN=1 TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" run_suite build-tsan \
  "concurrency tests under ThreadSanitizer" "common proto calls cluster core_api_sqlite lifecycle triggers_sqlite mqtt sinks tenants_sqlite" \
  -Db_sanitize=thread -Dbuildtype=debug

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-tsan/meson-logs/testlog.json || status=1
exit $status
