/**
 * A bounded pool of fixed-size read buffers ("slabs") for serving blocks.
 *
 * Serving reads blocks from disk into a slab and queues views of it on the socket;
 * the slab goes back to the pool only once the socket has written every byte that
 * refers to it (see serve-blocks.ts), so a reused buffer is never overwritten while
 * still queued. The pool never holds more than `maxSlabs` buffers, so the memory
 * spent on serving is bounded whatever the torrent size and the number of peers.
 */

export class SlabPool {
  readonly slabSize: number;
  readonly maxSlabs: number;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(slabSize: number, maxSlabs: number) {
    if (!(Number.isSafeInteger(slabSize) && slabSize > 0)) throw new RangeError(`bad slab size ${slabSize}`);
    if (!(Number.isSafeInteger(maxSlabs) && maxSlabs > 0)) throw new RangeError(`bad slab count ${maxSlabs}`);
    this.slabSize = slabSize;
    this.maxSlabs = maxSlabs;
  }

  /** Slabs handed out and not yet released. */
  get inUse(): number { return this.allocated - this.free.length; }

  /** A slab, or null when all `maxSlabs` are in use (call `whenFree`). */
  acquire(): Buffer | null {
    const b = this.free.pop();
    if (b !== undefined) return b;
    if (this.allocated >= this.maxSlabs) return null;
    this.allocated++;
    // allocUnsafeSlow: a slab outlives many requests, keep it off the shared 8 KiB pool.
    return Buffer.allocUnsafeSlow(this.slabSize);
  }

  release(b: Buffer): void {
    this.free.push(b);
    const w = this.waiters.shift();
    if (w !== undefined) setImmediate(w);
  }

  /** Call `cb` once (on a later tick) after some slab is released. */
  whenFree(cb: () => void): void {
    this.waiters.push(cb);
  }

  /** Forget a waiter (its session closed). */
  cancelWait(cb: () => void): void {
    const i = this.waiters.indexOf(cb);
    if (i >= 0) this.waiters.splice(i, 1);
  }
}
