#!/usr/bin/env node
// A small SMSC built on node-smpp (`smpp.createServer`), for Flit's interop tests: an SMPP 3.4
// peer that Flit did not write. See README.md for the stdout protocol.
//
//   node smsc.js --port 0 --system-id flit --password secret --receipt-delay-ms 300 --fail-suffix 0000
//
// With `--quiet 1` (for load: a line per PDU would cost more than the PDU) it prints no SUBMIT or
// RECEIPT lines, only a COUNTS line every `--counts-every-ms` while the counts change.
//
// Each option may also come from the environment: SMSC_PORT, SMSC_SYSTEM_ID, SMSC_PASSWORD, ...
'use strict';

const smpp = require('smpp');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  const env = process.env[`SMSC_${name.toUpperCase().replace(/-/g, '_')}`];
  return env !== undefined ? env : fallback;
}

const config = {
  host: option('host', '127.0.0.1'),
  port: Number(option('port', '0')),
  systemId: option('system-id', 'flit'),
  password: option('password', 'secret'),
  receiptDelayMs: Number(option('receipt-delay-ms', '300')),
  failSuffix: option('fail-suffix', '0000'),
  quiet: !['', '0', 'false'].includes(option('quiet', '')),
  countsEveryMs: Number(option('counts-every-ms', '250')),
  // Put before every message id: `--id-prefix msg_` gives ids shaped like Flit's own
  // (`msg_00A00000`), letters and all, for clients that must keep them as strings.
  idPrefix: option('id-prefix', ''),
};

// node-smpp decodes `short_message` and the `message_payload` TLV on arrival into
// `{udh: [IE buffers without the UDHL], message: <string>}`, choosing a charset from data_coding.
// That loses the raw bytes we want to check, so keep them as Buffers. (Encoding is untouched: a
// Buffer passed to encode goes out as is.)
const keepRaw = { encode: smpp.filters.message.encode, decode: (value) => value };
smpp.commands.submit_sm.params.short_message.filter = keepRaw;
smpp.tlvs.message_payload.filter = keepRaw;

function print(kind, fields) {
  process.stdout.write(`${kind} ${JSON.stringify(fields)}\n`);
}

// What --quiet prints instead of the SUBMIT and RECEIPT lines; times are Unix milliseconds.
const counts = {
  submits: 0,
  receipts: 0,
  receiptErrors: 0,
  firstSubmitAt: null,
  lastSubmitAt: null,
  lastReceiptAt: null,
};
let countsPrinted = '';
function printCounts() {
  const line = JSON.stringify(counts);
  if (line !== countsPrinted) {
    countsPrinted = line;
    process.stdout.write(`COUNTS ${line}\n`);
  }
}
if (config.quiet) setInterval(printCounts, config.countsEveryMs).unref();

const BIND_MODES = {
  bind_transceiver: { transmit: true, receive: true },
  bind_transmitter: { transmit: true, receive: false },
  bind_receiver: { transmit: false, receive: true },
};
const HANDLED = new Set([...Object.keys(BIND_MODES), 'submit_sm', 'enquire_link', 'unbind']);

let nextSession = 1;
let nextMessage = 0xa00000;
// Receipts waiting for a session that can take them.
let pending = [];

const server = smpp.createServer((session) => {
  session.flit = { id: nextSession++, systemId: null, mode: null, awaiting: new Map() };

  session.on('error', (error) => console.error(`session ${session.flit.id}: ${error.message}`));
  session.on('close', () => {
    // Receipts sent on this session but never acknowledged go to another one.
    pending.push(...session.flit.awaiting.values());
    session.flit.awaiting.clear();
    session.flit.mode = null;
    flushReceipts();
  });

  session.on('pdu', (pdu) => {
    if (pdu.isResponse() || HANDLED.has(pdu.command)) return;
    session.send(new smpp.PDU('generic_nack', {
      sequence_number: pdu.sequence_number,
      command_status: smpp.ESME_RINVCMDID,
    }));
  });

  for (const command of Object.keys(BIND_MODES)) {
    session.on(command, (pdu) => {
      if (session.flit.mode) {
        session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
        return;
      }
      const refusal = pdu.system_id !== config.systemId ? smpp.ESME_RBINDFAIL
        : pdu.password !== config.password ? smpp.ESME_RINVPASWD : 0;
      if (refusal) {
        session.send(pdu.response({ command_status: refusal }), () => session.close());
        return;
      }
      session.flit.systemId = pdu.system_id;
      session.flit.mode = BIND_MODES[command];
      session.send(pdu.response({ system_id: 'node-smsc' }));
      print('BIND', { session: session.flit.id, command, system_id: pdu.system_id });
      flushReceipts();
    });
  }

  session.on('enquire_link', (pdu) => session.send(pdu.response()));

  session.on('unbind', (pdu) => {
    session.flit.mode = null;
    print('UNBIND', { session: session.flit.id });
    session.send(pdu.response(), () => session.close());
  });

  session.on('submit_sm', (pdu) => {
    if (!session.flit.mode || !session.flit.mode.transmit) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const messageId = config.idPrefix
      + (nextMessage++).toString(16).toUpperCase().padStart(8, '0');
    session.send(pdu.response({ message_id: messageId }));
    const submit = {
      session: session.flit.id,
      source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton,
      source_addr_npi: pdu.source_addr_npi,
      destination_addr: pdu.destination_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi,
      esm_class: pdu.esm_class,
      data_coding: pdu.data_coding,
      registered_delivery: pdu.registered_delivery,
      short_message_hex: Buffer.from(pdu.short_message || []).toString('hex'),
    };
    for (const tlv of ['sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum']) {
      if (pdu[tlv] !== undefined) submit[tlv] = pdu[tlv];
    }
    if (pdu.message_payload !== undefined) {
      submit.message_payload_hex = Buffer.from(pdu.message_payload).toString('hex');
    }
    submit.message_id = messageId;
    if (config.quiet) {
      const now = Date.now();
      counts.submits += 1;
      if (counts.firstSubmitAt === null) counts.firstSubmitAt = now;
      counts.lastSubmitAt = now;
    } else {
      print('SUBMIT', submit);
    }

    const failed = config.failSuffix !== '' && pdu.destination_addr.endsWith(config.failSuffix);
    // registered_delivery bits 0-1: 1 = receipt on success or failure, 2 = on failure only.
    const wanted = pdu.registered_delivery & 0x03;
    if (wanted === 1 || (wanted === 2 && failed)) {
      const receipt = { submit, failed, session: session.flit, systemId: session.flit.systemId };
      setTimeout(() => { pending.push(receipt); flushReceipts(); }, config.receiptDelayMs);
    }
  });
});

// Sends each pending receipt on the submitting session if it can still receive, or on another
// receiving session of the same system_id; keeps the rest until one binds.
function flushReceipts() {
  const waiting = pending;
  pending = [];
  for (const receipt of waiting) {
    const open = server.sessions.filter((s) => s.flit.mode && s.flit.mode.receive
      && s.flit.systemId === receipt.systemId);
    const target = open.find((s) => s.flit === receipt.session) || open[0];
    if (target) sendReceipt(target, receipt);
    else pending.push(receipt);
  }
}

function smppDate(date) {
  const two = (n) => String(n).padStart(2, '0');
  return two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate())
    + two(date.getUTCHours()) + two(date.getUTCMinutes());
}

function sendReceipt(session, receipt) {
  const { submit, failed } = receipt;
  const id = submit.message_id;
  const date = smppDate(new Date());
  const text = `id:${id} sub:001 dlvrd:${failed ? '000' : '001'} submit date:${date} `
    + `done date:${date} stat:${failed ? 'UNDELIV' : 'DELIVRD'} err:${failed ? '001' : '000'} text:`;
  const pdu = new smpp.PDU('deliver_sm', {
    source_addr_ton: submit.dest_addr_ton,
    source_addr_npi: submit.dest_addr_npi,
    source_addr: submit.destination_addr,
    dest_addr_ton: submit.source_addr_ton,
    dest_addr_npi: submit.source_addr_npi,
    destination_addr: submit.source_addr,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    data_coding: 0,
    short_message: Buffer.from(text, 'ascii'),
    receipted_message_id: id,
    message_state: failed ? smpp.MESSAGE_STATE.UNDELIVERABLE : smpp.MESSAGE_STATE.DELIVERED,
  });
  const sent = session.send(pdu, (resp) => {
    session.flit.awaiting.delete(pdu.sequence_number);
    if (config.quiet) {
      counts.receipts += 1;
      if (resp.command_status !== 0) counts.receiptErrors += 1;
      counts.lastReceiptAt = Date.now();
      return;
    }
    print('RECEIPT', {
      session: session.flit.id,
      message_id: id,
      destination_addr: submit.destination_addr,
      stat: failed ? 'UNDELIV' : 'DELIVRD',
      command_status: resp.command_status,
    });
  });
  if (sent) session.flit.awaiting.set(pdu.sequence_number, receipt);
  else pending.push(receipt);
}

server.on('error', (error) => {
  console.error(`smsc: ${error.message}`);
  process.exit(1);
});
server.listen(config.port, config.host, () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function shutdown() {
  if (config.quiet) printCounts();
  server.close(() => process.exit(0));
  for (const session of [...server.sessions]) session.destroy();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
