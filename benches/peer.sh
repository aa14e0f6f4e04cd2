#!/usr/bin/env bash
# Flit beside Kannel and beside the ceiling of the machine, on the same work, in one run.
#
#   bash benches/peer.sh [--messages N] [--connections C] [--rounds R] [--flit-storage redb|sled|fjall]
#
# Each round runs three servers one after the other, each on a fresh data dir:
#
#   kannel   Kannel (Debian's package: bearerbox + smsbox, store-type = file, DLR storage in
#            memory), an SMPP transceiver bind to the simulated SMSC, window (max-pending-submits)
#            50; sends are `GET /cgi-bin/sendsms?…&dlr-mask=3` on smsbox's sendsms port.
#   flit     `flit serve` (release build; its default store unless --flit-storage, passed to
#            `--storage`), a transceiver bind to the same SMSC through the admin API, window 50;
#            sends are `POST /api/v1/sms/send` with the bootstrap key.
#   ceiling  benches/ceiling: an axum handler that parses the same JSON and answers a small JSON,
#            nothing else: the limit of this machine for this HTTP load.
#
# The load is the same for all three: `oha` (one install, the same version) sends N single-recipient
# messages over C keep-alive connections, closed loop. The SMSC is interop/smsc.js (node-smpp, an
# SMSC neither gateway wrote) in its quiet mode; it answers every submit_sm at once and sends a
# delivery receipt 100 ms later. From one run of each gateway the script takes
#   - accepted/s and latency: oha's requests/s and percentiles (every answer must be a success),
#   - end to end: N over the time from the start of the load to the N-th submit_sm at the SMSC
#     (and to the N-th receipt acknowledged by the gateway),
#   - the gateway's CPU seconds (utime + stime of its processes, from /proc) over that time.
# It prints a table of medians with the ratios Flit/Kannel and Flit/ceiling, and leaves the raw
# runs and every log under target/peer/<date>/.
#
# It installs what is missing (kannel with apt-get, oha with cargo install --locked, the SMSC's node
# packages with npm ci) and builds Flit and the ceiling in release once. Needs root or sudo for
# apt-get, cargo, node >= 18, curl and python3. Settings also come from the environment:
# PEER_MESSAGES, PEER_CONNECTIONS, PEER_ROUNDS, PEER_FLIT_STORAGE, PEER_RECEIPT_DELAY_MS,
# PEER_PORT_BASE (default 19600: the script uses that port and the 29 above it).
set -euo pipefail

messages=${PEER_MESSAGES:-20000}
connections=${PEER_CONNECTIONS:-64}
rounds=${PEER_ROUNDS:-3}
flit_storage=${PEER_FLIT_STORAGE:-}
receipt_delay_ms=${PEER_RECEIPT_DELAY_MS:-100}
port_base=${PEER_PORT_BASE:-19600}
window=50
while [[ $# -gt 0 ]]; do
    case $1 in
        --messages) messages=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --flit-storage) flit_storage=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "peer.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $flit_storage in
    '' | redb | sled | fjall) ;;
    *) echo "peer.sh: --flit-storage is redb, sled or fjall, not $flit_storage" >&2; exit 2 ;;
esac

flit_port=$port_base
ceiling_port=$((port_base + 1))
smsc_port=$((port_base + 2))
kannel_admin_port=$((port_base + 10))
kannel_box_port=$((port_base + 11))
kannel_sendsms_port=$((port_base + 12))

# The work every server gets: one recipient, one GSM-7 part, an approved sender.
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
runs=$out/runs.tsv
printf 'round\tserver\taccepted_per_s\tp50_ms\tp99_ms\tslowest_connect_ms\tok\tnot_ok\tload_s\tsubmit_per_s\treceipt_per_s\tsubmits\treceipts\tcpu_s\tsmsc_cpu_s\tload_average\n' > "$runs"

kannel_version=$(bearerbox -v 4 --version 2>&1 | sed -n "s/.*bearerbox version \`\\([^']*\\)'.*/\\1/p" | head -n 1)
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "flit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' || echo ' + uncommitted changes'), storage: ${flit_storage:-its default}"
    echo "kannel: ${kannel_version:-unknown} ($(dpkg-query -W -f='${Version}' kannel 2>/dev/null || echo 'not from dpkg'))"
    echo "oha: $(oha --version)"
    echo "node: $(node --version), smpp $(node -p 'require("./interop/node_modules/smpp/package.json").version')"
    echo "messages: $messages, connections: $connections, rounds: $rounds, window: $window, receipt delay: ${receipt_delay_ms} ms"
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
trap stop_all EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
for port in $flit_port $ceiling_port $smsc_port $kannel_admin_port $kannel_box_port $kannel_sendsms_port; do
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

now_ms() { date +%s%3N; }

start_smsc() {
    node interop/smsc.js --port "$smsc_port" --system-id peer --password secret \
        --receipt-delay-ms "$receipt_delay_ms" --fail-suffix '' --quiet 1 --counts-every-ms 100 \
        > "$1/smsc.log" 2> "$1/smsc.err" &
    smsc_pid=$!
    pids+=("$smsc_pid")
    wait_for 10 "the SMSC listening" grep -q '^LISTENING' "$1/smsc.log"
}

# The SMSC's latest count of FIELD (0 before its first COUNTS line).
smsc_count() {
    local line
    line=$(grep '^COUNTS' "$1/smsc.log" | tail -n 1)
    if [[ $line =~ \"$2\":([0-9]+) ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}
smsc_has() { [[ $(smsc_count "$1" "$2") -ge $3 ]]; }

# ---------------------------------------------------------------- one run

# measure DIR SERVER CPU_PIDS OHA_ARGS...: runs the load; for a gateway (CPU_PIDS not empty) then
# waits for every submit and receipt at the SMSC; appends a row to runs.tsv.
measure() {
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
    local started load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    started=$(now_ms)
    oha -n "$messages" -c "$connections" --no-tui --output-format json "$@" > "$dir/oha.json"
    local finished
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
        local last_submit last_receipt
        last_submit=$(smsc_count "$dir" lastSubmitAt)
        last_receipt=$(smsc_count "$dir" lastReceiptAt)
        [[ $(smsc_count "$dir" submits) -ge $want_submits ]] || die "$server: fewer submits than receipts"
        submit_rate=$(python3 -c "print(f'{$messages / (($last_submit - $started) / 1000):.0f}')")
        receipt_rate=$(python3 -c "print(f'{$messages / (($last_receipt - $started) / 1000):.0f}')")
        cpu=$(python3 -c "print(f'{$cpu_after - $cpu_before:.2f}')")
        smsc_cpu=$(python3 -c "print(f'{$smsc_after - $smsc_before:.2f}')")
    fi
    python3 - "$dir/oha.json" "$round" "$server" "$started" "$finished" \
        "$submit_rate" "$receipt_rate" "$submits" "$receipts" "$cpu" "$smsc_cpu" "$load_average" >> "$runs" << 'EOF'
import json, sys
path, round_, server, started, finished, *rest = sys.argv[1:]
report = json.load(open(path))
codes = {int(k): v for k, v in report.get("statusCodeDistribution", {}).items()}
ok = sum(v for k, v in codes.items() if 200 <= k < 300)
not_ok = sum(v for k, v in codes.items() if not 200 <= k < 300)
not_ok += sum(report.get("errorDistribution", {}).values())
latency = report["latencyPercentiles"]
load_s = (int(finished) - int(started)) / 1000
# oha counts a connection's setup in its first request's latency; the slowest shows a stall.
connect_ms = report["details"]["DNSDialup"]["slowest"] * 1000
print("\t".join([round_, server, f"{report['summary']['requestsPerSec']:.0f}",
                 f"{latency['p50'] * 1000:.2f}", f"{latency['p99'] * 1000:.2f}", f"{connect_ms:.1f}",
                 str(ok), str(not_ok), f"{load_s:.2f}", *rest]))
EOF
    local row
    row=$(tail -n 1 "$runs")
    say "$(echo "$row" | cut -f2-5,11,14 | tr '\t' ' ') (server accepted/s p50 p99 receipt/s cpu)"
    [[ $(echo "$row" | cut -f8) -eq 0 ]] || die "$server: some requests were not accepted (see $dir/oha.json)"
}

run_kannel() {
    local dir=$out/round$round-kannel
    mkdir -p "$dir"
    start_smsc "$dir"
    cat > "$dir/kannel.conf" << EOF
group = core
admin-port = $kannel_admin_port
admin-password = bench
status-password = bench
admin-allow-ip = "127.0.0.1"
smsbox-port = $kannel_box_port
box-allow-ip = "127.0.0.1"
log-file = "$dir/bearerbox.log"
log-level = 2
store-type = file
store-location = "$dir/kannel.store"
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $smsc_port
transceiver-mode = true
smsc-username = peer
smsc-password = secret
system-type = ""
max-pending-submits = $window
log-level = 2

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
    bearerbox -v 2 "$dir/kannel.conf" > "$dir/bearerbox.out" 2>&1 &
    local bearerbox_pid=$!
    pids+=("$bearerbox_pid")
    wait_for 30 "kannel: the bind to the SMSC" \
        sh -c "curl -sf 'http://127.0.0.1:$kannel_admin_port/status.txt?password=bench' | grep -q 'online'"
    # smsbox logs only panics: every receipt comes back with no dlr-url to call (none is given,
    # as Flit is given no webhook), and smsbox would log an error line for each.
    smsbox -v 4 "$dir/kannel.conf" > "$dir/smsbox.out" 2>&1 &
    local smsbox_pid=$!
    pids+=("$smsbox_pid")
    local url="http://127.0.0.1:$kannel_sendsms_port/cgi-bin/sendsms?username=bench&password=bench&from=$sender&to=$recipient&text=${text// /+}&dlr-mask=3"
    wait_for 30 "kannel: smsbox's sendsms port" curl -sf -o /dev/null "$url"
    wait_for 30 "kannel: the first message's receipt" smsc_has "$dir" receipts 1
    measure "$dir" kannel "$bearerbox_pid $smsbox_pid" "$url"
    stop_all
}

admin() {
    local method=$1 path=$2 body=${3:-}
    curl -sf -X "$method" "http://127.0.0.1:$flit_port$path" -H "Authorization: Bearer $admin_token" \
        -H 'Content-Type: application/json' ${body:+-d "$body"}
}

run_flit() {
    local dir=$out/round$round-flit
    mkdir -p "$dir"
    start_smsc "$dir"
    FLIT_ADMIN_TOKEN=$admin_token "$flit_bin" serve --data-dir "$dir/data" \
        --listen "127.0.0.1:$flit_port" ${flit_storage:+--storage "$flit_storage"} > "$dir/flit.log" 2>&1 &
    local flit_pid=$!
    pids+=("$flit_pid")
    wait_for 30 "flit: /health" curl -sf -o /dev/null "http://127.0.0.1:$flit_port/health"
    wait_for 10 "flit: bootstrap.json" test -s "$dir/data/bootstrap.json"
    local key tenant
    key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiKey"])' "$dir/data/bootstrap.json")
    tenant=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenantId"])' "$dir/data/bootstrap.json")
    admin PATCH "/admin/v1/tenants/$tenant" '{"rateLimitPerMinute": 100000000}' > /dev/null
    admin POST "/admin/v1/tenants/$tenant/credits" "{\"amount\": $((messages + 10)), \"type\": \"PURCHASE\"}" > /dev/null
    local bind
    bind=$(admin POST /admin/v1/binds "{\"name\": \"sim\", \"host\": \"127.0.0.1\", \"port\": $smsc_port,
        \"systemId\": \"peer\", \"password\": \"secret\", \"bindMode\": \"transceiver\", \"windowSize\": $window, \"tps\": 0}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
    admin POST /admin/v1/routes "{\"prefix\": \"\", \"bindIds\": [\"$bind\"], \"priority\": 0}" > /dev/null
    wait_for 30 "flit: the bind to the SMSC" \
        sh -c "curl -sf -H 'Authorization: Bearer $admin_token' http://127.0.0.1:$flit_port/admin/v1/binds/$bind | grep -q '\"bound\":true'"
    local body="{\"recipients\":[\"$recipient\"],\"message\":\"$text\",\"senderId\":\"$sender\"}"
    curl -sf -o /dev/null "http://127.0.0.1:$flit_port/api/v1/sms/send" -H "Authorization: Bearer $key" \
        -H 'Content-Type: application/json' -d "$body" || die "flit: the first send failed"
    wait_for 30 "flit: the first message's receipt" smsc_has "$dir" receipts 1
    measure "$dir" flit "$flit_pid" -m POST -H "Authorization: Bearer $key" -T application/json -d "$body" \
        "http://127.0.0.1:$flit_port/api/v1/sms/send"
    stop_all
}

run_ceiling() {
    local dir=$out/round$round-ceiling
    mkdir -p "$dir"
    "$ceiling_bin" --listen "127.0.0.1:$ceiling_port" > "$dir/ceiling.log" 2>&1 &
    pids+=("$!")
    wait_for 10 "the ceiling listening" grep -q '^LISTENING' "$dir/ceiling.log"
    local body="{\"recipients\":[\"$recipient\"],\"message\":\"$text\",\"senderId\":\"$sender\"}"
    measure "$dir" ceiling "" -m POST -H "Authorization: Bearer none" -T application/json -d "$body" \
        "http://127.0.0.1:$ceiling_port/api/v1/sms/send"
    stop_all
}

# ---------------------------------------------------------------- the runs

for round in $(seq "$rounds"); do
    say "round $round of $rounds (load average $(cut -d' ' -f1 /proc/loadavg))"
    run_kannel
    sleep 2
    run_flit
    sleep 2
    run_ceiling
    sleep 2
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/setup.txt"

python3 - "$runs" "$out/setup.txt" << 'EOF' | tee "$out/summary.md"
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
servers = ["kannel", "flit", "ceiling"]
by = {s: [r for r in rows if r["server"] == s] for s in servers}

def values(server, field):
    return [float(r[field]) for r in by[server] if r[field] != "-"]

def median(server, field):
    v = values(server, field)
    return statistics.median(v) if v else None

def per_cpu(server):
    return [float(r["submits"]) / float(r["cpu_s"]) for r in by[server] if r["cpu_s"] not in ("-", "0.00")]

# (name, field, format, whether a ratio means anything)
figures = [
    ("accepted/s (HTTP, closed loop)", "accepted_per_s", "{:,.0f}", True),
    ("accept latency p50, ms", "p50_ms", "{:.2f}", True),
    ("accept latency p99, ms", "p99_ms", "{:.2f}", True),
    ("slowest connection setup, ms", "slowest_connect_ms", "{:.1f}", False),
    ("end to end: submit_sm/s (load start to last submit)", "submit_per_s", "{:,.0f}", True),
    ("end to end: receipts/s (load start to last receipt)", "receipt_per_s", "{:,.0f}", True),
    ("gateway CPU seconds for the run", "cpu_s", "{:.2f}", True),
    ("SMSC (node) CPU seconds for the run", "smsc_cpu_s", "{:.2f}", False),
]

def cell(server, field, fmt):
    m = median(server, field)
    if m is None:
        return "—"
    runs = " / ".join(fmt.format(v) for v in values(server, field))
    return f"{fmt.format(m)} ({runs})"

def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"

print("\n".join(l.rstrip() for l in open(sys.argv[2])))
print()
print("| figure (median of the runs in brackets) | Kannel | Flit | ceiling | Flit / Kannel | Flit / ceiling |")
print("|---|---|---|---|---|---|")
for name, field, fmt, ratios in figures:
    flit = median("flit", field)
    to_kannel = ratio(flit, median("kannel", field)) if ratios else "—"
    to_ceiling = ratio(flit, median("ceiling", field)) if ratios else "—"
    print(f"| {name} | {cell('kannel', field, fmt)} | {cell('flit', field, fmt)} | {cell('ceiling', field, fmt)} "
          f"| {to_kannel} | {to_ceiling} |")
k, f = per_cpu("kannel"), per_cpu("flit")
k_median = statistics.median(k) if k else None
f_median = statistics.median(f) if f else None

def with_runs(m, v):
    return "—" if m is None else f"{m:,.0f} (" + " / ".join(f"{x:,.0f}" for x in v) + ")"

print(f"| messages per gateway CPU-second | {with_runs(k_median, k)} | {with_runs(f_median, f)} | — "
      f"| {ratio(f_median, k_median)} | — |")
print()
print("Rates: higher is better; latency and CPU seconds: lower is better (a ratio under 1 is Flit ahead).")
EOF
say "raw runs: $runs; logs and oha reports: $out/"
