#!/usr/bin/env node
// The webhook receiver of `benches/peer.sh`'s e2e work: an HTTP endpoint that neither gateway is,
// answering every request 200 with an empty body and counting what it was told.
//
//   node benches/peer-receiver.js --port 19603 [--counts-every-ms 100]
//
// It takes both gateways' calls:
//   - Flit's webhooks: `POST <any path>` with a JSON event body; `type` message.delivered and
//     message.failed are final, anything else (message.sent, …) is counted as not final. The
//     key of a final event is `data.messageId` + `data.recipient`.
//   - Kannel's `dlr-url`: `GET <path>?type=%d&id=%F&to=%p` (the URL peer.sh gives each send);
//     DLR types 1 (delivered), 2 (undelivered) and 16 (rejected by the SMSC) are final. The key is
//     the SMSC's message id + the recipient.
// A final event whose key was seen before (a retry) counts as a duplicate, not again.
//
// Stdout: `LISTENING <port>`, then every --counts-every-ms while anything changed, and once more
// at exit, one line of counts (times in Unix milliseconds):
//
//   COUNTS {"requests":…,"finals":…,"duplicates":…,"notFinal":…,"unreadable":…,"firstFinalAt":…,"lastFinalAt":…}
//
// Needs only node's own `http` module. SIGTERM/SIGINT exit 0.
'use strict';

const http = require('http');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(option('port', '0'));
const countsEveryMs = Number(option('counts-every-ms', '100'));

const FINAL_EVENTS = new Set(['message.delivered', 'message.failed']);
const FINAL_DLR_TYPES = new Set(['1', '2', '16']);

const counts = {
  requests: 0,
  finals: 0,
  duplicates: 0,
  notFinal: 0,
  unreadable: 0,
  firstFinalAt: null,
  lastFinalAt: null,
};
const seen = new Set();

function final(key) {
  if (seen.has(key)) {
    counts.duplicates += 1;
    return;
  }
  seen.add(key);
  const now = Date.now();
  counts.finals += 1;
  if (counts.firstFinalAt === null) counts.firstFinalAt = now;
  counts.lastFinalAt = now;
}

// Flit's event body: {"id", "type", "createdAt", "data": {"messageId", "recipient", …}}.
function flitEvent(body) {
  let event;
  try {
    event = JSON.parse(body);
  } catch {
    counts.unreadable += 1;
    return;
  }
  if (!FINAL_EVENTS.has(event.type)) {
    counts.notFinal += 1;
    return;
  }
  const data = event.data || {};
  final(`${data.messageId}/${data.recipient}`);
}

// Kannel's DLR call: the query string peer.sh put in `dlr-url`, its escapes filled in.
function kannelReport(url) {
  const query = new URL(url, 'http://receiver').searchParams;
  const type = query.get('type');
  if (type === null) {
    counts.unreadable += 1;
  } else if (!FINAL_DLR_TYPES.has(type)) {
    counts.notFinal += 1;
  } else {
    final(`${query.get('id')}/${query.get('to')}`);
  }
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    counts.requests += 1;
    if (request.method === 'POST') flitEvent(Buffer.concat(chunks).toString('utf8'));
    else kannelReport(request.url);
    response.writeHead(200, { 'Content-Length': '0' });
    response.end();
  });
});

let printed = '';
function printCounts() {
  const line = JSON.stringify(counts);
  if (line !== printed) {
    printed = line;
    process.stdout.write(`COUNTS ${line}\n`);
  }
}
setInterval(printCounts, countsEveryMs).unref();

server.on('error', (error) => {
  console.error(`receiver: ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

function shutdown() {
  printCounts();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
