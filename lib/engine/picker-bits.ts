/**
 * Packed piece sets (BEP 3 bit order: the high bit of byte 0 is piece 0) as the
 * picker stores them, plus the one conversion from whatever the caller holds.
 */

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

export function bitfieldBytes(numPieces: number): number {
  return Math.ceil(numPieces / 8);
}

export function getBit(bits: Uint8Array, i: number): boolean {
  return (bits[i >>> 3] & (0x80 >>> (i & 7))) !== 0;
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] |= 0x80 >>> (i & 7);
}

export function clearBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] &= ~(0x80 >>> (i & 7));
}

/** True when bits past `numPieces` in the last byte are all zero (BEP 3 requires it). */
export function spareBitsClear(bits: Uint8Array, numPieces: number): boolean {
  const rem = numPieces & 7;
  if (rem === 0 || bits.length === 0) return true;
  return (bits[bits.length - 1] & (0xff >>> rem)) === 0;
}

/** Calls `fn` for each set bit below numPieces, skipping zero bytes. O(bytes + set bits). */
export function forEachSet(bits: Uint8Array, numPieces: number, fn: (i: number) => void): void {
  const bytes = Math.min(bits.length, bitfieldBytes(numPieces));
  for (let b = 0; b < bytes; b++) {
    let v = bits[b];
    if (v === 0) continue;
    const base = b << 3;
    while (v !== 0) {
      const hi = 31 - Math.clz32(v); // highest set bit: 7 = piece base+0
      const i = base + (7 - hi);
      if (i < numPieces) fn(i);
      v &= ~(1 << hi);
    }
  }
}

/** Normalises any PieceSet into a fresh packed copy of ceil(numPieces/8) bytes, spare bits cleared. */
export function toPacked(set: PieceSet, numPieces: number): Uint8Array {
  const out = new Uint8Array(bitfieldBytes(numPieces));
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
