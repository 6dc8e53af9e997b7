/**
 * SEEDPAY.md §3 test vectors (test/payment/seedpay-vectors.json, a copy of
 * ../shared/seedpay-vectors.json): every value reproduced by payment/ (node:crypto
 * backed) AND by the @noble libraries on their own; plus the terms codec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as ed from '@noble/ed25519';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import bs58 from 'bs58';
import fc from 'fast-check';
import {
  buildTranscript, deriveSession, ed25519PublicKey, sessionFromShared, sha256, signTranscript, verifyTranscript,
  walletFromSecretKey, walletFromSeed, x25519PublicKey, x25519Shared,
} from '../../payment/session.js';
import { TermsError, decodeTerms, encodeTerms, parseTerms, termsDigest, termsEqual, termsToWire, type Terms } from '../../payment/terms.js';
import { buildMemo, parseMemo } from '../../payment/memo.js';
import { chargeFor } from '../../payment/amount.js';
import { decode, encode, type BDict } from '../../wire/bencode.js';

ed.hashes.sha512 = sha512;

// Next to this file when run from source (tsx); when run compiled from dist/test/payment,
// tsc has not copied the JSON, so read the source copy at <repo>/test/payment.
function vectorsText(): string {
  for (const rel of ['./seedpay-vectors.json', '../../../test/payment/seedpay-vectors.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return readFileSync(url, 'utf8');
  }
  throw new Error('seedpay-vectors.json not found next to the test or in <repo>/test/payment');
}

const V = JSON.parse(vectorsText()) as {
  info_hash_hex: string; seller_ephemeral_secret_hex: string; seller_ephemeral_public_hex: string;
  buyer_ephemeral_secret_hex: string; buyer_ephemeral_public_hex: string; x25519_shared_hex: string;
  session_uuid_hex: string; session_hash_hex: string; wallet_seed_hex: string; wallet_public_hex: string;
  wallet_base58: string;
  terms: { v: number; chain: string; cluster: string; mint: string; wallet: string; price: number; min_prepay: number; modes: string[] };
  terms_bencoded_hex: string; terms_sha256_hex: string; transcript_hex: string; transcript_signature_hex: string;
  memo_utf8: string; price_examples: { bytes: number; price: number; charge: number; check: boolean }[];
};

const h = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hx = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const infoHash = h(V.info_hash_hex);
const sellerSk = h(V.seller_ephemeral_secret_hex);
const buyerSk = h(V.buyer_ephemeral_secret_hex);
const sellerPk = h(V.seller_ephemeral_public_hex);
const buyerPk = h(V.buyer_ephemeral_public_hex);
const walletSeed = h(V.wallet_seed_hex);

const vTerms: Terms = {
  v: 1, chain: 'solana', cluster: V.terms.cluster, mint: V.terms.mint, wallet: V.terms.wallet,
  price: BigInt(V.terms.price), minPrepay: BigInt(V.terms.min_prepay), modes: V.terms.modes,
};

test('vectors: x25519 public keys and shared secret (payment/session.ts and @noble/curves)', () => {
  assert.equal(hx(x25519PublicKey(sellerSk)), V.seller_ephemeral_public_hex);
  assert.equal(hx(x25519PublicKey(buyerSk)), V.buyer_ephemeral_public_hex);
  assert.equal(hx(x25519Shared(sellerSk, buyerPk)), V.x25519_shared_hex);
  assert.equal(hx(x25519Shared(buyerSk, sellerPk)), V.x25519_shared_hex);
  assert.equal(hx(x25519.getPublicKey(sellerSk)), V.seller_ephemeral_public_hex);
  assert.equal(hx(x25519.getPublicKey(buyerSk)), V.buyer_ephemeral_public_hex);
  assert.equal(hx(x25519.getSharedSecret(sellerSk, buyerPk)), V.x25519_shared_hex);
});

test('vectors: session_uuid and session_hash, both sides, both implementations', () => {
  for (const s of [
    deriveSession({ ownSecret: sellerSk, peerPublic: buyerPk, infoHash }),
    deriveSession({ ownSecret: buyerSk, peerPublic: sellerPk, infoHash }),
    sessionFromShared(h(V.x25519_shared_hex), infoHash),
  ]) {
    assert.equal(hx(s.sessionUuid), V.session_uuid_hex);
    assert.equal(s.sessionHash, V.session_hash_hex);
  }
  const uuid = hkdf(nobleSha256, h(V.x25519_shared_hex), infoHash, utf8('seedpay-v1-session'), 32);
  assert.equal(hx(uuid), V.session_uuid_hex);
  assert.equal(hx(nobleSha256(uuid)), V.session_hash_hex);
});

test('vectors: wallet key, base58 address, 64-byte Solana secret key', () => {
  const w = walletFromSeed(walletSeed);
  assert.equal(hx(w.publicKey), V.wallet_public_hex);
  assert.equal(w.address, V.wallet_base58);
  assert.equal(hx(ed25519PublicKey(walletSeed)), V.wallet_public_hex);
  assert.equal(hx(ed.getPublicKey(walletSeed)), V.wallet_public_hex);
  assert.equal(bs58.encode(h(V.wallet_public_hex)), V.wallet_base58);
  assert.equal(hx(w.secretKey), V.wallet_seed_hex + V.wallet_public_hex);
  assert.equal(walletFromSecretKey(w.secretKey).address, V.wallet_base58);
});

test('vectors: terms canonical bencoding and its sha256 (terms.ts, wire/bencode.ts)', () => {
  const b = encodeTerms(vTerms);
  assert.equal(hx(b), V.terms_bencoded_hex);
  assert.equal(hx(termsDigest(vTerms)), V.terms_sha256_hex);
  assert.equal(hx(nobleSha256(b)), V.terms_sha256_hex);
  // Encoding the vectors' JSON terms dict generically gives the same bytes.
  assert.equal(hx(encode(V.terms as unknown as { [k: string]: string | number | string[] })), V.terms_bencoded_hex);
  // Parsing the bytes back gives the same terms and the same signed bytes.
  const parsed = parseTerms(decode(b));
  assert.ok(termsEqual(parsed.terms, vTerms));
  assert.equal(hx(parsed.bencoded), V.terms_bencoded_hex);
});

test('vectors: transcript, signature (node:crypto and @noble/ed25519), verification', () => {
  const tr = buildTranscript({ infoHash, sellerPublic: sellerPk, buyerPublic: buyerPk, termsBencoded: encodeTerms(vTerms) });
  assert.equal(hx(tr), V.transcript_hex);
  const manual = new Uint8Array([...utf8('seedpay-v1-session'), ...infoHash, ...sellerPk, ...buyerPk, ...h(V.terms_sha256_hex)]);
  assert.equal(hx(manual), V.transcript_hex);
  const sig = h(V.transcript_signature_hex);
  assert.equal(hx(signTranscript(walletSeed, tr)), V.transcript_signature_hex);
  assert.equal(hx(ed.sign(tr, walletSeed)), V.transcript_signature_hex);
  const pub = h(V.wallet_public_hex);
  assert.equal(verifyTranscript(pub, tr, sig), true);
  assert.equal(ed.verify(sig, tr, pub), true);
  const bad = sig.slice();
  bad[10] ^= 1;
  assert.equal(verifyTranscript(pub, tr, bad), false);
  assert.equal(ed.verify(bad, tr, pub), false);
});

test('vectors: memo and price examples', () => {
  const nonce = JSON.parse(V.memo_utf8).nonce as number;
  assert.equal(buildMemo(V.session_hash_hex, nonce), V.memo_utf8);
  const p = parseMemo(V.memo_utf8);
  assert.ok(p.ok && p.memo.sessionHash === V.session_hash_hex && p.memo.nonce === nonce && p.canonical);
  for (const e of V.price_examples) {
    assert.equal(chargeFor(BigInt(e.bytes), BigInt(e.price)), BigInt(e.charge), JSON.stringify(e));
    assert.equal(e.check, true);
  }
});

// --- terms validation -----------------------------------------------------------------

function wireDict(over: Record<string, unknown> = {}, drop: string[] = []): BDict {
  const base = decode(encodeTerms(vTerms)) as BDict;
  const m = new Map(base);
  for (const k of drop) m.delete(k);
  for (const [k, v] of Object.entries(over)) {
    m.set(k, (typeof v === 'string' ? utf8(v) : v) as never);
  }
  return m;
}

function termsCode(v: unknown): string {
  try {
    parseTerms(v as BDict);
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof TermsError, String(e));
    return e.code;
  }
}

test('terms: unknown keys are ignored for meaning but covered by the signed bytes', () => {
  const d = wireDict({ zz_future: 'x', aa_extra: 5n });
  const parsed = parseTerms(d);
  assert.ok(termsEqual(parsed.terms, vTerms));
  assert.notEqual(hx(parsed.bencoded), V.terms_bencoded_hex);
  assert.deepEqual(decode(parsed.bencoded), d);
});

test('terms: strict validation with typed errors', () => {
  assert.equal(termsCode(wireDict()), 'ok');
  assert.equal(termsCode(utf8('x')), 'NOT_A_DICT');
  assert.equal(termsCode(undefined), 'NOT_A_DICT');
  assert.equal(termsCode([]), 'NOT_A_DICT');
  for (const k of ['v', 'chain', 'cluster', 'mint', 'wallet', 'price', 'min_prepay', 'modes']) {
    assert.equal(termsCode(wireDict({}, [k])), 'MISSING_KEY', k);
  }
  assert.equal(termsCode(wireDict({ v: 2n })), 'UNSUPPORTED_VERSION');
  assert.equal(termsCode(wireDict({ v: utf8('1') })), 'WRONG_TYPE');
  assert.equal(termsCode(wireDict({ chain: 'ethereum' })), 'UNSUPPORTED_CHAIN');
  assert.equal(termsCode(wireDict({ price: -1n })), 'OUT_OF_RANGE');
  assert.equal(termsCode(wireDict({ price: 1n << 64n })), 'OUT_OF_RANGE');
  assert.equal(termsCode(wireDict({ min_prepay: utf8('100') })), 'WRONG_TYPE');
  assert.equal(termsCode(wireDict({ price: (1n << 64n) - 1n })), 'ok');
  assert.equal(termsCode(wireDict({ wallet: 'not base58 0OIl' })), 'BAD_KEY');
  assert.equal(termsCode(wireDict({ wallet: bs58.encode(new Uint8Array(31).fill(7)) })), 'BAD_KEY');
  assert.equal(termsCode(wireDict({ mint: bs58.encode(new Uint8Array(33).fill(7)) })), 'BAD_KEY');
  assert.equal(termsCode(wireDict({ cluster: '1' + V.terms.cluster })), 'BAD_KEY'); // leading zero byte: 33 bytes
  assert.equal(termsCode(wireDict({ cluster: new Uint8Array([0xff, 0xfe]) })), 'WRONG_TYPE'); // not UTF-8
  assert.equal(termsCode(wireDict({ modes: [] })), 'BAD_MODES');
  assert.equal(termsCode(wireDict({ modes: utf8('prepaid') })), 'WRONG_TYPE');
  assert.equal(termsCode(wireDict({ modes: [1n] })), 'BAD_MODES');
  assert.equal(termsCode(wireDict({ modes: Array.from({ length: 17 }, () => utf8('m')) })), 'BAD_MODES');
  // Unknown modes are tolerated; mode channel needs its program id (payment channels).
  assert.equal(termsCode(wireDict({ modes: [utf8('prepaid'), utf8('future')] })), 'ok');
  assert.equal(termsCode(wireDict({ modes: [utf8('prepaid'), utf8('channel')] })), 'BAD_CHANNEL');
  assert.equal(termsCode(wireDict({ modes: [utf8('prepaid'), utf8('channel')], channel: new Uint8Array(32).fill(1) })), 'ok');
});

test('terms: encodeTerms refuses invalid terms built in code', () => {
  assert.throws(() => encodeTerms({ ...vTerms, price: -5n }), (e: unknown) => e instanceof TermsError && e.code === 'OUT_OF_RANGE');
  assert.throws(() => encodeTerms({ ...vTerms, wallet: 'abc' }), (e: unknown) => e instanceof TermsError && e.code === 'BAD_KEY');
  assert.throws(() => encodeTerms({ ...vTerms, modes: [] }), (e: unknown) => e instanceof TermsError && e.code === 'BAD_MODES');
  assert.deepEqual(Object.keys(termsToWire(vTerms)).sort(), ['chain', 'cluster', 'min_prepay', 'mint', 'modes', 'price', 'v', 'wallet']);
  assert.equal(hx(sha256(encodeTerms(vTerms))), V.terms_sha256_hex);
});

test('terms: decodeTerms from bytes; hostile bytes and values give TermsError only', () => {
  assert.ok(termsEqual(decodeTerms(h(V.terms_bencoded_hex)).terms, vTerms));
  assert.throws(() => decodeTerms(utf8('d1:vi1e')), (e: unknown) => e instanceof TermsError && e.code === 'BAD_BENCODE');
  assert.throws(() => decodeTerms(new Uint8Array(5000).fill(0x6c)), (e: unknown) => e instanceof TermsError && e.code === 'BAD_BENCODE');
  const good = h(V.terms_bencoded_hex);
  fc.assert(fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, b) => {
    const bad = good.slice();
    bad[i] = b;
    try {
      decodeTerms(bad);
    } catch (e) {
      assert.ok(e instanceof TermsError, String(e));
    }
  }), { numRuns: 400 });
  const leaf = fc.oneof(fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), fc.uint8Array({ maxLength: 50 }), fc.constantFrom(...['solana', 'prepaid', V.terms.wallet, V.terms.mint].map(utf8)));
  const keys = fc.constantFrom('v', 'chain', 'cluster', 'mint', 'wallet', 'price', 'min_prepay', 'modes', 'x');
  fc.assert(fc.property(fc.array(fc.tuple(keys, fc.oneof(leaf, fc.array(leaf, { maxLength: 3 }))), { maxLength: 10 }), (entries) => {
    const d = wireDict();
    for (const [k, v] of entries) d.set(k, v);
    try {
      parseTerms(d);
    } catch (e) {
      assert.ok(e instanceof TermsError, String(e));
    }
  }), { numRuns: 400 });
});
