/**
 * The trackers of one client: the shared transport, an announcer per torrent that has
 * trackers, and the test of whether a peer a tracker names is this client itself.
 */
import type { PeerAddress } from '../../format/magnet.js';
import { trackerTiers } from '../../discovery/tracker-url.js';
import { Announcer, type AnnounceReport } from './announcer.js';
import { TrackerClient } from './tracker-client.js';
import { isOwnListener, type OwnListener } from '../net/own-listener.js';
import type { Torrent } from '../engine/torrent.js';

export interface TrackerSettings {
  /** Deadline of one HTTP exchange. Default 15 s. */
  readonly httpTimeoutMs?: number;
  /** UDP retransmissions before a tracker counts as failed. Default 2. */
  readonly udpRetransmits?: number;
  /** Peers asked for per announce. Default 50. */
  readonly numwant?: number;
  /** Shortest time between regular announces. Default 60 s. */
  readonly minIntervalMs?: number;
}

/** One tracker's answer to a scrape: its counts for the torrent, or why it gave none. */
export type ScrapeReport =
  | { readonly url: string; readonly complete: number; readonly incomplete: number; readonly downloaded: number; readonly error?: undefined }
  | { readonly url: string; readonly error: Error };

export interface ClientTrackersHost extends OwnListener {
  readonly peerId: Uint8Array;
  now(): number;
}

export class ClientTrackers {
  private readonly transport: TrackerClient;
  private readonly announcers = new Set<Announcer>();

  constructor(
    private readonly host: ClientTrackersHost,
    private readonly settings: TrackerSettings,
    private readonly onReport: (t: Torrent, r: AnnounceReport) => void,
  ) {
    this.transport = new TrackerClient({
      now: () => host.now(), localAddress: host.localAddress,
      httpTimeoutMs: settings.httpTimeoutMs, udpRetransmits: settings.udpRetransmits,
    });
  }

  /** An announcer for a torrent with these trackers (null when none is usable). Start it with `start(t)`. */
  announcerFor(announce: string | undefined, announceList: readonly (readonly string[])[] | undefined, torrent: () => Torrent | null): Announcer | null {
    const tiers = trackerTiers(announce, announceList);
    if (tiers.length === 0) return null;
    const host = this.host;
    const a = new Announcer(tiers, {
      peerId: host.peerId,
      port: () => host.port(),
      now: () => host.now(),
      isSelf: (p) => this.isSelf(p),
      announce: (url, r, timeoutMs) => this.transport.announce(url, r, timeoutMs),
    }, {
      numwant: this.settings.numwant,
      minIntervalMs: this.settings.minIntervalMs,
      onReport: (r) => { const t = torrent(); if (t !== null) this.onReport(t, r); },
      onStopped: () => this.announcers.delete(a),
    });
    this.announcers.add(a);
    return a;
  }

  /**
   * Ask each tracker (deduplicated, in tier order) what it counts for `infoHash`; trackers
   * are asked in parallel and each answer or failure is reported, none is thrown.
   */
  async scrape(tiers: readonly (readonly string[])[], infoHash: Uint8Array): Promise<ScrapeReport[]> {
    const urls = [...new Set(tiers.flat())];
    return Promise.all(urls.map(async (url): Promise<ScrapeReport> => {
      try {
        const [entry] = await this.transport.scrape(url, [infoHash]);
        return { url, ...entry };
      } catch (e) {
        return { url, error: e instanceof Error ? e : new Error(String(e)) };
      }
    }));
  }

  /** Whether `p` is our own listener. */
  isSelf(p: PeerAddress): boolean { return isOwnListener(p, this.host); }

  /** Send every torrent's `stopped` (bounded), then close the transport. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.announcers].map((a) => a.stop()));
    this.announcers.clear();
    this.transport.close();
  }
}
