/**
 * Packed piece sets (BEP 3 bit order: the high bit of byte 0 is piece 0) as the
 * picker stores them, plus the one conversion from whatever the caller holds.
 */

/** What a caller may hand in as "the pieces this peer has". */
export type PieceSet =
  | Uint8Array
  | ((index: number) => boolean)
  | { has(index: number): boolean };

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
  if (set instanceof Uint8Array) {
    out.set(set.subarray(0, out.length));
    const rem = numPieces & 7;
    if (rem !== 0 && out.length > 0) out[out.length - 1] &= 0xff << (8 - rem);
    return out;
  }
  const has = typeof set === 'function' ? set : (i: number) => set.has(i);
  for (let i = 0; i < numPieces; i++) if (has(i)) setBit(out, i);
  return out;
}
