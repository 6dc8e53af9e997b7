/**
 * A torrent's announcer: drives discovery/announce-schedule.ts with the torrent's real
 * numbers and the client's tracker transport, and hands the peers it learns to the
 * torrent. It is a torrent plugin for the two hooks it needs from the torrent: `tick`
 * (about once a second: is an announce due?) and `onTorrentClosed` (send `stopped`).
 */
import { randomBytes } from 'node:crypto';
import type { AnnounceEvent, AnnounceRequest, AnnounceResponse } from '../../discovery/announce.js';
import { AnnounceSchedule, type PlannedAnnounce } from '../../discovery/announce-schedule.js';
import { TrackerError } from '../../discovery/errors.js';
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { TorrentPlugin } from '../../extensions/plugin.js';
import type { Torrent } from '../engine/torrent.js';

/** What an announcer needs from its client. */
export interface AnnouncerHost {
  readonly peerId: Uint8Array;
  /** Our listening port (null: not listening; announced as 0). */
  port(): number | null;
  now(): number;
  /** Whether an address is this client's own listener (trackers list us among the peers). */
  isSelf(addr: PeerAddress): boolean;
  announce(url: string, r: AnnounceRequest, timeoutMs?: number): Promise<AnnounceResponse>;
}

export interface AnnounceReport {
  readonly url: string;
  readonly event: AnnounceEvent;
  /** Peers it returned that we did not know (after dropping ourselves). */
  readonly newPeers?: number;
  readonly response?: AnnounceResponse;
  readonly error?: TrackerError;
}

export interface AnnouncerOptions {
  /** Peers asked for per announce. Default 50. */
  readonly numwant?: number;
  /** Most distinct peers taken from trackers over the torrent's life. Default 500. */
  readonly maxPeers?: number;
  /** How long a `stopped` may take at close. Default 5 s. */
  readonly stopTimeoutMs?: number;
  /** Shortest time between regular announces. Default 60 s. */
  readonly minIntervalMs?: number;
  readonly random?: () => number;
  readonly onReport?: (r: AnnounceReport) => void;
  /** Called once every `stopped` is answered or timed out. */
  readonly onStopped?: () => void;
}

/**
 * Bytes we still need while a magnet link's metadata is unknown: not 0 (that would tell
 * the tracker we are a seed and get us no seeds back); libtorrent sends the same.
 */
const UNKNOWN_LEFT = 16 * 1024;

export class Announcer implements TorrentPlugin {
  readonly name = 'tracker announcer';
  private readonly schedule: AnnounceSchedule;
  private readonly key = randomBytes(4).readUInt32BE(0);
  private readonly added = new Set<string>();
  private torrent: Torrent | null = null;
  private stopping: Promise<void> | null = null;

  constructor(tiers: readonly (readonly string[])[], private readonly host: AnnouncerHost, private readonly opts: AnnouncerOptions = {}) {
    this.schedule = new AnnounceSchedule(tiers, { random: opts.random ?? Math.random, minIntervalMs: opts.minIntervalMs });
  }

  /** Begin announcing for `t` (started, now). Call once the torrent has started. */
  start(t: Torrent): void {
    if (this.torrent !== null || t.isClosed) return;
    this.torrent = t;
    const completeAtStart = t.isComplete;
    // `completed` is for a download that finished here, not for data that was already whole.
    if (!completeAtStart) t.once('done', () => { this.schedule.complete(this.host.now()); this.pump(); });
    this.schedule.start(this.host.now());
    this.pump();
  }

  tick(): void { this.pump(); }

  onTorrentClosed(): void { void this.stop(); }

  /** Send `stopped` to every tracker that knows us (bounded by stopTimeoutMs); idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    const plans = this.torrent === null ? [] : this.schedule.stop();
    const timeoutMs = this.opts.stopTimeoutMs ?? 5_000;
    this.stopping = Promise.all(plans.map(async (p) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TrackerError('TIMEOUT', `no answer to stopped within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const response = await Promise.race([this.host.announce(p.url, this.request(p), timeoutMs), deadline]);
        this.opts.onReport?.({ url: p.url, event: p.event, response });
      } catch (e) {
        this.opts.onReport?.({ url: p.url, event: p.event, error: asTrackerError(e) });
      } finally {
        clearTimeout(timer);
      }
    })).then(() => { this.opts.onStopped?.(); });
    return this.stopping;
  }

  private pump(): void {
    const t = this.torrent;
    if (t === null || t.isClosed) return;
    const now = this.host.now();
    const plan = this.schedule.poll(now);
    if (plan === null) return;
    let req: AnnounceRequest;
    try {
      req = this.request(plan);
    } catch (e) {
      this.schedule.failed(plan, now, asTrackerError(e));
      return;
    }
    this.host.announce(plan.url, req).then(
      (r) => this.onAnswer(plan, r),
      (e: unknown) => {
        const error = asTrackerError(e);
        this.schedule.failed(plan, this.host.now(), error);
        this.opts.onReport?.({ url: plan.url, event: plan.event, error });
        this.pump(); // the next tracker of the round is due now
      },
    );
  }

  private onAnswer(plan: PlannedAnnounce, r: AnnounceResponse): void {
    this.schedule.succeeded(plan, this.host.now(), r);
    const t = this.torrent!;
    let fresh = 0;
    const cap = this.opts.maxPeers ?? 500;
    for (const p of r.peers) {
      if (t.isClosed) break;
      if (p.port === 0 || this.host.isSelf(p)) continue;
      const k = formatPeerAddress(p);
      if (this.added.has(k)) continue;
      // A tracker cannot grow the torrent's peer table without bound.
      if (this.added.size >= cap) break;
      this.added.add(k);
      fresh++;
      t.addPeer(p);
    }
    this.opts.onReport?.({ url: plan.url, event: plan.event, newPeers: fresh, response: r });
    this.pump(); // an owed `completed` may be due at once
  }

  private request(plan: PlannedAnnounce): AnnounceRequest {
    const t = this.torrent!;
    const p = t.progress();
    const stats = t.stats();
    const left = t.metainfo === null ? UNKNOWN_LEFT : Math.max(0, p.bytesTotal - p.bytesHave);
    const r: AnnounceRequest = {
      infoHash: t.infoHash, peerId: this.host.peerId, port: this.host.port() ?? 0,
      uploaded: stats.uploaded, downloaded: stats.downloaded, left, event: plan.event,
      numwant: plan.event === 'stopped' ? 0 : this.opts.numwant ?? 50, key: this.key,
    };
    return plan.trackerId !== undefined ? { ...r, trackerId: plan.trackerId } : r;
  }
}

function asTrackerError(e: unknown): TrackerError {
  return e instanceof TrackerError ? e : new TrackerError('NETWORK', e instanceof Error ? e.message : String(e), { cause: e });
}
