/**
 * One torrent in a Client: storage, picker, choker, the piece assembly, its peers,
 * and the events an embedder sees.
 *
 * Lifecycle: `Client.add` builds it, `start()` rechecks data already on disk
 * (resume) and only then are peers connected. Verified pieces are written, announced
 * with `have`; on completion every peer gets `not_interested`, peers that are seeds
 * too are dropped (once `lingerWhile` no longer holds them: torrent-linger.ts), and
 * the torrent keeps seeding. A torrent added from a magnet link
 * first fetches its info dictionary with ut_metadata (BEP 9): see `wireNumPieces`.
 *
 * Hash failures: the picker names the peers that contributed blocks to the bad
 * piece. A sole contributor is banned at once; otherwise each suspect loses trust
 * (−2, +1 per good piece) and is banned below −6, so one bad peer among good ones is
 * found without banning the good ones.
 *
 * Extensions plug in as torrent plugins (extensions/plugin.ts): each makes one hook
 * per connection through the BEP 10 registry and hears the torrent's events (peers
 * added and removed, pieces passed and failed with their contributors, ticks); it may
 * keep a peer choked (`canUnchoke`) or open at completion (`isBusy`). Embedders also
 * have `chokeFilter`, `lingerWhile`, `onPeerEvent` and the events below.
 */
import { bytesEqual } from '../../wire/bytes.js';
import type { ConnectionEvent } from '../../wire/connection.js';
import { ExtensionRegistry, type ConnectionExtensions, type ExtensionFactory } from '../../extensions/registry.js';
import type { PluginPeer, TorrentPlugin } from '../../extensions/plugin.js';
import { UtMetadata } from '../../extensions/ut-metadata.js';
import { Choker, type ChokeDecision } from './choker.js';
import { PieceAssembly } from './piece-assembly.js';
import type { PieceHasher } from './piece-hasher.js';
import { formatPeerAddress, parsePeerAddress, type PeerAddress } from '../../format/magnet.js';
import { pieceHash, type Metainfo } from '../../format/metainfo.js';
import type { PeerCloseReason, PeerSession, SessionOwner } from './peer-session.js';
import { PiecePicker } from './piece-picker.js';
import type { ServeOptions } from './block-server.js';
import type { SlabPool } from './slab-pool.js';
import { processFlushGate } from '../files/flush-gate.js';
import { PieceStore } from '../files/piece-store.js';
import { CompletionLinger } from './completion-linger.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { DialMethod } from './dial-method.js';
import { crossDial } from './cross-dial.js';
import { backoffMs, endedBenignly, redialDue, redialInMs } from './redial.js';
import type { EncryptionMode } from '../../wire/mse/policy.js';
import type { RateLimiter, RatePath } from '../net/rate-limiter.js';

export interface TorrentOptions {
  /** Directory the torrent's files live in (created as needed). */
  dir: string;
  /** Download pieces in order (streaming) instead of rarest first. */
  sequential?: boolean;
  /** Trust the data on disk as complete without hashing it (a known-good seed). Default false: recheck. */
  assumeComplete?: boolean;
  /**
   * Extensions: torrent plugins (extensions/plugin.ts), or plain factories of one hook
   * per connection (ut_metadata is always added).
   */
  extensions?: readonly (TorrentPlugin | ExtensionFactory)[];
  /** Return false to keep a peer choked whatever the choker would do (e.g. paid-only seeding). */
  chokeFilter?: (peer: PeerSession) => boolean;
  /**
   * Called after each connection event has been handled (extension drivers poll their
   * hooks here). A 'piece' event's `block` is a view valid only during this call: copy to keep.
   */
  onPeerEvent?: (peer: PeerSession, ev: ConnectionEvent) => void;
  /** Regular unchoke slots (plus one optimistic). Default 4. */
  uploadSlots?: number;
  /** Bytes of pieces assembled in memory at once (at least 4 pieces). Default 32 MiB. */
  maxAssemblyBytes?: number;
  /** Bytes of verified pieces waiting for their disk write before reading pauses (at least 2 pieces). Default 16 MiB. */
  maxPendingWriteBytes?: number;
  /** Disk writes in flight at once. Default 1. */
  writeConcurrency?: number;
  /** Peers to dial once started ("host:port"). */
  peers?: readonly (string | PeerAddress)[];
  /** Most connections for this torrent. Default 100. */
  maxPeers?: number;
  /**
   * At completion, seeds are disconnected unless this says the connection is busy (an
   * extension's business in progress, e.g. a payment awaiting its answer): it is then
   * kept open until this returns false (re-checked every tick and on `lingerCheck()`),
   * or for at most `lingerTimeoutMs` (default 60 000).
   */
  lingerWhile?: (peer: PeerSession) => boolean;
  lingerTimeoutMs?: number;
  /**
   * Upload / download limits of this torrent, bytes per second (0 or absent: none). The
   * client's limits (ClientOptions) apply on top: a byte needs room under both. Change
   * them later with `setUploadLimit` / `setDownloadLimit`.
   */
  uploadLimit?: number;
  downloadLimit?: number;
}

export interface TorrentStats {
  /** Piece payload bytes sent / received. */
  readonly uploaded: number;
  readonly downloaded: number;
  /** Everything else on the wire (handshakes, headers, control and extension messages). */
  readonly protocolUploaded: number;
  readonly protocolDownloaded: number;
  /** Payload received that we did not need (endgame duplicates, late copies). */
  readonly wasted: number;
  readonly hashFailures: number;
  readonly peers: number;
}

export interface TorrentProgress {
  readonly have: number;
  readonly total: number;
  readonly bytesHave: number;
  readonly bytesTotal: number;
  readonly downloaded: number;
  readonly uploaded: number;
}

export interface TorrentEvents {
  /** A peer completed the handshake for this torrent. */
  peer: [peer: PeerSession];
  peer_closed: [peer: PeerSession, reason: PeerCloseReason];
  /**
   * A dial to a known peer (given to `addPeer` or the `peers` option) ended before the
   * BitTorrent handshake completed: refused, unreachable, hung up, timed out, wrong
   * torrent… Emitted after that session's `peer_closed`, with the address as given
   * ("host:port"), the reason, when it is dialled again (`retryInMs`, about: the torrent
   * ticks every second) and how many dials in a row have failed so far (at least 1; a
   * dial redone at once with the other handshake, dial-method.ts, does not add to it).
   * Not emitted for a peer forgotten (e.g. by a `peer_closed` listener) or banned.
   */
  dial_failed: [address: string, reason: PeerCloseReason, retryInMs: number, failures: number];
  /**
   * A connection to a known peer that had completed its handshake ended (after its
   * `peer_closed`) and the peer will be dialled again in about `retryInMs`. Not emitted
   * when it will not be: both sides complete, banned, forgotten, or the torrent closed.
   */
  peer_retry: [address: string, reason: PeerCloseReason, retryInMs: number];
  /** A piece hashed correctly and is on disk. */
  piece: [index: number];
  /** A piece failed its hash; these peers contributed blocks to it. */
  piece_failed: [index: number, suspects: readonly PeerSession[]];
  /** A piece this peer contributed to passed (ok) or failed its hash check; emitted at the check, before the write. */
  peer_piece: [peer: PeerSession, index: number, ok: boolean];
  banned: [peer: PeerSession];
  /** An extension hook refused to send this block to the peer (metering). */
  refused: [peer: PeerSession, index: number, begin: number, length: number];
  progress: [progress: TorrentProgress];
  /** Every piece verified (also emitted at start for complete data). */
  done: [];
  /** The info dictionary arrived (magnet link). */
  metadata: [metainfo: Metainfo];
  error: [error: Error];
}

/** What a torrent needs from its client. */
export interface TorrentHost {
  readonly peerId: Uint8Array;
  readonly slabPool: SlabPool;
  readonly serveOptions: ServeOptions;
  readonly maxPipeline: number;
  readonly syncReads: boolean;
  readonly directWrites: boolean;
  readonly hasher: PieceHasher;
  /** The client's MSE/PE policy (which handshake dials use). */
  readonly encryption: EncryptionMode;
  /** Whether the client is at its connection limit (every torrent's connections count). */
  atConnectionLimit(): boolean;
  /** The client's rate limits: each torrent's own limits hang under them. */
  readonly uploadLimiter: RateLimiter;
  readonly downloadLimiter: RateLimiter;
  now(): number;
  /** Dial `addr` for `t`, with the MSE handshake when `mse`. */
  dial(t: Torrent, addr: PeerAddress, mse: boolean): PeerSession;
  forget(t: Torrent): void;
}

interface KnownPeer {
  readonly addr: PeerAddress;
  session: PeerSession | null;
  failures: number;
  nextAt: number;
  /** Plain or MSE: learnt from how its connections ended. */
  readonly method: DialMethod;
  /** Its last session ended with it holding every piece: a seed has nothing to fetch from us. */
  peerComplete: boolean;
  /** When its last session ended, and whether benignly (redial.ts: redialled sooner while we starve). */
  endedAt: number;
  benign: boolean;
  /** When we last dialled it (-Infinity: never): at the connection limit, the longest-waiting go first. */
  dialedAt: number;
}

/**
 * Endgame asks another peer for a block in flight only when its holder would take
 * longer than this to deliver every block it owes us (delivery-pace.ts): what is merely
 * in transit arrives anyway, and asking for it twice only downloads it twice.
 */
const ENDGAME_AFTER_MS = 1000;
const RECHOKE_MS = 10_000;
const TICK_MS = 1_000;
/**
 * Under a download limit, each peer gets requests for about this many seconds of the
 * limit (shared by the peers sending to us), at least MIN_LIMITED_PIPELINE: a full
 * pipeline (250 blocks) at a low limit would wait longer than the request timeout.
 * libtorrent sizes its queues the same way (request_queue_time, 3 s).
 */
const LIMITED_PIPELINE_S = 3;
const MIN_LIMITED_PIPELINE = 8;
const BLOCK = 16 * 1024;

export class Torrent extends TypedEmitter<TorrentEvents> implements SessionOwner {
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  readonly dir: string;
  readonly sequential: boolean;
  metainfo: Metainfo | null;
  store: PieceStore | null = null;
  picker: PiecePicker | null = null;
  assembly: PieceAssembly | null = null;
  readonly choker: Choker<number>;
  readonly utMetadata: UtMetadata;
  /** @internal This torrent's limits under the client's (set with setUploadLimit / setDownloadLimit). */
  readonly uploadRate: RatePath;
  readonly downloadRate: RatePath;
  /** Peers sending to us at the last tick (divides the limited pipeline). */
  private sendingPeers = 1;
  private readonly host: TorrentHost;
  private readonly opts: TorrentOptions;
  private readonly registry: ExtensionRegistry;
  /** The extensions that hear torrent events. */
  private readonly plugins: readonly TorrentPlugin[];
  /** Every live session of this torrent (handshaking included). */
  private readonly sessions = new Map<number, PeerSession>();
  private readonly known = new Map<string, KnownPeer>();
  private readonly bannedIds = new Set<string>();
  private readonly bannedAddrs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private lastRechoke = -Infinity;
  private refreshQueued = false;
  private pendingWrites = 0;
  /** Complete pieces being hashed or written (close waits for them). */
  private readonly piecesInFlight = new Set<Promise<void>>();
  /** Pieces with a block we could not store: they fail their check without bans. */
  private readonly lostBlocks = new Set<number>();
  private writesRunning = 0;
  private writeQueue: (() => Promise<void>)[] = [];
  private maxPendingWrites = 2;
  private writeWaiters: (() => void)[] = [];
  private started = false;
  private closedFlag = false;
  private doneFlag = false;
  /** Seeds kept open after completion while `lingerWhile` holds (set by finish()). */
  private linger: CompletionLinger<PeerSession> | null = null;
  private counters = { uploaded: 0, downloaded: 0, protoUp: 0, protoDown: 0, wasted: 0, hashFailures: 0 };

  /** @internal — use Client.add. */
  constructor(host: TorrentHost, src: { metainfo: Metainfo } | { infoHash: Uint8Array; name?: string }, opts: TorrentOptions) {
    super();
    this.host = host;
    this.opts = opts;
    this.dir = opts.dir;
    this.sequential = opts.sequential ?? false;
    this.metainfo = 'metainfo' in src ? src.metainfo : null;
    this.infoHash = Buffer.from('metainfo' in src ? src.metainfo.infoHash : src.infoHash);
    this.infoHashHex = this.infoHash.toString('hex');
    this.uploadRate = host.uploadLimiter.path(opts.uploadLimit ?? 0);
    this.downloadRate = host.downloadLimiter.path(opts.downloadLimit ?? 0);
    const now = host.now();
    this.utMetadata = new UtMetadata(this.metainfo !== null
      ? { infoHash: this.infoHash, now, infoBytes: this.metainfo.infoBytes }
      : { infoHash: this.infoHash, now });
    const exts = opts.extensions ?? [];
    this.plugins = exts;
    this.registry = new ExtensionRegistry([
      ...exts.filter((e): e is ExtensionFactory => typeof e.create === 'function'), this.utMetadata,
    ]);
    const userFilter = opts.chokeFilter;
    const pluginFilters = this.plugins.filter((p) => p.canUnchoke !== undefined);
    this.choker = new Choker<number>({
      slots: opts.uploadSlots ?? 4,
      filter: (id) => {
        const s = this.sessions.get(id);
        return s !== undefined && !s.gateHeld && (userFilter === undefined || userFilter(s))
          && pluginFilters.every((p) => p.canUnchoke!(s));
      },
    });
  }

  get name(): string { return this.metainfo?.name ?? this.infoHashHex; }
  get isComplete(): boolean { return this.picker !== null && this.picker.isComplete(); }
  get isClosed(): boolean { return this.closedFlag; }
  /** Whether piece `index` is verified and on disk (false while the metadata is unknown). */
  hasPiece(index: number): boolean { return this.picker?.hasPiece(index) ?? false; }
  /** Piece count the wire uses: null while a magnet link's metadata is unknown. */
  get wireNumPieces(): number | null { return this.metainfo?.pieceCount ?? null; }
  get slabPool(): SlabPool { return this.host.slabPool; }

  /** This torrent's upload limit, bytes/s (0: none of its own; the client's still applies). */
  get uploadLimit(): number { return this.uploadRate.limit; }
  /** This torrent's download limit, bytes/s (0: none of its own; the client's still applies). */
  get downloadLimit(): number { return this.downloadRate.limit; }
  /** Change this torrent's upload limit (bytes/s, 0: none); takes effect at once. RangeError if negative or not finite. */
  setUploadLimit(bytesPerSecond: number): void { this.uploadRate.setLimit(bytesPerSecond); }
  /** Change this torrent's download limit (bytes/s, 0: none); takes effect at once. RangeError if negative or not finite. */
  setDownloadLimit(bytesPerSecond: number): void { this.downloadRate.setLimit(bytesPerSecond); }

  /** @internal Requests in flight per peer: no cap unless the download is limited. */
  get pipelineCap(): number {
    if (!this.downloadRate.limited) return Infinity;
    const perPeer = (this.downloadRate.effectiveLimit * LIMITED_PIPELINE_S) / BLOCK / this.sendingPeers;
    return Math.max(MIN_LIMITED_PIPELINE, Math.ceil(perPeer));
  }
  get serveOptions(): ServeOptions { return this.host.serveOptions; }

  /** Sessions that completed the handshake. */
  peers(): PeerSession[] {
    return [...this.sessions.values()].filter((s) => s.registered && !s.isClosed);
  }

  progress(): TorrentProgress {
    const m = this.metainfo;
    const have = this.picker?.haveCount ?? 0;
    let bytesHave = 0;
    if (m !== null && this.picker !== null) {
      bytesHave = have * m.pieceLength;
      const last = m.pieceCount - 1;
      if (this.picker.hasPiece(last)) bytesHave -= m.pieceLength - m.fileMap.pieceSize(last);
    }
    return {
      have, total: m?.pieceCount ?? 0, bytesHave, bytesTotal: m?.totalLength ?? 0,
      downloaded: this.counters.downloaded, uploaded: this.counters.uploaded,
    };
  }

  stats(): TorrentStats {
    let pu = this.counters.protoUp;
    let pd = this.counters.protoDown;
    for (const s of this.sessions.values()) {
      pu += s.conn.stats.protocolBytesOut;
      pd += s.conn.stats.protocolBytesIn;
    }
    return {
      uploaded: this.counters.uploaded, downloaded: this.counters.downloaded,
      protocolUploaded: pu, protocolDownloaded: pd,
      wasted: this.counters.wasted, hashFailures: this.counters.hashFailures,
      peers: this.peers().length,
    };
  }

  /**
   * Dial a peer ("host:port"). It is redialled with back-off when the connection fails
   * or drops, unless both sides are complete: a seeder keeps trying a leecher it was
   * told about (Transmission never dials a loopback peer back, INTEROP.md rule 1).
   */
  addPeer(peer: string | PeerAddress): void {
    if (this.closedFlag) return;
    const addr = typeof peer === 'string' ? parsePeerAddress(peer) : peer;
    const key = formatPeerAddress(addr);
    let k = this.known.get(key);
    if (k === undefined) {
      k = {
        addr, session: null, failures: 0, nextAt: 0, peerComplete: false, method: new DialMethod(this.host.encryption),
        endedAt: -Infinity, benign: false, dialedAt: -Infinity,
      };
      this.known.set(key, k);
    }
    if (this.started && k.session === null) this.dialKnown(k);
  }

  /** Whether `peer` was given to `addPeer` (or the `peers` option) and not forgotten since. */
  knowsPeer(peer: string | PeerAddress): boolean {
    return this.known.has(formatPeerAddress(typeof peer === 'string' ? parsePeerAddress(peer) : peer));
  }

  /**
   * Stop using a peer given to `addPeer` (or the `peers` option): it is no longer
   * redialled, and its connection, if any, is closed. A connection it makes to us is
   * still accepted (refusing it is the caller's policy). No-op for an unknown peer.
   */
  forgetPeer(peer: string | PeerAddress): void {
    const key = formatPeerAddress(typeof peer === 'string' ? parsePeerAddress(peer) : peer);
    const k = this.known.get(key);
    if (k === undefined) return;
    this.known.delete(key);
    k.session?.close('CLOSED');
  }

  /** Close every connection and file; the torrent is unusable afterwards. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
    for (const s of [...this.sessions.values()]) s.close('CLOSED');
    for (const p of this.plugins) p.onTorrentClosed?.();
    for (const w of this.writeWaiters) w();
    this.writeWaiters = [];
    this.host.forget(this);
    // Pieces already complete (being hashed or written) still reach the disk: they were
    // downloaded (and, for a paying buyer, paid for); the next start's recheck finds them.
    while (this.piecesInFlight.size > 0) await Promise.allSettled([...this.piecesInFlight]);
    this.assembly?.clear();
    await this.store?.close();
  }

  // ------------------------------------------------------------------ internal: lifecycle

  /** @internal Recheck, then connect. */
  async start(): Promise<void> {
    if (this.metainfo !== null) await this.setupStorage(this.metainfo);
    if (this.closedFlag) return;
    this.started = true;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    for (const p of this.opts.peers ?? []) this.addPeer(p);
    for (const k of this.known.values()) if (k.session === null) this.dialKnown(k);
    if (this.isComplete) this.finish();
  }

  private async setupStorage(m: Metainfo): Promise<void> {
    // The process-wide gate: a journal's fsync elsewhere in this process diverts piece writes
    // to the page cache while it flushes the disk cache (flush-gate.ts).
    const store = new PieceStore(m, this.opts.dir, {
      syncReads: this.host.syncReads, directWrites: this.host.directWrites, flushGate: processFlushGate,
    });
    let have: Uint8Array;
    if (this.opts.assumeComplete) {
      have = new Uint8Array(Math.ceil(m.pieceCount / 8)).fill(0xff);
      if (m.pieceCount % 8 !== 0) have[have.length - 1] = (0xff << (8 - (m.pieceCount % 8))) & 0xff;
    } else {
      have = await store.recheck();
    }
    if (this.closedFlag) { await store.close(); return; }
    this.store = store;
    this.picker = new PiecePicker(m.pieceCount, m.pieceLength, m.totalLength, { sequential: this.sequential, have });
    this.assembly = new PieceAssembly(m.pieceLength, Math.max(4, Math.floor((this.opts.maxAssemblyBytes ?? 32 * 1024 * 1024) / m.pieceLength)), true);
    this.maxPendingWrites = Math.max(2, Math.floor((this.opts.maxPendingWriteBytes ?? 16 * 1024 * 1024) / m.pieceLength));
    this.choker.setSeeding(this.picker.isComplete());
  }

  private tick(): void {
    if (this.closedFlag) return;
    const now = this.host.now();
    this.utMetadata.handleTimeout(now);
    for (const s of this.sessions.values()) s.extensions?.tick(now);
    for (const p of this.plugins) p.tick?.(now);
    this.linger?.check(now);
    this.drainMetadataEvents();
    if (this.downloadRate.limited) this.sendingPeers = this.countSendingPeers();
    if (now - this.lastRechoke >= RECHOKE_MS) {
      this.lastRechoke = now;
      this.applyChoke(this.choker.rechoke(now));
    }
    for (const s of this.sessions.values()) s.fill();
    const starving = this.starving();
    const due: KnownPeer[] = [];
    for (const k of this.known.values()) {
      if (k.session === null && redialDue(k, now, starving) && !(this.isComplete && k.peerComplete)) due.push(k);
    }
    // With slots short (maxPeers, the client's maxConnections), a peer never tried or
    // tried longest ago goes first: the peers that just failed would otherwise take every
    // freed slot again and the rest would never be dialled.
    due.sort((a, b) => (a.dialedAt === b.dialedAt ? 0 : a.dialedAt < b.dialedAt ? -1 : 1));
    for (const k of due) {
      if (this.atPeerLimit()) break;
      this.dialKnown(k);
    }
    if (this.picker !== null && !this.doneFlag) this.emit('progress', this.progress());
  }

  /** Peers that unchoke us while we want something from them (at least 1). */
  private countSendingPeers(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.registered && s.conn.state === 'open' && s.conn.amInterested && !s.conn.peerChoking) n++;
    return Math.max(1, n);
  }

  /** Close the seeds held open at completion that `lingerWhile` no longer holds (now, not at the next tick). */
  lingerCheck(): void {
    if (!this.closedFlag) this.linger?.check(this.host.now());
  }

  /**
   * @internal A peer turned out to be a seed while we are complete: close it, unless
   * `lingerWhile` holds it (a payment still outstanding), as at completion.
   */
  closeSeed(s: PeerSession): void {
    if (this.linger !== null) this.linger.closeOrHold(s, this.host.now());
    else s.close('NOT_NEEDED');
  }

  /**
   * We need data (or the metadata) and no connected peer can give any: none that has a
   * piece we lack and does not choke us (BEP 6 allowed-fast pieces aside).
   */
  private starving(): boolean {
    if (this.isComplete) return false;
    const p = this.picker;
    for (const s of this.sessions.values()) {
      if (!s.registered || s.isClosed) continue;
      if (p === null) return false; // a magnet link: any peer may have the metadata
      if (p.interesting(s.id) && !s.conn.peerChoking) return false;
    }
    return true;
  }

  /** This torrent's connections (handshaking included), for the client's limit. */
  get connectionCount(): number { return this.sessions.size; }

  /** No room for another connection: this torrent's `maxPeers`, or the client's `maxConnections`. */
  private atPeerLimit(): boolean {
    return this.sessions.size >= (this.opts.maxPeers ?? 100) || this.host.atConnectionLimit();
  }

  private dialKnown(k: KnownPeer): void {
    const key = formatPeerAddress(k.addr);
    if (this.closedFlag || this.bannedAddrs.has(key) || this.atPeerLimit()) return;
    k.dialedAt = this.host.now();
    k.session = this.host.dial(this, k.addr, k.method.mse);
    this.sessions.set(k.session.id, k.session);
  }

  private finish(): void {
    if (this.doneFlag) return;
    this.doneFlag = true;
    this.choker.setSeeding(true);
    const linger = this.linger = new CompletionLinger<PeerSession>(this.busyWith(), this.opts.lingerTimeoutMs);
    const now = this.host.now();
    for (const s of this.sessions.values()) {
      if (!s.registered) continue;
      s.updateInterest();
      if (s.conn.peerPieces?.hasAll()) linger.closeOrHold(s, now);
    }
    this.emit('progress', this.progress());
    this.emit('done');
  }

  /** Whether a connection has business that should keep it open at completion (embedder or plugin). */
  private busyWith(): ((s: PeerSession) => boolean) | undefined {
    const user = this.opts.lingerWhile;
    const busy = this.plugins.filter((p) => p.isBusy !== undefined);
    if (user === undefined && busy.length === 0) return undefined;
    return (s) => (user !== undefined && user(s)) || busy.some((p) => p.isBusy!(s));
  }

  // ------------------------------------------------------------------ internal: sessions

  /** @internal A session carried out its hooks' commands (a plugin may have settled its business). */
  peerSettled(_s: PeerSession): void { this.lingerCheck(); }

  /** @internal */
  makeExtensions(s: PeerSession): ConnectionExtensions {
    return this.registry.forConnection({
      infoHash: this.infoHash, peer: s.address, role: s.role, flush: () => s.flushSoon(),
    });
  }

  /** @internal An incoming peer named this torrent. */
  acceptsPeer(s: PeerSession): boolean {
    if (this.closedFlag || !this.started) return false;
    if (this.atPeerLimit()) return false;
    this.sessions.set(s.id, s);
    return true;
  }

  /** @internal Handshake done: false if the peer was refused (and closed). */
  registerPeer(s: PeerSession): boolean {
    const conn = s.conn;
    const pid = conn.peerId!;
    if (bytesEqual(pid, this.host.peerId)) { s.close('SELF'); return false; }
    if (this.bannedIds.has(Buffer.from(pid).toString('hex'))) { s.close('BANNED'); return false; }
    const dup = crossDial(s, this.sessions.values(), this.host.peerId);
    if (dup !== null) {
      // The kept connection stands for our dial in the dial queue: no redial while it lives.
      for (const k of this.known.values()) if (k.session === dup.loser) k.session = dup.winner;
      dup.loser.close('DUPLICATE');
      if (dup.loser === s) return false;
    }
    const now = this.host.now();
    this.choker.addPeer(s.id, now);
    const p = this.picker;
    if (p === null) {
      if (conn.fastEnabled) conn.haveNone(now);
    } else if (p.isComplete() && conn.fastEnabled) {
      conn.haveAll(now);
    } else if (p.haveCount > 0) {
      conn.bitfield(p.haveBitfield(), now);
    } else if (conn.fastEnabled) {
      conn.haveNone(now);
    }
    s.flushSoon();
    for (const p of this.plugins) p.onPeerAdded?.(s);
    this.emit('peer', s);
    return true;
  }

  /** @internal The session's socket is gone. */
  unregisterPeer(s: PeerSession): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    const st = s.conn.stats;
    this.counters.protoUp += st.protocolBytesOut;
    this.counters.protoDown += st.protocolBytesIn;
    let retry: KnownPeer | null = null;
    for (const k of this.known.values()) {
      if (k.session !== s) continue;
      k.session = null;
      retry = k;
      k.peerComplete = s.registered && s.conn.peerPieces !== null && s.conn.peerPieces.hasAll();
      k.endedAt = this.host.now();
      k.benign = endedBenignly(s.reason);
      if (s.registered) k.method.connected();
      else if (k.method.failed(s.reason)) { k.nextAt = this.host.now(); continue; } // the other handshake, at once
      if (!s.registered) k.failures++;
      else k.failures = 0;
      k.nextAt = this.host.now() + backoffMs(k.failures);
    }
    if (s.registered) {
      const reason = s.reason ?? { code: 'END', error: null };
      for (const p of this.plugins) p.onPeerRemoved?.(s, reason);
      this.choker.removePeer(s.id);
      if (this.picker !== null) {
        for (const b of this.picker.peerGone(s.id)) this.discardIfFree(b.index);
      }
      if (!this.closedFlag) {
        this.refreshChoke();
        this.fillAll(s);
      }
    }
    if (this.closedFlag) return;
    const reason = s.reason ?? { code: 'END', error: null };
    this.emit('peer_closed', s, reason);
    if (retry !== null && !this.closedFlag) this.emitRetry(retry, s.registered, reason);
  }

  /** dial_failed / peer_retry for a known peer whose connection just ended (see TorrentEvents). */
  private emitRetry(k: KnownPeer, connected: boolean, reason: PeerCloseReason): void {
    const key = formatPeerAddress(k.addr);
    // Forgotten (by a peer_closed listener), banned, or a seed we no longer need: not dialled again.
    if (this.known.get(key) !== k || this.bannedAddrs.has(key) || (this.isComplete && k.peerComplete)) return;
    const inMs = redialInMs(k, this.host.now(), k.benign && this.starving());
    if (connected) this.emit('peer_retry', key, reason, inMs);
    else this.emit('dial_failed', key, reason, inMs, Math.max(1, k.failures));
  }

  /** @internal */
  onPeerEvent(s: PeerSession, ev: ConnectionEvent): void {
    // ut_metadata messages raise no connection event of their own: look after each one.
    if (this.metainfo === null) this.drainMetadataEvents();
    this.opts.onPeerEvent?.(s, ev);
  }

  /** @internal A block arrived. May return a Promise (backpressure while writes queue up). */
  onBlock(s: PeerSession, index: number, begin: number, block: Uint8Array): void | Promise<void> {
    const p = this.picker;
    const len = block.length;
    s.downloaded += len;
    this.counters.downloaded += len;
    this.choker.recordDownload(s.id, len);
    if (p === null) return;
    const r = p.blockReceived(s.id, index, begin, len);
    const cancelled: PeerSession[] = [];
    for (const k of r.cancel) {
      const c = this.sessions.get(k as number);
      if (c !== undefined) { c.cancelRequest(index, begin, len); cancelled.push(c); }
    }
    // Endgame: a peer whose duplicate was just cancelled may be idle now; it asks for
    // the next one at once rather than at the next tick.
    if (cancelled.length > 0) queueMicrotask(() => { for (const c of cancelled) c.fill(); });
    if (r.status !== 'accepted') {
      this.counters.wasted += len;
      s.fill();
      return;
    }
    // Requests are only sent for pieces opened in the assembly, so this holds; if it
    // ever did not, the piece must fail without blaming the peers who sent it.
    if (!this.assembly!.openPiece(index) || !this.assembly!.write(index, begin, block)) this.lostBlocks.add(index);
    let ret: void | Promise<void> = undefined;
    if (r.pieceComplete) ret = this.pieceComplete(index);
    s.fill();
    return ret;
  }

  /** @internal A request to `s` ended without data (reject, choke, timeout, not sent). */
  failRequest(s: PeerSession, index: number, begin: number): void {
    const p = this.picker;
    if (p === null) return;
    p.requestFailed(s.id, index, begin);
    this.discardIfFree(index);
  }

  /** @internal Endgame: the blocks `holder` owes us are worth asking another peer for when it is slow or silent. */
  readonly mayDuplicate = (holder: number | string): boolean => {
    const s = this.sessions.get(holder as number);
    if (s === undefined || this.picker === null) return true;
    return s.pace.drainMs(this.picker.outstanding(holder), this.host.now()) > ENDGAME_AFTER_MS;
  };

  /** @internal Refill every peer's pipeline (except `skip`). */
  fillAll(skip?: PeerSession): void {
    for (const s of this.sessions.values()) if (s !== skip) s.fill();
  }

  /** @internal Apply the choker's view soon (coalesced). */
  refreshChoke(): void {
    if (this.refreshQueued || this.closedFlag) return;
    this.refreshQueued = true;
    queueMicrotask(() => {
      this.refreshQueued = false;
      if (!this.closedFlag) this.applyChoke(this.choker.refresh(this.host.now()));
    });
  }

  /** @internal */
  noteUploaded(s: PeerSession, bytes: number): void {
    this.counters.uploaded += bytes;
    this.choker.recordUpload(s.id, bytes);
  }

  /** @internal */
  notePeerRefused(s: PeerSession, index: number, begin: number, length: number): void {
    this.emit('refused', s, index, begin, length);
  }

  /** @internal */
  reportError(e: Error): void {
    this.emit('error', e);
  }

  // ------------------------------------------------------------------ internal: pieces

  private discardIfFree(index: number): void {
    const p = this.picker;
    if (p !== null && this.assembly !== null && this.assembly.has(index) && p.pieceState(index) === 'free') this.assembly.discard(index);
  }

  private pieceComplete(index: number): void | Promise<void> {
    const store = this.store!;
    const buf = this.assembly!.take(index, store.pieceSize(index));
    if (buf === null) { // cannot happen (see onBlock); never leave the piece stuck as 'complete'
      this.lostBlocks.delete(index);
      this.picker!.pieceFailed(index);
      this.fillAll();
      return;
    }
    // Counted from hashing to written: the backlog that pauses reading.
    this.pendingWrites++;
    const done: Promise<void> = this.host.hasher.hash(buf)
      .then((digest) => this.afterHash(index, buf, digest))
      .catch((e: unknown) => {
        this.assembly?.release(buf);
        if (!this.closedFlag) this.emit('error', e instanceof Error ? e : new Error(String(e)));
      })
      .finally(() => {
        this.piecesInFlight.delete(done);
        this.pendingWrites--;
        const w = this.writeWaiters.shift();
        if (w !== undefined) w();
      });
    this.piecesInFlight.add(done);
    if (this.pendingWrites >= this.maxPendingWrites) {
      return new Promise<void>((resolve) => this.writeWaiters.push(resolve));
    }
  }

  private async afterHash(index: number, buf: Buffer, digest: Buffer): Promise<void> {
    const p = this.picker!;
    if (this.closedFlag) {
      // Closing: a good piece is still written (close waits for it), nothing else happens.
      if (!this.lostBlocks.has(index) && digest.equals(pieceHash(this.metainfo!, index))) {
        await this.queueWrite(() => this.store!.writePiece(index, buf, this.assembly!.aligned)).catch(() => undefined);
      }
      this.assembly?.release(buf);
      return;
    }
    const contributors = p.contributors(index);
    const lost = this.lostBlocks.delete(index);
    if (lost || !digest.equals(pieceHash(this.metainfo!, index))) {
      this.assembly!.release(buf);
      const suspects = p.pieceFailed(index);
      if (lost) { this.fillAll(); return; }
      this.counters.hashFailures++;
      this.onHashFailure(index, suspects.map((k) => this.sessions.get(k as number)).filter((x): x is PeerSession => x !== undefined), suspects.length);
      this.fillAll();
      return;
    }
    // The verdict goes out as soon as the hash matches, not after the write: a paying
    // buyer grows its next payment on it, and the write may queue behind many others.
    this.creditContributors(index, contributors);
    try {
      await this.queueWrite(() => this.store!.writePiece(index, buf, this.assembly!.aligned));
    } catch (e) {
      this.assembly?.release(buf);
      if (this.closedFlag) return;
      p.pieceFailed(index); // fetch it again
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
      this.fillAll();
      return;
    }
    this.assembly?.release(buf);
    if (this.closedFlag) return;
    p.pieceVerified(index);
    this.onPieceHave(index);
  }

  /**
   * Run disk writes `writeConcurrency` at a time (default 1): several threads writing
   * one file contend on its inode lock and, on a fresh sparse file, on block
   * allocation; one sequential writer measured faster and steadier.
   */
  private queueWrite(job: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.writeQueue.push(() => job().then(resolve, reject));
      this.runWrites();
    });
  }

  private runWrites(): void {
    while (this.writesRunning < (this.opts.writeConcurrency ?? 1) && this.writeQueue.length > 0) {
      const job = this.writeQueue.shift()!;
      this.writesRunning++;
      void job().finally(() => { this.writesRunning--; this.runWrites(); });
    }
  }

  private onHashFailure(index: number, suspects: PeerSession[], count: number): void {
    for (const p of this.plugins) p.onPieceFailed?.(index, suspects);
    this.emit('piece_failed', index, suspects);
    for (const s of suspects) {
      this.emit('peer_piece', s, index, false);
      s.trust -= 2;
      if (count === 1 || s.trust <= -7) this.ban(s);
    }
  }

  private ban(s: PeerSession): void {
    const pid = s.conn.peerId;
    if (pid !== null) this.bannedIds.add(Buffer.from(pid).toString('hex'));
    if (s.role === 'initiator') this.bannedAddrs.add(s.address);
    this.emit('banned', s);
    s.close('BANNED');
  }

  /** A piece passed its hash check: its contributors gain trust and a good verdict. */
  private creditContributors(index: number, contributors: readonly (string | number)[]): void {
    const peers: PluginPeer[] = [];
    for (const k of contributors) {
      const s = this.sessions.get(k as number);
      if (s === undefined) continue;
      s.trust = Math.min(s.trust + 1, 20);
      peers.push(s);
      this.emit('peer_piece', s, index, true);
    }
    for (const p of this.plugins) p.onPiecePassed?.(index, peers);
  }

  private onPieceHave(index: number): void {
    const now = this.host.now();
    for (const s of this.sessions.values()) {
      if (!s.registered || s.conn.state !== 'open') continue;
      if (!s.conn.peerPieces?.get(index)) { s.conn.have(index, now); s.flushSoon(); }
      if (s.conn.amInterested) s.updateInterest();
    }
    this.emit('piece', index);
    if (this.picker!.isComplete()) this.finish();
  }

  // ------------------------------------------------------------------ internal: metadata (magnet)

  private drainMetadataEvents(): void {
    for (let ev = this.utMetadata.pollEvent(); ev !== null; ev = this.utMetadata.pollEvent()) {
      if (ev.type === 'complete' && this.metainfo === null) void this.onMetadata(ev.metainfo);
      else if (ev.type === 'invalid') this.emit('error', ev.error);
    }
  }

  private async onMetadata(m: Metainfo): Promise<void> {
    this.metainfo = m;
    this.emit('metadata', m);
    try {
      await this.setupStorage(m);
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (this.closedFlag) return;
    // Connections opened without the piece count learn it now (the wire checks what
    // their peers announced meanwhile) and start downloading.
    for (const s of [...this.sessions.values()]) s.metadataArrived(m.pieceCount);
    if (this.isComplete) this.finish();
  }

  private applyChoke(d: ChokeDecision<number>): void {
    for (const id of d.choke) this.sessions.get(id)?.chokePeer();
    for (const id of d.unchoke) this.sessions.get(id)?.unchokePeer();
  }
}
