/**
 * Rate limits, the IO half: one `RateLimiter` per client and direction owns the
 * client's token bucket, the queue of waiters (rate-queue.ts) and the one timer that
 * wakes them; each torrent gets a `RatePath` per direction: its own bucket under the
 * client's, so a grant needs both.
 *
 * Users: BlockServer asks the upload path before it reads a block to serve (a block is
 * read only once granted, and sent as soon as it is read); PeerSocket asks the download
 * path for every chunk it reads from the socket, and pauses reading while it waits.
 * With no limit set the paths answer `limited === false` and nobody calls anything
 * else: the hot paths pay one branch.
 */
import { RateQueue, type RateWaiter } from './rate-queue.js';
import { TokenBucket, checkRate } from './token-bucket.js';

/** A waiting request: cancel it with `RatePath.cancel`. */
export interface RateTicket extends RateWaiter {
  /** Called once, with `need`, when granted (unless cancelled first). */
  readonly granted: (bytes: number) => void;
}

export class RateLimiter {
  /** The client's bucket (every torrent's path goes through it). */
  readonly bucket: TokenBucket;
  private readonly queue = new RateQueue<RateTicket>();
  private readonly clock: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private serviceQueued = false;
  private closed = false;

  /** `limit` bytes/s, 0: unlimited. */
  constructor(clock: () => number, limit = 0) {
    this.clock = clock;
    this.bucket = new TokenBucket(limit, clock());
  }

  /** bytes/s, 0: unlimited. */
  get limit(): number { return this.bucket.rate; }

  /** Change the client's limit (0: unlimited); waiters are re-examined at once. */
  setLimit(limit: number): void {
    checkRate(limit);
    this.bucket.setRate(limit, this.clock());
    this.service();
  }

  /** A torrent's path: its own bucket (`limit` bytes/s, 0: unlimited) under the client's. */
  path(limit = 0): RatePath {
    return new RatePath(this, new TokenBucket(limit, this.clock()));
  }

  /** Waiters queued. */
  get waiting(): number { return this.queue.size; }

  /** Stop: the timer goes, waiters are dropped without being called. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    this.queue.clear();
  }

  /** @internal */
  now(): number { return this.clock(); }

  /** @internal */
  tryTake(buckets: readonly TokenBucket[], n: number): boolean {
    return this.queue.tryTake(buckets, n, this.clock());
  }

  /** @internal */
  wait(t: RateTicket): void {
    if (this.closed) return;
    this.queue.push(t);
    this.arm();
  }

  /** @internal */
  cancel(t: RateTicket): void {
    if (this.queue.cancel(t)) this.arm();
  }

  /** @internal Tokens came back or a limit changed: look at the waiters soon (not from inside the caller). */
  serviceSoon(): void {
    if (this.serviceQueued || this.queue.size === 0) return;
    this.serviceQueued = true;
    queueMicrotask(() => { this.serviceQueued = false; this.service(); });
  }

  /** @internal Grant what can be granted now, then sleep until the next grant is due. */
  service(): void {
    if (this.closed) return;
    const granted = this.queue.poll(this.clock());
    // Called after the queue is settled: a callback may queue again (at the tail).
    for (const t of granted) t.granted(t.need);
    this.arm();
  }

  /** Recompute what the waiters hold and when the next grant is due; sleep until then. */
  private arm(): void {
    if (this.closed) return;
    const now = this.clock();
    const at = this.queue.nextWake(now);
    if (at === null) { this.clearTimer(); return; }
    if (this.timer !== null && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    // Not unref'd: while something waits for tokens its socket may be paused, and a
    // paused socket alone does not keep the process alive.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.service();
    }, Math.max(0, at - now));
  }

  private clearTimer(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; this.timerAt = Infinity; }
  }
}

/** One torrent's limit in one direction, under its client's. */
export class RatePath {
  private readonly limiter: RateLimiter;
  private readonly own: TokenBucket;
  private readonly shared: TokenBucket;
  private readonly buckets: readonly TokenBucket[];

  /** @internal — use RateLimiter.path. */
  constructor(limiter: RateLimiter, own: TokenBucket) {
    this.limiter = limiter;
    this.own = own;
    this.shared = limiter.bucket;
    this.buckets = [limiter.bucket, own];
  }

  /** Whether any limit applies (the one branch unlimited transfers pay). */
  get limited(): boolean { return this.shared.limited || this.own.limited; }

  /** This torrent's own limit, bytes/s (0: unlimited). */
  get limit(): number { return this.own.rate; }

  /** The tightest limit that applies, bytes/s (0: none). */
  get effectiveLimit(): number {
    const a = this.shared.rate;
    const b = this.own.rate;
    return a === 0 ? b : b === 0 ? a : Math.min(a, b);
  }

  /** The smallest depth among the limits that apply (bytes; 0 when unlimited). */
  get depth(): number {
    const a = this.shared.limited ? this.shared.depth : Infinity;
    const b = this.own.limited ? this.own.depth : Infinity;
    const d = Math.min(a, b);
    return d === Infinity ? 0 : d;
  }

  setLimit(limit: number): void {
    checkRate(limit);
    this.own.setRate(limit, this.limiter.now());
    this.limiter.service();
  }

  /** Take `n` bytes now if both limits have them and nobody waits before us. */
  tryTake(n: number): boolean {
    return this.limiter.tryTake(this.buckets, n);
  }

  /** Wait for `n` bytes: `granted(n)` is called once they are taken (unless cancelled). */
  wait(n: number, granted: (bytes: number) => void): RateTicket {
    const t: RateTicket = { need: n, buckets: this.buckets, granted };
    this.limiter.wait(t);
    return t;
  }

  cancel(t: RateTicket): void {
    this.limiter.cancel(t);
  }

  /** `n` granted bytes were not sent after all: back to the buckets, for the waiters. */
  refund(n: number): void {
    const now = this.limiter.now();
    for (const b of this.buckets) b.give(n, now);
    this.limiter.serviceSoon();
  }
}
