/**
 * The user-facing object: one TCP listener serving many torrents (the info hash in
 * an incoming handshake picks the torrent), dialling peers, adding torrents from a
 * .torrent (bytes, parsed metainfo or a file path) or a magnet link.
 *
 *   const client = new Client();
 *   await client.listen(6881);
 *   const t = await client.add('file.torrent', { dir: './data', peers: ['127.0.0.1:6882'] });
 *   t.on('done', () => console.log('complete, seeding'));
 *   ...
 *   await client.close(); // every socket, file handle and timer released
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';
import { CONNECTION_DEFAULTS } from '../../wire/connection.js';
import { parseMagnet, formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import { parseTorrent, type Metainfo } from '../../format/metainfo.js';
import { PieceHasher } from '../engine/piece-hasher.js';
import { PeerSession, type PeerCloseCode, type SessionSettings } from '../engine/peer-session.js';
import { connectSlabbed } from './peer-socket.js';
import { attachMse, mseInitiator, mseResponder, type EncryptionMode } from './mse-socket.js';
import { isEncryptionMode } from '../../wire/mse/policy.js';
import { bytesEqual } from '../../wire/bytes.js';
import type { ServeOptions } from '../engine/block-server.js';
import { SlabPool } from '../engine/slab-pool.js';
import { Torrent, type TorrentHost, type TorrentOptions } from '../engine/torrent.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { SilentHold } from './silent-hold.js';
import { ViolationThrottle, addressKey, isViolation, type ViolationThrottleOptions } from './violation-throttle.js';
import { trackerTiers } from '../../discovery/tracker-url.js';
import { ClientTrackers, type ScrapeReport, type TrackerSettings } from '../discovery/client-trackers.js';
import type { AnnounceReport } from '../discovery/announcer.js';
import { peerExchangeFor } from '../discovery/peer-exchange.js';
import type { PexPeer } from '../../extensions/pex/index.js';
import type { TorrentPlugin } from '../../extensions/plugin.js';
import { isOwnListener } from './own-listener.js';
import { ClientDht, type DhtEvent, type DhtOptions } from '../discovery/client-dht.js';
import { RateLimiter } from './rate-limiter.js';

export const CLIENT_VERSION = 'SeedPay 0.1.0';
/** Hard cap on a served block, whatever the configuration (libtorrent and others use 16 KiB). */
export const HARD_MAX_BLOCK_LENGTH = 128 * 1024;
/**
 * The kernel's queue of connections accepted but not yet taken by us (Linux caps it at
 * net.core.somaxconn, 4096 by default). Node's default, 511, is too short against a
 * crowd of idle connections: every one we evict reconnects at once, the queue stays
 * full, and the kernel drops an honest peer's SYN, which it retries only a second
 * later (then 3 s, 7 s). A longer queue costs no memory until it is used.
 */
export const LISTEN_BACKLOG = 4096;

export interface ClientOptions {
  /** 20-byte peer id; default "-SY0100-" + 12 random bytes. */
  peerId?: Uint8Array;
  /** Advertise the fast extension (BEP 6). Default true. */
  fast?: boolean;
  /** Advertise the extension protocol (BEP 10). Default true. */
  extended?: boolean;
  /** Largest block we serve: default 16 KiB, at most 128 KiB. */
  maxBlockLength?: number;
  /**
   * Requests we queue per peer (advertised as `reqq`). Default 1000: libtorrent keeps that
   * many in flight with us, so its pipeline never drains while a `have` waits for an ACK.
   */
  reqq?: number;
  /** Requests we keep in flight per peer, at most its `reqq`. Default 250. */
  maxPipeline?: number;
  /** A request unanswered this long is cancelled and re-requested elsewhere. Default 30 s. */
  requestTimeout?: number;
  /** Serve reads synchronously (page-cache-hot data: ~3× faster, blocks on a cold disk). Default true. */
  syncReads?: boolean;
  /**
   * Write verified pieces with O_DIRECT where the file system allows it (storage.ts
   * `directWrites`): no copy into the page cache, the dominant CPU cost of a download on
   * a VM (2.1 of 5 CPU s per GiB here). Default true on Linux; off elsewhere.
   */
  directWrites?: boolean;
  /** Read slab size / count for serving (memory bound = size × count). Defaults 256 KiB × 64. */
  slabSize?: number;
  maxSlabs?: number;
  /** Slabs one peer may hold. Default 8. */
  maxSlabsPerPeer?: number;
  /** Socket write buffer before backpressure. Default 1 MiB. */
  socketHighWaterMark?: number;
  /** Worker threads hashing downloaded pieces (0: on the event loop). Default: 1 if more than one CPU. */
  hashThreads?: number;
  /** A connection that has not finished the BitTorrent handshake by then is closed. Default 30 s. */
  handshakeTimeout?: number;
  /** A connection silent this long is closed (keep-alives count). Default 120 s. */
  idleTimeout?: number;
  /**
   * Most connections bound to torrents, all torrents together (each torrent also has its
   * own `maxPeers`). Default 200: file descriptors and per-connection buffers are finite,
   * and beyond a few dozen peers per torrent more connections add overhead, not speed.
   */
  maxConnections?: number;
  /** Accepted connections still handshaking (not yet bound to a torrent). Default 64. */
  maxPendingConnections?: number;
  /**
   * Of those, how many one source address may hold. Default a quarter of
   * maxPendingConnections (at least 1): one host cannot fill every slot and lock
   * honest peers out for a whole handshake timeout.
   */
  maxPendingPerAddress?: number;
  /**
   * Refuse incoming connections for a while from an address whose connections keep
   * breaking the protocol (violation-throttle.ts: after 3 violations, bans of 2 s
   * doubling up to 5 min, one strike forgiven per 30 s). `false`: never refuse.
   */
  violationThrottle?: ViolationThrottleOptions | false;
  /**
   * Refused connections from a banned address held open (silent-hold.ts: closed when
   * they send a byte or after `refusedHoldMs`) instead of closed at once, so an idle
   * crowd has nothing to reconnect. Each is an fd. Default 2048; 0: close at once.
   */
  maxHeldRefused?: number;
  /** How long a refused silent connection is held. Default 30 s. */
  refusedHoldMs?: number;
  /** The clock (ms). Default Date.now. */
  now?: () => number;
  /**
   * Source address of our outgoing connections (e.g. 127.0.0.9). Real clients accept one
   * connection per IP, so peers sharing a host need their own address (INTEROP.md rule 3).
   */
  localAddress?: string;
  /**
   * MSE/PE (protocol encryption), libtorrent's policies:
   * 'require'  every connection runs MSE with RC4; plain BitTorrent handshakes are refused.
   * 'prefer'   (default) incoming: MSE or plain, whichever the peer opens with; an MSE
   *            peer offering both gets plaintext after the obfuscated handshake.
   *            Outgoing: plain first; a peer that hangs up on the plain handshake is
   *            redialled at once with MSE (offering RC4 and plaintext), and the method
   *            that connected is kept for it (engine/dial-method.ts). libtorrent dials MSE
   *            first instead, which costs every plain-only peer a round trip.
   * 'off'      plain BitTorrent only; an incoming MSE handshake is refused.
   */
  encryption?: EncryptionMode;
  /**
   * Announce to the trackers of each torrent (`announce` / `announce-list` of a .torrent,
   * `tr=` of a magnet): `started` once added, `completed`, `stopped` at close, again per
   * the tracker's interval; the peers they return are dialled. Default on; `false`: never.
   */
  trackers?: boolean | TrackerSettings;
  /**
   * Peer exchange (BEP 11, ut_pex): tell connected peers about each other and dial the
   * peers they tell us about. Never for a private torrent (BEP 27). Default true.
   */
  pex?: boolean;
  /**
   * Join the mainline DHT (BEP 5) on the address `listen` binds: look up peers for each
   * public torrent (a magnet link needs no tracker) and announce our port, again every
   * 15 min. Private torrents (BEP 27) never use it. Default on, bootstrapping from the
   * public routers; a client listening on loopback runs it only with `bootstrap` nodes
   * given (discovery/client-dht.ts). `false`: never.
   */
  dht?: boolean | DhtOptions;
  /**
   * Upload / download limits for the whole client, bytes per second (0 or absent: none).
   * Upload counts piece messages (block and header), download every byte read. Each
   * torrent may have its own limits too (TorrentOptions): a byte needs room under both.
   * Peers take turns a block at a time; bursts are at most 100 ms of the limit (at
   * least 16 KiB). Change them later with `setUploadLimit` / `setDownloadLimit`.
   */
  uploadLimit?: number;
  downloadLimit?: number;
}

export type TorrentSource = Uint8Array | Metainfo | string;

/**
 * Why an incoming connection was refused at accept, before any byte was read:
 * PENDING_CAP  its address already holds its share of the pending-handshake slots;
 * THROTTLED    its address is banned for protocol violations (violation-throttle.ts); the
 *              connection is held silent (closed at its first byte) while there is room;
 * CLOSED       the client is closing.
 * And one reason for a connection dropped after it was accepted:
 * EVICTED      it was the oldest still handshaking when every pending slot was taken
 *              and a connection from another address arrived (a strike for its address
 *              in the violation throttle, as a handshake timeout is).
 */
export type RefusedReason = 'PENDING_CAP' | 'THROTTLED' | 'CLOSED' | 'EVICTED';

export interface ClientEvents {
  torrent: [torrent: Torrent];
  error: [error: Error];
  /** An incoming connection from `address` ("host:port") was refused at accept. */
  refused: [address: string, reason: RefusedReason];
  /** An incoming connection from `address` broke the protocol (`code`); `bannedUntil` > now: its address is banned until then. */
  violation: [address: string, code: PeerCloseCode, bannedUntil: number];
  /** A tracker answered an announce for `torrent` (or failed to: `report.error`). */
  tracker: [torrent: Torrent, report: AnnounceReport];
  /** Peer exchange gave `torrent` a new peer to dial; `from` is the connection ("host:port") that named it. */
  pex: [torrent: Torrent, peer: PexPeer, from: string];
  /** The DHT started (or is off, or failed to start), or a torrent's DHT walk ended. */
  dht: [torrent: Torrent | null, event: DhtEvent];
}

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(readonly code: 'BAD_OPTION' | 'DUPLICATE_TORRENT' | 'CLOSED' | 'LISTEN_FAILED' | 'BAD_SOURCE', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class Client extends TypedEmitter<ClientEvents> implements TorrentHost {
  readonly peerId: Uint8Array;
  readonly slabPool: SlabPool;
  readonly serveOptions: ServeOptions;
  readonly maxPipeline: number;
  readonly syncReads: boolean;
  readonly directWrites: boolean;
  readonly hasher: PieceHasher;
  private readonly settings: SessionSettings;
  private readonly hwm: number;
  private readonly localAddress: string | undefined;
  private readonly clock: () => number;
  private readonly torrents = new Map<string, Torrent>();
  /** Each torrent's usable tracker tiers (by info hash, hex), for scrape. */
  private readonly tiersOf = new Map<string, readonly (readonly string[])[]>();
  /** Accepted sockets not yet bound to a torrent. */
  private readonly pending = new Set<PeerSession>();
  private server: Server | null = null;
  private listenPort: number | null = null;
  private listenHost: string | null = null;
  private readonly trackers: ClientTrackers | null;
  private readonly pex: boolean;
  private readonly dhtClient: ClientDht | null;
  private closed = false;
  private readonly maxPending: number;
  private readonly maxConnections: number;
  private readonly maxPendingPerAddress: number;
  /** Pending sessions per source address key (entries removed at zero). */
  private readonly pendingByAddress = new Map<string, number>();
  /** Bans addresses after repeated protocol violations (null: disabled). */
  readonly throttle: ViolationThrottle | null;
  private readonly refusedHold: SilentHold;
  readonly encryption: EncryptionMode;
  private readonly handshakeTimeout: number;
  /** @internal The client's rate limits (every torrent's hang under them). */
  readonly uploadLimiter: RateLimiter;
  readonly downloadLimiter: RateLimiter;

  constructor(opts: ClientOptions = {}) {
    super();
    this.peerId = opts.peerId ?? Buffer.concat([Buffer.from('-SY0100-'), randomBytes(12)]);
    if (this.peerId.length !== 20) throw new ClientError('BAD_OPTION', 'peerId must be 20 bytes');
    const maxBlock = opts.maxBlockLength ?? 16 * 1024;
    if (!(Number.isSafeInteger(maxBlock) && maxBlock >= 1 && maxBlock <= HARD_MAX_BLOCK_LENGTH)) {
      throw new ClientError('BAD_OPTION', `maxBlockLength must be in [1, ${HARD_MAX_BLOCK_LENGTH}]`);
    }
    const slabSize = opts.slabSize ?? 256 * 1024;
    if (slabSize < maxBlock) throw new ClientError('BAD_OPTION', 'slabSize must hold the largest block');
    this.clock = opts.now ?? Date.now;
    this.uploadLimiter = new RateLimiter(this.clock, checkLimit('uploadLimit', opts.uploadLimit));
    this.downloadLimiter = new RateLimiter(this.clock, checkLimit('downloadLimit', opts.downloadLimit));
    const encryption = opts.encryption ?? 'prefer';
    if (!isEncryptionMode(encryption)) throw new ClientError('BAD_OPTION', "encryption must be 'require', 'prefer' or 'off'");
    this.encryption = encryption;
    this.handshakeTimeout = opts.handshakeTimeout ?? CONNECTION_DEFAULTS.handshakeTimeout;
    this.maxPending = opts.maxPendingConnections ?? 64;
    this.maxConnections = opts.maxConnections ?? 200;
    if (!(Number.isSafeInteger(this.maxConnections) && this.maxConnections >= 1)) throw new ClientError('BAD_OPTION', 'maxConnections must be a positive integer');
    this.maxPendingPerAddress = opts.maxPendingPerAddress ?? Math.max(1, Math.floor(this.maxPending / 4));
    this.throttle = opts.violationThrottle === false ? null : new ViolationThrottle(opts.violationThrottle ?? {});
    this.refusedHold = new SilentHold(opts.maxHeldRefused ?? 2048, opts.refusedHoldMs ?? 30_000, this.clock);
    this.hasher = new PieceHasher(opts.hashThreads ?? (availableParallelism() > 1 ? 1 : 0));
    this.hwm = opts.socketHighWaterMark ?? 1024 * 1024;
    this.localAddress = opts.localAddress;
    this.maxPipeline = opts.maxPipeline ?? 250;
    this.syncReads = opts.syncReads ?? true;
    this.directWrites = opts.directWrites ?? process.platform === 'linux';
    this.slabPool = new SlabPool(slabSize, opts.maxSlabs ?? 64);
    this.serveOptions = { maxSlabsPerPeer: opts.maxSlabsPerPeer ?? 8 };
    this.settings = {
      connection: {
        peerId: this.peerId,
        fast: opts.fast ?? true,
        extended: opts.extended ?? true,
        reqq: opts.reqq ?? CONNECTION_DEFAULTS.reqq,
        // The wire's cap is the hard maximum: longer requests are a protocol error;
        // those between our configured size and the cap are refused one by one.
        maxRequestLength: HARD_MAX_BLOCK_LENGTH,
        requestTimeout: opts.requestTimeout ?? 30_000,
        // The torrent copies every block as it arrives (PieceAssembly.write), and read
        // buffers are reused (peer-socket.ts SlabReader): a block is valid during its event only.
        borrowPayloads: true,
        handshakeTimeout: this.handshakeTimeout,
        idleTimeout: opts.idleTimeout ?? CONNECTION_DEFAULTS.idleTimeout,
        clientVersion: CLIENT_VERSION,
      },
      maxPipeline: this.maxPipeline,
      maxBlockLength: maxBlock,
      now: this.clock,
    };
    this.pex = opts.pex ?? true;
    this.trackers = opts.trackers === false ? null : new ClientTrackers({
      peerId: this.peerId,
      port: () => this.listenPort,
      listenHost: () => this.listenHost,
      localAddress: opts.localAddress,
      now: this.clock,
    }, opts.trackers === true || opts.trackers === undefined ? {} : opts.trackers, (t, r) => this.emit('tracker', t, r));
    this.dhtClient = opts.dht === false ? null : new ClientDht({
      port: () => this.listenPort,
      listenHost: () => this.listenHost,
      localAddress: opts.localAddress,
      now: this.clock,
    }, opts.dht === true || opts.dht === undefined ? {} : opts.dht, (t, e) => this.emit('dht', t, e));
  }

  /** Where our DHT node listens (null: no DHT running). */
  get dhtAddress(): PeerAddress | null { return this.dhtClient?.running?.address() ?? null; }

  /** The listening port (null before `listen`). */
  get port(): number | null { return this.listenPort; }

  now(): number { return this.clock(); }

  /** The client's upload limit, bytes/s (0: none). */
  get uploadLimit(): number { return this.uploadLimiter.limit; }
  /** The client's download limit, bytes/s (0: none). */
  get downloadLimit(): number { return this.downloadLimiter.limit; }
  /** Change the client's upload limit (bytes/s, 0: none); takes effect at once, waiting peers included. */
  setUploadLimit(bytesPerSecond: number): void {
    this.uploadLimiter.setLimit(checkLimit('uploadLimit', bytesPerSecond));
  }
  /** Change the client's download limit (bytes/s, 0: none); takes effect at once. */
  setDownloadLimit(bytesPerSecond: number): void {
    this.downloadLimiter.setLimit(checkLimit('downloadLimit', bytesPerSecond));
  }

  /** Accept peers on `host:port` (port 0: any free port), and start the DHT node there. Resolves with the port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const bound = await this.listenTcp(port, host);
    await this.dhtClient?.start(host, bound); // never throws: a DHT that cannot start is reported ('dht' event)
    return bound;
  }

  private listenTcp(port: number, host: string): Promise<number> {
    if (this.closed) return Promise.reject(new ClientError('CLOSED', 'client is closed'));
    if (this.server !== null) return Promise.reject(new ClientError('LISTEN_FAILED', 'already listening'));
    const server = createServer({ highWaterMark: this.hwm, noDelay: true }, (socket) => this.onIncoming(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) => {
        this.server = null;
        reject(new ClientError('LISTEN_FAILED', `cannot listen on ${host}:${port}: ${e.message}`, { cause: e }));
      });
      server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        const a = server.address();
        this.listenPort = typeof a === 'object' && a !== null ? a.port : port;
        this.listenHost = host;
        (this.settings.connection as { listenPort?: number }).listenPort = this.listenPort;
        server.on('error', (e) => this.emit('error', e));
        resolve(this.listenPort);
      });
    });
  }

  /**
   * Add a torrent: .torrent bytes, a parsed Metainfo, a path to a .torrent file, or a
   * magnet URI (its x.pe peers are dialled). Existing data in `dir` is rechecked first.
   */
  async add(src: TorrentSource, opts: TorrentOptions): Promise<Torrent> {
    if (this.closed) throw new ClientError('CLOSED', 'client is closed');
    checkLimit('uploadLimit', opts.uploadLimit);
    checkLimit('downloadLimit', opts.downloadLimit);
    let make: (o: TorrentOptions) => Torrent;
    let announce: string | undefined;
    let tiers: readonly (readonly string[])[] | undefined;
    let isPrivate = false; // a magnet's is known with its metadata: the DHT walker checks it then
    if (typeof src === 'string' && src.startsWith('magnet:')) {
      const m = parseMagnet(src);
      const peers = [...(opts.peers ?? []), ...m.peers];
      make = (o) => new Torrent(this, { infoHash: m.infoHash, name: m.name }, { ...o, peers });
      tiers = m.trackers.map((u) => [u]); // each tr= its own tier, in order (as libtorrent reads a magnet)
    } else {
      let meta: Metainfo;
      if (typeof src === 'string') meta = parseTorrent(await readFile(src));
      else if (src instanceof Uint8Array) meta = parseTorrent(src);
      else meta = src;
      make = (o) => new Torrent(this, { metainfo: meta }, o);
      announce = meta.announce;
      tiers = meta.announceList;
      isPrivate = meta.private;
    }
    // The announcer and peer exchange are torrent plugins: they need the torrent's tick,
    // its peers and its close.
    let made: Torrent | null = null;
    const announcer = this.trackers?.announcerFor(announce, tiers, () => made) ?? null;
    const walker = this.dhtClient?.announcerFor(isPrivate, () => made) ?? null;
    const own: TorrentPlugin[] = [announcer, walker].filter((p) => p !== null);
    if (this.pex) {
      own.push(peerExchangeFor(() => made, (p) => this.isSelf(p), (tor, p, from) => this.emit('pex', tor, p, from)));
    }
    const t = made = make(own.length === 0 ? opts : { ...opts, extensions: [...(opts.extensions ?? []), ...own] });
    if (this.torrents.has(t.infoHashHex)) throw new ClientError('DUPLICATE_TORRENT', `torrent ${t.infoHashHex} already added`);
    this.torrents.set(t.infoHashHex, t);
    this.tiersOf.set(t.infoHashHex, trackerTiers(announce, tiers));
    try {
      await t.start();
    } catch (e) {
      await t.close();
      throw e;
    }
    announcer?.start(t);
    walker?.start(t);
    this.emit('torrent', t);
    return t;
  }

  /**
   * What the torrent's trackers count for it (seeders = `complete`, leechers =
   * `incomplete`, `downloaded` = completed downloads): BEP 48 over HTTP, BEP 15 over UDP,
   * one report per tracker. Empty when trackers are off or the torrent names none.
   */
  async scrape(t: Torrent): Promise<ScrapeReport[]> {
    const tiers = this.tiersOf.get(t.infoHashHex);
    if (this.trackers === null || tiers === undefined || this.torrents.get(t.infoHashHex) !== t) return [];
    return this.trackers.scrape(tiers, t.infoHash);
  }

  get(infoHash: Uint8Array | string): Torrent | null {
    const hex = typeof infoHash === 'string' ? infoHash.toLowerCase() : Buffer.from(infoHash).toString('hex');
    return this.torrents.get(hex) ?? null;
  }

  list(): Torrent[] { return [...this.torrents.values()]; }

  /** Stop listening, close every torrent, connection and file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    this.server = null;
    for (const s of this.pending) s.close('CLOSED');
    this.pending.clear();
    this.pendingByAddress.clear();
    this.refusedHold.closeAll();
    await Promise.all([...this.torrents.values()].map((t) => t.close()));
    await this.trackers?.close(); // the torrents' `stopped` announces, bounded
    await this.dhtClient?.close();
    await this.hasher.close();
    this.uploadLimiter.close();
    this.downloadLimiter.close();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Whether `p` is this client's own listener (a peer source named us). */
  private isSelf(p: PeerAddress): boolean {
    return isOwnListener(p, { port: () => this.listenPort, listenHost: () => this.listenHost, localAddress: this.localAddress });
  }

  // ------------------------------------------------------------------ TorrentHost

  /** @internal */
  dial(t: Torrent, addr: PeerAddress, mse: boolean): PeerSession {
    const opts: NetConnectOpts & { highWaterMark: number } = { host: addr.host, port: addr.port, highWaterMark: this.hwm, noDelay: true };
    if (this.localAddress !== undefined) opts.localAddress = this.localAddress;
    const socket = connectSlabbed(opts); // bigger reads, fewer events: see SlabReader
    // 'prefer' dials MSE only for a peer that hung up on a plain handshake (dial-method.ts).
    if (this.encryption !== 'off' && (mse || this.encryption === 'require')) {
      attachMse(socket, mseInitiator(t.infoHash, this.encryption, this.handshakeTimeout));
    }
    return new PeerSession(socket, formatPeerAddress(addr), this.settings, { torrent: t });
  }

  /** @internal */
  atConnectionLimit(): boolean {
    let n = 0;
    for (const t of this.torrents.values()) n += t.connectionCount;
    return n >= this.maxConnections;
  }

  /** @internal */
  forget(t: Torrent): void {
    if (this.torrents.get(t.infoHashHex) === t) { this.torrents.delete(t.infoHashHex); this.tiersOf.delete(t.infoHashHex); }
  }

  private *infoHashes(): Iterable<Uint8Array> {
    for (const t of this.torrents.values()) yield t.infoHash;
  }

  private onIncoming(socket: Socket): void {
    // A flood of connections that never handshake must not hold unbounded sockets.
    // Per source address too, so one host cannot take every slot. Refusing here costs
    // an accept and a close: no session, no buffer, no timer.
    const host = socket.remoteAddress ?? '?';
    const address = `${host}:${socket.remotePort ?? 0}`;
    const key = addressKey(host);
    const held = this.pendingByAddress.get(key) ?? 0;
    const now = this.clock();
    const refused: RefusedReason | null = this.closed ? 'CLOSED'
      : this.throttle !== null && !this.throttle.admits(key, now) ? 'THROTTLED'
        : held >= this.maxPendingPerAddress ? 'PENDING_CAP' : null;
    if (refused !== null) {
      // A banned address's connection waits, silent, rather than reconnecting at once.
      if (refused !== 'THROTTLED' || !this.refusedHold.hold(socket)) socket.destroy();
      this.emit('refused', address, refused);
      return;
    }
    // Every slot taken (by many addresses, each within its share): the oldest pending
    // connection makes room. Refusing the newcomer instead would lock honest peers out
    // for as long as a crowd of idle connections keeps the slots (until they time out).
    if (this.pending.size >= this.maxPending) {
      const oldest = this.pending.values().next().value as PeerSession;
      this.pending.delete(oldest);
      oldest.close('CLOSED');
      this.emit('refused', oldest.address, 'EVICTED');
      // It sat silent while every slot was wanted: a strike for its address, like a
      // handshake timeout. A crowd that reconnects whatever it loses is soon refused at
      // accept (no session built), so honest newcomers are not queued behind its churn.
      this.throttle?.record(addressKey(oldest.address.slice(0, oldest.address.lastIndexOf(':'))), now);
    }
    let counted = true;
    const release = (): void => {
      if (!counted) return;
      counted = false;
      this.pending.delete(s);
      const n = (this.pendingByAddress.get(key) ?? 1) - 1;
      if (n <= 0) this.pendingByAddress.delete(key);
      else this.pendingByAddress.set(key, n);
    };
    const mse = this.encryption === 'off' ? null
      : attachMse(socket, mseResponder(this.encryption, this.handshakeTimeout, () => this.infoHashes()));
    const s: PeerSession = new PeerSession(socket, address, this.settings, {
      resolve: (ih) => {
        release();
        // An MSE peer named its torrent in the handshake already: the BitTorrent one must agree.
        const named = mse?.infoHash ?? null;
        if (named !== null && !bytesEqual(named, ih)) return null;
        return this.torrents.get(Buffer.from(ih).toString('hex')) ?? null;
      },
    });
    this.pending.add(s);
    this.pendingByAddress.set(key, held + 1);
    socket.once('close', () => {
      release();
      // The session's reason is set by now: its socket listener ran before this one.
      const code = s.reason?.code;
      if (code === undefined || this.closed || this.throttle === null || !isViolation(code)) return;
      const until = this.throttle.record(key, this.clock());
      this.emit('violation', address, code, until);
    });
  }
}

/** A limit option: bytes/s, a finite number ≥ 0 (absent: 0, no limit). */
function checkLimit(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ClientError('BAD_OPTION', `${name} must be a number of bytes/s ≥ 0 (0: no limit), got ${String(v)}`);
  return v;
}
