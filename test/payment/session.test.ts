/**
 * payment/session.ts against two independent implementations on random keys:
 * the @noble libraries, and a second node:crypto path that builds keys from JWK
 * (session.ts uses DER) and runs HKDF/sign/verify separately.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as ed from '@noble/ed25519';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import bs58 from 'bs58';
import {
  SessionError, buildTranscript, decodePublicKey58, deriveSession, generateEphemeral, generateWallet, loadWalletKeypairFile,
  parseWalletKeypairJson, signTranscript, verifyTranscript, walletFromSecretKey, walletFromSeed, walletKeypairJson,
  x25519PublicKey, x25519Shared,
} from '../../payment/session.js';

ed.hashes.sha512 = sha512;

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const hx = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const INFO = new TextEncoder().encode('seedpay-v1-session');

// --- the independent node:crypto path (JWK keys) -------------------------------------
function jwkX25519Pub(sk: Uint8Array): Uint8Array {
  // Derive the public key via noble only to fill JWK.x, which Node requires; the
  // agreement itself is node:crypto's.
  return x25519.getPublicKey(sk);
}
function nodeJwkShared(sk: Uint8Array, peer: Uint8Array): Uint8Array {
  const privateKey = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(sk), x: b64u(jwkX25519Pub(sk)) }, format: 'jwk' });
  const publicKey = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(peer) }, format: 'jwk' });
  return new Uint8Array(crypto.diffieHellman({ privateKey, publicKey }));
}
function nodeJwkSign(seed: Uint8Array, msg: Uint8Array): Uint8Array {
  const key = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64u(seed), x: b64u(ed.getPublicKey(seed)) }, format: 'jwk' });
  return new Uint8Array(crypto.sign(null, msg, key));
}
function nodeJwkVerify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(pub) }, format: 'jwk' });
  return crypto.verify(null, msg, key, sig);
}

test('property: session keys agree with @noble and a separate node:crypto path on random keys', () => {
  fc.assert(fc.property(bytes(32), bytes(32), bytes(20), (a, b, infoHash) => {
    const A = x25519PublicKey(a);
    const B = x25519PublicKey(b);
    assert.equal(hx(A), hx(x25519.getPublicKey(a)));
    assert.equal(hx(B), hx(x25519.getPublicKey(b)));
    const shared = x25519Shared(a, B);
    assert.equal(hx(shared), hx(x25519.getSharedSecret(a, B)));
    assert.equal(hx(shared), hx(nodeJwkShared(b, A)));
    const sa = deriveSession({ ownSecret: a, peerPublic: B, infoHash });
    const sb = deriveSession({ ownSecret: b, peerPublic: A, infoHash });
    assert.equal(hx(sa.sessionUuid), hx(sb.sessionUuid));
    assert.equal(sa.sessionHash, sb.sessionHash);
    const nobleUuid = hkdf(nobleSha256, shared, infoHash, INFO, 32);
    assert.equal(hx(sa.sessionUuid), hx(nobleUuid));
    assert.equal(sa.sessionHash, hx(nobleSha256(nobleUuid)));
    const nodeUuid = new Uint8Array(crypto.hkdfSync('sha256', nodeJwkShared(a, B), infoHash, INFO, 32));
    assert.equal(hx(sa.sessionUuid), hx(nodeUuid));
    assert.match(sa.sessionHash, /^[0-9a-f]{64}$/);
  }), { numRuns: 40 });
});

test('property: transcript signatures agree across implementations and verify everywhere', () => {
  fc.assert(fc.property(bytes(32), bytes(20), bytes(32), bytes(32), fc.uint8Array({ maxLength: 300 }), (seed, infoHash, spk, bpk, terms) => {
    const tr = buildTranscript({ infoHash, sellerPublic: spk, buyerPublic: bpk, termsBencoded: terms });
    assert.equal(tr.length, 18 + 20 + 32 + 32 + 32);
    const w = walletFromSeed(seed);
    assert.equal(hx(w.publicKey), hx(ed.getPublicKey(seed)));
    const sig = signTranscript(seed, tr);
    assert.equal(hx(sig), hx(ed.sign(tr, seed)));
    assert.equal(hx(sig), hx(nodeJwkSign(seed, tr)));
    assert.equal(verifyTranscript(w.publicKey, tr, sig), true);
    assert.equal(ed.verify(sig, tr, w.publicKey), true);
    assert.equal(nodeJwkVerify(w.publicKey, tr, sig), true);
    // Any other transcript (e.g. a rewritten buyer key) fails.
    const other = tr.slice();
    other[18 + 20 + 32] ^= 1;
    assert.equal(verifyTranscript(w.publicKey, other, sig), false);
  }), { numRuns: 30 });
});

test('signatures by another wallet, over other terms, or malformed are rejected without throwing', () => {
  const w = generateWallet();
  const mallory = generateWallet();
  const e1 = generateEphemeral();
  const e2 = generateEphemeral();
  const infoHash = new Uint8Array(20).fill(9);
  const tr = buildTranscript({ infoHash, sellerPublic: e1.public, buyerPublic: e2.public, termsBencoded: new TextEncoder().encode('d1:vi1ee') });
  const sig = signTranscript(w.seed, tr);
  assert.equal(verifyTranscript(w.publicKey, tr, sig), true);
  assert.equal(verifyTranscript(mallory.publicKey, tr, signTranscript(w.seed, tr)), false);
  assert.equal(verifyTranscript(w.publicKey, tr, signTranscript(mallory.seed, tr)), false);
  const tr2 = buildTranscript({ infoHash, sellerPublic: e1.public, buyerPublic: e2.public, termsBencoded: new TextEncoder().encode('d1:vi2ee') });
  assert.equal(verifyTranscript(w.publicKey, tr2, sig), false);
  assert.equal(verifyTranscript(w.publicKey, tr, sig.subarray(0, 63)), false);
  assert.equal(verifyTranscript(w.publicKey, tr, new Uint8Array(64)), false);
  assert.equal(verifyTranscript(w.publicKey.subarray(0, 31), tr, sig), false);
  assert.equal(verifyTranscript(new Uint8Array(32), tr, sig), false);
  assert.equal(verifyTranscript(new Uint8Array(32).fill(0xff), tr, sig), false);
  // S >= L (non-canonical scalar): reject (malleability).
  const mall = sig.slice();
  mall.set(new Uint8Array(32).fill(0xff), 32);
  assert.equal(verifyTranscript(w.publicKey, tr, mall), false);
});

test('property: random garbage never verifies and never throws', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ maxLength: 130 }), (pub, sig, msg) => {
    assert.equal(verifyTranscript(pub, msg, sig), false);
  }), { numRuns: 200 });
});

// Small-order points of Curve25519 (and their non-canonical / high-bit twins).
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

test('a small-order peer key (all-zero shared secret) is a typed SMALL_ORDER_KEY error', () => {
  const own = generateEphemeral();
  for (const hex of SMALL_ORDER) {
    const peer = new Uint8Array(Buffer.from(hex, 'hex'));
    assert.throws(() => x25519Shared(own.secret, peer), (e: unknown) => e instanceof SessionError && e.code === 'SMALL_ORDER_KEY', hex);
    assert.throws(() => deriveSession({ ownSecret: own.secret, peerPublic: peer, infoHash: new Uint8Array(20) }),
      (e: unknown) => e instanceof SessionError && e.code === 'SMALL_ORDER_KEY', hex);
    assert.throws(() => x25519.getSharedSecret(own.secret, peer), Error, `noble also refuses ${hex}`);
  }
});

test('wrong lengths are typed errors', () => {
  const own = generateEphemeral();
  const code = (f: () => unknown): string => {
    try {
      f();
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof SessionError);
      return e.code;
    }
  };
  assert.equal(code(() => x25519Shared(own.secret, new Uint8Array(31))), 'BAD_KEY_LENGTH');
  assert.equal(code(() => x25519Shared(new Uint8Array(33), own.public)), 'BAD_KEY_LENGTH');
  assert.equal(code(() => deriveSession({ ownSecret: own.secret, peerPublic: own.public, infoHash: new Uint8Array(32) })), 'BAD_INFO_HASH');
  assert.equal(code(() => buildTranscript({ infoHash: new Uint8Array(20), sellerPublic: own.public, buyerPublic: new Uint8Array(3), termsBencoded: new Uint8Array() })), 'BAD_KEY_LENGTH');
  assert.equal(code(() => signTranscript(new Uint8Array(64), new Uint8Array(1))), 'BAD_KEY_LENGTH');
});

test('ephemeral keys are fresh per call and consistent', () => {
  const a = generateEphemeral();
  const b = generateEphemeral();
  assert.notEqual(hx(a.secret), hx(b.secret));
  assert.equal(hx(a.public), hx(x25519.getPublicKey(a.secret)));
  const s1 = deriveSession({ ownSecret: a.secret, peerPublic: b.public, infoHash: new Uint8Array(20) });
  const s2 = deriveSession({ ownSecret: a.secret, peerPublic: b.public, infoHash: new Uint8Array(20).fill(1) });
  assert.notEqual(s1.sessionHash, s2.sessionHash, 'the info hash salts the session');
});

test('Solana keypair files: load, validate pub against seed, typed errors', async () => {
  const w = generateWallet();
  const json = walletKeypairJson(w);
  assert.equal(JSON.parse(json).length, 64);
  const back = parseWalletKeypairJson(json);
  assert.equal(back.address, w.address);
  assert.equal(hx(back.seed), hx(w.seed));
  assert.equal(back.address, bs58.encode(ed.getPublicKey(w.seed)));

  const dir = await mkdtemp(join(tmpdir(), 'seedpay-wallet-'));
  try {
    const p = join(dir, 'id.json');
    await writeFile(p, json, { mode: 0o600 });
    assert.equal((await loadWalletKeypairFile(p)).address, w.address);
    // A secret key others on the machine can read is refused, with the fix in the message.
    for (const mode of [0o644, 0o640, 0o604]) {
      await chmod(p, mode);
      await assert.rejects(loadWalletKeypairFile(p), (e: unknown) => e instanceof SessionError && e.code === 'KEYPAIR_FILE_OPEN' && /chmod 600/.test(e.message));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const codeOf = (text: string): string => {
    try {
      parseWalletKeypairJson(text);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof SessionError);
      return e.code;
    }
  };
  const arr = Array.from(w.secretKey);
  assert.equal(codeOf('not json'), 'BAD_WALLET_KEYPAIR');
  assert.equal(codeOf('{}'), 'BAD_WALLET_KEYPAIR');
  assert.equal(codeOf(JSON.stringify(arr.slice(0, 32))), 'BAD_WALLET_KEYPAIR');
  assert.equal(codeOf(JSON.stringify([...arr.slice(0, 63), 256])), 'BAD_WALLET_KEYPAIR');
  assert.equal(codeOf(JSON.stringify([...arr.slice(0, 63), 1.5])), 'BAD_WALLET_KEYPAIR');
  assert.equal(codeOf(JSON.stringify([...arr.slice(0, 63), '1'])), 'BAD_WALLET_KEYPAIR');
  const other = generateWallet();
  assert.equal(codeOf(JSON.stringify([...arr.slice(0, 32), ...Array.from(other.publicKey)])), 'WALLET_KEY_MISMATCH');
  assert.throws(() => walletFromSecretKey(new Uint8Array(64)), (e: unknown) => e instanceof SessionError && e.code === 'WALLET_KEY_MISMATCH');
});

test('base58 public keys: exactly 32 bytes, canonical spelling', () => {
  const w = generateWallet();
  assert.equal(hx(decodePublicKey58(w.address)), hx(w.publicKey));
  assert.equal(hx(decodePublicKey58('11111111111111111111111111111111')), '00'.repeat(32));
  for (const bad of ['', 'abc', '0OIl' + w.address.slice(4), bs58.encode(new Uint8Array(33).fill(7)), bs58.encode(new Uint8Array(31).fill(1)), 'x'.repeat(100)]) {
    assert.throws(() => decodePublicKey58(bad), (e: unknown) => e instanceof SessionError && e.code === 'BAD_BASE58', bad);
  }
});
