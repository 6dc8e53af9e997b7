/**
 * The seller's verification budget (lib/paid/verify-budget.ts): token buckets per
 * address and in all, time as an argument, bounded memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VerifyBudget } from '../../lib/paid/verify-budget.js';

const opts = { perAddress: { burst: 3, perMinute: 6 }, global: { burst: 5, perMinute: 60 } };

test('verify budget: a burst per address, refilled over time; other addresses have their own', () => {
  const b = new VerifyBudget(opts, 0);
  assert.deepEqual([1, 2, 3, 4].map(() => b.take('10.0.0.1', 0)), [true, true, true, false]);
  assert.equal(b.take('10.0.0.2', 0), true, 'another address has its own bucket');
  assert.equal(b.take('10.0.0.1', 9_999), false, 'one token per 10 s at 6 per minute');
  assert.equal(b.take('10.0.0.1', 10_000), true);
});

test('verify budget: the global bucket caps all addresses together; a refused global take does not cost the address', () => {
  const b = new VerifyBudget(opts, 0);
  const ok = Array.from({ length: 8 }, (_, i) => b.take(`10.0.1.${i}`, 0)).filter(Boolean).length;
  assert.equal(ok, 5, 'five at once in all');
  assert.equal(b.take('10.0.1.7', 1000), true, 'one more a second later (60 per minute)');
});

test('verify budget: IPv6 addresses count per /64, mapped IPv4 as IPv4', () => {
  const b = new VerifyBudget({ perAddress: { burst: 2, perMinute: 1 }, global: { burst: 100, perMinute: 100 } }, 0);
  assert.equal(b.take('2001:db8:1:2::1', 0), true);
  assert.equal(b.take('2001:db8:1:2::ffff', 0), true);
  assert.equal(b.take('2001:db8:1:2:aaaa::3', 0), false, 'the same /64');
  assert.equal(b.take('::ffff:10.9.9.9', 0), true);
  assert.equal(b.take('10.9.9.9', 0), true);
  assert.equal(b.take('10.9.9.9', 0), false, 'one address, written two ways');
});

test('verify budget property: no address ever starts more than burst + rate × elapsed time', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ addr: fc.integer({ min: 0, max: 40 }), dt: fc.integer({ min: 0, max: 5_000 }) }), { maxLength: 400 }),
    (ops) => {
      const b = new VerifyBudget({ ...opts, global: { burst: 1000, perMinute: 60_000 } }, 0);
      let now = 0;
      const first = new Map<number, number>();
      const started = new Map<number, number>();
      for (const o of ops) {
        now += o.dt;
        if (!first.has(o.addr)) first.set(o.addr, now);
        if (b.take(`10.1.0.${o.addr}`, now)) started.set(o.addr, (started.get(o.addr) ?? 0) + 1);
        const n = started.get(o.addr) ?? 0;
        const allowed = opts.perAddress.burst + Math.floor(((now - first.get(o.addr)!) * opts.perAddress.perMinute) / 60_000);
        assert.ok(n <= allowed, `address ${o.addr}: ${n} started, ${allowed} allowed`);
      }
    },
  ), { numRuns: 200 });
});

test('verify budget: at most maxAddresses remembered, least recently used forgotten first', () => {
  const b = new VerifyBudget({ ...opts, maxAddresses: 16 }, 0);
  for (let i = 0; i < 1000; i++) b.take(`10.2.${i >> 8}.${i & 255}`, i);
  assert.equal(b.size, 16);
});
