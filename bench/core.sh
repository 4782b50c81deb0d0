#!/usr/bin/env bash
# Core benchmarks (see bench/README.md): GET /v1/fn/{module}/{function} with wrk
# against a minimal static reply from the same HTTP library, in the same run;
# and the idle RSS of `funless core` with SQLite.
set -euo pipefail
dir=${1:-build}
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
data=$(mktemp -d /tmp/funless-bench-core-XXXXXX)
"$dir/funless" core --listen 127.0.0.1:0 --data-dir "$data" >"$data/out" 2>"$data/err" &
core=$!
static_port=$(free_port)
"$dir/bench/static_server" "$static_port" &
static=$!
trap 'kill $core $static 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do grep -q listening "$data/out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$data/out" | grep -o '[0-9]*$')
token=$(grep Guest "$data/tokens" | cut -d= -f2)
sleep 1
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$core/status)
curl -sf -H "Authorization: Bearer $token" -F name=hello -F code=@"$dir/tests/c_hello.wasm" \
  "http://127.0.0.1:$port/v1/fn/_" >/dev/null
rps() { # URL [wrk args]: requests per second
  wrk -t1 -c16 -d5s "$@" | awk '/Requests\/sec/ {print $2}'
}
core_rps=$(rps -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/fn/_/hello")
static_rps=$(rps "http://127.0.0.1:$static_port/v1/fn/_/hello")
core_rps2=$(rps -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/fn/_/hello")
static_rps2=$(rps "http://127.0.0.1:$static_port/v1/fn/_/hello")
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "GET /v1/fn/_/hello, wrk -t1 -c16 -d5s, alternating twice:"
echo "  core ${core_rps} and ${core_rps2} req/s; static reply (same library, epoll pool) ${static_rps} and ${static_rps2} req/s"
python3 -c "print('  ratio core/static = %.2f (target >= 0.7)' % ((${core_rps}+${core_rps2})/(${static_rps}+${static_rps2})))"
echo "idle RSS of funless core (SQLite): $((rss_kb / 1024)).$(( (rss_kb % 1024) * 10 / 1024 )) MB (target <= 10 MB)"
