/**
 * BEP 6 fast-extension rules in PeerConnection, plus a fast-check property: random
 * sequences of legal commands on both sides, with deliveries interleaved at random
 * (so requests cross chokes and cancels cross pieces), never make either side
 * fail and keep the invariants — in-flight ≤ reqq, no piece on the wire while the
 * sender chokes unless allowed fast, byte counters equal to the bytes carried.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pair, openPair, fill, type Side } from './pair.js';
import { encodeMessage } from '../../wire/codec.js';
import { Framer } from '../../wire/framer.js';
import { WireError } from '../../wire/errors.js';
import type { Message } from '../../wire/messages.js';

const frame = (m: Message): Uint8Array => encodeMessage(m);

test('have_all right after the handshake (after the BEP 10 handshake, as libtorrent sends) is accepted', () => {
  const p = openPair();
  p.b.haveAll(p.now);
  p.drive();
  const [bf] = p.take('a', 'bitfield');
  assert.equal(bf.source, 'have_all');
  assert.equal(p.a.peerPieces?.hasAll(), true);
  const q = openPair();
  q.b.haveNone(q.now);
  q.drive();
  assert.equal(q.take('a', 'bitfield')[0].source, 'have_none');
  assert.equal(q.a.peerPieces?.count, 0);
});

test('have_all / have_none / bitfield after other messages: accepted, the latest replaces the peer\'s piece set', () => {
  const firsts: Message[] = [{ type: 'have_all' }, { type: 'have_none' }, { type: 'bitfield', bits: fill(8, 0) }];
  const befores: Message[] = [{ type: 'unchoke' }, { type: 'have', index: 3 }, { type: 'interested' }, { type: 'have_none' }, { type: 'bitfield', bits: fill(8, 0) }, { type: 'allowed_fast', index: 2 }];
  for (const before of befores) {
    for (const late of firsts) {
      const p = openPair();
      p.inject('a', frame({ type: 'keep_alive' }));
      p.inject('a', frame(before));
      p.inject('a', frame(late));
      assert.equal(p.a.state, 'open', `${late.type} after ${before.type}`);
      const want = late.type === 'have_all' ? p.a.numPieces : 0;
      assert.equal(p.a.peerPieces?.count, want, `${late.type} after ${before.type} replaces the set`);
    }
  }
  // A later bitfield with some pieces replaces an earlier have_all; sizes stay exact.
  const p = openPair();
  p.inject('a', frame({ type: 'have_all' }));
  p.inject('a', frame({ type: 'unchoke' }));
  const bits = new Uint8Array(Math.ceil(p.a.numPieces! / 8));
  bits[0] = 0xa0;
  p.inject('a', frame({ type: 'bitfield', bits }));
  assert.equal(p.a.state, 'open');
  assert.deepEqual([...p.a.peerPieces!], [0, 2]);
  p.inject('a', frame({ type: 'bitfield', bits: new Uint8Array(bits.length + 1) }));
  assert.equal(p.errorOf('a')?.error.code, 'BAD_BITFIELD_LENGTH', 'a late bitfield of the wrong size is still an error');
});

test('fast messages without the fast bit on both sides end the connection (FAST_NOT_NEGOTIATED)', () => {
  const msgs: Message[] = [
    { type: 'have_all' }, { type: 'have_none' }, { type: 'suggest_piece', index: 1 },
    { type: 'allowed_fast', index: 1 }, { type: 'reject_request', index: 0, begin: 0, length: 16 },
  ];
  for (const m of msgs) {
    // Only b advertises fast: the fast extension is off for the connection.
    const p = openPair({ a: { fast: false } });
    assert.equal(p.b.fastEnabled, false);
    p.inject('b', frame(m));
    const err = p.errorOf('b')?.error;
    assert.equal(err?.code, 'FAST_NOT_NEGOTIATED', m.type);
    assert.equal(err?.remote, true);
  }
  // And locally: commands that need fast are refused without touching the connection.
  const p = openPair({ a: { fast: false } });
  for (const f of [() => p.b.haveAll(p.now), () => p.b.allowedFast(1, p.now), () => p.b.suggest(1, p.now)]) {
    assert.throws(f, (e: unknown) => e instanceof WireError && e.code === 'FAST_NOT_NEGOTIATED' && !e.remote);
  }
  assert.equal(p.b.state, 'open');
});

test('with fast, requests beyond our reqq are answered with reject_request', () => {
  // a does not know b's reqq (no BEP 10) and sends 8; b advertises 3.
  const p = openPair({ common: { extended: false }, a: { defaultPeerReqq: 8 }, b: { reqq: 3 } });
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.drive();
  for (let i = 0; i < 8; i++) p.a.request(0, i * 100, 100, p.now);
  p.drive();
  assert.equal(p.take('b', 'request').length, 3);
  assert.equal(p.b.peerRequestCount, 3);
  assert.deepEqual(p.take('a', 'reject').map((r) => r.begin), [300, 400, 500, 600, 700]);
  assert.equal(p.a.requestsInFlight, 3);
  assert.equal(p.b.state, 'open');
});

test('with fast, choking rejects each pending request except allowed-fast ones', () => {
  const p = openPair();
  p.b.haveAll(p.now); p.b.allowedFast(2, p.now); p.b.unchoke(p.now); p.drive();
  p.a.request(0, 0, 100, p.now);
  p.a.request(1, 0, 100, p.now);
  p.a.request(2, 0, 100, p.now);
  p.drive();
  assert.equal(p.b.peerRequestCount, 3);
  const rejected = p.b.choke(p.now);
  assert.deepEqual(rejected.map((r) => r.index), [0, 1]);
  p.drive();
  const [ch] = p.take('a', 'choke');
  assert.deepEqual(ch.dropped, [], 'under fast a choke voids nothing by itself');
  assert.deepEqual(p.take('a', 'reject').map((r) => r.index), [0, 1]);
  assert.deepEqual(p.a.inFlightRequests().map((r) => r.index), [2]);
  // The allowed-fast request is still served while choked.
  assert.equal(p.b.canSendPiece(2, 0, 100), true);
  assert.equal(p.b.canSendPiece(0, 0, 100), false);
  p.b.sendPiece(2, 0, fill(100, 2), p.now);
  p.drive();
  assert.equal(p.take('a', 'piece').length, 1);
});

test('allowed_fast: the peer may request those pieces while choked; others are rejected', () => {
  const p = openPair();
  p.b.haveAll(p.now); p.b.allowedFast(5, p.now); p.drive();
  assert.equal(p.a.peerChoking, true);
  assert.equal(p.a.isAllowedFastFromPeer(5), true);
  assert.deepEqual(p.take('a', 'allowed_fast').map((e) => e.index), [5]);
  assert.equal(p.a.canRequest(5), true);
  assert.equal(p.a.canRequest(4), false);
  p.a.request(5, 0, 1000, p.now);
  // A request for a piece that is not allowed fast, as a confused peer would send it.
  p.inject('b', frame({ type: 'request', index: 4, begin: 0, length: 1000 }));
  p.drive();
  const reqs = p.take('b', 'request');
  assert.deepEqual(reqs.map((r) => r.index), [5]);
  p.b.sendPiece(5, 0, fill(1000, 5), p.now);
  p.drive();
  assert.equal(p.take('a', 'piece').length, 1);
  assert.equal(p.a.state, 'open'); // a ignores the reject for a request it never made
});

test('a cancel is answered with reject_request under fast (Transmission #511)', () => {
  const p = openPair();
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.drive();
  p.a.request(0, 0, 100, p.now);
  p.a.request(0, 100, 100, p.now);
  p.drive();
  p.a.cancel(0, 0, 100, p.now);
  assert.equal(p.a.requestsInFlight, 1);
  p.drive();
  assert.deepEqual(p.take('b', 'cancel').map((c) => c.begin), [0]);
  assert.equal(p.b.peerRequestCount, 1);
  // a got the reject for its cancelled request: no 'reject' event (it is the expected answer).
  assert.equal(p.take('a', 'reject').length, 0);
  assert.equal(p.a.state, 'open');
  // The block's late-answer slot is used up: a piece for it now is unrequested.
  p.inject('a', frame({ type: 'piece', index: 0, begin: 0, block: fill(100, 0) }));
  assert.equal(p.errorOf('a')?.error.code, 'UNREQUESTED_PIECE');
});

test('rejectRequest answers one pending request; a reject frees our slot', () => {
  const p = openPair();
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.drive();
  p.a.request(3, 0, 100, p.now);
  p.drive();
  p.b.rejectRequest(3, 0, 100, p.now);
  assert.throws(() => p.b.rejectRequest(3, 0, 100, p.now), WireError);
  p.drive();
  assert.deepEqual(p.take('a', 'reject').map((r) => r.index), [3]);
  assert.equal(p.a.requestsInFlight, 0);
});

// ------------------------------------------------------------------ property

/** Decodes the bytes one side sends and checks, on the wire, that no piece leaves while choking. */
class WireTap {
  private skip = 68;
  private readonly framer = new Framer();
  private choking = true;
  private readonly allowed = new Set<number>();
  violations: string[] = [];
  messages = 0;

  feed(chunk: Uint8Array): void {
    let c = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, c.length);
      this.skip -= n;
      c = c.subarray(n);
    }
    if (c.length === 0) return;
    this.framer.feed(c);
    for (let m = this.framer.next(); m !== null; m = this.framer.next()) {
      this.messages++;
      if (m.type === 'choke') this.choking = true;
      else if (m.type === 'unchoke') this.choking = false;
      else if (m.type === 'allowed_fast') this.allowed.add(m.index);
      else if (m.type === 'piece' && this.choking && !this.allowed.has(m.index)) {
        this.violations.push(`piece ${m.index}:${m.begin} sent while choking`);
      }
    }
  }
}

type Action =
  | { k: 'interest'; s: Side; on: boolean }
  | { k: 'choke'; s: Side; on: boolean }
  | { k: 'have'; s: Side; i: number }
  | { k: 'request'; s: Side; i: number; blk: number }
  | { k: 'cancel'; s: Side; n: number }
  | { k: 'serve'; s: Side; n: number }
  | { k: 'reject'; s: Side; n: number }
  | { k: 'allowed'; s: Side; i: number }
  | { k: 'deliver'; s: Side }
  | { k: 'drive' }
  | { k: 'time'; ms: number };

const N = 8;
const BLOCK = 512;
const side = fc.constantFrom<Side>('a', 'b');
const piece = fc.integer({ min: 0, max: N - 1 });
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ k: fc.constant('interest' as const), s: side, on: fc.boolean() }),
  fc.record({ k: fc.constant('choke' as const), s: side, on: fc.boolean() }),
  fc.record({ k: fc.constant('have' as const), s: side, i: piece }),
  { arbitrary: fc.record({ k: fc.constant('request' as const), s: side, i: piece, blk: fc.integer({ min: 0, max: 3 }) }), weight: 4 },
  fc.record({ k: fc.constant('cancel' as const), s: side, n: fc.nat(20) }),
  { arbitrary: fc.record({ k: fc.constant('serve' as const), s: side, n: fc.nat(20) }), weight: 3 },
  fc.record({ k: fc.constant('reject' as const), s: side, n: fc.nat(20) }),
  fc.record({ k: fc.constant('allowed' as const), s: side, i: piece }),
  { arbitrary: fc.record({ k: fc.constant('deliver' as const), s: side }), weight: 2 },
  fc.record({ k: fc.constant('drive' as const) }),
  fc.record({ k: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
);

/** A pair whose transport can hold bytes back: `deliver(side)` moves only that side's output. */
class HeldPair extends Pair {
  deliver(s: Side): void {
    const from = this.conn(s);
    const to = this.conn(s === 'a' ? 'b' : 'a');
    for (let ev = from.pollEvent(); ev !== null; ev = from.pollEvent()) this.events(s).push(ev);
    for (let c = from.pollTransmit(); c !== null; c = from.pollTransmit()) {
      if (s === 'a') this.bytesAtoB += c.length; else this.bytesBtoA += c.length;
      this.tap?.(s, c);
      to.receive(c, this.now);
    }
  }
  tap: ((s: Side, c: Uint8Array) => void) | undefined;
}

test('property: random legal commands on both sides keep the invariants and never fail', () => {
  fc.assert(
    fc.property(
      fc.record({ fast: fc.boolean(), extended: fc.boolean(), reqq: fc.integer({ min: 1, max: 6 }), unchoked: fc.boolean() }),
      fc.array(action, { minLength: 20, maxLength: 150, size: 'max' }),
      (cfg, actions) => {
        const taps = { a: new WireTap(), b: new WireTap() };
        // Without BEP 10 a peer cannot learn reqq: under fast let it overshoot (rejects
        // are the answer), without fast it must stay within (overflow is fatal).
        const defaultPeerReqq = cfg.fast ? cfg.reqq + 2 : cfg.reqq;
        const common = { fast: cfg.fast, extended: cfg.extended, reqq: cfg.reqq, defaultPeerReqq, requestTimeout: 30_000, idleTimeout: 1e12 };
        const p = new HeldPair({ numPieces: N, common, onTransit: (s, c) => taps[s].feed(c) });
        p.tap = (s, c) => taps[s].feed(c);
        p.drive();
        assert.equal(p.a.state, 'open');
        // Each side has a random half of the pieces, announced first.
        const mine = { a: new Set([0, 2, 4, 6]), b: new Set([1, 2, 3, 5, 7]) };
        for (const s of ['a', 'b'] as const) {
          const bits = new Uint8Array(1);
          for (const i of mine[s]) bits[0] |= 0x80 >>> i;
          p.conn(s).bitfield(bits, p.now);
          // Half the runs start mid-session: both unchoked and interested.
          if (cfg.unchoked) { p.conn(s).unchoke(p.now); p.conn(s).interested(p.now); }
        }
        p.drive();
        for (const act of actions) {
          if (act.k === 'drive') { p.drive(); continue; }
          if (act.k === 'time') { p.now += act.ms; for (const c of [p.a, p.b]) { const t = c.nextTimeout(); if (t !== null && t <= p.now) c.handleTimeout(p.now); } continue; }
          if (act.k === 'deliver') { p.deliver(act.s); continue; }
          const c = p.conn(act.s);
          const now = p.now;
          switch (act.k) {
            case 'interest': if (act.on) c.interested(now); else c.notInterested(now); break;
            case 'choke': if (act.on) c.choke(now); else c.unchoke(now); break;
            case 'have': if (!mine[act.s].has(act.i)) { mine[act.s].add(act.i); c.have(act.i, now); } break;
            case 'request': {
              const begin = act.blk * BLOCK;
              if (c.canRequest(act.i) && !c.inFlightRequests().some((r) => r.index === act.i && r.begin === begin)) {
                c.request(act.i, begin, BLOCK, now);
              }
              break;
            }
            case 'cancel': {
              const list = c.inFlightRequests();
              if (list.length > 0) { const r = list[act.n % list.length]; c.cancel(r.index, r.begin, r.length, now); }
              break;
            }
            case 'serve': {
              const list = c.pendingPeerRequests();
              if (list.length > 0) {
                const r = list[act.n % list.length];
                if (c.canSendPiece(r.index, r.begin, r.length)) c.sendPiece(r.index, r.begin, fill(r.length, r.index), now);
                else if (c.fastEnabled) c.rejectRequest(r.index, r.begin, r.length, now);
              }
              break;
            }
            case 'reject': {
              const list = c.pendingPeerRequests();
              if (c.fastEnabled && list.length > 0) { const r = list[act.n % list.length]; c.rejectRequest(r.index, r.begin, r.length, now); }
              break;
            }
            case 'allowed': if (c.fastEnabled) c.allowedFast(act.i, now); break;
          }
          for (const s of ['a', 'b'] as const) {
            const x = p.conn(s);
            assert.ok(x.requestsInFlight <= x.peerReqq, `${s}: in flight ${x.requestsInFlight} > peer reqq ${x.peerReqq}`);
            // Without fast, requests that crossed a choke/unchoke may add up to reqq (see onRequest).
            const bound = x.fastEnabled ? x.reqq : 2 * x.reqq;
            assert.ok(x.peerRequestCount <= bound, `${s}: pending ${x.peerRequestCount} > ${bound}`);
          }
        }
        // Idle long enough for keep-alives but not for the idle timeout, then settle.
        p.drive();
        for (const s of ['a', 'b'] as const) {
          const x = p.conn(s);
          assert.equal(p.errorOf(s), undefined, `${s} failed: ${x.error?.message}`);
          assert.equal(x.state, 'open');
          assert.equal(x.bufferedInbound, 0);
          assert.deepEqual(taps[s].violations, []);
          const carried = s === 'a' ? p.bytesAtoB : p.bytesBtoA;
          assert.equal(x.stats.payloadBytesOut + x.stats.protocolBytesOut, carried);
          const y = p.conn(s === 'a' ? 'b' : 'a');
          assert.equal(y.stats.payloadBytesIn + y.stats.protocolBytesIn, carried);
          assert.equal(y.stats.payloadBytesIn, x.stats.payloadBytesOut);
        }
        // Every piece a side received answered one of its requests and carried the right bytes.
        for (const s of ['a', 'b'] as const) {
          for (const ev of p.events(s)) {
            if (ev.type === 'piece') assert.ok(ev.block.every((v) => v === ev.index));
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('a peer flooding requests it never reads the rejects of cannot grow our transmit queue', () => {
  const p = openPair({ common: { extended: false }, b: { reqq: 2, maxBufferedOutbound: 1000 } });
  p.b.haveAll(p.now);
  p.drive();
  const flood = Buffer.concat(Array.from({ length: 500 }, (_, i) => frame({ type: 'request', index: 0, begin: i * 16, length: 16 })));
  p.b.receive(flood, p.now);
  // Nobody drains b's output: parsing stops once over the cap, the rest stays unparsed.
  for (let e = p.b.pollEvent(); e; e = p.b.pollEvent()) p.eventsB.push(e);
  assert.ok(p.b.bufferedOutbound <= 1000 + 17, `queued ${p.b.bufferedOutbound}`);
  assert.ok(p.b.bufferedInbound > 0);
  // Draining resumes parsing; every request is rejected in the end (b chokes a).
  let rejects = 0;
  for (;;) {
    for (let e = p.b.pollEvent(); e; e = p.b.pollEvent()) p.eventsB.push(e);
    let moved = false;
    for (let c = p.b.pollTransmit(); c; c = p.b.pollTransmit()) { moved = true; rejects += c.length / 17; }
    if (!moved) break;
  }
  assert.equal(rejects, 500);
  assert.equal(p.b.bufferedInbound, 0);
  assert.equal(p.b.state, 'open');
});
