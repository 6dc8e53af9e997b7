/**
 * SeedPay session binding (SEEDPAY.md §3): ephemeral x25519 keys per connection,
 * session_uuid / session_hash by HKDF-SHA256, and the seller's ed25519 signature
 * with its Solana wallet key over the session transcript.
 *
 * Implementation choice (bench/pay-crypto.ts, same run, alternating, on this machine
 * under load): node:crypto (OpenSSL) for everything — ed25519 sign ~10x, ed25519
 * signature check ~10x, x25519 agreement + HKDF ~10x, a whole seller session setup ~14x
 * the @noble libraries, provided raw keys enter node:crypto as JWK (see importPrivate).
 * @noble/ed25519, @noble/curves and @noble/hashes remain the independent reference the
 * tests and vectors check this module against.
 *
 * Sans-IO except `loadWalletKeypairFile`, a thin file adapter for Solana keypair files.
 */
import crypto from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bs58 from 'bs58';
import { macKeysFromShared, type MacKeys } from './seedpay-mac.js';

const SESSION_INFO = 'seedpay-v1-session';
const SESSION_INFO_BYTES = new TextEncoder().encode(SESSION_INFO);

export type SessionErrorCode =
  | 'BAD_KEY_LENGTH'
  | 'BAD_INFO_HASH'
  | 'SMALL_ORDER_KEY'
  | 'BAD_WALLET_KEYPAIR'
  | 'WALLET_KEY_MISMATCH'
  | 'BAD_BASE58'
  | 'KEYPAIR_FILE_OPEN';

/** A session-binding failure: the paid session with this peer must end. */
export class SessionError extends Error {
  readonly code: SessionErrorCode;
  constructor(code: SessionErrorCode, message: string) {
    super(message);
    this.name = 'SessionError';
    this.code = code;
  }
}

function need(bytes: Uint8Array, len: number, what: string, code: SessionErrorCode = 'BAD_KEY_LENGTH'): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
    throw new SessionError(code, `${what} must be ${len} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

// Raw 32-byte keys enter node:crypto as JWK: OpenSSL 3's DER decoders cost ~0.5 ms per
// key here, about 10x the JWK path (measured; see bench/pay-crypto.ts). For a private
// key Node derives the public half from `d` itself (EVP_PKEY_new_raw_private_key) and
// ignores `x`, so `x` is left empty; should a Node version ever insist on `x`, the DER
// form (RFC 8410 PKCS#8 / SPKI prefixes) is the fallback. The tests check every result
// against @noble, so a change in either behaviour cannot pass unnoticed.
// (crypto.generateKeyPairSync('x25519') is not used: it deadlocked in a loop on this
// Node 20.20 build.)
type Curve = 'X25519' | 'Ed25519';
const PKCS8_PREFIX: Record<Curve, Buffer> = {
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
};
const SPKI_PREFIX: Record<Curve, Buffer> = {
  X25519: Buffer.from('302a300506032b656e032100', 'hex'),
  Ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
};
const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
let jwkPrivateWorks = true;

function importPrivate(crv: Curve, secret: Uint8Array): crypto.KeyObject {
  if (jwkPrivateWorks) {
    try {
      return crypto.createPrivateKey({ key: { kty: 'OKP', crv, d: b64u(secret), x: '' }, format: 'jwk' });
    } catch {
      jwkPrivateWorks = false;
    }
  }
  return crypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[crv], secret]), format: 'der', type: 'pkcs8' });
}
function importPublic(crv: Curve, pub: Uint8Array): crypto.KeyObject {
  try {
    return crypto.createPublicKey({ key: { kty: 'OKP', crv, x: b64u(pub) }, format: 'jwk' });
  } catch {
    return crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX[crv], pub]), format: 'der', type: 'spki' });
  }
}
const x25519Private = (secret: Uint8Array): crypto.KeyObject => importPrivate('X25519', secret);
const x25519Public = (pub: Uint8Array): crypto.KeyObject => importPublic('X25519', pub);
const ed25519Private = (seed: Uint8Array): crypto.KeyObject => importPrivate('Ed25519', seed);
const ed25519Public = (pub: Uint8Array): crypto.KeyObject => importPublic('Ed25519', pub);

function rawPublic(key: crypto.KeyObject): Uint8Array {
  const x = key.export({ format: 'jwk' }).x;
  const raw = typeof x === 'string' ? Buffer.from(x, 'base64url') : Buffer.alloc(0);
  if (raw.length !== 32) throw new SessionError('BAD_KEY_LENGTH', 'node:crypto exported a public key that is not 32 bytes');
  return new Uint8Array(raw);
}

/** An ephemeral x25519 key pair; the secret is kept only for the life of one connection. */
export interface EphemeralKeyPair {
  secret: Uint8Array; // 32 bytes
  public: Uint8Array; // 32 bytes
}

/** x25519 public key of a 32-byte secret (clamping as in RFC 7748). */
export function x25519PublicKey(secret: Uint8Array): Uint8Array {
  need(secret, 32, 'x25519 secret');
  return rawPublic(crypto.createPublicKey(x25519Private(secret)));
}

/** A fresh random x25519 key pair; call once per connection, never reuse. */
export function generateEphemeral(): EphemeralKeyPair {
  const secret = new Uint8Array(crypto.randomBytes(32));
  return { secret, public: x25519PublicKey(secret) };
}

/**
 * X25519(ownSecret, peerPublic). A peer key of small order yields the all-zero shared
 * secret, which an attacker could force on both sides; it is rejected with SMALL_ORDER_KEY.
 */
export function x25519Shared(ownSecret: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  need(ownSecret, 32, 'x25519 secret');
  need(peerPublic, 32, 'x25519 peer public key');
  let shared: Buffer;
  try {
    shared = crypto.diffieHellman({ privateKey: x25519Private(ownSecret), publicKey: x25519Public(peerPublic) });
  } catch {
    // OpenSSL refuses to derive an all-zero secret ("failed during derivation").
    throw new SessionError('SMALL_ORDER_KEY', 'x25519 agreement failed: peer key of small order');
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) throw new SessionError('SMALL_ORDER_KEY', 'x25519 shared secret is all zero: peer key of small order');
  return new Uint8Array(shared);
}

export interface SessionKeys {
  /** HKDF-SHA256(ikm = X25519, salt = info_hash, info = "seedpay-v1-session", 32 bytes). */
  sessionUuid: Uint8Array;
  /** hex(sha256(session_uuid)): 64 lowercase hex chars, the value in the payment memo. */
  sessionHash: string;
}

/** Session keys from the shared secret; both sides get the same values. */
export function deriveSession(args: { ownSecret: Uint8Array; peerPublic: Uint8Array; infoHash: Uint8Array }): SessionKeys {
  need(args.infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  const shared = x25519Shared(args.ownSecret, args.peerPublic);
  return sessionFromShared(shared, args.infoHash);
}

/**
 * Session keys and, for a session that authenticates its messages (terms key `mac`,
 * payment/seedpay-mac.ts), the two direction MAC keys — one x25519 agreement for both.
 */
export function deriveSessionWithMac(args: { ownSecret: Uint8Array; peerPublic: Uint8Array; infoHash: Uint8Array }): SessionKeys & { mac: MacKeys } {
  need(args.infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  const shared = x25519Shared(args.ownSecret, args.peerPublic);
  try {
    return { ...sessionFromShared(shared, args.infoHash), mac: macKeysFromShared(shared, args.infoHash) };
  } finally {
    shared.fill(0);
  }
}

/** The HKDF step alone (exposed for tests and vectors). */
export function sessionFromShared(shared: Uint8Array, infoHash: Uint8Array): SessionKeys {
  need(shared, 32, 'shared secret');
  need(infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  const sessionUuid = new Uint8Array(crypto.hkdfSync('sha256', shared, infoHash, SESSION_INFO_BYTES, 32));
  return { sessionUuid, sessionHash: sessionHashOf(sessionUuid) };
}

function sessionHashOf(sessionUuid: Uint8Array): string {
  return crypto.createHash('sha256').update(sessionUuid).digest('hex');
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHash('sha256').update(data).digest());
}

/** Appended to the transcript when both sides authenticate their messages (docs/PROTOCOL.md §3). */
const TRANSCRIPT_MAC_SUFFIX = new TextEncoder().encode('mac');

/**
 * The bytes the seller signs:
 * "seedpay-v1-session" || info_hash(20) || seller_pk(32) || buyer_pk(32) || sha256(bencode(terms)),
 * followed by the 3 ASCII bytes "mac" when the session authenticates its messages (the
 * terms offer `mac` and the buyer's ecdh_init asked for it): a man in the middle that
 * strips or adds the buyer's request makes the signature fail at the buyer.
 * `termsBencoded` is the canonical bencoding of the terms (terms.ts `encodeTerms`).
 */
export function buildTranscript(args: {
  infoHash: Uint8Array; sellerPublic: Uint8Array; buyerPublic: Uint8Array; termsBencoded: Uint8Array; mac?: boolean;
}): Uint8Array {
  need(args.infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  need(args.sellerPublic, 32, 'seller ephemeral public key');
  need(args.buyerPublic, 32, 'buyer ephemeral public key');
  const digest = sha256(args.termsBencoded);
  const parts = [SESSION_INFO_BYTES, args.infoHash, args.sellerPublic, args.buyerPublic, digest];
  if (args.mac === true) parts.push(TRANSCRIPT_MAC_SUFFIX);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const part of parts) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

// Importing a seed into a KeyObject costs a scalar multiplication (OpenSSL derives the
// public key), about as much as the signature itself. A seller signs every session with
// the same wallet, so the last few wallet keys are kept imported (a process holds its
// own wallet seed in memory anyway).
const SIGN_KEY_CACHE_SIZE = 4;
const signKeys: { seed: Buffer; key: crypto.KeyObject }[] = [];

function walletSigningKey(seed: Uint8Array): crypto.KeyObject {
  for (let i = 0; i < signKeys.length; i++) {
    const e = signKeys[i];
    if (crypto.timingSafeEqual(e.seed, seed)) {
      if (i > 0) {
        signKeys.splice(i, 1);
        signKeys.unshift(e);
      }
      return e.key;
    }
  }
  const key = ed25519Private(seed);
  signKeys.unshift({ seed: Buffer.from(seed), key });
  if (signKeys.length > SIGN_KEY_CACHE_SIZE) signKeys.pop();
  return key;
}

/** ed25519 signature (64 bytes) by the wallet key (its 32-byte seed) over the transcript. */
export function signTranscript(walletSeed: Uint8Array, transcript: Uint8Array): Uint8Array {
  need(walletSeed, 32, 'wallet seed');
  return new Uint8Array(crypto.sign(null, transcript, walletSigningKey(walletSeed)));
}

/**
 * True iff `sig` is a valid ed25519 signature of `transcript` by `walletPublic`.
 * Never throws on hostile input (wrong lengths, invalid points): those are just `false`.
 */
export function verifyTranscript(walletPublic: Uint8Array, transcript: Uint8Array, sig: Uint8Array): boolean {
  if (!(walletPublic instanceof Uint8Array) || walletPublic.length !== 32) return false;
  if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
  try {
    return crypto.verify(null, transcript, ed25519Public(walletPublic), sig);
  } catch {
    return false;
  }
}

/** A Solana wallet key: the 32-byte seed, the public key, and its base58 address. */
export interface WalletKeypair {
  seed: Uint8Array;
  publicKey: Uint8Array;
  address: string;
  /** seed || publicKey, the 64-byte form Solana keypair files and web3.js Keypair use. */
  secretKey: Uint8Array;
}

/** ed25519 public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  need(seed, 32, 'wallet seed');
  return rawPublic(crypto.createPublicKey(ed25519Private(seed)));
}

export function walletFromSeed(seed: Uint8Array): WalletKeypair {
  need(seed, 32, 'wallet seed', 'BAD_WALLET_KEYPAIR');
  const s = new Uint8Array(seed);
  const publicKey = ed25519PublicKey(s);
  const secretKey = new Uint8Array(64);
  secretKey.set(s, 0);
  secretKey.set(publicKey, 32);
  return { seed: s, publicKey, address: bs58.encode(publicKey), secretKey };
}

/** Validate a 64-byte Solana secret key (seed32 || pub32): the public half must match the seed. */
export function walletFromSecretKey(secret64: Uint8Array): WalletKeypair {
  need(secret64, 64, 'wallet secret key', 'BAD_WALLET_KEYPAIR');
  const w = walletFromSeed(secret64.subarray(0, 32));
  if (!crypto.timingSafeEqual(w.publicKey, secret64.subarray(32))) {
    throw new SessionError('WALLET_KEY_MISMATCH', 'wallet secret key: public half does not match the seed');
  }
  return w;
}

/** A fresh random wallet (tests, local ledger demos). */
export function generateWallet(): WalletKeypair {
  return walletFromSeed(new Uint8Array(crypto.randomBytes(32)));
}

/** Parse the text of a Solana keypair file: a JSON array of 64 integers 0..255. */
export function parseWalletKeypairJson(text: string): WalletKeypair {
  if (typeof text !== 'string' || text.length > 4096) {
    throw new SessionError('BAD_WALLET_KEYPAIR', 'keypair file: not a short JSON text');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SessionError('BAD_WALLET_KEYPAIR', 'keypair file: not JSON');
  }
  if (!Array.isArray(parsed) || parsed.length !== 64) {
    throw new SessionError('BAD_WALLET_KEYPAIR', 'keypair file: expected a JSON array of 64 bytes');
  }
  const bytes = new Uint8Array(64);
  parsed.forEach((v: unknown, i: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
      throw new SessionError('BAD_WALLET_KEYPAIR', `keypair file: element ${i} is not a byte`);
    }
    bytes[i] = v;
  });
  return walletFromSecretKey(bytes);
}

/** The JSON text of a Solana keypair file for this wallet. */
export function walletKeypairJson(w: WalletKeypair): string {
  return JSON.stringify(Array.from(w.secretKey));
}

/** Load and validate a Solana keypair file (thin file adapter). */
export async function loadWalletKeypairFile(path: string): Promise<WalletKeypair> {
  await checkKeypairFileMode(path);
  return parseWalletKeypairJson(await readFile(path, 'utf8'));
}

/**
 * Refuse a keypair file that its group or others may read (as ssh refuses a private
 * key): a secret key anyone on the machine can copy is a wallet anyone can drain.
 */
export async function checkKeypairFileMode(path: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SessionError('KEYPAIR_FILE_OPEN',
      `keypair file ${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); make it private: chmod 600 ${path}`);
  }
}

/** Decode a base58 ed25519 public key (a wallet or mint address); exactly 32 bytes. */
export function decodePublicKey58(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length < 32 || text.length > 44) {
    throw new SessionError('BAD_BASE58', `not a base58 32-byte key: ${String(text).slice(0, 60)}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = bs58.decode(text);
  } catch {
    throw new SessionError('BAD_BASE58', `not base58: ${text}`);
  }
  if (bytes.length !== 32) throw new SessionError('BAD_BASE58', `base58 key decodes to ${bytes.length} bytes, not 32`);
  // One key, one spelling: compare addresses as strings safely elsewhere.
  if (bs58.encode(bytes) !== text) throw new SessionError('BAD_BASE58', `non-canonical base58: ${text}`);
  return bytes;
}
