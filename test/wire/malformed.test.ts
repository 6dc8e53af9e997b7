/**
 * One test per class of malformed input, each with its typed error code.
 * Every error must be a remote WireError, and sticky.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer, DEFAULT_MAX_MESSAGE_LENGTH } from '../../wire/framer.js';
import { decodeMessage, encodeMessage } from '../../wire/codec.js';
import { validateBitfield, Bitfield } from '../../wire/bitfield.js';
import { WireError, type WireErrorCode } from '../../wire/errors.js';

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function frame(id: number, bodyLen: number): Uint8Array {
  const f = new Uint8Array(4 + 1 + bodyLen);
  new DataView(f.buffer).setUint32(0, 1 + bodyLen);
  f[4] = id;
  return f;
}

function isWire(code: WireErrorCode) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof WireError, `expected WireError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.remote, true);
    return true;
  };
}

/** Feed bytes, pull until an error; the error must be `code` and sticky. */
function expectStreamError(bytes: Uint8Array, code: WireErrorCode, opts?: { maxMessageLength?: number }): Framer {
  const f = new Framer(opts);
  f.feed(bytes);
  assert.throws(() => { while (f.next() !== null) { /* drain */ } }, isWire(code));
  // Sticky: same error object again, and later input is ignored.
  const first = f.failed;
  assert.ok(first);
  assert.throws(() => f.next(), (e: unknown) => e === first);
  f.feed(encodeMessage({ type: 'choke' }));
  assert.throws(() => f.next(), (e: unknown) => e === first);
  assert.equal(f.buffered, 0, 'everything dropped after the error');
  return f;
}

test('length prefix >= 2^31 is LENGTH_TOO_LARGE (never a keep-alive, never negative)', () => {
  for (const len of [0x80000000, 0xfffffffe, 0xffffffff]) {
    expectStreamError(u32be(len), 'LENGTH_TOO_LARGE');
    // Even with the largest configurable cap.
    expectStreamError(u32be(len), 'LENGTH_TOO_LARGE', { maxMessageLength: 0x7fffffff });
  }
  assert.throws(() => new Framer({ maxMessageLength: 0x80000000 }), { code: 'INVALID_ARGUMENT' });
});

test('over the cap: rejected on the 4 prefix bytes alone, before any body byte is buffered', () => {
  expectStreamError(u32be(DEFAULT_MAX_MESSAGE_LENGTH + 1), 'LENGTH_TOO_LARGE');
  expectStreamError(u32be(101), 'LENGTH_TOO_LARGE', { maxMessageLength: 100 });
  // Exactly the cap is fine (needs more data, no error).
  const f = new Framer({ maxMessageLength: 100 });
  f.feed(u32be(100));
  assert.equal(f.next(), null);
  // Prefix split across chunks: still caught as soon as byte 4 arrives.
  const g = new Framer({ maxMessageLength: 100 });
  const p = u32be(1000);
  g.feed(p.subarray(0, 3));
  assert.equal(g.next(), null);
  g.feed(p.subarray(3));
  assert.throws(() => g.next(), isWire('LENGTH_TOO_LARGE'));
});

test('unknown message id is UNKNOWN_MESSAGE_ID', () => {
  for (const id of [10, 11, 12, 18, 19, 21, 0xff]) {
    expectStreamError(frame(id, 4), 'UNKNOWN_MESSAGE_ID');
    assert.throws(() => decodeMessage(frame(id, 0).subarray(4)), isWire('UNKNOWN_MESSAGE_ID'));
  }
});

const FIXED: Array<[string, number, number]> = [
  // name, id, body length after the id
  ['choke', 0, 0], ['unchoke', 1, 0], ['interested', 2, 0], ['not_interested', 3, 0],
  ['have', 4, 4], ['request', 6, 12], ['cancel', 8, 12], ['port', 9, 2],
  ['suggest_piece', 0x0d, 4], ['have_all', 0x0e, 0], ['have_none', 0x0f, 0],
  ['reject_request', 0x10, 12], ['allowed_fast', 0x11, 4],
];

test('wrong size per type (too short) is BAD_MESSAGE_SIZE', () => {
  for (const [name, id, body] of FIXED) {
    for (let short = 0; short < body; short++) {
      expectStreamError(frame(id, short), 'BAD_MESSAGE_SIZE');
    }
    if (body > 0) assert.throws(() => decodeMessage(frame(id, body - 1).subarray(4)), isWire('BAD_MESSAGE_SIZE'), name);
  }
  // Variable-length types have minimums: piece needs index+begin, extended needs its id byte.
  for (let short = 0; short < 8; short++) expectStreamError(frame(7, short), 'BAD_MESSAGE_SIZE');
  expectStreamError(frame(20, 0), 'BAD_MESSAGE_SIZE');
});

test('trailing bytes inside a fixed-size frame are TRAILING_BYTES', () => {
  for (const [name, id, body] of FIXED) {
    for (const extra of [1, 2, 7]) {
      expectStreamError(frame(id, body + extra), 'TRAILING_BYTES');
    }
    assert.throws(() => decodeMessage(frame(id, body + 1).subarray(4)), isWire('TRAILING_BYTES'), name);
  }
});

test('truncated stream: end() mid-message makes next() throw TRUNCATED', () => {
  const whole = encodeMessage({ type: 'request', index: 1, begin: 2, length: 3 });
  for (let cut = 1; cut < whole.length; cut++) {
    const f = new Framer();
    f.feed(encodeMessage({ type: 'have', index: 9 }));
    f.feed(whole.subarray(0, cut));
    assert.deepStrictEqual(f.next(), { type: 'have', index: 9 }, 'complete messages still come out');
    assert.equal(f.next(), null);
    f.end();
    assert.throws(() => f.next(), isWire('TRUNCATED'));
    assert.throws(() => f.next(), isWire('TRUNCATED'));
  }
  // assertDrained() is the one-shot form.
  const g = new Framer();
  g.feed(new Uint8Array([0, 0]));
  assert.equal(g.next(), null);
  assert.throws(() => g.assertDrained(), isWire('TRUNCATED'));
  // A clean end is not an error.
  const h = new Framer();
  h.feed(encodeMessage({ type: 'unchoke' }));
  h.end();
  assert.deepStrictEqual(h.next(), { type: 'unchoke' });
  assert.equal(h.next(), null);
  h.assertDrained();
  assert.throws(() => h.feed(new Uint8Array(1)), { code: 'INVALID_ARGUMENT' });
});

test('bitfield of the wrong length is BAD_BITFIELD_LENGTH', () => {
  assert.throws(() => validateBitfield(new Uint8Array(1), 9), isWire('BAD_BITFIELD_LENGTH'));
  assert.throws(() => validateBitfield(new Uint8Array(3), 9), isWire('BAD_BITFIELD_LENGTH'));
  assert.throws(() => validateBitfield(new Uint8Array(0), 1), isWire('BAD_BITFIELD_LENGTH'));
  assert.throws(() => Bitfield.fromBytes(new Uint8Array(2), 8), isWire('BAD_BITFIELD_LENGTH'));
  validateBitfield(new Uint8Array(2), 9);
  validateBitfield(new Uint8Array(1), 8);
});

test('bitfield with spare bits set is BITFIELD_SPARE_BITS', () => {
  for (let n = 1; n <= 16; n++) {
    if (n % 8 === 0) continue;
    const bits = new Uint8Array(Math.ceil(n / 8));
    bits[bits.length - 1] = 0x80 >>> (n % 8); // first bit past the last piece
    assert.throws(() => validateBitfield(bits, n), isWire('BITFIELD_SPARE_BITS'), `n=${n}`);
    bits[bits.length - 1] = 1;
    assert.throws(() => validateBitfield(bits, n), isWire('BITFIELD_SPARE_BITS'), `n=${n}`);
    const ok = new Uint8Array(Math.ceil(n / 8)).fill(0xff);
    ok[ok.length - 1] = (0xff << (8 - (n % 8))) & 0xff;
    validateBitfield(ok, n);
  }
});

test('errors are sticky and the first error wins', () => {
  const f = new Framer();
  f.feed(frame(99, 0));
  f.feed(encodeMessage({ type: 'choke' }));
  let first: unknown;
  try { f.next(); } catch (e) { first = e; }
  assert.ok(first instanceof WireError && first.code === 'UNKNOWN_MESSAGE_ID');
  assert.throws(() => f.next(), (e: unknown) => e === first);
  assert.throws(() => f.assertDrained(), (e: unknown) => e === first);
});

test('a claimed length never allocates: 1 MiB claim with 10 body bytes reserves at most 64 KiB', () => {
  const f = new Framer();
  const prefix = u32be(DEFAULT_MAX_MESSAGE_LENGTH);
  f.feed(prefix);
  f.feed(new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0, 0, 1]));
  assert.equal(f.next(), null);
  assert.ok(f.assemblyBytes > 0 && f.assemblyBytes <= 64 * 1024, `reserved ${f.assemblyBytes}`);
  assert.equal(f.buffered, 14);
});

test('assembly memory grows with what arrives, not with the claim (2^31-1 claim, bytes trickling in)', () => {
  const f = new Framer({ maxMessageLength: 0x7fffffff });
  f.feed(u32be(0x7fffffff));
  f.feed(new Uint8Array([5])); // a bitfield, the largest legal claim
  assert.equal(f.next(), null);
  let arrived = 1;
  const chunk = new Uint8Array(997).fill(0xff);
  for (let i = 0; i < 300; i++) {
    f.feed(i % 2 === 0 ? chunk : chunk.subarray(0, 1));
    arrived += i % 2 === 0 ? chunk.length : 1;
    assert.equal(f.next(), null);
    assert.ok(f.assemblyBytes <= Math.max(64 * 1024, 2 * arrived), `reserved ${f.assemblyBytes} after ${arrived} bytes`);
  }
  assert.equal(f.buffered, 4 + arrived);
});
