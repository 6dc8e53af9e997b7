/**
 * A token bucket for one rate limit (bytes per second), sans-IO: time comes in as
 * `now` (ms), nothing here reads a clock or arms a timer.
 *
 * Tokens accrue at `rate` bytes/s up to `depth`; granting n bytes takes n tokens.
 * A grant larger than the depth is allowed once the bucket is full and leaves it in
 * debt (negative), so a block of any size is eventually granted while the depth stays
 * small. Over any window of t seconds the grants therefore total at most
 * rate·t + max(depth, largest grant): the property the tests check.
 *
 * Depth: 100 ms worth of the rate, at least 16 KiB (one standard block). The depth is
 * only the burst after an idle spell: while a transfer is held by its limit the bucket
 * stays empty and grants follow the refill a block at a time, so any one-second window
 * of it sees the rate to within a block or two. The worst window is one that opens on a
 * full bucket: 10 % over with 100 ms. A deeper bucket would make that burst larger and
 * smooth nothing, since waiting requests are served as soon as tokens arrive; a
 * shallower one would cost wake-ups (a timer per grant) at high rates.
 */

/** Seconds of the rate a full bucket holds. */
export const DEPTH_SECONDS = 0.1;
/** The smallest depth: one 16 KiB block. */
export const MIN_DEPTH = 16 * 1024;

/** The depth used for `rate` bytes/s (0: unlimited, no depth). */
export function depthFor(rate: number): number {
  return rate > 0 ? Math.max(MIN_DEPTH, rate * DEPTH_SECONDS) : 0;
}

/**
 * Float refill can miss a whole amount by an ulp at the exact instant `delay` names:
 * a level this close to the amount counts as reaching it (a millionth of a byte).
 */
const EPSILON = 1e-6;

export class TokenBucket {
  /** bytes/s; 0 = unlimited. */
  private rateValue: number;
  private depthValue: number;
  private fixedDepth: number | null;
  private tokens: number;
  private at: number;
  /** Plain field, read on hot paths: whether this bucket limits anything. */
  limited: boolean;
  /** A waiter holds this bucket (set by RateQueue): nobody after it may take from it. */
  held = false;

  /** `rate` bytes/s (0: unlimited); `depth` overrides depthFor(rate). Starts full. */
  constructor(rate: number, now: number, depth?: number) {
    checkRate(rate);
    this.fixedDepth = depth ?? null;
    this.rateValue = rate;
    this.limited = rate > 0;
    this.depthValue = this.fixedDepth ?? depthFor(rate);
    this.tokens = this.depthValue;
    this.at = now;
  }

  get rate(): number { return this.rateValue; }
  get depth(): number { return this.depthValue; }

  /** Tokens at `now` (negative while in debt after a grant larger than the depth). */
  level(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Whether `n` bytes can be granted at `now` (always, when unlimited). */
  canTake(n: number, now: number): boolean {
    if (!this.limited) return true;
    this.refill(now);
    return this.tokens + EPSILON >= Math.min(n, this.depthValue);
  }

  /** Take `n` tokens (the caller asked `canTake`). No-op when unlimited. */
  take(n: number, now: number): void {
    if (!this.limited) return;
    this.refill(now);
    this.tokens -= n;
  }

  /** Give back `n` tokens taken for bytes that were not sent (never above the depth). */
  give(n: number, now: number): void {
    if (!this.limited) return;
    this.refill(now);
    this.tokens = Math.min(this.depthValue, this.tokens + n);
  }

  /** Milliseconds from `now` until `canTake(n)` holds (0: now), whole ms rounded up. */
  delay(n: number, now: number): number {
    if (!this.limited) return 0;
    this.refill(now);
    const missing = Math.min(n, this.depthValue) - this.tokens;
    if (missing <= EPSILON) return 0;
    return Math.ceil((missing * 1000) / this.rateValue);
  }

  /**
   * Change the rate at `now` (0: unlimited). What accrued so far accrued at the old
   * rate; the tokens are capped by the new depth. A bucket that was unlimited starts full.
   */
  setRate(rate: number, now: number): void {
    checkRate(rate);
    this.refill(now);
    const was = this.limited;
    this.rateValue = rate;
    this.limited = rate > 0;
    this.depthValue = this.fixedDepth ?? depthFor(rate);
    this.tokens = was ? Math.min(this.tokens, this.depthValue) : this.depthValue;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) {
      if (this.limited && this.tokens < this.depthValue) {
        this.tokens = Math.min(this.depthValue, this.tokens + ((now - this.at) * this.rateValue) / 1000);
      }
      this.at = now;
    } else if (now < this.at) {
      // The clock went back: nothing accrues for that, and accrual resumes from here
      // (waiting until the old reading comes round again would stall every transfer).
      this.at = now;
    }
  }
}

/** A rate in bytes/s: a finite number ≥ 0 (0 = unlimited). */
export function checkRate(rate: number): void {
  if (!(Number.isFinite(rate) && rate >= 0)) throw new RangeError(`a rate limit must be a finite number of bytes/s ≥ 0 (0: unlimited), got ${rate}`);
}
