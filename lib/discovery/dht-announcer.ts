/**
 * A torrent's DHT walker: drives discovery/dht-schedule.ts with the client's DHT node,
 * announces our listen port, and hands the peers it finds to the torrent, as the
 * tracker announcer does (announcer.ts). A torrent plugin for `tick` and `onTorrentClosed`.
 *
 * Private torrents (BEP 27) never reach the DHT: the client makes no walker for one,
 * and a magnet link's walker stops for good (and feeds no more peers) once its
 * metadata turns out to be private.
 */
import type { PeerAddress } from '../../format/magnet.js';
import { formatPeerAddress } from '../../format/magnet.js';
import { DhtSchedule, type DhtScheduleOptions, type DhtWalk } from '../../discovery/dht-schedule.js';
import type { TorrentPlugin } from '../../extensions/plugin.js';
import type { Torrent } from '../engine/torrent.js';
import type { WalkResult } from './dht-node.js';

/** What a walker needs from its client. */
export interface DhtAnnouncerHost {
  /** Our listening port (null: not listening; then we only look up). */
  port(): number | null;
  now(): number;
  isSelf(addr: PeerAddress): boolean;
  /** The DHT node once it runs and has bootstrapped (null until then). */
  node(): { walk(infoHash: Uint8Array, port: number | null, onPeer: (p: PeerAddress) => void): Promise<WalkResult> } | null;
}

export interface DhtReport {
  readonly walk: DhtWalk;
  /** Nodes that answered. */
  readonly nodes: number;
  /** Peers it gave that we did not know (after dropping ourselves). */
  readonly newPeers: number;
  readonly error?: Error;
}

export interface DhtAnnouncerOptions extends DhtScheduleOptions {
  /** Most distinct peers taken from the DHT over the torrent's life. Default 500. */
  readonly maxPeers?: number;
  readonly onReport?: (r: DhtReport) => void;
}

export class DhtAnnouncer implements TorrentPlugin {
  readonly name = 'dht announcer';
  private readonly schedule: DhtSchedule;
  private readonly added = new Set<string>();
  private torrent: Torrent | null = null;

  constructor(private readonly host: DhtAnnouncerHost, private readonly opts: DhtAnnouncerOptions = {}) {
    this.schedule = new DhtSchedule(opts);
  }

  /** Begin walking for `t`. Call once the torrent has started. */
  start(t: Torrent): void {
    if (this.torrent !== null || t.isClosed) return;
    this.torrent = t;
    if (t.metainfo?.private === true) { this.schedule.stop(); return; }
    t.once('metadata', (m) => { if (m.private) this.turnPrivate(t); });
    this.schedule.start(this.host.now());
    this.pump();
  }

  tick(): void { this.pump(); }

  onTorrentClosed(): void { this.schedule.stop(); }

  get stopped(): boolean { return this.schedule.isStopped; }

  private pump(): void {
    const t = this.torrent;
    if (t === null || t.isClosed || this.schedule.isStopped) return;
    const node = this.host.node();
    if (node === null) return;
    const port = this.host.port();
    const walk = this.schedule.poll(this.host.now(), port !== null);
    if (walk === null) return;
    let fresh = 0;
    const onPeer = (p: PeerAddress): void => { if (this.feed(t, p)) fresh++; };
    void node.walk(t.infoHash, walk === 'announce' ? port : null, onPeer).then((r) => {
      this.schedule.finished(this.host.now(), { nodes: r.nodes, newPeers: fresh, wantPeers: !t.isComplete });
      this.opts.onReport?.({ walk, nodes: r.nodes, newPeers: fresh, error: r.error });
    });
  }

  /** BEP 27: a private torrent uses no peer from the DHT, even those that gave us its metadata. */
  private turnPrivate(t: Torrent): void {
    this.schedule.stop();
    for (const k of this.added) t.forgetPeer(k);
    this.added.clear();
  }

  /** Give a peer to the torrent: once, not ourselves, not past the cap, only while we need peers. */
  private feed(t: Torrent, p: PeerAddress): boolean {
    // A seed does not dial the swarm: leechers that want our data find us.
    if (t.isClosed || this.schedule.isStopped || t.isComplete) return false;
    if (p.port === 0 || this.host.isSelf(p)) return false;
    const k = formatPeerAddress(p);
    if (this.added.has(k) || this.added.size >= (this.opts.maxPeers ?? 500)) return false;
    this.added.add(k);
    t.addPeer(p);
    return true;
  }
}
