import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DhtSchedule } from '../../discovery/dht-schedule.js';
import { SourceRate } from '../../discovery/source-rate.js';

const OK = { nodes: 8, newPeers: 3, wantPeers: true };

test('first walk at start; announce with a port, lookup without; one at a time', () => {
  const s = new DhtSchedule();
  assert.equal(s.poll(0, true), null, 'nothing before start');
  s.start(1000);
  assert.equal(s.nextDue(), 1000);
  assert.equal(s.poll(999, true), null);
  assert.equal(s.poll(1000, true), 'announce');
  assert.equal(s.poll(1000, true), null, 'one walk in flight');
  assert.equal(s.nextDue(), null);
  assert.equal(s.finished(2000, OK), 2000 + 15 * 60_000, 're-announce after the interval');
  assert.equal(s.poll(2000 + 15 * 60_000, false), 'lookup', 'without a port: get_peers only');
});

test('a walk that reached no node, or found nobody while we need peers, is retried sooner, doubling to the cap', () => {
  const s = new DhtSchedule({ intervalMs: 600_000, retryBaseMs: 1000, retryMaxMs: 5000 });
  s.start(0);
  let now = 0;
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    assert.ok(s.poll(now, true) !== null);
    const next = s.finished(now, i % 2 === 0 ? { nodes: 0, newPeers: 0, wantPeers: true } : { nodes: 5, newPeers: 0, wantPeers: true })!;
    waits.push(next - now);
    now = next;
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000]);
  assert.ok(s.poll(now, true) !== null);
  assert.equal(s.finished(now, OK)! - now, 600_000, 'a fruitful walk resets the back-off');
  assert.ok(s.poll(now + 600_000, true) !== null);
  assert.equal(s.finished(now + 600_000, { nodes: 5, newPeers: 0, wantPeers: true })! - (now + 600_000), 1000);
  // a seed needs no peers: finding none is no reason to walk again soon
  assert.ok(s.poll(now + 601_000, true) !== null);
  assert.equal(s.finished(now + 601_000, { nodes: 5, newPeers: 0, wantPeers: false })! - (now + 601_000), 600_000);
});

test('stop: nothing more, even for a walk that ends later', () => {
  const s = new DhtSchedule();
  s.start(0);
  assert.equal(s.poll(0, true), 'announce');
  s.stop();
  assert.equal(s.finished(10, OK), null);
  assert.equal(s.poll(1e12, true), null);
  assert.equal(s.isStopped, true);
});

test('property: the next walk is never sooner than the retry base nor later than the interval', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 60_000, max: 3_600_000 }),
    fc.array(fc.record({ nodes: fc.nat(20), newPeers: fc.nat(5), wantPeers: fc.boolean(), dt: fc.nat(10_000) }), { maxLength: 40 }),
    (base, interval, walks) => {
      const s = new DhtSchedule({ retryBaseMs: base, intervalMs: interval });
      let now = 0;
      s.start(now);
      for (const w of walks) {
        now = Math.max(now, s.nextDue()!);
        assert.ok(s.poll(now, true) !== null);
        now += w.dt;
        const next = s.finished(now, w)!;
        assert.ok(next - now >= Math.min(base, interval) && next - now <= interval, `wait ${next - now}`);
      }
    }));
});

test('source rate: max per window per address, a new window after windowMs, bounded memory', () => {
  const r = new SourceRate({ max: 3, windowMs: 1000, maxSources: 2 });
  assert.deepEqual([1, 2, 3, 4].map(() => r.admit('a', 0)), [true, true, true, false]);
  assert.equal(r.admit('b', 10), true, 'another address has its own budget');
  assert.equal(r.admit('a', 999), false);
  assert.equal(r.admit('a', 1000), true, 'next window');
  r.admit('c', 1000);
  assert.equal(r.size, 2, 'the oldest address is forgotten past maxSources');
  assert.equal(r.admit('a', 500), true, 'a clock that went back starts a fresh window');
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(9), fc.nat(400)), { maxLength: 300 }), (qs) => {
    // 10 addresses, all remembered: windows are back to back, so any span of windowMs
    // holds at most two windows' worth of answers for one address.
    const lim = new SourceRate({ max: 5, windowMs: 1000, maxSources: 16 });
    const times = new Map<number, number[]>();
    let now = 0;
    for (const [src, dt] of qs) {
      now += dt;
      if (lim.admit(String(src), now)) times.set(src, [...(times.get(src) ?? []), now]);
    }
    for (const ts of times.values()) {
      for (const t0 of ts) assert.ok(ts.filter((x) => x >= t0 && x < t0 + 1000).length <= 10);
    }
    const flood = new SourceRate({ max: 5, windowMs: 1000, maxSources: 16 });
    qs.forEach((_, i) => flood.admit(`x${i}`, 0));
    assert.ok(flood.size <= 16);
  }));
});
