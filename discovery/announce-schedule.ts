/**
 * When a torrent announces, to which tracker, with which event: a sans-IO state machine
 * over BEP 12 tiers. Each round walks the tiers in order and the URLs of a tier in
 * their (shuffled once) order until one answers; that one moves to the front of its
 * tier. A round where every tracker failed is retried after a back-off of 15 s
 * doubling to 30 min. After a success the next round is due after the tracker's
 * `interval` (never sooner than its `min interval` or our floor).
 *
 * Events follow each tracker: one that has not yet accepted our `started` gets it
 * (whichever tier we fall over to), `completed` goes out as soon as the download
 * finishes, and `stopped` goes to every tracker that accepted a `started`.
 */
import type { AnnounceEvent } from './announce.js';
import { TrackerError } from './errors.js';

export interface PlannedAnnounce {
  readonly url: string;
  readonly event: AnnounceEvent;
  readonly trackerId?: Uint8Array;
}

export interface AnnounceScheduleOptions {
  /** [0, 1): shuffles each tier once. */
  readonly random: () => number;
  /** Shortest wait between regular announces whatever the tracker says. Default 60 s. */
  readonly minIntervalMs?: number;
  /** Back-off after a round where every tracker failed: base, doubled per failed round, capped. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

interface TrackerState {
  startSent: boolean;
  trackerId?: Uint8Array;
}

export class AnnounceSchedule {
  readonly tiers: string[][];
  private readonly trackers = new Map<string, TrackerState>();
  private tier = 0;
  private index = 0;
  private inFlight: string | null = null;
  private nextAt: number | null = null;
  private failedRounds = 0;
  private completedPending = false;
  private stopped = false;
  private readonly minIntervalMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  /** The last error of each tracker in the current round (for the caller to report). */
  lastErrors = new Map<string, TrackerError>();

  constructor(tiers: readonly (readonly string[])[], opts: AnnounceScheduleOptions) {
    this.tiers = tiers.filter((t) => t.length > 0).map((t) => shuffle([...t], opts.random));
    for (const t of this.tiers) for (const u of t) this.trackers.set(u, { startSent: false });
    this.minIntervalMs = opts.minIntervalMs ?? 60_000;
    this.retryBaseMs = opts.retryBaseMs ?? 15_000;
    this.retryMaxMs = opts.retryMaxMs ?? 30 * 60_000;
  }

  /** The torrent started: the first round is due now. */
  start(now: number): void {
    if (this.stopped || this.tiers.length === 0) return;
    this.nextAt = now;
  }

  /** The download finished: announce `completed` now (ignoring the interval, as clients do). */
  complete(now: number): void {
    if (this.stopped || this.completedPending) return;
    this.completedPending = true;
    if (this.nextAt !== null) this.nextAt = Math.min(this.nextAt, now);
  }

  /** When `poll` has something to hand out (null: nothing scheduled, or one in flight). */
  nextDue(): number | null {
    return this.stopped || this.inFlight !== null ? null : this.nextAt;
  }

  /** The announce due at `now`, if any; it is in flight until `succeeded` or `failed`. */
  poll(now: number): PlannedAnnounce | null {
    if (this.stopped || this.inFlight !== null || this.nextAt === null || now < this.nextAt) return null;
    const url = this.tiers[this.tier][this.index];
    const st = this.trackers.get(url)!;
    this.inFlight = url;
    const event: AnnounceEvent = !st.startSent ? 'started' : this.completedPending ? 'completed' : 'none';
    return st.trackerId !== undefined ? { url, event, trackerId: st.trackerId } : { url, event };
  }

  succeeded(plan: PlannedAnnounce, now: number, r: { interval: number; minInterval?: number; trackerId?: Uint8Array }): void {
    if (this.inFlight !== plan.url) return;
    this.inFlight = null;
    const st = this.trackers.get(plan.url)!;
    if (plan.event === 'started') st.startSent = true;
    if (plan.event === 'completed') this.completedPending = false;
    if (r.trackerId !== undefined) st.trackerId = r.trackerId;
    // BEP 12: a tracker that answered moves to the front of its tier.
    const tier = this.tiers[this.tier];
    tier.splice(this.index, 1);
    tier.unshift(plan.url);
    this.tier = 0;
    this.index = 0;
    this.failedRounds = 0;
    this.lastErrors.clear();
    const waitMs = Math.max(r.interval * 1000, (r.minInterval ?? 0) * 1000, this.minIntervalMs);
    // A `completed` still owed (the tracker only now got our `started`) goes at once.
    this.nextAt = this.completedPending && !this.stopped ? now : now + waitMs;
  }

  failed(plan: PlannedAnnounce, now: number, error: TrackerError): void {
    if (this.inFlight !== plan.url) return;
    this.inFlight = null;
    this.lastErrors.set(plan.url, error);
    this.index++;
    if (this.index >= this.tiers[this.tier].length) { this.tier++; this.index = 0; }
    if (this.tier < this.tiers.length) { this.nextAt = now; return; }
    // Every tracker of every tier failed this round: wait, then start over.
    this.tier = 0;
    this.index = 0;
    this.nextAt = now + this.retryDelay(this.failedRounds);
    this.failedRounds++;
  }

  /** Back-off before the next round after `failedRounds` earlier failed rounds. */
  retryDelay(failedRounds: number): number {
    return Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(failedRounds, 20));
  }

  /** The torrent is closing: a `stopped` for every tracker that knows us; nothing after. */
  stop(): PlannedAnnounce[] {
    if (this.stopped) return [];
    this.stopped = true;
    this.inFlight = null;
    const out: PlannedAnnounce[] = [];
    for (const [url, st] of this.trackers) {
      if (st.startSent) out.push(st.trackerId !== undefined ? { url, event: 'stopped', trackerId: st.trackerId } : { url, event: 'stopped' });
    }
    return out;
  }
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
