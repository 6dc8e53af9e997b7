/**
 * Payment-channel messages and terms (docs/PROTOCOL.md, "Payment channels"): exact
 * field sizes, bounds, typed errors, round trips, the MAC over them, and the terms key
 * `channel` validated strictly and covered by the session signature.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import bs58 from 'bs58';
import { encode } from '../../wire/bencode.js';
import { U64_MAX } from '../../payment/amount.js';
import { decodeTerms, encodeTerms, termsEqual, TermsError, validateTerms } from '../../payment/terms.js';
import {
  decodeMessage, encodeMessage, messageMacValid, sealMessage, type SeedPayMessage,
} from '../../extensions/seedpay/messages.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { makeTerms, seededWallet } from './seedpay-harness.js';

const CH = new Uint8Array(32).fill(7);
const SIG = new Uint8Array(64).fill(8);
const ALL: SeedPayMessage[] = [
  { type: 'channel_opened', channel: CH, buyer: new Uint8Array(32).fill(9), sig: SIG },
  { type: 'channel_confirmed', channel: CH, accepted: 12n, balance: U64_MAX },
  { type: 'channel_rejected', channel: CH, reason: 'wrong_seller' },
  { type: 'payment_check', channel: CH, amount: 1_000_001n, sig: SIG },
  { type: 'payment_check_required', channel: CH, accepted: 1n, balance: 0n, required: 2n },
  { type: 'payment_check_rejected', channel: CH, amount: 3n, reason: 'above_deposit' },
  { type: 'channel_closed', channel: CH, reason: 'expiring' },
];

const code = (f: () => unknown): string => {
  try { f(); return 'ok'; } catch (e) { return e instanceof SeedPayError ? e.code : `other: ${String(e)}`; }
};
const dec = (d: Record<string, unknown>) => () => decodeMessage(new Uint8Array(encode(d as never)));

test('channel messages: each round-trips through the codec', () => {
  for (const m of ALL) assert.deepEqual(decodeMessage(encodeMessage(m)), m, m.type);
});

test('channel messages: exact sizes, u64 amounts, bounded reasons — typed errors otherwise', () => {
  const cases: [string, () => unknown][] = [
    ['BAD_LENGTH', dec({ type: 'payment_check', channel: new Uint8Array(31), amount: 1, sig: SIG })],
    ['BAD_LENGTH', dec({ type: 'payment_check', channel: CH, amount: 1, sig: new Uint8Array(65) })],
    ['BAD_LENGTH', dec({ type: 'channel_opened', channel: CH, buyer: new Uint8Array(33), sig: SIG })],
    ['MISSING_KEY', dec({ type: 'channel_opened', channel: CH, sig: SIG })],
    ['WRONG_TYPE', dec({ type: 'payment_check', channel: CH, amount: 'x', sig: SIG })],
    ['OUT_OF_RANGE', dec({ type: 'payment_check', channel: CH, amount: -1, sig: SIG })],
    ['OUT_OF_RANGE', dec({ type: 'channel_confirmed', channel: CH, accepted: U64_MAX + 1n, balance: 0 })],
    ['BAD_REASON', dec({ type: 'channel_rejected', channel: CH, reason: 'x'.repeat(65) })],
    ['BAD_REASON', dec({ type: 'channel_closed', channel: CH, reason: '' })],
    ['MISSING_KEY', dec({ type: 'payment_check_required', channel: CH, accepted: 1, balance: 1 })],
    ['WRONG_TYPE', dec({ type: 'payment_check_rejected', channel: 5, amount: 1, reason: 'r' })],
  ];
  for (const [want, f] of cases) assert.equal(code(f), want, f.toString());
  // And the encoder refuses what the decoder would (local errors).
  for (const bad of [
    { type: 'payment_check', channel: new Uint8Array(31), amount: 1n, sig: SIG },
    { type: 'payment_check', channel: CH, amount: -1n, sig: SIG },
    { type: 'channel_closed', channel: CH, reason: 'x'.repeat(65) },
  ] as SeedPayMessage[]) {
    assert.throws(() => encodeMessage(bad), (e: unknown) => e instanceof SeedPayError && !e.remote);
  }
});

test('channel messages: unknown keys ignored; arbitrary bytes give a message or a SeedPayError (property)', () => {
  assert.deepEqual(decodeMessage(new Uint8Array(encode({ type: 'payment_check', channel: CH, amount: 5, sig: SIG, zz: 'later' }))),
    { type: 'payment_check', channel: CH, amount: 5n, sig: SIG });
  fc.assert(fc.property(fc.constantFrom(...ALL), fc.uint8Array({ maxLength: 8 }), fc.nat(), (m, junk, at) => {
    const b = encodeMessage(m);
    const i = at % (b.length + 1);
    const mutated = new Uint8Array([...b.subarray(0, i), ...junk, ...b.subarray(i)]);
    try { decodeMessage(mutated); } catch (e) { assert.ok(e instanceof SeedPayError && e.remote); }
  }), { numRuns: 500 });
});

test('channel messages are MACed like every message after the binding', () => {
  const key = new Uint8Array(32).fill(1);
  for (const m of ALL) {
    const sealed = sealMessage(m, key, 3n);
    const got = decodeMessage(encodeMessage(sealed));
    assert.equal(messageMacValid(got, key, 3n), true, m.type);
    assert.equal(messageMacValid(got, key, 4n), false, `${m.type}: another message number`);
    const altered = { ...got, channel: new Uint8Array(32).fill(0) } as typeof got;
    assert.equal(messageMacValid(altered, key, 3n), false, `${m.type}: altered`);
  }
});

test('terms: mode channel needs a 32-byte program id; a malformed channel key is an error; both signed', () => {
  const wallet = seededWallet(3).address;
  const program = seededWallet(4).address;
  const t = makeTerms(wallet, { modes: ['prepaid', 'channel'], channel: program });
  const back = decodeTerms(encodeTerms(t));
  assert.equal(back.terms.channel, program);
  assert.ok(termsEqual(back.terms, t));
  assert.ok(!termsEqual(back.terms, { ...t, channel: wallet }), 'another program id is other terms (another digest)');
  const bad = (f: () => unknown): string => { try { f(); return 'ok'; } catch (e) { return e instanceof TermsError ? e.code : String(e); } };
  assert.equal(bad(() => validateTerms(makeTerms(wallet, { modes: ['channel'] }))), 'BAD_CHANNEL');
  assert.equal(bad(() => validateTerms(makeTerms(wallet, { modes: ['channel'], channel: 'not-a-key' }))), 'BAD_CHANNEL');
  const wire = (channel: unknown, modes = ['channel']) => () => decodeTerms(new Uint8Array(encode({
    v: 1, chain: 'solana', cluster: t.cluster, mint: t.mint, wallet, price: 1, min_prepay: 1, modes, ...(channel === undefined ? {} : { channel }),
  } as never)));
  assert.equal(bad(wire(undefined)), 'BAD_CHANNEL', 'mode channel without the key');
  assert.equal(bad(wire(new Uint8Array(31))), 'BAD_CHANNEL');
  assert.equal(bad(wire(5)), 'BAD_CHANNEL');
  assert.equal(bad(wire(new Uint8Array(31), ['prepaid'])), 'BAD_CHANNEL', 'malformed even when the mode is not listed');
  assert.equal(bad(wire(bs58.decode(program))), 'ok');
  // Unknown modes are still tolerated.
  assert.equal(bad(wire(undefined, ['prepaid', 'future_mode'])), 'ok');
});
