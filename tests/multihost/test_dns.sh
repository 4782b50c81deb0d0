#!/usr/bin/env bash
# DNS discovery, as on Kubernetes (a headless Service's A records): a real DNS
# server (dnsmasq on loopback) answers for workers.funless.test; when its
# answer changes, the Core adds and drops Workers accordingly. Workers listen
# on 127.0.0.x addresses, one per "pod", each offering the same memory (so that
# the default policy spreads calls evenly between them).
#
# usage: test_dns.sh FUNLESS   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
. "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-dns-XXXXXX)
DATA=$TMP/core
RUN=""
PORT=$(free_port) WPORT=$(free_port) DNS_PORT=$(free_port)
API=http://127.0.0.1:$PORT
NAME=workers.funless.test
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

if ! command -v dnsmasq >/dev/null; then
    echo "dnsmasq is missing (scripts/install-deps.sh installs dnsmasq-base)"
    bad "dnsmasq"
    finish
    exit 1
fi

# malformed discovery settings stop the Core at once, saying why
refused() { # EXPECTED_MESSAGE CORE_OPTIONS...
    local want=$1 out
    shift
    out=$("$FUNLESS" core --listen 127.0.0.1:0 --data-dir "$TMP/refused" "$@" 2>&1) && return 1
    [[ "$out" == *"$want"* ]]
}
expect "--discover with an unknown method is refused" refused "--discover takes multicast" --discover carrier-pigeon
expect "--discover dns: without a name is refused" refused "--discover dns:NAME[:PORT]" --discover dns:
expect "--discover-interface must be an address" refused "takes an IPv4 address" --discover multicast --discover-interface eth0

answer() { # the DNS answer: one A record per address given
    : >"$TMP/hosts.new"
    for ip in "$@"; do echo "$ip $NAME" >>"$TMP/hosts.new"; done
    mv "$TMP/hosts.new" "$TMP/hosts"
    [ -n "${DNSMASQ:-}" ] && kill -HUP "$DNSMASQ" # dnsmasq reads its hosts files again
    return 0
}
answer 127.0.0.2 127.0.0.3
dnsmasq --keep-in-foreground --no-daemon --no-resolv --no-hosts --addn-hosts="$TMP/hosts" \
    --local=/funless.test/ --listen-address=127.0.0.1 --bind-interfaces --port="$DNS_PORT" --local-ttl=0 \
    --pid-file="$TMP/dnsmasq.pid" --user=root --log-facility="$TMP/dnsmasq.log" &
DNSMASQ=$!
pids+=("$DNSMASQ")

for i in 2 3 4; do
    "$FUNLESS" worker --name "pod$i" --listen "127.0.0.$i:$WPORT" --metrics off --announce off \
        --memory-mb 1024 \
        --cache-dir "$TMP/cache$i" --threads 1 >"$TMP/pod$i.log" 2>&1 &
    pids+=($!)
done
"$FUNLESS" core --listen "127.0.0.1:$PORT" --data-dir "$DATA" --discover "dns:$NAME:$WPORT" \
    --dns-server "127.0.0.1:$DNS_PORT" >"$TMP/core.log" 2>&1 &
pids+=($!)
expect "core starts" wait_until 10 grep -q "listening on" "$TMP/core.log"

expect "the Workers in the DNS answer join" wait_until 4 workers_are "pod2 pod3"
deploy hello "$FX/c_hello.wasm"
used=$(placements hello 8)
echo "placements: $used"
expect "both are used ($used)" bash -c "[[ '$used' == *pod2=* && '$used' == *pod3=* ]]"

# a pod comes, a pod goes: the Core follows the answer within two lookups
t0=$(now_ms)
answer 127.0.0.3 127.0.0.4
expect "the new answer is followed: pod4 in, pod2 out" wait_until 4 workers_are "pod3 pod4"
echo "followed in $(($(now_ms) - t0)) ms"
expect "pod2 is no longer listed at all" bash -c "! grep -q pod2 <<<\"$(api GET /v1/admin/workers)\""
used=$(placements hello 8)
echo "placements: $used"
[ -n "${KEEP_TMP:-}" ] && api GET /v1/admin/workers
expect "pod2 gets nothing, pod4 does ($used)" bash -c "[[ '$used' != *pod2=* && '$used' == *pod4=* && '$used' != *status-* ]]"

# a DNS server that stops answering changes nothing (a hiccup must not drop every Worker)
kill -STOP "$DNSMASQ"
sleep 3
expect "a silent DNS server drops no Worker" workers_are "pod3 pod4"
kill -CONT "$DNSMASQ"

# an empty answer (the Service scaled to zero) drops them all
answer
expect "an empty answer drops every Worker" wait_until 4 workers_are ""
expect "and invocations say so" bash -c "[[ '$(placements hello 1)' == *status-503* ]]"

finish
