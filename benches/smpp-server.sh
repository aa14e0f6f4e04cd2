#!/usr/bin/env bash
# Durable submit_sm/s through Flit's SMPP server for customers, beside the HTTP accept path at
# the same concurrency, in one run: one bind with window 1 against one HTTP connection sending
# one request at a time, and one bind with window 100 against 100 HTTP connections. Every
# submit_sm_resp and every 2xx is sent only once its batch is on disk, so both figures are of
# durable acceptances. Each round starts the release `flit` on a fresh data dir in sandbox mode
# (no carrier), runs the four loads one after the other, and stops it; medians of --rounds.
#
#   bash benches/smpp-server.sh [--rounds 3] [--messages 40000] [--sequential 4000]
#
# --messages is what each window-100 / 100-connection load sends, --sequential what each
# window-1 / one-connection load sends. Raw JSON goes to target/smpp-server/<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
messages=40000
sequential=4000
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) rounds=$2; shift ;;
        --messages) messages=$2; shift ;;
        --sequential) sequential=$2; shift ;;
        -h | --help)
            sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "unknown argument: $1" >&2
            exit 2
            ;;
    esac
    shift
done

cargo build --release --quiet -p flit-api -p flit-loadtest
flit=target/release/flit
loadtest=target/release/flit-loadtest
out="target/smpp-server/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One JSON figure of a file: `figure FILE KEY` (dots descend).
figure() {
    python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value[key]
print(value)' "$1" "$2"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -a smpp1 smpp100 http1 http100 smpp1_p99 smpp100_p99 http1_p99 http100_p99
for round in $(seq 1 "$rounds"); do
    data=$(mktemp -d)
    http_port=$(free_port)
    smpp_port=$(free_port)
    FLIT_ADMIN_TOKEN=bench "$flit" serve --data-dir "$data" --listen "127.0.0.1:$http_port" \
        --smpp-listen "127.0.0.1:$smpp_port" > "$out/flit-$round.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$http_port/health" > /dev/null 2>&1 && break
        sleep 0.1
    done
    url="http://127.0.0.1:$http_port"
    "$loadtest" smpp-client --port "$smpp_port" --url "$url" --admin-token bench --binds 1 \
        --window 1 --messages "$sequential" --json > "$out/smpp-w1-$round.json" 2>> "$out/loadtest.log"
    "$loadtest" http --url "$url" --admin-token bench --mode single --connections 1 \
        --requests "$sequential" --json > "$out/http-c1-$round.json" 2>> "$out/loadtest.log"
    "$loadtest" smpp-client --port "$smpp_port" --url "$url" --admin-token bench --binds 1 \
        --window 100 --messages "$messages" --json > "$out/smpp-w100-$round.json" 2>> "$out/loadtest.log"
    "$loadtest" http --url "$url" --admin-token bench --mode single --connections 100 \
        --requests "$messages" --json > "$out/http-c100-$round.json" 2>> "$out/loadtest.log"
    kill -TERM "$pid"
    wait "$pid" || true
    rm -rf "$data"

    smpp1+=("$(figure "$out/smpp-w1-$round.json" submits_per_sec)")
    smpp1_p99+=("$(figure "$out/smpp-w1-$round.json" latency.p99_ms)")
    http1+=("$(figure "$out/http-c1-$round.json" accepted_requests_per_sec)")
    http1_p99+=("$(figure "$out/http-c1-$round.json" latency.p99_ms)")
    smpp100+=("$(figure "$out/smpp-w100-$round.json" submits_per_sec)")
    smpp100_p99+=("$(figure "$out/smpp-w100-$round.json" latency.p99_ms)")
    http100+=("$(figure "$out/http-c100-$round.json" accepted_requests_per_sec)")
    http100_p99+=("$(figure "$out/http-c100-$round.json" latency.p99_ms)")
    echo "round $round: smpp w1 ${smpp1[-1]}/s, http c1 ${http1[-1]}/s, smpp w100 ${smpp100[-1]}/s, http c100 ${http100[-1]}/s"
done

m() { median "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
s1=$(m "${smpp1[@]}") h1=$(m "${http1[@]}") s100=$(m "${smpp100[@]}") h100=$(m "${http100[@]}")
echo
echo "medians of $rounds rounds (raw: $out)"
printf '%-38s %12s %10s %14s\n' "load" "accepted/s" "p99 ms" "SMPP / HTTP"
printf '%-38s %12.0f %10.2f %14s\n' "SMPP, 1 bind, window 1" "$s1" "$(m "${smpp1_p99[@]}")" "$(ratio "$s1" "$h1")"
printf '%-38s %12.0f %10.2f %14s\n' "HTTP, 1 connection" "$h1" "$(m "${http1_p99[@]}")" ""
printf '%-38s %12.0f %10.2f %14s\n' "SMPP, 1 bind, window 100" "$s100" "$(m "${smpp100_p99[@]}")" "$(ratio "$s100" "$h100")"
printf '%-38s %12.0f %10.2f %14s\n' "HTTP, 100 connections" "$h100" "$(m "${http100_p99[@]}")" ""
