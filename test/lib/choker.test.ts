import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Choker, ChokerError, type ChokeDecision } from '../../lib/engine/choker.js';
import { rng } from '../../testkit/seeded-rng.js';

function addInterested(c: Choker<string>, names: string[], now = 0): void {
  for (const n of names) {
    c.addPeer(n, now);
    c.setInterested(n, true);
  }
}

const sorted = (xs: string[]): string[] => [...xs].sort();

test('leeching: regular slots go to the peers that gave us the most, plus one optimistic', () => {
  const c = new Choker<string>({ slots: 3, rng: rng(1) });
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  addInterested(c, names);
  c.recordDownload('a', 100);
  c.recordDownload('c', 500);
  c.recordDownload('e', 300);
  c.recordDownload('f', 200);
  const d = c.rechoke(0);
  assert.equal(d.choke.length, 0);
  assert.equal(d.unchoke.length, 4);
  const regular = c.unchokedPeers().filter((p) => !c.isOptimistic(p));
  assert.deepEqual(sorted(regular), ['c', 'e', 'f']);
  assert.equal(c.optimisticPeers().length, 1);
  assert.ok(!['c', 'e', 'f'].includes(c.optimisticPeers()[0]));
});

test('seeding fastest_upload ranks by what we sent them', () => {
  const c = new Choker<string>({ slots: 2, optimisticSlots: 0, seeding: true, seedPolicy: 'fastest_upload', rng: rng(2) });
  addInterested(c, ['a', 'b', 'c', 'd']);
  c.recordUpload('b', 10);
  c.recordUpload('d', 30);
  c.recordDownload('a', 1000); // ignored when seeding
  c.rechoke(0);
  assert.deepEqual(sorted(c.unchokedPeers()), ['b', 'd']);
});

test('seeding round robin: every interested peer gets a regular slot in turn', () => {
  const c = new Choker<string>({ slots: 2, optimisticSlots: 0, seeding: true, roundRobinMs: 20_000, rng: rng(3) });
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  addInterested(c, names);
  const served = new Set<string>();
  for (let t = 0; t <= 200_000; t += 10_000) {
    c.rechoke(t);
    assert.ok(c.unchokedPeers().length <= 2);
    for (const p of c.unchokedPeers()) served.add(p);
  }
  assert.deepEqual(sorted([...served]), names);
});

test('optimistic unchoke rotates every 30 s (three 10 s rounds), reaching every peer', () => {
  const c = new Choker<string>({ slots: 1, rng: rng(4) });
  const names = ['a', 'b', 'c', 'd', 'e'];
  addInterested(c, names);
  const seen: string[] = [];
  let prev: string | null = null;
  for (let t = 0; t < 150_000; t += 10_000) {
    c.recordDownload('a', 1000); // 'a' holds the regular slot
    c.rechoke(t);
    const opt = c.optimisticPeers();
    assert.equal(opt.length, 1);
    if (t % 30_000 === 0) {
      assert.notEqual(opt[0], prev, `rotated at ${t}`);
      seen.push(opt[0]);
    } else {
      assert.equal(opt[0], prev, `kept between rotations at ${t}`);
    }
    prev = opt[0];
  }
  // Four rotations visit the four waiting peers once each (least recently optimistic first).
  assert.deepEqual(sorted(seen.slice(0, 4)), ['b', 'c', 'd', 'e']);
});

test('uninterested peers get no slot; losing interest frees the slot at refresh', () => {
  const c = new Choker<string>({ slots: 2, optimisticSlots: 0, rng: rng(5) });
  addInterested(c, ['a', 'b']);
  c.addPeer('x', 0);
  c.addPeer('y', 0);
  c.recordDownload('x', 10_000); // generous but not interested
  c.rechoke(0);
  assert.deepEqual(sorted(c.unchokedPeers()), ['a', 'b']);
  c.setInterested('a', false);
  c.setInterested('y', true);
  const d = c.refresh(1000);
  assert.deepEqual(d, { unchoke: ['y'], choke: ['a'] });
});

test('filter excludes peers from every slot, and a filter flip takes effect at refresh', () => {
  const paid = new Set(['a', 'c']);
  const c = new Choker<string>({ slots: 4, filter: (p) => paid.has(p), rng: rng(6) });
  addInterested(c, ['a', 'b', 'c', 'd']);
  c.recordDownload('b', 1e6);
  c.rechoke(0);
  assert.deepEqual(sorted(c.unchokedPeers()), ['a', 'c']);
  paid.delete('c');
  paid.add('d');
  const d = c.refresh(500);
  assert.deepEqual(d.choke, ['c']);
  assert.deepEqual(d.unchoke, ['d']);
  for (let t = 10_000; t < 100_000; t += 10_000) {
    c.rechoke(t);
    assert.ok(!c.isUnchoked('b') && !c.isUnchoked('c'));
  }
});

test('refresh fills a free slot at once and keeps the slots of unchoked peers', () => {
  const c = new Choker<string>({ slots: 2, optimisticSlots: 0, rng: rng(7) });
  addInterested(c, ['a']);
  assert.deepEqual(c.rechoke(0), { unchoke: ['a'], choke: [] });
  addInterested(c, ['b', 'c'], 100);
  c.recordDownload('c', 50);
  assert.deepEqual(c.refresh(200), { unchoke: ['c'], choke: [] });
  assert.deepEqual(c.refresh(300), { unchoke: [], choke: [] });
  c.removePeer('a');
  assert.deepEqual(c.refresh(400), { unchoke: ['b'], choke: [] });
});

test('setSlots shrinks at refresh; nextRechoke follows the interval; bad config is typed', () => {
  const c = new Choker<string>({ slots: 3, optimisticSlots: 0, rng: rng(8) });
  assert.equal(c.nextRechoke(5), 5);
  addInterested(c, ['a', 'b', 'c']);
  c.rechoke(1000);
  assert.equal(c.nextRechoke(1000), 11_000);
  c.setSlots(1);
  const d = c.refresh(2000);
  assert.equal(d.choke.length, 2);
  assert.equal(c.unchokedPeers().length, 1);
  assert.throws(() => new Choker({ slots: -1 }), ChokerError);
  assert.throws(() => c.setSlots(1.5), ChokerError);
});

type Ev =
  | { t: 'add'; p: number }
  | { t: 'remove'; p: number }
  | { t: 'interest'; p: number; on: boolean }
  | { t: 'bytes'; p: number; down: number; up: number }
  | { t: 'filter'; p: number; on: boolean }
  | { t: 'seeding'; on: boolean }
  | { t: 'rechoke'; dt: number }
  | { t: 'refresh'; dt: number };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({ t: fc.constant('add' as const), p: fc.nat(9) }),
  fc.record({ t: fc.constant('remove' as const), p: fc.nat(9) }),
  fc.record({ t: fc.constant('interest' as const), p: fc.nat(9), on: fc.boolean() }),
  fc.record({ t: fc.constant('bytes' as const), p: fc.nat(9), down: fc.nat(1 << 20), up: fc.nat(1 << 20) }),
  fc.record({ t: fc.constant('filter' as const), p: fc.nat(9), on: fc.boolean() }),
  fc.record({ t: fc.constant('seeding' as const), on: fc.boolean() }),
  fc.record({ t: fc.constant('rechoke' as const), dt: fc.integer({ min: 0, max: 15_000 }) }),
  fc.record({ t: fc.constant('refresh' as const), dt: fc.integer({ min: 0, max: 3_000 }) }),
);

test('property: never more than slots + optimistic unchoked; decisions match state; only eligible peers unchoked', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 2 }), fc.constantFrom('round_robin' as const, 'fastest_upload' as const),
      fc.nat(), fc.array(evArb, { minLength: 5, maxLength: 120, size: 'max' }),
      (slots, optimisticSlots, seedPolicy, seed, evs) => {
        const blocked = new Set<number>();
        const c = new Choker<number>({ slots, optimisticSlots, seedPolicy, filter: (p) => !blocked.has(p), rng: rng(seed) });
        const live = new Set<number>();
        const interested = new Set<number>();
        const model = new Set<number>(); // unchoked, as the session would track from decisions
        let now = 0;
        const applyDecision = (d: ChokeDecision<number>): void => {
          for (const p of d.unchoke) {
            assert.ok(!model.has(p), 'unchoke sent to an unchoked peer');
            model.add(p);
          }
          for (const p of d.choke) {
            assert.ok(model.has(p), 'choke sent to a choked peer');
            model.delete(p);
          }
          assert.deepEqual([...model].sort(), c.unchokedPeers().sort());
          assert.ok(model.size <= slots + optimisticSlots, `${model.size} unchoked > ${slots}+${optimisticSlots}`);
          assert.ok(c.optimisticPeers().length <= optimisticSlots);
          const eligible = [...live].filter((p) => interested.has(p) && !blocked.has(p));
          for (const p of model) assert.ok(eligible.includes(p), `ineligible peer ${p} unchoked`);
          // Slots are filled whenever there are eligible peers to fill them.
          assert.equal(model.size, Math.min(eligible.length, slots + optimisticSlots));
        };
        for (const e of evs) {
          switch (e.t) {
            case 'add': c.addPeer(e.p, now); live.add(e.p); break;
            case 'remove': c.removePeer(e.p); live.delete(e.p); interested.delete(e.p); model.delete(e.p); break;
            case 'interest': c.setInterested(e.p, e.on); if (live.has(e.p)) { if (e.on) interested.add(e.p); else interested.delete(e.p); } break;
            case 'bytes': c.recordDownload(e.p, e.down); c.recordUpload(e.p, e.up); break;
            case 'filter': if (e.on) blocked.delete(e.p); else blocked.add(e.p); break;
            case 'seeding': c.setSeeding(e.on); break;
            case 'rechoke': now += e.dt; applyDecision(c.rechoke(now)); break;
            case 'refresh': now += e.dt; applyDecision(c.refresh(now)); break;
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
