/**
 * The DHT of one client: one node (dht-node.ts) on the client's listen address, started
 * by `listen`, and a walker (dht-announcer.ts) per public torrent.
 *
 * Which nodes it bootstraps from: those given; by default the public routers, but only
 * when the client listens on an address that can reach them. A client on loopback with
 * no bootstrap nodes given runs no DHT at all (there is no one to reach), so tests and
 * loopback embedders never send a packet toward the internet unless they ask to.
 */
import type { PeerAddress } from '../../format/magnet.js';
import type { SourceRateOptions } from '../../discovery/source-rate.js';
import type { Torrent } from '../engine/torrent.js';
import { DhtAnnouncer, type DhtReport } from './dht-announcer.js';
import { DhtNode, PUBLIC_BOOTSTRAP } from './dht-node.js';
import { isOwnListener } from '../net/own-listener.js';

export interface DhtOptions {
  /**
   * Nodes to bootstrap from ("host:port", names allowed). Default: the public routers
   * (router.bittorrent.com and others) when the client listens on a non-loopback
   * address; on loopback with none given the DHT does not run. `[]`: none (the node
   * waits to be contacted: the first node of a private DHT).
   */
  readonly bootstrap?: readonly string[];
  /** UDP port of the node. Default: the client's TCP listen port (any free port if taken). */
  readonly port?: number;
  /** 20-byte node id. Default random. */
  readonly nodeId?: Uint8Array;
  /** Re-announce (and look up) every so often. Default 15 min. */
  readonly announceIntervalMs?: number;
  /** Retry of a walk that reached no node or found no new peer while we need some: first wait, doubled. Default 5 s. */
  readonly retryBaseMs?: number;
  /** Longest retry wait. Default 5 min. */
  readonly retryMaxMs?: number;
  /** Most distinct peers one torrent takes from the DHT. Default 500. */
  readonly maxPeers?: number;
  /** Peers the node stores for others (all info hashes). Default 10 000. */
  readonly maxStoredPeers?: number;
  /** Queries answered per source address. Default 200 per 10 s; false: no limit. */
  readonly queryRate?: SourceRateOptions | false;
}

/** What happened in the client's DHT (the client's `dht` event). */
export type DhtEvent =
  | { readonly type: 'started'; readonly address: PeerAddress; readonly bootstrap: readonly string[] }
  | { readonly type: 'off'; readonly reason: string }
  | { readonly type: 'failed'; readonly error: Error }
  | ({ readonly type: 'walk' } & DhtReport);

export interface ClientDhtHost {
  port(): number | null;
  listenHost(): string | null;
  readonly localAddress: string | undefined;
  now(): number;
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === 'localhost';
}

export class ClientDht {
  private node: DhtNode | null = null;
  private off = false;
  private closed = false;
  private starting: Promise<void> | null = null;

  constructor(
    private readonly host: ClientDhtHost,
    private readonly settings: DhtOptions,
    private readonly onEvent: (t: Torrent | null, e: DhtEvent) => void,
  ) {}

  /** Start the node on the address the client listens on. Never throws: a failure is reported and the client runs without a DHT. */
  start(listenHost: string, listenPort: number): Promise<void> {
    if (this.starting !== null) return this.starting;
    this.starting = this.startNode(listenHost, listenPort);
    return this.starting;
  }

  private async startNode(listenHost: string, listenPort: number): Promise<void> {
    // bittorrent-dht is IPv4 only: on "::" it takes every IPv4 address, on a v6 one it cannot run.
    const host = listenHost === '::' || listenHost === '' ? '0.0.0.0' : listenHost;
    if (host.includes(':')) return this.turnOff(`listen address ${listenHost} is IPv6; the DHT runs on IPv4 only`);
    const given = this.settings.bootstrap;
    if (given === undefined && isLoopback(host)) return this.turnOff(`listening on loopback (${host}) and no bootstrap nodes given`);
    const bootstrap = given ?? PUBLIC_BOOTSTRAP;
    try {
      const node = await DhtNode.start({
        host, port: this.settings.port ?? listenPort, bootstrap, nodeId: this.settings.nodeId,
        maxStoredPeers: this.settings.maxStoredPeers, queryRate: this.settings.queryRate, now: () => this.host.now(),
      });
      if (this.closed) { await node.close(); return; }
      this.node = node;
      this.onEvent(null, { type: 'started', address: node.address(), bootstrap });
    } catch (e) {
      this.off = true;
      this.onEvent(null, { type: 'failed', error: e instanceof Error ? e : new Error(String(e)) });
    }
  }

  private turnOff(reason: string): void {
    this.off = true;
    this.onEvent(null, { type: 'off', reason });
  }

  /** The running node (null before `listen`, or when the DHT is off). */
  get running(): DhtNode | null { return this.node; }

  /** A walker for a torrent (start it with `start(t)`), or null for a private one or when the DHT is off. */
  announcerFor(isPrivate: boolean, torrent: () => Torrent | null): DhtAnnouncer | null {
    if (isPrivate || this.off || this.closed) return null;
    const s = this.settings;
    return new DhtAnnouncer({
      port: () => this.host.port(),
      now: () => this.host.now(),
      isSelf: (p) => isOwnListener(p, this.host),
      node: () => (this.node !== null && this.node.ready ? this.node : null),
    }, {
      intervalMs: s.announceIntervalMs, retryBaseMs: s.retryBaseMs, retryMaxMs: s.retryMaxMs, maxPeers: s.maxPeers,
      onReport: (r) => { const t = torrent(); if (t !== null) this.onEvent(t, { type: 'walk', ...r }); },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    await this.node?.close();
  }
}
