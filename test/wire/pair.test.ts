/**
 * The two-connection harness itself and the handshake phases of both roles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pair, openPair, INFO_HASH, PEER_A, PEER_B, fill } from './pair.js';
import { encodeHandshake, makeReserved } from '../../wire/handshake.js';
import { CONNECTION_DEFAULTS, PeerConnection } from '../../wire/connection.js';

test('handshake both roles: acceptor sees the info hash first, then both open', () => {
  const p = new Pair({ autoAccept: false });
  p.drive();
  // b has 48+ bytes and waits for the application.
  assert.deepEqual(p.types('b'), ['handshake_info_hash']);
  const [ih] = p.take('b', 'handshake_info_hash');
  assert.deepEqual(ih.infoHash, INFO_HASH);
  assert.deepEqual(ih.flags, { extended: true, fast: true, dht: false });
  assert.equal(p.b.state, 'handshaking');
  assert.equal(p.bytesBtoA, 0, 'the acceptor answers only after accept()');
  p.b.accept({ numPieces: 64 }, p.now);
  p.drive();
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
  const [ha] = p.take('a', 'handshake');
  const [hb] = p.take('b', 'handshake');
  assert.deepEqual(ha.peerId, PEER_B);
  assert.deepEqual(hb.peerId, PEER_A);
  assert.equal(ha.fast, true);
  assert.equal(ha.extended, true);
  assert.equal(hb.fast, true);
  // Both sent their BEP 10 handshake and saw the other's reqq.
  const [xa] = p.take('a', 'extended_handshake');
  const [xb] = p.take('b', 'extended_handshake');
  assert.equal(xa.handshake.reqq, CONNECTION_DEFAULTS.reqq);
  assert.equal(xb.handshake.reqq, CONNECTION_DEFAULTS.reqq);
});

test('acceptor reject() ends the connection with a local TORRENT_REJECTED', () => {
  const p = new Pair({ autoAccept: false });
  p.drive();
  p.b.reject();
  p.drive();
  const err = p.errorOf('b');
  assert.ok(err);
  assert.equal(err.error.code, 'TORRENT_REJECTED');
  assert.equal(err.error.remote, false);
  assert.equal(p.b.state, 'error');
  assert.equal(p.b.pollTransmit(), null);
});

test('initiator refuses an answer for another info hash (INFO_HASH_MISMATCH)', () => {
  const a = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: 0, infoHash: INFO_HASH, numPieces: 8 });
  a.sendHandshake(0);
  a.receive(encodeHandshake({ infoHash: fill(20, 1), peerId: PEER_B, reserved: makeReserved({ fast: true }) }), 0);
  const ev = a.pollEvent();
  assert.equal(ev?.type, 'error');
  assert.equal(ev.type === 'error' && ev.error.code, 'INFO_HASH_MISMATCH');
  assert.equal(a.error?.remote, true);
});

test('a non-BitTorrent greeting is refused at the first wrong byte (BAD_HANDSHAKE)', () => {
  const b = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: 0 });
  b.receive(new TextEncoder().encode('GET / HTTP/1.1\r\n'), 0);
  const ev = b.pollEvent();
  assert.equal(ev?.type === 'error' && ev.error.code, 'BAD_HANDSHAKE');
  assert.equal(b.pollEvent(), null, 'error is reported once, then sticky');
  assert.equal(b.state, 'error');
});

test('the same session over 1-byte and 7-byte splits yields the same events', () => {
  const run = (splitAt: number): string[] => {
    const p = openPair({ splitAt });
    p.b.haveAll(p.now);
    p.b.unchoke(p.now);
    p.drive();
    p.a.interested(p.now);
    p.a.request(3, 0, 1000, p.now);
    p.a.request(3, 1000, 1000, p.now);
    p.drive();
    for (const r of p.take('b', 'request')) p.b.sendPiece(r.index, r.begin, fill(r.length, r.begin & 0xff), p.now);
    p.drive();
    const pieces = p.take('a', 'piece');
    assert.equal(pieces.length, 2);
    assert.deepEqual(pieces[1].block, fill(1000, 1000 & 0xff));
    return [...p.types('a'), ...p.types('b'), String(p.bytesAtoB), String(p.bytesBtoA)];
  };
  const whole = run(0);
  assert.deepEqual(run(1), whole);
  assert.deepEqual(run(7), whole);
});

test('handshake bytes glued to the first messages in one chunk are all processed', () => {
  const p = openPair();
  const b = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: 0 });
  // a fresh initiator whose handshake + extended handshake arrive as one chunk
  const a = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: 0, infoHash: INFO_HASH, numPieces: 64 });
  a.sendHandshake(0);
  const parts: Uint8Array[] = [];
  for (let c = a.pollTransmit(); c; c = a.pollTransmit()) parts.push(c);
  b.receive(Buffer.concat(parts), 0);
  const ev = b.pollEvent();
  assert.equal(ev?.type, 'handshake_info_hash');
  b.accept({ numPieces: 64 }, 0);
  for (let c = b.pollTransmit(); c; c = b.pollTransmit()) a.receive(c, 0);
  assert.equal(a.pollEvent()?.type, 'handshake');
  for (let c = a.pollTransmit(); c; c = a.pollTransmit()) b.receive(c, 0);
  const evs = [];
  for (let e = b.pollEvent(); e; e = b.pollEvent()) evs.push(e.type);
  assert.deepEqual(evs, ['handshake', 'extended_handshake']);
  assert.equal(p.a.state, 'open');
});

test('without BEP 10 or fast bits nothing extended is sent and fast stays off', () => {
  const p = openPair({ a: { extended: false, fast: false } });
  assert.equal(p.a.extendedEnabled, false);
  assert.equal(p.b.extendedEnabled, false);
  assert.equal(p.b.fastEnabled, false);
  assert.deepEqual(p.types('a'), ['handshake']);
  assert.deepEqual(p.types('b'), ['handshake_info_hash', 'handshake']);
  assert.equal(p.bytesAtoB, 68);
  assert.equal(p.bytesBtoA, 68);
  assert.equal(p.a.stats.protocolBytesOut, 68);
  assert.equal(p.a.stats.protocolBytesIn, 68);
});

test('a whole session that arrives with its end before any event is pulled is processed, then ends', () => {
  const a = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: 0, infoHash: INFO_HASH, numPieces: 64, extended: false });
  const b = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: 0, extended: false });
  a.sendHandshake(0);
  for (let c = a.pollTransmit(); c; c = a.pollTransmit()) b.receive(c, 0);
  b.receive(Uint8Array.from([0, 0, 0, 1, 2]), 0); // interested, glued behind the handshake
  b.receiveEnd();
  assert.equal(b.pollEvent()?.type, 'handshake_info_hash');
  b.accept({ numPieces: 64 }, 0);
  const types = [];
  for (let e = b.pollEvent(); e; e = b.pollEvent()) types.push(e.type);
  assert.deepEqual(types, ['handshake', 'interested', 'end']);
  assert.equal(b.state, 'closed');
});
