#!/usr/bin/env bash
# A small LAN made of network namespaces: a hub namespace holding a bridge,
# and one namespace per host with a veth on it (10.77.0.N/24, multicast
# routed onto it). Loopback-only traffic: nothing leaves the machine.
#
#   netns.sh up PREFIX HOST...    creates PREFIX-hub and PREFIX-HOST (10.77.0.1, .2, ...)
#   netns.sh down PREFIX HOST...  removes them
#   netns.sh cut PREFIX HOST      takes HOST off the LAN (its link goes down)
#   netns.sh mend PREFIX HOST     puts it back
set -euo pipefail
action=$1 prefix=$2
shift 2
hub=$prefix-hub
case $action in
up)
    ip netns add "$hub"
    ip -n "$hub" link add br0 type bridge mcast_snooping 0
    ip -n "$hub" link set br0 up
    n=1
    for host in "$@"; do
        ns=$prefix-$host
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "$prefix-$n" netns "$hub" type veth peer name eth0 netns "$ns"
        ip -n "$hub" link set "$prefix-$n" master br0 up
        ip -n "$ns" addr add "10.77.0.$n/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add 224.0.0.0/4 dev eth0
        n=$((n + 1))
    done
    ;;
down)
    for host in "$@"; do ip netns del "$prefix-$host" 2>/dev/null || true; done
    ip netns del "$hub" 2>/dev/null || true
    ;;
cut)
    ip -n "$prefix-$1" link set eth0 down
    ;;
mend)
    ip -n "$prefix-$1" link set eth0 up
    ip -n "$prefix-$1" route replace 224.0.0.0/4 dev eth0
    ;;
esac
