#!/usr/bin/env bash
# Kannel (Debian's package: bearerbox + smsbox, 1.4.5) as an SMPP client (ESME) of an SMPP
# server: a gateway Flit did not write, binding to Flit's SMPP server the way a customer's Kannel
# would, submitting what its sendsms HTTP interface is given and turning receipts into calls of
# a DLR URL.
#
#   bash interop/kannel_esme.sh --smpp-port P --system-id ID --password PW --http-port H \
#        --dlr-url URL --workdir D [--smpp-host 127.0.0.1] [--admin-port H+1] [--box-port H+2] \
#        [--sendsms-user esme] [--sendsms-password esme] [--system-type VMA] [--msg-id-type N]
#
# Writes D/kannel.conf, starts bearerbox, then smsbox once bearerbox takes box connections
# (smsbox gives up at once if it cannot connect), and stays in the foreground until killed
# (SIGTERM/SIGINT stop both boxes; if either box exits, so does this script, with its status).
# Stdout, one line each:
#
#   BEARERBOX <pid>
#   SMSBOX <pid>
#   READY                 the SMPP bind is online and smsbox is connected (from the status page)
#
# Then, for example:
#
#   curl "http://127.0.0.1:H/cgi-bin/sendsms?username=esme&password=esme&from=Flit&to=447700900001&text=Hello&dlr-mask=3&dlr-url=$(urlencode 'http://127.0.0.1:9000/dlr?type=%d&id=%I&smsc_id=%F&answer=%A')"
#
# and Kannel calls the DLR URL (GET) once per receipt with %d = 1 (delivered) or 2 (failed),
# %I = Kannel's own message id (a UUID), %F = the SMPP server's message_id from submit_sm_resp,
# %A = the receipt's text. A sendsms without dlr-url gets --dlr-url, the sendsms-user's default.
# The status page: http://127.0.0.1:A/status.txt?password=<sendsms-password>. Logs, at debug
# level with every PDU dumped: D/bearerbox.log, D/smsbox.log (D/*.out: the boxes' own console).
#
# What the smsc group needs, and why (read from Kannel 1.4.5's gw/smsc/smsc_smpp.c):
#
#   transceiver-mode = true    one bind_transceiver that submits and takes the receipts; without
#                              it Kannel opens a bind_transmitter and a bind_receiver (receive-port
#                              would have to be set too), which is the other shape a server must
#                              take.
#   msg-id-type: NOT SET       The one that matters for Flit. Unset (-1), Kannel keeps the
#                              message_id of submit_sm_resp and the receipt's id as C strings and
#                              matches them byte for byte (dlr_add / dlr_find). Set to any of 0-3,
#                              it turns both into numbers with strtoll(…, 16 or 10): an id that is
#                              not all digits is read as hex whatever the bits say, so
#                              `msg_01JABC…` becomes 0 (strtoll stops at `m`), every message is
#                              stored under "0", and receipts land on the wrong message or none
#                              ("got DLR but could not find message"). Many Kannel configs found
#                              in the wild set msg-id-type = 0x01 or 0x03 for SMSCs with hex ids;
#                              a customer moving one of those to Flit must remove the line.
#                              --msg-id-type N writes it anyway (to show that failure).
#   interface-version: default 0x34. Only for a version > 0x33 does Kannel read the receipt's
#                              receipted_message_id and message_state TLVs (2 = delivered, 5 =
#                              undeliverable → DLR type 1 / 2); otherwise it parses the text
#                              ("id:%64[^ ] sub:%d dlvrd:%d submit date:%14[0-9] done
#                              date:%14[0-9] stat:%15[^ ] err:%3[^ ]", so the text must keep that
#                              exact shape; it is still parsed for stat/err when there is no
#                              network_error_code TLV). The id it matches on is the TLV's.
#   system-type = "VMA"        Mandatory in 1.4.5 (bearerbox panics at start without it:
#                              "Configuration file doesn't specify system-type"), and sent as the
#                              bind's system_type. "VMA" is what the user guide's SMPP sample
#                              has, so customers' configs carry it: a server must accept a
#                              system_type it does not know. --system-type changes it ("" sends
#                              an empty one).
#   reconnect-delay = 2        (default 10 s) so a bind refused at first comes back soon in tests.
#   max-pending-submits = 10   Kannel's default window, written out to be visible.
#   sendsms-user max-messages = 10, concatenation = true: a long text goes out as UDH parts, each
#                              its own submit_sm, message_id and DLR (Kannel's default sends only
#                              the first 160 characters' worth).
#   sms-resend-freq = 5        (core; default 60 s) a submit_sm refused with a temporary status
#                              (0x58 throttled, 0x14 queue full) is queued again and resent after
#                              this, so a test over the account's TPS sees it through in seconds.
#   (left at Kannel's defaults, seen on the wire) source/destination TON and NPI are guessed
#                              from the number: `to=+4477…` or `00…` goes out as dest_addr_ton 1
#                              (international), but `to=4477…` as ton 2 (national), npi 1;
#                              `from=Flit` as source_addr_ton 5 (alphanumeric), npi 0. esm_class
#                              is 0x03 (store and forward), 0x43 with a UDH. A server should take
#                              ton 2 with a full international number as Kannel users send it.
#   dlr-storage = internal     the DLR table in memory: enough for a client that lives as long
#                              as the test.
set -euo pipefail

usage() { sed -n '2,13p' "$0" >&2; exit 2; }

smpp_host=127.0.0.1 smpp_port='' system_id='' password='' http_port='' dlr_url='' workdir=''
admin_port='' box_port='' sendsms_user=esme sendsms_password=esme system_type=VMA msg_id_type=
while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || usage
    case $1 in
        --smpp-host) smpp_host=$2 ;;
        --smpp-port) smpp_port=$2 ;;
        --system-id) system_id=$2 ;;
        --password) password=$2 ;;
        --http-port) http_port=$2 ;;
        --dlr-url) dlr_url=$2 ;;
        --workdir) workdir=$2 ;;
        --admin-port) admin_port=$2 ;;
        --box-port) box_port=$2 ;;
        --sendsms-user) sendsms_user=$2 ;;
        --sendsms-password) sendsms_password=$2 ;;
        --system-type) system_type=$2 ;;
        --msg-id-type) msg_id_type=$2 ;;
        *) usage ;;
    esac
    shift 2
done
for required in smpp_port system_id password http_port dlr_url workdir; do
    [[ -n ${!required} ]] || { echo "kannel_esme.sh: --${required//_/-} is required" >&2; usage; }
done
admin_port=${admin_port:-$((http_port + 1))}
box_port=${box_port:-$((http_port + 2))}
if ! command -v bearerbox > /dev/null || ! command -v smsbox > /dev/null; then
    echo "kannel_esme.sh: bearerbox/smsbox not found (apt-get install kannel)" >&2
    exit 1
fi

mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
conf=$workdir/kannel.conf

# Kannel's config values are double-quoted strings with \" and \\ escapes.
quoted() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

cat > "$conf" << EOF
# Written by interop/kannel_esme.sh: see that script for why each setting is what it is.
group = core
admin-port = $admin_port
admin-password = $(quoted "$sendsms_password")
status-password = $(quoted "$sendsms_password")
admin-allow-ip = "127.0.0.1"
smsbox-port = $box_port
box-allow-ip = "127.0.0.1"
log-file = "$workdir/bearerbox.log"
log-level = 0
dlr-storage = internal
sms-resend-freq = 5

group = smsc
smsc = smpp
smsc-id = flit
host = $(quoted "$smpp_host")
port = $smpp_port
transceiver-mode = true
smsc-username = $(quoted "$system_id")
smsc-password = $(quoted "$password")
system-type = $(quoted "$system_type")
reconnect-delay = 2
max-pending-submits = 10
${msg_id_type:+msg-id-type = $msg_id_type}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $box_port
sendsms-port = $http_port
log-file = "$workdir/smsbox.log"
log-level = 0

group = sendsms-user
username = $(quoted "$sendsms_user")
password = $(quoted "$sendsms_password")
max-messages = 10
concatenation = true
dlr-url = $(quoted "$dlr_url")
EOF

bearerbox_pid='' smsbox_pid=''
# shellcheck disable=SC2317 # called from the traps
stop() {
    trap - TERM INT EXIT
    local pid
    for pid in $smsbox_pid $bearerbox_pid; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
}
trap 'stop; exit 0' TERM INT
trap stop EXIT

boxes_alive() { kill -0 "$bearerbox_pid" 2> /dev/null && kill -0 "$smsbox_pid" 2> /dev/null; }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
status_page() { curl -sf "http://127.0.0.1:$admin_port/status.txt?password=$sendsms_password" || true; }

# -v 4: only panics on the console; everything else is in the log files.
bearerbox -v 4 "$conf" >> "$workdir/bearerbox.out" 2>&1 &
bearerbox_pid=$!
echo "BEARERBOX $bearerbox_pid"
deadline=$((SECONDS + 30))
until port_open "$box_port"; do
    kill -0 "$bearerbox_pid" 2> /dev/null || { echo "kannel_esme.sh: bearerbox exited, see $workdir/bearerbox.log" >&2; exit 1; }
    [[ $SECONDS -lt $deadline ]] || { echo "kannel_esme.sh: bearerbox's box port not open within 30 s" >&2; exit 1; }
    sleep 0.1
done
smsbox -v 4 "$conf" >> "$workdir/smsbox.out" 2>&1 &
smsbox_pid=$!
echo "SMSBOX $smsbox_pid"

# READY once the bind is up and smsbox is connected; a bind that never comes up (a refused
# password, say: Kannel stops retrying after ESME_RINVPASWD) leaves the boxes running and this
# line unprinted, for the caller's own timeout.
until status=$(status_page) && grep -q '(online ' <<< "$status" && grep -q '^ *smsbox:' <<< "$status"; do
    boxes_alive || break
    sleep 0.2
done
if boxes_alive; then echo READY; fi

set +e
wait -n "$bearerbox_pid" "$smsbox_pid"
code=$?
echo "kannel_esme.sh: a box exited ($code), see $workdir/*.log" >&2
exit "$code"
