#!/usr/bin/env bash
# Monitoring with a real Prometheus server on loopback (Debian's package):
# the Core and Worker /metrics pass `promtool check metrics`, and with
# --prometheus-url the scheduler places by the memory Prometheus serves.
#
# To tell the two sources apart, Prometheus is told (by relabelling) that each
# Worker's figures belong to the other: "big" offers 4 GiB and "small" 32 MiB
# in their heartbeats, Prometheus says the opposite. A function needing
# 64 MiB then runs only on "small" under a Core reading Prometheus, and only
# on "big" under a Core reading heartbeats.
#
# usage: test_prometheus.sh FUNLESS SOURCE_DIR   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
SRC=$2
FX=${FIXTURES_DIR:?}
. "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-prom-XXXXXX)
RUN=""
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null || { bad "$tool is missing (scripts/install-deps.sh installs prometheus)"; finish; exit 1; }
done

declare -A WPORT MPORT
for w in big small; do
    WPORT[$w]=$(free_port) MPORT[$w]=$(free_port)
done
"$FUNLESS" worker --name big --listen "127.0.0.1:${WPORT[big]}" --metrics "127.0.0.1:${MPORT[big]}" \
    --memory-mb 4096 --announce off --cache-dir "$TMP/cache-big" --threads 1 >"$TMP/big.log" 2>&1 &
pids+=($!)
"$FUNLESS" worker --name small --listen "127.0.0.1:${WPORT[small]}" --metrics "127.0.0.1:${MPORT[small]}" \
    --memory-mb 32 --announce off --cache-dir "$TMP/cache-small" --threads 1 >"$TMP/small.log" 2>&1 &
pids+=($!)

# FunLess's units: cpu_utilization in percent (a core kept busy between two scrapes shows more
# than 1 on a machine with a few cores; a fraction never would)
cpu_of() { curl -s "http://127.0.0.1:${MPORT[big]}/metrics" | awk '/^worker_prom_ex_os_mon_resources_cpu_utilization\{node="big"\}/ {print $2}'; }
cpu_of >/dev/null
timeout 1 sh -c 'while :; do :; done'
cpu=$(cpu_of)
expect "cpu_utilization is in percent, with FunLess's node label (got '$cpu')" \
    python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 1 < v <= 100 else 1)" "$cpu"

PROM_PORT=$(free_port)
cat >"$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: big-reported-as-small
    static_configs: [{targets: ['127.0.0.1:${MPORT[big]}']}]
    metric_relabel_configs:
      - {source_labels: [node], regex: big, target_label: node, replacement: small}
  - job_name: small-reported-as-big
    static_configs: [{targets: ['127.0.0.1:${MPORT[small]}']}]
    metric_relabel_configs:
      - {source_labels: [node], regex: small, target_label: node, replacement: big}
YAML
expect "the test's Prometheus configuration is valid" promtool check config "$TMP/prometheus.yml" >/dev/null
expect "deploy/prometheus.yml is valid" promtool check config "$SRC/deploy/prometheus.yml" >/dev/null
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
pids+=($!)
PROM=http://127.0.0.1:$PROM_PORT
prom_has_both() {
    curl -s "$PROM/api/v1/query?query=worker_prom_ex_os_mon_resources_available_mem" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if sorted(x["metric"]["node"] for x in r)==["big","small"] else 1)' 2>/dev/null
}
expect "Prometheus scrapes both Workers" wait_until 30 prom_has_both

start_core() { # NAME [extra core options...]
    local name=$1
    shift
    local port
    port=$(free_port)
    "$FUNLESS" core --listen "127.0.0.1:$port" --data-dir "$TMP/$name" \
        --workers "127.0.0.1:${WPORT[big]},127.0.0.1:${WPORT[small]}" "$@" >"$TMP/$name.log" 2>&1 &
    pids+=($!)
    API=http://127.0.0.1:$port DATA=$TMP/$name
    wait_until 10 grep -q "listening on" "$TMP/$name.log" && wait_until 5 workers_are "big small"
}

# hello declares 16 MiB: the real 'small' (32 MiB) can run it too, so what decides is whose
# figures the Core believes (a Worker runs only calls that fit what it offers)
deploy_small() {
    api POST /v1/fn/_ -F name=hello -F "code=@$FX/c_hello.wasm" -F 'metadata={"capacity":16}' \
        -F wait_for_workers=true >/dev/null
}

# ---- a Core reading Prometheus ----
expect "a Core with --prometheus-url starts" start_core prom --prometheus-url "$PROM"
sleep 2 # its first poll
deploy_small
used=$(placements hello 8)
echo "placements (Prometheus): $used"
expect "it follows Prometheus: only 'small' fits, as Prometheus says ($used)" [ "$used" = "small=8 " ]
small_total=$(api GET /v1/admin/workers | python3 -c 'import json,sys; print([w["total_mem"] for w in json.load(sys.stdin)["data"] if w["name"]=="small"][0])')
expect "it lists Prometheus's figures ($small_total)" [ "$small_total" = 4294967296 ]
PROM_API=$API PROM_DATA=$DATA

# ---- a Core reading heartbeats, the default ----
expect "a Core without it starts" start_core beats
sleep 0.5
deploy_small
used=$(placements hello 8)
echo "placements (heartbeats): $used"
expect "it follows the heartbeats: only 'big' fits ($used)" [ "$used" = "big=8 " ]

# ---- Prometheus goes away: the last figures stay, nothing crashes ----
kill "${pids[2]}"
sleep 2
API=$PROM_API DATA=$PROM_DATA
used=$(placements hello 4)
expect "with Prometheus gone, the last figures it served still place calls ($used)" [ "$used" = "small=4 " ]
expect "the Core says Prometheus failed" grep -q "event=prometheus_failed" "$TMP/prom.log"

# ---- the metrics themselves ----
expect "the Worker's /metrics passes promtool" bash -c "curl -sf 127.0.0.1:${MPORT[small]}/metrics | promtool check metrics"
expect "it counts the invocations" bash -c "curl -sf 127.0.0.1:${MPORT[small]}/metrics | grep -q 'funless_worker_invocations_total{module=\"_\",function=\"hello\",outcome=\"ok\"} 12'"
expect "the Core's /metrics passes promtool" bash -c "curl -sf $PROM_API/metrics | promtool check metrics"

finish
