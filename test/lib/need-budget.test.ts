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
