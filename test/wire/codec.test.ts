import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeMessage, encodeMessage, encodePieceHeader, encodedLength, decodeFrame, PIECE_HEADER_LENGTH,
} from '../../wire/codec.js';
import { WireError } from '../../wire/errors.js';
import { MessageId, type Message, type MessageType } from '../../wire/messages.js';

// ---------------------------------------------------------------- arbitraries

/** Any u32, with the edges (0, 2^31-1, 2^31, 2^32-1) drawn often. */
const u32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff),
  fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([h, l]) => h * 0x10000 + l),
);
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });
const blockRef = fc.record({ index: u32, begin: u32, length: u32 });

const arbs: Record<MessageType, fc.Arbitrary<Message>> = {
  keep_alive: fc.constant({ type: 'keep_alive' }),
  choke: fc.constant({ type: 'choke' }),
  unchoke: fc.constant({ type: 'unchoke' }),
  interested: fc.constant({ type: 'interested' }),
  not_interested: fc.constant({ type: 'not_interested' }),
  have: u32.map((index) => ({ type: 'have', index })),
  bitfield: bytes(64).map((bits) => ({ type: 'bitfield', bits })),
  request: blockRef.map((r) => ({ type: 'request', ...r })),
  piece: fc.record({ index: u32, begin: u32, block: bytes(300) }).map((p) => ({ type: 'piece', ...p })),
  cancel: blockRef.map((r) => ({ type: 'cancel', ...r })),
  port: fc.nat(0xffff).map((port) => ({ type: 'port', port })),
  suggest_piece: u32.map((index) => ({ type: 'suggest_piece', index })),
  have_all: fc.constant({ type: 'have_all' }),
  have_none: fc.constant({ type: 'have_none' }),
  reject_request: blockRef.map((r) => ({ type: 'reject_request', ...r })),
  allowed_fast: u32.map((index) => ({ type: 'allowed_fast', index })),
  extended: fc.record({ id: fc.nat(255), payload: bytes(100) }).map((e) => ({ type: 'extended', ...e })),
};
const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(arbs));

const frameOf = (encoded: Uint8Array): Uint8Array => encoded.subarray(4);

// ---------------------------------------------------------------- round trips

for (const [type, arb] of Object.entries(arbs)) {
  test(`decode(encode(m)) = m for ${type}`, () => {
    fc.assert(fc.property(arb, (m) => {
      const enc = encodeMessage(m);
      assert.equal(enc.length, encodedLength(m));
      const len = ((enc[0] << 24) | (enc[1] << 16) | (enc[2] << 8) | enc[3]) >>> 0;
      assert.equal(len, enc.length - 4, 'length prefix counts the bytes after it');
      assert.deepStrictEqual(decodeMessage(frameOf(enc)), m);
    }), { numRuns: 200 });
  });
}

test('encode(decode(b)) = b for valid frames', () => {
  fc.assert(fc.property(anyMessage, (m) => {
    // Re-encode from the decoded message, which holds views into a copy of the bytes.
    const b = encodeMessage(m);
    const copy = new Uint8Array(b);
    assert.deepStrictEqual(encodeMessage(decodeMessage(frameOf(copy))), b);
  }), { numRuns: 500 });
});

test('encode(decode(b)) = b for arbitrary valid byte strings of each variable-length type', () => {
  fc.assert(fc.property(fc.constantFrom(5, 7, 20), fc.uint8Array({ minLength: 8, maxLength: 200 }), (id, body) => {
    const frame = new Uint8Array(1 + body.length);
    frame[0] = id;
    frame.set(body, 1);
    const prefixed = new Uint8Array(4 + frame.length);
    new DataView(prefixed.buffer).setUint32(0, frame.length);
    prefixed.set(frame, 4);
    assert.deepStrictEqual(encodeMessage(decodeMessage(frame)), prefixed);
  }));
});

test('known byte vectors (BEP 3 layout)', () => {
  assert.deepStrictEqual([...encodeMessage({ type: 'keep_alive' })], [0, 0, 0, 0]);
  assert.deepStrictEqual([...encodeMessage({ type: 'choke' })], [0, 0, 0, 1, 0]);
  assert.deepStrictEqual([...encodeMessage({ type: 'have', index: 0x01020304 })], [0, 0, 0, 5, 4, 1, 2, 3, 4]);
  assert.deepStrictEqual([...encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 })],
    [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]);
  assert.deepStrictEqual([...encodeMessage({ type: 'port', port: 6881 })], [0, 0, 0, 3, 9, 0x1a, 0xe1]);
  assert.deepStrictEqual([...encodeMessage({ type: 'have_all' })], [0, 0, 0, 1, 0x0e]);
  assert.deepStrictEqual([...encodeMessage({ type: 'extended', id: 0, payload: new Uint8Array([0x64, 0x65]) })],
    [0, 0, 0, 4, 20, 0, 0x64, 0x65]);
  // Every id in MessageId decodes to its own type.
  for (const [name, id] of Object.entries(MessageId)) {
    const m = arbs[name as MessageType];
    const sample = fc.sample(m, 1)[0];
    const enc = encodeMessage(sample);
    assert.equal(enc[4], id, name);
    assert.equal(decodeMessage(frameOf(enc)).type, name);
  }
});

test('integers are unsigned 32-bit: 2^31 and 2^32-1 stay positive', () => {
  const m = decodeMessage(frameOf(encodeMessage({ type: 'request', index: 0x80000000, begin: 0xffffffff, length: 0xfffffffe })));
  assert.deepStrictEqual(m, { type: 'request', index: 2147483648, begin: 4294967295, length: 4294967294 });
});

test('empty frame decodes to keep-alive', () => {
  assert.deepStrictEqual(decodeMessage(new Uint8Array(0)), { type: 'keep_alive' });
});

test('variable payloads are views into the frame, not copies', () => {
  const enc = encodeMessage({ type: 'piece', index: 3, begin: 16, block: new Uint8Array([1, 2, 3, 4]) });
  const m = decodeMessage(frameOf(enc));
  assert.equal(m.type, 'piece');
  if (m.type !== 'piece') return;
  assert.equal(m.block.buffer, enc.buffer);
  assert.equal(m.block.byteOffset, enc.byteOffset + 13);
  // decodeFrame reads at an offset without a subarray.
  const big = new Uint8Array(20);
  big.set(enc, 3);
  assert.deepStrictEqual(decodeFrame(big, 3 + 4, enc.length - 4), m);
});

test('encodePieceHeader + block = encodeMessage(piece)', () => {
  fc.assert(fc.property(u32, u32, bytes(100), (index, begin, block) => {
    const h = encodePieceHeader(index, begin, block.length);
    assert.equal(h.length, PIECE_HEADER_LENGTH);
    const joined = new Uint8Array(h.length + block.length);
    joined.set(h);
    joined.set(block, h.length);
    assert.deepStrictEqual(joined, encodeMessage({ type: 'piece', index, begin, block }));
  }));
});

test('encoders refuse out-of-range fields with a local INVALID_ARGUMENT error', () => {
  const bad: Message[] = [
    { type: 'have', index: -1 },
    { type: 'have', index: 2 ** 32 },
    { type: 'have', index: 1.5 },
    { type: 'request', index: 0, begin: NaN, length: 1 },
    { type: 'cancel', index: 0, begin: 0, length: 2 ** 32 },
    { type: 'port', port: 65536 },
    { type: 'port', port: -1 },
    { type: 'extended', id: 256, payload: new Uint8Array(0) },
    { type: 'piece', index: -5, begin: 0, block: new Uint8Array(1) },
  ];
  for (const m of bad) {
    assert.throws(() => encodeMessage(m), (e: unknown) => e instanceof WireError && e.code === 'INVALID_ARGUMENT' && !e.remote, JSON.stringify(m));
  }
  assert.throws(() => encodePieceHeader(0, 0, -1), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => encodeMessage({ type: 'nope' } as unknown as Message), { code: 'INVALID_ARGUMENT' });
});
