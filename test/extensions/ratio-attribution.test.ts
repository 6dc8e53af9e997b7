/**
 * Block attribution (extensions/ratio/attribution.ts): the first copy of a block is
 * the one credited (a later duplicate earns nothing), a verdict forgets the piece, a
 * late copy of a passed piece starts nothing, and the number of blocks tracked is bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockAttribution } from '../../extensions/ratio/attribution.js';

test('attack: a later copy of a block (endgame duplicate) earns nothing; the first sender is credited', () => {
  const a = new BlockAttribution<string>();
  a.received('honest', 0, 0, 16_384);
  a.received('late', 0, 0, 16_384);
  a.received('late', 0, 16_384, 100);
  assert.deepEqual([...a.take(0, true)], [['honest', 16_384], ['late', 100]]);
  assert.equal(a.size, 0);
  a.received('late', 0, 0, 16_384); // after the verdict
  assert.deepEqual([...a.take(0, true)], []);
});

test('a failed piece forgets its blocks and can be fetched again; the bound holds', () => {
  const a = new BlockAttribution<string>(3);
  a.received('x', 1, 0, 10);
  assert.deepEqual([...a.take(1, false)], [['x', 10]]);
  a.received('y', 1, 0, 10);
  assert.deepEqual([...a.take(1, true)], [['y', 10]]);
  for (let i = 0; i < 10; i++) a.received('z', 2, i * 10, 10);
  assert.equal(a.size, 3);
});

test('property: each block is credited once, to its first sender, whatever the interleaving', () => {
  fc.assert(fc.property(fc.array(fc.record({ from: fc.nat(3), block: fc.nat(7) }), { maxLength: 60 }), (arrivals) => {
    const a = new BlockAttribution<number>();
    const first = new Map<number, number>();
    for (const { from, block } of arrivals) {
      a.received(from, 0, block * 16, 16);
      if (!first.has(block)) first.set(block, from);
    }
    const want = new Map<number, number>();
    for (const from of first.values()) want.set(from, (want.get(from) ?? 0) + 16);
    assert.deepEqual(new Map(a.take(0, true)), want);
  }), { numRuns: 300 });
});
