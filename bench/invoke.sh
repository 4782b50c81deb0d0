#!/usr/bin/env bash
# Invocation benchmarks (see bench/README.md), Core and Worker as separate processes:
# warm invoke of hello through HTTP with wrk vs the static reply of bench/static_server
# in the same run; latency at 1 connection; POST of an unseen 1 MB module to its first
# successful invocation; idle RSS of Core + Worker.
set -euo pipefail
dir=${1:-build}
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d /tmp/funless-bench-invoke-XXXXXX)
"$dir/funless" worker --name bench --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --cache-dir "$tmp/cache" >"$tmp/worker.out" 2>"$tmp/worker.err" &
worker=$!
for _ in $(seq 50); do grep -q listening "$tmp/worker.out" 2>/dev/null && break; sleep 0.1; done
wport=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/worker.out" | grep -o '[0-9]*$')
mport=$(grep -o 'metrics on port [0-9]*' "$tmp/worker.out" | grep -o '[0-9]*$')
# Waits (at most 120 s) until the Worker has built N modules' tier 1: a compile still running
# (gcc takes 17 s on the 1 MB module) would share the cores with the next figures
tier1_built() { # N
    for _ in $(seq 1200); do
        n=$(curl -s "http://127.0.0.1:$mport/metrics" | awk -F' ' '/^funless_worker_compile_seconds_count\{tier="1"\}/ {print $2}')
        [ "${n:-0}" -ge "$1" ] && return 0
        sleep 0.1
    done
    echo "(tier 1 of $1 modules not built within 120 s)"
}
"$dir/funless" core --listen 127.0.0.1:0 --data-dir "$tmp/core" --workers "127.0.0.1:$wport" >"$tmp/core.out" 2>"$tmp/core.err" &
core=$!
static_port=$(free_port)
"$dir/bench/static_server" "$static_port" &
static=$!
# the Worker's background compiler (tier 1 of the 1 MB module) outlives it: stop it too. `|| true`:
# a wait for a process the trap stopped fails (143), and set -e would make that the exit status
trap 'kill $core $worker $static 2>/dev/null; wait $core $worker $static 2>/dev/null || true; pkill -9 -f "$tmp" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do grep -q listening "$tmp/core.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/core.out" | grep -o '[0-9]*$')
api=http://127.0.0.1:$port
token=$(grep Guest "$tmp/core/tokens" | cut -d= -f2)
for _ in $(seq 50); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.1; done
sleep 1
rss_kb=$(( $(awk '/VmRSS/ {print $2}' /proc/$core/status) + $(awk '/VmRSS/ {print $2}' /proc/$worker/status) ))
auth="Authorization: Bearer $token"
curl -sf -H "$auth" -F name=hello -F code=@"$dir/tests/c_hello.wasm" -F wait_for_workers=true "$api/v1/fn/_" >/dev/null
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"args":{"name":"bench"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
curl -sf -H "$auth" -d '{"args":{"name":"warm"}}' "$api/v1/fn/_/hello" >/dev/null
sleep 2 # tier 1 is built in the background: measure warm code
rps() { wrk -t1 -c16 -d5s "$@" | awk '/Requests\/sec/ {print $2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime
# the first run also measures the CPU each process spends per invocation
core_t0=$(cpu_ticks $core) worker_t0=$(cpu_ticks $worker)
first=$(wrk -t1 -c16 -d5s -s "$tmp/post.lua" "$api/v1/fn/_/hello")
core_t1=$(cpu_ticks $core) worker_t1=$(cpu_ticks $worker)
inv1=$(echo "$first" | awk '/Requests\/sec/ {print $2}')
calls=$(echo "$first" | awk '/requests in/ {print $1}')
hz=$(getconf CLK_TCK)
st1=$(rps "http://127.0.0.1:$static_port/")
inv2=$(rps -s "$tmp/post.lua" "$api/v1/fn/_/hello")
st2=$(rps "http://127.0.0.1:$static_port/")
lat=$(wrk -t1 -c1 -d5s --latency -s "$tmp/post.lua" "$api/v1/fn/_/hello")
p50=$(echo "$lat" | awk '$1 == "50%" {print $2}')
p99=$(echo "$lat" | awk '$1 == "99%" {print $2}')
# cold path: an unseen 1 MB module, from POST to its first successful invocation
t0=$(date +%s%N)
curl -sf -H "$auth" -F name=big -F code=@"$dir/bench/big.wasm" "$api/v1/fn/_" >/dev/null
curl -sf -H "$auth" -d '{}' "$api/v1/fn/_/big" >/dev/null
cold_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "warm invoke of hello through HTTP (Core + Worker processes), wrk -t1 -c16 -d5s, alternating twice:"
echo "  invoke ${inv1} and ${inv2} req/s; static C reply (libmicrohttpd) ${st1} and ${st2} req/s"
python3 -c "print('  ratio invoke/static = %.2f (target >= 0.45)' % ((${inv1}+${inv2})/(${st1}+${st2})))"
echo "  latency at 1 connection: p50 ${p50}, p99 ${p99} (targets: p50 <= 90us, p99 <= 250us)"
python3 -c "print('  CPU per invocation: Core %.1f us, Worker %.1f us (target: Worker <= 7.5 us, half of 15)' % ((${core_t1}-${core_t0})*1e6/${hz}/${calls}, (${worker_t1}-${worker_t0})*1e6/${hz}/${calls}))"
echo "cold path, unseen $(stat -c %s "$dir/bench/big.wasm") byte module: POST to first successful invoke ${cold_ms} ms (target <= 500 ms)"
echo "idle RSS of Core + Worker: $((rss_kb / 1024)).$(( (rss_kb % 1024) * 10 / 1024 )) MB (target <= 24 MB)"
# a real function's memory: the Rust hello (17 pages, 1.06 MiB) against the C hello (2 pages),
# alternating three times each, same Core and Worker
if [ -f "$dir/tests/rust_hello.wasm" ]; then
    curl -sf -H "$auth" -F name=rhello -F code=@"$dir/tests/rust_hello.wasm" -F wait_for_workers=true "$api/v1/fn/_" >/dev/null
    curl -sf -H "$auth" -d '{"args":{"name":"warm"}}' "$api/v1/fn/_/rhello" >/dev/null
    tier1_built 3 # hello, big (the cold path's) and this one: nothing compiles during the rounds
    c_sum=0 r_sum=0 runs=""
    for _ in 1 2 3; do
        c=$(rps -s "$tmp/post.lua" "$api/v1/fn/_/hello")
        r=$(rps -s "$tmp/post.lua" "$api/v1/fn/_/rhello")
        runs="$runs C $c / Rust $r;"
        c_sum=$(python3 -c "print($c_sum + $c)") r_sum=$(python3 -c "print($r_sum + $r)")
    done
    echo "Rust hello (1.06 MiB of memory) vs C hello through Core + Worker, wrk -t1 -c16 -d5s:"
    echo " $runs"
    python3 -c "print('  ratio Rust/C = %.2f (target >= 0.9)' % (${r_sum}/${c_sum}))"
fi
