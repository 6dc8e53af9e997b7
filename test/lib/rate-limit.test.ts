/**
 * Rate limits on their own, sans-IO (time passed in): the token bucket (depth, debt,
 * refill, rate changes) and the queue of waiters over a client's and its torrents'
 * buckets (FIFO per torrent, no starvation, a torrent at its own limit does not hold
 * the others back). Over real TCP it is test/lib/rate-limit-transfer.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenBucket, depthFor, MIN_DEPTH } from '../../lib/net/token-bucket.js';
import { RateQueue, type RateWaiter } from '../../lib/net/rate-queue.js';

const KiB = 1024;
const MiB = 1024 * 1024;

test('depth: 100 ms of the rate, at least one 16 KiB block; 0 when unlimited', () => {
  assert.equal(depthFor(20 * MiB), 2 * MiB);
  assert.equal(depthFor(1 * MiB), 0.1 * MiB);
  assert.equal(depthFor(50 * KiB), MIN_DEPTH);
  assert.equal(depthFor(0), 0);
});

test('a bucket starts full, refills at its rate up to its depth, and says when n bytes are due', () => {
  const b = new TokenBucket(100 * KiB, 0, 20 * KiB);
  assert.equal(b.level(0), 20 * KiB);
  assert.ok(b.canTake(20 * KiB, 0));
  b.take(20 * KiB, 0);
  assert.equal(b.canTake(1, 0), false);
  assert.equal(b.delay(10 * KiB, 0), 100, '10 KiB at 100 KiB/s: 100 ms');
  assert.equal(b.canTake(10 * KiB, 99), false);
  assert.equal(b.canTake(10 * KiB, 100), true);
  assert.equal(b.level(10_000), 20 * KiB, 'never above the depth');
  b.give(5 * KiB, 10_000);
  assert.equal(b.level(10_000), 20 * KiB, 'given-back tokens are capped by the depth too');
});

test('a grant larger than the depth waits for a full bucket and leaves it in debt', () => {
  const b = new TokenBucket(16 * KiB, 0, 16 * KiB);
  b.take(8 * KiB, 0);
  assert.equal(b.canTake(64 * KiB, 0), false);
  assert.equal(b.delay(64 * KiB, 0), 500, 'the missing 8 KiB of a full bucket');
  assert.equal(b.canTake(64 * KiB, 500), true);
  b.take(64 * KiB, 500);
  assert.equal(b.level(500), -48 * KiB);
  assert.equal(b.delay(16 * KiB, 500), 4000, 'the debt is paid off first');
});

test('unlimited: every request is granted at once and nothing is counted', () => {
  const b = new TokenBucket(0, 0);
  assert.equal(b.limited, false);
  assert.equal(b.canTake(1e12, 0), true);
  assert.equal(b.delay(1e12, 0), 0);
  b.take(1e12, 0);
  assert.equal(b.canTake(1e12, 0), true);
});

test('rate changes: what accrued keeps its old rate; a bucket that was unlimited starts full', () => {
  const b = new TokenBucket(10 * KiB, 0, 40 * KiB);
  b.take(40 * KiB, 0);
  b.setRate(100 * KiB, 1000); // 10 KiB accrued at the old rate
  assert.equal(b.level(1000), 10 * KiB);
  assert.equal(b.level(1100), 20 * KiB, 'then 100 KiB/s');
  b.setRate(0, 1100);
  assert.equal(b.limited, false);
  b.setRate(1 * MiB, 1200);
  assert.equal(b.level(1200), 40 * KiB, 'limited again: full');
  const d = new TokenBucket(10 * MiB, 0);
  assert.equal(d.depth, MiB);
  d.setRate(1 * MiB, 0);
  assert.equal(d.level(0), 0.1 * MiB, 'a smaller depth caps the tokens');
});

test('a clock that goes back adds nothing, and accrual resumes from the new reading', () => {
  const b = new TokenBucket(1000, 5000, 1000);
  b.take(1000, 5000);
  assert.equal(b.level(4000), 0);
  assert.equal(b.level(4500), 500);
});

test('bad rates are refused', () => {
  for (const r of [-1, NaN, Infinity]) assert.throws(() => new TokenBucket(r, 0), RangeError, String(r));
  assert.throws(() => new TokenBucket(1, 0).setRate(-5, 0), RangeError);
});

/**
 * Grants (time, bytes) in time order, checked against rate·window + max(depth, largest
 * grant) over every window [t_i, t_j], in one pass: the worst window ending at j starts
 * where S(i−1) − rate·t_i is least (S: bytes granted so far).
 */
function assertWindowBound(grants: readonly { t: number; n: number }[], rate: number, depth: number, what: string): void {
  const maxN = grants.reduce((m, g) => Math.max(m, g.n), 0);
  const slack = Math.max(depth, maxN) + 1e-3;
  let before = 0; // S(i−1)
  let best = Infinity; // min over i ≤ j of S(i−1) − rate·t_i/1000
  let bestAt = 0;
  for (const g of grants) {
    const start = before - (rate * g.t) / 1000;
    if (start < best) { best = start; bestAt = g.t; }
    before += g.n;
    const excess = before - (rate * g.t) / 1000 - best;
    if (excess > slack) assert.fail(`${what}: ${excess.toFixed(1)} bytes above rate·window in [${bestAt}, ${g.t}] ms, more than ${slack}`);
  }
}

test('property: a greedy taker never gets more than rate·t + max(depth, largest grant) in any window', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1024, max: 100 * MiB }),
    fc.option(fc.integer({ min: 1, max: 1 * MiB }), { nil: undefined }),
    fc.array(fc.record({ dt: fc.double({ min: 0, max: 300, noNaN: true }), n: fc.integer({ min: 1, max: 256 * KiB }) }), { maxLength: 150 }),
    (rate, depth, ops) => {
      const b = new TokenBucket(rate, 0, depth);
      const grants: { t: number; n: number }[] = [];
      let now = 0;
      for (const op of ops) {
        now += op.dt;
        if (b.canTake(op.n, now)) { b.take(op.n, now); grants.push({ t: now, n: op.n }); }
      }
      assertWindowBound(grants, rate, b.depth, 'bucket');
    },
  ), { numRuns: 300 });
});

test('property: after delay(n) ms, n bytes can be taken (the timer never wakes too early to grant)', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 100 * MiB }),
    fc.array(fc.record({ dt: fc.double({ min: 0, max: 50, noNaN: true }), n: fc.integer({ min: 1, max: 256 * KiB }) }), { minLength: 1, maxLength: 50 }),
    (rate, ops) => {
      const b = new TokenBucket(rate, 0);
      let now = 0;
      for (const op of ops) {
        now += op.dt;
        const d = b.delay(op.n, now);
        assert.ok(Number.isInteger(d) && d >= 0);
        now += d;
        assert.ok(b.canTake(op.n, now), `${op.n} bytes due after ${d} ms`);
        b.take(op.n, now);
      }
    },
  ), { numRuns: 300 });
});

// ---------------------------------------------------------------------------- the queue

interface W extends RateWaiter { readonly id: number; readonly seq: number }

test('a new request may not overtake a waiter of its torrent; the waiter is granted when due', () => {
  const client = new TokenBucket(0, 0);
  const tor = new TokenBucket(16 * KiB, 0, 16 * KiB);
  const q = new RateQueue<W>();
  const chain = [client, tor];
  assert.ok(q.tryTake(chain, 16 * KiB, 0));
  assert.equal(q.tryTake(chain, 16 * KiB, 0), false);
  const w: W = { id: 1, seq: 0, need: 16 * KiB, buckets: chain };
  q.push(w);
  assert.equal(q.nextWake(0), 1000);
  assert.equal(q.tryTake(chain, 1, 999), false, 'a byte is there, but the waiter holds the bucket');
  assert.deepEqual(q.poll(999), []);
  assert.deepEqual(q.poll(1000).map((x) => x.id), [1]);
  assert.equal(q.size, 0);
  assert.equal(q.nextWake(1000), null);
});

test('a torrent stopped by its own limit does not hold back another under the client limit', () => {
  const client = new TokenBucket(1 * MiB, 0);
  const slow = new TokenBucket(16 * KiB, 0, 16 * KiB);
  const fast = new TokenBucket(0, 0);
  const q = new RateQueue<W>();
  slow.take(16 * KiB, 0);
  q.push({ id: 1, seq: 0, need: 16 * KiB, buckets: [client, slow] });
  assert.equal(q.nextWake(0), 1000);
  assert.ok(q.tryTake([client, fast], 16 * KiB, 0), 'the other torrent takes from the client bucket at once');
  q.push({ id: 2, seq: 1, need: 16 * KiB, buckets: [client, slow] });
  assert.equal(q.tryTake([client, slow], 1, 2000), false, 'the slow torrent serves its peers in turn');
  assert.deepEqual(q.poll(1000).map((x) => x.id), [1]);
  assert.equal(q.nextWake(1000), 2000);
});

test('a waiter stopped by the client limit holds it: later torrents wait their turn', () => {
  const client = new TokenBucket(16 * KiB, 0, 16 * KiB);
  const a = new TokenBucket(0, 0);
  const b = new TokenBucket(0, 0);
  const q = new RateQueue<W>();
  client.take(16 * KiB, 0);
  q.push({ id: 1, seq: 0, need: 16 * KiB, buckets: [client, a] });
  q.nextWake(0);
  assert.equal(q.tryTake([client, b], 1, 500), false);
  q.push({ id: 2, seq: 1, need: 1, buckets: [client, b] });
  q.nextWake(500);
  assert.deepEqual(q.poll(999).map((x) => x.id), [], 'the 1-byte waiter does not jump the 16 KiB one');
  assert.deepEqual(q.poll(1000).map((x) => x.id), [1]);
  q.nextWake(1000);
  assert.equal(q.nextWake(1000), 1001);
  assert.deepEqual(q.poll(1001).map((x) => x.id), [2]);
});

test('cancel: the waiter leaves and holds nothing any more; clear drops everyone', () => {
  const tor = new TokenBucket(1000, 0, 1000);
  tor.take(1000, 0);
  const q = new RateQueue<W>();
  const w: W = { id: 1, seq: 0, need: 500, buckets: [tor] };
  q.push(w);
  q.nextWake(0);
  assert.equal(q.tryTake([tor], 100, 200), false);
  assert.equal(q.cancel(w), true);
  assert.equal(q.cancel(w), false);
  assert.equal(q.tryTake([tor], 100, 200), true);
  q.push({ id: 2, seq: 1, need: 500, buckets: [tor] });
  q.nextWake(200);
  assert.equal(q.clear().length, 1);
  assert.equal(q.size, 0);
  assert.equal(tor.held, false);
});

test('a limit lifted while someone waits: the next poll grants it', () => {
  const client = new TokenBucket(1000, 0, 1000);
  client.take(1000, 0);
  const q = new RateQueue<W>();
  q.push({ id: 1, seq: 0, need: 800, buckets: [client] });
  assert.equal(q.nextWake(0), 800);
  client.setRate(0, 10);
  assert.deepEqual(q.poll(10).map((x) => x.id), [1]);
});

/**
 * A client with torrents of random limits and greedy peers (each wants one block after
 * another, and grabs what it may at once before queueing), driven by nextWake: what
 * each bucket grants stays under its bound over every window, no waiter waits longer
 * than every peer's block (twice: a debt) at the slowest limit, and the peers of one
 * torrent are granted in the order they queued. The run lasts three such waits.
 */
test('property: greedy peers over a client and its torrents: bounded, fair, no starvation', () => {
  const limit = fc.oneof(fc.constant(0), fc.integer({ min: 64 * KiB, max: 4 * MiB }));
  fc.assert(fc.property(
    limit,
    fc.array(limit, { minLength: 1, maxLength: 3 }),
    fc.array(fc.record({ torrent: fc.nat(), need: fc.integer({ min: 1 * KiB, max: 64 * KiB }), start: fc.integer({ min: 0, max: 200 }) }), { minLength: 1, maxLength: 6 }),
    (clientRate, torrentRates, peersIn) => {
      const client = new TokenBucket(clientRate, 0);
      const torrents = torrentRates.map((r) => new TokenBucket(r, 0));
      const peers = peersIn.map((p, id) => ({ id, torrent: p.torrent % torrents.length, need: p.need, start: p.start }));
      const rates = [client, ...torrents].filter((b) => b.limited).map((b) => b.rate);
      if (rates.length === 0) return;
      const slowest = Math.min(...rates);
      const maxNeed = Math.max(...peers.map((p) => p.need));
      const bound = (peers.length + 1) * 2 * ((maxNeed * 1000) / slowest + 1);
      const horizon = 200 + 3 * bound;
      const q = new RateQueue<W>();
      const grants = new Map<TokenBucket, { t: number; n: number }[]>([[client, []], ...torrents.map((b) => [b, []] as [TokenBucket, { t: number; n: number }[]])]);
      const queuedAt = new Map<number, number>();
      const grantOrder: W[] = [];
      let seq = 0;
      let maxWait = 0;
      const record = (p: typeof peers[number], now: number): void => {
        for (const b of [client, torrents[p.torrent]]) if (b.limited) grants.get(b)!.push({ t: now, n: p.need });
      };
      const ask = (p: typeof peers[number], now: number): void => {
        const chain = [client, torrents[p.torrent]];
        if (!chain.some((b) => b.limited)) return; // nothing to wait for: not part of this test
        while (q.tryTake(chain, p.need, now)) record(p, now);
        q.push({ id: p.id, seq: seq++, need: p.need, buckets: chain });
        queuedAt.set(p.id, now);
      };
      const pending = [...peers].sort((a, b) => a.start - b.start);
      let now = 0;
      let wake = q.nextWake(now);
      for (;;) {
        const next = Math.min(wake ?? Infinity, pending.length > 0 ? pending[0].start : Infinity);
        if (next === Infinity || next > horizon) break;
        now = Math.max(now, next);
        while (pending.length > 0 && pending[0].start <= now) ask(pending.shift()!, now);
        for (const w of q.poll(now)) {
          grantOrder.push(w);
          const p = peers[w.id];
          record(p, now);
          maxWait = Math.max(maxWait, now - queuedAt.get(w.id)!);
          queuedAt.delete(w.id);
          ask(p, now);
        }
        wake = q.nextWake(now);
      }
      for (const [b, g] of grants) if (b.limited) assertWindowBound(g, b.rate, b.depth, `bucket of ${b.rate} B/s`);
      assert.ok(maxWait <= bound, `a waiter waited ${maxWait} ms (bound ${bound})`);
      for (const [id, at] of queuedAt) assert.ok(horizon - at <= bound, `peer ${id} waits since ${at} ms (bound ${bound}, run ${horizon})`);
      const lastSeq = new Map<TokenBucket, number>();
      for (const w of grantOrder) {
        const t = w.buckets[1];
        const prev = lastSeq.get(t) ?? -1;
        assert.ok(w.seq > prev, 'a torrent\'s waiters are granted in queue order');
        lastSeq.set(t, w.seq);
      }
    },
  ), { numRuns: 100 });
});
