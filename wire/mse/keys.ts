/**
 * The hashes and stream keys of MSE/PE (HASH is SHA-1):
 *   req1 = HASH('req1', S)                 sync marker the responder searches for
 *   req2 = HASH('req2', SKEY)              names the torrent (SKEY = its info hash)
 *   req3 = HASH('req3', S)                 masks req2 on the wire
 *   keyA = HASH('keyA', S, SKEY)           the initiator's sending key
 *   keyB = HASH('keyB', S, SKEY)           the responder's sending key
 * Each RC4 stream drops its first 1024 bytes (the spec's defence against RC4's
 * biased early keystream).
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { Rc4 } from './rc4.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const REQ1 = ascii('req1');
const REQ2 = ascii('req2');
const REQ3 = ascii('req3');
const KEY_A = ascii('keyA');
const KEY_B = ascii('keyB');
/** Keystream bytes dropped after keying. */
export const RC4_DISCARD = 1024;

function hash(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return sha1(buf);
}

export const req1Hash = (s: Uint8Array): Uint8Array => hash(REQ1, s);
/** HASH('req2', infoHash): what a responder compares against, per torrent. */
export const req2Hash = (infoHash: Uint8Array): Uint8Array => hash(REQ2, infoHash);
export const req3Hash = (s: Uint8Array): Uint8Array => hash(REQ3, s);

export function xor20(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(20);
  for (let i = 0; i < 20; i++) out[i] = a[i] ^ b[i];
  return out;
}

function streamCipher(label: Uint8Array, s: Uint8Array, skey: Uint8Array): Rc4 {
  const c = new Rc4(hash(label, s, skey));
  c.discard(RC4_DISCARD);
  return c;
}

/** The two RC4 streams of one side: what it sends with and what it receives with. */
export function sessionCiphers(role: 'initiator' | 'responder', s: Uint8Array, skey: Uint8Array): { encrypt: Rc4; decrypt: Rc4 } {
  const a = streamCipher(KEY_A, s, skey);
  const b = streamCipher(KEY_B, s, skey);
  return role === 'initiator' ? { encrypt: a, decrypt: b } : { encrypt: b, decrypt: a };
}
