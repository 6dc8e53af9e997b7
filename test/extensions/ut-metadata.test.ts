/**
 * ut_metadata (BEP 9) over in-memory connection pairs: a seeder serves the info dict
 * to a leecher that knows only the info hash; verification against the info hash;
 * corrupted metadata from one peer rejected and fetched from another; rejects and
 * timeouts; serving bounds; every hostile data case with its typed error; and a
 * fast-check property over metadata sizes and splits.
 *
 * A "swarm" is one leecher connection per remote peer, each a Pair whose side a is
 * the leecher; every pair is driven until all are quiet (a hook may queue output on
 * another connection, as the shared fetcher does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pair, type Side } from '../wire/pair.js';
import { encode, type Encodable } from '../../wire/bencode.js';
import type { ExtensionContext, ExtensionHook } from '../../wire/extension-hooks.js';
import { sha1 } from '../../lib/files/sha1.js';
import { MetainfoError } from '../../format/metainfo.js';
import { ExtensionRegistry, type ExtensionFactory } from '../../extensions/registry.js';
import { UtMetadata, UtMetadataHook } from '../../extensions/ut-metadata.js';
import { MetadataFetcher, METADATA_FETCH_DEFAULTS, type MetadataFetchEvent, type MetadataSource } from '../../extensions/ut-metadata-fetcher.js';
import {
  METADATA_PIECE_LENGTH, UtMetadataError, decodeUtMetadata, encodeMetadataData, encodeMetadataReject,
  encodeMetadataRequest, metadataPieceCount, metadataPieceLength, type UtMetadataErrorReason, type UtMetadataMessage,
} from '../../extensions/ut-metadata-codec.js';

// ----------------------------------------------------------------- fixtures

/** A valid v1 info dict of exactly `size` bytes (≥ 100), padded with an extra key. */
function infoOfSize(size: number, seed = 1): Uint8Array {
  const pieces = new Uint8Array(20).fill(seed & 0xff);
  const make = (k: number): Buffer => encode({ length: 1, name: `n${seed}`, 'piece length': 16384, pieces, 'x-pad': new Uint8Array(k).fill(0x61) });
  let k = Math.max(0, size - make(0).length);
  for (let i = 0; i < 4; i++) {
    const diff = size - make(k).length;
    if (diff === 0) break;
    k = Math.max(0, k + diff);
  }
  const out = make(k);
  if (out.length !== size) {
    // Around a digit boundary of k one byte cannot be reached by k: vary the name instead.
    const make2 = (kk: number): Buffer => encode({ length: 1, name: `n${seed}x`, 'piece length': 16384, pieces, 'x-pad': new Uint8Array(kk).fill(0x61) });
    for (let kk = Math.max(0, k - 3); kk <= k + 3; kk++) if (make2(kk).length === size) return make2(kk);
    throw new Error(`cannot build an info dict of ${size} bytes`);
  }
  return out;
}

interface Node {
  readonly ut: UtMetadata;
  readonly reg: ExtensionRegistry;
}

function seeder(info: Uint8Array, o: Partial<ConstructorParameters<typeof UtMetadata>[0]> = {}): Node {
  const ut = new UtMetadata({ infoHash: sha1(info), infoBytes: info, now: 0, ...o });
  return { ut, reg: new ExtensionRegistry([ut]) };
}

function leecher(infoHash: Uint8Array, o: Partial<ConstructorParameters<typeof UtMetadata>[0]> = {}): Node {
  const ut = new UtMetadata({ infoHash, now: 0, ...o });
  return { ut, reg: new ExtensionRegistry([ut]) };
}

interface Link {
  readonly p: Pair;
  readonly label: string;
  flushes: number;
}

/** Connect leecher side a to a remote side b (its registry), for `infoHash`. */
function connect(a: ExtensionRegistry, b: ExtensionRegistry | readonly ExtensionFactory[], infoHash: Uint8Array, label: string, splitAt = 0): Link {
  const link: Link = { p: undefined as unknown as Pair, label, flushes: 0 };
  const extA = a.forConnection({ infoHash, peer: label, role: 'initiator', flush: () => { link.flushes++; } });
  const bReg = b instanceof ExtensionRegistry ? b : new ExtensionRegistry(b);
  const extB = bReg.forConnection({ infoHash, peer: 'leecher', role: 'acceptor' });
  (link as { p: Pair }).p = new Pair({ infoHash, numPieces: 1, a: { extensions: extA.hooks }, bExtensions: extB.hooks, splitAt });
  return link;
}

/** One round of the pair's own shuttle on one side (events pulled, bytes moved). */
const pump = (p: Pair, side: Side): boolean => (p as unknown as { pump(s: Side): boolean }).pump(side);

/** Drive every pair, one round each in turn (so connections interleave), until none moves. */
function driveAll(links: readonly Link[]): void {
  for (let i = 0; i < 100_000; i++) {
    let moved = false;
    for (const l of links) {
      moved = pump(l.p, 'a') || moved;
      moved = pump(l.p, 'b') || moved;
    }
    if (!moved) return;
  }
  throw new Error('driveAll: no quiescence');
}

function events(ut: UtMetadata): MetadataFetchEvent[] {
  const out: MetadataFetchEvent[] = [];
  for (let e = ut.pollEvent(); e !== null; e = ut.pollEvent()) out.push(e);
  return out;
}

/**
 * A scripted remote ut_metadata peer: advertises what it is told, records what it gets,
 * and answers requests through `onRequest` (default: nothing).
 */
class Puppet implements ExtensionHook {
  readonly name = 'ut_metadata';
  ctx: ExtensionContext | null = null;
  readonly requests: number[] = [];
  readonly got: UtMetadataMessage[] = [];
  constructor(
    readonly metadataSize: number | undefined,
    readonly onRequest: (piece: number, self: Puppet) => void = () => {},
    readonly extraKeys: Record<string, Encodable> = {},
  ) {}
  attach(ctx: ExtensionContext): void { this.ctx = ctx; }
  addHandshakeKeys(d: Map<string, Encodable>): void {
    if (this.metadataSize !== undefined) d.set('metadata_size', this.metadataSize);
    for (const [k, v] of Object.entries(this.extraKeys)) d.set(k, v);
  }
  onMessage(payload: Uint8Array): void {
    const m = decodeUtMetadata(payload);
    this.got.push(m);
    if (m.type === 'request') { this.requests.push(m.piece); this.onRequest(m.piece, this); }
  }
  send(bytes: Uint8Array): void { this.ctx!.send(bytes); }
  factory(): ExtensionFactory { return { name: this.name, create: () => this }; }
}

/** A puppet that serves `bytes` (whatever their hash) like an honest seeder would. */
function servingPuppet(bytes: Uint8Array): Puppet {
  return new Puppet(bytes.length, (piece, self) => {
    const start = piece * METADATA_PIECE_LENGTH;
    self.send(encodeMetadataData(piece, bytes.length, bytes.subarray(start, Math.min(bytes.length, start + METADATA_PIECE_LENGTH))));
  });
}

function assertMetadataError(link: Link, reason: UtMetadataErrorReason): void {
  const err = link.p.a.error;
  assert.ok(err instanceof UtMetadataError, `expected a UtMetadataError, got ${err?.message}`);
  assert.equal(err.reason, reason);
  assert.equal(err.code, 'EXTENSION_ERROR');
  assert.equal(err.remote, true);
  assert.equal(link.p.a.state, 'error');
}

// ----------------------------------------------------------------- codec

test('codec: request / data / reject round trip; unknown msg_type is reported, not an error', () => {
  assert.deepEqual(decodeUtMetadata(encodeMetadataRequest(7)), { type: 'request', piece: 7 });
  assert.deepEqual(decodeUtMetadata(encodeMetadataReject(0)), { type: 'reject', piece: 0 });
  const data = new Uint8Array([1, 2, 3, 0x65]);
  const d = decodeUtMetadata(encodeMetadataData(2, 40000, data));
  assert.equal(d.type, 'data');
  if (d.type === 'data') { assert.equal(d.piece, 2); assert.equal(d.totalSize, 40000); assert.deepEqual([...d.data], [...data]); }
  assert.equal(Buffer.from(encodeMetadataRequest(0)).toString(), 'd8:msg_typei0e5:piecei0ee');
  assert.deepEqual(decodeUtMetadata(encode({ msg_type: 9, piece: 1, extra: [1, 2] })), { type: 'unknown', msgType: 9 });
  assert.equal(metadataPieceCount(1), 1);
  assert.equal(metadataPieceCount(16384), 1);
  assert.equal(metadataPieceCount(16385), 2);
  assert.equal(metadataPieceLength(16385, 0), 16384);
  assert.equal(metadataPieceLength(16385, 1), 1);
  assert.equal(metadataPieceLength(32768, 1), 16384);
});

test('codec: malformed messages are BAD_METADATA_MESSAGE', () => {
  const bad = [
    new Uint8Array(0), Buffer.from('i3e'), Buffer.from('d8:msg_typei0ee'), Buffer.from('d5:piecei0ee'),
    Buffer.from('d8:msg_type1:05:piecei0ee'), Buffer.from('d8:msg_typei0e5:piecei-1ee'),
    Buffer.from('d8:msg_typei1e5:piecei0ee'), // data without total_size
    Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei0ee'),
    Buffer.from('d8:msg_typei0e5:piecei0eeXX'), // bytes after a request
    Buffer.from('d8:msg_typei2e5:piecei0eeX'),
    Buffer.from('d8:msg_typei0e5:piecei99999999999999999999999ee'),
    Buffer.from('d8:msg_typei0e5:piece'), Buffer.from('l'.repeat(100)),
    Buffer.concat([Buffer.from('d1:x'), Buffer.from('5000:'), Buffer.alloc(5000), Buffer.from('e')]),
  ];
  for (const b of bad) {
    assert.throws(() => decodeUtMetadata(b), (e: unknown) => e instanceof UtMetadataError && e.reason === 'BAD_METADATA_MESSAGE', Buffer.from(b).toString('latin1').slice(0, 40));
  }
});

test('codec property: random bytes decode or fail with BAD_METADATA_MESSAGE, never anything else', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 64 }), (junk, tail) => {
    for (const input of [junk, Buffer.concat([Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei5ee'), tail]), Buffer.concat([Buffer.from('d8:msg_type'), junk])]) {
      try { decodeUtMetadata(input); } catch (e) { assert.ok(e instanceof UtMetadataError && e.reason === 'BAD_METADATA_MESSAGE'); }
    }
  }), { numRuns: 300 });
});

// ----------------------------------------------------------------- fetching and serving

test('a leecher that knows only the info hash fetches, verifies and then serves the metadata', () => {
  const info = infoOfSize(40_000); // 3 pieces, the last one short
  const s = seeder(info);
  const l = leecher(sha1(info));
  const link = connect(l.reg, s.reg, sha1(info), 'seed');
  driveAll([link]);
  const ev = events(l.ut);
  assert.equal(ev.length, 1);
  assert.equal(ev[0].type, 'complete');
  const m = l.ut.metainfo!;
  assert.ok(Buffer.from(m.infoBytes).equals(Buffer.from(info)));
  assert.ok(m.infoHash.equals(sha1(info)));
  assert.equal(m.name, 'n1');
  assert.equal(l.ut.fetcher!.state, 'done');
  assert.deepEqual(l.ut.infoBytes, m.infoBytes);
  // The seeder advertised metadata_size; the leecher (before it had it) did not.
  assert.equal(link.p.a.peerExtendedHandshake!.metadataSize, 40_000);
  assert.equal(link.p.b.peerExtendedHandshake!.metadataSize, undefined);
  assert.equal(link.flushes, 0, 'requests went out inside the connection\'s own callbacks');
  // Now a third peer (another magnet leecher) fetches it from our leecher.
  const l2 = leecher(sha1(info));
  const link2 = connect(l2.reg, l.reg, sha1(info), 'first-leecher');
  driveAll([link2]);
  assert.equal(events(l2.ut)[0]?.type, 'complete');
  assert.equal(link2.p.a.peerExtendedHandshake!.metadataSize, 40_000);
  assert.ok(Buffer.from(l2.ut.metainfo!.infoBytes).equals(Buffer.from(info)));
  assert.equal(link.p.a.state, 'open');
  assert.equal(link2.p.a.state, 'open');
});

test('several seeders share the pieces', () => {
  const info = infoOfSize(5 * METADATA_PIECE_LENGTH + 77);
  const l = leecher(sha1(info), { maxRequestsPerPeer: 1 });
  const links = [0, 1, 2].map((i) => connect(l.reg, seeder(info).reg, sha1(info), `s${i}`, 7));
  driveAll(links);
  assert.equal(events(l.ut)[0]?.type, 'complete');
  assert.ok(Buffer.from(l.ut.metainfo!.infoBytes).equals(Buffer.from(info)));
  const served = links.map((k) => k.p.bytesBtoA);
  assert.ok(served.filter((b) => b > 2 * METADATA_PIECE_LENGTH).length >= 2, `bytes served per seeder: ${served}`);
});

test('a request queued on another connection (from this one\'s message) asks that adapter to flush', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH);
  const l = leecher(sha1(info), { maxRequestsPerPeer: 1 });
  const good = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([good]); // the good seeder alone: asked piece 0, then piece 1 …
  const l2 = leecher(sha1(info), { maxRequestsPerPeer: 1 });
  const good2 = connect(l2.reg, seeder(info).reg, sha1(info), 'good');
  const slow = new Puppet(info.length);
  const slowLink = connect(l2.reg, [slow.factory()], sha1(info), 'slow');
  driveAll([slowLink]); // the slow peer got piece 0 …
  driveAll([good2]); // … the good one piece 1, answered; it is idle now
  assert.deepEqual(slow.requests, [0]);
  assert.equal(good2.flushes, 0);
  slow.send(encodeMetadataReject(0)); // in slow's callback, piece 0 goes to the good peer
  driveAll([slowLink]);
  assert.equal(good2.flushes, 1);
  driveAll([good2, slowLink]);
  assert.deepEqual(events(l2.ut).map((e) => e.type), ['complete']);
  assert.equal(events(l.ut)[0]?.type, 'complete');
});

for (const liarFirst of [true, false]) {
  test(`corrupted metadata from one peer fails verification and is fetched from another (liar ${liarFirst ? 'first' : 'second'})`, () => {
    const info = infoOfSize(3 * METADATA_PIECE_LENGTH);
    const bad = Uint8Array.from(info);
    for (let i = 0; i < 3; i++) bad[i * METADATA_PIECE_LENGTH + 5] ^= 0xff; // every piece it serves is wrong
    const l = leecher(sha1(info), { maxRequestsPerPeer: 1 });
    const liar = servingPuppet(bad);
    const mkLiar = () => connect(l.reg, [liar.factory()], sha1(info), 'liar');
    const mkGood = () => connect(l.reg, seeder(info).reg, sha1(info), 'good');
    const links = liarFirst ? [mkLiar(), mkGood()] : [mkGood(), mkLiar()];
    driveAll(links);
    const ev = events(l.ut);
    // 1st attempt: both supplied pieces → unknown culprit, both suspect, one source per attempt from now on.
    assert.equal(ev[0].type, 'verify_failed');
    assert.deepEqual([...(ev[0] as Extract<MetadataFetchEvent, { type: 'verify_failed' }>).contributors].sort(), ['good', 'liar']);
    if (liarFirst) {
      // 2nd attempt from the liar alone (first source, equal suspicion): it is named and banned.
      assert.deepEqual(ev.slice(1).map((e) => (e.type === 'complete' ? 'complete' : JSON.stringify(e))), [
        JSON.stringify({ type: 'verify_failed', size: info.length, contributors: ['liar'] }),
        JSON.stringify({ type: 'peer_banned', peer: 'liar' }),
        'complete',
      ]);
    } else {
      assert.deepEqual(ev.slice(1).map((e) => e.type), ['complete']);
    }
    assert.ok(Buffer.from(l.ut.metainfo!.infoBytes).equals(Buffer.from(info)));
    for (const k of links) assert.equal(k.p.a.state, 'open');
  });
}

test('a lone liar is banned after its attempt fails; a later honest peer completes the fetch', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH + 1);
  const bad = Uint8Array.from(info); bad[bad.length - 1] ^= 1;
  const l = leecher(sha1(info));
  const liar = servingPuppet(bad);
  const lLiar = connect(l.reg, [liar.factory()], sha1(info), 'liar');
  driveAll([lLiar]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['verify_failed', 'peer_banned']);
  assert.equal(l.ut.fetcher!.isBanned('liar'), true);
  assert.equal(liar.requests.length, 3, 'asked once for each piece, never again');
  l.ut.handleTimeout(60_000); driveAll([lLiar]);
  assert.equal(liar.requests.length, 3);
  assert.equal(lLiar.p.a.state, 'open', 'the connection itself is the session\'s to end');
  // A reconnect under the same label is not asked either.
  const liar2 = servingPuppet(bad);
  const lLiar2 = connect(l.reg, [liar2.factory()], sha1(info), 'liar');
  driveAll([lLiar2]);
  assert.equal(liar2.requests.length, 0);
  const lGood = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([lLiar, lLiar2, lGood]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
});

test('rejects: the piece goes to another peer; a rejecting peer rests for retryAfter', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH);
  const l = leecher(sha1(info), { retryAfter: 5_000 });
  const refuser = new Puppet(info.length, (piece, self) => self.send(encodeMetadataReject(piece)));
  const lRef = connect(l.reg, [refuser.factory()], sha1(info), 'refuser');
  driveAll([lRef]);
  assert.ok(refuser.requests.length >= 1);
  const asked = refuser.requests.length;
  // Resting: nothing more until retryAfter has passed.
  l.ut.handleTimeout(4_999); driveAll([lRef]);
  assert.equal(refuser.requests.length, asked);
  assert.equal(l.ut.nextTimeout(), 5_000);
  l.ut.handleTimeout(5_000); driveAll([lRef]);
  assert.ok(refuser.requests.length > asked, 'asked again after resting');
  assert.ok(lRef.flushes > 0, 'a request sent from a timer asks the adapter to flush');
  // An honest seeder arrives: it gets the work.
  const lGood = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([lRef, lGood]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
  assert.equal(lRef.p.a.state, 'open');
  // A reject for something never asked is ignored.
  refuser.send(encodeMetadataReject(1234));
  driveAll([lRef]);
  assert.equal(lRef.p.a.state, 'open');
});

test('timeouts: an unanswered request moves to another peer; the late answer is ignored', () => {
  const info = infoOfSize(METADATA_PIECE_LENGTH + 10);
  const l = leecher(sha1(info), { requestTimeout: 1_000, retryAfter: 100_000 });
  const slow = new Puppet(info.length); // never answers by itself
  const lSlow = connect(l.reg, [slow.factory()], sha1(info), 'slow');
  driveAll([lSlow]);
  assert.deepEqual(slow.requests.sort(), [0, 1]);
  assert.equal(l.ut.nextTimeout(), 1_000);
  const lGood = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([lSlow, lGood]);
  assert.equal(events(l.ut).length, 0, 'the good peer is not asked for pieces in flight elsewhere');
  l.ut.handleTimeout(1_000);
  driveAll([lSlow, lGood]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
  // The slow peer answers now: ignored, no error.
  slow.send(encodeMetadataData(0, info.length, info.subarray(0, METADATA_PIECE_LENGTH)));
  slow.send(encodeMetadataData(1, info.length, info.subarray(METADATA_PIECE_LENGTH)));
  driveAll([lSlow]);
  assert.equal(lSlow.p.a.state, 'open');
  // …but a second answer to the same piece is unrequested.
  slow.send(encodeMetadataData(1, info.length, info.subarray(METADATA_PIECE_LENGTH)));
  driveAll([lSlow]);
  assertMetadataError(lSlow, 'UNREQUESTED_METADATA');
});

test('sizes: a peer advertising more than maxMetadataSize, or no size, is never asked; the majority size is fetched', () => {
  const info = infoOfSize(20_000);
  const l = leecher(sha1(info), { maxMetadataSize: 1 << 20 });
  const huge = new Puppet((1 << 20) + 1);
  const none = new Puppet(undefined);
  const liarSize = new Puppet(30_000);
  const links = [
    connect(l.reg, [huge.factory()], sha1(info), 'huge'),
    connect(l.reg, [none.factory()], sha1(info), 'none'),
  ];
  driveAll(links);
  assert.equal(huge.requests.length + none.requests.length, 0);
  assert.equal(l.ut.fetcher!.attemptSize, null);
  // Two honest seeders outvote one peer with another size.
  links.push(connect(l.reg, seeder(info).reg, sha1(info), 's1'));
  links.push(connect(l.reg, [liarSize.factory()], sha1(info), 'other-size'));
  links.push(connect(l.reg, seeder(info).reg, sha1(info), 's2'));
  driveAll(links);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
  assert.equal(liarSize.requests.length, 0);
  assert.equal(huge.requests.length + none.requests.length, 0);
});

test('the hash matches but the dict is unusable: the fetcher stops with an invalid event', () => {
  const junk = new Uint8Array(METADATA_PIECE_LENGTH + 3).fill(0x7a); // not bencode
  const s = seeder(junk); // UtMetadata only checks the hash of what it is given
  const l = leecher(sha1(junk));
  driveAll([connect(l.reg, s.reg, sha1(junk), 'seed')]);
  const ev = events(l.ut);
  assert.equal(ev.length, 1);
  assert.equal(ev[0].type, 'invalid');
  assert.ok(ev[0].type === 'invalid' && ev[0].error instanceof MetainfoError && ev[0].error.code !== 'INFO_HASH_MISMATCH');
  assert.equal(l.ut.fetcher!.state, 'invalid');
  assert.equal(l.ut.infoBytes, null);
  assert.equal(l.ut.nextTimeout(), null);
});

// ----------------------------------------------------------------- serving bounds

test('serving: out-of-range and not-yet-known pieces are rejected; each peer has a bounded budget', () => {
  const info = infoOfSize(METADATA_PIECE_LENGTH + 1); // 2 pieces → budget 2 × 2 + 8 = 12 data messages
  const s = seeder(info);
  const asker = new Puppet(undefined);
  const link = connect(s.reg, [asker.factory()], sha1(info), 'asker');
  driveAll([link]);
  asker.send(encodeMetadataRequest(2));
  asker.send(encodeMetadataRequest(0x7fffffff));
  driveAll([link]);
  assert.deepEqual(asker.got.map((m) => m.type), ['reject', 'reject']);
  asker.got.length = 0;
  for (let i = 0; i < 20; i++) asker.send(encodeMetadataRequest(i & 1));
  driveAll([link]);
  const kinds = asker.got.map((m) => m.type);
  assert.equal(kinds.filter((k) => k === 'data').length, 12);
  assert.deepEqual(kinds.slice(12), new Array(8).fill('reject'));
  const d = asker.got[1];
  assert.ok(d.type === 'data' && d.piece === 1 && d.totalSize === info.length && d.data.length === 1);
  assert.equal(link.p.a.state, 'open');
  // A leecher without the metadata rejects requests.
  const l = leecher(sha1(info));
  const asker2 = new Puppet(undefined);
  const link2 = connect(l.reg, [asker2.factory()], sha1(info), 'asker2');
  driveAll([link2]);
  asker2.send(encodeMetadataRequest(0));
  driveAll([link2]);
  assert.deepEqual(asker2.got.map((m) => m.type), ['reject']);
});

test('a peer whose handshake has no ut_metadata id: the hook declines; data from it is ignored', () => {
  const info = infoOfSize(1000);
  const l = leecher(sha1(info));
  const other: ExtensionFactory = { name: 'x_other', create: () => ({ name: 'x_other' }) };
  const extA = l.reg.forConnection({ infoHash: sha1(info), peer: 'x', role: 'initiator' });
  const p = new Pair({ infoHash: sha1(info), numPieces: 1, a: { extensions: extA.hooks }, bExtensions: new ExtensionRegistry([other]).forConnection({ infoHash: sha1(info), peer: 'l', role: 'acceptor' }).hooks });
  p.drive();
  assert.deepEqual(extA.declined(), ['ut_metadata']);
  assert.equal(l.ut.fetcher!.sourceCount, 0);
});

// ----------------------------------------------------------------- hostile data

/** A leecher linked to a puppet advertising `size`; returns after the first requests. */
function hostile(size: number, info?: Uint8Array) {
  const ih = info ? sha1(info) : new Uint8Array(20).fill(9);
  const l = leecher(ih, { maxRequestsPerPeer: 1 });
  const pup = new Puppet(size);
  const link = connect(l.reg, [pup.factory()], ih, 'hostile');
  driveAll([link]);
  return { l, pup, link };
}

test('hostile: data for a piece not requested → UNREQUESTED_METADATA', () => {
  const { l, pup, link } = hostile(3 * METADATA_PIECE_LENGTH);
  assert.deepEqual(pup.requests, [0]);
  pup.send(encodeMetadataData(1, 3 * METADATA_PIECE_LENGTH, new Uint8Array(METADATA_PIECE_LENGTH)));
  driveAll([link]);
  assertMetadataError(link, 'UNREQUESTED_METADATA');
  assert.equal(l.ut.fetcher!.sourceCount, 0, 'the fetcher forgot the source');
});

test('hostile: data to a seeder that fetches nothing → UNREQUESTED_METADATA', () => {
  const info = infoOfSize(500);
  const s = seeder(info);
  const pup = new Puppet(500);
  const link = connect(s.reg, [pup.factory()], sha1(info), 'p');
  driveAll([link]);
  pup.send(encodeMetadataData(0, 500, info));
  driveAll([link]);
  assertMetadataError(link, 'UNREQUESTED_METADATA');
});

test('hostile: total_size other than the advertised metadata_size → METADATA_SIZE_MISMATCH', () => {
  const { l, pup, link } = hostile(3 * METADATA_PIECE_LENGTH);
  pup.send(encodeMetadataData(0, 3 * METADATA_PIECE_LENGTH + 1, new Uint8Array(METADATA_PIECE_LENGTH)));
  driveAll([link]);
  assertMetadataError(link, 'METADATA_SIZE_MISMATCH');
  assert.equal(l.ut.fetcher!.sourceCount, 0);
});

test('hostile: payload length wrong for the piece → BAD_METADATA_PIECE_LENGTH (full, last, empty)', () => {
  for (const [size, piecesBefore, len] of [
    [3 * METADATA_PIECE_LENGTH, 0, METADATA_PIECE_LENGTH - 1],
    [3 * METADATA_PIECE_LENGTH, 0, METADATA_PIECE_LENGTH + 1],
    [2 * METADATA_PIECE_LENGTH + 5, 2, 6],
    [2 * METADATA_PIECE_LENGTH + 5, 2, 0],
    [100, 0, 101],
  ] as const) {
    const { pup, link } = hostile(size);
    // Answer correctly up to the piece under test.
    for (let i = 0; i < piecesBefore; i++) {
      assert.equal(pup.requests[i], i);
      pup.send(encodeMetadataData(i, size, new Uint8Array(metadataPieceLength(size, i))));
      driveAll([link]);
    }
    assert.equal(pup.requests[piecesBefore], piecesBefore);
    pup.send(encodeMetadataData(piecesBefore, size, new Uint8Array(len)));
    driveAll([link]);
    assertMetadataError(link, 'BAD_METADATA_PIECE_LENGTH');
  }
});

test('hostile: malformed ut_metadata payloads → BAD_METADATA_MESSAGE; unknown msg_type ignored', () => {
  for (const payload of [Buffer.from('garbage'), Buffer.from('d8:msg_typei0ee'), Buffer.from('d8:msg_typei2e5:piecei0eeZ')]) {
    const { link, pup } = hostile(1000);
    pup.send(payload);
    driveAll([link]);
    assertMetadataError(link, 'BAD_METADATA_MESSAGE');
  }
  const { link, pup } = hostile(1000);
  pup.send(encode({ msg_type: 3, piece: 0 }));
  driveAll([link]);
  assert.equal(link.p.a.state, 'open');
});

test('hostile: after the connection errs, the leecher fetches from others', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH);
  const { l, pup, link } = hostile(info.length, info);
  pup.send(encodeMetadataData(0, info.length + 1, new Uint8Array(METADATA_PIECE_LENGTH)));
  const good = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([link, good]);
  assertMetadataError(link, 'METADATA_SIZE_MISMATCH');
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
});

test('close(): a connection that ends leaves the fetcher; its pieces go to others', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH);
  const l = leecher(sha1(info));
  const silent = new Puppet(info.length);
  const extA = l.reg.forConnection({ infoHash: sha1(info), peer: 'silent', role: 'initiator' });
  const p = new Pair({ infoHash: sha1(info), numPieces: 1, a: { extensions: extA.hooks }, bExtensions: new ExtensionRegistry([silent.factory()]).forConnection({ infoHash: sha1(info), peer: 'l', role: 'acceptor' }).hooks });
  p.drive();
  assert.deepEqual(silent.requests.sort(), [0, 1]);
  assert.equal(l.ut.fetcher!.sourceCount, 1);
  p.a.close();
  extA.close();
  assert.equal(l.ut.fetcher!.sourceCount, 0);
  const good = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([good]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
});

test('a hook whose connection can no longer send is dropped from the fetcher, not a crash', () => {
  const info = infoOfSize(3 * METADATA_PIECE_LENGTH);
  const l = leecher(sha1(info), { maxRequestsPerPeer: 1, requestTimeout: 10, retryAfter: 1 });
  const pupA = new Puppet(info.length);
  const a = connect(l.reg, [pupA.factory()], sha1(info), 'a');
  driveAll([a]);
  a.p.a.close(); // closed without telling the registry
  l.ut.handleTimeout(10); // the request times out; the source rests 1 ms
  assert.equal(l.ut.fetcher!.sourceCount, 1);
  l.ut.handleTimeout(11); // re-request: the send fails → dropped
  assert.equal(l.ut.fetcher!.sourceCount, 0);
  const good = connect(l.reg, seeder(info).reg, sha1(info), 'good');
  driveAll([good]);
  assert.deepEqual(events(l.ut).map((e) => e.type), ['complete']);
});

test('UtMetadata refuses info bytes that do not hash to the info hash', () => {
  const info = infoOfSize(300);
  assert.throws(() => new UtMetadata({ infoHash: new Uint8Array(20), infoBytes: info, now: 0 }), /hash/);
  assert.ok(new UtMetadata({ infoHash: sha1(info), infoBytes: info, now: 0 }).create({ infoHash: sha1(info), peer: 'x', role: 'acceptor' }) instanceof UtMetadataHook);
});

// ----------------------------------------------------------------- property

test('property: any metadata size (1 byte .. several pieces, exact multiples of 16 KiB) round-trips over random splits and swarms', () => {
  const size = fc.oneof(
    fc.integer({ min: 1, max: 99 }), // too small for an info dict: the hash still proves the bytes
    fc.integer({ min: 100, max: 5 * METADATA_PIECE_LENGTH + 100 }),
    fc.integer({ min: 1, max: 5 }).map((k) => k * METADATA_PIECE_LENGTH),
    fc.integer({ min: 1, max: 5 }).map((k) => k * METADATA_PIECE_LENGTH + 1),
  );
  fc.assert(fc.property(size, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 255 }),
    (n, seeders, splitAt, perPeer, seed) => {
      const info = n >= 100 ? infoOfSize(n, seed) : Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
      assert.equal(info.length, n);
      const l = leecher(sha1(info), { maxRequestsPerPeer: perPeer });
      const links = Array.from({ length: seeders }, (_, i) => connect(l.reg, seeder(info).reg, sha1(info), `s${i}`, splitAt));
      driveAll(links);
      const ev = events(l.ut);
      assert.equal(ev.length, 1, ev.map((e) => e.type).join());
      if (n >= 100) {
        assert.equal(ev[0].type, 'complete');
        assert.ok(Buffer.from(l.ut.metainfo!.infoBytes).equals(Buffer.from(info)));
      } else {
        // The bytes hashed to the info hash (no verify_failed) but are no info dict.
        assert.equal(ev[0].type, 'invalid');
      }
      for (const k of links) assert.equal(k.p.a.state, 'open');
    }), { numRuns: 40 });
});

// ----------------------------------------------------------------- the fetcher alone

/** A source that records what it is asked and can be told to fail sending. */
function fakeSource(peer: string): MetadataSource & { asked: number[]; dead: boolean } {
  const s = { peer, asked: [] as number[], dead: false, sendRequest(piece: number): boolean { if (s.dead) return false; s.asked.push(piece); return true; } };
  return s;
}

test('fetcher: a re-handshake with another size voids requests in flight; their late answers are ignored', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH);
  const f = new MetadataFetcher({ infoHash: sha1(info), now: 0, maxRequestsPerPeer: 2 });
  const a = fakeSource('a');
  f.addSource(a, info.length);
  assert.deepEqual(a.asked, [0, 1]);
  f.addSource(a, 999); // the peer now claims another size: a new attempt of that size
  assert.equal(f.attemptSize, 999);
  assert.deepEqual(a.asked, [0, 1, 0]);
  f.onData(a, 1, info.length, info.subarray(METADATA_PIECE_LENGTH)); // late answer for the old size: ignored
  assert.equal(f.progress.received, 0);
  assert.throws(() => f.onData(a, 1, info.length, info.subarray(METADATA_PIECE_LENGTH)), (e: unknown) => e instanceof UtMetadataError && e.reason === 'UNREQUESTED_METADATA');
  assert.equal(f.sourceCount, 0);
});

test('fetcher: a source whose connection cannot send is dropped and its piece goes elsewhere; stop() ends it', () => {
  const info = infoOfSize(METADATA_PIECE_LENGTH);
  const f = new MetadataFetcher({ infoHash: sha1(info), now: 0 });
  const dead = fakeSource('dead'); dead.dead = true;
  const live = fakeSource('live');
  f.addSource(dead, info.length);
  assert.equal(f.sourceCount, 0, 'dropped at its first failed send');
  f.addSource(live, info.length);
  assert.deepEqual(live.asked, [0]);
  assert.equal(f.nextTimeout(), METADATA_FETCH_DEFAULTS.requestTimeout);
  f.stop();
  assert.equal(f.state, 'stopped');
  assert.equal(f.nextTimeout(), null);
  f.onData(live, 0, info.length, info); // answer to a request we gave up on: ignored
  assert.equal(f.metainfo, null);
  assert.throws(() => new MetadataFetcher({ infoHash: new Uint8Array(3), now: 0 }), /20 bytes/);
  assert.throws(() => new MetadataFetcher({ infoHash: sha1(info), now: 0, maxRequestsPerPeer: 0 }), /positive/);
});

test('property: any sequence of ut_metadata payloads from a peer leaves the leecher open or ended by one typed error', () => {
  const info = infoOfSize(2 * METADATA_PIECE_LENGTH + 300);
  const size = info.length;
  const msg = fc.oneof(
    fc.nat(4).map((piece) => encodeMetadataRequest(piece)),
    fc.nat(4).map((piece) => encodeMetadataReject(piece)),
    fc.record({ piece: fc.nat(4), total: fc.constantFrom(size, size + 1, 1), len: fc.constantFrom(METADATA_PIECE_LENGTH, 300, 0, 5) })
      .map(({ piece, total, len }) => encodeMetadataData(piece, total, info.subarray(piece * METADATA_PIECE_LENGTH, piece * METADATA_PIECE_LENGTH + len))),
    fc.uint8Array({ maxLength: 40 }),
    fc.constant(encode({ msg_type: 7, piece: 0 })),
  );
  fc.assert(fc.property(fc.array(msg, { maxLength: 12 }), fc.boolean(), (msgs, timeouts) => {
    const l = leecher(sha1(info), { requestTimeout: 10, retryAfter: 5 });
    const pup = new Puppet(size);
    const link = connect(l.reg, [pup.factory()], sha1(info), 'fuzz');
    driveAll([link]);
    let t = 0;
    for (const m of msgs) {
      if (link.p.a.state !== 'open') break;
      pup.send(m);
      driveAll([link]);
      if (timeouts) { t += 7; l.ut.handleTimeout(t); driveAll([link]); }
    }
    if (link.p.a.state === 'error') {
      assert.ok(link.p.a.error instanceof UtMetadataError, link.p.a.error?.message);
      assert.equal(l.ut.fetcher!.sourceCount, 0, 'the fetcher forgot the peer that broke the protocol');
    } else {
      assert.equal(link.p.a.state, 'open');
    }
    for (const e of events(l.ut)) assert.ok(e.type === 'complete' || e.type === 'verify_failed' || e.type === 'peer_banned', e.type);
    if (l.ut.fetcher!.state === 'done') assert.ok(Buffer.from(l.ut.infoBytes!).equals(Buffer.from(info)));
  }), { numRuns: 200 });
});
