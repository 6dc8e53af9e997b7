/**
 * RC4 keystream (the cipher MSE/PE uses for the obfuscated handshake and, when
 * selected, for the whole stream).
 *
 * Speed matters: with 'rc4' selected every byte of every piece goes through `process`.
 * The state is an Int32Array (no truncation on store) and the loop keeps i, j and the
 * table in locals, so V8 compiles it to a tight loop; on a little-endian host the
 * aligned middle of a buffer is XORed four keystream bytes at a time through a
 * Uint32Array view (1.4-1.6x the byte loop here). `process` works in place on any
 * view (a Buffer, a slice of a read slab), so decrypting received data allocates only
 * that view.
 */

/** Whether a Uint32 holds its low byte first (the word path builds keystream words that way). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Below this many bytes the word view costs more than it saves. */
const WORD_MIN = 64;

export class Rc4 {
  private readonly s = new Int32Array(256);
  private i = 0;
  private j = 0;

  /** Key schedule (KSA). A key of 1..256 bytes. */
  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) throw new RangeError(`RC4 key must be 1..256 bytes, got ${key.length}`);
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    const n = key.length;
    for (let k = 0; k < 256; k++) {
      const t = s[k];
      j = (j + t + key[k % n]) & 0xff;
      s[k] = s[j];
      s[j] = t;
    }
  }

  /** XOR the next `buf.length` keystream bytes into `buf`, in place. Returns `buf`. */
  process<T extends Uint8Array>(buf: T): T {
    const n = buf.length;
    if (!LITTLE_ENDIAN || n < WORD_MIN) {
      this.bytes(buf, 0, n);
      return buf;
    }
    // Bytes up to a 4-byte boundary, then whole words, then the tail.
    const head = (4 - (buf.byteOffset & 3)) & 3;
    this.bytes(buf, 0, head);
    const words = (n - head) >>> 2;
    this.words(new Uint32Array(buf.buffer, buf.byteOffset + head, words));
    this.bytes(buf, head + words * 4, n);
    return buf;
  }

  private bytes(buf: Uint8Array, from: number, to: number): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = from; k < to; k++) {
      i = (i + 1) & 0xff;
      const a = s[i];
      j = (j + a) & 0xff;
      const b = s[j];
      s[i] = b;
      s[j] = a;
      buf[k] ^= s[(a + b) & 0xff];
    }
    this.i = i;
    this.j = j;
  }

  private words(w: Uint32Array): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const n = w.length;
    for (let q = 0; q < n; q++) {
      i = (i + 1) & 0xff; let a = s[i]; j = (j + a) & 0xff; let b = s[j]; s[i] = b; s[j] = a;
      let ks = s[(a + b) & 0xff];
      i = (i + 1) & 0xff; a = s[i]; j = (j + a) & 0xff; b = s[j]; s[i] = b; s[j] = a;
      ks |= s[(a + b) & 0xff] << 8;
      i = (i + 1) & 0xff; a = s[i]; j = (j + a) & 0xff; b = s[j]; s[i] = b; s[j] = a;
      ks |= s[(a + b) & 0xff] << 16;
      i = (i + 1) & 0xff; a = s[i]; j = (j + a) & 0xff; b = s[j]; s[i] = b; s[j] = a;
      ks |= s[(a + b) & 0xff] << 24;
      w[q] ^= ks;
    }
    this.i = i;
    this.j = j;
  }

  /** Advance the keystream by `n` bytes without output (MSE drops the first 1024). */
  discard(n: number): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 0xff;
      const a = s[i];
      j = (j + a) & 0xff;
      s[i] = s[j];
      s[j] = a;
    }
    this.i = i;
    this.j = j;
  }
}
