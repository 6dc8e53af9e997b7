/**
 * SHA-1 for piece verification and info hashes.
 *
 * Uses node:crypto (OpenSSL, native, often SHA-NI accelerated). bench/sha1.ts measures
 * it against @noble/hashes' pure-JS sha1 on 512 KiB pieces; node:crypto is several
 * times faster there, and both are correct, so the native one is the choice.
 */
import { createHash, type Hash } from 'node:crypto';

import { SHA1_LENGTH } from '../../format/info-hash.js';

export { SHA1_LENGTH };

/** SHA-1 digest of one buffer (20 bytes). */
export function sha1(data: Uint8Array): Buffer {
  return createHash('sha1').update(data).digest();
}

/** Incremental SHA-1 for data that arrives in parts (a piece spanning several files). */
export interface Sha1Hasher {
  update(data: Uint8Array): Sha1Hasher;
  digest(): Buffer;
}

export function createSha1(): Sha1Hasher {
  const h: Hash = createHash('sha1');
  const self: Sha1Hasher = {
    update(data) { h.update(data); return self; },
    digest() { return h.digest(); },
  };
  return self;
}

/** True when sha1(data) equals the 20-byte `expected` digest. */
export function sha1Equals(data: Uint8Array, expected: Uint8Array): boolean {
  if (expected.length !== SHA1_LENGTH) return false;
  return sha1(data).equals(expected);
}
