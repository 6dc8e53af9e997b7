/**
 * CipherOutbox: views handed out are disjoint while their writes are pending, a slab
 * is reused only once every view of it was written, and an oversized chunk gets a
 * buffer of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CipherOutbox } from '../../lib/net/cipher-outbox.js';

const overlaps = (a: Buffer, b: Buffer): boolean =>
  a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;

test('property: no view pending a write ever shares bytes with another view handed out', () => {
  fc.assert(fc.property(
    fc.array(fc.oneof(
      fc.record({ take: fc.integer({ min: 1, max: 300_000 }) }),
      fc.record({ write: fc.nat() }),
      fc.constant({ close: true as const }),
    ), { maxLength: 200 }),
    (ops) => {
      let box = new CipherOutbox();
      const pending: { view: Buffer; written: () => void }[] = [];
      for (const op of ops) {
        if ('take' in op) {
          const t = box.take(op.take);
          assert.equal(t.view.length, op.take);
          for (const p of pending) assert.ok(!overlaps(p.view, t.view), 'a pending view was handed out again');
          pending.push(t);
        } else if ('write' in op) {
          if (pending.length > 0) pending.splice(op.write % pending.length, 1)[0].written();
        } else {
          box.close();
          box = new CipherOutbox(); // a new connection, same process-wide pool
        }
      }
      for (const p of pending) p.written();
    },
  ), { numRuns: 200 });
});

test('a slab comes back only after every view of it was written', () => {
  const box = new CipherOutbox();
  const a = box.take(200 * 1024);
  const b = box.take(100 * 1024); // does not fit: a new slab; a's slab retires
  assert.notEqual(a.view.buffer, b.view.buffer);
  const c = box.take(200 * 1024); // b's slab retires too
  assert.notEqual(c.view.buffer, b.view.buffer);
  // a's slab has a pending view: a new outbox must not get it.
  const other = new CipherOutbox();
  const d = other.take(1000);
  assert.notEqual(d.view.buffer, a.view.buffer);
  a.written();
  const e = new CipherOutbox().take(1000);
  assert.equal(e.view.buffer, a.view.buffer, 'reused once written');
  const big = box.take(1024 * 1024);
  assert.equal(big.view.length, 1024 * 1024);
  assert.equal(big.view.byteOffset, 0, 'an oversized chunk has a buffer of its own');
});
