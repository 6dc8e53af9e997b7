/** The per-torrent announce schedule over BEP 12 tiers, with a hand-driven clock. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AnnounceSchedule } from '../../discovery/announce-schedule.js';
import { TrackerError } from '../../discovery/errors.js';
import { trackerTiers, parseTrackerUrl } from '../../discovery/tracker-url.js';

const fail = new TrackerError('NETWORK', 'refused');
const noShuffle = (): number => 0.999999;

test('tiers: announce-list wins over announce; unusable URLs and duplicates dropped', () => {
  assert.deepEqual(trackerTiers('http://a/announce', undefined), [['http://a/announce']]);
  assert.deepEqual(trackerTiers('http://a/announce', [['udp://b:1', 'wss://c', 'udp://b:1'], [], ['http://d/x']]), [['udp://b:1'], ['http://d/x']]);
  assert.deepEqual(trackerTiers(undefined, undefined), []);
  assert.deepEqual(parseTrackerUrl('udp://[::1]:6969/announce'), { kind: 'udp', url: 'udp://[::1]:6969/announce', host: '::1', port: 6969 });
  assert.throws(() => parseTrackerUrl('udp://host/announce'), TrackerError);
  assert.throws(() => parseTrackerUrl('ftp://host/'), TrackerError);
});

test('started first, then interval (floored by min interval and ours), completed at once, stopped to those that know us', () => {
  const s = new AnnounceSchedule([['http://a'], ['http://b']], { random: noShuffle, minIntervalMs: 30_000 });
  assert.equal(s.poll(0), null);
  s.start(0);
  const p1 = s.poll(0)!;
  assert.deepEqual(p1, { url: 'http://a', event: 'started' });
  assert.equal(s.poll(0), null); // one in flight
  s.succeeded(p1, 100, { interval: 10, minInterval: 20, trackerId: Buffer.from('T') });
  assert.equal(s.nextDue(), 100 + 30_000);
  assert.equal(s.poll(30_099), null);
  const p2 = s.poll(30_100)!;
  assert.equal(p2.event, 'none');
  assert.deepEqual(Buffer.from(p2.trackerId!), Buffer.from('T'));
  s.succeeded(p2, 30_200, { interval: 1800 });
  assert.equal(s.nextDue(), 30_200 + 1_800_000);
  s.complete(40_000);
  assert.equal(s.nextDue(), 40_000);
  const p3 = s.poll(40_000)!;
  assert.equal(p3.event, 'completed');
  s.succeeded(p3, 40_100, { interval: 1800 });
  assert.equal(s.poll(50_000), null);
  assert.deepEqual(s.stop().map((p) => [p.url, p.event]), [['http://a', 'stopped']]);
  assert.equal(s.poll(1e12), null);
  assert.deepEqual(s.stop(), []);
});

test('fail over within a tier, then to the next tier; a tracker that answers moves to the front', () => {
  const s = new AnnounceSchedule([['http://a1', 'http://a2'], ['http://b']], { random: noShuffle });
  s.start(0);
  const a = s.poll(0)!;
  s.failed(a, 0, fail);
  const b = s.poll(0)!;
  assert.notEqual(b.url, a.url);
  assert.equal(b.event, 'started');
  s.succeeded(b, 1, { interval: 100 });
  assert.equal(s.tiers[0][0], b.url);
  // next round starts at the one that worked; if it fails, the other one gets `started`
  const c = s.poll(100_001)!;
  assert.equal(c.url, b.url);
  s.failed(c, 100_001, fail);
  const d = s.poll(100_001)!;
  assert.equal(d.url, a.url);
  assert.equal(d.event, 'started');
  s.failed(d, 100_001, fail);
  const e = s.poll(100_001)!;
  assert.equal(e.url, 'http://b');
  s.succeeded(e, 100_002, { interval: 100 });
  assert.deepEqual(s.stop().map((p) => p.url).sort(), [b.url, 'http://b'].sort());
});

test('a round where everything failed backs off 15 s doubling to 30 min', () => {
  const s = new AnnounceSchedule([['http://a'], ['http://b']], { random: noShuffle });
  s.start(0);
  let now = 0;
  const waits: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 2; i++) s.failed(s.poll(now)!, now, fail);
    waits.push(s.nextDue()! - now);
    now = s.nextDue()!;
  }
  assert.deepEqual(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800].map((x) => x * 1000));
  assert.equal(s.lastErrors.size, 2);
});

test('property: any sequence of outcomes keeps one announce in flight and every URL from the tiers', () => {
  fc.assert(fc.property(
    fc.array(fc.array(fc.constantFrom('http://a', 'http://b', 'udp://c:1', 'http://d'), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
    fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 4000 }), fc.boolean()), { maxLength: 60 }),
    fc.double({ min: 0, max: 0.999, noNaN: true }),
    (tiersIn, ops, r) => {
      const tiers = trackerTiers(undefined, tiersIn);
      const s = new AnnounceSchedule(tiers, { random: () => r });
      const urls = new Set(tiers.flat());
      s.start(0);
      let now = 0;
      for (const [ok, interval, done] of ops) {
        if (done) s.complete(now);
        const due = s.nextDue();
        assert.ok(due !== null);
        now = Math.max(now, due);
        const p = s.poll(now)!;
        assert.ok(urls.has(p.url));
        assert.equal(s.poll(now), null);
        if (ok) s.succeeded(p, now, { interval }); else s.failed(p, now, fail);
        assert.ok(s.nextDue()! >= now);
      }
      for (const p of s.stop()) assert.ok(urls.has(p.url) && p.event === 'stopped');
    },
  ));
});
