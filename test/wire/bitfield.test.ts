import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Bitfield, bitfieldByteLength, validateBitfield } from '../../wire/bitfield.js';

test('byte length is ceil(n / 8)', () => {
  assert.deepStrictEqual([0, 1, 7, 8, 9, 16, 17].map(bitfieldByteLength), [0, 1, 1, 1, 2, 2, 3]);
});

test('packed layout: piece 0 is the high bit of byte 0', () => {
  const bf = new Bitfield(10);
  bf.set(0);
  bf.set(9);
  assert.deepStrictEqual([...bf.toBytes()], [0x80, 0x40]);
  assert.deepStrictEqual([...bf], [0, 9]);
});

test('behaves like a boolean array model under random operations', () => {
  const op = fc.record({ kind: fc.constantFrom('set', 'clear', 'get'), index: fc.nat() });
  fc.assert(fc.property(fc.integer({ min: 1, max: 200 }), fc.array(op, { maxLength: 300 }), (n, ops) => {
    const bf = new Bitfield(n);
    const model = new Array<boolean>(n).fill(false);
    for (const { kind, index } of ops) {
      const i = index % n;
      if (kind === 'set') { assert.equal(bf.set(i), !model[i]); model[i] = true; }
      else if (kind === 'clear') { assert.equal(bf.clear(i), model[i]); model[i] = false; }
      else assert.equal(bf.get(i), model[i]);
    }
    const count = model.filter(Boolean).length;
    assert.equal(bf.count, count);
    assert.equal(bf.hasAll(), count === n);
    assert.equal(bf.hasNone(), count === 0);
    assert.deepStrictEqual([...bf], model.flatMap((v, i) => (v ? [i] : [])));
    // Round trip through bytes: valid (no spare bits) and equal.
    const bytes = bf.toBytes();
    validateBitfield(bytes, n);
    const back = Bitfield.fromBytes(bytes, n);
    assert.equal(back.count, count);
    for (let i = 0; i < n; i++) assert.equal(back.get(i), model[i]);
  }));
});

test('full() and setAll() leave spare bits clear; clearAll() empties', () => {
  for (let n = 0; n <= 17; n++) {
    const bf = Bitfield.full(n);
    assert.equal(bf.count, n);
    assert.ok(bf.hasAll());
    validateBitfield(bf.toBytes(), n);
    bf.clearAll();
    assert.ok(bf.hasNone());
    assert.equal(bf.count, 0);
  }
});

test('out-of-range indices: get is false, set/clear throw BAD_PIECE_INDEX', () => {
  const bf = new Bitfield(9);
  assert.equal(bf.get(9), false);
  assert.equal(bf.get(-1), false);
  assert.throws(() => bf.set(9), { code: 'BAD_PIECE_INDEX' });
  assert.throws(() => bf.set(1.5), { code: 'BAD_PIECE_INDEX' });
  assert.throws(() => bf.clear(-1), { code: 'BAD_PIECE_INDEX' });
  assert.throws(() => new Bitfield(-1), { code: 'INVALID_ARGUMENT' });
});

test('fromBytes copies: later changes to the input do not leak in', () => {
  const bytes = new Uint8Array([0xff, 0x80]);
  const bf = Bitfield.fromBytes(bytes, 9);
  bytes[0] = 0;
  assert.equal(bf.count, 9);
  const out = bf.toBytes();
  out[0] = 0;
  assert.equal(bf.get(0), true);
});
