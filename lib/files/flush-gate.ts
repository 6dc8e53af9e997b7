/**
 * Keeps a process's fsyncs and its O_DIRECT piece writes out of each other's way.
 *
 * Why: an fsync (a payment journal's, SEEDPAY.md §7) ends with a flush of the disk's
 * volatile write cache, and O_DIRECT piece writes wait in exactly that cache, so the
 * flush has to write out everything the download wrote since the previous one. While it
 * runs, a direct write issued to the same disk waits for it — on the Firecracker VM of
 * docs/PERFORMANCE.md §4, 50–200 ms per payment, during which the download stood still
 * (paid-vs-free 0.63–0.81). Piece writes that go through the page cache meanwhile do not
 * wait: they stay in memory until the kernel writes them back.
 *
 * So a flush announces itself here, waits for the direct writes in flight to finish
 * (normally a millisecond; at most `maxWaitMs`, it is only an optimisation), and while it
 * runs the store writes pieces through the page cache (`flushing`). Nothing about
 * durability changes: the journal still syncs before it acknowledges, and piece data is
 * never promised durable.
 */

/** What a journal needs: run its fsync through the gate. */
export interface SyncGate {
  flush<T>(sync: () => Promise<T>): Promise<T>;
}

/** What a piece store needs: whether to write direct now, and to report direct writes. */
export interface DirectWriteGate {
  readonly flushing: boolean;
  direct<T>(write: () => Promise<T>): Promise<T>;
}

export class FlushGate implements SyncGate, DirectWriteGate {
  private flushes = 0;
  private directInFlight = 0;
  private idleWaiters: (() => void)[] = [];

  /** `maxWaitMs`: longest a flush waits for direct writes in flight (a stuck disk must not hold a payment). */
  constructor(private readonly maxWaitMs = 250) {}

  /** A flush is waiting or running: write through the page cache instead of O_DIRECT. */
  get flushing(): boolean { return this.flushes > 0; }

  /** Direct writes in flight. */
  get directWrites(): number { return this.directInFlight; }

  /** Run a direct write, counted so that a flush can wait for it. */
  async direct<T>(write: () => Promise<T>): Promise<T> {
    this.directInFlight++;
    try {
      return await write();
    } finally {
      if (--this.directInFlight === 0) {
        const w = this.idleWaiters;
        this.idleWaiters = [];
        for (const f of w) f();
      }
    }
  }

  /** Run `sync` once no direct write is in flight (or after maxWaitMs); new direct writes are diverted meanwhile. */
  async flush<T>(sync: () => Promise<T>): Promise<T> {
    this.flushes++;
    try {
      if (this.directInFlight > 0) await this.idleOrTimeout();
      return await sync();
    } finally {
      this.flushes--;
    }
  }

  private idleOrTimeout(): Promise<void> {
    return new Promise<void>((resolve) => {
      // Not unref'd: a pending journal sync must keep the process alive.
      const timer = setTimeout(resolve, this.maxWaitMs);
      this.idleWaiters.push(() => { clearTimeout(timer); resolve(); });
    });
  }
}

/**
 * The gate shared by everything in this process that writes to disk: PieceStores (via
 * Torrent) and the journals PaidBuyer and PaidSeller open. One per process because the
 * disk cache a flush empties is shared by all of them.
 */
export const processFlushGate = new FlushGate();
