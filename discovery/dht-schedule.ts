/**
 * When one torrent walks the DHT: a sans-IO clock of its lookups. A walk is an
 * `announce` (get_peers to the closest nodes, then announce_peer to them with our
 * port) when we listen, else a `lookup` (get_peers only). One walk at a time.
 *
 * BEP 5: nodes forget a peer some time after it announced (libtorrent: 30 min), so a
 * torrent re-announces every `intervalMs` (default 15 min, libtorrent's value). A
 * walk that reached no node, or that found no new peer while we still need some, is
 * retried sooner: after `retryBaseMs`, doubling up to `retryMaxMs` (the seeder may
 * announce after our first walk; a node just started may know no one yet).
 */
export type DhtWalk = 'announce' | 'lookup';

export interface DhtScheduleOptions {
  /** Between walks once one succeeded (or we need no peers). Default 15 min. */
  readonly intervalMs?: number;
  /** First retry after a failed or fruitless walk; doubled per such walk. Default 5 s. */
  readonly retryBaseMs?: number;
  /** Longest wait between retries. Default 5 min (never beyond intervalMs). */
  readonly retryMaxMs?: number;
}

export interface DhtWalkResult {
  /** Nodes that answered (0: the walk failed). */
  readonly nodes: number;
  /** Peers it gave us that we did not know. */
  readonly newPeers: number;
  /** Whether we still wanted peers when it ended (downloading, or metadata missing). */
  readonly wantPeers: boolean;
}

export class DhtSchedule {
  private nextAt: number | null = null;
  private inFlight = false;
  private stopped = false;
  private misses = 0;
  readonly intervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(opts: DhtScheduleOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 15 * 60_000;
    this.retryBaseMs = opts.retryBaseMs ?? 5_000;
    this.retryMaxMs = Math.min(opts.retryMaxMs ?? 5 * 60_000, this.intervalMs);
  }

  /** The torrent started: the first walk is due now. */
  start(now: number): void {
    if (!this.stopped && this.nextAt === null && !this.inFlight) this.nextAt = now;
  }

  /** When `poll` next hands out a walk (null: stopped, not started, or one in flight). */
  nextDue(): number | null {
    return this.stopped || this.inFlight ? null : this.nextAt;
  }

  /** The walk due at `now`, if any: `announce` when we have a port to announce. It is in flight until `finished`. */
  poll(now: number, canAnnounce: boolean): DhtWalk | null {
    if (this.stopped || this.inFlight || this.nextAt === null || now < this.nextAt) return null;
    this.inFlight = true;
    this.nextAt = null;
    return canAnnounce ? 'announce' : 'lookup';
  }

  /** The walk in flight ended at `now`. Returns when the next one is due. */
  finished(now: number, r: DhtWalkResult): number | null {
    if (!this.inFlight) return this.nextDue();
    this.inFlight = false;
    if (this.stopped) return null;
    const miss = r.nodes === 0 || (r.wantPeers && r.newPeers === 0);
    if (miss) {
      this.misses++;
      const wait = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(this.misses - 1, 30));
      this.nextAt = now + wait;
    } else {
      this.misses = 0;
      this.nextAt = now + this.intervalMs;
    }
    return this.nextAt;
  }

  /** No more walks (the torrent closed, or it turned out to be private). */
  stop(): void {
    this.stopped = true;
    this.nextAt = null;
  }

  get isStopped(): boolean { return this.stopped; }
}
