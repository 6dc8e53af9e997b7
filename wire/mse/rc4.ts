/**
 * RC4 keystream (the cipher MSE/PE uses for the obfuscated handshake and, when
 * selected, for the whole stream).
 *
 * Speed matters: with 'rc4' selected every byte of every piece goes through `process`.
 * The state is one Uint8Array and the loop keeps i, j and the table in locals, so V8
 * compiles it to a tight byte loop; `process` works in place on any view (a Buffer, a
 * slice of a read slab), so decrypting received data allocates nothing.
 */

export class Rc4 {
  private readonly s = new Uint8Array(256);
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
    const s = this.s;
    let i = this.i;
    let j = this.j;
    const n = buf.length;
    for (let k = 0; k < n; k++) {
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
    return buf;
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
