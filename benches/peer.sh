#!/usr/bin/env bash
# Flit beside Kannel and beside the ceiling of the machine, on the same work, in one run.
#
#   bash benches/peer.sh [--work single|bulk|e2e|backlog|all] [--rounds R] [--flit-storage redb|sled|fjall]
#                        [--messages N] [--connections C]                      (single)
#                        [--bulk-requests N] [--bulk-connections C]            (bulk)
#                        [--e2e-messages N] [--e2e-per-request R] [--e2e-connections C] [--e2e-binds B]
#                        [--backlog N] [--backlog-connections C]               (backlog)
#
# Each round runs every server the work makes sense for, one after the other, each on a fresh
# data dir (`--work all` runs single, bulk, e2e and backlog in turn, all rounds of one before the
# next):
#
#   kannel   Kannel (Debian's package: bearerbox + smsbox, store-type = file, DLR storage in
#            memory), SMPP transceiver binds to the simulated SMSC, window (max-pending-submits)
#            50; sends are `GET /cgi-bin/sendsms?…` on smsbox's sendsms port, several recipients
#            in `to` separated by spaces (`+`).
#   flit     `flit serve` (release build; its default store unless --flit-storage, passed to
#            `--storage`), transceiver binds to the same SMSC through the admin API, window 50;
#            sends are `POST /api/v1/sms/send` with the bootstrap key.
#   ceiling  benches/ceiling: an axum handler that parses the same JSON and answers a small JSON,
#            nothing else: the limit of this machine for this HTTP load. Only where the work is
#            HTTP alone (single, bulk); e2e and backlog have no meaning for it.
#
# The SMSC is interop/smsc.js (node-smpp, an SMSC neither gateway wrote) in its quiet mode; it
# answers every submit_sm at once and sends a delivery receipt 100 ms later. The load is `oha`
# (one install, the same version for all), closed loop over keep-alive connections.
#
# The works:
#
#   single   (the default) N single-recipient sends over C connections (20,000 over 64), one
#            bind. From each run: accepted/s and latency (oha's requests/s and percentiles; every
#            answer must be a success); end to end: N over the time from the start of the load to
#            the N-th submit_sm at the SMSC (and to the N-th receipt acknowledged); the gateway's
#            CPU seconds (utime + stime of its processes, from /proc) over that time.
#   bulk     N requests of 1,000 recipients each over C connections (1,000 over 8: 1,000,000
#            recipients), one bind, receipts on. Every request carries the same 1,000 distinct
#            numbers (233201000000 to 233201000999; both gateways drop repeats within a request).
#            Kannel's sendsms takes them space-separated in `to` in one GET of about 13 kB, which
#            smsbox accepts (no limit on a request line, gwlib/http.c; `max-messages` limits the
#            parts of one message, not recipients). Figures: recipients accepted/s to the last one
#            taken in, request latency, gateway CPU seconds over that time. smsbox answers a
#            multi-recipient sendsms once bearerbox has acknowledged its *first* recipient
#            (gw/smsbox.c, delayed_http_reply: the other acks find no client), so Kannel's "taken
#            in" is read from bearerbox's status page (sent + failed + queued, polled every 20 ms,
#            less a window for the parts in flight) rather than from its answers; Flit answers
#            once all 1,000 are on disk.
#   e2e      N messages (60,000) in requests of R recipients (100) over C connections (8), through
#            B binds (4) to the SMSC, window 50 each, receipts on, and a webhook per final status
#            to benches/peer-receiver.js (node's http, a receiver neither gateway is): Flit's
#            webhook subscription for message.delivered and message.failed (with
#            FLIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true, as the receiver is on 127.0.0.1), and
#            Kannel's `dlr-url` on every send with dlr-mask 19 (delivered, undelivered, rejected
#            by the SMSC), which smsbox calls with GET. Flit's binds are in one route (round robin
#            among bound binds); Kannel's are four smsc groups with one smsc-id (bearerbox picks
#            the least loaded). Figures: submit_sm/s, receipts/s and final webhooks/s from the
#            start of the load to the N-th of each; the time to the N-th webhook; gateway CPU
#            seconds (from the start of the load to a second after the last webhook) and messages
#            per gateway CPU-second; the SMSC's and the receiver's CPU seconds too, so a reader
#            can tell when node is the bottleneck. The run fails unless exactly N submit_sm, N
#            receipts acknowledged without error and N distinct final webhooks arrived, and every
#            receipt matched (Flit: its receipts metric counts N delivered and none unmatched;
#            Kannel: no DLR entry left waiting).
#   backlog  Every bind down (a bind to a port nothing listens on), then N recipients (1,000,000)
#            queued: Flit's by requests of 1,000 over C connections (8), Kannel's by
#            single-recipient sends over the single work's connections (64): see below. Once all
#            are taken in, the gateway's RSS (Kannel: bearerbox + smsbox); then kill -9, start
#            again on the same data, and the time to serving again (Flit: /health answers 200,
#            which it does only once its engine has counted what waits on disk; Kannel: its
#            status page answers with smsbox connected), to a first send accepted, and to all N
#            queued again (Flit: the recipients of its PENDING messages, read through the API;
#            Kannel: the queued count on its status page, filled as bearerbox loads its store,
#            gw/bearerbox.c main, store_load; sends wait for that load, gw/bb_store_file.c
#            store_file_save), each to the start of the check that passed; the count must be N +
#            the first send. Kannel's sms-outgoing-queue-limit (1,000,000 by default, past which
#            sends are refused) is raised to 2 N + 1,000. No ceiling. The stores are deleted
#            after each run (hundreds of MB each at the default N); the logs stay.
#
# Kannel and several recipients in one sendsms: smsbox gives every recipient the request's one
# message id (gw/sms.c, sms_split copies it), and bearerbox's file store keys messages by that id
# (gw/bb_store_file.c, store_to_dict), so the store holds one recipient per request: after a
# kill -9, Kannel gives back one recipient of each. So in bulk and e2e Kannel keeps less on disk
# than Flit does (and bearerbox logs errors only there: it would log a warning for every
# recipient after the first, whose acknowledgement finds nothing in the store), and the backlog
# work fills Kannel with single-recipient sends, the way Kannel keeps them all.
#
# It prints, per work, a table of medians with the ratios Flit/Kannel and Flit/ceiling, and
# leaves the raw runs and every log under target/peer/<date>/<work>/ (runs.tsv, summary.md,
# one directory per round and server), with all summaries in target/peer/<date>/summary.md.
#
# It installs what is missing (kannel with apt-get, oha with cargo install --locked, the SMSC's node
# packages with npm ci) and builds Flit and the ceiling in release once. Needs root or sudo for
# apt-get, cargo, node >= 18, curl and python3. Settings also come from the environment:
# PEER_WORK, PEER_ROUNDS, PEER_FLIT_STORAGE, PEER_MESSAGES, PEER_CONNECTIONS, PEER_BULK_REQUESTS,
# PEER_BULK_CONNECTIONS, PEER_E2E_MESSAGES, PEER_E2E_PER_REQUEST, PEER_E2E_CONNECTIONS,
# PEER_E2E_BINDS, PEER_BACKLOG, PEER_BACKLOG_CONNECTIONS, PEER_RECEIPT_DELAY_MS, PEER_PORT_BASE
# (default 19600: the script uses that port and the 29 above it).
set -euo pipefail

work=${PEER_WORK:-single}
rounds=${PEER_ROUNDS:-3}
flit_storage=${PEER_FLIT_STORAGE:-}
messages=${PEER_MESSAGES:-20000}
connections=${PEER_CONNECTIONS:-64}
bulk_requests=${PEER_BULK_REQUESTS:-1000}
bulk_connections=${PEER_BULK_CONNECTIONS:-8}
e2e_messages=${PEER_E2E_MESSAGES:-60000}
e2e_per_request=${PEER_E2E_PER_REQUEST:-100}
e2e_connections=${PEER_E2E_CONNECTIONS:-8}
e2e_binds=${PEER_E2E_BINDS:-4}
backlog=${PEER_BACKLOG:-1000000}
backlog_connections=${PEER_BACKLOG_CONNECTIONS:-8}
receipt_delay_ms=${PEER_RECEIPT_DELAY_MS:-100}
port_base=${PEER_PORT_BASE:-19600}
window=50
# Recipients per request of the bulk and backlog works: Flit's most (MAX_EXPLICIT_RECIPIENTS).
bulk_size=1000
while [[ $# -gt 0 ]]; do
    case $1 in
        --work) work=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --flit-storage) flit_storage=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --bulk-requests) bulk_requests=$2; shift 2 ;;
        --bulk-connections) bulk_connections=$2; shift 2 ;;
        --e2e-messages) e2e_messages=$2; shift 2 ;;
        --e2e-per-request) e2e_per_request=$2; shift 2 ;;
        --e2e-connections) e2e_connections=$2; shift 2 ;;
        --e2e-binds) e2e_binds=$2; shift 2 ;;
        --backlog) backlog=$2; shift 2 ;;
        --backlog-connections) backlog_connections=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "peer.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

case $work in
    single | bulk | e2e | backlog) works=("$work") ;;
    all) works=(single bulk e2e backlog) ;;
    *) echo "peer.sh: --work is single, bulk, e2e, backlog or all, not $work" >&2; exit 2 ;;
esac
case $flit_storage in
    '' | redb | sled | fjall) ;;
    *) echo "peer.sh: --flit-storage is redb, sled or fjall, not $flit_storage" >&2; exit 2 ;;
esac
[[ $e2e_per_request -ge 1 && $e2e_per_request -le $bulk_size ]] ||
    { echo "peer.sh: --e2e-per-request is 1 to $bulk_size" >&2; exit 2; }
((e2e_messages % e2e_per_request == 0)) ||
    { echo "peer.sh: --e2e-messages must be a multiple of --e2e-per-request" >&2; exit 2; }
((backlog % bulk_size == 0)) || { echo "peer.sh: --backlog must be a multiple of $bulk_size" >&2; exit 2; }

flit_port=$port_base
ceiling_port=$((port_base + 1))
smsc_port=$((port_base + 2))
receiver_port=$((port_base + 3))
# Nothing listens here: the SMSC of the backlog work, down for the whole run.
down_port=$((port_base + 4))
kannel_admin_port=$((port_base + 10))
kannel_box_port=$((port_base + 11))
kannel_sendsms_port=$((port_base + 12))

# The work every server gets: one GSM-7 part, an approved sender; one recipient for single
# sends, the first R of `numbers` for the others.
recipient=233201234567
sender=MyBrand
text="Hello from the peer benchmark"
admin_token=peer-bench-admin

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { printf '%s peer: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

for tool in cargo node npm curl python3; do
    command -v "$tool" > /dev/null || die "$tool is needed (see the comment at the top of $0)"
done
if ! command -v bearerbox > /dev/null || ! command -v smsbox > /dev/null; then
    say "installing kannel (apt-get)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kannel > /dev/null
    # If Debian starts its own bearerbox (/etc/kannel, ports 13000-13002), it is left alone.
fi
PATH=$HOME/.cargo/bin:$PATH
if ! command -v oha > /dev/null; then
    say "installing oha (cargo install oha --locked)"
    cargo install oha --locked
fi
if [[ ! -d interop/node_modules/smpp ]]; then
    say "installing the SMSC's node packages (npm ci in interop/)"
    (cd interop && npm ci --no-audit --no-fund)
fi

say "building flit and the ceiling (release)"
cargo build --release --locked -p flit-api
# Its own command: built together, flit-api's dependencies could unify with other packages'.
cargo build --release --locked -p flit-ceiling
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
flit_bin=$target_dir/release/flit
ceiling_bin=$target_dir/release/ceiling

out=$target_dir/peer/$(date +%Y-%m-%dT%H-%M-%S)
mkdir -p "$out"

kannel_version=$(bearerbox -v 4 --version 2>&1 | sed -n "s/.*bearerbox version \`\\([^']*\\)'.*/\\1/p" | head -n 1)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "flit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' || echo ' + uncommitted changes'), storage: ${flit_storage:-its default}"
    echo "kannel: ${kannel_version:-unknown} ($(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo 'not from dpkg'))"
    echo "oha: $(oha --version)"
    echo "node: $(node --version), smpp $(node -p 'require("./interop/node_modules/smpp/package.json").version')"
    echo "works: ${works[*]}; rounds: $rounds; window: $window; receipt delay: ${receipt_delay_ms} ms"
    for w in "${works[@]}"; do
        case $w in
            single) echo "single: $messages sends of 1 recipient over $connections connections, 1 bind" ;;
            bulk) echo "bulk: $bulk_requests requests of $bulk_size recipients over $bulk_connections connections, 1 bind" ;;
            e2e) echo "e2e: $e2e_messages messages in requests of $e2e_per_request over $e2e_connections connections, $e2e_binds binds, a webhook per final status" ;;
            backlog) echo "backlog: $backlog recipients, every bind down; Flit: requests of $bulk_size over $backlog_connections connections; Kannel: single-recipient sends over $connections" ;;
        esac
    done
} | tee "$out/setup.txt" >&2

# ---------------------------------------------------------------- processes

pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
        [[ $alive -eq 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
    pids=()
}
# kill_9 PID...: kills the processes at once, as a crash would, and forgets them.
kill_9() {
    local pid keep=() dead=" $* "
    kill -9 "$@"
    wait "$@" 2> /dev/null || true
    for pid in "${pids[@]}"; do [[ $dead == *" $pid "* ]] || keep+=("$pid"); done
    pids=("${keep[@]}")
}
trap stop_all EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
port_free() { ! port_open "$1"; }
for port in $flit_port $ceiling_port $smsc_port $receiver_port $down_port \
    $kannel_admin_port $kannel_box_port $kannel_sendsms_port; do
    port_free "$port" || die "port $port is taken (set PEER_PORT_BASE)"
done

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" > /dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || die "$what: not within $seconds s"
        sleep 0.1
    done
}

# CPU seconds (user + system, all threads) of the given processes so far.
cpu_seconds() {
    local ticks=0 pid fields
    for pid in "$@"; do
        # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
        read -r -a fields <<< "$(sed 's/^.*) //' "/proc/$pid/stat")"
        ticks=$((ticks + fields[11] + fields[12]))
    done
    python3 -c "print(f'{$ticks / $(getconf CLK_TCK):.2f}')"
}

# Resident memory of the given processes together, in MB (10^6 bytes).
rss_mb() {
    local kb=0 pid
    for pid in "$@"; do
        kb=$((kb + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")))
    done
    python3 -c "print(f'{$kb * 1024 / 1e6:.0f}')"
}

now_ms() { date +%s%3N; }

# calc EXPRESSION: python's arithmetic, for rates and ratios.
calc() { python3 -c "print($1)"; }

start_smsc() {
    node interop/smsc.js --port "$smsc_port" --system-id peer --password secret \
        --receipt-delay-ms "$receipt_delay_ms" --fail-suffix '' --quiet 1 --counts-every-ms 100 \
        > "$1/smsc.log" 2> "$1/smsc.err" &
    smsc_pid=$!
    pids+=("$smsc_pid")
    wait_for 10 "the SMSC listening" grep -q '^LISTENING' "$1/smsc.log"
}

start_receiver() {
    node benches/peer-receiver.js --port "$receiver_port" --counts-every-ms 100 \
        > "$1/receiver.log" 2> "$1/receiver.err" &
    receiver_pid=$!
    pids+=("$receiver_pid")
    wait_for 10 "the webhook receiver listening" grep -q '^LISTENING' "$1/receiver.log"
}

# count FILE FIELD: the latest COUNTS line's FIELD in FILE (0 before the first line).
count() {
    local line
    line=$(grep '^COUNTS' "$1" | tail -n 1)
    if [[ $line =~ \"$2\":([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}
smsc_count() { count "$1/smsc.log" "$2"; }
smsc_has() { [[ $(smsc_count "$1" "$2") -ge $3 ]]; }
receiver_count() { count "$1/receiver.log" "$2"; }
receiver_has() { [[ $(receiver_count "$1" "$2") -ge $3 ]]; }

# numbers N: N distinct numbers, one per line (the same N for every request).
numbers() { seq -f '233201%06.0f' 0 $(($1 - 1)); }

# flit_body N: Flit's send body to the first N numbers (N = 1: the single-send recipient).
flit_body() {
    if [[ $1 -eq 1 ]]; then
        echo "{\"recipients\":[\"$recipient\"],\"message\":\"$text\",\"senderId\":\"$sender\"}"
    else
        echo "{\"recipients\":[$(numbers "$1" | sed 's/.*/"&"/' | paste -sd,)],\"message\":\"$text\",\"senderId\":\"$sender\"}"
    fi
}

# kannel_url N [DLR_MASK [DLR_URL]]: a sendsms URL to the first N numbers (N = 1: the single
# recipient), receipts asked for with DLR_MASK (default 3), calling DLR_URL for each if given.
kannel_url() {
    local to=$recipient mask=${2:-3} dlr=""
    [[ $1 -eq 1 ]] || to=$(numbers "$1" | paste -sd+)
    [[ -z ${3:-} ]] || dlr="&dlr-url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$3")"
    echo "http://127.0.0.1:$kannel_sendsms_port/cgi-bin/sendsms?username=bench&password=bench&from=$sender&to=$to&text=${text// /+}&dlr-mask=$mask$dlr"
}

# oha_run DIR N C OHA_ARGS...: N requests over C connections, the report in DIR/oha.json.
oha_run() {
    local dir=$1 n=$2 c=$3
    shift 3
    oha -n "$n" -c "$c" --no-tui --output-format json "$@" > "$dir/oha.json"
}

# oha_fields DIR: "requests_per_s p50_ms p99_ms slowest_connect_ms ok not_ok" from DIR/oha.json.
oha_fields() {
    python3 - "$1/oha.json" << 'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
codes = {int(k): v for k, v in report.get("statusCodeDistribution", {}).items()}
ok = sum(v for k, v in codes.items() if 200 <= k < 300)
not_ok = sum(v for k, v in codes.items() if not 200 <= k < 300)
not_ok += sum(report.get("errorDistribution", {}).values())
latency = report["latencyPercentiles"]
# oha counts a connection's setup in its first request's latency; the slowest shows a stall.
connect_ms = report["details"]["DNSDialup"]["slowest"] * 1000
print(f"{report['summary']['requestsPerSec']:.2f} {latency['p50'] * 1000:.2f} {latency['p99'] * 1000:.2f} "
      f"{connect_ms:.1f} {ok} {not_ok}")
EOF
}

# row FILE VALUES...: appends a tab-separated row to FILE.
row() {
    local file=$1
    shift
    (IFS=$'\t'; echo "$*") >> "$file"
}

# ---------------------------------------------------------------- Kannel

# bearerbox's log level: warnings in the single work (as in its published runs), errors only in
# the others, where it would log "get ACK of message not found from store, strange?" for every
# recipient after the first of a request (see the top).
kannel_log_level() { if [[ $work_now == single ]]; then echo 2; else echo 3; fi; }

# kannel_config DIR SMSC_PORT SMSCS [CORE_LINES]: a configuration with SMSCS smsc groups (one
# smsc-id) to SMSC_PORT, CORE_LINES added to the core group.
kannel_config() {
    local dir=$1 port=$2 smscs=$3 core=${4:-} log_level
    log_level=$(kannel_log_level)
    {
        cat << EOF
group = core
admin-port = $kannel_admin_port
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $kannel_box_port
box-allow-ip = "127.0.0.1"
log-file = "$dir/bearerbox.log"
log-level = $log_level
store-type = file
store-location = "$dir/kannel.store"
dlr-storage = internal
$core
EOF
        local i
        for i in $(seq "$smscs"); do
            cat << EOF

group = smsc
smsc = smpp
smsc-id = sim
smsc-admin-id = sim$i
host = 127.0.0.1
port = $port
transceiver-mode = true
smsc-username = peer
smsc-password = secret
system-type = ""
max-pending-submits = $window
log-level = 2
EOF
        done
        cat << EOF

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $kannel_box_port
sendsms-port = $kannel_sendsms_port
log-file = "$dir/smsbox.log"
log-level = 4

group = sendsms-user
username = bench
password = bench
EOF
    } > "$dir/kannel.conf"
}

kannel_status() { curl -sf "http://127.0.0.1:$kannel_admin_port/status.txt?password=bench"; }

# kannel_online N: N smsc connections are online.
kannel_online() { [[ $(kannel_status | grep -c '(online ') -ge $1 ]]; }

kannel_smsbox_connected() { kannel_status | grep -q '^ *smsbox:'; }

# kannel_queued: messages waiting for an SMSC, from the status page's SMS line.
kannel_queued() {
    kannel_status | python3 -c '
import re, sys
print(re.search(r"SMS: received \d+ \(\d+ queued\), sent \d+ \((\d+) queued\)", sys.stdin.read())[1])'
}

# start_kannel DIR: starts bearerbox, then smsbox once bearerbox takes box connections (smsbox
# gives up at once when it cannot connect: gw/shared.c, connect_to_bearerbox). Sets
# bearerbox_pid and smsbox_pid.
start_kannel() {
    local dir=$1
    bearerbox -v 2 "$dir/kannel.conf" >> "$dir/bearerbox.out" 2>&1 &
    bearerbox_pid=$!
    pids+=("$bearerbox_pid")
    # Every 10 ms: after a kill -9 this wait is part of the time to serving again.
    local deadline=$((SECONDS + 30))
    until port_open "$kannel_box_port"; do
        [[ $SECONDS -lt $deadline ]] || die "kannel: bearerbox's box port: not within 30 s"
        sleep 0.01
    done
    # smsbox logs only panics: outside the e2e work every receipt comes back with no dlr-url to
    # call (none is given, as Flit is given no webhook), and smsbox would log an error line for
    # each.
    smsbox -v 4 "$dir/kannel.conf" >> "$dir/smsbox.out" 2>&1 &
    smsbox_pid=$!
    pids+=("$smsbox_pid")
}

# ---------------------------------------------------------------- Flit

admin() {
    local method=$1 path=$2 body=${3:-}
    curl -sf -X "$method" "http://127.0.0.1:$flit_port$path" -H "Authorization: Bearer $admin_token" \
        -H 'Content-Type: application/json' ${body:+-d "$body"}
}

# start_flit_async DIR [ENV...]: `flit serve` on DIR/data with the bench's admin token, the
# chosen store and ENV (NAME=VALUE). Sets flit_pid.
start_flit_async() {
    local dir=$1
    shift
    env FLIT_ADMIN_TOKEN=$admin_token "$@" "$flit_bin" serve --data-dir "$dir/data" \
        --listen "127.0.0.1:$flit_port" ${flit_storage:+--storage "$flit_storage"} >> "$dir/flit.log" 2>&1 &
    flit_pid=$!
    pids+=("$flit_pid")
}

# start_flit DIR [ENV...]: the same, then waits for /health (saying why if flit exits first: a
# --flit-storage this build does not have, say).
start_flit() {
    start_flit_async "$@"
    local deadline=$((SECONDS + 30))
    until curl -sf -o /dev/null "http://127.0.0.1:$flit_port/health"; do
        kill -0 "$flit_pid" 2> /dev/null || die "flit exited at start: $(tail -n 1 "$1/flit.log")"
        [[ $SECONDS -lt $deadline ]] || die "flit: /health: not within 30 s"
        sleep 0.1
    done
}

# setup_flit DIR CREDITS BINDS PORT: the bootstrap tenant (flit_key, flit_tenant) with its rate
# limit out of the way and CREDITS credits; BINDS transceiver binds to PORT in one default route
# (bind ids in flit_binds).
setup_flit() {
    local dir=$1 credits=$2 binds=$3 port=$4
    wait_for 10 "flit: bootstrap.json" test -s "$dir/data/bootstrap.json"
    flit_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiKey"])' "$dir/data/bootstrap.json")
    flit_tenant=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenantId"])' "$dir/data/bootstrap.json")
    admin PATCH "/admin/v1/tenants/$flit_tenant" '{"rateLimitPerMinute": 100000000}' > /dev/null
    admin POST "/admin/v1/tenants/$flit_tenant/credits" "{\"amount\": $credits, \"type\": \"PURCHASE\"}" > /dev/null
    flit_binds=()
    local i
    for i in $(seq "$binds"); do
        flit_binds+=("$(admin POST /admin/v1/binds "{\"name\": \"sim$i\", \"host\": \"127.0.0.1\", \"port\": $port,
            \"systemId\": \"peer\", \"password\": \"secret\", \"bindMode\": \"transceiver\", \"windowSize\": $window, \"tps\": 0}" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')")
    done
    local ids
    ids=$(printf '"%s",' "${flit_binds[@]}")
    admin POST /admin/v1/routes "{\"prefix\": \"\", \"bindIds\": [${ids%,}], \"priority\": 0}" > /dev/null
}

flit_bound() {
    local bind
    for bind in "${flit_binds[@]}"; do
        admin GET "/admin/v1/binds/$bind" | grep -q '"bound":true' || return 1
    done
}

flit_send() {
    curl -sf -o /dev/null "http://127.0.0.1:$flit_port/api/v1/sms/send" -H "Authorization: Bearer $flit_key" \
        -H 'Content-Type: application/json' -d "$1"
}

# flit_metric NAME LABEL: the value of NAME{…LABEL…} on /metrics (0 when absent).
flit_metric() {
    curl -sf "http://127.0.0.1:$flit_port/metrics" | python3 -c '
import sys
name, label = sys.argv[1:]
total = 0.0
for line in sys.stdin:
    if line.startswith(name + "{") and label in line.split("}")[0]:
        total += float(line.rsplit(" ", 1)[1])
print(f"{total:.0f}")' "$1" "$2"
}

# ---------------------------------------------------------------- single

single_columns() { echo round server accepted_per_s p50_ms p99_ms slowest_connect_ms ok not_ok load_s submit_per_s receipt_per_s submits receipts cpu_s smsc_cpu_s load_average; }

# measure_single DIR SERVER CPU_PIDS OHA_ARGS...: runs the load; for a gateway (CPU_PIDS not
# empty) then waits for every submit and receipt at the SMSC; appends a row to runs.tsv.
measure_single() {
    local dir=$1 server=$2 cpu_pids=$3
    shift 3
    local base_submits=0 base_receipts=0 cpu_before=0 smsc_before=0
    if [[ -n $cpu_pids ]]; then
        base_submits=$(smsc_count "$dir" submits)
        base_receipts=$(smsc_count "$dir" receipts)
        # shellcheck disable=SC2086 # a list of pids
        cpu_before=$(cpu_seconds $cpu_pids)
        smsc_before=$(cpu_seconds "$smsc_pid")
    fi
    local started finished load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    started=$(now_ms)
    oha_run "$dir" "$messages" "$connections" "$@"
    finished=$(now_ms)
    local submit_rate=- receipt_rate=- submits=- receipts=- cpu=- smsc_cpu=-
    if [[ -n $cpu_pids ]]; then
        local want_submits=$((base_submits + messages)) want_receipts=$((base_receipts + messages))
        wait_for 600 "$server: $messages receipts at the SMSC" smsc_has "$dir" receipts "$want_receipts"
        # What a gateway still does after the last receipt (Kannel hands it to smsbox, Flit
        # records the message final) counts too; a second idle costs either next to nothing.
        sleep 1
        local cpu_after smsc_after
        # shellcheck disable=SC2086
        cpu_after=$(cpu_seconds $cpu_pids)
        smsc_after=$(cpu_seconds "$smsc_pid")
        submits=$(($(smsc_count "$dir" submits) - base_submits))
        receipts=$(($(smsc_count "$dir" receipts) - base_receipts))
        [[ $(smsc_count "$dir" submits) -ge $want_submits ]] || die "$server: fewer submits than receipts"
        submit_rate=$(calc "f'{$messages / (($(smsc_count "$dir" lastSubmitAt) - $started) / 1000):.0f}'")
        receipt_rate=$(calc "f'{$messages / (($(smsc_count "$dir" lastReceiptAt) - $started) / 1000):.0f}'")
        cpu=$(calc "f'{$cpu_after - $cpu_before:.2f}'")
        smsc_cpu=$(calc "f'{$smsc_after - $smsc_before:.2f}'")
    fi
    local rate p50 p99 connect ok not_ok
    read -r rate p50 p99 connect ok not_ok <<< "$(oha_fields "$dir")"
    row "$runs" "$round" "$server" "$(calc "f'{$rate:.0f}'")" "$p50" "$p99" "$connect" "$ok" "$not_ok" \
        "$(calc "f'{($finished - $started) / 1000:.2f}'")" "$submit_rate" "$receipt_rate" "$submits" "$receipts" \
        "$cpu" "$smsc_cpu" "$load_average"
    say "$server: $(calc "f'{$rate:.0f}'") accepted/s, p50 $p50 ms, p99 $p99 ms, $receipt_rate receipts/s, $cpu CPU s"
    [[ $not_ok -eq 0 ]] || die "$server: some requests were not accepted (see $dir/oha.json)"
}

run_single_kannel() {
    local dir=$1
    start_smsc "$dir"
    kannel_config "$dir" "$smsc_port" 1
    start_kannel "$dir"
    wait_for 30 "kannel: the bind to the SMSC" kannel_online 1
    local url
    url=$(kannel_url 1)
    wait_for 30 "kannel: smsbox's sendsms port" curl -sf -o /dev/null "$url"
    wait_for 30 "kannel: the first message's receipt" smsc_has "$dir" receipts 1
    measure_single "$dir" kannel "$bearerbox_pid $smsbox_pid" "$url"
}

run_single_flit() {
    local dir=$1
    start_smsc "$dir"
    start_flit "$dir"
    setup_flit "$dir" $((messages + 10)) 1 "$smsc_port"
    wait_for 30 "flit: the bind to the SMSC" flit_bound
    local body
    body=$(flit_body 1)
    flit_send "$body" || die "flit: the first send failed"
    wait_for 30 "flit: the first message's receipt" smsc_has "$dir" receipts 1
    measure_single "$dir" flit "$flit_pid" -m POST -H "Authorization: Bearer $flit_key" -T application/json -d "$body" \
        "http://127.0.0.1:$flit_port/api/v1/sms/send"
}

start_ceiling() {
    "$ceiling_bin" --listen "127.0.0.1:$ceiling_port" > "$1/ceiling.log" 2>&1 &
    pids+=("$!")
    wait_for 10 "the ceiling listening" grep -q '^LISTENING' "$1/ceiling.log"
}

run_single_ceiling() {
    local dir=$1
    start_ceiling "$dir"
    measure_single "$dir" ceiling "" -m POST -H "Authorization: Bearer none" -T application/json -d "$(flit_body 1)" \
        "http://127.0.0.1:$ceiling_port/api/v1/sms/send"
}

# ---------------------------------------------------------------- bulk

bulk_columns() { echo round server recipients_per_s http_recipients_per_s p50_ms p99_ms slowest_connect_ms ok not_ok taken_in_s cpu_s smsc_cpu_s load_average; }

# kannel_taken_in [TARGET FILE]: what bearerbox has taken in, from its status page: sent to an
# SMSC, failed, and queued (for an SMSC, or at one). Not its store size, which holds one
# recipient per request (see the top). Parts submitted and not yet answered (at most a window)
# are in none of these counts. Without arguments it prints the count; with them it polls every
# 20 ms and writes to FILE the time (Unix ms) at which the count is TARGET less a window.
kannel_taken_in() {
    python3 - "http://127.0.0.1:$kannel_admin_port/status.txt?password=bench" "${1:-}" "${2:-}" "$window" << 'EOF'
import re, sys, time, urllib.request

url, target, path, window = sys.argv[1:]

def taken_in():
    page = urllib.request.urlopen(url, timeout=5).read().decode()
    m = re.search(r"SMS: received \d+ \(\d+ queued\), sent (\d+) \((\d+) queued\)", page)
    smscs = re.findall(r"failed (\d+), queued (\d+) msgs", page)
    return int(m[1]) + int(m[2]) + sum(int(f) + int(q) for f, q in smscs)

if not target:
    print(taken_in())
    sys.exit()
while True:
    try:
        if taken_in() >= int(target) - int(window):
            open(path, "w").write(f"{int(time.time() * 1000)}\n")
            break
    except OSError:
        pass
    time.sleep(0.02)
EOF
}

# measure_bulk DIR SERVER CPU_PIDS OHA_ARGS...
measure_bulk() {
    local dir=$1 server=$2 cpu_pids=$3
    shift 3
    local total=$((bulk_requests * bulk_size)) cpu_before=0 smsc_before=0 base=0
    if [[ -n $cpu_pids ]]; then
        # shellcheck disable=SC2086
        cpu_before=$(cpu_seconds $cpu_pids)
        smsc_before=$(cpu_seconds "$smsc_pid")
    fi
    [[ $server != kannel ]] || base=$(kannel_taken_in)
    local started finished taken_in load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    started=$(now_ms)
    if [[ $server == kannel ]]; then
        kannel_taken_in $((base + total)) "$dir/taken-in.ms" &
        pids+=("$!")
    fi
    oha_run "$dir" "$bulk_requests" "$bulk_connections" "$@"
    finished=$(now_ms)
    taken_in=$finished
    if [[ $server == kannel ]]; then
        wait_for 600 "kannel: $total recipients taken in" test -s "$dir/taken-in.ms"
        taken_in=$(cat "$dir/taken-in.ms")
        ((taken_in > finished)) || taken_in=$finished
    fi
    local cpu=- smsc_cpu=-
    if [[ -n $cpu_pids ]]; then
        # shellcheck disable=SC2086
        cpu=$(calc "f'{$(cpu_seconds $cpu_pids) - $cpu_before:.2f}'")
        smsc_cpu=$(calc "f'{$(cpu_seconds "$smsc_pid") - $smsc_before:.2f}'")
    fi
    local rate p50 p99 connect ok not_ok
    read -r rate p50 p99 connect ok not_ok <<< "$(oha_fields "$dir")"
    local taken_rate http_rate
    taken_rate=$(calc "f'{$total / (($taken_in - $started) / 1000):.0f}'")
    http_rate=$(calc "f'{$rate * $bulk_size:.0f}'")
    row "$runs" "$round" "$server" "$taken_rate" "$http_rate" "$p50" "$p99" "$connect" "$ok" "$not_ok" \
        "$(calc "f'{($taken_in - $started) / 1000:.2f}'")" "$cpu" "$smsc_cpu" "$load_average"
    say "$server: $taken_rate recipients/s taken in ($http_rate/s by the answers), p50 $p50 ms, p99 $p99 ms, $cpu CPU s"
    [[ $not_ok -eq 0 ]] || die "$server: some requests were not accepted (see $dir/oha.json)"
}

run_bulk_kannel() {
    local dir=$1
    start_smsc "$dir"
    kannel_config "$dir" "$smsc_port" 1
    start_kannel "$dir"
    wait_for 30 "kannel: the bind to the SMSC" kannel_online 1
    wait_for 30 "kannel: smsbox's sendsms port" curl -sf -o /dev/null "$(kannel_url 1)"
    wait_for 30 "kannel: the first message at the SMSC" smsc_has "$dir" submits 1
    measure_bulk "$dir" kannel "$bearerbox_pid $smsbox_pid" "$(kannel_url "$bulk_size")"
}

run_bulk_flit() {
    local dir=$1
    start_smsc "$dir"
    start_flit "$dir"
    setup_flit "$dir" $((bulk_requests * bulk_size + 10)) 1 "$smsc_port"
    wait_for 30 "flit: the bind to the SMSC" flit_bound
    flit_send "$(flit_body 1)" || die "flit: the first send failed"
    wait_for 30 "flit: the first message at the SMSC" smsc_has "$dir" submits 1
    flit_body "$bulk_size" > "$dir/body.json"
    measure_bulk "$dir" flit "$flit_pid" -m POST -H "Authorization: Bearer $flit_key" -T application/json \
        -D "$dir/body.json" "http://127.0.0.1:$flit_port/api/v1/sms/send"
}

run_bulk_ceiling() {
    local dir=$1
    start_ceiling "$dir"
    flit_body "$bulk_size" > "$dir/body.json"
    measure_bulk "$dir" ceiling "" -m POST -H "Authorization: Bearer none" -T application/json \
        -D "$dir/body.json" "http://127.0.0.1:$ceiling_port/api/v1/sms/send"
}

# ---------------------------------------------------------------- e2e

e2e_columns() { echo round server recipients_per_s p99_ms ok not_ok load_s submit_per_s receipt_per_s webhook_per_s last_webhook_s submits receipts webhooks duplicates cpu_s smsc_cpu_s receiver_cpu_s load_average; }

# measure_e2e DIR SERVER CPU_PIDS OHA_ARGS...: the load, then every receipt and final webhook;
# fails unless each count is exactly the number of messages.
measure_e2e() {
    local dir=$1 server=$2 cpu_pids=$3
    shift 3
    local total=$e2e_messages
    local base_submits base_receipts base_finals cpu_before smsc_before receiver_before
    base_submits=$(smsc_count "$dir" submits)
    base_receipts=$(smsc_count "$dir" receipts)
    base_finals=$(receiver_count "$dir" finals)
    # shellcheck disable=SC2086
    cpu_before=$(cpu_seconds $cpu_pids)
    smsc_before=$(cpu_seconds "$smsc_pid")
    receiver_before=$(cpu_seconds "$receiver_pid")
    local started finished load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    started=$(now_ms)
    oha_run "$dir" $((total / e2e_per_request)) "$e2e_connections" "$@"
    finished=$(now_ms)
    wait_for 600 "$server: $total receipts at the SMSC" smsc_has "$dir" receipts $((base_receipts + total))
    wait_for 600 "$server: $total final webhooks at the receiver" receiver_has "$dir" finals $((base_finals + total))
    # Anything more (a duplicate submit, receipt or webhook) would come now.
    sleep 1
    local cpu smsc_cpu receiver_cpu
    # shellcheck disable=SC2086
    cpu=$(calc "f'{$(cpu_seconds $cpu_pids) - $cpu_before:.2f}'")
    smsc_cpu=$(calc "f'{$(cpu_seconds "$smsc_pid") - $smsc_before:.2f}'")
    receiver_cpu=$(calc "f'{$(cpu_seconds "$receiver_pid") - $receiver_before:.2f}'")
    local submits receipts finals duplicates
    submits=$(($(smsc_count "$dir" submits) - base_submits))
    receipts=$(($(smsc_count "$dir" receipts) - base_receipts))
    finals=$(($(receiver_count "$dir" finals) - base_finals))
    duplicates=$(receiver_count "$dir" duplicates)
    local rate p50 p99 connect ok not_ok
    read -r rate p50 p99 connect ok not_ok <<< "$(oha_fields "$dir")"
    local submit_rate receipt_rate webhook_rate last_webhook_s
    submit_rate=$(calc "f'{$total / (($(smsc_count "$dir" lastSubmitAt) - $started) / 1000):.0f}'")
    receipt_rate=$(calc "f'{$total / (($(smsc_count "$dir" lastReceiptAt) - $started) / 1000):.0f}'")
    last_webhook_s=$(calc "f'{($(receiver_count "$dir" lastFinalAt) - $started) / 1000:.2f}'")
    webhook_rate=$(calc "f'{$total / $last_webhook_s:.0f}'")
    row "$runs" "$round" "$server" "$(calc "f'{$rate * $e2e_per_request:.0f}'")" "$p99" "$ok" "$not_ok" \
        "$(calc "f'{($finished - $started) / 1000:.2f}'")" "$submit_rate" "$receipt_rate" "$webhook_rate" "$last_webhook_s" \
        "$submits" "$receipts" "$finals" "$duplicates" "$cpu" "$smsc_cpu" "$receiver_cpu" "$load_average"
    say "$server: $submit_rate submit_sm/s, $receipt_rate receipts/s, $webhook_rate webhooks/s (the last at $last_webhook_s s), $cpu CPU s"
    [[ $not_ok -eq 0 ]] || die "$server: some requests were not accepted (see $dir/oha.json)"
    [[ $submits -eq $total ]] || die "$server: $submits submit_sm for $total messages"
    [[ $receipts -eq $total ]] || die "$server: $receipts receipts acknowledged for $total messages"
    [[ $(smsc_count "$dir" receiptErrors) -eq 0 ]] || die "$server: receipts answered with an error (see $dir/smsc.log)"
    [[ $finals -eq $total ]] || die "$server: $finals distinct final webhooks for $total messages"
    [[ $(receiver_count "$dir" unreadable) -eq 0 ]] || die "$server: webhooks the receiver could not read"
}

receiver_url() { echo "http://127.0.0.1:$receiver_port/$1"; }

run_e2e_kannel() {
    local dir=$1
    start_smsc "$dir"
    start_receiver "$dir"
    kannel_config "$dir" "$smsc_port" "$e2e_binds"
    start_kannel "$dir"
    wait_for 30 "kannel: $e2e_binds binds to the SMSC" kannel_online "$e2e_binds"
    local dlr_url
    dlr_url="$(receiver_url kannel)?type=%d&id=%F&to=%p"
    wait_for 30 "kannel: smsbox's sendsms port" curl -sf -o /dev/null "$(kannel_url 1 19 "$dlr_url")"
    wait_for 30 "kannel: the first message's webhook" receiver_has "$dir" finals 1
    measure_e2e "$dir" kannel "$bearerbox_pid $smsbox_pid" "$(kannel_url "$e2e_per_request" 19 "$dlr_url")"
    # Every receipt matched a DLR entry: none is left waiting.
    local waiting
    waiting=$(kannel_status | sed -n 's/^DLR: \([0-9][0-9]*\) queued.*/\1/p')
    [[ $waiting == 0 ]] || die "kannel: ${waiting:-an unknown number of} DLR entries left unmatched (see $dir)"
}

run_e2e_flit() {
    local dir=$1
    start_smsc "$dir"
    start_receiver "$dir"
    start_flit "$dir" FLIT_WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true
    setup_flit "$dir" $((e2e_messages + 10)) "$e2e_binds" "$smsc_port"
    wait_for 30 "flit: $e2e_binds binds to the SMSC" flit_bound
    curl -sf -o /dev/null "http://127.0.0.1:$flit_port/api/v1/webhooks" -H "Authorization: Bearer $flit_key" \
        -H 'Content-Type: application/json' \
        -d "{\"url\": \"$(receiver_url flit)\", \"events\": [\"message.delivered\", \"message.failed\"]}" ||
        die "flit: the webhook subscription failed"
    flit_send "$(flit_body 1)" || die "flit: the first send failed"
    wait_for 30 "flit: the first message's webhook" receiver_has "$dir" finals 1
    flit_body "$e2e_per_request" > "$dir/body.json"
    measure_e2e "$dir" flit "$flit_pid" -m POST -H "Authorization: Bearer $flit_key" -T application/json \
        -D "$dir/body.json" "http://127.0.0.1:$flit_port/api/v1/sms/send"
    local delivered unmatched
    delivered=$(flit_metric flit_receipts_total 'result="delivered"')
    unmatched=$(flit_metric flit_receipts_total 'result="unmatched"')
    [[ $delivered -eq $((e2e_messages + 1)) && $unmatched -eq 0 ]] ||
        die "flit: $delivered receipts matched as delivered and $unmatched unmatched for $((e2e_messages + 1)) messages"
}

# ---------------------------------------------------------------- backlog

backlog_columns() { echo round server recipients accept_s recipients_per_s rss_mb serving_s first_send_s requeued_s queued_after rss_after_mb load_average; }

kannel_queued_at_least() { [[ $(kannel_queued) -ge $1 ]]; }

# flit_pending: recipients of the tenant's PENDING messages, read through the API.
flit_pending() { restart_probe flit - 0 pending; }

# restart_probe SERVER T0_FILE TOTAL [pending]: polls every 10 ms for serving again, then for a
# first send accepted, then for TOTAL queued again; prints the three times in seconds from the
# start (Unix ms in T0_FILE, written as the server is started) to the start of the check that
# passed (so that how long a check takes, reading the API's pages or a status page, is not in
# the figure). With `pending`: prints Flit's pending recipients once.
restart_probe() {
    python3 - "$1" "$2" "$3" "${4:-}" "$flit_port" "${flit_key:-}" "$(flit_body 1)" \
        "$kannel_admin_port" "$(kannel_url 1)" << 'EOF'
import json, re, sys, time, urllib.request

server, t0_file, total, mode, flit_port, key, body, admin_port, kannel_send = sys.argv[1:]
flit = f"http://127.0.0.1:{flit_port}"
status_page = f"http://127.0.0.1:{admin_port}/status.txt?password=bench"

def fetch(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:  # HTTPError unless 2xx
        return answer.read().decode()

def flit_pending():
    total, page = 0, 1
    while True:
        data = json.loads(fetch(f"{flit}/api/v1/sms?status=PENDING&limit=100&page={page}",
                                headers={"Authorization": f"Bearer {key}"}))["data"]
        total += sum(message["recipientCount"] for message in data["messages"])
        if len(data["messages"]) < 100:
            return total
        page += 1

def kannel_queued():
    page = fetch(status_page)
    return int(re.search(r"SMS: received \d+ \(\d+ queued\), sent \d+ \((\d+) queued\)", page)[1])

if mode == "pending":
    print(flit_pending())
    sys.exit()

checks = {
    "kannel": [
        ("serving again", lambda: re.search(r"^ *smsbox:", fetch(status_page), re.M)),
        ("a first send accepted", lambda: fetch(kannel_send) is not None),
        (f"{total} queued again", lambda: kannel_queued() >= int(total)),
    ],
    "flit": [
        ("serving again", lambda: fetch(f"{flit}/health") is not None),
        ("a first send accepted", lambda: fetch(f"{flit}/api/v1/sms/send", body.encode(), {
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"}) is not None),
        (f"{total} queued again", lambda: flit_pending() >= int(total)),
    ],
}[server]
times = []
for what, check in checks:
    deadline = time.time() + 1200
    while True:
        attempt = time.time()
        try:
            if check():
                break
        except OSError:  # refused, reset, or an answer other than 2xx
            pass
        if time.time() > deadline:
            sys.exit(f"{server}: {what}: not within 1200 s")
        time.sleep(0.01)
    times.append(attempt)
t0 = int(open(t0_file).read()) / 1000
print(" ".join(f"{t - t0:.2f}" for t in times))
EOF
}

# measure_backlog DIR SERVER: the load (the server is up, every bind down), RSS, kill -9, start
# again, the times to serving, to a first send and to everything queued again.
measure_backlog() {
    local dir=$1 server=$2
    local total=$backlog
    local started finished load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    started=$(now_ms)
    if [[ $server == kannel ]]; then
        # One recipient a request: with several, bearerbox's store would keep one of each
        # request, and give back only those after the kill -9 (see the top).
        oha_run "$dir" "$total" "$connections" "$(kannel_url 1)"
        wait_for 1200 "kannel: $total recipients queued" kannel_queued_at_least "$total"
    else
        flit_body "$bulk_size" > "$dir/body.json"
        oha_run "$dir" $((total / bulk_size)) "$backlog_connections" -m POST -H "Authorization: Bearer $flit_key" \
            -T application/json -D "$dir/body.json" "http://127.0.0.1:$flit_port/api/v1/sms/send"
    fi
    finished=$(now_ms)
    local rate p50 p99 connect ok not_ok
    read -r rate p50 p99 connect ok not_ok <<< "$(oha_fields "$dir")"
    [[ $not_ok -eq 0 ]] || die "$server: some requests were not accepted (see $dir/oha.json)"
    # What is still settling (a store dump, a commit) settles before RSS is read.
    sleep 2
    local rss
    if [[ $server == kannel ]]; then
        [[ $(kannel_queued) -eq $total ]] || die "kannel: $(kannel_queued) queued for $total"
        rss=$(rss_mb "$bearerbox_pid" "$smsbox_pid")
        kill_9 "$bearerbox_pid" "$smsbox_pid"
    else
        [[ $(flit_pending) -eq $total ]] || die "flit: $(flit_pending) pending for $total"
        rss=$(rss_mb "$flit_pid")
        kill_9 "$flit_pid"
    fi
    say "$server: $total recipients queued in $(calc "f'{($finished - $started) / 1000:.2f}'") s, RSS $rss MB; kill -9, start again"
    # The probe first (python takes a moment to start), then the clock, then the server.
    local probe serving first_send requeued rss_after queued_after
    restart_probe "$server" "$dir/restart.t0" $((total + 1)) > "$dir/restart.times" &
    probe=$!
    sleep 0.5
    now_ms > "$dir/restart.t0"
    if [[ $server == kannel ]]; then
        start_kannel "$dir"
        wait "$probe" || die "kannel: not back after the restart"
        sleep 2
        queued_after=$(kannel_queued)
        rss_after=$(rss_mb "$bearerbox_pid" "$smsbox_pid")
    else
        start_flit_async "$dir"
        wait "$probe" || die "flit: not back after the restart"
        sleep 2
        queued_after=$(flit_pending)
        rss_after=$(rss_mb "$flit_pid")
    fi
    read -r serving first_send requeued < "$dir/restart.times"
    row "$runs" "$round" "$server" "$total" "$(calc "f'{($finished - $started) / 1000:.2f}'")" \
        "$(calc "f'{$total / (($finished - $started) / 1000):.0f}'")" "$rss" "$serving" "$first_send" "$requeued" \
        "$queued_after" "$rss_after" "$load_average"
    say "$server: serving again after $serving s, a first send accepted after $first_send s, $queued_after queued again after $requeued s, RSS $rss_after MB"
    [[ $queued_after -eq $((total + 1)) ]] ||
        die "$server: $queued_after queued after the restart for $total + the first send"
    # The stores are hundreds of MB each at the default size; the logs stay.
    stop_all
    rm -rf "$dir/data" "$dir"/kannel.store*
}

run_backlog_kannel() {
    local dir=$1
    kannel_config "$dir" "$down_port" 1 "sms-outgoing-queue-limit = $((2 * backlog + 1000))"
    start_kannel "$dir"
    wait_for 30 "kannel: bearerbox's status page" kannel_status
    wait_for 30 "kannel: smsbox connected" kannel_smsbox_connected
    measure_backlog "$dir" kannel
}

run_backlog_flit() {
    local dir=$1
    start_flit "$dir"
    setup_flit "$dir" $((backlog + 10)) 1 "$down_port"
    measure_backlog "$dir" flit
}

# ---------------------------------------------------------------- the runs

# servers WORK: the servers the work makes sense for, in the order each round runs them.
servers() {
    case $1 in
        single | bulk) echo kannel flit ceiling ;;
        e2e | backlog) echo kannel flit ;;
    esac
}

for w in "${works[@]}"; do
    work_now=$w
    wout=$out/$w
    mkdir -p "$wout"
    runs=$wout/runs.tsv
    "${w}_columns" | tr ' ' '\t' > "$runs"
    for round in $(seq "$rounds"); do
        say "$w: round $round of $rounds (load average $(cut -d' ' -f1 /proc/loadavg))"
        for server in $(servers "$w"); do
            dir=$wout/round$round-$server
            mkdir -p "$dir"
            "run_${w}_$server" "$dir"
            stop_all
            sleep 2
        done
    done
    echo "load average at the end of $w: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/setup.txt"
    python3 - "$w" "$runs" "$out/setup.txt" << 'EOF' | tee "$wout/summary.md"
import csv, statistics, sys

work, runs_path, setup_path = sys.argv[1:]
rows = list(csv.DictReader(open(runs_path), delimiter="\t"))
servers = ["kannel", "flit", "ceiling"]
by = {s: [r for r in rows if r["server"] == s] for s in servers}

def values(server, field):
    return [float(r[field]) for r in by[server] if r.get(field, "-") != "-"]

def median(server, field):
    v = values(server, field)
    return statistics.median(v) if v else None

def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"

def with_runs(v, fmt):
    if not v:
        return "—"
    return f"{fmt.format(statistics.median(v))} (" + " / ".join(fmt.format(x) for x in v) + ")"

def per_cpu(server, count_field):
    return [float(r[count_field]) / float(r["cpu_s"]) for r in by[server]
            if r["cpu_s"] not in ("-", "0.00") and r[count_field] != "-"]

# (name, field, format, whether a ratio means anything)
figures = {
    "single": [
        ("accepted/s (HTTP, closed loop)", "accepted_per_s", "{:,.0f}", True),
        ("accept latency p50, ms", "p50_ms", "{:.2f}", True),
        ("accept latency p99, ms", "p99_ms", "{:.2f}", True),
        ("slowest connection setup, ms", "slowest_connect_ms", "{:.1f}", False),
        ("end to end: submit_sm/s (load start to last submit)", "submit_per_s", "{:,.0f}", True),
        ("end to end: receipts/s (load start to last receipt)", "receipt_per_s", "{:,.0f}", True),
        ("gateway CPU seconds for the run", "cpu_s", "{:.2f}", True),
        ("SMSC (node) CPU seconds for the run", "smsc_cpu_s", "{:.2f}", False),
    ],
    "bulk": [
        ("recipients accepted/s (load start to the last one taken in)", "recipients_per_s", "{:,.0f}", True),
        ("recipients/s by the HTTP answers (oha's requests/s × 1,000)", "http_recipients_per_s", "{:,.0f}", True),
        ("request latency p50, ms", "p50_ms", "{:.2f}", True),
        ("request latency p99, ms", "p99_ms", "{:.2f}", True),
        ("slowest connection setup, ms", "slowest_connect_ms", "{:.1f}", False),
        ("gateway CPU seconds, load start to the last one taken in", "cpu_s", "{:.2f}", True),
        ("SMSC (node) CPU seconds, same time", "smsc_cpu_s", "{:.2f}", False),
    ],
    "e2e": [
        ("submit_sm/s (load start to the last submit)", "submit_per_s", "{:,.0f}", True),
        ("receipts/s (load start to the last receipt)", "receipt_per_s", "{:,.0f}", True),
        ("final webhooks/s (load start to the last)", "webhook_per_s", "{:,.0f}", True),
        ("seconds from the load start to the last final webhook", "last_webhook_s", "{:.2f}", True),
        ("recipients accepted/s by the HTTP answers", "recipients_per_s", "{:,.0f}", True),
        ("request latency p99, ms", "p99_ms", "{:.2f}", True),
        ("gateway CPU seconds, load start to 1 s after the last webhook", "cpu_s", "{:.2f}", True),
        ("SMSC (node) CPU seconds, same time", "smsc_cpu_s", "{:.2f}", False),
        ("webhook receiver (node) CPU seconds, same time", "receiver_cpu_s", "{:.2f}", False),
        ("duplicate final webhooks (counted once)", "duplicates", "{:.0f}", False),
    ],
    "backlog": [
        ("recipients queued with every bind down", "recipients", "{:,.0f}", False),
        ("recipients accepted/s while queueing (Kannel: one per request)", "recipients_per_s", "{:,.0f}", False),
        ("RSS once all are queued, MB", "rss_mb", "{:,.0f}", True),
        ("kill -9 to serving again, s", "serving_s", "{:.2f}", True),
        ("kill -9 to a first send accepted, s", "first_send_s", "{:.2f}", True),
        ("kill -9 to all queued again, s", "requeued_s", "{:.2f}", True),
        ("queued after the restart (N + the first send)", "queued_after", "{:,.0f}", False),
        ("RSS 2 s after all are queued again, MB", "rss_after_mb", "{:,.0f}", True),
    ],
}[work]

print(f"## {work}")
print()
# The setup, less what belongs to the other works of the run.
others = [w for w in ("single", "bulk", "e2e", "backlog") if w != work]
for line in open(setup_path):
    if not any(line.startswith(f"{w}:") or line.startswith(f"load average at the end of {w}:") for w in others):
        print(line.rstrip())
print()
print("| figure (median of the runs in brackets) | Kannel | Flit | ceiling | Flit / Kannel | Flit / ceiling |")
print("|---|---|---|---|---|---|")
for name, field, fmt, ratios in figures:
    flit = median("flit", field)
    to_kannel = ratio(flit, median("kannel", field)) if ratios else "—"
    to_ceiling = ratio(flit, median("ceiling", field)) if ratios else "—"
    cells = " | ".join(with_runs(values(s, field), fmt) for s in servers)
    print(f"| {name} | {cells} | {to_kannel} | {to_ceiling} |")
if work in ("single", "e2e"):
    count = "submits" if work == "single" else "webhooks"
    k, f = per_cpu("kannel", count), per_cpu("flit", count)
    km = statistics.median(k) if k else None
    fm = statistics.median(f) if f else None
    print(f"| messages per gateway CPU-second | {with_runs(k, '{:,.0f}')} | {with_runs(f, '{:,.0f}')} | — "
          f"| {ratio(fm, km)} | — |")
print()
print("Rates: higher is better; latency, times, RSS and CPU seconds: lower is better (a ratio under 1 "
      "is Flit ahead).")
if work == "bulk":
    print("Kannel answers a multi-recipient sendsms once its first recipient is stored, so its HTTP "
          "figures may overstate what it has taken in; the first row reads bearerbox's status page.")
if work == "e2e":
    print("No ceiling: a bare HTTP handler has no SMSC, receipts or webhooks. Every run had exactly N "
          "submit_sm, N receipts and N distinct final webhooks, every receipt matched.")
if work == "backlog":
    print("No ceiling: a bare HTTP handler keeps nothing. Serving: Flit's /health answers 200; Kannel's "
          "status page answers with smsbox connected.")
EOF
    cat "$wout/summary.md" >> "$out/summary.md"
    echo >> "$out/summary.md"
done
say "raw runs and logs: $out/ (summaries: $out/summary.md)"
