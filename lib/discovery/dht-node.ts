/**
 * One mainline DHT node (BEP 5): bittorrent-dht on a UDP socket we bind ourselves
 * and guard (guarded-udp.ts). It offers what torrents need: `walk` an info hash
 * (get_peers, and announce_peer with our port) handing each peer found to the caller.
 *
 * Bounded: the library keeps at most `maxStoredPeers` peers announced to us (all
 * torrents), forgotten after 30 min as BEP 5 nodes do; lookup tables (one per recent
 * info hash, ≤ 20 nodes each) are capped; its routing table is k-buckets (≤ 20 nodes
 * per bucket); we serve no BEP 44 values (the guard drops get/put).
 */
import { createSocket, type Socket } from 'node:dgram';
import DHT from 'bittorrent-dht';
import { parsePeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { SourceRateOptions } from '../../discovery/source-rate.js';
import { GuardedUdpSocket, type GuardStats } from './guarded-udp.js';

/** The public routers libtorrent, Transmission and µTorrent bootstrap from. */
export const PUBLIC_BOOTSTRAP: readonly string[] = [
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'dht.libtorrent.org:25401',
];

export interface DhtNodeOptions {
  /** IPv4 address to bind (the client's listen address). */
  readonly host: string;
  /** UDP port; if taken, any free port. 0: any. */
  readonly port: number;
  /** Nodes ("host:port") to bootstrap from; [] for none (the first node of a private DHT). */
  readonly bootstrap: readonly string[];
  /** 20-byte node id. Default random. */
  readonly nodeId?: Uint8Array;
  /**
   * Take loopback nodes and peers from other nodes' answers (discovery/krpc.ts drops
   * them otherwise: on the internet such an address is a lie or a way to aim us at
   * our own host). Default: when bound to loopback or bootstrapping only from loopback nodes.
   */
  readonly allowLocalAddresses?: boolean;
  /** Peers stored for other nodes' get_peers (all info hashes). Default 10 000. */
  readonly maxStoredPeers?: number;
  /** Queries answered per source address per window. Default 200 per 10 s; false: no limit. */
  readonly queryRate?: SourceRateOptions | false;
  /** Query timeout, ms. Default 2000 (k-rpc-socket's). */
  readonly queryTimeoutMs?: number;
  readonly now?: () => number;
}

/** How a walk ended: nodes that answered (0 with `error`: none did). */
export interface WalkResult { readonly nodes: number; readonly error?: Error }

const STORED_PEER_AGE_MS = 30 * 60_000;

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

export class DhtNode {
  private readonly listeners = new Map<string, Set<(p: PeerAddress) => void>>();
  private readyFlag = false;
  private readonly readyWaiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;
  /** Warnings from the library (timeouts, stray answers): counted, not thrown. */
  warnings = 0;

  private constructor(private readonly dht: DHT, private readonly guard: GuardedUdpSocket, readonly host: string) {
    dht.on('peer', (peer: { host: string; port: number }, infoHash: Buffer) => this.onPeer(peer, infoHash));
    dht.on('warning', () => { this.warnings++; });
    dht.on('error', () => { this.warnings++; });
    dht.once('ready', () => {
      this.readyFlag = true;
      for (const w of this.readyWaiters.splice(0)) w();
    });
  }

  /** Bind `host:port` (falling back to any port if taken), then start the node and its bootstrap. */
  static async start(o: DhtNodeOptions): Promise<DhtNode> {
    const local = o.allowLocalAddresses ?? (isLoopback(o.host) || (o.bootstrap.length > 0 && o.bootstrap.every((b) => isLoopback(parsePeerAddress(b).host))));
    const socket = await bindUdp(o.host, o.port).catch((e: unknown) => {
      if (o.port !== 0 && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') return bindUdp(o.host, 0);
      throw e;
    });
    const now = o.now ?? Date.now;
    const guard = new GuardedUdpSocket(socket, { allowLocalAddresses: local },
      o.queryRate === false ? null : o.queryRate ?? { max: 200, windowMs: 10_000 }, now);
    const bootstrap = o.bootstrap.map((s) => { const p = parsePeerAddress(s); return { host: p.host, port: p.port }; });
    const dht = new DHT({
      socket: guard,
      bootstrap: bootstrap.length === 0 ? false : bootstrap,
      nodeId: o.nodeId,
      maxPeers: o.maxStoredPeers ?? 10_000,
      maxAge: STORED_PEER_AGE_MS,
      maxTables: 200,
      maxValues: 1, // BEP 44 is not served (the guard drops put); the library wants a positive cap
      host: false,
      timeout: o.queryTimeoutMs,
    });
    const node = new DhtNode(dht, guard, o.host);
    dht.listen(); // the socket is bound: this only makes the library hear 'listening'
    return node;
  }

  get nodeId(): Buffer { return this.dht.nodeId; }

  /** Where the node listens. */
  address(): PeerAddress {
    const a = this.guard.address();
    return { host: a.address, port: a.port };
  }

  /** Whether the bootstrap walk has ended (well or not): walks before it reach only the bootstrap nodes. */
  get ready(): boolean { return this.readyFlag; }

  whenReady(): Promise<void> {
    return this.readyFlag ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  /** Nodes in the routing table. */
  get nodeCount(): number { return this.dht.nodes.count(); }

  get guardStats(): GuardStats { return this.guard.stats; }

  /** Ping a node and keep it in the routing table if it answers (e.g. a known-good node). */
  addNode(addr: string | PeerAddress): void {
    const p = typeof addr === 'string' ? parsePeerAddress(addr) : addr;
    this.dht.addNode({ host: p.host, port: p.port });
  }

  /**
   * Walk toward `infoHash` for peers; with `port`, then announce it (announce_peer to
   * the closest nodes that gave us a token). `onPeer` hears each peer as it comes.
   */
  walk(infoHash: Uint8Array, port: number | null, onPeer: (p: PeerAddress) => void): Promise<WalkResult> {
    if (this.closing !== null) return Promise.resolve({ nodes: 0, error: new Error('DHT closed') });
    const key = Buffer.from(infoHash).toString('hex');
    let set = this.listeners.get(key);
    if (set === undefined) this.listeners.set(key, set = new Set());
    set.add(onPeer);
    return new Promise<WalkResult>((resolve) => {
      const done = (err: Error | null, n?: number): void => {
        set!.delete(onPeer);
        if (set!.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
        resolve(err === null ? { nodes: n ?? 0 } : { nodes: 0, error: err });
      };
      const ih = Buffer.from(infoHash);
      if (port === null) this.dht.lookup(ih, done);
      else this.dht.announce(ih, port, done);
    });
  }

  private onPeer(peer: { host: string; port: number }, infoHash: Buffer): void {
    const set = this.listeners.get(infoHash.toString('hex'));
    if (set === undefined) return;
    const p: PeerAddress = { host: peer.host, port: peer.port };
    for (const f of [...set]) f(p);
  }

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.listeners.clear();
    this.closing = new Promise((resolve) => this.dht.destroy(() => resolve()));
    return this.closing;
  }
}

/** bittorrent-dht speaks IPv4 only (6-byte peers, 26-byte nodes). */
function bindUdp(host: string, port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4' });
  return new Promise((resolve, reject) => {
    s.once('error', (e) => {
      try { s.close(); } catch { /* never bound: nothing to close */ }
      reject(e);
    });
    s.bind({ port, address: host, exclusive: true }, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}
