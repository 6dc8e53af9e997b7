/**
 * Connections whose piece count is not known at open (a magnet link before the
 * metadata arrived): `numPieces: null`, the peer's bitfield / have_all / have_none /
 * have kept raw and bounded, `setNumPieces(n)` validating them (BEP 3 length and spare
 * bits, have indices) and reporting them then as one 'bitfield' event — or ending the
 * connection with the usual typed code. Ends with a whole magnet flow over the pair: ut_metadata fetch,
 * then setNumPieces, then a block request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pair, fill, INFO_HASH, PEER_A } from './pair.js';
import { encodeMessage } from '../../wire/codec.js';
import { Bitfield } from '../../wire/bitfield.js';
import { WireError } from '../../wire/errors.js';
import { PeerConnection, MAX_DEFERRED_PIECES, type ConnectionEvent } from '../../wire/connection.js';
import type { Message } from '../../wire/messages.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { ExtensionRegistry } from '../../extensions/registry.js';
import { UtMetadata } from '../../extensions/ut-metadata.js';

const frame = (m: Message): Uint8Array => encodeMessage(m);

/** A pair whose acceptor b does not know the piece count; a (initiator) knows `n`. */
function deferredPair(n: number, o: { fast?: boolean; extended?: boolean } = {}): Pair {
  const p = new Pair({ numPieces: n, autoAccept: false, common: { fast: o.fast ?? true, extended: o.extended ?? true } });
  p.drive();
  assert.equal(p.take('b', 'handshake_info_hash').length, 1);
  p.b.accept({ numPieces: null }, p.now);
  p.drive();
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
  assert.equal(p.b.numPieces, null);
  assert.equal(p.b.peerPieces, null);
  return p;
}

function pieceEvents(p: Pair): ConnectionEvent[] {
  return p.eventsB.filter((e) => e.type === 'bitfield' || e.type === 'have');
}

function assertRemote(p: Pair, code: string): void {
  assert.equal(p.b.state, 'error');
  assert.equal(p.b.error?.code, code);
  assert.equal(p.b.error?.remote, true);
}

test('a bitfield before the count is kept silently, validated and reported by setNumPieces', () => {
  const p = deferredPair(20);
  const bf = new Bitfield(20);
  for (const i of [0, 3, 19]) bf.set(i);
  p.a.bitfield(bf, p.now);
  p.a.have(5, p.now);
  p.drive();
  assert.deepEqual(pieceEvents(p), [], 'nothing reported while the count is unknown');
  p.b.setNumPieces(20);
  p.drive();
  assert.equal(p.b.numPieces, 20);
  const ev = pieceEvents(p);
  assert.equal(ev.length, 1, 'one event for everything announced');
  assert.ok(ev[0].type === 'bitfield' && ev[0].source === 'bitfield');
  assert.deepEqual([...(ev[0] as { pieces: Bitfield }).pieces], [0, 3, 5, 19]);
  assert.deepEqual([...p.b.peerPieces!], [0, 3, 5, 19]);
  // Later messages are handled as usual.
  p.a.have(7, p.now);
  p.drive();
  assert.deepEqual(p.take('b', 'have').map((e) => e.index), [7]);
  assert.equal(p.b.peerPieces!.get(7), true);
});

test('have_all before the count: every piece, and no have events for pieces already included', () => {
  const p = deferredPair(10);
  p.a.haveAll(p.now);
  p.a.have(2, p.now);
  p.drive();
  p.b.setNumPieces(10);
  p.drive();
  const ev = pieceEvents(p);
  assert.equal(ev.length, 1);
  assert.ok(ev[0].type === 'bitfield' && ev[0].source === 'have_all' && ev[0].pieces.hasAll() && ev[0].pieces.length === 10);
  assert.equal(p.b.peerPieces!.count, 10);
});

test('have_none then haves: one bitfield event with the haves', () => {
  const p = deferredPair(100);
  p.a.haveNone(p.now);
  for (const i of [50, 7, 99, 7]) p.a.have(i, p.now);
  p.drive();
  p.b.setNumPieces(100);
  p.drive();
  const ev = pieceEvents(p);
  assert.equal(ev.length, 1);
  assert.ok(ev[0].type === 'bitfield' && ev[0].source === 'bitfield');
  assert.deepEqual([...(ev[0] as { pieces: Bitfield }).pieces], [7, 50, 99]);
  // have_none alone keeps its name.
  const q = deferredPair(100);
  q.a.haveNone(q.now);
  q.drive();
  q.b.setNumPieces(100);
  q.drive();
  assert.deepEqual(pieceEvents(q).map((e) => e.type === 'bitfield' && e.source), ['have_none']);
  // Nothing announced: nothing reported.
  const r = deferredPair(100, { fast: false });
  r.b.setNumPieces(100);
  r.drive();
  assert.deepEqual(pieceEvents(r), []);
  assert.equal(r.b.peerPieces!.count, 0);
});

test('haves alone (no initial message, as BEP 3 allows): one bitfield event', () => {
  const p = deferredPair(9, { fast: false });
  p.a.have(8, p.now);
  p.a.have(1, p.now);
  p.drive();
  p.b.setNumPieces(9);
  p.drive();
  const ev = pieceEvents(p);
  assert.equal(ev.length, 1);
  assert.deepEqual([...(ev[0] as { pieces: Bitfield }).pieces], [1, 8]);
  assert.equal(p.b.peerPieces!.count, 2);
});

test('setNumPieces: a bitfield of the wrong length → BAD_BITFIELD_LENGTH', () => {
  const p = deferredPair(16);
  p.a.bitfield(fill(2, 0xff), p.now);
  p.drive();
  p.b.setNumPieces(17);
  p.drive();
  assertRemote(p, 'BAD_BITFIELD_LENGTH');
  assert.equal(p.b.peerPieces, null);
});

test('setNumPieces: spare bits set → BITFIELD_SPARE_BITS', () => {
  const p = deferredPair(16);
  p.a.bitfield(fill(2, 0xff), p.now);
  p.drive();
  p.b.setNumPieces(15);
  p.drive();
  assertRemote(p, 'BITFIELD_SPARE_BITS');
});

test('setNumPieces: a have, allowed_fast or pending request at or past the count → BAD_PIECE_INDEX', () => {
  for (const kind of ['have', 'allowed_fast', 'request'] as const) {
    const p = deferredPair(64);
    if (kind === 'have') p.a.have(40, p.now);
    if (kind === 'allowed_fast') p.a.allowedFast(40, p.now);
    if (kind === 'request') {
      // b must unchoke a for the request to stay pending; b has no count but may unchoke.
      p.b.unchoke(p.now); p.drive();
      p.a.haveAll(p.now); p.drive(); // a's view: b has… nothing; inject the request raw
      p.inject('b', frame({ type: 'request', index: 40, begin: 0, length: 16384 }));
      assert.equal(p.b.pendingPeerRequests().length, 1);
    }
    p.drive();
    assert.equal(p.b.state, 'open', kind);
    p.b.setNumPieces(40);
    p.drive();
    assertRemote(p, 'BAD_PIECE_INDEX');
  }
});

test('while the count is unknown: have / allowed_fast / suggest / request indices are bounded by MAX_DEFERRED_PIECES', () => {
  assert.equal(MAX_DEFERRED_PIECES, 2 ** 22);
  for (const m of [
    { type: 'have', index: MAX_DEFERRED_PIECES },
    { type: 'allowed_fast', index: 0xffffffff },
    { type: 'suggest_piece', index: MAX_DEFERRED_PIECES },
    { type: 'request', index: MAX_DEFERRED_PIECES + 5, begin: 0, length: 16 },
  ] as Message[]) {
    const p = deferredPair(8);
    p.inject('b', frame(m));
    assertRemote(p, 'BAD_PIECE_INDEX');
  }
  // The largest index below the bound is kept, and the store stays within 2^22 bits.
  const p = deferredPair(8);
  p.inject('b', frame({ type: 'have', index: MAX_DEFERRED_PIECES - 1 }));
  assert.equal(p.b.state, 'open');
  p.b.setNumPieces(MAX_DEFERRED_PIECES);
  p.drive();
  const ev = p.take('b', 'bitfield');
  assert.equal(ev.length, 1);
  assert.deepEqual([...ev[0].pieces], [MAX_DEFERRED_PIECES - 1]);
});

test('a raw bitfield is bounded by the frame cap, as any message', () => {
  const p = new Pair({ numPieces: 8, autoAccept: false, b: { maxMessageLength: 1024 } });
  p.drive();
  p.b.accept({ numPieces: null }, p.now);
  p.drive();
  p.inject('b', frame({ type: 'bitfield', bits: fill(2000, 0) }));
  assertRemote(p, 'LENGTH_TOO_LARGE');
});

test('a piece set after other messages replaces the earlier one while the count is unknown too', () => {
  const p = deferredPair(8);
  p.inject('b', frame({ type: 'have_none' }));
  p.inject('b', frame({ type: 'unchoke' }));
  p.inject('b', frame({ type: 'have_all' }));
  assert.equal(p.b.state, 'open');
  p.b.setNumPieces(8);
  assert.equal(p.b.peerPieces?.hasAll(), true);
});

test('local misuse while the count is unknown, and of setNumPieces', () => {
  const p = deferredPair(8);
  const local = (f: () => void, code = 'ILLEGAL_STATE'): void => assert.throws(f, (e: unknown) => e instanceof WireError && !e.remote && e.code === code);
  local(() => p.b.have(0, p.now));
  local(() => p.b.bitfield(fill(1, 0), p.now));
  local(() => p.b.request(0, 0, 16, p.now));
  local(() => p.b.allowedFast(0, p.now));
  local(() => p.b.suggest(0, p.now));
  assert.equal(p.b.canRequest(0), false);
  p.b.haveNone(p.now); // a magnet leecher may say it has nothing
  p.drive();
  assert.equal(p.take('a', 'bitfield')[0]?.source, 'have_none');
  local(() => p.b.setNumPieces(-1), 'INVALID_ARGUMENT');
  local(() => p.b.setNumPieces(1.5), 'INVALID_ARGUMENT');
  p.b.setNumPieces(8);
  local(() => p.b.setNumPieces(8));
  local(() => p.a.setNumPieces(8)); // a knew its count from the start
  assert.equal(p.b.state, 'open');
  p.b.have(3, p.now);
  p.drive();
  assert.deepEqual(p.take('a', 'have'), [{ type: 'have', index: 3 }]);
});

test('an initiator may dial without the count; setNumPieces before the handshake completes behaves as if known', () => {
  const infoHash = INFO_HASH;
  const mk = (role: 'initiator' | 'acceptor', numPieces?: number | null) => new PeerConnection({
    role, peerId: role === 'initiator' ? PEER_A : fill(20, 7), now: 0, ...(role === 'initiator' ? { infoHash, numPieces } : {}),
  });
  assert.throws(() => mk('initiator', undefined), (e: unknown) => e instanceof WireError && e.code === 'INVALID_ARGUMENT');
  const a = mk('initiator', null);
  const b = mk('acceptor');
  assert.equal(a.numPieces, null);
  a.sendHandshake(0);
  a.setNumPieces(12); // before the peer's handshake
  const shuttle = (): void => {
    for (let i = 0; i < 100; i++) {
      let moved = false;
      for (const [x, y] of [[a, b], [b, a]] as const) {
        for (let ev = x.pollEvent(); ev !== null; ev = x.pollEvent()) {
          moved = true;
          if (ev.type === 'handshake_info_hash') x.accept({ numPieces: 12 }, 0);
          if (ev.type === 'handshake' && x === b) x.haveAll(0);
          if (ev.type === 'bitfield' && x === a) assert.equal(ev.pieces.length, 12);
        }
        for (let c = x.pollTransmit(); c !== null; c = x.pollTransmit()) { moved = true; y.receive(c, 0); }
      }
      if (!moved) return;
    }
  };
  shuttle();
  assert.equal(a.state, 'open');
  assert.equal(a.peerPieces!.count, 12);
});

test('property: whatever the peer sent before the count, setNumPieces gives the model\'s pieces or its typed error', () => {
  const initial = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.constant({ kind: 'have_all' as const }),
    fc.constant({ kind: 'have_none' as const }),
    fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bits) => ({ kind: 'bitfield' as const, bits })),
  );
  fc.assert(fc.property(initial, fc.array(fc.nat(400), { maxLength: 20 }), fc.integer({ min: 0, max: 320 }), fc.integer({ min: 0, max: 50 }), (init, haves, n, splitAt) => {
    const p = new Pair({ numPieces: 8, autoAccept: false, splitAt });
    p.drive();
    p.b.accept({ numPieces: null }, p.now);
    p.drive();
    const msgs: Message[] = [];
    if (init.kind === 'have_all') msgs.push({ type: 'have_all' });
    if (init.kind === 'have_none') msgs.push({ type: 'have_none' });
    if (init.kind === 'bitfield') msgs.push({ type: 'bitfield', bits: init.bits });
    for (const h of haves) msgs.push({ type: 'have', index: h });
    for (const m of msgs) p.b.receive(frame(m), p.now);
    p.drive();
    assert.equal(p.b.state, 'open');
    p.b.setNumPieces(n);
    p.drive();
    // The model.
    let err: string | null = null;
    const model = new Set<number>();
    if (init.kind === 'bitfield') {
      if (init.bits.length !== Math.ceil(n / 8)) err = 'BAD_BITFIELD_LENGTH';
      else {
        for (let i = 0; i < init.bits.length * 8; i++) {
          if (init.bits[i >> 3] & (0x80 >> (i & 7))) { if (i >= n) err = 'BITFIELD_SPARE_BITS'; else model.add(i); }
        }
      }
    }
    if (init.kind === 'have_all') for (let i = 0; i < n; i++) model.add(i);
    if (err === null) for (const h of haves) { if (h >= n) err = 'BAD_PIECE_INDEX'; else model.add(h); }
    if (err !== null) {
      assertRemote(p, err);
      return;
    }
    assert.equal(p.b.state, 'open');
    assert.deepEqual([...p.b.peerPieces!], [...model].sort((x, y) => x - y));
    // One event with the same set, when anything was announced.
    const ev = pieceEvents(p);
    assert.equal(ev.length, msgs.length > 0 ? 1 : 0);
    if (ev.length === 1) assert.deepEqual([...(ev[0] as { pieces: Bitfield }).pieces], [...model].sort((x, y) => x - y));
  }), { numRuns: 300 });
});

test('magnet flow: the leecher learns the metadata over ut_metadata, then the count, then requests a block', () => {
  const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);
  const { metainfo } = createTorrent({ name: 'm.bin', pieceLength: 16384 }, [data]);
  const seedUt = new UtMetadata({ infoHash: metainfo.infoHash, infoBytes: metainfo.infoBytes, now: 0 });
  const leechUt = new UtMetadata({ infoHash: metainfo.infoHash, now: 0 });
  const seedExt = new ExtensionRegistry([seedUt]).forConnection({ infoHash: metainfo.infoHash, peer: 'leecher', role: 'initiator' });
  const leechExt = new ExtensionRegistry([leechUt]).forConnection({ infoHash: metainfo.infoHash, peer: 'seeder', role: 'acceptor' });
  const p = new Pair({ infoHash: metainfo.infoHash, numPieces: metainfo.pieceCount, autoAccept: false, a: { extensions: seedExt.hooks } });
  p.drive();
  p.b.accept({ numPieces: null, extensions: leechExt.hooks }, p.now);
  p.drive();
  // The seeder sends have_all at once (as libtorrent does), before the leecher knows the count.
  p.a.haveAll(p.now);
  p.drive();
  const done = leechUt.pollEvent();
  assert.equal(done?.type, 'complete');
  const m = leechUt.metainfo!;
  assert.equal(m.pieceCount, 13);
  assert.equal(p.b.numPieces, null);
  p.b.setNumPieces(m.pieceCount);
  p.b.interested(p.now);
  p.a.unchoke(p.now);
  p.drive();
  const bf = p.take('b', 'bitfield');
  assert.equal(bf.length, 1);
  assert.equal(bf[0].source, 'have_all');
  assert.equal(bf[0].pieces.length, 13);
  assert.ok(p.b.canRequest(12));
  p.b.request(12, 0, m.totalLength - 12 * 16384, p.now);
  p.drive();
  const req = p.take('a', 'request');
  assert.equal(req.length, 1);
  p.a.sendPiece(12, 0, data.subarray(12 * 16384), p.now);
  p.drive();
  const got = p.take('b', 'piece');
  assert.equal(got.length, 1);
  assert.deepEqual([...got[0].block], [...data.subarray(12 * 16384)]);
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
});
