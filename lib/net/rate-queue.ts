/**
 * Who gets the tokens next, sans-IO: the waiters of one direction (upload or
 * download) of one client, each needing bytes from a chain of token buckets at once,
 * most shared first (the client's, then its torrent's): a grant takes from all of them.
 *
 * Order: waiters are walked oldest first. One that cannot be granted *holds* the bucket
 * that stops it and every more specific one of its chain: later waiters may not take
 * from a held bucket, nor may a new request (`tryTake`). So
 *  - within a torrent, peers are served strictly in turn, a block each;
 *  - a torrent stopped by its own limit holds only its own bucket: the other torrents
 *    go on under the client's limit;
 *  - nobody starves: a waiter stopped by the client's limit holds it with its torrent's,
 *    so no later waiter drains either, and it is granted once they refill (after the
 *    finitely many waiters ahead of it).
 * Time is an input: `poll(now)` grants, `nextWake(now)` says when to poll again and
 * must follow every change of the queue (it also recomputes what is held). The
 * adapter (rate-limiter.ts) owns the timer.
 */
import type { TokenBucket } from './token-bucket.js';

export interface RateWaiter {
  /** Bytes it waits for. */
  readonly need: number;
  /** Every one of them must grant it (unlimited ones always do), most shared first. */
  readonly buckets: readonly TokenBucket[];
}

export class RateQueue<W extends RateWaiter> {
  private q: W[] = [];

  /** Waiters queued. */
  get size(): number { return this.q.length; }

  /**
   * Take `n` from every bucket now if each has it and no waiter holds any of them (a
   * request may not overtake the waiters it would delay). False: nothing was taken.
   */
  tryTake(buckets: readonly TokenBucket[], n: number, now: number): boolean {
    for (const b of buckets) if (b.limited && (b.held || !b.canTake(n, now))) return false;
    for (const b of buckets) b.take(n, now);
    return true;
  }

  /** Queue a waiter (at the tail); call `nextWake` next. */
  push(w: W): void {
    this.q.push(w);
  }

  /** Remove a queued waiter (call `nextWake` next); false if it was not queued (granted already, or never). */
  cancel(w: W): boolean {
    const i = this.q.indexOf(w);
    if (i < 0) return false;
    this.q.splice(i, 1);
    for (const b of w.buckets) b.held = false;
    return true;
  }

  /** Drop every waiter (none is granted); returns them. */
  clear(): W[] {
    const all = this.q;
    this.q = [];
    for (const w of all) for (const b of w.buckets) b.held = false;
    return all;
  }

  /** Grant every waiter that can be granted at `now`, oldest first; they leave the queue. */
  poll(now: number): W[] {
    const granted: W[] = [];
    this.walk(now, granted);
    return granted;
  }

  /**
   * When `poll` will grant someone if nothing else happens meanwhile (ms, absolute;
   * null: nobody waits). Recomputes which buckets the waiters hold.
   */
  nextWake(now: number): number | null {
    return this.walk(now, null);
  }

  /**
   * Oldest first: grant (when `granted` is given) or hold. Returns the earliest time one
   * of the waiters no earlier waiter holds back could be granted.
   */
  private walk(now: number, granted: W[] | null): number | null {
    const q = this.q;
    if (q.length === 0) return null;
    for (const w of q) for (const b of w.buckets) b.held = false;
    let keep = 0;
    let best = Infinity;
    for (const w of q) {
      const bs = w.buckets;
      let stop = -1;
      let heldBack = false;
      for (let i = 0; i < bs.length; i++) {
        const b = bs[i];
        if (!b.limited) continue;
        if (b.held) { stop = i; heldBack = true; break; }
        if (!b.canTake(w.need, now)) { stop = i; break; }
      }
      if (stop < 0 && granted !== null) {
        for (const b of bs) b.take(w.need, now);
        granted.push(w);
        continue;
      }
      if (stop < 0) {
        best = now;
      } else {
        if (!heldBack) {
          let d = 0;
          for (const b of bs) if (b.limited) d = Math.max(d, b.delay(w.need, now));
          if (now + d < best) best = now + d;
        }
        for (let i = stop; i < bs.length; i++) if (bs[i].limited) bs[i].held = true;
      }
      q[keep++] = w;
    }
    q.length = keep;
    return keep === 0 ? null : best;
  }
}
