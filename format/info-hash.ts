/**
 * SHA-1 of an info dictionary (the info hash, and ut_metadata's check of fetched
 * metadata). Pure JS (@noble/hashes) so the torrent format needs no node: module and
 * extensions may use it; info dictionaries are small, and piece hashing, the bulk of
 * all hashing, uses the native hash in lib/files/sha1.ts.
 */
import { sha1 } from '@noble/hashes/legacy.js';

/** Bytes of one SHA-1 digest (a piece hash, an info hash). */
export const SHA1_LENGTH = 20;

export function infoSha1(data: Uint8Array): Buffer {
  return Buffer.from(sha1(data));
}
