/**
 * PeerConnection state machine over the in-memory pair: choke/interest, the
 * request → piece flow, reqq bounds, hostile messages with their typed errors,
 * timeouts driven by `now`, byte accounting, and the BEP 10 extension hooks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pair, openPair, fill, PEER_A, INFO_HASH } from './pair.js';
import { encodeMessage } from '../../wire/codec.js';
import { encode } from '../../wire/bencode.js';
import { PeerConnection, type ExtensionHook, type ExtensionContext, type PeerExtendedHandshake } from '../../wire/connection.js';
import { WireError } from '../../wire/errors.js';
import type { Message } from '../../wire/messages.js';

const frame = (m: Message): Uint8Array => encodeMessage(m);

/** An open pair where b has every piece and has unchoked an interested a. */
function seeding(o: Parameters<typeof openPair>[0] = {}): Pair {
  const p = openPair(o);
  if (p.b.fastEnabled) p.b.haveAll(p.now);
  else p.b.bitfield(fill(8, 0xff), p.now);
  p.a.interested(p.now);
  p.b.unchoke(p.now);
  p.drive();
  return p;
}

function assertLocal(f: () => void, code?: string): void {
  assert.throws(f, (e: unknown) => e instanceof WireError && e.remote === false && (code === undefined || e.code === code));
}

test('choke and interest are tracked on both sides with events', () => {
  const p = openPair();
  assert.equal(p.a.amChoking, true);
  assert.equal(p.a.peerChoking, true);
  p.a.interested(p.now);
  p.drive();
  assert.equal(p.b.peerInterested, true);
  assert.equal(p.take('b', 'interested').length, 1);
  p.b.unchoke(p.now);
  p.drive();
  assert.equal(p.a.peerChoking, false);
  assert.equal(p.take('a', 'unchoke').length, 1);
  p.a.interested(p.now); // idempotent: nothing sent
  p.drive();
  assert.equal(p.take('b', 'interested').length, 0);
  p.a.notInterested(p.now);
  p.b.choke(p.now);
  p.drive();
  assert.equal(p.b.peerInterested, false);
  assert.equal(p.a.peerChoking, true);
  assert.equal(p.take('a', 'choke').length, 1);
});

test('request → piece flow, with payload and protocol bytes counted apart', () => {
  const p = seeding();
  const blocks = [[0, 0, 16384], [0, 16384, 16384], [5, 0, 100]] as const;
  for (const [i, b, l] of blocks) p.a.request(i, b, l, p.now);
  assert.equal(p.a.requestsInFlight, 3);
  p.drive();
  const reqs = p.take('b', 'request');
  assert.deepEqual(reqs.map((r) => [r.index, r.begin, r.length]), blocks.map((x) => [...x]));
  assert.equal(p.b.peerRequestCount, 3);
  assert.equal(p.b.hasPeerRequest(0, 16384, 16384), true);
  assert.equal(p.b.hasPeerRequest(0, 16384, 100), false);
  assert.equal(p.a.hasRequest(5, 0, 100), true);
  for (const r of reqs) p.b.sendPiece(r.index, r.begin, fill(r.length, r.index + 1), p.now);
  assert.equal(p.b.peerRequestCount, 0);
  p.drive();
  const pieces = p.take('a', 'piece');
  assert.equal(pieces.length, 3);
  assert.deepEqual(pieces[2].block, fill(100, 6));
  assert.equal(pieces[0].late, false);
  assert.equal(p.a.requestsInFlight, 0);
  const payload = 16384 * 2 + 100;
  assert.equal(p.b.stats.payloadBytesOut, payload);
  assert.equal(p.a.stats.payloadBytesIn, payload);
  // Every byte on the wire is either payload or protocol, and both ends agree.
  assert.equal(p.a.stats.payloadBytesOut + p.a.stats.protocolBytesOut, p.bytesAtoB);
  assert.equal(p.b.stats.payloadBytesOut + p.b.stats.protocolBytesOut, p.bytesBtoA);
  assert.equal(p.b.stats.protocolBytesIn, p.a.stats.protocolBytesOut);
  assert.equal(p.a.stats.protocolBytesIn, p.b.stats.protocolBytesOut);
  assert.equal(p.b.stats.protocolBytesOut, p.bytesBtoA - payload);
});

test('piece is sent as header and block chunks, the block not copied', () => {
  const p = seeding();
  p.a.request(1, 0, 64, p.now);
  p.drive();
  const block = fill(64, 9);
  p.b.sendPiece(1, 0, block, p.now);
  const header = p.b.pollTransmit();
  const body = p.b.pollTransmit();
  assert.equal(header?.length, 13);
  assert.equal(body, block, 'the very same Uint8Array goes out');
  assert.equal(p.b.pollTransmit(), null);
});

test('local misuse throws a local error and changes nothing', () => {
  const p = openPair();
  // b has announced nothing yet: a cannot request.
  assertLocal(() => p.a.request(0, 0, 16384, p.now), 'ILLEGAL_STATE');
  p.b.bitfield(fill(8, 0x80), p.now); // piece 0 only
  p.drive();
  assertLocal(() => p.a.request(0, 0, 16384, p.now), 'ILLEGAL_STATE'); // still choked
  p.b.unchoke(p.now);
  p.drive();
  assertLocal(() => p.a.request(1, 0, 16384, p.now), 'ILLEGAL_STATE'); // b lacks piece 1
  assertLocal(() => p.a.request(64, 0, 16384, p.now), 'INVALID_ARGUMENT');
  assertLocal(() => p.a.request(0, 0, 16385, p.now), 'INVALID_ARGUMENT');
  assertLocal(() => p.a.request(0, 0, 0, p.now), 'INVALID_ARGUMENT');
  p.a.request(0, 0, 16384, p.now);
  assertLocal(() => p.a.request(0, 0, 16384, p.now), 'ILLEGAL_STATE'); // duplicate
  assertLocal(() => p.a.cancel(0, 16384, 16384, p.now), 'ILLEGAL_STATE');
  assertLocal(() => p.b.bitfield(fill(8, 0xff), p.now), 'HAVE_ALL_NOT_FIRST');
  p.drive();
  const [r] = p.take('b', 'request');
  assertLocal(() => p.b.sendPiece(r.index, r.begin, fill(100, 0), p.now), 'ILLEGAL_STATE'); // wrong length
  assertLocal(() => p.b.sendPiece(2, 0, fill(16384, 0), p.now), 'ILLEGAL_STATE');
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
  p.a.close();
  assertLocal(() => p.a.interested(p.now), 'ILLEGAL_STATE');
  assert.equal(p.a.pollEvent(), null);
});

test('our in-flight requests stay below the reqq the peer advertised (one slot of headroom)', () => {
  const p = seeding({ b: { reqq: 5 } });
  assert.equal(p.a.peerReqq, 5);
  assert.equal(p.a.requestLimit, 4); // Transmission 3.00 rejects its reqq-th request
  for (let i = 0; i < 4; i++) p.a.request(0, i * 1024, 1024, p.now);
  assert.equal(p.a.canRequest(0), false);
  assertLocal(() => p.a.request(0, 4 * 1024, 1024, p.now), 'ILLEGAL_STATE');
  p.drive();
  const [r] = p.take('b', 'request');
  p.b.sendPiece(r.index, r.begin, fill(r.length, 0), p.now);
  p.drive();
  p.a.request(0, 4 * 1024, 1024, p.now); // a slot freed
  assert.equal(openPair({ b: { reqq: 1 } }).a.requestLimit, 1);
});

test('a hostile reqq is clamped; without BEP 10 the default of 250 applies', () => {
  const huge = openPair({ b: { reqq: 1_000_000 } });
  assert.equal(huge.a.peerReqq, 4096);
  assert.equal(huge.a.requestLimit, 4095);
  const plain = openPair({ common: { extended: false } });
  assert.equal(plain.a.peerReqq, 250);
  assert.equal(plain.a.requestLimit, 250);
});

test('without fast, requests beyond our reqq end the connection (REQUEST_OVERFLOW)', () => {
  // a does not learn b's reqq (no BEP 10) and believes it may send 10.
  const p = seeding({ common: { extended: false, fast: false }, a: { defaultPeerReqq: 10 }, b: { reqq: 5 } });
  for (let i = 0; i < 6; i++) p.a.request(0, i * 1024, 1024, p.now);
  p.drive();
  assert.equal(p.take('b', 'request').length, 5);
  assert.equal(p.errorOf('b')?.error.code, 'REQUEST_OVERFLOW');
  assert.equal(p.errorOf('b')?.error.remote, true);
  assert.equal(p.b.state, 'error');
});

test('a piece nobody requested ends the connection (UNREQUESTED_PIECE)', () => {
  const p = seeding();
  p.inject('a', frame({ type: 'piece', index: 0, begin: 0, block: fill(16, 1) }));
  assert.equal(p.errorOf('a')?.error.code, 'UNREQUESTED_PIECE');
  assert.equal(p.a.state, 'error');
  assert.equal(p.a.nextTimeout(), null);
});

test('a piece answering a request with another length is unrequested too', () => {
  const p = seeding();
  p.a.request(0, 0, 1024, p.now);
  p.drive();
  p.inject('a', frame({ type: 'piece', index: 0, begin: 0, block: fill(1000, 1) }));
  assert.equal(p.errorOf('a')?.error.code, 'UNREQUESTED_PIECE');
});

test('cancel race without fast: a piece that crossed our cancel is accepted as late', () => {
  const p = seeding({ common: { fast: false } });
  p.a.request(0, 0, 1024, p.now);
  p.drive();
  const [r] = p.take('b', 'request');
  p.b.sendPiece(r.index, r.begin, fill(1024, 3), p.now); // in flight to a…
  p.a.cancel(0, 0, 1024, p.now); // …while a cancels
  p.drive();
  const [piece] = p.take('a', 'piece');
  assert.equal(piece.late, true);
  assert.equal(p.a.state, 'open');
  assert.equal(p.take('b', 'cancel').length, 0, 'b had already served it');
  // A second copy would be unrequested.
  p.inject('a', frame({ type: 'piece', index: 0, begin: 0, block: fill(1024, 3) }));
  assert.equal(p.errorOf('a')?.error.code, 'UNREQUESTED_PIECE');
});

test('without fast, a choke voids requests on both sides silently', () => {
  const p = seeding({ common: { fast: false } });
  p.a.request(0, 0, 1024, p.now);
  p.a.request(0, 1024, 1024, p.now);
  p.drive();
  assert.equal(p.b.peerRequestCount, 2);
  const dropped = p.b.choke(p.now);
  assert.equal(dropped.length, 2);
  assert.equal(p.b.peerRequestCount, 0);
  p.drive();
  const [ch] = p.take('a', 'choke');
  assert.equal(ch.dropped.length, 2);
  assert.equal(p.a.requestsInFlight, 0);
  assert.equal(p.take('a', 'reject').length, 0);
  // A request that crossed the choke is ignored (BEP 3), not an error.
  p.inject('b', frame({ type: 'request', index: 0, begin: 0, length: 1024 }));
  assert.equal(p.b.state, 'open');
  assert.equal(p.take('b', 'request').length, 2);
  assert.equal(p.b.peerRequestCount, 0);
});

test('hostile messages end the connection with their typed error', () => {
  const cases: [string, Message | Uint8Array, string][] = [
    ['have past the last piece', { type: 'have', index: 64 }, 'BAD_PIECE_INDEX'],
    ['request past the last piece', { type: 'request', index: 99, begin: 0, length: 16 }, 'BAD_PIECE_INDEX'],
    ['request of 32 KiB', { type: 'request', index: 0, begin: 0, length: 32768 }, 'BAD_REQUEST'],
    ['request of 0 bytes', { type: 'request', index: 0, begin: 0, length: 0 }, 'BAD_REQUEST'],
    ['bitfield of the wrong length', { type: 'bitfield', bits: fill(9, 0) }, 'BAD_BITFIELD_LENGTH'],
    ['bitfield with spare bits', { type: 'bitfield', bits: fill(8, 0xff) }, 'BITFIELD_SPARE_BITS'],
    ['extended id never advertised', { type: 'extended', id: 7, payload: fill(1, 0) }, 'UNKNOWN_EXTENSION_ID'],
    ['extended handshake not bencoded', { type: 'extended', id: 0, payload: fill(3, 0x78) }, 'BAD_EXTENDED_HANDSHAKE'],
    ['extended handshake not a dict', { type: 'extended', id: 0, payload: encode([1]) }, 'BAD_EXTENDED_HANDSHAKE'],
    ['extended handshake m not a dict', { type: 'extended', id: 0, payload: encode({ m: 5 }) }, 'BAD_EXTENDED_HANDSHAKE'],
    ['length prefix 2^31', Uint8Array.from([0x80, 0, 0, 0, 7]), 'LENGTH_TOO_LARGE'],
    ['unknown message id', Uint8Array.from([0, 0, 0, 1, 0x42]), 'UNKNOWN_MESSAGE_ID'],
    ['have of 3 bytes', Uint8Array.from([0, 0, 0, 4, 4, 0, 0, 1]), 'BAD_MESSAGE_SIZE'],
  ];
  for (const [name, m, code] of cases) {
    // 60 pieces, so a full bitfield (8 bytes) has 4 spare bits set.
    const p = openPair({ numPieces: 60 });
    p.inject('b', m instanceof Uint8Array ? m : frame(m));
    const err = p.errorOf('b');
    assert.equal(err?.error.code, code, name);
    assert.equal(err?.error.remote, true, name);
    assert.equal(p.b.state, 'error', name);
    // Sticky: more input changes nothing, no second error event.
    p.inject('b', frame({ type: 'interested' }));
    assert.equal(p.events('b').filter((e) => e.type === 'error').length, 1, name);
  }
});

test('extended messages without BEP 10 on both sides end the connection', () => {
  const p = openPair({ a: { extended: false } });
  p.inject('b', frame({ type: 'extended', id: 0, payload: encode({ m: {} }) }));
  assert.equal(p.errorOf('b')?.error.code, 'EXTENSION_NOT_NEGOTIATED');
});

test('end of stream: clean at a boundary gives end, inside a message TRUNCATED', () => {
  const p = openPair();
  p.b.receive(frame({ type: 'interested' }), p.now);
  p.b.receiveEnd();
  p.drive();
  assert.deepEqual(p.types('b').slice(-2), ['interested', 'end']);
  assert.equal(p.b.state, 'closed');

  const q = openPair();
  q.b.receive(frame({ type: 'have', index: 1 }).subarray(0, 6), q.now);
  q.b.receiveEnd();
  q.drive();
  assert.equal(q.errorOf('b')?.error.code, 'TRUNCATED');

  const h = new PeerConnection({ role: 'acceptor', peerId: PEER_A, now: 0 });
  h.receive(fill(10, 19).subarray(0, 1), 0);
  h.receiveEnd();
  const ev = h.pollEvent();
  assert.equal(ev?.type === 'error' && ev.error.code, 'TRUNCATED');
});

test('keep-alive after the idle interval, idle timeout after silence — time is an input', () => {
  const p = openPair({ common: { keepAliveInterval: 60_000, idleTimeout: 120_000 } });
  const before = p.bytesAtoB;
  assert.equal(p.a.nextTimeout(), 60_000);
  p.advance(59_999);
  assert.equal(p.bytesAtoB, before);
  p.advance(1);
  assert.equal(p.bytesAtoB, before + 4, 'one keep-alive');
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
  // Both keep each other alive indefinitely.
  for (let i = 0; i < 10; i++) p.advance(60_000);
  assert.equal(p.a.state, 'open');
  // A silent peer: b stops talking (closed), a times out 120 s after its last byte.
  p.b.close();
  const lastHeard = p.now;
  p.advance(60_000);
  assert.equal(p.a.state, 'open');
  assert.equal(p.a.nextTimeout(), lastHeard + 120_000);
  p.advance(60_000);
  assert.equal(p.errorOf('a')?.error.code, 'KEEPALIVE_TIMEOUT');
  assert.equal(p.a.nextTimeout(), null);
});

test('handshake timeout: a peer that never answers', () => {
  const a = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: 1000, infoHash: INFO_HASH, numPieces: 4, handshakeTimeout: 5000 });
  a.sendHandshake(1000);
  assert.equal(a.nextTimeout(), 6000);
  a.handleTimeout(5999);
  assert.equal(a.state, 'handshaking');
  a.handleTimeout(6000);
  const ev = a.pollEvent();
  assert.equal(ev?.type === 'error' && ev.error.code, 'HANDSHAKE_TIMEOUT');
});

test('request timeout is reported once per request, computed from now', () => {
  const p = seeding({ common: { requestTimeout: 10_000, keepAliveInterval: 1_000_000, idleTimeout: 1_000_000 } });
  const t0 = p.now;
  p.a.request(0, 0, 1024, p.now);
  p.advance(4000);
  p.a.request(0, 1024, 1024, p.now);
  assert.equal(p.a.nextTimeout(), t0 + 10_000);
  p.advance(6000);
  const first = p.take('a', 'request_timeout');
  assert.deepEqual(first.map((r) => r.begin), [0]);
  assert.equal(p.a.nextTimeout(), t0 + 14_000);
  p.advance(4000);
  assert.deepEqual(p.take('a', 'request_timeout').map((r) => r.begin), [1024]);
  p.advance(100_000);
  assert.equal(p.take('a', 'request_timeout').length, 0, 'reported once');
  assert.equal(p.a.requestsInFlight, 2, 'still in flight: the application decides');
  // A late answer is still welcome.
  const [r] = p.take('b', 'request');
  p.b.sendPiece(r.index, r.begin, fill(r.length, 1), p.now);
  p.drive();
  assert.equal(p.take('a', 'piece').length, 1);
});

// ----------------------------------------------------------------- extension hooks

class RecordingHook implements ExtensionHook {
  ctx: ExtensionContext | null = null;
  handshakes: PeerExtendedHandshake[] = [];
  messages: Uint8Array[] = [];
  sent: string[] = [];
  received: string[] = [];
  allow = true;
  constructor(readonly name: string, private readonly keep = true, private readonly extraKey?: [string, number]) {}
  attach(ctx: ExtensionContext): void { this.ctx = ctx; }
  addHandshakeKeys(d: Map<string, import('../../wire/bencode.js').Encodable>): void {
    if (this.extraKey) d.set(this.extraKey[0], this.extraKey[1]);
  }
  onPeerHandshake(hs: PeerExtendedHandshake): boolean { this.handshakes.push(hs); return this.keep; }
  onMessage(payload: Uint8Array): void { this.messages.push(payload.slice()); }
  canSendPiece(): boolean { return this.allow; }
  onPieceSent(i: number, b: number, l: number): void { this.sent.push(`${i}:${b}:${l}`); }
  onPieceReceived(i: number, b: number, l: number): void { this.received.push(`${i}:${b}:${l}`); }
}

test('extension hooks: handshake keys, ids, messages, decline, piece gate and observers', () => {
  const aPay = new RecordingHook('seedpay');
  const aMeta = new RecordingHook('ut_metadata', true, ['metadata_size', 12345]);
  const bPay = new RecordingHook('seedpay');
  const bDecline = new RecordingHook('ut_metadata', false);
  const p = new Pair({ a: { extensions: [aPay, aMeta], clientVersion: 'SeedPay 0.1', listenPort: 6881 }, bExtensions: [bDecline, bPay] });
  // Before any handshake the peer's ids are unknown: sending is refused (Transmission #7177).
  assert.equal(aPay.ctx?.localId, 1);
  assert.equal(aPay.ctx?.remoteId, null);
  assert.throws(() => aPay.ctx!.send(fill(1, 0)), (e: unknown) => e instanceof WireError && e.remote === false);
  p.drive();
  // b bound its hooks in accept(): ut_metadata is 1 and seedpay 2 on b's side.
  assert.equal(aPay.ctx?.remoteId, 2);
  assert.equal(aMeta.ctx?.remoteId, 1);
  assert.equal(bPay.ctx?.remoteId, 1);
  const hsSeenByB = bPay.handshakes[0];
  assert.equal(hsSeenByB.v, 'SeedPay 0.1');
  assert.equal(hsSeenByB.p, 6881);
  assert.equal(hsSeenByB.metadataSize, 12345);
  assert.deepEqual([...hsSeenByB.m], [['seedpay', 1], ['ut_metadata', 2]]);
  assert.equal(bDecline.handshakes.length, 1);
  // Messages travel by name ↔ id mapping.
  aPay.ctx!.send(Uint8Array.from([1, 2, 3]));
  bPay.ctx!.send(Uint8Array.from([4]));
  p.drive();
  assert.deepEqual(bPay.messages, [Uint8Array.from([1, 2, 3])]);
  assert.deepEqual(aPay.messages, [Uint8Array.from([4])]);
  // b declined ut_metadata: a's messages for it are ignored, b's hook cannot send.
  aMeta.ctx!.send(Uint8Array.from([9]));
  p.drive();
  assert.equal(bDecline.messages.length, 0);
  assert.equal(p.b.state, 'open');
  assert.throws(() => bDecline.ctx!.send(fill(1, 0)));
  // Piece gate: b serves only while its seedpay hook allows.
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.drive();
  p.a.request(0, 0, 100, p.now);
  p.drive();
  bPay.allow = false;
  assert.equal(p.b.canSendPiece(0, 0, 100), false);
  assertLocal(() => p.b.sendPiece(0, 0, fill(100, 0), p.now));
  bPay.allow = true;
  p.b.sendPiece(0, 0, fill(100, 0), p.now);
  p.drive();
  assert.deepEqual(bPay.sent, ['0:0:100']);
  assert.deepEqual(bDecline.sent, [], 'a declined hook sees nothing');
  assert.deepEqual(aPay.received, ['0:0:100']);
});

test('sendExtended by name waits for the peer id; a peer can disable an extension later', () => {
  const aHook = new RecordingHook('x_test');
  const bHook = new RecordingHook('x_test');
  const p = openPair({ a: { extensions: [aHook] }, bExtensions: [bHook] });
  p.a.sendExtended('x_test', fill(2, 7), p.now);
  assertLocal(() => p.a.sendExtended('nope', fill(1, 0), p.now), 'EXTENSION_NOT_NEGOTIATED');
  p.drive();
  assert.equal(bHook.messages.length, 1);
  // b sends a second BEP 10 handshake disabling x_test (m: {x_test: 0}).
  p.inject('a', frame({ type: 'extended', id: 0, payload: encode({ m: { x_test: 0 } }) }));
  assert.equal(p.a.remoteExtensionId('x_test'), null);
  assertLocal(() => p.a.sendExtended('x_test', fill(1, 0), p.now), 'EXTENSION_NOT_NEGOTIATED');
  assert.equal(p.take('a', 'extended_handshake').length, 2);
});

test('a hook that throws ends the connection with EXTENSION_ERROR', () => {
  const bad: ExtensionHook = { name: 'bad', onMessage(): void { throw new Error('boom'); } };
  const p = openPair({ a: { extensions: [{ name: 'bad' }] }, bExtensions: [bad] });
  p.a.sendExtended('bad', fill(1, 0), p.now);
  p.drive();
  assert.equal(p.errorOf('b')?.error.code, 'EXTENSION_ERROR');
});

test('the peer extended handshake fields are typed, bad optional fields ignored', () => {
  const p = openPair();
  const payload = encode({ m: { ut_pex: 1, lt_donthave: 7, bad: 'x', big: 300 }, reqq: 2000, v: 'libtorrent/2.0.8.0', yourip: Uint8Array.from([127, 0, 0, 1]), p: 70000, upload_only: 1, metadata_size: -3 });
  p.inject('a', frame({ type: 'extended', id: 0, payload }));
  const [, hs] = p.take('a', 'extended_handshake').map((e) => e.handshake);
  assert.deepEqual([...hs.m], [['lt_donthave', 7], ['ut_pex', 1]]);
  assert.equal(hs.reqq, 2000);
  assert.equal(p.a.peerReqq, 2000);
  assert.equal(hs.v, 'libtorrent/2.0.8.0');
  assert.deepEqual(hs.yourip, Uint8Array.from([127, 0, 0, 1]));
  assert.equal(hs.p, undefined);
  assert.equal(hs.metadataSize, undefined);
  assert.equal(hs.uploadOnly, true);
  assert.equal(p.a.state, 'open');
});

test('without fast, requests that crossed a choke/unchoke are honest and tolerated up to 2×reqq', () => {
  const p = openPair({ common: { fast: false, extended: false, reqq: 1, defaultPeerReqq: 1 } });
  p.a.bitfield(fill(8, 0xff), p.now);
  p.a.unchoke(p.now);
  p.drive();
  p.b.request(0, 0, 100, p.now); // b → a, not yet delivered
  p.a.choke(p.now);
  p.a.unchoke(p.now);
  // a's choke + unchoke reach b first: b counts its request as void…
  for (let c = p.a.pollTransmit(); c; c = p.a.pollTransmit()) p.b.receive(c, p.now);
  for (let e = p.b.pollEvent(); e; e = p.b.pollEvent()) p.eventsB.push(e);
  assert.equal(p.b.requestsInFlight, 0);
  p.b.request(0, 100, 100, p.now); // …and sends another within its reqq of 1
  p.drive();
  // a received the first after its unchoke (live) and the second: 2 pending, no error.
  assert.equal(p.a.state, 'open');
  assert.equal(p.a.peerRequestCount, 2);
  for (const r of p.take('a', 'request')) p.a.sendPiece(r.index, r.begin, fill(r.length, 1), p.now);
  p.drive();
  assert.deepEqual(p.take('b', 'piece').map((x) => x.late), [true, false]);
  assert.equal(p.b.state, 'open');
});

// ----------------------------------------------------------------- hostile input never escapes

const u32 = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff));
const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.constantFrom<Message>({ type: 'keep_alive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' },
    { type: 'not_interested' }, { type: 'have_all' }, { type: 'have_none' }),
  fc.record({ type: fc.constant('have' as const), index: u32 }),
  fc.record({ type: fc.constant('suggest_piece' as const), index: u32 }),
  fc.record({ type: fc.constant('allowed_fast' as const), index: u32 }),
  fc.record({ type: fc.constant('bitfield' as const), bits: fc.uint8Array({ maxLength: 10 }) }),
  fc.record({ type: fc.constant('request' as const), index: u32, begin: u32, length: u32 }),
  fc.record({ type: fc.constant('cancel' as const), index: u32, begin: u32, length: u32 }),
  fc.record({ type: fc.constant('reject_request' as const), index: u32, begin: u32, length: u32 }),
  fc.record({ type: fc.constant('piece' as const), index: u32, begin: u32, block: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('port' as const), port: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ type: fc.constant('extended' as const), id: fc.integer({ min: 0, max: 3 }), payload: fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.constant(encode({ m: { x: 1 }, reqq: 3 }))) }),
);

test('property: any message sequence or byte soup from a peer yields events or one typed error, never a throw', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(fc.oneof(anyMessage.map(frame), fc.uint8Array({ minLength: 1, maxLength: 12 })), { maxLength: 30 }),
      fc.integer({ min: 1, max: 9 }),
      (fast, parts, split) => {
        const p = openPair({ numPieces: 60, common: { fast }, a: { extensions: [{ name: 'x' }] } });
        const bytes = Buffer.concat(parts);
        for (let i = 0; i < bytes.length; i += split) p.b.receive(bytes.subarray(i, i + split), p.now);
        p.drive();
        const errors = p.events('b').filter((e) => e.type === 'error');
        assert.ok(errors.length <= 1);
        if (errors.length === 1) {
          assert.ok(errors[0].type === 'error' && errors[0].error instanceof WireError && errors[0].error.remote);
          assert.equal(p.b.state, 'error');
        } else {
          assert.equal(p.b.state, 'open');
        }
        assert.ok(p.b.peerRequestCount <= p.b.reqq * 2);
      },
    ),
    { numRuns: 400 },
  );
});

test('no idle timeout while received bytes wait for the application to pull them', () => {
  const p = openPair({ common: { idleTimeout: 10_000, keepAliveInterval: 1e9 } });
  p.b.receive(frame({ type: 'interested' }), p.now); // not pulled
  p.now += 20_000;
  p.b.handleTimeout(p.now);
  assert.equal(p.b.state, 'open');
  assert.equal(p.b.pollEvent()?.type, 'interested');
  p.now += 10_000;
  p.b.handleTimeout(p.now);
  assert.equal(p.b.pollEvent()?.type === 'error' && p.b.error?.code, 'KEEPALIVE_TIMEOUT');
});

test('close() stops everything: queued events and bytes are dropped, timers end', () => {
  const p = openPair();
  p.b.receive(frame({ type: 'interested' }), p.now);
  p.b.receive(frame({ type: 'unchoke' }), p.now);
  p.b.unchoke(p.now);
  p.b.close();
  assert.equal(p.b.pollEvent(), null);
  assert.equal(p.b.pollTransmit(), null);
  assert.equal(p.b.nextTimeout(), null);
  assert.equal(p.b.state, 'closed');
  assert.equal(p.b.error, null);
});
