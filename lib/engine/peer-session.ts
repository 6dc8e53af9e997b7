/**
 * One peer of one torrent: the glue between a PeerConnection running over a
 * PeerSocket and the torrent's shared state (picker, choker, storage).
 *
 * Download half (here): announce interest from the picker's view of the peer,
 * keep up to min(peer's reqq, `maxPipeline`) requests in flight, copy arriving
 * blocks into the torrent's piece assembly, give blocks back to the picker on
 * reject / choke / timeout (a timed-out request is cancelled and re-requested from
 * anyone), and hand completed pieces to the torrent for hashing.
 * Upload half: serve-blocks.ts (`BlockServer`), fed with the connection's admitted
 * requests.
 *
 * Extensions act on this connection through `control` (wire/peer-control.ts): their
 * hooks queue commands (choke and hold, unchoke, reject a request, allow_fast,
 * refill, close) and this adapter carries them out when it flushes, right after the
 * hook returns or, for a hook acting from outside the connection's own events, on
 * the microtask its `flush()` asked for. A send refused by a hook (`canSendPiece`
 * false) is answered with reject_request under fast, else the peer is choked and
 * held choked (`gateHeld`) until a hook unchokes it.
 *
 * The session talks to its torrent through `SessionOwner` (below), so the engine's
 * files import each other one way only.
 */
import type { Socket } from 'node:net';
import { PeerConnection, type ConnectionEvent, type ConnectionOptions } from '../../wire/connection.js';
import { WireError, type WireErrorCode } from '../../wire/errors.js';
import type { ConnectionExtensions } from '../../extensions/registry.js';
import type { ExtensionHook, PeerCommand } from '../../wire/extension-hooks.js';
import type { PluginPeer } from '../../extensions/plugin.js';
import { PeerCommandQueue } from '../../wire/peer-control.js';
import type { Metainfo } from '../../format/metainfo.js';
import { PeerSocket } from '../net/peer-socket.js';
import { BlockServer, type ServeHost, type ServeOptions } from './block-server.js';
import type { Choker } from './choker.js';
import type { PieceAssembly } from './piece-assembly.js';
import type { PiecePicker } from './piece-picker.js';
import { DeliveryPace } from './delivery-pace.js';
import type { SlabPool } from './slab-pool.js';
import type { PieceStore } from '../files/piece-store.js';
import type { RatePath } from '../net/rate-limiter.js';

/**
 * Requests are refilled in batches of this many blocks (or a quarter of the pipeline):
 * each batch is one pick and one socket write, and on loopback a write also runs the
 * peer's TCP receive path, so batches of 16 cost the leecher ~0.5 CPU s per GiB in writev.
 */
const REFILL_BATCH = 64;

/** Why a peer connection ended. */
export type PeerCloseCode =
  /** The peer closed cleanly. */
  | 'END'
  /** We closed it: torrent or client closed. */
  | 'CLOSED'
  /** It sent data that failed the hash check. */
  | 'BANNED'
  /** Both sides have every piece. */
  | 'NOT_NEEDED'
  /** We connected to ourselves. */
  | 'SELF'
  /** A second connection to a peer, dialled the other way: both ends close the same one (cross-dial.ts). */
  | 'DUPLICATE'
  /** A torrent we do not serve (acceptor). */
  | 'UNKNOWN_TORRENT'
  /** A request we will not serve, without the fast extension to refuse it. */
  | 'BAD_REQUEST'
  /** A disk read or write failed while serving this peer. */
  | 'STORAGE'
  /** The peer broke an extension's protocol (e.g. SeedPay: a flood of proofs, malformed messages); the error names the extension. */
  | 'EXTENSION_VIOLATION'
  /** Any typed wire / socket error (protocol breach, timeout, socket failure). */
  | WireErrorCode;

export interface PeerCloseReason {
  readonly code: PeerCloseCode;
  /** The typed error behind it, if any. */
  readonly error: Error | null;
}

/** Per-peer settings (from the client). */
export interface SessionSettings {
  readonly connection: Omit<ConnectionOptions, 'role' | 'now' | 'infoHash' | 'numPieces' | 'extensions'>;
  readonly maxPipeline: number;
  /** Largest block served. */
  readonly maxBlockLength: number;
  readonly now: () => number;
}

/**
 * What a session needs of its torrent (engine/torrent.ts implements it). The download
 * and serving state is shared by all of the torrent's sessions.
 */
export interface SessionOwner {
  readonly infoHash: Uint8Array;
  readonly metainfo: Metainfo | null;
  readonly picker: PiecePicker | null;
  readonly assembly: PieceAssembly | null;
  readonly store: PieceStore | null;
  readonly choker: Choker<number>;
  readonly isComplete: boolean;
  readonly sequential: boolean;
  readonly wireNumPieces: number | null;
  readonly slabPool: SlabPool;
  readonly serveOptions: ServeOptions;
  /** Upload and download limits (the torrent's, under the client's). */
  readonly uploadRate: RatePath;
  readonly downloadRate: RatePath;
  /** Requests to keep in flight per peer while the download is limited (Infinity: no cap). */
  readonly pipelineCap: number;
  /** This connection's extension hooks. */
  makeExtensions(s: PeerSession): ConnectionExtensions;
  /** An incoming peer named this torrent: false to refuse it. */
  acceptsPeer(s: PeerSession): boolean;
  /** Handshake done: false if the peer was refused (and closed). */
  registerPeer(s: PeerSession): boolean;
  /** The session's socket is gone. */
  unregisterPeer(s: PeerSession): void;
  /** Called after each connection event has been handled. */
  onPeerEvent(s: PeerSession, ev: ConnectionEvent): void;
  onBlock(s: PeerSession, index: number, begin: number, block: Uint8Array): void | Promise<void>;
  failRequest(s: PeerSession, index: number, begin: number): void;
  fillAll(skip?: PeerSession): void;
  /** Endgame: whether the blocks in flight at `holder` (a session id) are worth asking another peer for. */
  readonly mayDuplicate: (holder: number | string) => boolean;
  refreshChoke(): void;
  closeSeed(s: PeerSession): void;
  noteUploaded(s: PeerSession, bytes: number): void;
  notePeerRefused(s: PeerSession, index: number, begin: number, length: number): void;
  reportError(e: Error): void;
  /** The session carried out its hooks' commands: a held seed may be idle now. */
  peerSettled(s: PeerSession): void;
}

let nextSessionId = 1;

export class PeerSession implements ServeHost, PluginPeer {
  /** The key of this peer in the picker and the choker. */
  readonly id = nextSessionId++;
  /** "host:port" (dialled address, or the remote end of an accepted socket). */
  readonly address: string;
  readonly role: 'initiator' | 'acceptor';
  readonly conn: PeerConnection;
  readonly socket: Socket;
  readonly peerSocket: PeerSocket;
  /** Null for an acceptor until the peer names a torrent we serve. */
  torrent: SessionOwner | null;
  /** The extension hooks' handle on this connection (commands carried out at each flush). */
  readonly control: PeerCommandQueue;
  /** This connection's extension hooks (null before the torrent is known). */
  extensions: ConnectionExtensions | null = null;
  /** An extension refused a block without fast: the peer stays choked until `resume()`. */
  gateHeld = false;
  /**
   * Requests in flight an extension allows to this peer (control.limitRequests): a
   * buyer caps what it asks of a seller it is not buying from, or buys little from.
   * Infinity: no such cap.
   */
  requestAllowance = Infinity;
  /** Hash-check trust: +1 per good piece it contributed to, −2 per bad one. */
  trust = 0;
  /** Payload bytes. */
  uploaded = 0;
  downloaded = 0;
  /** Set once the BitTorrent handshake is complete and the torrent registered us. */
  registered = false;
  /** How fast it delivers what we ask (endgame asks others only for what it cannot deliver soon). */
  readonly pace = new DeliveryPace();
  readonly maxBlockLength: number;
  private readonly settings: SessionSettings;
  private server: BlockServer | null = null;
  private closeReason: PeerCloseReason | null = null;
  private flushQueued = false;
  private closing = false;
  private pumpQueued = false;
  private readonly resolveTorrent: ((infoHash: Uint8Array) => SessionOwner | null) | null;

  /** Dial: `torrent` known. Accept: `resolve` picks the torrent from the peer's info hash. */
  constructor(
    socket: Socket, address: string, settings: SessionSettings,
    target: { torrent: SessionOwner } | { resolve: (infoHash: Uint8Array) => SessionOwner | null },
  ) {
    this.socket = socket;
    this.address = address;
    this.settings = settings;
    this.maxBlockLength = settings.maxBlockLength;
    this.control = new PeerCommandQueue(settings.now, () => this.flushSoon());
    const now = settings.now();
    if ('torrent' in target) {
      const t = target.torrent;
      this.role = 'initiator';
      this.torrent = t;
      this.resolveTorrent = null;
      this.extensions = t.makeExtensions(this);
      this.conn = new PeerConnection({
        ...settings.connection, role: 'initiator', now, infoHash: t.infoHash,
        numPieces: t.wireNumPieces, extensions: this.extensions.hooks, control: this.control,
      });
      this.conn.sendHandshake(now);
    } else {
      this.role = 'acceptor';
      this.torrent = null;
      this.resolveTorrent = target.resolve;
      this.conn = new PeerConnection({ ...settings.connection, role: 'acceptor', now });
    }
    this.peerSocket = new PeerSocket(socket, this.conn, {
      onEvent: (ev) => this.onEvent(ev),
      onClose: (reason) => this.onClosed(reason),
      onDrain: () => this.server?.pump(),
      now: settings.now,
      // An acceptor learns its torrent, and so its download limit, from the handshake.
      readRate: this.torrent?.downloadRate ?? null,
    });
  }

  // ------------------------------------------------------------------ public API

  /** This connection's hook of extension `name` while it is active (not declined or closed), else null. */
  hook(name: string): ExtensionHook | null {
    const ext = this.extensions;
    return ext !== null && ext.isActive(name) ? ext.hook(name) : null;
  }

  /** Closed, or closing at our request. */
  get isClosed(): boolean { return this.closing || this.peerSocket.isClosed; }
  get writeBlocked(): boolean { return this.peerSocket.writeBlockedNow; }
  /** The peer's id (after the handshake). */
  get peerId(): Uint8Array | null { return this.conn.peerId; }
  get isSeed(): boolean { return this.conn.peerPieces?.hasAll() ?? false; }
  get reason(): PeerCloseReason | null { return this.closeReason; }

  /**
   * The peer may be served again (a hook's 'unchoke': e.g. SeedPay credit arrived).
   * Lifts a gate hold, lets the choker unchoke it, and retries queued requests.
   */
  resume(): void {
    if (this.isClosed) return;
    this.gateHeld = false;
    const t = this.torrent;
    // The gate choked it behind the choker's back: if its slot is still held, unchoke now.
    if (t !== null && t.choker.isUnchoked(this.id)) this.unchokePeer();
    t?.refreshChoke();
    this.pumpSoon();
  }

  /** End this connection with a local reason. */
  close(code: PeerCloseCode, error: Error | null = null): void {
    if (this.isClosed) return;
    this.closing = true;
    if (this.closeReason === null) this.closeReason = { code, error };
    if (code === 'CLOSED' || code === 'NOT_NEEDED' || code === 'DUPLICATE') {
      this.peerSocket.close();
      // Do not wait for the peer's FIN: release the socket once our last bytes are out.
      this.socket.destroySoon();
    }
    else this.peerSocket.destroy(error instanceof WireError ? error : new WireError('TORRENT_REJECTED', `${code}: ${error?.message ?? 'closed by us'}`, false));
  }

  /** Carry out the hooks' commands and write what the connection queued, soon (coalesced: once per microtask). */
  flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.runCommands();
      this.peerSocket.flush();
    });
  }

  /** Carry out what the hooks queued on `control`, in order. */
  private runCommands(): void {
    if (!this.control.pending) return;
    const cmds = this.control.drain();
    for (const c of cmds) this.runCommand(c);
    this.torrent?.peerSettled(this);
  }

  private runCommand(c: PeerCommand): void {
    if (this.isClosed) return;
    switch (c.type) {
      case 'choke':
        this.gateHeld = true;
        this.chokePeer();
        break;
      case 'unchoke':
        this.resume();
        break;
      case 'reject':
        this.refuse(c.index, c.begin, c.length);
        break;
      case 'allow_fast':
        if (this.conn.state === 'open' && this.conn.fastEnabled && this.hasPiece(c.index)) this.conn.allowedFast(c.index, this.now());
        break;
      case 'refill':
        this.fill(true);
        break;
      case 'request_limit': {
        const raised = (c.max ?? Infinity) > this.requestAllowance;
        this.requestAllowance = c.max ?? Infinity;
        if (raised) this.fill(true);
        break;
      }
      case 'close':
        this.close(c.code, c.error);
        break;
    }
  }

  /** A hook refused one of the peer's requests outside the serving path: reject it under fast, else hold the peer choked. */
  private refuse(index: number, begin: number, length: number): void {
    if (this.conn.state !== 'open') return;
    if (this.conn.fastEnabled) {
      if (!this.conn.hasPeerRequest(index, begin, length)) return;
      this.server?.cancel(index, begin, length);
      this.conn.rejectRequest(index, begin, length, this.now());
    } else if (!this.conn.amChoking) {
      this.gateHeld = true;
      this.chokePeer();
    }
  }

  // ------------------------------------------------------------------ ServeHost

  now(): number { return this.settings.now(); }
  pieceSize(index: number): number {
    const t = this.torrent;
    return t === null || t.metainfo === null || !(index >= 0 && index < t.metainfo.pieceCount) ? -1 : t.metainfo.fileMap.pieceSize(index);
  }
  hasPiece(index: number): boolean { return this.torrent?.picker?.hasPiece(index) ?? false; }
  get uploadRate(): RatePath { return this.torrent!.uploadRate; }
  readBlock(index: number, begin: number, length: number, into: Buffer): Promise<Buffer> {
    return this.torrent!.store!.readBlock(index, begin, length, into);
  }
  flush(): void { this.peerSocket.flush(); }

  badRequest(index: number, begin: number, length: number, why: string): void {
    if (this.conn.fastEnabled) {
      this.conn.rejectRequest(index, begin, length, this.now());
      this.flushSoon();
    } else {
      // BEP 3 has no way to refuse a request: silence would stall the peer, so a
      // request we will never serve (we never announced the piece, or it lies outside
      // it) ends the connection.
      this.close('BAD_REQUEST', new WireError('BAD_REQUEST', `request ${index}:${begin}:${length}: ${why}`));
    }
  }

  gateRefused(index: number, begin: number, length: number): void {
    const now = this.now();
    if (this.conn.fastEnabled) {
      this.conn.rejectRequest(index, begin, length, now);
    } else if (!this.conn.amChoking) {
      this.gateHeld = true;
      this.chokePeer();
    }
    this.flushSoon();
    this.torrent?.notePeerRefused(this, index, begin, length);
  }

  served(bytes: number): void {
    this.uploaded += bytes;
    this.torrent?.noteUploaded(this, bytes);
  }

  readFailed(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.torrent?.reportError(e);
    this.close('STORAGE', e);
  }

  // ------------------------------------------------------------------ used by the torrent

  /** Choke the peer (choker decision or gate) and forget its dropped requests. */
  chokePeer(): void {
    if (this.conn.state !== 'open' || this.conn.amChoking) return;
    this.conn.choke(this.now());
    const fast = this.conn.fastEnabled;
    this.server?.choked((i) => fast && this.conn.isAllowedFastForPeer(i));
    this.flushSoon();
  }

  unchokePeer(): void {
    if (this.conn.state !== 'open' || !this.conn.amChoking || this.gateHeld) return;
    this.conn.unchoke(this.now());
    this.flushSoon();
  }

  /** Send interested / not interested per the picker. */
  updateInterest(): void {
    const t = this.torrent;
    if (t === null || this.conn.state !== 'open' || t.picker === null) return;
    const want = !t.isComplete && t.picker.interesting(this.id);
    if (want && !this.conn.amInterested) { this.conn.interested(this.now()); this.flushSoon(); } else if (!want && this.conn.amInterested) { this.conn.notInterested(this.now()); this.flushSoon(); }
  }

  /** Top up the request pipeline. */
  fill(force = false): void {
    const t = this.torrent;
    const conn = this.conn;
    if (t === null || t.picker === null || t.isComplete || conn.state !== 'open' || !this.registered) return;
    const choked = conn.peerChoking;
    if (choked && !conn.fastEnabled) return;
    // requestLimit: the peer's reqq less one (Transmission rejects its reqq-th request).
    const depth = Math.min(conn.requestLimit, this.settings.maxPipeline, t.pipelineCap, this.requestAllowance);
    const inFlight = conn.requestsInFlight;
    const want = depth - inFlight;
    if (want <= 0) return;
    // Refill in batches: one pick of 16+ blocks costs about what one pick of 1 does.
    if (!force && inFlight > 0 && want < Math.min(REFILL_BATCH, depth >> 2)) return;
    const picks = t.picker.pick(this.id, want, { choked, sequential: t.sequential, mayDuplicate: t.mayDuplicate });
    if (picks.length === 0) return;
    const now = this.now();
    this.pace.requested(now);
    for (const b of picks) {
      if (!t.assembly!.openPiece(b.index)) { t.failRequest(this, b.index, b.begin); continue; }
      try {
        conn.request(b.index, b.begin, b.length, now);
      } catch {
        t.failRequest(this, b.index, b.begin);
      }
    }
    this.flushSoon();
  }

  /**
   * A magnet link's metadata arrived: give the connection its piece count (it checks
   * what the peer announced meanwhile), feed the peer's pieces to the new picker and
   * start serving.
   */
  metadataArrived(pieceCount: number): void {
    const t = this.torrent;
    const conn = this.conn;
    if (t === null || t.picker === null || this.isClosed) return;
    if (conn.numPieces === null) conn.setNumPieces(pieceCount);
    if (conn.state === 'handshaking') return; // the handshake event registers it later
    if (conn.state !== 'open' || !this.registered) return;
    // The merged 'bitfield' event follows on the next pump; applying it now too is idempotent.
    const pp = conn.peerPieces;
    if (pp !== null) {
      if (pp.hasAll()) t.picker.peerHaveAll(this.id);
      else if (pp.count > 0) t.picker.peerBitfield(this.id, pp);
    }
    if (this.server === null) this.server = new BlockServer(this, t.slabPool, t.serveOptions);
    const now = this.now();
    for (let i = 0; i < pieceCount; i++) if (t.picker.hasPiece(i)) conn.have(i, now);
    this.updateInterest();
    this.fill();
    this.flushSoon();
  }

  /** Endgame: another peer delivered this block first. */
  cancelRequest(index: number, begin: number, length: number): void {
    if (this.conn.state !== 'open') return;
    try {
      this.conn.cancel(index, begin, length, this.now());
      this.flushSoon();
    } catch {
      // not in flight at the connection any more
    }
  }

  // ------------------------------------------------------------------ events

  private onEvent(ev: ConnectionEvent): void | Promise<void> {
    let t = this.torrent;
    let ret: void | Promise<void> = undefined;
    switch (ev.type) {
      case 'handshake_info_hash': {
        const found = this.resolveTorrent?.(ev.infoHash) ?? null;
        if (found === null || !found.acceptsPeer(this)) {
          this.closeReason = { code: 'UNKNOWN_TORRENT', error: null };
          this.conn.reject();
          return;
        }
        this.torrent = t = found;
        this.peerSocket.setReadRate(found.downloadRate);
        this.extensions = found.makeExtensions(this);
        this.conn.accept({ numPieces: found.wireNumPieces, extensions: this.extensions.hooks, control: this.control }, this.now());
        return;
      }
      case 'handshake':
        if (t === null) return;
        if (!t.registerPeer(this)) return;
        this.registered = true;
        if (t.metainfo !== null) {
          this.server = new BlockServer(this, t.slabPool, t.serveOptions);
        }
        break;
      case 'bitfield':
        if (t === null || t.picker === null) break;
        if (ev.source === 'have_all') t.picker.peerHaveAll(this.id);
        else if (ev.source === 'have_none') t.picker.peerHaveNone(this.id);
        else t.picker.peerBitfield(this.id, ev.pieces);
        if (t.isComplete && ev.pieces.hasAll()) { t.closeSeed(this); return; }
        this.updateInterest();
        this.fill();
        break;
      case 'have':
        if (t === null || t.picker === null) break;
        t.picker.peerHave(this.id, ev.index);
        if (t.isComplete && this.conn.peerPieces?.hasAll()) { t.closeSeed(this); return; }
        this.updateInterest();
        this.fill();
        break;
      case 'allowed_fast':
        if (t === null || t.picker === null) break;
        t.picker.peerAllowedFast(this.id, ev.index);
        this.fill();
        break;
      case 'unchoke':
        this.fill(true);
        break;
      case 'choke':
        if (t !== null) {
          for (const r of ev.dropped) t.failRequest(this, r.index, r.begin);
          t.fillAll(this);
        }
        break;
      case 'interested':
      case 'not_interested':
        t?.choker.setInterested(this.id, ev.type === 'interested');
        t?.refreshChoke();
        break;
      case 'request':
        this.server?.enqueue(ev.index, ev.begin, ev.length);
        this.pumpSoon();
        break;
      case 'cancel':
        this.server?.cancel(ev.index, ev.begin, ev.length);
        break;
      case 'piece':
        this.pace.delivered(this.now());
        if (t !== null) ret = t.onBlock(this, ev.index, ev.begin, ev.block);
        break;
      case 'reject':
        // Not re-requested from this peer at once (it just refused); the torrent's
        // tick or another arrival refills it.
        t?.failRequest(this, ev.index, ev.begin);
        t?.fillAll(this);
        break;
      case 'request_timeout':
        if (t !== null) {
          this.cancelRequest(ev.index, ev.begin, ev.length);
          t.failRequest(this, ev.index, ev.begin);
          t.fillAll(this);
        }
        break;
      case 'end':
        if (this.closeReason === null) this.closeReason = { code: 'END', error: null };
        break;
      default:
        break;
    }
    t?.onPeerEvent(this, ev);
    return ret;
  }

  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    // After the socket's batch of events: requests that arrived together are read together.
    queueMicrotask(() => { this.pumpQueued = false; this.server?.pump(); });
  }

  private onClosed(reason: WireError | null): void {
    if (this.closeReason === null) {
      this.closeReason = reason === null ? { code: 'END', error: null } : { code: reason.code, error: reason };
    }
    this.server?.close();
    this.extensions?.close(this.closeReason);
    this.control.drain(); // commands for a closed connection: nothing to carry out
    this.torrent?.unregisterPeer(this);
  }
}
