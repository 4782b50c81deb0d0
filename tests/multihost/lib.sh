# Shared by the multi-host tests: assertions with a closing "N passed, N failed",
# free ports, waiting, and calls to a Core's API with curl. Source it.
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
expect() { # NAME CONDITION_COMMAND...
    local name=$1
    shift
    if "$@"; then ok; else bad "$name"; fi
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# wait_until SECONDS COMMAND...: true once COMMAND succeeds, false after SECONDS.
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# In these, $RUN prefixes commands that must run where the Core's API is reachable
# (e.g. "ip netns exec NS"); $API is its URL; $DATA its data dir.
api() { # METHOD PATH [curl args...]: prints the body; the token is the admin's
    local method=$1 path=$2
    shift 2
    $RUN curl -s -X "$method" -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" "$@" "$API$path"
}
# Names of the Workers the Core lists as connected, sorted, one line.
connected_workers() {
    api GET /v1/admin/workers | python3 -c 'import json,sys; print(" ".join(sorted(w["name"] for w in json.load(sys.stdin)["data"] if w["connected"])))'
}
workers_are() { [ "$(connected_workers)" = "$1" ]; }
# Invokes FUNCTION N times; prints where each ran (X-Funless-Worker), or the status on failure.
placements() { # FUNCTION N
    for _ in $(seq "$2"); do
        $RUN curl -s -o /dev/null -D - -X POST -H "Authorization: Bearer $(grep Admin "$DATA/tokens" | cut -d= -f2)" \
            -H 'Content-Type: application/json' -d '{"args":{"name":"placed"}}' "$API/v1/fn/_/$1" | awk 'tolower($1)=="x-funless-worker:" {w=$2} /^HTTP/ {s=$2} END {gsub(/\r/,"",w); print (s==200 ? w : "status-" s)}'
    done | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}
deploy() { # NAME WASM
    api POST /v1/fn/_ -F "name=$1" -F "code=@$2" -F wait_for_workers=true >/dev/null
}
