/**
 * Peer exchange (BEP 11, ut_pex) for one torrent, as a torrent plugin: a PexHook per
 * connection, and the torrent-wide view both directions need.
 *
 *  - Telling: about once a second (`tick`), every peer that speaks ut_pex and may hear
 *    from us again (PexPeerState: one message a minute) gets the diff of our connected
 *    peers' listen addresses since its last message, with their flags (seed, prefers
 *    encryption, reachable). A peer that dialled us and gave no listen port is not
 *    listed: its source port reaches nobody.
 *  - Learning: what a connection teaches (already bounded and filtered by its
 *    PexPeerState) goes to the torrent's dial queue (`PexHost.addPeer`) unless it is
 *    us, a peer we are connected to, an address the torrent already knows, or a seed
 *    while we are a seed too (neither has anything for the other, as libtorrent
 *    skips). At most `maxCandidates` addresses over the torrent's life come from PEX,
 *    whatever the number of connections (the announcer's cap for trackers, likewise).
 *  - Private torrents (BEP 27: info dict `private=1`) never use PEX: no hook is made
 *    (ut_pex is not advertised), and a magnet link whose info dict turns out private
 *    stops sending and taking PEX at once.
 */
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { PluginPeer, TorrentPlugin } from '../plugin.js';
import type { ExtensionConnectionInfo } from '../registry.js';
import { PEX_FLAGS, UT_PEX, type PexPeer } from './codec.js';
import { PexHook, type PexHookHost } from './hook.js';
import type { PexCandidate, PexLimits } from './peer-state.js';

/** What the plugin needs from its torrent (a thin adapter in lib/ provides it). */
export interface PexHost {
  /** Hand an address to the torrent's dial queue. */
  addPeer(addr: PeerAddress): void;
  /** Whether the torrent already has this address (given, dialled, connected). */
  knowsPeer(addr: PeerAddress): boolean;
  /** Whether `addr` is our own listener. */
  isSelf(addr: PeerAddress): boolean;
  /** We hold every piece. */
  isComplete(): boolean;
  /** The info dict says `private=1` (false while a magnet link's metadata is unknown). */
  isPrivate(): boolean;
}

export interface PexPluginOptions {
  /** Per-connection bounds and timings (peer-state.ts PEX_LIMITS). */
  readonly limits?: Partial<PexLimits>;
  /** Addresses PEX may add to the torrent over its life. Default 500. */
  readonly maxCandidates?: number;
  /** An address learnt by PEX went to the dial queue (`from`: the label of the connection that taught it). */
  readonly onLearn?: (peer: PexPeer, from: string) => void;
}

export interface PexStats {
  /** Messages sent / received over every connection that ended or is open. */
  readonly sent: number;
  readonly received: number;
  /** Addresses handed to the dial queue. */
  readonly added: number;
}

export class PexPlugin implements TorrentPlugin, PexHookHost {
  readonly name = UT_PEX;
  private readonly peers = new Map<number, { readonly peer: PluginPeer; readonly hook: PexHook }>();
  /** Keys of the addresses PEX gave the torrent (at most maxCandidates). */
  private readonly fed = new Set<string>();
  private sentBefore = 0;
  private receivedBefore = 0;

  constructor(private readonly host: PexHost, private readonly opts: PexPluginOptions = {}) {}

  get enabled(): boolean { return !this.host.isPrivate(); }

  create(info: ExtensionConnectionInfo): PexHook | null {
    return this.enabled ? new PexHook(info, this, this.opts.limits) : null;
  }

  onPeerAdded(peer: PluginPeer): void {
    const hook = peer.hook(UT_PEX);
    if (hook instanceof PexHook) this.peers.set(peer.id, { peer, hook });
  }

  onPeerRemoved(peer: PluginPeer): void {
    const e = this.peers.get(peer.id);
    if (e === undefined) return;
    this.peers.delete(peer.id);
    this.sentBefore += e.hook.state.stats.sent;
    this.receivedBefore += e.hook.state.stats.received;
  }

  onTorrentClosed(): void { this.peers.clear(); }

  stats(): PexStats {
    let sent = this.sentBefore;
    let received = this.receivedBefore;
    for (const { hook } of this.peers.values()) {
      const s = hook.state.stats;
      sent += s.sent;
      received += s.received;
    }
    return { sent, received, added: this.fed.size };
  }

  tick(now: number): void {
    if (!this.enabled) return;
    let current: Map<string, PexCandidate> | null = null;
    for (const { hook } of this.peers.values()) {
      if (!hook.speaksPex || !hook.state.canSend(now)) continue;
      current ??= this.connected();
      const msg = hook.state.nextMessage(now, current, hook.listenKey());
      if (msg !== null) hook.send(msg);
    }
  }

  /** PexHookHost: a connection taught these addresses. */
  learned(from: PexHook, peers: readonly PexPeer[]): void {
    if (!this.enabled) return;
    const cap = this.opts.maxCandidates ?? 500;
    const connected = new Set<string>();
    for (const { hook } of this.peers.values()) {
      const k = hook.listenKey();
      if (k !== null) connected.add(k);
    }
    const seeding = this.host.isComplete();
    for (const p of peers) {
      if (this.fed.size >= cap) return;
      const addr: PeerAddress = { host: p.host, port: p.port };
      const key = formatPeerAddress(addr);
      if (this.fed.has(key) || connected.has(key) || (seeding && (p.flags & PEX_FLAGS.SEED) !== 0)) continue;
      if (this.host.isSelf(addr) || this.host.knowsPeer(addr)) continue;
      this.fed.add(key);
      this.host.addPeer(addr);
      this.opts.onLearn?.(p, from.peer);
    }
  }

  /** Our connected peers that others can reach, keyed by listen address. */
  private connected(): Map<string, PexCandidate> {
    const out = new Map<string, PexCandidate>();
    for (const { peer, hook } of this.peers.values()) {
      const address = hook.listenAddress();
      if (address === null) continue;
      const key = formatPeerAddress(address);
      out.set(key, { key, address, flags: hook.flags(peer.isSeed) });
    }
    return out;
  }
}

/** The PEX plugin for one torrent (give each torrent its own). */
export function peerExchange(host: PexHost, opts: PexPluginOptions = {}): PexPlugin {
  return new PexPlugin(host, opts);
}
