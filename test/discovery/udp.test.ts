/** UDP tracker datagrams and the exchange state machine (BEP 15), time driven by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TrackerError } from '../../discovery/errors.js';
import { encodeCompactPeers } from '../../discovery/peers.js';
import { announceRequest, connectRequest, parseUdpResponse, PROTOCOL_ID, scrapeRequest } from '../../discovery/udp-packets.js';
import { CONNECTION_ID_LIFETIME_MS, retransmitDeadline, UdpExchange, type UdpStep } from '../../discovery/udp-exchange.js';
import type { AnnounceRequest } from '../../discovery/announce.js';

const hash = Buffer.alloc(20, 7);
const req: AnnounceRequest = {
  infoHash: hash, peerId: Buffer.alloc(20, 9), port: 6881, uploaded: 1, downloaded: 2, left: 3,
  event: 'completed', numwant: -1, key: 0x01020304,
};

function answer(action: number, tid: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt32BE(action, 0);
  b.writeUInt32BE(tid, 4);
  Buffer.from(body).copy(b, 8);
  return b;
}
const connectAnswer = (tid: number, id: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(id); return answer(0, tid, b); };
function announceAnswer(tid: number, interval: number, peers: Uint8Array): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(interval, 0); h.writeUInt32BE(4, 4); h.writeUInt32BE(5, 8);
  return answer(1, tid, Buffer.concat([h, peers]));
}
const tidOf = (p: Uint8Array): number => Buffer.from(p).readUInt32BE(12);

test('requests: exact layouts', () => {
  const c = Buffer.from(connectRequest(0xabcdef01));
  assert.equal(c.length, 16);
  assert.equal(c.readBigUInt64BE(0), PROTOCOL_ID);
  assert.equal(c.readUInt32BE(8), 0);
  assert.equal(c.readUInt32BE(12), 0xabcdef01);
  const a = Buffer.from(announceRequest(0x1122334455667788n, 5, req));
  assert.equal(a.length, 98);
  assert.equal(a.readBigUInt64BE(0), 0x1122334455667788n);
  assert.equal(a.readUInt32BE(8), 1);
  assert.deepEqual(a.subarray(16, 36), hash);
  assert.equal(a.readBigUInt64BE(56), 2n); // downloaded
  assert.equal(a.readBigUInt64BE(64), 3n); // left
  assert.equal(a.readBigUInt64BE(72), 1n); // uploaded
  assert.equal(a.readUInt32BE(80), 1); // completed
  assert.equal(a.readUInt32BE(88), 0x01020304);
  assert.equal(a.readInt32BE(92), -1);
  assert.equal(a.readUInt16BE(96), 6881);
  const s = Buffer.from(scrapeRequest(1n, 2, [hash, hash]));
  assert.equal(s.length, 56);
  assert.throws(() => scrapeRequest(1n, 2, []), TrackerError);
});

test('answers: exact record sizes; error text kept and bounded', () => {
  const peers = encodeCompactPeers([{ host: '1.2.3.4', port: 5 }], 6);
  const r = parseUdpResponse(announceAnswer(9, 1800, peers));
  assert.equal(r.action, 'announce');
  if (r.action === 'announce') {
    assert.deepEqual(r.response.peers, [{ host: '1.2.3.4', port: 5 }]);
    assert.equal(r.response.interval, 1800);
    assert.equal(r.response.incomplete, 4);
    assert.equal(r.response.complete, 5);
  }
  const p6 = encodeCompactPeers([{ host: '::1', port: 5 }], 18);
  const r6 = parseUdpResponse(announceAnswer(9, 1, p6), { peerRecord: 18 });
  assert.ok(r6.action === 'announce' && r6.response.peers[0].host === '::1');
  const bad = (b: Uint8Array, o = {}): string => { try { parseUdpResponse(b, o); return 'OK'; } catch (e) { assert.ok(e instanceof TrackerError); return e.code; } };
  assert.equal(bad(announceAnswer(9, 1, new Uint8Array(7))), 'BAD_PACKET');
  assert.equal(bad(announceAnswer(9, 1, new Uint8Array(24)), { peerRecord: 18 }), 'BAD_PACKET');
  assert.equal(bad(announceAnswer(9, 1, new Uint8Array(6 * 20)), { maxPeers: 10 }), 'TOO_MANY_PEERS');
  assert.equal(bad(answer(0, 1, new Uint8Array(7))), 'BAD_PACKET');
  assert.equal(bad(new Uint8Array(7)), 'BAD_PACKET');
  assert.equal(bad(answer(2, 1, new Uint8Array(13))), 'BAD_PACKET');
  assert.equal(bad(answer(2, 1, new Uint8Array(24)), { scrapeCount: 1 }), 'BAD_PACKET');
  assert.equal(bad(answer(7, 1)), 'WRONG_ACTION');
  const e = parseUdpResponse(answer(3, 1, Buffer.from('x\u0000'.repeat(5000))));
  assert.ok(e.action === 'error' && e.message.length <= 1024 && !e.message.includes('\u0000'));
});

test('property: any datagram parses or fails with a TrackerError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(6, 18), (b, rec) => {
    try {
      const r = parseUdpResponse(b, { peerRecord: rec as 6 | 18, maxPeers: 30 });
      if (r.action === 'announce') assert.equal(r.response.peers.length * rec, b.length - 20);
    } catch (e) {
      assert.ok(e instanceof TrackerError, String(e));
    }
  }), { numRuns: 5000 });
});

function tids(): () => number { let n = 100; return () => n++; }
const sent = (s: UdpStep): Uint8Array => { assert.equal(s.type, 'send'); return (s as { packet: Uint8Array }).packet; };

test('exchange: connect, announce, done; the connection id is kept for a minute', () => {
  const x = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids() });
  const c = x.start(1000);
  assert.equal(c.length, 16);
  assert.equal(x.nextTimeout(), 16_000);
  // a datagram with another transaction id is ignored
  assert.equal(x.handleDatagram(connectAnswer(tidOf(c) + 1, 42n), 1100).type, 'none');
  const a = sent(x.handleDatagram(connectAnswer(tidOf(c), 42n), 1200));
  assert.equal(a.length, 98);
  assert.equal(Buffer.from(a).readBigUInt64BE(0), 42n);
  const done = x.handleDatagram(announceAnswer(tidOf(a), 900, encodeCompactPeers([{ host: '9.9.9.9', port: 1 }], 6)), 1300);
  assert.equal(done.type, 'done');
  assert.ok(x.isOver);
  // a second exchange within the minute skips the connect
  const y = new UdpExchange({ kind: 'scrape', infoHashes: [hash] }, { transactionId: tids(), connection: x.connection });
  assert.equal(y.start(1200 + CONNECTION_ID_LIFETIME_MS - 1).length, 36);
  const z = new UdpExchange({ kind: 'scrape', infoHashes: [hash] }, { transactionId: tids(), connection: x.connection });
  assert.equal(z.start(1200 + CONNECTION_ID_LIFETIME_MS).length, 16);
});

test('exchange: retransmits at 15·2^n s, n ≤ max, then TIMEOUT', () => {
  const x = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids() });
  let now = 0;
  const p = x.start(now);
  const times: number[] = [];
  for (;;) {
    const due = x.nextTimeout();
    if (due === null) break;
    assert.equal(x.handleTimeout(due - 1).type, 'none');
    now = due;
    const s = x.handleTimeout(now);
    if (s.type === 'failed') { assert.equal(s.error.code, 'TIMEOUT'); break; }
    assert.deepEqual(sent(s), p); // the same connect, same transaction id
    times.push(now);
  }
  // 15, 45, 105, … : 15·(2^(n+1) − 1) s
  assert.deepEqual(times, [1, 2, 3, 4, 5, 6, 7, 8].map((n) => 15_000 * (2 ** n - 1)));
  assert.equal(now, 15_000 * (2 ** 9 - 1));
  assert.equal(retransmitDeadline(0, 8), 3_840_000);
  const short = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids(), maxRetransmits: 1 });
  short.start(0);
  assert.equal(short.handleTimeout(15_000).type, 'send');
  assert.equal(short.handleTimeout(45_000).type, 'failed');
});

test('exchange: an expired connection id is fetched again on retransmission', () => {
  const x = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids() });
  const c = x.start(0);
  const a = sent(x.handleDatagram(connectAnswer(tidOf(c), 7n), 50_000));
  assert.equal(a.length, 98);
  const again = sent(x.handleTimeout(65_000)); // 15 s later the id is 15 s old: still valid
  assert.equal(again.length, 98);
  const re = sent(x.handleTimeout(95_000)); // 45 s after the announce: the id is 45 s old: valid
  assert.equal(re.length, 98);
  const reconnect = sent(x.handleTimeout(155_000)); // now 105 s old: expired
  assert.equal(reconnect.length, 16);
});

test('exchange: an error action or a wrong action with our id fails it', () => {
  const x = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids() });
  const c = x.start(0);
  const s = x.handleDatagram(answer(3, tidOf(c), Buffer.from('go away')), 1);
  assert.ok(s.type === 'failed' && s.error.code === 'TRACKER_FAILURE' && s.error.message === 'go away');
  assert.equal(x.handleDatagram(connectAnswer(tidOf(c), 1n), 2).type, 'none');
  const y = new UdpExchange({ kind: 'announce', request: req }, { transactionId: tids() });
  const c2 = y.start(0);
  const w = y.handleDatagram(announceAnswer(tidOf(c2), 1, new Uint8Array(0)), 1);
  assert.ok(w.type === 'failed' && w.error.code === 'WRONG_ACTION');
  assert.throws(() => new UdpExchange({ kind: 'announce', request: { ...req, port: -1 } }, { transactionId: tids() }), TrackerError);
});

test('property: random datagrams and timeouts: only send/none/done/failed, always over in bounded steps', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 0, max: 4_000_000 })), { maxLength: 40 }), (ops) => {
    const x = new UdpExchange({ kind: 'announce', request: req }, { transactionId: () => 0, maxRetransmits: 3 });
    let now = 0;
    x.start(now);
    for (const op of ops) {
      if (typeof op === 'number') { now += op; x.handleTimeout(now); } else {
        const b = Buffer.from(op);
        if (b.length >= 8) b.writeUInt32BE(0, 4); // our transaction id, so it reaches the parser
        const s = x.handleDatagram(b, now);
        if (s.type === 'failed') assert.ok(s.error instanceof TrackerError);
      }
    }
    // whatever happened, time alone ends it
    for (let i = 0; i < 10 && !x.isOver; i++) { now = x.nextTimeout() ?? now; x.handleTimeout(now); }
    assert.ok(x.isOver);
  }));
});
