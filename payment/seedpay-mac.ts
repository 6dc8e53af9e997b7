/**
 * Message authentication for a bound SeedPay session (docs/PROTOCOL.md §3, "Message
 * authentication"; offered by the terms key `mac`).
 *
 * Keys: one per direction, from the session's x25519 shared secret with the same HKDF
 * as the session id (payment/session.ts sessionFromShared) but other `info` labels:
 *
 *   k_s2b = HKDF-SHA256(ikm = X25519, salt = info_hash, info = "seedpay-v1-mac seller->buyer", 32)
 *   k_b2s = HKDF-SHA256(ikm = X25519, salt = info_hash, info = "seedpay-v1-mac buyer->seller", 32)
 *
 * Neither the session hash nor the session uuid is ever a key: the session hash is
 * public (every payment memo carries it on chain).
 *
 * Tag of the n-th message (n = 0, 1, … counted per direction, after the binding):
 *
 *   mac = HMAC-SHA256(k_dir, u64be(n) || body)[0..16]
 *
 * `body` is the canonical bencoding of the message's dictionary without its `mac` key
 * (unknown keys included). The counter is never sent: the receiver uses the number of
 * messages it has accepted so far (TCP keeps them in order), so a replayed, dropped,
 * reordered or reflected message fails the check.
 *
 * Sans-IO (node:crypto only).
 */
import crypto from 'node:crypto';

/** Bytes of a tag on the wire (a truncated HMAC-SHA256). */
export const MAC_TAG_BYTES = 16;
/** HKDF `info` labels of the two direction keys. */
export const MAC_INFO_SELLER_TO_BUYER = 'seedpay-v1-mac seller->buyer';
export const MAC_INFO_BUYER_TO_SELLER = 'seedpay-v1-mac buyer->seller';

/** The two direction keys of one session (32 bytes each). */
export interface MacKeys {
  readonly sellerToBuyer: Uint8Array;
  readonly buyerToSeller: Uint8Array;
}

/** A key of the wrong size, a counter outside u64, a body that is not bytes: our own misuse. */
export class MacError extends Error {
  override readonly name = 'MacError';
}

const U64_MAX = (1n << 64n) - 1n;

function need(b: Uint8Array, len: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new MacError(`${what} must be ${len} bytes`);
}

/**
 * Both direction keys from the x25519 shared secret and the info hash (the HKDF salt,
 * as for the session id). Both sides get the same pair.
 */
export function macKeysFromShared(shared: Uint8Array, infoHash: Uint8Array): MacKeys {
  need(shared, 32, 'shared secret');
  need(infoHash, 20, 'info hash');
  const k = (info: string): Uint8Array => new Uint8Array(crypto.hkdfSync('sha256', shared, infoHash, new TextEncoder().encode(info), 32));
  return { sellerToBuyer: k(MAC_INFO_SELLER_TO_BUYER), buyerToSeller: k(MAC_INFO_BUYER_TO_SELLER) };
}

/** The tag of message number `counter` with canonical bytes `body` (without its `mac` key). */
export function computeMac(key: Uint8Array, counter: bigint, body: Uint8Array): Uint8Array {
  need(key, 32, 'MAC key');
  if (typeof counter !== 'bigint' || counter < 0n || counter > U64_MAX) throw new MacError('MAC counter must be a u64 bigint');
  if (!(body instanceof Uint8Array)) throw new MacError('MAC body must be bytes');
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(counter);
  const h = crypto.createHmac('sha256', key).update(n).update(body).digest();
  return new Uint8Array(h.subarray(0, MAC_TAG_BYTES));
}

/**
 * Whether `tag` is the tag of message number `counter` with canonical bytes `body`.
 * Constant time in the tag; never throws on hostile input (a tag of another size, or
 * none, is just false).
 */
export function verifyMac(key: Uint8Array, counter: bigint, body: Uint8Array, tag: Uint8Array | null | undefined): boolean {
  if (!(tag instanceof Uint8Array) || tag.length !== MAC_TAG_BYTES) return false;
  const want = computeMac(key, counter, body);
  return crypto.timingSafeEqual(want, tag);
}
