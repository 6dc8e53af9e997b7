/**
 * How fast one peer delivers the blocks we asked it for, and so whether the blocks it
 * still owes us are worth asking someone else for in endgame. Sans-IO: time is passed in.
 *
 * Why: a block in flight at a fast peer is, more often than not, already in the socket
 * buffers between us (a pipeline of 250 blocks is ~4 MiB); asking an idle peer for it
 * too only downloads it twice. What endgame should take over is what a peer could not
 * deliver soon: the tail of a slow peer's queue, or everything a silent one holds. The
 * estimate is its queue over its recent rate: `outstanding / rate`, the rate an
 * exponentially decaying average of deliveries (time constant 1 s), so that a peer
 * that stops delivering looks slower every second (a stopped peer at ~2000 blocks/s
 * with 250 outstanding is past the 1 s default about 2 s after it stopped).
 */

/** Time constant of the rate average, ms. */
const TAU_MS = 1000;

export class DeliveryPace {
  /** Blocks per ms, as of `at`. */
  private rate = 0;
  private at = -Infinity;
  private everDelivered = false;
  /** When we first asked it for something (the clock of a peer that has not delivered yet). */
  private firstRequestAt: number | null = null;

  /** A block from this peer arrived. */
  delivered(now: number): void {
    this.decay(now);
    this.rate += 1 / TAU_MS;
    this.everDelivered = true;
  }

  /** We sent this peer requests. */
  requested(now: number): void {
    if (this.firstRequestAt === null) this.firstRequestAt = now;
  }

  /**
   * Estimated ms until the peer has delivered `outstanding` blocks: Infinity when it
   * delivers nothing; 0 when it owes nothing.
   */
  drainMs(outstanding: number, now: number): number {
    if (outstanding <= 0) return 0;
    this.decay(now);
    if (this.everDelivered) return this.rate > 0 ? outstanding / this.rate : Infinity;
    // Nothing yet: as slow as the time it has kept us waiting.
    return this.firstRequestAt === null ? 0 : now - this.firstRequestAt;
  }

  private decay(now: number): void {
    if (now > this.at) {
      if (this.at !== -Infinity) this.rate *= Math.exp(-(now - this.at) / TAU_MS);
      this.at = now;
    }
  }
}
