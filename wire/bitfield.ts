/**
 * Packed piece bitfields (BEP 3): bit 7 of byte 0 is piece 0, bit 6 piece 1, ...
 * Bits past the last piece ("spare bits") must be zero.
 *
 * The framer does not know the torrent's piece count, so a received `bitfield`
 * message is checked here, once the connection knows it.
 */

import { WireError } from './errors.js';

/** ceil(numPieces / 8): the exact byte length of a bitfield for `numPieces`. */
export function bitfieldByteLength(numPieces: number): number {
  return (numPieces + 7) >>> 3;
}

/** Mask of the valid bits in the last byte (e.g. 10 pieces → 0b1100_0000). */
function lastByteMask(numPieces: number): number {
  const r = numPieces & 7;
  return r === 0 ? 0xff : (0xff << (8 - r)) & 0xff;
}

// Raw packed-bit helpers, unchecked: for hot loops over bits the caller sized (the picker).

export function getBit(bits: Uint8Array, i: number): boolean {
  return (bits[i >>> 3] & (0x80 >>> (i & 7))) !== 0;
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] |= 0x80 >>> (i & 7);
}

function clearBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] &= ~(0x80 >>> (i & 7));
}

/** True when bits past `numPieces` in the last byte are all zero (BEP 3 requires it). */
export function spareBitsClear(bits: Uint8Array, numPieces: number): boolean {
  if ((numPieces & 7) === 0 || bits.length === 0) return true;
  return (bits[bits.length - 1] & ~lastByteMask(numPieces) & 0xff) === 0;
}

/** Calls `fn` for each set bit below numPieces, skipping zero bytes. O(bytes + set bits). */
export function forEachSet(bits: Uint8Array, numPieces: number, fn: (i: number) => void): void {
  const bytes = Math.min(bits.length, bitfieldByteLength(numPieces));
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

/**
 * Check a received bitfield against the torrent's piece count.
 * Throws WireError 'BAD_BITFIELD_LENGTH' or 'BITFIELD_SPARE_BITS'.
 */
export function validateBitfield(bits: Uint8Array, numPieces: number): void {
  const want = bitfieldByteLength(numPieces);
  if (bits.length !== want) {
    throw new WireError('BAD_BITFIELD_LENGTH', `bitfield is ${bits.length} bytes, ${numPieces} pieces need ${want}`);
  }
  if (!spareBitsClear(bits, numPieces)) {
    throw new WireError('BITFIELD_SPARE_BITS', `bitfield has bits set past piece ${numPieces - 1}`);
  }
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

/** A packed set of piece indices in [0, length). Keeps its population count up to date. */
export class Bitfield {
  /** Number of pieces. */
  readonly length: number;
  private readonly bytes: Uint8Array;
  private _count = 0;

  constructor(numPieces: number) {
    if (!Number.isInteger(numPieces) || numPieces < 0 || numPieces > 0xffffffff) {
      throw new WireError('INVALID_ARGUMENT', `bad piece count ${numPieces}`, false);
    }
    this.length = numPieces;
    this.bytes = new Uint8Array(bitfieldByteLength(numPieces));
  }

  /** A validated copy of received bits (throws like `validateBitfield`). */
  static fromBytes(bits: Uint8Array, numPieces: number): Bitfield {
    validateBitfield(bits, numPieces);
    const bf = new Bitfield(numPieces);
    bf.bytes.set(bits);
    let c = 0;
    for (let i = 0; i < bits.length; i++) c += POPCOUNT[bits[i]];
    bf._count = c;
    return bf;
  }

  /** All pieces set (e.g. after `have_all`). */
  static full(numPieces: number): Bitfield {
    const bf = new Bitfield(numPieces);
    bf.setAll();
    return bf;
  }

  /** Number of pieces set. */
  get count(): number { return this._count; }

  hasAll(): boolean { return this._count === this.length; }
  hasNone(): boolean { return this._count === 0; }

  /** Whether piece `index` is set; false for indices out of range. */
  get(index: number): boolean {
    if (!(index >= 0 && index < this.length)) return false;
    return getBit(this.bytes, index);
  }

  /** Set piece `index`; returns true if it was not set before. Throws 'BAD_PIECE_INDEX' out of range. */
  set(index: number): boolean {
    this.check(index);
    if (getBit(this.bytes, index)) return false;
    setBit(this.bytes, index);
    this._count++;
    return true;
  }

  /** Clear piece `index`; returns true if it was set before. Throws 'BAD_PIECE_INDEX' out of range. */
  clear(index: number): boolean {
    this.check(index);
    if (!getBit(this.bytes, index)) return false;
    clearBit(this.bytes, index);
    this._count--;
    return true;
  }

  setAll(): void {
    if (this.bytes.length === 0) return;
    this.bytes.fill(0xff);
    this.bytes[this.bytes.length - 1] = lastByteMask(this.length);
    this._count = this.length;
  }

  clearAll(): void {
    this.bytes.fill(0);
    this._count = 0;
  }

  /** A copy of the packed bytes, ready for a `bitfield` message. */
  toBytes(): Uint8Array {
    return this.bytes.slice();
  }

  /** Indices of the set pieces, ascending. */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let i = 0; i < this.bytes.length; i++) {
      const b = this.bytes[i];
      if (b === 0) continue;
      for (let j = 0; j < 8; j++) if (b & (0x80 >>> j)) yield (i << 3) + j;
    }
  }

  private check(index: number): void {
    if (!(Number.isInteger(index) && index >= 0 && index < this.length)) {
      throw new WireError('BAD_PIECE_INDEX', `piece index ${index} out of range [0, ${this.length})`);
    }
  }
}
