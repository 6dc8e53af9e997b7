/**
 * blockKey: numeric for usual blocks, string otherwise; either way two keys are equal
 * exactly when (index, begin, length) are, so request bookkeeping keeps its meaning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blockKey, OutboundRequests, InboundRequests } from '../../wire/requests.js';

const U32 = 0xffffffff;
const index = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0xfffff, 0x100000, 0x100001, U32), fc.integer({ min: 0, max: U32 }));
const begin = fc.oneof(
  fc.integer({ min: 0, max: 4 }).map((k) => k * 16384),
  fc.constantFrom(1, 16383, 16385, U32 - 16383, U32, 0x80000000, 2 ** 32 - 16384),
  fc.integer({ min: 0, max: U32 }),
);
const length = fc.oneof(fc.constantFrom(1, 2, 16383, 16384, 16385, 131072, U32), fc.integer({ min: 0, max: U32 }));
const triple = fc.tuple(index, begin, length);

test('blockKey: equal keys exactly for equal triples', () => {
  fc.assert(fc.property(triple, triple, (a, b) => {
    const same = a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
    assert.equal(blockKey(...a) === blockKey(...b), same);
  }), { numRuns: 20000 });
});

test('blockKey: usual 16 KiB blocks are numbers, odd ones strings', () => {
  assert.equal(typeof blockKey(5, 16384 * 31, 16384), 'number');
  assert.equal(typeof blockKey(0xfffff, 2 ** 32 - 16384, 1), 'number');
  assert.equal(Number.isSafeInteger(blockKey(0xfffff, 2 ** 32 - 16384, 16384)), true);
  assert.equal(typeof blockKey(5, 100, 16384), 'string');
  assert.equal(typeof blockKey(5, 0, 16385), 'string');
  assert.equal(typeof blockKey(0x100000, 0, 16384), 'string');
  assert.equal(typeof blockKey(5, 0, 0), 'string');
  assert.equal(typeof blockKey(1.5, 0, 16384), 'string');
});

test('OutboundRequests / InboundRequests: a block and its unaligned or longer twin are separate entries', () => {
  const out = new OutboundRequests(1000);
  out.add({ index: 1, begin: 16384, length: 16384 }, 0);
  out.add({ index: 1, begin: 16385, length: 16384 }, 0);
  out.add({ index: 1, begin: 16384, length: 32768 }, 0);
  assert.equal(out.size, 3);
  assert.equal(out.cancel(1, 16384, 16384), true);
  assert.equal(out.settle(1, 16384, 16384), 'cancelled');
  assert.equal(out.settle(1, 16384, 16384), null);
  assert.equal(out.settle(1, 16385, 16384), 'inflight');
  assert.equal(out.settle(1, 16384, 32768), 'inflight');
  assert.equal(out.size, 0);
  const inb = new InboundRequests();
  assert.equal(inb.add({ index: 2, begin: 0, length: 16384 }), true);
  assert.equal(inb.add({ index: 2, begin: 0, length: 16384 }), false);
  assert.equal(inb.add({ index: 2, begin: 0, length: 100 }), true);
  assert.equal(inb.remove(2, 0, 100), true);
  assert.equal(inb.has(2, 0, 16384), true);
});
