#!/usr/bin/env bash
# Multicast discovery across hosts: a Core and 3 Workers in separate network
# namespaces on one bridge find each other by signed announcements; a Worker
# with a wrong secret is ignored; a Worker that is cut off is dropped within
# the heartbeat timeout, its call fails fast, and invocations go elsewhere;
# back on the LAN, it is used again. Where network namespaces are not
# permitted, the same scenarios run on 127.0.0.x (cut off = stopped).
#
# usage: test_multicast.sh FUNLESS   (env: FIXTURES_DIR)
set -u
FUNLESS=$1
FX=${FIXTURES_DIR:?}
. "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d /tmp/funless-test-mc-XXXXXX)
PREFIX=flmc$$
DATA=$TMP/core
GROUP=233.252.1.32:$(free_port) # a group port of our own: other tests' Workers announce too
HOSTS=(w1 w2 w3 bad)
declare -A PID

if [ -z "${FL_NO_NETNS:-}" ] && ip netns add "$PREFIX-probe" 2>/dev/null && ip netns del "$PREFIX-probe"; then
    MODE=netns
    "$(dirname "$0")/netns.sh" up "$PREFIX" core "${HOSTS[@]}"
    RUN="ip netns exec $PREFIX-core"
    API=http://10.77.0.1:4000
    host_run() { echo "ip netns exec $PREFIX-$1"; }
    host_addr() { local i; for i in "${!HOSTS[@]}"; do [ "${HOSTS[$i]}" = "$1" ] && echo "10.77.0.$((i + 2)):4020"; done; }
    CORE_LISTEN=10.77.0.1:4000 CORE_INTERFACE=10.77.0.1
    cut_off() { "$(dirname "$0")/netns.sh" cut "$PREFIX" "$1"; }
    reconnect() { "$(dirname "$0")/netns.sh" mend "$PREFIX" "$1"; }
else
    MODE=loopback
    echo "network namespaces are not permitted here: running the same scenarios on 127.0.0.x"
    RUN=""
    PORT=$(free_port) WPORT=$(free_port)
    API=http://127.0.0.1:$PORT
    host_run() { echo ""; }
    host_addr() { local i; for i in "${!HOSTS[@]}"; do [ "${HOSTS[$i]}" = "$1" ] && echo "127.0.0.$((i + 2)):$WPORT"; done; }
    CORE_LISTEN=127.0.0.1:$PORT CORE_INTERFACE=127.0.0.1
    cut_off() { kill -STOP "${PID[$1]}"; }
    reconnect() { kill -CONT "${PID[$1]}"; }
fi
echo "mode: $MODE"

cleanup() {
    for p in "${PID[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ "$MODE" = netns ] && "$(dirname "$0")/netns.sh" down "$PREFIX" core "${HOSTS[@]}"
    rm -rf "$TMP"
}
trap cleanup EXIT
printf 'the cluster secret of this test' >"$TMP/secret"
printf 'a different secret altogether' >"$TMP/wrong"

start_worker() { # NAME SECRET_FILE
    $(host_run "$1") "$FUNLESS" worker --name "$1" --listen "$(host_addr "$1")" --metrics off \
        --cache-dir "$TMP/cache-$1" --secret-file "$2" --announce "$GROUP" --threads 2 --memory-mb 1024 \
        >"$TMP/$1.log" 2>&1 &
    PID[$1]=$!
}

$RUN "$FUNLESS" core --listen "$CORE_LISTEN" --data-dir "$DATA" --secret-file "$TMP/secret" \
    --discover "multicast:$GROUP" --discover-interface "$CORE_INTERFACE" >"$TMP/core.log" 2>&1 &
PID[core]=$!
expect "core starts" wait_until 10 grep -q "listening on" "$TMP/core.log"

# ---- joins within 2 s, the wrong secret never ----
t0=$(now_ms)
for w in w1 w2 w3; do start_worker "$w" "$TMP/secret"; done
start_worker bad "$TMP/wrong"
expect "three Workers join by multicast" wait_until 4 workers_are "w1 w2 w3"
join_ms=$(($(now_ms) - t0))
echo "joined in $join_ms ms (target: within 2 s)"
expect "joins are visible within 2 s (took $join_ms ms)" [ "$join_ms" -le 2000 ]
sleep 1.5
expect "the Worker with the wrong secret is ignored" workers_are "w1 w2 w3"
expect "its announcements are refused for their signature" grep -q 'announcement_refused.*wrong cluster secret' "$TMP/core.log"
# an unsigned announcement, sent by hand, is refused too
bad_ip=$(host_addr bad)
$(host_run bad) python3 - "$GROUP" "${bad_ip%:*}" <<'PY'
import socket, struct, sys, time
group, port = sys.argv[1].rsplit(":", 1)
name = b"intruder"
msg = b"FLAN" + bytes([1, 0]) + struct.pack(">H", 4020) + b"\0" * 8 + struct.pack(">QQ", 1, int(time.time() * 1000)) + bytes([len(name)]) + name
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[2]))
s.sendto(msg, (group, int(port)))
PY
expect "an unsigned announcement is refused" wait_until 3 grep -q 'announcement_refused.*unsigned announcement' "$TMP/core.log"

# ---- all three are used ----
deploy hello "$FX/c_hello.wasm"
deploy spin "$FX/c_spin.wasm"
used=$(placements hello 12)
echo "placements: $used"
expect "every Worker runs invocations ($used)" bash -c "[[ '$used' == *w1=* && '$used' == *w2=* && '$used' == *w3=* ]]"

# ---- w2 cut off: its call fails fast, it is dropped, the others serve ----
printf -- '- default:\n  - workers: [w2]\n' >"$TMP/pin.yaml"
api POST /v1/scripts/app -F name=on_w2 -F "file=@$TMP/pin.yaml" >/dev/null
(
    t=$(now_ms)
    echo "$t" >"$TMP/long.started"
    status=$($RUN curl -s -o "$TMP/long.body" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
        -d '{"args":{"ms":8000},"scheduling":{"language":"app","script":"on_w2"}}' "$API/v1/fn/_/spin")
    echo "$status $(($(now_ms) - t))" >"$TMP/long.result"
) &
long=$!
sleep 0.7
cut_at=$(now_ms)
cut_off w2
expect "the cut-off Worker is dropped" wait_until 4 workers_are "w1 w3"
wait "$long"
read -r long_status long_ms <"$TMP/long.result"
read -r long_started <"$TMP/long.started"
drop_ms=$((long_started + long_ms - cut_at)) # the call fails the moment the Worker is dropped
echo "the call running on w2: HTTP $long_status, $drop_ms ms after the cut (heartbeat timeout 2000 ms)"
expect "its in-flight call fails with 502 ($long_status)" [ "$long_status" = 502 ]
expect "dropped within the heartbeat timeout, plus 0.3 s ($drop_ms ms)" [ "$drop_ms" -le 2300 ]
used=$(placements hello 10)
echo "placements while w2 is away: $used"
expect "invocations go elsewhere ($used)" bash -c "[[ '$used' != *w2=* && '$used' != *status-* && -n '$used' ]]"

# ---- back on the LAN: rediscovered and used again ----
t0=$(now_ms)
reconnect w2
expect "w2 is back" wait_until 8 workers_are "w1 w2 w3"
echo "back in $(($(now_ms) - t0)) ms"
used=$(placements hello 12)
echo "placements after: $used"
expect "w2 runs invocations again ($used)" bash -c "[[ '$used' == *w2=* ]]"

finish
