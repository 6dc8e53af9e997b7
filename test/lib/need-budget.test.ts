/**
 * NeedBudget (lib/paid/need-budget.ts): a payment never covers more than the seller
 * would charge for what it sent plus what the torrent still misses — and in a swarm
 * only this seller's share of what is missing; never below min_prepay while anything is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NeedBudget } from '../../lib/paid/need-budget.js';
import { chargeFor, MIB } from '../../payment/amount.js';
import type { Terms } from '../../payment/terms.js';

const terms = (price: bigint, minPrepay = 10n): Terms => ({
  v: 1, chain: 'solana', cluster: 'c', mint: 'm', wallet: 'w', price, minPrepay, modes: ['prepaid'],
});

test('the share of the missing bytes caps the need; at least min_prepay while anything is missing; 0 when complete', () => {
  const t = terms(1024n);
  const whole = new NeedBudget(() => 4 * 1024 * 1024, () => ({ terms: t, bytesReceived: MIB, credited: 512n }));
  assert.equal(whole.remaining, chargeFor(5n * MIB, 1024n) - 512n);
  const quarter = new NeedBudget(() => 4 * 1024 * 1024, () => ({ terms: t, bytesReceived: MIB, credited: 512n }), () => 0.25);
  assert.equal(quarter.remaining, chargeFor(2n * MIB, 1024n) - 512n);
  const tiny = new NeedBudget(() => 4 * 1024 * 1024, () => ({ terms: t, bytesReceived: 0n, credited: 0n }), () => 1e-9);
  assert.equal(tiny.remaining, 10n, 'min_prepay');
  const done = new NeedBudget(() => 0, () => ({ terms: t, bytesReceived: MIB, credited: 0n }), () => 0.5);
  assert.equal(done.remaining, 0n);
});

test('property: a smaller share never allows more; share 1 (or above) is the default', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 1 << 30 }), fc.bigInt({ min: 0n, max: 1n << 32n }), fc.bigInt({ min: 0n, max: 1n << 20n }),
    fc.bigInt({ min: 1n, max: 100_000n }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }),
    (missing, received, credited, price, a, b) => {
      const seller = (): { terms: Terms; bytesReceived: bigint; credited: bigint } => ({ terms: terms(price), bytesReceived: received, credited });
      const lo = Math.min(a, b);
      const hi = Math.max(a, b);
      assert.ok(new NeedBudget(() => missing, seller, () => lo).remaining <= new NeedBudget(() => missing, seller, () => hi).remaining);
      assert.equal(new NeedBudget(() => missing, seller, () => 2).remaining, new NeedBudget(() => missing, seller).remaining);
    },
  ), { numRuns: 500 });
});

test('a horizon caps what is prepaid ahead (a first payment is not a share of the whole torrent); top-ups wait until half of it is used', () => {
  const t = terms(1024n);
  const missing = (): number => 64 * 1024 * 1024;
  // Nothing received, nothing credited: the first payment covers the horizon (2 MiB), not a third of 64 MiB.
  const first = new NeedBudget(missing, () => ({ terms: t, bytesReceived: 0n, credited: 0n }), () => 1 / 3, () => 2 * 1024 * 1024);
  assert.equal(first.remaining, chargeFor(2n * MIB, 1024n));
  // 1.5 MiB still prepaid ahead of a 2 MiB horizon: no top-up yet.
  const ahead = chargeFor(5n * MIB, 1024n) + chargeFor(3n * MIB / 2n, 1024n);
  const full = new NeedBudget(missing, () => ({ terms: t, bytesReceived: 5n * MIB, credited: ahead }), () => 1 / 3, () => 2 * 1024 * 1024);
  assert.equal(full.remaining, 0n);
  // 0.5 MiB ahead: top up to the horizon (1.5 MiB more).
  const low = chargeFor(5n * MIB, 1024n) + chargeFor(MIB / 2n, 1024n);
  const half = new NeedBudget(missing, () => ({ terms: t, bytesReceived: 5n * MIB, credited: low }), () => 1 / 3, () => 2 * 1024 * 1024);
  assert.equal(half.remaining, chargeFor(13n * MIB / 2n + MIB / 2n, 1024n) - low);
  // Near the end the share of what is missing is smaller than the horizon: the share rules.
  const end = new NeedBudget(() => 1024 * 1024, () => ({ terms: t, bytesReceived: 0n, credited: 0n }), () => 0.5, () => 8 * 1024 * 1024);
  assert.equal(end.remaining, chargeFor(MIB / 2n, 1024n));
  // No horizon (our only source): as before.
  const alone = new NeedBudget(missing, () => ({ terms: t, bytesReceived: 0n, credited: 0n }), () => 1, () => null);
  assert.equal(alone.remaining, chargeFor(64n * MIB, 1024n));
});

test('property: a horizon never allows more than without one, and what it allows keeps at most the horizon prepaid ahead', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 1 << 30 }), fc.bigInt({ min: 0n, max: 1n << 32n }), fc.bigInt({ min: 0n, max: 1n << 24n }),
    fc.bigInt({ min: 1n, max: 100_000n }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1 << 28 }),
    (missing, received, extra, price, share, horizon) => {
      const credited = chargeFor(received, price) + extra;
      const seller = (): { terms: Terms; bytesReceived: bigint; credited: bigint } => ({ terms: terms(price, 1n), bytesReceived: received, credited });
      const capped = new NeedBudget(() => missing, seller, () => share, () => horizon).remaining;
      assert.ok(capped <= new NeedBudget(() => missing, seller, () => share).remaining);
      // Paying `capped` leaves at most the horizon's worth ahead (one base unit of rounding), unless the min_prepay floor paid it.
      if (capped > 1n) assert.ok(credited + capped - chargeFor(received, price) <= chargeFor(BigInt(horizon), price) + 1n);
    },
  ), { numRuns: 1000 });
});
