/**
 * The swarm purchase policy (extensions/seedpay/swarm-policy.ts), pure: which sellers a
 * buyer pays and how many requests each gets, and the offline cheapest schedule the
 * bench compares runs with. Examples, then properties over random swarms, then a
 * simulated download that closes the loop (measured rates → plan → delivered bytes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cheapestSchedule, KEEP_MARGIN, MIN_REQUESTS, planPurchases, type SellerPlan, type SellerView, type SwarmPlanInput,
} from '../../extensions/seedpay/swarm-policy.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { chargeFor } from '../../payment/amount.js';

const MB = 1_000_000;
const FULL = 64;

function seller(id: number, price: bigint, o: Partial<SellerView> = {}): SellerView {
  return { id, pricePerMiB: price, rate: 0, capacity: 0, buying: false, balanceBytes: 0, ...o };
}
const byId = (plans: readonly SellerPlan[]): Map<number, SellerPlan> => new Map(plans.map((p) => [p.id, p]));
const base: Omit<SwarmPlanInput, 'sellers'> = { freeRate: 0, maxPricePerMiB: 1000n, targetRate: null, fullPipeline: FULL, budgetLeft: null };

test('as fast as possible: every seller at or below max price is paid, the cheapest with the full pipeline, dearer ones scaled down; above max never', () => {
  const p = byId(planPurchases({ ...base, sellers: [seller(1, 400n), seller(2, 100n), seller(3, 200n), seller(4, 1001n)] }));
  assert.deepEqual(p.get(2), { id: 2, pay: true, requests: FULL });
  assert.deepEqual(p.get(3), { id: 3, pay: true, requests: FULL / 2 });
  assert.deepEqual(p.get(1), { id: 1, pay: true, requests: FULL / 4 });
  assert.deepEqual(p.get(4), { id: 4, pay: false, requests: 0 });
  // A seller 1000× dearer still gets a minimal pipeline (it is within the max price).
  const q = byId(planPurchases({ ...base, sellers: [seller(1, 1n), seller(2, 1000n)] }));
  assert.equal(q.get(2)!.requests, MIN_REQUESTS);
});

test('with a target rate: nothing is bought while the free sources meet it; otherwise the cheapest sellers that cover the deficit', () => {
  const sellers = [seller(1, 300n, { capacity: 2 * MB }), seller(2, 100n, { capacity: 2 * MB }), seller(3, 200n, { capacity: 2 * MB })];
  const none = planPurchases({ ...base, sellers, targetRate: 5 * MB, freeRate: 5 * MB });
  assert.ok(none.every((p) => !p.pay && p.requests === 0));
  // Deficit 3 MB/s: the 100 (2 MB/s) and the 200 (the remaining 1 MB/s, half a pipeline); not the 300.
  const p = byId(planPurchases({ ...base, sellers, targetRate: 5 * MB, freeRate: 2 * MB }));
  assert.deepEqual(p.get(2), { id: 2, pay: true, requests: FULL });
  assert.deepEqual(p.get(3), { id: 3, pay: true, requests: FULL / 2 });
  assert.deepEqual(p.get(1), { id: 1, pay: false, requests: 0 });
  // Not measured yet: the cheapest counts as covering the deficit (one new seller at a time).
  const fresh = byId(planPurchases({ ...base, sellers: sellers.map((s) => ({ ...s, capacity: 0 })), targetRate: 5 * MB, freeRate: 0 }));
  assert.deepEqual([...fresh.values()].filter((x) => x.pay).map((x) => x.id), [2]);
});

test('hysteresis: a seller bought from stays while the cheaper ones fall short of deficit × (1 + margin), and goes past it', () => {
  const mk = (buying: boolean): SellerView[] => [seller(1, 100n, { capacity: 2 * MB, buying: true }), seller(2, 200n, { capacity: 2 * MB, buying })];
  const deficit = 1.9 * MB; // the cheaper alone covers it
  assert.equal(byId(planPurchases({ ...base, sellers: mk(false), targetRate: deficit, freeRate: 0 })).get(2)!.pay, false, 'not added');
  assert.equal(byId(planPurchases({ ...base, sellers: mk(true), targetRate: deficit, freeRate: 0 })).get(2)!.pay, true, 'kept');
  const low = 2 * MB / (1 + KEEP_MARGIN) - 1000;
  assert.equal(byId(planPurchases({ ...base, sellers: mk(true), targetRate: low, freeRate: 0 })).get(2)!.pay, false, 'dropped');
});

test('a seller no longer bought from keeps requests while our prepaid credit there lasts, and is not paid again', () => {
  const sellers = [seller(1, 100n, { capacity: 2 * MB, buying: true, balanceBytes: 3 * MB }), seller(2, 200n, { capacity: 2 * MB, buying: true })];
  const p = byId(planPurchases({ ...base, sellers, targetRate: 4 * MB, freeRate: 4 * MB }));
  assert.deepEqual(p.get(1), { id: 1, pay: false, requests: FULL });
  assert.deepEqual(p.get(2), { id: 2, pay: false, requests: 0 });
});

test('no budget left: nobody is paid; holdNew: nobody new is added', () => {
  const sellers = [seller(1, 100n), seller(2, 200n, { buying: true, capacity: MB })];
  assert.ok(planPurchases({ ...base, sellers, budgetLeft: 0n }).every((p) => !p.pay));
  const held = byId(planPurchases({ ...base, sellers, holdNew: true }));
  assert.equal(held.get(1)!.pay, false);
  assert.equal(held.get(2)!.pay, true);
  const heldT = byId(planPurchases({ ...base, sellers, holdNew: true, targetRate: 10 * MB }));
  assert.equal(heldT.get(1)!.pay, false);
  assert.equal(heldT.get(2)!.pay, true);
});

// ------------------------------------------------------------------ properties

const arbSeller = (id: number): fc.Arbitrary<SellerView> => fc.record({
  id: fc.constant(id),
  pricePerMiB: fc.bigInt({ min: 0n, max: 2000n }),
  rate: fc.double({ min: 0, max: 50 * MB, noNaN: true }),
  capacity: fc.oneof(fc.constant(0), fc.double({ min: 1, max: 50 * MB, noNaN: true })),
  buying: fc.boolean(),
  balanceBytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 * MB })),
});
const arbInput: fc.Arbitrary<SwarmPlanInput> = fc.integer({ min: 0, max: 8 }).chain((n) => fc.record({
  freeRate: fc.double({ min: 0, max: 50 * MB, noNaN: true }),
  sellers: fc.tuple(...Array.from({ length: n }, (_, i) => arbSeller(i + 1))),
  maxPricePerMiB: fc.bigInt({ min: 0n, max: 2000n }),
  targetRate: fc.option(fc.double({ min: 0, max: 100 * MB, noNaN: true })),
  fullPipeline: fc.integer({ min: 1, max: 250 }),
  budgetLeft: fc.option(fc.bigInt({ min: -10n, max: 10n ** 9n })),
  holdNew: fc.boolean(),
}));

test('property: never pays a seller above the max price (or a free one), never without budget; one plan per seller; requests within the pipeline', () => {
  fc.assert(fc.property(arbInput, (input) => {
    const plans = planPurchases(input);
    assert.deepEqual(plans.map((p) => p.id), input.sellers.map((s) => s.id));
    const s = new Map(input.sellers.map((x) => [x.id, x]));
    for (const p of plans) {
      const v = s.get(p.id)!;
      if (p.pay) {
        assert.ok(v.pricePerMiB > 0n && v.pricePerMiB <= input.maxPricePerMiB, `paid at ${v.pricePerMiB} > ${input.maxPricePerMiB}`);
        assert.ok(input.budgetLeft === null || input.budgetLeft > 0n);
        assert.ok(p.requests >= Math.min(MIN_REQUESTS, input.fullPipeline));
      }
      assert.ok(Number.isInteger(p.requests) && p.requests >= 0 && p.requests <= input.fullPipeline);
      if (!p.pay && v.balanceBytes === 0) assert.equal(p.requests, 0, 'not bought, no credit there: nothing asked');
    }
  }), { numRuns: 2000 });
});

test('property: with a target the free sources meet, nothing is bought', () => {
  fc.assert(fc.property(arbInput, fc.double({ min: 0, max: 1, noNaN: true }), (input, f) => {
    const target = input.freeRate * f;
    assert.ok(planPurchases({ ...input, targetRate: target }).every((p) => !p.pay));
  }), { numRuns: 1000 });
});

test('property: cheapest first — the sellers paid are a price-ordered prefix of the eligible ones, and a cheaper one never gets fewer requests', () => {
  fc.assert(fc.property(arbInput, (raw) => {
    const input = { ...raw, holdNew: false };
    const plans = byId(planPurchases(input));
    const eligible = input.sellers.filter((s) => s.pricePerMiB > 0n && s.pricePerMiB <= input.maxPricePerMiB);
    for (const a of eligible) {
      for (const b of eligible) {
        if (a.pricePerMiB >= b.pricePerMiB) continue;
        const pa = plans.get(a.id)!;
        const pb = plans.get(b.id)!;
        if (pb.pay) {
          assert.ok(pa.pay, `dearer ${b.pricePerMiB} paid, cheaper ${a.pricePerMiB} not`);
          assert.ok(pa.requests >= pb.requests, `cheaper gets ${pa.requests} < dearer ${pb.requests}`);
        }
      }
    }
  }), {
    numRuns: 2000,
    // Found by this property: the margin took a dearer seller after a cheaper one was
    // given only the share the deficit alone left to it.
    examples: [[{
      freeRate: 0, maxPricePerMiB: 2n, targetRate: 0.8000000000000002, fullPipeline: 6, budgetLeft: null, holdNew: false,
      sellers: [
        { id: 4, pricePerMiB: 1n, rate: 0, capacity: 1, buying: false, balanceBytes: 1 },
        { id: 5, pricePerMiB: 2n, rate: 0, capacity: 1, buying: true, balanceBytes: 0 },
        { id: 6, pricePerMiB: 2n, rate: 1.0000000000000002, capacity: 0, buying: false, balanceBytes: 1 },
      ],
    }]],
  });
});

/**
 * A simulated download: sellers deliver min(capacity, requests × perRequest) while paid
 * or holding credit; payments are reserved from one Budget in increments when the plan
 * says pay. The budget is never exceeded, nobody above max price is paid, and with a
 * reachable target the purchases settle on the cheapest sellers that meet it.
 */
test('property: simulated download — budget never exceeded, nobody above max price paid, a reachable target is met by the cheapest prefix', () => {
  const arbSwarm = fc.record({
    free: fc.double({ min: 0, max: 4 * MB, noNaN: true }),
    caps: fc.array(fc.double({ min: 0.2 * MB, max: 4 * MB, noNaN: true }), { minLength: 1, maxLength: 5 }),
    prices: fc.array(fc.bigInt({ min: 1n, max: 1000n }), { minLength: 5, maxLength: 5 }),
    max: fc.bigInt({ min: 1n, max: 1000n }),
    target: fc.option(fc.double({ min: 0, max: 12 * MB, noNaN: true })),
    budget: fc.oneof(fc.bigInt({ min: 0n, max: 20_000n }), fc.constant(10n ** 12n)),
  });
  fc.assert(fc.property(arbSwarm, (w) => {
    const budget = new Budget(w.budget);
    const st = w.caps.map((cap, i) => ({ id: i + 1, price: w.prices[i], cap, rate: 0, capacity: 0, buying: false, credit: 0, paidTo: 0n }));
    let last: SellerPlan[] = [];
    for (let tick = 0; tick < 12; tick++) {
      last = planPurchases({
        freeRate: w.free, maxPricePerMiB: w.max, targetRate: w.target, fullPipeline: FULL, budgetLeft: budget.remaining,
        sellers: st.map((s) => ({ id: s.id, pricePerMiB: s.price, rate: s.rate, capacity: s.capacity, buying: s.buying, balanceBytes: s.credit })),
      });
      for (const p of last) {
        const s = st[p.id - 1];
        s.buying = p.pay;
        if (p.pay && s.credit < s.cap) {
          // Top up 2 s worth, if it fits.
          const amount = chargeFor(BigInt(Math.ceil(2 * s.cap)), s.price);
          if (budget.reserve(amount)) { budget.spend(amount); s.paidTo += amount; s.credit += 2 * s.cap; }
        }
        const deliver = Math.min(s.cap, (p.requests / FULL) * s.cap * 4, s.credit);
        s.credit -= deliver;
        s.rate = deliver;
        if (p.pay && p.requests === FULL) s.capacity = Math.max(s.capacity, deliver);
      }
      assert.ok(budget.spent <= budget.limit);
    }
    for (const s of st) if (s.price > w.max) assert.equal(s.paidTo, 0n);
    // Money enough for everything, a reachable target: it is met, and by the cheapest sellers.
    if (w.target !== null && w.budget === 10n ** 12n) {
      const eligible = st.filter((s) => s.price <= w.max);
      const reachable = w.free + eligible.reduce((a, s) => a + s.cap, 0);
      const got = w.free + st.reduce((a, s) => a + s.rate, 0);
      if (reachable >= w.target) assert.ok(got >= w.target * 0.999, `target ${w.target} reachable (${reachable}), got ${got}`);
      // Bought from: only sellers needed — a cheaper one idle while a dearer one is paid never.
      for (const a of eligible) for (const b of eligible) if (a.price < b.price && b.buying) assert.ok(a.buying);
    }
  }), { numRuns: 300 });
});

// ------------------------------------------------------------------ the cheapest schedule

test('cheapestSchedule: fills from the cheapest source up; free sources first; null when the time cannot be met', () => {
  const mib = 1024 * 1024;
  const s = cheapestSchedule([{ rate: mib, pricePerMiB: 300n }, { rate: mib, pricePerMiB: 0n }, { rate: mib, pricePerMiB: 100n }], 5 * mib, 2);
  assert.deepEqual(s, { bytes: [mib, 2 * mib, 2 * mib], cost: 300n + 200n });
  assert.equal(cheapestSchedule([{ rate: mib, pricePerMiB: 1n }], 5 * mib, 2), null);
  assert.deepEqual(cheapestSchedule([], 0, 1), { bytes: [], cost: 0n });
});

test('property: cheapestSchedule is no dearer than any other feasible split (random splits), and delivers exactly the size', () => {
  const arb = fc.record({
    srcs: fc.array(fc.record({ rate: fc.integer({ min: 0, max: 1000 }), pricePerMiB: fc.bigInt({ min: 0n, max: 1000n }) }), { minLength: 1, maxLength: 6 }),
    size: fc.integer({ min: 0, max: 5000 }),
    seconds: fc.integer({ min: 0, max: 10 }),
    weights: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 6, maxLength: 6 }),
  });
  fc.assert(fc.property(arb, ({ srcs, size, seconds, weights }) => {
    const best = cheapestSchedule(srcs, size, seconds);
    const room = srcs.map((s) => s.rate * seconds);
    if (best === null) { assert.ok(room.reduce((a, b) => a + b, 0) < size); return; }
    assert.equal(best.bytes.reduce((a, b) => a + b, 0), size);
    best.bytes.forEach((b, i) => assert.ok(b <= room[i]));
    // Another feasible split: by weights, then topped up in order. Its cost (the same
    // per-source rounding) is never below the optimum's; exact costs in units of
    // base units × MiB avoid rounding (bytes × price).
    const other = srcs.map(() => 0);
    let left = size;
    const wsum = weights.slice(0, srcs.length).reduce((a, b) => a + b, 0) || 1;
    srcs.forEach((_, i) => { const t = Math.min(room[i], Math.floor((size * weights[i]) / wsum), left); other[i] = t; left -= t; });
    srcs.forEach((_, i) => { const t = Math.min(room[i] - other[i], left); other[i] += t; left -= t; });
    if (left > 0) return;
    const exact = (xs: number[]): bigint => xs.reduce((a, x, i) => a + BigInt(x) * srcs[i].pricePerMiB, 0n);
    assert.ok(exact(best.bytes) <= exact(other));
  }), { numRuns: 1000 });
});
