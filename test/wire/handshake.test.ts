import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  HANDSHAKE_LENGTH, HANDSHAKE_HEADER_LENGTH, HandshakeDecoder, decodeHandshake, encodeHandshake,
  hasReservedBit, makeReserved, reservedFlags, withReservedBit, RESERVED_BITS,
} from '../../wire/handshake.js';
import { WireError } from '../../wire/errors.js';

const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
const peerId = new TextEncoder().encode('-SP0001-abcdefghijkl');
const reserved = new Uint8Array([0x80, 0, 0, 0, 0, 0x10, 0, 0x05]);
const hs = encodeHandshake({ infoHash, peerId, reserved });

test('encodeHandshake lays out the 68 BEP 3 bytes', () => {
  assert.equal(HANDSHAKE_LENGTH, 68);
  assert.equal(hs.length, 68);
  assert.equal(hs[0], 19);
  assert.equal(new TextDecoder().decode(hs.subarray(1, 20)), 'BitTorrent protocol');
  assert.deepStrictEqual(hs.subarray(20, 28), reserved);
  assert.deepStrictEqual(hs.subarray(28, 48), infoHash);
  assert.deepStrictEqual(hs.subarray(48, 68), peerId);
  assert.deepStrictEqual(encodeHandshake({ infoHash, peerId }).subarray(20, 28), new Uint8Array(8), 'reserved defaults to zero');
  assert.throws(() => encodeHandshake({ infoHash: new Uint8Array(19), peerId }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => encodeHandshake({ infoHash, peerId: new Uint8Array(21) }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => encodeHandshake({ infoHash, peerId, reserved: new Uint8Array(7) }), { code: 'INVALID_ARGUMENT' });
});

test('decoded at once', () => {
  assert.deepStrictEqual(decodeHandshake(hs), { infoHash, peerId, reserved });
  assert.throws(() => decodeHandshake(hs.subarray(0, 67)), { code: 'BAD_HANDSHAKE' });
});

test('split at every offset (with trailing message bytes in the last chunk)', () => {
  const trailing = new Uint8Array([0, 0, 0, 1, 2]); // an `interested` right behind it
  const stream = new Uint8Array(68 + trailing.length);
  stream.set(hs);
  stream.set(trailing, 68);
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new HandshakeDecoder();
    const a = stream.subarray(0, cut);
    const b = stream.subarray(cut);
    const usedA = d.feed(a);
    assert.equal(usedA, Math.min(cut, 68));
    assert.equal(d.headerReady, cut >= HANDSHAKE_HEADER_LENGTH);
    if (cut >= 48) {
      assert.deepStrictEqual(d.infoHash, infoHash, 'info hash known after 48 bytes');
      assert.deepStrictEqual(d.reserved, reserved);
    } else {
      assert.equal(d.infoHash, null);
    }
    const usedB = d.feed(b);
    assert.equal(usedA + usedB, 68);
    assert.ok(d.done);
    assert.deepStrictEqual(d.handshake, { infoHash, peerId, reserved });
    // What the decoder did not take is exactly what goes to the framer.
    assert.deepStrictEqual([...a.subarray(usedA), ...b.subarray(usedB)], [...trailing]);
    assert.equal(d.feed(new Uint8Array(3)), 0, 'nothing more is taken once done');
    d.end();
  }
});

test('any split into many pieces gives the same handshake', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 68 }), { maxLength: 10 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (cuts, res) => {
    const bytes = encodeHandshake({ infoHash, peerId, reserved: res });
    const points = [...new Set(cuts)].sort((x, y) => x - y);
    const d = new HandshakeDecoder();
    let prev = 0;
    let used = 0;
    for (const p of [...points, 68]) { used += d.feed(bytes.subarray(prev, p)); prev = p; }
    assert.equal(used, 68);
    assert.deepStrictEqual(d.handshake, { infoHash, peerId, reserved: res });
  }));
});

test('bad pstrlen or pstr is BAD_HANDSHAKE at the first wrong byte, and sticky', () => {
  const bad = new Uint8Array(hs);
  bad[0] = 18;
  const d = new HandshakeDecoder();
  assert.throws(() => d.feed(bad.subarray(0, 1)), (e: unknown) => e instanceof WireError && e.code === 'BAD_HANDSHAKE' && e.remote);
  assert.throws(() => d.feed(hs), { code: 'BAD_HANDSHAKE' });
  for (let i = 1; i < 20; i++) {
    const b = new Uint8Array(hs);
    b[i] ^= 0x20;
    const e = new HandshakeDecoder();
    e.feed(b.subarray(0, i)); // fine so far
    assert.throws(() => e.feed(b.subarray(i, i + 1)), { code: 'BAD_HANDSHAKE' }, `byte ${i}`);
  }
  // An HTTP request is not a handshake.
  assert.throws(() => new HandshakeDecoder().feed(new TextEncoder().encode('GET / HTTP/1.1\r\n')), { code: 'BAD_HANDSHAKE' });
});

test('end() before 68 bytes is TRUNCATED', () => {
  const d = new HandshakeDecoder();
  d.feed(hs.subarray(0, 50));
  assert.throws(() => d.end(), { code: 'TRUNCATED' });
});

test('reserved bits: named bits at BEP positions, every other bit preserved', () => {
  assert.deepStrictEqual(RESERVED_BITS.extended, { byte: 5, mask: 0x10 });
  assert.deepStrictEqual(RESERVED_BITS.fast, { byte: 7, mask: 0x04 });
  assert.deepStrictEqual(RESERVED_BITS.dht, { byte: 7, mask: 0x01 });
  assert.deepStrictEqual(reservedFlags(reserved), { extended: true, fast: true, dht: true });
  assert.deepStrictEqual(reservedFlags(new Uint8Array(8)), { extended: false, fast: false, dht: false });
  fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.constantFrom('extended', 'fast', 'dht' as const), fc.boolean(), (r, flag, on) => {
    const before = new Uint8Array(r);
    const out = withReservedBit(r, flag, on);
    assert.deepStrictEqual(r, before, 'input not mutated');
    assert.equal(hasReservedBit(out, flag), on);
    const { byte, mask } = RESERVED_BITS[flag];
    for (let i = 0; i < 8; i++) {
      const keep = i === byte ? ~mask & 0xff : 0xff;
      assert.equal(out[i] & keep, r[i] & keep, `other bits of byte ${i} preserved`);
    }
  }));
  const r = makeReserved({ fast: true, extended: true }, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 0x80]));
  assert.deepStrictEqual([...r], [1, 2, 3, 4, 5, 6 | 0x10, 7, 0x84]);
  assert.deepStrictEqual([...makeReserved({ dht: true })], [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.throws(() => hasReservedBit(new Uint8Array(7), 'fast'), { code: 'INVALID_ARGUMENT' });
});
