/**
 * SeedPay session binding (SEEDPAY.md §3): ephemeral x25519 keys per connection,
 * session_uuid / session_hash by HKDF-SHA256, and the seller's ed25519 signature
 * with its Solana wallet key over the session transcript.
 *
 * Implementation choice (measured by bench/pay-crypto.ts on this machine):
 *  - ed25519 verify: node:crypto (OpenSSL) — several times faster than @noble/ed25519,
 *    and the buyer verifies one signature per seller connection.
 *  - ed25519 sign: node:crypto as well (on par with noble; one signature per connection).
 *  - x25519 agreement and key generation: node:crypto — faster than @noble/curves.
 *  - HKDF and SHA-256: node:crypto.
 * @noble/ed25519, @noble/curves and @noble/hashes remain the independent reference
 * implementation the tests and vectors check this module against.
 *
 * Sans-IO except `loadWalletKeypairFile`, a thin file adapter for Solana keypair files.
 */
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bs58 from 'bs58';

export const SESSION_INFO = 'seedpay-v1-session';
const SESSION_INFO_BYTES = new TextEncoder().encode(SESSION_INFO);

export type SessionErrorCode =
  | 'BAD_KEY_LENGTH'
  | 'BAD_INFO_HASH'
  | 'SMALL_ORDER_KEY'
  | 'BAD_WALLET_KEYPAIR'
  | 'WALLET_KEY_MISMATCH'
  | 'BAD_BASE58';

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

// Fixed DER prefixes: PKCS#8 / SPKI wrappers for raw 32-byte X25519 and Ed25519 keys
// (RFC 8410). node:crypto takes raw keys only through these (or JWK).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

function x25519Private(secret: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
}
function x25519Public(pub: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([X25519_SPKI, pub]), format: 'der', type: 'spki' });
}
function ed25519Private(seed: Uint8Array): crypto.KeyObject {
  return crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}
function ed25519Public(pub: Uint8Array): crypto.KeyObject {
  return crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI, pub]), format: 'der', type: 'spki' });
}
function rawPublic(key: crypto.KeyObject): Uint8Array {
  // SPKI DER of a 25519 key is the 12-byte prefix followed by the raw 32 bytes.
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
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

/** The HKDF step alone (exposed for tests and vectors). */
export function sessionFromShared(shared: Uint8Array, infoHash: Uint8Array): SessionKeys {
  need(shared, 32, 'shared secret');
  need(infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  const sessionUuid = new Uint8Array(crypto.hkdfSync('sha256', shared, infoHash, SESSION_INFO_BYTES, 32));
  return { sessionUuid, sessionHash: sessionHashOf(sessionUuid) };
}

export function sessionHashOf(sessionUuid: Uint8Array): string {
  return crypto.createHash('sha256').update(sessionUuid).digest('hex');
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(crypto.createHash('sha256').update(data).digest());
}

/**
 * The bytes the seller signs:
 * "seedpay-v1-session" || info_hash(20) || seller_pk(32) || buyer_pk(32) || sha256(bencode(terms)).
 * `termsBencoded` is the canonical bencoding of the terms (terms.ts `encodeTerms`).
 */
export function buildTranscript(args: {
  infoHash: Uint8Array; sellerPublic: Uint8Array; buyerPublic: Uint8Array; termsBencoded: Uint8Array;
}): Uint8Array {
  need(args.infoHash, 20, 'info hash', 'BAD_INFO_HASH');
  need(args.sellerPublic, 32, 'seller ephemeral public key');
  need(args.buyerPublic, 32, 'buyer ephemeral public key');
  const digest = sha256(args.termsBencoded);
  const out = new Uint8Array(SESSION_INFO_BYTES.length + 20 + 32 + 32 + 32);
  let o = 0;
  for (const part of [SESSION_INFO_BYTES, args.infoHash, args.sellerPublic, args.buyerPublic, digest]) {
    out.set(part, o);
    o += part.length;
  }
  return out;
}

/** ed25519 signature (64 bytes) by the wallet key (its 32-byte seed) over the transcript. */
export function signTranscript(walletSeed: Uint8Array, transcript: Uint8Array): Uint8Array {
  need(walletSeed, 32, 'wallet seed');
  return new Uint8Array(crypto.sign(null, transcript, ed25519Private(walletSeed)));
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
  return parseWalletKeypairJson(await readFile(path, 'utf8'));
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
