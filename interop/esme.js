#!/usr/bin/env node
// An SMPP 3.4 client (ESME) on node-smpp (`smpp.connect`, the same pinned package as smsc.js):
// sends a burst of submit_sm at a given rate and counts the answers, to show what a client that
// goes over its account's TPS gets back (ESME_RTHROTTLED, 0x58) from a server Flit did not write
// the client for.
//
//   node esme.js --host 127.0.0.1 --port 2775 --system-id acme --password s3cret \
//                --rate 50 --count 200 [--timeout 10] [--to 447700900001] [--from Flit] [--receipts 1]
//
// Binds transceiver, then sends --count submit_sm (GSM-7 text "esme.js <n>", registered_delivery
// --receipts, default 1) paced at --rate per second (0: all at once, as fast as the socket
// takes them; node-smpp has no window, so none is kept), answers every deliver_sm with
// deliver_sm_resp, and waits until every submit_sm has its response and every accepted message
// its receipt, or --timeout seconds after the last submit. Prints one JSON object:
//
//   {"bind_status": 0, "ok": 180, "throttled": 20, "other": {"0x14": 0, ...}, "receipts": 180,
//    "unanswered": 0, "stray_receipts": 0, "elapsed_ms": 4012, "submits_per_s": 49.8}
//
// `ok` counts submit_sm_resp with status 0 and a message_id, `throttled` those with 0x58,
// `other` every other status (keys are hex, like "0x14"; "0x00" for a status 0 without a
// message_id), `receipts` deliver_sm with esm_class 0x04 whose receipted_message_id (or the
// text's id:) is one this run was given, `stray_receipts` the others, `unanswered` submit_sm
// with no response by the end. `submits_per_s` is the rate the submits actually went out at.
// Exit 0 if the bind succeeded and every submit_sm was answered (whatever the statuses: the
// caller decides what it expected); 1 otherwise, or on a connection error (with "error").
'use strict';

const smpp = require('smpp');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) {
    process.stderr.write(`esme.js: --${name} is required\n`);
    process.exit(2);
  }
  return fallback;
}

const config = {
  host: option('host', '127.0.0.1'),
  port: Number(option('port')),
  systemId: option('system-id'),
  password: option('password'),
  rate: Number(option('rate', '0')),
  count: Number(option('count', '100')),
  timeoutMs: Number(option('timeout', '10')) * 1000,
  to: option('to', '447700900001'),
  from: option('from', 'Flit'),
  receipts: Number(option('receipts', '1')),
};

const THROTTLED = 0x58;
const hex = (status) => `0x${status.toString(16).padStart(2, '0')}`;

const result = {
  bind_status: null,
  ok: 0,
  throttled: 0,
  other: {},
  receipts: 0,
  unanswered: config.count,
  stray_receipts: 0,
  elapsed_ms: 0,
  submits_per_s: 0,
};
const given = new Set(); // message ids from submit_sm_resp
const receipted = new Set(); // ids from receipts, counted against `given` at the end (a receipt
// may come before its submit_sm_resp is read)
let sent = 0;
let startedAt = 0;
let lastSentAt = 0;
let finished = false;

function finish(error) {
  if (finished) return;
  finished = true;
  if (error) result.error = error;
  countReceipts();
  const answered = result.unanswered === 0;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  const code = !error && result.bind_status === 0 && answered ? 0 : 1;
  // unbind politely when we can, but never wait long for it
  if (result.bind_status === 0 && session.socket.writable) {
    session.unbind(() => session.close());
  }
  setTimeout(() => process.exit(code), 300).unref();
  session.once('close', () => process.exit(code));
}

function receiptId(pdu) {
  if (pdu.receipted_message_id) return String(pdu.receipted_message_id);
  const sm = pdu.short_message;
  const text = sm && typeof sm === 'object' && 'message' in sm ? String(sm.message) : String(sm || '');
  const match = /id:(\S+)/.exec(text);
  return match ? match[1] : null;
}

function countReceipts() {
  result.receipts = [...given].filter((id) => receipted.has(id)).length;
  result.stray_receipts = [...receipted].filter((id) => !given.has(id)).length;
}

function allDone() {
  countReceipts();
  return sent === config.count && result.unanswered === 0
    && (!config.receipts || result.receipts === given.size);
}

function maybeFinish() {
  if (allDone()) finish();
}

function submitOne(n) {
  sent += 1;
  lastSentAt = Date.now();
  const ok = session.submit_sm({
    source_addr_ton: /^\+?\d+$/.test(config.from) ? 1 : 5,
    source_addr_npi: /^\+?\d+$/.test(config.from) ? 1 : 0,
    source_addr: config.from.replace(/^\+/, ''),
    dest_addr_ton: 1,
    dest_addr_npi: 1,
    destination_addr: config.to,
    registered_delivery: config.receipts,
    data_coding: 0,
    short_message: `esme.js ${n}`,
  }, (resp) => {
    result.unanswered -= 1;
    const status = resp.command_status;
    if (status === 0 && resp.message_id) {
      result.ok += 1;
      given.add(String(resp.message_id));
    } else if (status === THROTTLED) {
      result.throttled += 1;
    } else {
      result.other[hex(status)] = (result.other[hex(status)] || 0) + 1;
    }
    maybeFinish();
  });
  if (!ok) finish('socket not writable while submitting');
}

function sendAll() {
  startedAt = Date.now();
  if (config.rate <= 0) {
    for (let n = 1; n <= config.count; n += 1) submitOne(n);
    afterLast();
    return;
  }
  // Every 5 ms, send whatever is due by now: submit n goes out at (n - 1) / rate seconds.
  const tick = setInterval(() => {
    const due = Math.min(config.count, Math.floor(((Date.now() - startedAt) * config.rate) / 1000) + 1);
    while (sent < due) submitOne(sent + 1);
    if (sent === config.count) {
      clearInterval(tick);
      afterLast();
    }
  }, 5);
}

function afterLast() {
  const span = Math.max(lastSentAt - startedAt, 1);
  result.elapsed_ms = span;
  result.submits_per_s = config.count > 1
    ? Math.round(((config.count - 1) * 1000 * 10) / span) / 10 : config.count;
  setTimeout(() => finish(), config.timeoutMs).unref();
  maybeFinish();
}

const session = smpp.connect({ host: config.host, port: config.port });
session.on('error', (error) => finish(`connection: ${error.message}`));
session.on('close', () => finish('connection closed by the server'));
session.on('enquire_link', (pdu) => session.send(pdu.response()));
session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  if (!(pdu.esm_class & 0x04)) return;
  receipted.add(receiptId(pdu) ?? '(no id)');
  maybeFinish();
});

// A server that never answers the bind still gets a JSON line.
const bindTimer = setTimeout(() => finish('no bind_resp'), config.timeoutMs);
session.on('connect', () => {
  session.bind_transceiver({ system_id: config.systemId, password: config.password }, (resp) => {
    clearTimeout(bindTimer);
    result.bind_status = resp.command_status;
    if (resp.command_status !== 0) {
      finish();
      return;
    }
    sendAll();
  });
});
