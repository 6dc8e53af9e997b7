/**
 * Output buffers for an encrypted stream. A sent chunk cannot be encrypted in place (a
 * piece block is a storage slab, possibly on its way to several peers), so it is copied
 * into a slab of this outbox and encrypted there. A fresh buffer per chunk cost more
 * than the cipher itself (allocation, first-touch page faults, external-memory GC);
 * slabs are carved into consecutive views instead and reused once the socket has
 * written every view of them (the write callback releases it).
 *
 * Released slabs are shared by every outbox of the process, bounded in bytes.
 */

const SLAB = 256 * 1024;
const MAX_FREE_BYTES = 8 * 1024 * 1024;
const freeSlabs: Buffer[] = [];

interface Slab {
  readonly buf: Buffer;
  used: number;
  pending: number;
  retired: boolean;
  /** The write callback of every view of this slab (one closure per slab, not per chunk). */
  readonly written: () => void;
}

export class CipherOutbox {
  private cur: Slab | null = null;

  /**
   * A view of `n` bytes to fill, and the callback to pass to `socket.write` for it (it
   * lets the slab go once written). Chunks larger than a slab get a buffer of their own.
   */
  take(n: number): { view: Buffer; written: () => void } {
    if (n > SLAB) return { view: Buffer.allocUnsafeSlow(n), written: noop };
    let s = this.cur;
    if (s === null || s.used + n > SLAB) {
      if (s !== null) this.retire(s);
      const slab: Slab = { buf: freeSlabs.pop() ?? Buffer.allocUnsafeSlow(SLAB), used: 0, pending: 0, retired: false, written: () => this.release(slab) };
      s = this.cur = slab;
    }
    const view = s.buf.subarray(s.used, s.used + n);
    s.used += n;
    s.pending++;
    return { view, written: s.written };
  }

  /** The connection is gone: its current slab goes back once its writes complete. */
  close(): void {
    if (this.cur !== null) this.retire(this.cur);
    this.cur = null;
  }

  private retire(s: Slab): void {
    s.retired = true;
    if (s.pending === 0) recycle(s.buf);
  }

  private release(s: Slab): void {
    s.pending--;
    if (s.pending === 0 && s.retired) recycle(s.buf);
  }
}

function recycle(buf: Buffer): void {
  if ((freeSlabs.length + 1) * SLAB <= MAX_FREE_BYTES) freeSlabs.push(buf);
}

function noop(): void {}
