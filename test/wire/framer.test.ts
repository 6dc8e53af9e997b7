import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer } from '../../wire/framer.js';
import { encodeMessage } from '../../wire/codec.js';
import type { Message } from '../../wire/messages.js';

// ---------------------------------------------------------------- helpers

const u32 = fc.oneof(
  fc.constantFrom(0, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([h, l]) => h * 0x10000 + l),
);
const ref = fc.record({ index: u32, begin: u32, length: u32 });
const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.constantFrom<Message>(
    { type: 'keep_alive' }, { type: 'choke' }, { type: 'unchoke' }, { type: 'interested' },
    { type: 'not_interested' }, { type: 'have_all' }, { type: 'have_none' },
  ),
  u32.map((index): Message => ({ type: 'have', index })),
  u32.map((index): Message => ({ type: 'suggest_piece', index })),
  u32.map((index): Message => ({ type: 'allowed_fast', index })),
  fc.uint8Array({ maxLength: 40 }).map((bits): Message => ({ type: 'bitfield', bits })),
  ref.map((r): Message => ({ type: 'request', ...r })),
  ref.map((r): Message => ({ type: 'cancel', ...r })),
  ref.map((r): Message => ({ type: 'reject_request', ...r })),
  fc.record({ index: u32, begin: u32, block: fc.uint8Array({ maxLength: 600 }) }).map((p): Message => ({ type: 'piece', ...p })),
  fc.nat(0xffff).map((port): Message => ({ type: 'port', port })),
  fc.record({ id: fc.nat(255), payload: fc.uint8Array({ maxLength: 80 }) }).map((e): Message => ({ type: 'extended', ...e })),
);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Feed `chunks` one by one, pulling after each; copies payloads out (views may alias chunks). */
function parseChunks(chunks: Uint8Array[], f = new Framer()): Message[] {
  const out: Message[] = [];
  for (const c of chunks) {
    f.feed(c);
    let m: Message | null;
    while ((m = f.next()) !== null) out.push(m);
  }
  f.end();
  assert.equal(f.next(), null);
  f.assertDrained();
  assert.equal(f.buffered, 0);
  return out;
}

/** Cut `bytes` at the given offsets (sorted, deduplicated, in range). */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) { out.push(bytes.subarray(prev, p)); prev = p; }
  out.push(bytes.subarray(prev));
  return out;
}

// ---------------------------------------------------------------- properties

test('one stream fed whole, byte by byte and at random splits yields identical messages', () => {
  fc.assert(fc.property(fc.array(anyMessage, { maxLength: 25 }), fc.array(fc.nat(), { maxLength: 30 }), (msgs, cuts) => {
    const stream = concat(msgs.map(encodeMessage));
    const whole = parseChunks([stream]);
    assert.deepStrictEqual(whole, msgs);
    const bytewise = parseChunks(Array.from(stream, (_, i) => stream.subarray(i, i + 1)));
    assert.deepStrictEqual(bytewise, msgs);
    const random = parseChunks(splitAt(stream, cuts));
    assert.deepStrictEqual(random, msgs);
  }), { numRuns: 150 });
});

test('pulling lazily (several chunks fed before next()) gives the same messages', () => {
  fc.assert(fc.property(fc.array(anyMessage, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 20 }), fc.nat(5), (msgs, cuts, every) => {
    const stream = concat(msgs.map(encodeMessage));
    const chunks = splitAt(stream, cuts);
    const f = new Framer();
    const out: Message[] = [];
    chunks.forEach((c, i) => {
      f.feed(c);
      if (i % (every + 1) === 0) for (let m = f.next(); m !== null; m = f.next()) out.push(m);
    });
    for (let m = f.next(); m !== null; m = f.next()) out.push(m);
    f.assertDrained();
    assert.deepStrictEqual(out, msgs);
  }), { numRuns: 150 });
});

test('large frames (bigger than the slab and the assembly floor) at random splits', () => {
  fc.assert(fc.property(fc.integer({ min: 16 * 1024, max: 300 * 1024 }), fc.integer({ min: 1, max: 20000 }), fc.nat(), (size, chunkSize, seed) => {
    const block = new Uint8Array(size);
    for (let i = 0; i < size; i++) block[i] = (i * 7 + seed) & 0xff;
    const msgs: Message[] = [
      { type: 'have', index: 1 },
      { type: 'piece', index: 2, begin: 3, block },
      { type: 'bitfield', bits: block.subarray(0, size >> 1) },
      { type: 'keep_alive' },
    ];
    const stream = concat(msgs.map(encodeMessage));
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += chunkSize) chunks.push(stream.subarray(i, i + chunkSize));
    assert.deepStrictEqual(parseChunks(chunks), msgs);
  }), { numRuns: 25 });
});

// ---------------------------------------------------------------- zero-copy behaviour

test('a message wholly inside one chunk is a view of that chunk', () => {
  const block = new Uint8Array(1000).fill(9);
  const chunk = concat([encodeMessage({ type: 'have', index: 1 }), encodeMessage({ type: 'piece', index: 0, begin: 0, block }),
    encodeMessage({ type: 'extended', id: 3, payload: new Uint8Array([1, 2]) })]);
  const f = new Framer();
  f.feed(chunk);
  assert.deepStrictEqual(f.next(), { type: 'have', index: 1 });
  const p = f.next();
  assert.ok(p && p.type === 'piece');
  assert.equal(p.block.buffer, chunk.buffer, 'block aliases the chunk');
  assert.equal(p.block.byteOffset, 9 + 13);
  const e = f.next();
  assert.ok(e && e.type === 'extended');
  assert.equal(e.payload.buffer, chunk.buffer);
  assert.equal(f.next(), null);
});

test('a straddling message is assembled once into its own buffer, and later messages are views again', () => {
  const block = new Uint8Array(16384);
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
  const stream = concat([encodeMessage({ type: 'piece', index: 5, begin: 0, block }), encodeMessage({ type: 'have', index: 7 }),
    encodeMessage({ type: 'piece', index: 5, begin: 16384, block: block.subarray(0, 100) })]);
  const chunks = [stream.slice(0, 1024), stream.slice(1024, 10000), stream.slice(10000)];
  const f = new Framer();
  const out: Message[] = [];
  for (const c of chunks) { f.feed(c); for (let m = f.next(); m; m = f.next()) out.push(m); }
  assert.equal(out.length, 3);
  const p = out[0];
  assert.ok(p.type === 'piece');
  assert.deepStrictEqual(p.block, block);
  for (const c of chunks) assert.notEqual(p.block.buffer, c.buffer, 'assembled, not aliasing a chunk');
  const last = out[2];
  assert.ok(last.type === 'piece');
  assert.equal(last.block.buffer, chunks[2].buffer, 'message inside the last chunk is a view again');
});

test('assembled blocks are never overwritten by later input', () => {
  const mk = (v: number): Message => ({ type: 'piece', index: v, begin: 0, block: new Uint8Array(5000).fill(v) });
  const msgs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map(mk);
  const stream = concat(msgs.map(encodeMessage));
  const kept: Message[] = [];
  const f = new Framer();
  for (let i = 0; i < stream.length; i += 777) {
    f.feed(stream.slice(i, i + 777));
    for (let m = f.next(); m; m = f.next()) kept.push(m);
  }
  assert.deepStrictEqual(kept, msgs);
});

test('buffered counts bytes not yet handed out; feed() does not parse', () => {
  const a = encodeMessage({ type: 'request', index: 1, begin: 2, length: 3 });
  const f = new Framer();
  f.feed(a.subarray(0, 10));
  assert.equal(f.buffered, 10);
  assert.equal(f.next(), null);
  assert.equal(f.buffered, 10);
  f.feed(a.subarray(10));
  f.feed(a);
  assert.equal(f.buffered, 34);
  assert.ok(f.next());
  assert.equal(f.buffered, 17);
  assert.ok(f.next());
  assert.equal(f.buffered, 0);
  assert.equal(f.next(), null);
});

test('keep-alives and empty chunks', () => {
  const f = new Framer();
  f.feed(new Uint8Array(0));
  assert.equal(f.next(), null);
  f.feed(new Uint8Array(12));
  assert.deepStrictEqual([f.next(), f.next(), f.next(), f.next()], [{ type: 'keep_alive' }, { type: 'keep_alive' }, { type: 'keep_alive' }, null]);
});

test('maxMessageLength is configurable and exact', () => {
  const f = new Framer({ maxMessageLength: 13 });
  assert.equal(f.maxMessageLength, 13);
  const req = encodeMessage({ type: 'request', index: 0, begin: 0, length: 16384 });
  f.feed(req);
  assert.deepStrictEqual(f.next(), { type: 'request', index: 0, begin: 0, length: 16384 });
  f.feed(encodeMessage({ type: 'piece', index: 0, begin: 0, block: new Uint8Array(5) }));
  assert.throws(() => f.next(), { code: 'LENGTH_TOO_LARGE' });
});

test('reuseAssemblyBuffer: same messages at any split when payloads are copied before the next next()', () => {
  const copy = (m: Message): Message => {
    if (m.type === 'piece') return { ...m, block: m.block.slice() };
    if (m.type === 'bitfield') return { ...m, bits: m.bits.slice() };
    if (m.type === 'extended') return { ...m, payload: m.payload.slice() };
    return m;
  };
  fc.assert(fc.property(fc.array(anyMessage, { maxLength: 25 }), fc.array(fc.nat(), { maxLength: 40 }), (msgs, cuts) => {
    const stream = concat(msgs.map(encodeMessage));
    const f = new Framer({ reuseAssemblyBuffer: true });
    const out: Message[] = [];
    for (const c of splitAt(stream, cuts)) {
      f.feed(c);
      for (let m = f.next(); m !== null; m = f.next()) out.push(copy(m));
    }
    f.assertDrained();
    assert.deepStrictEqual(out, msgs);
  }), { numRuns: 150 });
});

test('reuseAssemblyBuffer: straddling frames share one scratch buffer (and the default mode never does)', () => {
  const mk = (v: number): Message => ({ type: 'piece', index: v, begin: 0, block: new Uint8Array(3000).fill(v) });
  const stream = concat([mk(1), mk(2), mk(3)].map(encodeMessage));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += 1000) chunks.push(stream.slice(i, i + 1000));
  const buffersOf = (reuse: boolean): ArrayBufferLike[] => {
    const f = new Framer({ reuseAssemblyBuffer: reuse });
    const seen: ArrayBufferLike[] = [];
    for (const c of chunks) {
      f.feed(c);
      for (let m = f.next(); m !== null; m = f.next()) {
        assert.ok(m.type === 'piece');
        assert.ok(m.block.every((b) => b === m.index), 'block content correct when read at once');
        seen.push(m.block.buffer);
      }
    }
    return seen;
  };
  const reused = buffersOf(true);
  assert.equal(reused.length, 3);
  assert.equal(new Set(reused).size, 1);
  const fresh = buffersOf(false);
  for (const c of chunks) assert.ok(!fresh.includes(c.buffer));
});
