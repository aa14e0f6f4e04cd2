#!/usr/bin/env node
// Checks smsc.js on its own with a node-smpp ESME (`smpp.connect`): a bad password is refused,
// a 2-part UDH message, a SAR pair and a message_payload submit come out byte-exact on the
// SUBMIT lines, and every part gets its receipt (UNDELIV for the fail suffix). Exit 0 = pass.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const smpp = require('smpp');

const lines = { SUBMIT: [], RECEIPT: [] };
const child = spawn(process.execPath, [path.join(__dirname, 'smsc.js'), '--port', '0',
  '--system-id', 'flit', '--password', 'secret', '--receipt-delay-ms', '100'],
{ stdio: ['ignore', 'pipe', 'inherit'] });
const listening = new Promise((resolve) => {
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const [kind, ...rest] = line.split(' ');
    if (kind === 'LISTENING') resolve(Number(rest[0]));
    else if (lines[kind]) lines[kind].push(JSON.parse(rest.join(' ')));
  });
});

const timeout = setTimeout(() => fail(new Error('timed out')), 10000);
function fail(error) {
  console.error(`selftest FAILED: ${error.stack || error}`);
  child.kill('SIGTERM');
  process.exit(1);
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const session = smpp.connect({ host: '127.0.0.1', port }, () => resolve(session));
    session.on('error', reject);
  });
}
function call(session, command, fields) {
  return new Promise((resolve) => session[command](fields, resolve));
}
const until = async (what, check) => {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
  return what;
};

// GSM-7 unpacked septets for plain ASCII letters/digits/spaces (same code points).
const septets = (text) => Buffer.from(text, 'ascii');

async function main() {
  const port = await listening;

  const intruder = await connect(port);
  const refused = await call(intruder, 'bind_transceiver', { system_id: 'flit', password: 'nope' });
  assert.equal(refused.command_status, smpp.ESME_RINVPASWD);
  intruder.destroy();

  const session = await connect(port);
  const receipts = [];
  session.on('deliver_sm', (pdu) => {
    receipts.push(pdu);
    session.send(pdu.response());
  });
  const bound = await call(session, 'bind_transceiver', { system_id: 'flit', password: 'secret' });
  assert.equal(bound.command_status, 0);

  const base = {
    source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Acme',
    dest_addr_ton: 1, dest_addr_npi: 1, registered_delivery: 1, data_coding: 0,
  };
  const sent = [];
  // Two parts with an 8-bit-reference concatenation UDH, sent as raw bytes.
  const texts = ['Part one of two, ', 'and part two.'];
  for (let seq = 1; seq <= 2; seq++) {
    const bytes = Buffer.concat([Buffer.from([5, 0, 3, 0x2a, 2, seq]), septets(texts[seq - 1])]);
    const resp = await call(session, 'submit_sm', {
      ...base, destination_addr: '233201234567', esm_class: 0x40, short_message: bytes,
    });
    assert.equal(resp.command_status, 0);
    sent.push({ id: resp.message_id, hex: bytes.toString('hex'), esm_class: 0x40 });
  }
  // SAR TLVs, UCS-2, to a number that fails.
  const ucs2 = Buffer.from([0x00, 0x48, 0xd8, 0x3d, 0xde, 0x00]); // "H😀"
  const sar = await call(session, 'submit_sm', {
    ...base, destination_addr: '233201230000', esm_class: 0, data_coding: 8, short_message: ucs2,
    sar_msg_ref_num: 0x1234, sar_total_segments: 1, sar_segment_seqnum: 1,
  });
  sent.push({ id: sar.message_id, hex: ucs2.toString('hex'), sar: [0x1234, 1, 1], failed: true });
  // message_payload with an empty short_message.
  const payload = septets('x'.repeat(300));
  const big = await call(session, 'submit_sm', {
    ...base, destination_addr: '233201234567', esm_class: 0, short_message: Buffer.alloc(0),
    message_payload: payload,
  });
  sent.push({ id: big.message_id, hex: '', payload: payload.toString('hex') });

  await until('receipts', () => receipts.length === sent.length && lines.RECEIPT.length === sent.length);

  assert.equal(new Set(sent.map((s) => s.id)).size, sent.length, 'message ids are fresh');
  for (const s of sent) {
    const submit = lines.SUBMIT.find((line) => line.message_id === s.id);
    assert.ok(submit, `SUBMIT line for ${s.id}`);
    assert.equal(submit.short_message_hex, s.hex);
    assert.equal(submit.source_addr, 'Acme');
    assert.equal(submit.source_addr_ton, 5);
    if (s.esm_class) assert.equal(submit.esm_class, s.esm_class);
    if (s.sar) {
      assert.deepEqual([submit.sar_msg_ref_num, submit.sar_total_segments,
        submit.sar_segment_seqnum], s.sar);
      assert.equal(submit.data_coding, 8);
    }
    if (s.payload) assert.equal(submit.message_payload_hex, s.payload);

    const receipt = receipts.find((r) => r.receipted_message_id === s.id);
    assert.ok(receipt, `receipt for ${s.id}`);
    assert.equal(receipt.esm_class, 0x04);
    assert.equal(receipt.message_state, s.failed ? 5 : 2);
    const text = receipt.short_message.message;
    assert.match(text, new RegExp(`^id:${s.id} sub:001 dlvrd:00[01] submit date:\\d{10} `
      + `done date:\\d{10} stat:${s.failed ? 'UNDELIV err:001' : 'DELIVRD err:000'} text:$`));
    assert.equal(receipt.source_addr, '233201' + (s.failed ? '230000' : '234567'));
    assert.equal(receipt.destination_addr, 'Acme');
  }

  // Unknown or unsupported commands get generic_nack.
  const nack = await call(session, 'query_sm', { message_id: sent[0].id, source_addr: 'Acme' });
  assert.equal(nack.command, 'generic_nack');
  assert.equal(nack.command_status, smpp.ESME_RINVCMDID);
  const unbound = await call(session, 'unbind', {});
  assert.equal(unbound.command_status, 0);

  // Transmitter + receiver: a receipt waits until a receiver of the same system_id binds.
  const tx = await connect(port);
  assert.equal((await call(tx, 'bind_transmitter', { system_id: 'flit', password: 'secret' }))
    .command_status, 0);
  const txResp = await call(tx, 'submit_sm', {
    ...base, destination_addr: '233201234567', esm_class: 0, short_message: septets('tx'),
  });
  await new Promise((r) => setTimeout(r, 300));
  const rx = await connect(port);
  const rxReceipts = [];
  rx.on('deliver_sm', (pdu) => { rxReceipts.push(pdu); rx.send(pdu.response()); });
  assert.equal((await call(rx, 'bind_receiver', { system_id: 'flit', password: 'secret' }))
    .command_status, 0);
  await until('rx receipt', () => rxReceipts.length === 1);
  assert.equal(rxReceipts[0].receipted_message_id, txResp.message_id);
  tx.destroy();
  rx.destroy();
  clearTimeout(timeout);
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)));
  assert.equal(code, 0, 'smsc exits cleanly on SIGTERM');
  console.log(`selftest ok: ${sent.length} submits, ${receipts.length} receipts`);
}

main().catch(fail);
