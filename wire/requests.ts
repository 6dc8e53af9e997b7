/**
 * Block-request bookkeeping for one peer connection (sans-IO, time passed in).
 *
 * Two books:
 *  - `OutboundRequests`: what WE asked the peer for. Each entry is in flight until a
 *    piece or reject answers it. A request we cancel (or that a non-fast peer
 *    dropped by choking us) moves to a "cancelled" set for one more timeout, so a
 *    piece that crossed our cancel on the wire is still recognised as requested
 *    (the BEP 3 cancel race) instead of being an error, and so the set stays bounded.
 *  - `InboundRequests`: what the PEER asked us for, bounded by the `reqq` we advertise.
 *
 * Keys are `index:begin:length` strings: a piece answers a request only when all
 * three match (the piece's length is its block length).
 */

import type { BlockRef } from './messages.js';

export type { BlockRef };

export function blockKey(index: number, begin: number, length: number): string {
  return `${index}:${begin}:${length}`;
}

type OutState = 'inflight' | 'cancelled' | 'done';

interface OutEntry {
  readonly ref: BlockRef;
  readonly key: string;
  readonly sentAt: number;
  state: OutState;
  /** The request-timeout event was already reported for this entry. */
  timedOut: boolean;
}

/** One deadline in the timeout queue. Deadlines are pushed in non-decreasing order of `now`. */
interface Deadline {
  readonly entry: OutEntry;
  readonly at: number;
  /** What the deadline ends: the in-flight wait (report a timeout) or the cancelled grace period. */
  readonly kind: 'inflight' | 'cancelled';
}

export class OutboundRequests {
  private readonly inflight = new Map<string, OutEntry>();
  private readonly cancelled = new Map<string, OutEntry>();
  private queue: Deadline[] = [];
  private head = 0;

  constructor(private readonly timeoutMs: number) {}

  /** Requests waiting for a piece or reject (cancelled ones excluded). */
  get size(): number { return this.inflight.size; }
  get cancelledSize(): number { return this.cancelled.size; }

  has(index: number, begin: number, length: number): boolean {
    return this.inflight.has(blockKey(index, begin, length));
  }

  add(ref: BlockRef, now: number): void {
    const key = blockKey(ref.index, ref.begin, ref.length);
    // A re-request of a block we cancelled: the old cancelled entry is superseded.
    const old = this.cancelled.get(key);
    if (old) { old.state = 'done'; this.cancelled.delete(key); }
    const e: OutEntry = { ref, key, sentAt: now, state: 'inflight', timedOut: false };
    this.inflight.set(key, e);
    this.push({ entry: e, at: now + this.timeoutMs, kind: 'inflight' });
  }

  /** Move an in-flight request to the cancelled set; returns false if it was not in flight. */
  cancel(index: number, begin: number, length: number, now: number): boolean {
    const key = blockKey(index, begin, length);
    const e = this.inflight.get(key);
    if (!e) return false;
    this.inflight.delete(key);
    this.toCancelled(e, now);
    return true;
  }

  /** Every in-flight request becomes cancelled (a non-fast peer choked us); returns them. */
  dropAll(now: number): BlockRef[] {
    const out: BlockRef[] = [];
    for (const e of this.inflight.values()) { out.push(e.ref); this.toCancelled(e, now); }
    this.inflight.clear();
    return out;
  }

  /**
   * A piece or reject arrived for (index, begin, length).
   * 'inflight': it answered a live request; 'cancelled': a late answer to a cancelled one;
   * null: we never asked (or already got it).
   */
  settle(index: number, begin: number, length: number): 'inflight' | 'cancelled' | null {
    const key = blockKey(index, begin, length);
    let e = this.inflight.get(key);
    if (e) { this.inflight.delete(key); e.state = 'done'; return 'inflight'; }
    e = this.cancelled.get(key);
    if (e) { this.cancelled.delete(key); e.state = 'done'; return 'cancelled'; }
    return null;
  }

  /** Snapshot of the in-flight requests in send order. */
  list(): BlockRef[] {
    return [...this.inflight.values()].map((e) => e.ref);
  }

  /**
   * Advance to `now`: returns the in-flight requests whose timeout just expired (each
   * reported once; they stay in flight, the application decides to cancel or wait),
   * and forgets cancelled entries whose grace period is over.
   */
  expire(now: number): BlockRef[] {
    const out: BlockRef[] = [];
    while (this.head < this.queue.length) {
      const d = this.queue[this.head];
      if (d.entry.state !== d.kind) { this.head++; continue; } // stale: settled or moved on
      if (d.kind === 'inflight' && d.entry.timedOut) { this.head++; continue; }
      if (d.at > now) break;
      this.head++;
      if (d.kind === 'inflight') {
        d.entry.timedOut = true;
        out.push(d.entry.ref);
      } else {
        d.entry.state = 'done';
        this.cancelled.delete(d.entry.key);
      }
    }
    this.compact();
    return out;
  }

  /** The earliest deadline still pending, or null. Skips stale queue heads (amortised O(1)). */
  nextDeadline(): number | null {
    while (this.head < this.queue.length) {
      const d = this.queue[this.head];
      if (d.entry.state !== d.kind || (d.kind === 'inflight' && d.entry.timedOut)) { this.head++; continue; }
      return d.at;
    }
    this.compact();
    return null;
  }

  private toCancelled(e: OutEntry, now: number): void {
    e.state = 'cancelled';
    this.cancelled.set(e.key, e);
    this.push({ entry: e, at: now + this.timeoutMs, kind: 'cancelled' });
  }

  private push(d: Deadline): void {
    this.queue.push(d);
  }

  private compact(): void {
    if (this.head === this.queue.length) { this.queue = []; this.head = 0; return; }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

/** The peer's outstanding requests to us, in arrival order, bounded by our advertised reqq. */
export class InboundRequests {
  private readonly pending = new Map<string, BlockRef>();

  get size(): number { return this.pending.size; }

  has(index: number, begin: number, length: number): boolean {
    return this.pending.has(blockKey(index, begin, length));
  }

  /** Returns false if the same block is already pending (a duplicate request). */
  add(ref: BlockRef): boolean {
    const key = blockKey(ref.index, ref.begin, ref.length);
    if (this.pending.has(key)) return false;
    this.pending.set(key, ref);
    return true;
  }

  remove(index: number, begin: number, length: number): boolean {
    return this.pending.delete(blockKey(index, begin, length));
  }

  /** Remove and return every pending request for which `pred` holds. */
  removeWhere(pred: (r: BlockRef) => boolean): BlockRef[] {
    const out: BlockRef[] = [];
    for (const [k, r] of this.pending) {
      if (pred(r)) { out.push(r); this.pending.delete(k); }
    }
    return out;
  }

  list(): BlockRef[] { return [...this.pending.values()]; }
}
