import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PiecePicker, PickerError, type BlockRef, type PeerKey } from '../../lib/engine/piece-picker.js';
import { Bitfield } from '../../wire/bitfield.js';
import { rng } from '../../testkit/seeded-rng.js';

function bits(n: number, has: (i: number) => boolean): Uint8Array {
  const b = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (has(i)) b[i >> 3] |= 0x80 >> (i & 7);
  return b;
}

test('geometry: the last piece and its last block are shorter', () => {
  const p = new PiecePicker(3, 40, 95, { blockSize: 16 });
  assert.equal(p.pieceSize(0), 40);
  assert.equal(p.pieceSize(2), 15);
  assert.equal(p.blocksInPiece(0), 3);
  assert.equal(p.blocksInPiece(2), 1);
  p.peerHaveAll('s');
  const reqs = p.pick('s', 100, { sequential: true });
  assert.deepEqual(reqs, [
    { index: 0, begin: 0, length: 16 }, { index: 0, begin: 16, length: 16 }, { index: 0, begin: 32, length: 8 },
    { index: 1, begin: 0, length: 16 }, { index: 1, begin: 16, length: 16 }, { index: 1, begin: 32, length: 8 },
    { index: 2, begin: 0, length: 15 },
  ]);
  p.checkInvariants();
});

test('constructor rejects sizes that do not describe a torrent', () => {
  const bad = (f: () => unknown): void => assert.throws(f, (e: unknown) => e instanceof PickerError && e.code === 'bad_config' && !e.remote);
  bad(() => new PiecePicker(2, 10, 21));
  bad(() => new PiecePicker(2, 10, 10));
  bad(() => new PiecePicker(2, 0, 0));
  bad(() => new PiecePicker(2, 10, 20, { blockSize: 0 }));
  bad(() => new PiecePicker(-1, 10, 0));
  const empty = new PiecePicker(0, 10, 0);
  assert.equal(empty.isComplete(), true);
});

test('rarest first: the least available piece the peer has is picked', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const n = 10;
    const p = new PiecePicker(n, 16, 16 * n, { blockSize: 16, rng: rng(seed) });
    // Availability of piece i = (i % 4) + 1 via extra peers, except piece 7 which gets only 'a'.
    p.peerBitfield('a', bits(n, () => true)); // 'a' alone would make it a seed; give it all but piece 9
    p.peerBitfield('a', bits(n, (i) => i !== 9));
    for (let k = 0; k < 3; k++) p.peerBitfield(`x${k}`, bits(n, (i) => i !== 7 && (i + k) % 2 === 0));
    p.peerHave('x0', 9);
    const avail = Array.from({ length: n }, (_, i) => p.availability(i));
    const min = Math.min(...avail.filter((_, i) => i !== 9));
    const got = p.pick('a', 1);
    assert.equal(got.length, 1);
    assert.equal(avail[got[0].index], min, `seed ${seed}: picked ${got[0].index} avail ${avail[got[0].index]}, min ${min}`);
    assert.equal(got[0].index, 7);
    p.checkInvariants();
  }
});

test('rarest first: ties are broken by the injected RNG, reproducibly', () => {
  const picks = (seed: number): number[] => {
    const p = new PiecePicker(64, 16, 16 * 64, { blockSize: 16, rng: rng(seed) });
    p.peerHaveAll('s');
    return p.pick('s', 5).map((r) => r.index);
  };
  assert.deepEqual(picks(7), picks(7));
  const firsts = new Set<number>();
  for (let s = 0; s < 30; s++) firsts.add(picks(s)[0]);
  assert.ok(firsts.size > 5, `tie-break should spread: ${[...firsts]}`);
});

test('have_all counts as a seed without touching pieces; availability includes it', () => {
  const p = new PiecePicker(1000, 16, 16000, { blockSize: 16 });
  p.peerHaveAll('s1');
  p.peerHaveAll('s2');
  p.peerHave('x', 5);
  assert.equal(p.availability(5), 3);
  assert.equal(p.availability(6), 2);
  p.peerGone('s1');
  assert.equal(p.availability(5), 2);
  p.peerGone('x');
  assert.equal(p.availability(5), 1);
  p.checkInvariants();
});

test('a peer that collects every piece by have becomes a seed', () => {
  const n = 9;
  const p = new PiecePicker(n, 16, 16 * n, { blockSize: 16 });
  for (let i = 0; i < n; i++) p.peerHave('x', i);
  p.peerHave('y', 3);
  p.checkInvariants();
  assert.equal(p.availability(3), 2);
  assert.equal(p.availability(0), 1);
  assert.equal(p.interesting('x'), true);
});

test('pieces in progress are finished before new ones are opened', () => {
  const p = new PiecePicker(8, 64, 64 * 8, { blockSize: 16, rng: rng(3) });
  p.peerHaveAll('a');
  p.peerHaveAll('b');
  const first = p.pick('a', 2);
  assert.equal(first.length, 2);
  const piece = first[0].index;
  assert.ok(first.every((r) => r.index === piece));
  const second = p.pick('b', 3);
  assert.deepEqual(second.slice(0, 2).map((r) => [r.index, r.begin]), [[piece, 32], [piece, 48]]);
  assert.notEqual(second[2].index, piece);
  p.checkInvariants();
});

test('sequential mode picks in index order, skipping pieces we have', () => {
  const n = 12;
  const p = new PiecePicker(n, 32, 32 * n, { blockSize: 16, rng: rng(1), have: bits(n, (i) => i === 0 || i === 4) });
  p.peerBitfield('a', bits(n, (i) => i !== 2));
  const got = p.pick('a', 8, { sequential: true });
  assert.deepEqual(got.map((r) => r.index), [1, 1, 3, 3, 5, 5, 6, 6]);
  // Another peer in sequential mode continues after what is taken.
  p.peerHaveAll('b');
  assert.deepEqual(p.pick('b', 4, { sequential: true }).map((r) => r.index), [2, 2, 7, 7]);
  // A returned block of a low piece comes first again.
  assert.equal(p.requestFailed('a', 3, 16), true);
  assert.deepEqual(p.pick('b', 2, { sequential: true }).map((r) => [r.index, r.begin]), [[3, 16], [8, 0]]);
  p.checkInvariants();
});

test('sequential is also a constructor default', () => {
  const p = new PiecePicker(20, 16, 320, { blockSize: 16, sequential: true, rng: rng(9) });
  p.peerHaveAll('s');
  assert.deepEqual(p.pick('s', 5).map((r) => r.index), [0, 1, 2, 3, 4]);
});

test('choked: only allowed_fast pieces are picked, nothing without them', () => {
  const n = 10;
  const p = new PiecePicker(n, 32, 32 * n, { blockSize: 16 });
  p.peerHaveAll('a');
  assert.deepEqual(p.pick('a', 10, { choked: true }), []);
  p.peerAllowedFast('a', 6);
  p.peerAllowedFast('a', 2);
  const got = p.pick('a', 10, { choked: true });
  assert.deepEqual(got.map((r) => r.index).sort(), [2, 2, 6, 6]);
  p.peerBitfield('b', bits(n, (i) => i !== 3));
  p.peerAllowedFast('b', 3); // b lacks it: never requested from b
  assert.deepEqual(p.pick('b', 10, { choked: true }), []);
  p.checkInvariants();
});

test('a peer with nothing we lack is not interesting and gets no requests', () => {
  const n = 4;
  const p = new PiecePicker(n, 16, 64, { blockSize: 16, have: bits(n, (i) => i < 2) });
  p.peerBitfield('a', bits(n, (i) => i < 2));
  assert.equal(p.interesting('a'), false);
  assert.deepEqual(p.pick('a', 5), []);
  p.peerHave('a', 3);
  assert.equal(p.interesting('a'), true);
  assert.deepEqual(p.pick('a', 5), [{ index: 3, begin: 0, length: 16 }]);
});

test('timeouts and rejects return blocks to the pool; an untouched piece reopens by rarity', () => {
  const p = new PiecePicker(4, 32, 128, { blockSize: 16, rng: rng(5) });
  p.peerHaveAll('a');
  const [r0, r1] = p.pick('a', 2);
  assert.equal(r0.index, r1.index);
  assert.equal(p.outstanding('a'), 2);
  assert.equal(p.requestFailed('a', r0.index, r0.begin), true);
  assert.equal(p.requestFailed('a', r0.index, r0.begin), false, 'second failure of the same request is a no-op');
  assert.equal(p.pieceState(r0.index), 'downloading');
  assert.equal(p.blockState(r0.index, r0.begin), 'missing');
  assert.equal(p.requestFailed('a', r1.index, r1.begin), true);
  assert.equal(p.pieceState(r0.index), 'free');
  p.checkInvariants();
  assert.equal(p.requestFailed('nobody', 0, 0), false);
  assert.equal(p.requestFailed('a', 99, 0), false);
  assert.equal(p.requestFailed('a', 0, 7), false);
});

test('peer gone: its requests come back, its availability goes', () => {
  const n = 6;
  const p = new PiecePicker(n, 32, 32 * n, { blockSize: 16 });
  p.peerBitfield('a', bits(n, (i) => i < 3));
  p.peerBitfield('b', bits(n, () => true));
  const got = p.pick('a', 3);
  assert.equal(got.length, 3);
  const dropped = p.peerGone('a');
  assert.deepEqual(dropped.map((r) => `${r.index}:${r.begin}`).sort(), got.map((r) => `${r.index}:${r.begin}`).sort());
  assert.equal(p.availability(0), 1);
  p.checkInvariants();
  assert.equal(p.pick('b', 100).length, 12);
});

test('endgame: duplicates only once every missing block is in flight, one at a time to an idle peer; arrival reports cancels', () => {
  const p = new PiecePicker(2, 32, 64, { blockSize: 16, rng: rng(2) });
  for (const k of ['a', 'b', 'c', 'd', 'e']) p.peerHaveAll(k);
  const a = p.pick('a', 3);
  assert.equal(a.length, 3);
  assert.equal(p.inEndgame(), false);
  const b = p.pick('b', 10); // the one missing block; no duplicate in a pick that found fresh blocks
  assert.equal(b.length, 1);
  assert.equal(p.inEndgame(), true);
  assert.deepEqual(p.pick('b', 10), [], 'b has a request outstanding: no duplicate');
  // c is idle: one duplicate, the most recently requested block (b's).
  const c = p.pick('c', 10);
  assert.deepEqual(c.map((r) => [r.index, r.begin]), [[b[0].index, b[0].begin]]);
  assert.deepEqual(p.pick('c', 10), [], 'one duplicate at a time');
  // d is idle: b's block has two requesters (the bound), so the newest of a's.
  const d = p.pick('d', 10);
  assert.deepEqual(d.map((r) => [r.index, r.begin]), [[a[2].index, a[2].begin]]);
  assert.equal(p.requesters(a[2].index, a[2].begin).length, 2);
  // a's copy arrives: d is told to cancel, and is idle again.
  const res = p.blockReceived('a', a[2].index, a[2].begin, a[2].length);
  assert.equal(res.status, 'accepted');
  assert.deepEqual(res.cancel, ['d']);
  assert.equal(p.outstanding('d'), 0);
  // d's copy arrives anyway: duplicate.
  assert.equal(p.blockReceived('d', a[2].index, a[2].begin, a[2].length).status, 'duplicate');
  // mayDuplicate: blocks held by a holder it declines are not asked of anyone else.
  const asked: PeerKey[] = [];
  assert.deepEqual(p.pick('e', 10, { mayDuplicate: (h) => { asked.push(h); return h !== 'a'; } }), []);
  assert.deepEqual(asked, ['a'], 'asked once per holder per pick (b\'s block is at the bound)');
  assert.deepEqual(p.pick('e', 10, { mayDuplicate: () => true }).map((r) => [r.index, r.begin]), [[a[1].index, a[1].begin]]);
  // endgame: false keeps a peer out of duplicates.
  p.peerHaveAll('f');
  assert.deepEqual(p.pick('f', 10, { endgame: false }), []);
  p.checkInvariants();
});

test('endgame duplicates are bounded per block by endgameMaxRequesters', () => {
  const p = new PiecePicker(1, 16, 16, { blockSize: 16, endgameMaxRequesters: 3 });
  for (const k of ['a', 'b', 'c', 'd']) p.peerHaveAll(k);
  assert.equal(p.pick('a', 5).length, 1);
  assert.equal(p.pick('b', 5).length, 1);
  assert.equal(p.pick('c', 5).length, 1);
  assert.equal(p.pick('d', 5).length, 0);
  assert.equal(p.pick('a', 5).length, 0, 'never the same block twice to one peer');
  const res = p.blockReceived('c', 0, 0, 16);
  assert.deepEqual([...res.cancel].sort(), ['a', 'b']);
  assert.equal(res.pieceComplete, true);
});

test('no endgame while a free piece is held by someone, even if this peer lacks it', () => {
  const n = 2;
  const p = new PiecePicker(n, 16, 32, { blockSize: 16 });
  p.peerBitfield('a', bits(n, (i) => i === 0));
  p.peerBitfield('b', bits(n, (i) => i === 1));
  p.peerBitfield('c', bits(n, (i) => i === 0));
  assert.equal(p.pick('a', 5).length, 1);
  assert.equal(p.inEndgame(), false);
  assert.deepEqual(p.pick('c', 5), []);
  assert.equal(p.pick('b', 5).length, 1);
  assert.equal(p.inEndgame(), true);
  assert.equal(p.pick('c', 5).length, 1);
});

test('failed piece: contributors returned, blocks missing again, piece picked afresh', () => {
  const p = new PiecePicker(1, 48, 48, { blockSize: 16 });
  p.peerHaveAll('good');
  p.peerHaveAll('bad');
  const g = p.pick('good', 2);
  const b = p.pick('bad', 1);
  assert.equal(g.length + b.length, 3);
  assert.equal(p.blockReceived('good', g[0].index, g[0].begin, g[0].length).pieceComplete, false);
  assert.equal(p.blockReceived('bad', b[0].index, b[0].begin, b[0].length).pieceComplete, false);
  assert.throws(() => p.pieceFailed(0), (e: unknown) => e instanceof PickerError && e.code === 'not_complete');
  assert.equal(p.blockReceived('good', g[1].index, g[1].begin, g[1].length).pieceComplete, true);
  assert.equal(p.pieceState(0), 'complete');
  assert.deepEqual(p.pieceFailed(0).sort(), ['bad', 'good']);
  assert.equal(p.pieceState(0), 'free');
  for (let off = 0; off < 48; off += 16) assert.equal(p.blockState(0, off), 'missing');
  p.peerGone('bad');
  const again = p.pick('good', 10);
  assert.equal(again.length, 3);
  for (const r of again) p.blockReceived('good', r.index, r.begin, r.length);
  p.pieceVerified(0);
  assert.equal(p.isComplete(), true);
  assert.equal(p.hasPiece(0), true);
  assert.deepEqual(p.pick('good', 10), []);
  p.checkInvariants();
});

test('late block after a timeout is accepted and cancels the re-request', () => {
  const p = new PiecePicker(1, 32, 32, { blockSize: 16 });
  p.peerHaveAll('slow');
  p.peerHaveAll('fast');
  const [r] = p.pick('slow', 1);
  p.requestFailed('slow', r.index, r.begin);
  const again = p.pick('fast', 2);
  assert.ok(again.some((x) => x.begin === r.begin));
  const res = p.blockReceived('slow', r.index, r.begin, r.length);
  assert.equal(res.status, 'accepted');
  assert.deepEqual(res.cancel, ['fast']);
  p.checkInvariants();
});

test('unexpected blocks are refused: wrong piece state, off-grid, wrong length', () => {
  const p = new PiecePicker(2, 32, 64, { blockSize: 16, have: bits(2, (i) => i === 1) });
  p.peerHaveAll('a');
  assert.equal(p.blockReceived('a', 0, 0, 16).status, 'unexpected', 'piece not in progress');
  assert.equal(p.blockReceived('a', 1, 0, 16).status, 'duplicate', 'piece we have');
  p.pick('a', 1);
  assert.equal(p.blockReceived('a', 0, 8, 16).status, 'unexpected');
  assert.equal(p.blockReceived('a', 0, 0, 15).status, 'unexpected');
  assert.equal(p.blockReceived('a', 0, 32, 16).status, 'unexpected');
  assert.equal(p.blockReceived('a', 7, 0, 16).status, 'unexpected');
  assert.equal(p.blockReceived('a', -1, 0, 16).status, 'unexpected');
  assert.throws(() => p.blockState(0, 32), PickerError);
  assert.equal(p.pick('a', 1.9).length, 1, 'a fractional limit rounds down');
  p.checkInvariants();
});

test('hostile peer input raises a typed remote error', () => {
  const p = new PiecePicker(10, 16, 160, { blockSize: 16 });
  const remote = (code: string) => (e: unknown) => e instanceof PickerError && e.code === code && e.remote;
  assert.throws(() => p.peerHave('a', 10), remote('bad_index'));
  assert.throws(() => p.peerHave('a', -1), remote('bad_index'));
  assert.throws(() => p.peerHave('a', 1.5), remote('bad_index'));
  assert.throws(() => p.peerAllowedFast('a', 10), remote('bad_index'));
  assert.throws(() => p.peerBitfield('a', new Uint8Array(3)), remote('bad_bitfield'));
  assert.throws(() => p.peerBitfield('a', new Uint8Array([0, 0x01])), remote('bad_bitfield'));
  p.peerBitfield('a', new Uint8Array([0xff, 0xc0]));
  assert.equal(p.availability(9), 1, 'ten pieces from a full bitfield: a is now a seed');
  assert.equal(p.interesting('a'), true);
  p.checkInvariants();
});

test('a repeated bitfield or have_none drops requests for disowned pieces', () => {
  const n = 4;
  const p = new PiecePicker(n, 16, 64, { blockSize: 16 });
  p.peerBitfield('a', bits(n, (i) => i < 3));
  assert.equal(p.pick('a', 3).length, 3);
  p.peerBitfield('a', bits(n, (i) => i === 1));
  assert.equal(p.outstanding('a'), 1);
  p.checkInvariants();
  p.peerHaveNone('a');
  assert.equal(p.outstanding('a'), 0);
  p.checkInvariants();
});

test('piece sets as predicate, has()/get() object, or the wire Bitfield', () => {
  const p = new PiecePicker(20, 16, 320, { blockSize: 16 });
  p.peerBitfield('f', (i) => i % 2 === 0);
  p.peerBitfield('o', { has: (i: number) => i < 5 });
  p.peerBitfield('g', { get: (i: number) => i === 7 });
  const wire = new Bitfield(20);
  wire.set(7);
  wire.set(19);
  p.peerBitfield('w', wire);
  assert.equal(p.availability(0), 2);
  assert.equal(p.availability(1), 1);
  assert.equal(p.availability(6), 1);
  assert.equal(p.availability(7), 2);
  assert.equal(p.availability(19), 1);
  assert.equal(p.availability(9), 0);
  wire.set(9); // the picker keeps its own copy
  assert.equal(p.availability(9), 0);
  assert.throws(() => p.peerBitfield('w2', new Bitfield(25)), (e: unknown) => e instanceof PickerError && e.code === 'bad_bitfield');
  p.checkInvariants();
});

test('markHave refuses a piece in progress; haveBitfield reflects what we have', () => {
  const p = new PiecePicker(9, 16, 144, { blockSize: 16, sequential: true });
  p.peerHaveAll('a');
  p.pick('a', 1);
  assert.throws(() => p.markHave(0), (e: unknown) => e instanceof PickerError && e.code === 'busy_piece');
  p.markHave(8);
  p.markHave(8);
  assert.deepEqual([...p.haveBitfield()], [0, 0x80]);
  assert.equal(p.haveCount, 1);
});

test('a million pieces: picks stay correct with a seed and sparse peers', () => {
  const n = 1 << 20;
  const p = new PiecePicker(n, 16384, n * 16384, { rng: rng(11) });
  p.peerHaveAll('seed');
  const sparse = new Uint8Array(n / 8);
  sparse[12345] = 0x01; // piece 12345*8+7
  p.peerBitfield('sparse', sparse);
  const got = p.pick('sparse', 4);
  assert.deepEqual(got, [{ index: 12345 * 8 + 7, begin: 0, length: 16384 }]);
  const fromSeed = p.pick('seed', 64);
  assert.equal(fromSeed.length, 64);
  assert.ok(fromSeed.every((r) => r.index !== 12345 * 8 + 7));
  // The seed's picks come from availability bucket 0 (only seeds have them): not the sparse peer's piece.
  assert.equal(p.pick('sparse', 4).length, 0);
  assert.equal(p.interesting('sparse'), true);
});

// ---- property: random event sequences -------------------------------------

type Op =
  | { t: 'join'; peer: number; kind: 'bits' | 'all' | 'none'; mask: number }
  | { t: 'have'; peer: number; index: number }
  | { t: 'fast'; peer: number; index: number }
  | { t: 'pick'; peer: number; max: number; sequential: boolean; choked: boolean; slow: number | null }
  | { t: 'recv'; peer: number; nth: number }
  | { t: 'junk'; peer: number; index: number; block: number }
  | { t: 'fail'; peer: number; nth: number }
  | { t: 'choke'; peer: number }
  | { t: 'gone'; peer: number };

const PEERS = 5;
const BAD = 4; // this peer's data never hashes correctly

const joinArb: fc.Arbitrary<Op> = fc.record({ t: fc.constant('join' as const), peer: fc.nat(PEERS - 1), kind: fc.constantFrom('bits' as const, 'bits' as const, 'all' as const, 'none' as const), mask: fc.nat() });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: joinArb },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('have' as const), peer: fc.nat(PEERS - 1), index: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fast' as const), peer: fc.nat(PEERS - 1), index: fc.nat(15) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('pick' as const), peer: fc.nat(PEERS - 1), max: fc.integer({ min: 1, max: 6 }), sequential: fc.boolean(), choked: fc.constant(false), slow: fc.option(fc.nat(31)) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('pick' as const), peer: fc.nat(PEERS - 1), max: fc.integer({ min: 1, max: 6 }), sequential: fc.boolean(), choked: fc.constant(true), slow: fc.option(fc.nat(31)) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('recv' as const), peer: fc.nat(PEERS - 1), nth: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('junk' as const), peer: fc.nat(PEERS - 1), index: fc.nat(15), block: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('fail' as const), peer: fc.nat(PEERS - 1), nth: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('choke' as const), peer: fc.nat(PEERS - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('gone' as const), peer: fc.nat(PEERS - 1) }) },
);

const geometryArb = fc
  .record({ numPieces: fc.integer({ min: 1, max: 12 }), blockSize: fc.integer({ min: 1, max: 5 }), blocks: fc.integer({ min: 1, max: 4 }), cut: fc.nat(), seed: fc.nat(), maxReq: fc.integer({ min: 1, max: 3 }), haveMask: fc.nat() })
  .map((g) => {
    const pieceLength = g.blockSize * g.blocks - (g.blocks > 1 ? g.cut % g.blockSize : 0);
    const last = 1 + (g.cut % pieceLength);
    return { ...g, pieceLength, totalLength: (g.numPieces - 1) * pieceLength + last };
  });

test('property: random event sequences keep every block consistent and the download completes', () => {
  fc.assert(
    fc.property(geometryArb, fc.array(joinArb, { minLength: 1, maxLength: PEERS }), fc.array(opArb, { minLength: 10, maxLength: 80, size: 'max' }), (g, joins, rest) => {
      const ops = [...joins, ...rest];
      const n = g.numPieces;
      const p = new PiecePicker(n, g.pieceLength, g.totalLength, {
        blockSize: g.blockSize, rng: rng(g.seed), endgameMaxRequesters: g.maxReq,
        have: (i: number) => ((g.haveMask >>> (i % 31)) & 7) === 0,
      });
      const has = new Map<number, Set<number> | 'all'>(); // what each live peer announced
      const sent = new Map<number, BlockRef[]>(); // every request ever sent to each peer (late answers allowed)
      const peerHas = (peer: number, i: number): boolean => {
        const h = has.get(peer);
        return h === 'all' || (h !== undefined && h.has(i));
      };
      const contrib = new Map<number, Set<PeerKey>>(); // our own record of who sent accepted blocks
      const verifyIfComplete = (index: number, complete: boolean): void => {
        if (!complete) return;
        assert.equal(p.pieceState(index), 'complete');
        const expected = [...(contrib.get(index) ?? [])].sort();
        assert.deepEqual(p.contributors(index).sort(), expected);
        contrib.delete(index);
        // The caller hashes the piece; here the data is bad exactly when BAD sent a block of it.
        if (expected.includes(BAD)) {
          assert.deepEqual(p.pieceFailed(index).sort(), expected);
          assert.equal(p.pieceState(index), 'free');
        } else {
          p.pieceVerified(index);
          assert.equal(p.hasPiece(index), true);
        }
      };
      /** Endgame as the brief defines it, computed from the outside. */
      const allMissingInFlight = (): boolean => {
        for (let i = 0; i < n; i++) {
          const st = p.pieceState(i);
          if (st === 'free' && p.availability(i) > 0) return false;
          if (st !== 'downloading') continue;
          for (let b = 0; b < p.blocksInPiece(i); b++) if (p.blockState(i, b * g.blockSize) === 'missing') return false;
        }
        return true;
      };
      const receive = (peer: PeerKey, r: BlockRef): void => {
        const piece = p.pieceState(r.index);
        const before = p.blockState(r.index, r.begin);
        const otherRequesters = p.requesters(r.index, r.begin).filter((x) => x !== peer);
        const res = p.blockReceived(peer, r.index, r.begin, r.length);
        if (piece === 'have' || before === 'received') assert.equal(res.status, 'duplicate');
        else if (piece === 'free') assert.equal(res.status, 'unexpected');
        else {
          assert.equal(res.status, 'accepted');
          assert.deepEqual([...res.cancel].sort(), otherRequesters.sort());
          assert.equal(p.requesters(r.index, r.begin).length, 0);
          if (!contrib.has(r.index)) contrib.set(r.index, new Set());
          contrib.get(r.index)!.add(peer);
          verifyIfComplete(r.index, res.pieceComplete);
        }
        if (res.status !== 'accepted') assert.deepEqual(res.cancel, []);
      };

      for (const op of ops) {
        switch (op.t) {
          case 'join': {
            if (op.kind === 'all') { p.peerHaveAll(op.peer); has.set(op.peer, 'all'); }
            else if (op.kind === 'none') { p.peerHaveNone(op.peer); has.set(op.peer, new Set()); }
            else {
              const set = new Set<number>();
              for (let i = 0; i < n; i++) if ((op.mask >>> (i % 31)) & 1) set.add(i);
              p.peerBitfield(op.peer, (i) => set.has(i));
              has.set(op.peer, set.size === n ? 'all' : set);
            }
            break;
          }
          case 'have': {
            if (op.index >= n) { assert.throws(() => p.peerHave(op.peer, op.index), PickerError); break; }
            p.peerHave(op.peer, op.index);
            const h = has.get(op.peer);
            if (h === undefined) has.set(op.peer, new Set([op.index]));
            else if (h !== 'all') { h.add(op.index); if (h.size === n) has.set(op.peer, 'all'); }
            break;
          }
          case 'fast':
            if (op.index < n) p.peerAllowedFast(op.peer, op.index);
            break;
          case 'pick': {
            const pre = new Map<string, { state: string; requesters: PeerKey[] }>();
            for (let i = 0; i < n; i++) {
              for (let b = 0; b < p.blocksInPiece(i); b++) {
                const begin = b * g.blockSize;
                pre.set(`${i}:${begin}`, { state: p.blockState(i, begin), requesters: p.requesters(i, begin) });
              }
            }
            const idle = p.outstanding(op.peer) === 0;
            // Holders whose blocks endgame may ask others for: a random subset (bit per peer), or any.
            const slow = op.slow;
            const mayDuplicate = slow === null ? undefined : (h: PeerKey): boolean => ((slow >>> (h as number)) & 1) === 1;
            const got = p.pick(op.peer, op.max, { sequential: op.sequential, choked: op.choked, mayDuplicate });
            assert.ok(got.length <= op.max);
            const dups = got.filter((r) => pre.get(`${r.index}:${r.begin}`)!.state === 'requested').length;
            // A block has one requester outside endgame; in endgame only an idle peer asks for one, one at a time.
            if (dups > 0) assert.ok(idle && got.length === 1, `duplicate to a busy peer or several at once (${got.length} picked, idle ${idle})`);
            const seen = new Set<string>();
            for (const r of got) {
              const k = `${r.index}:${r.begin}`;
              assert.ok(!seen.has(k), 'same block twice in one pick');
              seen.add(k);
              const s = pre.get(k)!;
              assert.ok(s.state === 'missing' || s.state === 'requested', `picked a block in state ${s.state}`);
              assert.ok(peerHas(op.peer, r.index), 'picked a piece the peer lacks');
              assert.equal(r.length, p.blockLength(r.index, r.begin / g.blockSize));
              if (s.state === 'requested') {
                assert.ok(!s.requesters.includes(op.peer), 'duplicate to the same peer');
                assert.ok(s.requesters.length < g.maxReq, 'too many duplicates');
                assert.ok(allMissingInFlight(), 'duplicate outside endgame');
                if (mayDuplicate !== undefined) assert.ok(s.requesters.every(mayDuplicate), 'duplicate of a block its holder was trusted to deliver');
              }
              if (!sent.has(op.peer)) sent.set(op.peer, []);
              sent.get(op.peer)!.push(r);
            }
            break;
          }
          case 'recv': {
            const list = sent.get(op.peer);
            if (list === undefined || list.length === 0) break;
            const [r] = list.splice(op.nth % list.length, 1);
            receive(op.peer, r);
            break;
          }
          case 'junk': {
            if (op.index >= n) break;
            const begin = op.block * g.blockSize;
            if (op.block >= p.blocksInPiece(op.index)) {
              assert.notEqual(p.blockReceived(op.peer, op.index, begin, g.blockSize).status, 'accepted');
              break;
            }
            receive(op.peer, { index: op.index, begin, length: p.blockLength(op.index, op.block) });
            break;
          }
          case 'fail': {
            const list = sent.get(op.peer);
            if (list === undefined || list.length === 0) break;
            const [r] = list.splice(op.nth % list.length, 1);
            p.requestFailed(op.peer, r.index, r.begin);
            break;
          }
          case 'choke':
            p.dropRequests(op.peer);
            assert.equal(p.outstanding(op.peer), 0);
            break;
          case 'gone':
            p.peerGone(op.peer);
            has.delete(op.peer);
            sent.delete(op.peer);
            break;
        }
        p.checkInvariants();
        for (const [peer] of has) assert.equal(p.interesting(peer), [...Array(n).keys()].some((i) => peerHas(peer, i) && !p.hasPiece(i)));
      }

      // Drain: everyone leaves, one honest seed serves the rest; pieces spoilt by BAD fail and come back.
      for (const peer of [...has.keys()]) p.peerGone(peer);
      p.peerHaveAll('seed');
      for (let round = 0; round < 4 * n + 4 && !p.isComplete(); round++) {
        const got = p.pick('seed', 1 + (round % 7));
        for (const r of got) receive('seed', r);
        p.checkInvariants();
      }
      assert.equal(p.isComplete(), true);
      for (let i = 0; i < n; i++) assert.equal(p.pieceState(i), 'have');
    }),
    { numRuns: 300 },
  );
});
