/**
 * MSE/PE primitives and the two handshake roles in memory: RC4 against published
 * vectors, DH symmetry, and initiator ↔ responder over arbitrary chunkings for every
 * policy pair, with the method each pair must agree on and a stream round trip after.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rc4 } from '../../wire/mse/rc4.js';
import { DhKey, DH_PRIME, bigIntToBytes } from '../../wire/mse/dh.js';
import { MseInitiator, MseResponder, MseError, type MseResult } from '../../wire/mse/index.js';
import { INFO_HASH, lookupOf, randomCuts, runPair, seededRandom } from './mse-pair.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

test('RC4 matches the published test vectors', () => {
  const vectors: [string, string, string][] = [
    ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
    ['Wiki', 'pedia', '1021bf0420'],
    ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5'],
  ];
  for (const [key, plain, cipher] of vectors) {
    assert.equal(hex(new Rc4(ascii(key)).process(ascii(plain))), cipher, key);
  }
});

test('RC4 in place on views, across calls, equals one call; discard skips keystream', () => {
  const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 31) & 0xff);
  const whole = new Rc4(ascii('k')).process(new Uint8Array(data));
  const parts = new Uint8Array(data);
  const c = new Rc4(ascii('k'));
  for (const [a, b] of [[0, 1], [1, 700], [700, 701], [701, 3000]]) c.process(parts.subarray(a, b));
  assert.deepEqual(parts, whole);
  const skipped = new Rc4(ascii('k'));
  skipped.discard(1024);
  assert.deepEqual(skipped.process(data.slice(1024)), whole.subarray(1024));
  // Buffers are processed in place too (the adapter decrypts slab views).
  const buf = Buffer.from(data);
  new Rc4(ascii('k')).process(buf.subarray(0, 10));
  assert.deepEqual(new Uint8Array(buf.subarray(0, 10)), whole.subarray(0, 10));
  assert.throws(() => new Rc4(new Uint8Array(0)), RangeError);
});

test('DH: both sides derive the same 96-byte secret; degenerate keys are refused', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (xa, xb) => {
    xa[0] |= 1; xb[0] |= 1; // at least 2
    const a = new DhKey(xa);
    const b = new DhKey(xb);
    assert.equal(a.publicKey.length, 96);
    const s1 = a.sharedSecret(b.publicKey);
    const s2 = b.sharedSecret(a.publicKey);
    assert.ok(s1 !== null && s2 !== null);
    assert.equal(s1.length, 96);
    assert.deepEqual(s1, s2);
  }), { numRuns: 20 });
  const a = new DhKey(new Uint8Array(20).fill(7));
  for (const y of [0n, 1n, DH_PRIME - 1n, DH_PRIME, DH_PRIME + 5n]) {
    assert.equal(a.sharedSecret(bigIntToBytes(y)), null, `Y = ${y}`);
  }
  assert.equal(a.sharedSecret(new Uint8Array(95)), null);
  assert.throws(() => new DhKey(new Uint8Array([0, 1])), RangeError);
});

type Mode = 'require' | 'prefer';
const EXPECTED: Record<`${Mode}/${Mode}`, 'rc4' | 'plaintext'> = {
  'require/require': 'rc4',
  'require/prefer': 'rc4',
  'prefer/require': 'rc4',
  'prefer/prefer': 'plaintext',
};

function pipe(from: MseResult, to: MseResult, data: Uint8Array): Uint8Array {
  const wire = new Uint8Array(data);
  from.encrypt?.process(wire);
  if (from.method === 'rc4') assert.notDeepEqual(wire, data, 'rc4 changes the bytes');
  to.decrypt?.process(wire);
  return wire;
}

test('initiator ↔ responder: every policy pair agrees on its method over any chunking', () => {
  fc.assert(fc.property(
    fc.constantFrom<Mode>('require', 'prefer'), fc.constantFrom<Mode>('require', 'prefer'),
    fc.integer(), fc.integer({ min: 1, max: 700 }), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 512 }),
    (im, rm, seed, maxCut, ia, maxPad) => {
      const a = new MseInitiator({ infoHash: INFO_HASH, mode: im, now: 0, random: seededRandom(seed), initialPayload: ia, maxPadLength: maxPad });
      const other = Uint8Array.from({ length: 20 }, () => 1);
      const b = new MseResponder({ mode: rm, now: 0, random: seededRandom(seed ^ 0x5555), findInfoHash: lookupOf([other, INFO_HASH]), maxPadLength: 512 - maxPad });
      const out = runPair(a, b, randomCuts(seed, maxCut));
      assert.ok(!(out.initiator instanceof MseError), String(out.initiator));
      assert.ok(!(out.responder instanceof MseError), String(out.responder));
      const ra = out.initiator as MseResult;
      const rb = out.responder as MseResult;
      const want = EXPECTED[`${im}/${rm}`];
      assert.equal(ra.method, want);
      assert.equal(rb.method, want);
      assert.equal(rb.handshake, 'mse');
      assert.deepEqual(rb.infoHash, INFO_HASH);
      // IA arrived decrypted, and nothing else was sent yet.
      assert.deepEqual(new Uint8Array(rb.initialPayload), ia);
      assert.equal(ra.initialPayload.length, 0);
      assert.equal(out.lateToA.length + out.lateToB.length, 0);
      assert.equal((ra.encrypt === null), want === 'plaintext');
      // The stream after the handshake, both ways, through the agreed ciphers.
      const msg = Uint8Array.from({ length: 100 }, (_, i) => i ^ seed);
      assert.deepEqual(pipe(ra, rb, msg), msg);
      assert.deepEqual(pipe(rb, ra, msg), msg);
      assert.equal(a.nextTimeout(), null);
      assert.equal(b.nextTimeout(), null);
    },
  ), { numRuns: 120 });
});

test('stream bytes that arrive in the same chunk as the end of the handshake are handed over decrypted', () => {
  for (const mode of ['require', 'prefer'] as const) {
    const a = new MseInitiator({ infoHash: INFO_HASH, mode: 'require', now: 0, random: seededRandom(1), initialPayload: ascii('IA!') });
    const b = new MseResponder({ mode, now: 0, random: seededRandom(2), findInfoHash: lookupOf([INFO_HASH]) });
    // Step 1 to B, step 2 to A: A then queues step 3.
    b.receive(a.pollTransmit()!, 0);
    b.receive(a.pollTransmit() ?? new Uint8Array(0), 0);
    const toA: Uint8Array[] = [];
    for (let c = b.pollTransmit(); c !== null; c = b.pollTransmit()) toA.push(c);
    a.receive(Buffer.concat(toA), 0);
    const step3: Uint8Array[] = [];
    for (let c = a.pollTransmit(); c !== null; c = a.pollTransmit()) step3.push(c);
    // A's first stream bytes, encrypted, glued to step 3 (rc4 was the only offer: A may pipeline).
    const aRes = (): MseResult | null => a.result;
    b.receive(Buffer.concat(step3), 0);
    const rb = b.result!;
    const step4: Uint8Array[] = [];
    for (let c = b.pollTransmit(); c !== null; c = b.pollTransmit()) step4.push(c);
    const fromB = new Uint8Array(ascii('hello from B'));
    rb.encrypt!.process(fromB);
    a.receive(Buffer.concat([...step4, fromB]), 0);
    assert.equal(Buffer.from(aRes()!.initialPayload).toString(), 'hello from B');
    assert.equal(Buffer.from(rb.initialPayload).toString(), 'IA!');
  }
});

test('responder tells a plain BitTorrent handshake from MSE', () => {
  const hs = new Uint8Array([19, ...ascii('BitTorrent protocol'), ...new Uint8Array(48)]);
  for (const cut of [1, 5, 19, 20, 68]) {
    const b = new MseResponder({ mode: 'prefer', now: 0, random: seededRandom(3), findInfoHash: () => null });
    for (let o = 0; o < hs.length && b.result === null; o += cut) b.receive(hs.subarray(o, o + cut), 0);
    const r = b.result!;
    assert.equal(r.handshake, 'plain');
    assert.equal(r.method, 'plaintext');
    assert.equal(b.pollTransmit(), null, 'nothing sent to a plain peer');
    // Whatever arrived so far is the start of the BT stream, untouched.
    assert.deepEqual(new Uint8Array(r.initialPayload), hs.subarray(0, r.initialPayload.length));
    assert.ok(r.initialPayload.length >= 20);
  }
  const req = new MseResponder({ mode: 'require', now: 0, random: seededRandom(3), findInfoHash: () => null });
  assert.throws(() => req.receive(hs, 0), { name: 'MseError', code: 'PLAINTEXT_REFUSED' });
  // A Ya that happens to begin like the header is MSE as soon as it differs; Yb (and
  // the DH work) waits for the whole of Ya.
  const almost = new MseResponder({ mode: 'prefer', now: 0, random: seededRandom(3), findInfoHash: () => null });
  almost.receive(new Uint8Array([19, ...ascii('BitTorrent protocoX')]), 0);
  assert.equal(almost.result, null);
  assert.equal(almost.pollTransmit(), null, 'nothing sent before Ya is complete');
  almost.receive(new Uint8Array(76).fill(0x42), 0);
  assert.equal(almost.pollTransmit()!.length, 96, 'Yb sent once Ya is in');
});

test('RC4 property: any split at any alignment (the word path and the byte path) equals a textbook RC4', () => {
  const textbook = (key: Uint8Array, data: Uint8Array): Uint8Array => {
    const s = Array.from({ length: 256 }, (_, k) => k);
    for (let k = 0, j = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.length]) & 255;
      [s[k], s[j]] = [s[j], s[k]];
    }
    const out = new Uint8Array(data);
    for (let k = 0, i = 0, j = 0; k < out.length; k++) {
      i = (i + 1) & 255;
      j = (j + s[i]) & 255;
      [s[i], s[j]] = [s[j], s[i]];
      out[k] ^= s[(s[i] + s[j]) & 255];
    }
    return out;
  };
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 1, maxLength: 32 }),
    fc.uint8Array({ maxLength: 2000 }),
    fc.integer({ min: 0, max: 7 }),
    fc.array(fc.nat(), { maxLength: 6 }),
    (key, data, shift, cuts) => {
      // The data at an arbitrary offset inside a larger buffer (unaligned views).
      const backing = new Uint8Array(data.length + shift);
      const view = backing.subarray(shift);
      view.set(data);
      const c = new Rc4(key);
      const points = [...new Set(cuts.map((x) => x % (data.length + 1)))].sort((a, b) => a - b);
      let at = 0;
      for (const p of [...points, data.length]) { c.process(view.subarray(at, p)); at = p; }
      assert.deepEqual(view, textbook(key, data));
    },
  ), { numRuns: 300 });
});
