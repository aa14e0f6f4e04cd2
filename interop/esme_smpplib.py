#!/usr/bin/env python3
"""An SMPP 3.4 client (ESME) on python's `smpplib` (pinned in requirements.txt): a client Flit
did not write, for checking Flit's SMPP server from the customer's side.

    python3 interop/esme_smpplib.py --host 127.0.0.1 --port 2775 --system-id acme --password s3cret \
        [--bind transceiver|receiver|transmitter] [--mode send|receive|bind-only] [--timeout 30] \
        [--to 447700900001] [--from Flit]

Modes, each printing ONE JSON object on stdout (smpplib's own logging goes to stderr):

  send       Binds (transceiver unless --bind says otherwise), submits three messages with
             registered_delivery=1, each waiting for its submit_sm_resp before the next:
               gsm7    data_coding 0, GSM 03.38 default alphabet one septet per octet
                       (smpplib.gsm.gsm_encode), with `@` (0x00) and `£` (0x01) in it;
               ucs2    data_coding 8, UTF-16BE, with a character outside the BMP (a surrogate pair);
               concat  ~300 GSM-7 characters (two parts) split by smpplib.gsm.make_parts into UDH parts
                       (esm_class 0x40, IEI 0x00 8-bit reference), one submit_sm per part.
             Then reads deliver_sm (answering each with deliver_sm_resp, as smpplib does) until
             every message_id it was given has a receipt, or --timeout seconds after the bind.
               {"bound": true, "bind": "transceiver",
                "submits": [{"kind": "gsm7|ucs2|concat", "part": 1, "status": 0, "message_id": "…"}],
                "receipts": [{"id": "…", "text_id": "…", "stat": "DELIVRD", "err": "000",
                              "message_state": 2, "text": "…"}],
                "missing": ["ids without a receipt"], "errors": ["anything else that was wrong"]}
             `id` is the receipted_message_id TLV (else the text's id:), `text_id` the text's id:.
             With --bind transmitter no receipt can come on this session: none are awaited
             (`missing` stays empty; run `--mode receive` beside it to see them).
             Exit 0 only if every submit got status 0 and a message_id, every message_id has a
             receipt whose TLV id and text id agree, and `errors` is empty.
  receive    Binds (receiver unless --bind says otherwise) and collects every deliver_sm for
             --timeout seconds:
               {"bound": true, "bind": "receiver",
                "receipts": [as above], "messages": [{"source_addr", "destination_addr",
                "esm_class", "data_coding", "short_message_hex"}], "errors": [...]}
             Exit 0 if the bind succeeded.
  bind-only  Tries one bind (transceiver unless --bind) and prints {"status": <bind_resp
             command_status>} (null if there was no bind_resp at all); then unbinds if bound.
             Exit 0 whenever a bind_resp came back, so a caller can check a refusal (0x0E = 14
             for a wrong password, 0x0D = 13 for too many binds).

Any connection failure before the JSON is printed still prints the JSON, with the error in
`errors` (or `{"status": null, "error": …}` for bind-only) and exit 1.
"""

import argparse
import json
import logging
import re
import socket
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

GSM7_TEXT = "Hello from smpplib @ £"
UCS2_TEXT = "Привет 👋"
# Only characters of the GSM default table's basic set: make_parts splits the encoded octets at
# fixed offsets, and an escape pair (such as €, 0x1B 0x65) cut in two would corrupt the text.
CONCAT_TEXT = (
    "Concatenated GSM-7 message from smpplib, split into UDH parts by smpplib.gsm.make_parts. "
    "Each part carries a 6 octet user data header: UDHL 05, IEI 00, length 03, a reference "
    "shared by all parts, the total and this part's number. Every part gets its own message_id "
    "and its own receipt. The end."
)

RECEIPT_FIELDS = re.compile(
    r"id:(?P<id>\S*)\s+sub:\S*\s+dlvrd:\S*\s+submit date:\S*\s+done date:\S*\s+"
    r"stat:(?P<stat>\S*)\s+err:(?P<err>\S*)(?:\s+text:(?P<text>.*))?",
    re.IGNORECASE | re.DOTALL,
)


def text_of(value):
    """smpplib gives C-octet strings as bytes (or None)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def parse_receipt(pdu):
    """A deliver_sm with esm_class bit 2 (0x04, SMSC delivery receipt) as a dict."""
    body = pdu.short_message or getattr(pdu, "message_payload", None) or b""
    text = text_of(body)
    match = RECEIPT_FIELDS.search(text)
    tlv_id = text_of(getattr(pdu, "receipted_message_id", None))
    text_id = match.group("id") if match else None
    return {
        "id": tlv_id if tlv_id is not None else text_id,
        "text_id": text_id,
        "stat": match.group("stat") if match else None,
        "err": match.group("err") if match else None,
        "message_state": getattr(pdu, "message_state", None),
        "text": text,
    }


def other_message(pdu):
    return {
        "source_addr": text_of(pdu.source_addr),
        "destination_addr": text_of(pdu.destination_addr),
        "esm_class": pdu.esm_class,
        "data_coding": pdu.data_coding,
        "short_message_hex": (pdu.short_message or b"").hex(),
    }


class Session:
    """One smpplib.client.Client plus what arrived on it."""

    def __init__(self, args):
        self.args = args
        # The socket timeout only paces the read loop below; --timeout bounds the whole run.
        self.client = smpplib.client.Client(args.host, args.port, timeout=1)
        self.receipts = []
        self.messages = []
        self.errors = []
        self.responses = {}  # sequence -> (status, message_id)
        self.client.set_message_received_handler(self.on_deliver_sm)
        self.client.set_message_sent_handler(self.on_submit_sm_resp)
        # By default a non-zero status raises; record it instead (submit_sm_resp still reaches
        # on_submit_sm_resp after this handler returns).
        self.client.set_error_pdu_handler(self.on_error_pdu)

    def on_deliver_sm(self, pdu, **_):
        if pdu.esm_class & 0x04:
            self.receipts.append(parse_receipt(pdu))
        else:
            self.messages.append(other_message(pdu))
        return smpplib.consts.SMPP_ESME_ROK  # smpplib answers deliver_sm_resp with this status

    def on_submit_sm_resp(self, pdu, **_):
        self.responses[pdu.sequence] = (int(pdu.status), text_of(pdu.message_id))

    def on_error_pdu(self, pdu):
        if pdu.command != "submit_sm_resp":
            self.errors.append(f"{pdu.command} with status {int(pdu.status):#04x}")

    def bind(self, kind):
        """Returns the bind_resp status (0 when bound); raises ConnectionError without one."""
        self.client.connect()
        try:
            getattr(self.client, f"bind_{kind}")(
                system_id=self.args.system_id, password=self.args.password
            )
            return 0
        except smpplib.exceptions.PDUError as error:
            return int(error.args[1])

    def read_until(self, deadline, done):
        """Handles PDUs until done() or the deadline; False on timeout."""
        while not done():
            if time.monotonic() >= deadline:
                return False
            try:
                # On a quiet socket (1 s) smpplib sends an enquire_link and returns.
                self.client.read_once()
            except smpplib.exceptions.ConnectionError:
                self.errors.append("connection closed by the server")
                return False
        return True

    def close(self):
        try:
            if self.client.state in (
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
            ):
                self.client.unbind()
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, socket.error):
            pass
        self.client.disconnect()


def addresses(args):
    """(ton, npi) for the sender: alphanumeric (5, 0) unless all digits (international)."""
    if args.sender.lstrip("+").isdigit():
        return 1, 1, args.sender.lstrip("+")
    return 5, 0, args.sender


def submits_to_make():
    """[(kind, part, short_message octets, data_coding, esm_class)]"""
    gsm_parts, gsm_coding, gsm_esm = smpplib.gsm.make_parts(GSM7_TEXT)
    assert gsm_coding == smpplib.consts.SMPP_ENCODING_DEFAULT and len(gsm_parts) == 1
    ucs2 = UCS2_TEXT.encode("utf-16-be")
    long_parts, long_coding, long_esm = smpplib.gsm.make_parts(CONCAT_TEXT)
    assert long_coding == smpplib.consts.SMPP_ENCODING_DEFAULT and len(long_parts) >= 2
    made = [("gsm7", 1, gsm_parts[0], gsm_coding, gsm_esm)]
    made.append(("ucs2", 1, ucs2, smpplib.consts.SMPP_ENCODING_ISO10646, 0))
    made += [
        ("concat", k, part, long_coding, long_esm) for k, part in enumerate(long_parts, start=1)
    ]
    return made


def run_send(args, session, deadline, out):
    bind = out["bind"]
    status = session.bind(bind)
    if status != 0:
        out["bind_status"] = status
        return False
    out["bound"] = True
    ton, npi, source = addresses(args)
    ok = True
    for kind, part, octets, coding, esm_class in submits_to_make():
        pdu = session.client.send_message(
            source_addr_ton=ton,
            source_addr_npi=npi,
            source_addr=source,
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=args.to,
            short_message=octets,
            data_coding=coding,
            esm_class=esm_class,
            registered_delivery=1,
        )
        seq = pdu.sequence
        answered = session.read_until(deadline, lambda: seq in session.responses)
        status, message_id = session.responses.get(seq, (None, None))
        out["submits"].append({"kind": kind, "part": part, "status": status, "message_id": message_id})
        if not answered:
            session.errors.append(f"no submit_sm_resp for {kind} part {part}")
            ok = False
            break
        if status != 0 or not message_id:
            ok = False
    ids = [s["message_id"] for s in out["submits"] if s["status"] == 0 and s["message_id"]]
    if len(set(ids)) != len(ids):
        session.errors.append("the same message_id was given twice")
    if bind != "transmitter":
        wanted = set(ids)
        session.read_until(deadline, lambda: wanted <= {r["id"] for r in session.receipts})
        got = {r["id"] for r in session.receipts}
        out["missing"] = [i for i in ids if i not in got]
        for receipt in session.receipts:
            if receipt["id"] not in wanted:
                session.errors.append(f"receipt for an id never given: {receipt['id']}")
            if receipt["text_id"] is not None and receipt["text_id"] != receipt["id"]:
                session.errors.append(
                    f"receipted_message_id {receipt['id']} but the text says id:{receipt['text_id']}"
                )
    if session.messages:
        out["messages"] = session.messages
    return ok and not out["missing"]


def run_receive(args, session, deadline, out):
    bind = out["bind"]
    status = session.bind(bind)
    if status != 0:
        out["bind_status"] = status
        return False
    out["bound"] = True
    session.read_until(deadline, lambda: False)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--system-id", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--bind", choices=["transceiver", "receiver", "transmitter"])
    parser.add_argument("--mode", choices=["send", "receive", "bind-only"], default="send")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--to", default="447700900001")
    parser.add_argument("--from", dest="sender", default="Flit")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.ERROR)

    session = Session(args)
    deadline = time.monotonic() + args.timeout
    if args.mode == "bind-only":
        try:
            status = session.bind(args.bind or "transceiver")
            print(json.dumps({"status": status}))
            return 0
        except smpplib.exceptions.ConnectionError as error:
            print(json.dumps({"status": None, "error": str(error) or "no bind_resp"}))
            return 1
        finally:
            session.close()

    run = run_send if args.mode == "send" else run_receive
    if args.mode == "send":
        out = {"bound": False, "bind": args.bind or "transceiver", "submits": [],
               "receipts": session.receipts, "missing": []}
    else:
        out = {"bound": False, "bind": args.bind or "receiver", "receipts": session.receipts,
               "messages": session.messages}
    try:
        ok = run(args, session, deadline, out)
    except smpplib.exceptions.ConnectionError as error:
        session.errors.append(f"connection: {error or 'closed'}")
        ok = False
    finally:
        session.close()
    out["errors"] = session.errors
    print(json.dumps(out, ensure_ascii=False))
    return 0 if ok and not session.errors else 1


if __name__ == "__main__":
    sys.exit(main())
