/**
 * The trackers of one client: the shared transport, an announcer per torrent that has
 * trackers, and the test of whether a peer a tracker names is this client itself.
 */
import type { PeerAddress } from '../../format/magnet.js';
import { trackerTiers } from '../../discovery/tracker-url.js';
import { Announcer, type AnnounceReport } from './announcer.js';
import { TrackerClient } from './tracker-client.js';
import { isOwnAddress } from './own-address.js';
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

export interface ClientTrackersHost {
  readonly peerId: Uint8Array;
  port(): number | null;
  /** The address we listen on (null before listen). */
  listenHost(): string | null;
  readonly localAddress: string | undefined;
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

  /** Whether `p` is our own listener: our port on our listen address (any local one if unspecified). */
  isSelf(p: PeerAddress): boolean {
    return isOwnAddress(p, this.host.port(), this.host.listenHost(), this.host.localAddress);
  }

  /** Send every torrent's `stopped` (bounded), then close the transport. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.announcers].map((a) => a.stop()));
    this.announcers.clear();
    this.transport.close();
  }
}
