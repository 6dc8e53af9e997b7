/**
 * The handshake's input buffer: chunks are copied in (the caller's buffers stay
 * untouched and may be reused), read from the front. The handshake is small (at most
 * a few KiB plus whatever follows it in the same chunks), so one growing array is
 * enough; memory follows what arrived, never what a length field claims.
 * Views returned by `take` are ours: the handshake decrypts them in place.
 */
export class ByteQueue {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;

  get length(): number { return this.end - this.start; }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const need = live + chunk.length;
      const next = need <= this.buf.length ? this.buf : new Uint8Array(Math.max(need, this.buf.length * 2, 256));
      next.set(this.buf.subarray(this.start, this.end), 0);
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  /** The first `n` bytes (n ≤ length), not consumed. Valid until the next push. */
  peek(n: number): Uint8Array { return this.buf.subarray(this.start, this.start + n); }

  /** Consume the first `n` bytes (n ≤ length) and return them. Valid until the next push. */
  take(n: number): Uint8Array {
    const v = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    return v;
  }

  skip(n: number): void { this.start += n; }

  /** Everything left, as a copy; the queue is emptied and lets its buffer go (a connection outlives its handshake). */
  takeAll(): Uint8Array {
    const out = this.buf.slice(this.start, this.end);
    this.buf = new Uint8Array(0);
    this.start = this.end = 0;
    return out;
  }

  /** Offset of `pattern` starting within the first `limit` bytes (and wholly inside them), or -1. */
  indexOf(pattern: Uint8Array, limit: number): number {
    const b = this.buf;
    const last = this.start + Math.min(limit, this.length) - pattern.length;
    const first = pattern[0];
    outer: for (let i = this.start; i <= last; i++) {
      if (b[i] !== first) continue;
      for (let k = 1; k < pattern.length; k++) if (b[i + k] !== pattern[k]) continue outer;
      return i - this.start;
    }
    return -1;
  }
}
