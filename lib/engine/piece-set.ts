/**
 * The picker's input: whatever a caller holds as "the pieces this peer has",
 * converted once to packed bytes (BEP 3 bit order; the bit helpers are the wire's).
 */
import { bitfieldByteLength, setBit } from '../../wire/bitfield.js';

/**
 * What a caller may hand in as "the pieces this peer has": packed bytes, an
 * object that yields packed bytes (the wire's `Bitfield` has `toBytes()`), or a
 * per-index test (a predicate, or an object with `get` or `has`).
 */
export type PieceSet =
  | Uint8Array
  | { toBytes(): Uint8Array }
  | ((index: number) => boolean)
  | { get(index: number): boolean }
  | { has(index: number): boolean };

/** The packed bytes of a PieceSet that has them (no copy), else null. */
export function packedOf(set: PieceSet): Uint8Array | null {
  if (set instanceof Uint8Array) return set;
  if (typeof set === 'object' && 'toBytes' in set && typeof set.toBytes === 'function') return set.toBytes();
  return null;
}

/** Normalises any PieceSet into a fresh packed copy of ceil(numPieces/8) bytes, spare bits cleared. */
export function toPacked(set: PieceSet, numPieces: number): Uint8Array {
  const out = new Uint8Array(bitfieldByteLength(numPieces));
  const packed = packedOf(set);
  if (packed !== null) {
    out.set(packed.subarray(0, out.length));
    const rem = numPieces & 7;
    if (rem !== 0 && out.length > 0) out[out.length - 1] &= 0xff << (8 - rem);
    return out;
  }
  let has: (i: number) => boolean;
  if (typeof set === 'function') has = set;
  else if ('get' in set && typeof set.get === 'function') has = (i) => set.get(i);
  else if ('has' in set && typeof set.has === 'function') has = (i) => set.has(i);
  else throw new TypeError('not a piece set');
  for (let i = 0; i < numPieces; i++) if (has(i)) setBit(out, i);
  return out;
}
