#!/usr/bin/env bash
# Activation records and asynchronous calls (see bench/README.md): warm invoke of hello with
# --activations all against a second Core with --activations off, both on one Worker, the runs
# alternating; latency at 1 connection for both; accepted asynchronous calls per second against
# synchronous ones; and the time from a 202 to a final status at low load.
set -euo pipefail
dir=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/funless-bench-activations-XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$dir/funless" worker --name bench --listen 127.0.0.1:0 --metrics off --announce off \
  --cache-dir "$tmp/cache" >"$tmp/worker.out" 2>"$tmp/worker.err" &
pids+=($!)
for _ in $(seq 50); do grep -qs listening "$tmp/worker.out" && break; sleep 0.1; done
wport=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/worker.out" | grep -o '[0-9]*$')
start_core() { # NAME OPTIONS...: starts it (not in a subshell, so that the trap stops it)
  local name=$1
  shift
  "$dir/funless" core --listen 127.0.0.1:0 --data-dir "$tmp/$name" --workers "127.0.0.1:$wport" \
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
}
port_of() { # NAME: its port, once it listens
  for _ in $(seq 50); do grep -qs listening "$tmp/$1.out" && break; sleep 0.1; done
  grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/$1.out" | grep -o '[0-9]*$'
}
start_core on --activations all
start_core off --activations off
on=$(port_of on)
off=$(port_of off)
setup() { # PORT: deploys hello, writes the wrk scripts
  local token
  token=$(grep Guest "$tmp/$2/tokens" | cut -d= -f2)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf -H "Authorization: Bearer $token" -F name=hello -F code=@"$dir/tests/c_hello.wasm" \
    -F wait_for_workers=true "http://127.0.0.1:$1/v1/fn/_" >/dev/null
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Authorization"] = "Bearer %s"\n' \
    "'{\"args\":{\"name\":\"bench\"}}'" "$token" >"$tmp/$2.lua"
  curl -sf -H "Authorization: Bearer $token" -d '{"args":{"name":"warm"}}' \
    "http://127.0.0.1:$1/v1/fn/_/hello" >/dev/null
}
setup "$on" on
setup "$off" off
sleep 2 # tier 1 is built in the background: measure warm code
rps() { wrk -t1 -c16 -d5s "$@" | awk '/Requests\/sec/ {print $2}'; }
p99() { wrk -t1 -c1 -d5s --latency "$@" | awk '$1 == "99%" {print $2}'; }
url() { echo "http://127.0.0.1:$1/v1/fn/_/hello${2:-}"; }
on1=$(rps -s "$tmp/on.lua" "$(url "$on")")
off1=$(rps -s "$tmp/off.lua" "$(url "$off")")
on2=$(rps -s "$tmp/on.lua" "$(url "$on")")
off2=$(rps -s "$tmp/off.lua" "$(url "$off")")
# p99 at one connection: three runs each, alternating, and the median of each (a single stall
# of the shared machine, with or without records, would otherwise decide it)
lat_on=() lat_off=()
for _ in 1 2 3; do
  lat_on+=("$(p99 -s "$tmp/on.lua" "$(url "$on")")")
  lat_off+=("$(p99 -s "$tmp/off.lua" "$(url "$off")")")
done
us() { # wrk's "123.00us" / "1.23ms" in microseconds
  awk '{v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /[0-9]s$/) v *= 1000000; print v}'
}
median_us() { printf '%s\n' "$@" | us | sort -n | sed -n 2p; }
async=$(rps -s "$tmp/on.lua" "$(url "$on" '?async=true')")
sleep 3 # the queue drains before the latency run
delay=$(python3 - "$on" "$(grep Guest "$tmp/on/tokens" | cut -d= -f2)" <<'PY'
import json, statistics, sys, time, urllib.request
port, token = sys.argv[1], sys.argv[2]
h = {"Authorization": "Bearer " + token}
def call(method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method, data=body, headers=h)
    return json.load(urllib.request.urlopen(req))
times = []
for _ in range(200):
    t0 = time.monotonic()
    aid = call("POST", "/v1/fn/_/hello?async=true", b'{"args":{"name":"d"}}')["data"]["activation_id"]
    while call("GET", "/v1/activations/" + aid)["data"]["status"] in ("queued", "running"):
        time.sleep(0.0002)
    times.append((time.monotonic() - t0) * 1000)
print("%.2f" % statistics.median(times))
PY
)
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "warm invoke of hello, wrk -t1 -c16 -d5s, two Cores on one Worker, alternating:"
echo "  --activations all ${on1} and ${on2} req/s; --activations off ${off1} and ${off2} req/s"
python3 -c "print('  ratio all/off = %.2f (target >= 0.9)' % ((${on1}+${on2})/(${off1}+${off2})))"
echo "  p99 at 1 connection, wrk -c1 -d5s, three runs each: all ${lat_on[*]}; off ${lat_off[*]}"
python3 -c "print('  median p99: all %d us, off %d us, ratio %.2f (target <= 1.2)' % ($(median_us "${lat_on[@]}"), $(median_us "${lat_off[@]}"), $(median_us "${lat_on[@]}") / $(median_us "${lat_off[@]}")))"
echo "asynchronous calls accepted (202), wrk -t1 -c16 -d5s: ${async} req/s"
python3 -c "print('  ratio async accepted / sync = %.2f (target >= 0.5)' % (${async}/((${on1}+${on2})/2)))"
echo "from 202 to a final status at low load, median of 200 (polling GET): ${delay} ms (target <= 5 ms)"
