/**
 * SeedPay §8 codec: round trips (property), each malformed class → its typed
 * SeedPayError code, unknown and reserved types ignored, bounds; terms in the
 * extended handshake and peer classification.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import bs58 from 'bs58';
import { encode, type Encodable } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { U64_MAX } from '../../payment/amount.js';
import {
  KNOWN_REASONS, MAX_MESSAGE_BYTES, RESERVED_TYPES, decodeMessage, encodeMessage, isTxSignature, type SeedPayMessage,
} from '../../extensions/seedpay/messages.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { addTermsToHandshake, classifyPeer } from '../../extensions/seedpay/classify.js';
import { makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
const tx = bytes(64).map((b) => bs58.encode(b));
const reason = fc.oneof(fc.constantFrom(...KNOWN_REASONS), fc.string({ minLength: 1, maxLength: 20 }));

const message: fc.Arbitrary<SeedPayMessage> = fc.oneof(
  fc.record({ type: fc.constant('ecdh_init' as const), pk: bytes(32) }),
  fc.record({ type: fc.constant('ecdh_init' as const), pk: bytes(32), sig: bytes(64) }),
  fc.record({ type: fc.constant('payment_proof' as const), tx, amount: u64 }),
  fc.record({ type: fc.constant('payment_confirmed' as const), tx, credited: u64, balance: u64 }),
  fc.record({ type: fc.constant('payment_rejected' as const), tx, reason }),
  fc.record({ type: fc.constant('payment_required' as const), balance: u64, required: u64 }),
);

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SeedPayError, `not a SeedPayError: ${String(e)}`);
    return e.code;
  }
  return 'no error';
}
const dec = (d: Encodable) => () => decodeMessage(new Uint8Array(encode(d)));

test('codec: every message round-trips byte-exactly (property)', () => {
  fc.assert(fc.property(message, (m) => {
    const wire = encodeMessage(m);
    const back = decodeMessage(wire);
    assert.deepEqual(back, { ...m }); // fc.record builds null-prototype objects
    assert.deepEqual(encodeMessage(back as SeedPayMessage), wire);
  }), { numRuns: 500 });
});

test('codec: the wire form is one canonical bencoded dict with type as a byte string', () => {
  const t = randomTx();
  const wire = encodeMessage({ type: 'payment_proof', tx: t, amount: 5n });
  assert.equal(Buffer.from(wire).toString('latin1'), `d6:amounti5e2:tx${t.length}:${t}4:type13:payment_proofe`);
});

test('codec: each malformed class gives its typed error', () => {
  const t = randomTx();
  const pk = new Uint8Array(32);
  const cases: [string, () => unknown][] = [
    ['NOT_BENCODE', () => decodeMessage(Buffer.from('d4:type'))],
    ['NOT_BENCODE', () => decodeMessage(Buffer.from('d4:typei1ee4:type'))],
    ['NOT_BENCODE', () => decodeMessage(Buffer.from('d4:type1:x2:aai1ee'))], // unsorted keys
    ['NOT_BENCODE', () => decodeMessage(Buffer.from('d1:ad1:ad1:ad1:ad1:aleeeeee'))], // too deep
    ['NOT_BENCODE', () => decodeMessage(new Uint8Array(0))],
    ['TOO_LARGE', () => decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))],
    ['NOT_A_DICT', dec([1, 2])],
    ['NOT_A_DICT', dec(7)],
    ['BAD_TYPE', dec({ pk })],
    ['BAD_TYPE', dec({ type: 3 })],
    ['BAD_TYPE', dec({ type: '' })],
    ['BAD_TYPE', dec({ type: 'x'.repeat(65) })],
    ['BAD_TYPE', dec({ type: Uint8Array.from([0xff, 0xfe]) })],
    ['MISSING_KEY', dec({ type: 'ecdh_init' })],
    ['WRONG_TYPE', dec({ type: 'ecdh_init', pk: 5 })],
    ['BAD_LENGTH', dec({ type: 'ecdh_init', pk: new Uint8Array(31) })],
    ['BAD_LENGTH', dec({ type: 'ecdh_init', pk: new Uint8Array(33) })],
    ['BAD_LENGTH', dec({ type: 'ecdh_init', pk, sig: new Uint8Array(63) })],
    ['WRONG_TYPE', dec({ type: 'ecdh_init', pk, sig: [1] })],
    ['MISSING_KEY', dec({ type: 'payment_proof', tx: t })],
    ['MISSING_KEY', dec({ type: 'payment_proof', amount: 1 })],
    ['WRONG_TYPE', dec({ type: 'payment_proof', tx: t, amount: '1' })],
    ['OUT_OF_RANGE', dec({ type: 'payment_proof', tx: t, amount: -1 })],
    ['OUT_OF_RANGE', dec({ type: 'payment_proof', tx: t, amount: U64_MAX + 1n })],
    ['WRONG_TYPE', dec({ type: 'payment_proof', tx: 12, amount: 1 })],
    ['BAD_TX', dec({ type: 'payment_proof', tx: 'abc', amount: 1 })],
    ['BAD_TX', dec({ type: 'payment_proof', tx: t.slice(0, -1) + '0', amount: 1 })], // '0' is not base58
    ['BAD_TX', dec({ type: 'payment_proof', tx: bs58.encode(new Uint8Array(63).fill(9)), amount: 1 })],
    ['BAD_TX', dec({ type: 'payment_proof', tx: 'x'.repeat(200), amount: 1 })],
    ['OUT_OF_RANGE', dec({ type: 'payment_confirmed', tx: t, credited: 1, balance: -5 })],
    ['MISSING_KEY', dec({ type: 'payment_confirmed', tx: t, credited: 1 })],
    ['MISSING_KEY', dec({ type: 'payment_rejected', tx: t })],
    ['WRONG_TYPE', dec({ type: 'payment_rejected', tx: t, reason: 1 })],
    ['BAD_REASON', dec({ type: 'payment_rejected', tx: t, reason: '' })],
    ['BAD_REASON', dec({ type: 'payment_rejected', tx: t, reason: 'r'.repeat(65) })],
    ['BAD_REASON', dec({ type: 'payment_rejected', tx: t, reason: Uint8Array.from([0xc3]) })],
    ['MISSING_KEY', dec({ type: 'payment_required', balance: 1 })],
    ['OUT_OF_RANGE', dec({ type: 'payment_required', balance: 1, required: -1 })],
  ];
  for (const [want, f] of cases) assert.equal(code(f), want, f.toString());
});

test('codec: unknown types are ignored, the names reserved for channels are the channel messages; unknown keys ignored', () => {
  assert.deepEqual(decodeMessage(new Uint8Array(encode({ type: 'hello', x: [1, 2, { y: 3 }] }))), { type: 'unknown', name: 'hello', reserved: false });
  for (const name of RESERVED_TYPES) {
    // Known now: a payload without their keys is malformed.
    assert.throws(() => decodeMessage(new Uint8Array(encode({ type: name, amount: 1 }))), (e: unknown) => e instanceof SeedPayError && e.code === 'MISSING_KEY', name);
  }
  const t = randomTx();
  assert.deepEqual(decodeMessage(new Uint8Array(encode({ type: 'payment_required', balance: 1, required: 2, zz: 'future' }))),
    { type: 'payment_required', balance: 1n, required: 2n });
  assert.deepEqual(decodeMessage(new Uint8Array(encode({ type: 'payment_rejected', tx: t, reason: 'new_reason' }))),
    { type: 'payment_rejected', tx: t, reason: 'new_reason' });
});

test('codec: decoded byte strings are copies, not views of the frame', () => {
  const wire = encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32).fill(7) });
  const m = decodeMessage(wire);
  wire.fill(0);
  assert.ok(m.type === 'ecdh_init' && m.pk.every((x) => x === 7));
});

test('codec: arbitrary bytes never throw anything but SeedPayError (property)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    try { decodeMessage(b); } catch (e) { assert.ok(e instanceof SeedPayError); }
  }), { numRuns: 2000 });
  // Mutations of valid messages: still only typed errors or valid messages.
  fc.assert(fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, v) => {
    const w = encodeMessage(m).slice();
    w[at % w.length] = v;
    try { decodeMessage(w); } catch (e) { assert.ok(e instanceof SeedPayError); }
  }), { numRuns: 2000 });
});

test('codec: the encoder refuses what the decoder would refuse (local errors)', () => {
  const t = randomTx();
  const bad: SeedPayMessage[] = [
    { type: 'ecdh_init', pk: new Uint8Array(31) },
    { type: 'ecdh_init', pk: new Uint8Array(32), sig: new Uint8Array(1) },
    { type: 'payment_proof', tx: 'nope', amount: 1n },
    { type: 'payment_proof', tx: t, amount: -1n },
    { type: 'payment_rejected', tx: t, reason: '' },
    { type: 'payment_required', balance: U64_MAX + 1n, required: 0n },
  ];
  for (const m of bad) {
    assert.throws(() => encodeMessage(m), (e: unknown) => e instanceof SeedPayError && e.code === 'ILLEGAL_STATE' && !e.remote);
  }
  assert.equal(isTxSignature(t), true);
  assert.equal(isTxSignature('1'.repeat(64)), true); // 64 zero bytes
  assert.equal(isTxSignature('1'.repeat(65)), false);
});

test('classification: free, buyer-only, seller with terms, unusable terms', () => {
  const w = seededWallet(3);
  const terms = makeTerms(w.address);
  const hs = (d: Map<string, Encodable>) => parseExtendedHandshake(new Uint8Array(encode(d)));
  const base = () => new Map<string, Encodable>([['v', 'x']]);

  const free = base(); free.set('m', { ut_metadata: 1 });
  assert.equal(classifyPeer(hs(free)).kind, 'free');

  const buyer = base(); buyer.set('m', { seedpay: 2 });
  assert.equal(classifyPeer(hs(buyer)).kind, 'buyer-only');

  const seller = base(); seller.set('m', { seedpay: 2 }); addTermsToHandshake(seller, terms);
  const c = classifyPeer(hs(seller));
  assert.equal(c.kind, 'seller');
  assert.ok(c.kind === 'seller');
  assert.deepEqual(c.terms, terms);

  // Terms without seedpay in m: not a SeedPay peer at all.
  const noM = base(); noM.set('m', {}); addTermsToHandshake(noM, terms);
  assert.equal(classifyPeer(hs(noM)).kind, 'free');

  for (const broken of [{ ...terms, price: -1n }, { ...terms, wallet: 'not-a-key' }, { ...terms, v: 2 }]) {
    const d = base(); d.set('m', { seedpay: 2 });
    d.set('seedpay', { v: BigInt(broken.v), chain: 'solana', cluster: broken.cluster, mint: broken.mint, wallet: broken.wallet, price: broken.price, min_prepay: 1n, modes: ['prepaid'] });
    assert.equal(classifyPeer(hs(d)).kind, 'bad-terms');
  }
  const d = base(); d.set('m', { seedpay: 2 }); d.set('seedpay', 'a string');
  assert.equal(classifyPeer(hs(d)).kind, 'bad-terms');
});
