/**
 * One BitTorrent peer connection as a sans-IO state machine (BEP 3, BEP 6, BEP 10).
 *
 * No sockets, timers or clock in here (ARCHITECTURE.md habits 1, 2):
 *  - bytes in:  `receive(chunk, now)`, `receiveEnd()`;
 *  - time in:   `handleTimeout(now)` whenever `nextTimeout()` is reached;
 *  - events out: `pollEvent()` until null. Input is parsed lazily, one message per
 *    pull, so an application that stops pulling stops the parsing too, and
 *    `bufferedInbound` tells its socket adapter when to pause reading;
 *  - bytes out: `pollTransmit()` until null. A piece is two chunks, the 13-byte
 *    header and the caller's block, never concatenated (habit 6).
 *  - commands: `sendHandshake`, `accept`/`reject`, `choke`, `request`, `sendPiece`, …
 *    A command that is illegal in the current state throws a local WireError
 *    (`remote: false`) and changes nothing. A peer that breaks the protocol ends the
 *    connection: one 'error' event with a typed WireError, then a sticky dead state.
 *
 * Strict sizes, lenient order. Rules enforced (each is a typed error): the peer's
 * info hash, fast messages only when both sides set
 * the fast bit, extended messages only when both set the BEP 10 bit and only with
 * ids we advertised, piece only for a block we requested, requests bounded by the
 * `reqq` we advertise (BEP 6: overflow is rejected; without fast it is an error).
 * Order is not enforced where it protects nothing: a bitfield / have_all / have_none
 * after other messages replaces the peer's piece set (clients resend a whole bitfield
 * mid-connection, and send have_none after their extended handshake and allowed_fast);
 * we send ours only first.
 * Interop rules: a `cancel` is answered with `reject_request` under fast
 * (Transmission #511); choking under fast rejects each pending request; extension
 * messages go out only once the peer's id for them is known (Transmission #7177).
 */

import { bytesEqual } from './bytes.js';
import { Bitfield, validateBitfield } from './bitfield.js';
import { encode, type Encodable } from './bencode.js';
import { encodeMessage, encodePieceHeader, encodedLength } from './codec.js';
import { WireError, invalidArgument } from './errors.js';
import {
  parseExtendedHandshake,
  type ExtensionContext, type ExtensionHook, type PeerControl, type PeerExtendedHandshake,
} from './extension-hooks.js';
import { Framer, DEFAULT_MAX_MESSAGE_LENGTH } from './framer.js';
import {
  HandshakeDecoder, HANDSHAKE_LENGTH, encodeHandshake, makeReserved, reservedFlags,
  type ReservedFlags,
} from './handshake.js';
import { FAST_MESSAGE_TYPES, type BlockRef, type Message } from './messages.js';
import { InboundRequests, OutboundRequests } from './requests.js';

export type { ExtensionHook, ExtensionContext, PeerExtendedHandshake } from './extension-hooks.js';
export type { BlockRef } from './messages.js';

/**
 * Defaults, in ms and counts. libtorrent's reqq default is 250 when a peer names none.
 * The reqq we advertise is what a libtorrent leecher keeps in flight with us. At 250 its
 * pipeline drains: libtorrent leaves Nagle on, so a request written behind its unanswered
 * `have` waits for our kernel's delayed ACK (40 ms), and it sits idle meanwhile. A deeper
 * pipeline keeps our data flowing, which carries the ACK at once. libtorrent itself
 * advertises 2000, but at that depth its leecher spends more CPU per block.
 */
export const CONNECTION_DEFAULTS = {
  reqq: 1000,
  defaultPeerReqq: 250,
  maxPeerReqq: 4096,
  maxRequestLength: 16 * 1024,
  handshakeTimeout: 30_000,
  idleTimeout: 120_000,
  keepAliveInterval: 60_000,
  requestTimeout: 60_000,
  maxAllowedFast: 256,
  maxBufferedOutbound: 32 * 1024 * 1024,
} as const;

/** The smallest frame cap `capFrames` sets: a 128 KiB block with its 13-byte header. */
const FRAME_CAP_FLOOR = 128 * 1024 + 13;

export interface ConnectionOptions {
  role: 'initiator' | 'acceptor';
  /** Our 20-byte peer id. */
  peerId: Uint8Array;
  /** Creation time (ms, same clock as every later `now`). */
  now: number;
  /** Initiator: the torrent we dial for. Acceptor: learnt from the peer, chosen in `accept`. */
  infoHash?: Uint8Array;
  /**
   * Initiator: the torrent's piece count, or null when not known yet (a magnet link before
   * the metadata arrived: call `setNumPieces` then). Acceptor: given to `accept`.
   */
  numPieces?: number | null;
  /** Reserved bits we advertise. Defaults: extended and fast on, dht off. */
  extended?: boolean;
  fast?: boolean;
  dht?: boolean;
  /** Outstanding requests we accept from the peer (advertised as `reqq`). */
  reqq?: number;
  /** Requests we may keep in flight when the peer names no `reqq`. */
  defaultPeerReqq?: number;
  /** Upper bound on the peer's `reqq` we honour (a hostile 2^40 is clamped). */
  maxPeerReqq?: number;
  /** Largest block length in a request, both ways. BEP 3: 16 KiB in practice. */
  maxRequestLength?: number;
  /** Largest frame we accept (framer cap). */
  maxMessageLength?: number;
  /**
   * A 'piece' event's `block` is valid only until the next `pollEvent()`: frames that
   * straddle chunks are assembled in one reused buffer instead of a new one each
   * (framer `reuseAssemblyBuffer`). For consumers that copy each block at once (the
   * torrent does); it removes an allocation per straddling block. Default false:
   * payloads stay valid as long as the fed chunks are not overwritten.
   */
  borrowPayloads?: boolean;
  handshakeTimeout?: number;
  /** Nothing received for this long ends the connection ('KEEPALIVE_TIMEOUT'). */
  idleTimeout?: number;
  /** Nothing sent for this long: send a keep-alive. */
  keepAliveInterval?: number;
  /** A request unanswered for this long is reported once ('request_timeout' event). */
  requestTimeout?: number;
  /** Distinct allowed_fast pieces remembered from the peer; more are ignored. */
  maxAllowedFast?: number;
  /**
   * While more than this many bytes wait in the transmit queue, no more input is
   * parsed: a peer that floods requests (each answered with a reject) but never reads
   * cannot grow our memory. Far above what honest traffic queues (reqq × block size),
   * so two peers seeding to each other cannot deadlock on it.
   */
  maxBufferedOutbound?: number;
  /** BEP 10 `v`. */
  clientVersion?: string;
  /** BEP 10 `p`: our listen port. */
  listenPort?: number;
  /** BEP 10 `yourip`: the peer's address as we see it (4 or 16 bytes). */
  yourIp?: Uint8Array;
  /** Extension hooks for this connection (an acceptor may also pass them to `accept`). */
  extensions?: readonly ExtensionHook[];
  /** The hooks' handle on this connection (the adapter carries its commands out); default: one that drops them. */
  control?: PeerControl;
}

export interface AcceptOptions {
  /** The torrent's piece count, or null when not known yet (see `setNumPieces`). */
  numPieces: number | null;
  extensions?: readonly ExtensionHook[];
  control?: PeerControl;
}

export interface ConnectionStats {
  /** Piece block bytes. */
  payloadBytesIn: number;
  payloadBytesOut: number;
  /** Everything else: handshake, headers, control and extension messages. */
  protocolBytesIn: number;
  protocolBytesOut: number;
}

export type ConnectionState = 'handshaking' | 'open' | 'closed' | 'error';

type Ref = { readonly index: number; readonly begin: number; readonly length: number };

export type ConnectionEvent =
  /** Acceptor only: the first 48 bytes are in; call `accept(...)` or `reject()`. */
  | { readonly type: 'handshake_info_hash'; readonly infoHash: Uint8Array; readonly reserved: Uint8Array; readonly flags: ReservedFlags }
  /** Both handshakes done; the connection is open for messages. */
  | {
    readonly type: 'handshake'; readonly infoHash: Uint8Array; readonly peerId: Uint8Array;
    readonly reserved: Uint8Array; readonly flags: ReservedFlags;
    /** Negotiated by both sides. */
    readonly extended: boolean; readonly fast: boolean;
  }
  | { readonly type: 'extended_handshake'; readonly handshake: PeerExtendedHandshake }
  /** The peer choked us. Without fast, our in-flight requests are void: listed in `dropped`. */
  | { readonly type: 'choke'; readonly dropped: readonly BlockRef[] }
  | { readonly type: 'unchoke' }
  | { readonly type: 'interested' }
  | { readonly type: 'not_interested' }
  | { readonly type: 'have'; readonly index: number }
  /** The peer's initial piece set (bitfield, have_all or have_none); see `peerPieces`. */
  | { readonly type: 'bitfield'; readonly source: 'bitfield' | 'have_all' | 'have_none'; readonly pieces: Bitfield }
  /**
   * A block we requested. `block` is a view of received bytes: copy to keep; with
   * `borrowPayloads` (and behind lib/net/peer-socket.ts, whose read buffers are reused) it
   * is valid only until the next `pollEvent()`. `late`: we had cancelled it.
   */
  | { readonly type: 'piece'; readonly index: number; readonly begin: number; readonly block: Uint8Array; readonly late: boolean }
  /** The peer asks us for a block (already admitted: within reqq, not choked or allowed fast). */
  | ({ readonly type: 'request' } & Ref)
  /** The peer withdrew a request it had pending with us (answered with reject_request under fast). */
  | ({ readonly type: 'cancel' } & Ref)
  /** The peer refused one of our requests (BEP 6). */
  | ({ readonly type: 'reject' } & Ref)
  | { readonly type: 'allowed_fast'; readonly index: number }
  | { readonly type: 'suggest'; readonly index: number }
  | { readonly type: 'port'; readonly port: number }
  /** One of our requests got no answer within `requestTimeout` (reported once; still in flight). */
  | ({ readonly type: 'request_timeout' } & Ref)
  /** The peer ended its side of the stream cleanly, at a message boundary. */
  | { readonly type: 'end' }
  /** The connection is dead (sticky). */
  | { readonly type: 'error'; readonly error: WireError };

function localError(msg: string): WireError {
  return new WireError('ILLEGAL_STATE', msg, false);
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}


interface HookSlot {
  readonly hook: ExtensionHook;
  readonly localId: number;
  active: boolean;
}

/** Messages that do not close the "first message" window for our own bitfield / have_all / have_none. */
const NEUTRAL_FIRST = new Set<Message['type']>(['keep_alive', 'extended', 'port']);

export class PeerConnection {
  readonly role: 'initiator' | 'acceptor';
  private readonly opts: ConnectionOptions;
  private readonly ourReserved: Uint8Array;
  private readonly ourFlags: ReservedFlags;
  private readonly reqqLimit: number;
  private readonly maxRequestLength: number;

  private _state: ConnectionState = 'handshaking';
  private _error: WireError | null = null;
  private readonly hs = new HandshakeDecoder();
  /** Bytes received before the handshake decoder could take them (acceptor waiting for accept). */
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private readonly framer: Framer;
  private ended = false;

  private infoHashValue: Uint8Array | null;
  private numPiecesValue: number | null;
  private ourHandshakeSent = false;
  private awaitingAccept = false;
  private headerSeen = false;
  private peerIdValue: Uint8Array | null = null;
  private peerReservedValue: Uint8Array | null = null;
  private fastOn = false;
  private extendedOn = false;

  private _amChoking = true;
  private _amInterested = false;
  private _peerChoking = true;
  private _peerInterested = false;
  private _peerPieces: Bitfield | null = null;
  /** Set while our piece count is unknown: what the peer announced meanwhile. */
  private deferred: DeferredPeerPieces | null = null;
  private ourFirstWindow = true;
  /** We have choked the peer after unchoking it at least once (see onRequest). */
  private chokeCycled = false;

  private readonly outbound: OutboundRequests;
  private readonly inbound = new InboundRequests();
  /** Pieces the peer may request while we choke it (we sent allowed_fast). */
  private readonly allowedFastOut = new Set<number>();
  /** Pieces we may request while the peer chokes us (it sent allowed_fast). */
  private readonly allowedFastIn = new Set<number>();

  private hooks: HookSlot[] = [];
  /** The peer's extension ids by name (from its extended handshakes). */
  private readonly remoteExt = new Map<string, number>();
  private peerExtHandshake: PeerExtendedHandshake | null = null;
  private peerReqqValue: number;
  /** How many requests we keep in flight at most (see `requestLimit`). */
  private requestLimitValue: number;

  private readonly events: ConnectionEvent[] = [];
  private eventHead = 0;
  private tx: Uint8Array[] = [];
  private txHead = 0;
  private txBytes = 0;

  private readonly createdAt: number;
  private lastRecvAt: number;
  private lastSendAt: number;

  private readonly _stats: ConnectionStats = { payloadBytesIn: 0, payloadBytesOut: 0, protocolBytesIn: 0, protocolBytesOut: 0 };

  constructor(opts: ConnectionOptions) {
    if (!(opts.peerId instanceof Uint8Array) || opts.peerId.length !== 20) throw invalidArgument('peerId must be 20 bytes');
    if (!Number.isFinite(opts.now)) throw invalidArgument('now must be a finite number');
    this.role = opts.role;
    this.opts = opts;
    if (opts.role === 'initiator') {
      if (!(opts.infoHash instanceof Uint8Array) || opts.infoHash.length !== 20) throw invalidArgument('initiator needs a 20-byte infoHash');
      this.infoHashValue = opts.infoHash;
      if (opts.numPieces === null) {
        this.numPiecesValue = null;
        this.deferred = new DeferredPeerPieces();
      } else {
        checkNumPieces(opts.numPieces);
        this.numPiecesValue = opts.numPieces!;
      }
    } else {
      this.infoHashValue = null;
      this.numPiecesValue = null;
    }
    this.ourFlags = { extended: opts.extended ?? true, fast: opts.fast ?? true, dht: opts.dht ?? false };
    this.ourReserved = makeReserved(this.ourFlags);
    this.reqqLimit = positiveInt(opts.reqq ?? CONNECTION_DEFAULTS.reqq, 'reqq');
    this.maxRequestLength = positiveInt(opts.maxRequestLength ?? CONNECTION_DEFAULTS.maxRequestLength, 'maxRequestLength');
    this.peerReqqValue = positiveInt(opts.defaultPeerReqq ?? CONNECTION_DEFAULTS.defaultPeerReqq, 'defaultPeerReqq');
    this.requestLimitValue = this.peerReqqValue;
    this.framer = new Framer({ maxMessageLength: opts.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH, reuseAssemblyBuffer: opts.borrowPayloads === true });
    if (this.numPiecesValue !== null) this.capFrames(this.numPiecesValue);
    this.outbound = new OutboundRequests(opts.requestTimeout ?? CONNECTION_DEFAULTS.requestTimeout);
    this.createdAt = opts.now;
    this.lastRecvAt = opts.now;
    this.lastSendAt = opts.now;
    if (opts.extensions) this.bindHooks(opts.extensions, opts.control);
  }

  // ------------------------------------------------------------------ read-only state

  get state(): ConnectionState { return this._state; }
  /** The sticky error once the connection died of one. */
  get error(): WireError | null { return this._error; }
  get infoHash(): Uint8Array | null { return this.infoHashValue; }
  get numPieces(): number | null { return this.numPiecesValue; }
  get peerId(): Uint8Array | null { return this.peerIdValue; }
  get peerReserved(): Uint8Array | null { return this.peerReservedValue; }
  /** Both sides set the fast bit. */
  get fastEnabled(): boolean { return this.fastOn; }
  /** Both sides set the BEP 10 bit. */
  get extendedEnabled(): boolean { return this.extendedOn; }
  get amChoking(): boolean { return this._amChoking; }
  get amInterested(): boolean { return this._amInterested; }
  get peerChoking(): boolean { return this._peerChoking; }
  get peerInterested(): boolean { return this._peerInterested; }
  /** The peer's pieces (packed); null until the connection is open. */
  get peerPieces(): Bitfield | null { return this._peerPieces; }
  /** The peer's last extended handshake. */
  get peerExtendedHandshake(): PeerExtendedHandshake | null { return this.peerExtHandshake; }
  /** How many requests we may have in flight: the peer's `reqq` (clamped) or the default. */
  get peerReqq(): number { return this.peerReqqValue; }
  /**
   * How many requests we keep in flight at most: the peer's advertised `reqq` minus
   * one (clamped), or `defaultPeerReqq` when it named none. The one slot of headroom is
   * measured, not folklore: Transmission 3.00 advertises reqq 512 but rejects the
   * 512th outstanding request, and sends that reject only ~8 s later (its next pulse),
   * stalling the last block of a pipeline filled exactly to reqq.
   */
  get requestLimit(): number { return this.requestLimitValue; }
  /** The `reqq` we advertise. */
  get reqq(): number { return this.reqqLimit; }
  get requestsInFlight(): number { return this.outbound.size; }
  /** Our in-flight requests in send order. */
  inFlightRequests(): BlockRef[] { return this.outbound.list(); }
  /** The peer's requests waiting for us to serve or reject, in arrival order. */
  pendingPeerRequests(): BlockRef[] { return this.inbound.list(); }
  get peerRequestCount(): number { return this.inbound.size; }
  /** Whether the peer has this exact block request pending with us (O(1)). */
  hasPeerRequest(index: number, begin: number, length: number): boolean { return this.inbound.has(index, begin, length); }
  /** Whether this exact block request of ours is in flight (O(1)). */
  hasRequest(index: number, begin: number, length: number): boolean { return this.outbound.has(index, begin, length); }
  get stats(): Readonly<ConnectionStats> { return this._stats; }
  /** Received bytes not yet turned into events (for read backpressure). */
  get bufferedInbound(): number { return this.inboxBytes + this.framer.buffered; }

  /**
   * True while the connection may still read from a chunk backed by `buffer`: unread
   * bytes in it, or events not yet polled (they may be views into it). A socket adapter
   * that reads into its own buffers reuses one only when this is false.
   */
  holdsBuffer(buffer: ArrayBufferLike): boolean {
    if (this.eventHead < this.events.length) return true;
    for (const c of this.inbox) if (c.buffer === buffer) return true;
    return this.framer.holds(buffer);
  }
  /** Queued bytes not yet taken by `pollTransmit` (for write backpressure). */
  get bufferedOutbound(): number { return this.txBytes; }
  /** The peer's id for an extension name, or null. */
  remoteExtensionId(name: string): number | null { return this.remoteExt.get(name) ?? null; }
  /** Whether the peer allowed us to request `index` while it chokes us. */
  isAllowedFastFromPeer(index: number): boolean { return this.allowedFastIn.has(index); }
  /** Whether we allowed the peer to request `index` while we choke it. */
  isAllowedFastForPeer(index: number): boolean { return this.allowedFastOut.has(index); }

  // ------------------------------------------------------------------ input

  /** Feed received bytes. The chunk is kept as a view: do not overwrite it afterwards. */
  receive(chunk: Uint8Array, now: number): void {
    if (this.isDead()) return;
    if (this.ended) throw localError('receive() after receiveEnd()');
    if (chunk.length === 0) return;
    this.lastRecvAt = Math.max(this.lastRecvAt, now);
    if (this.hs.done) this.framer.feed(chunk);
    else { this.inbox.push(chunk); this.inboxBytes += chunk.length; }
  }

  /** The peer closed its side: after the buffered messages, an 'end' event (or 'TRUNCATED'). */
  receiveEnd(): void {
    if (this.isDead() || this.ended) return;
    this.ended = true;
    // Before the handshake is parsed, bytes still wait in the inbox: the framer is
    // ended once they have been handed to it (stepHandshake).
    if (this.hs.done) this.framer.end();
  }

  /**
   * Next event, or null when more input (or an `accept`) is needed — or while the
   * transmit queue is over `maxBufferedOutbound` (drain it with `pollTransmit`).
   */
  pollEvent(): ConnectionEvent | null {
    for (;;) {
      if (this.eventHead < this.events.length) {
        const ev = this.events[this.eventHead];
        this.events[this.eventHead++] = undefined as unknown as ConnectionEvent;
        if (this.eventHead === this.events.length) { this.events.length = 0; this.eventHead = 0; }
        return ev;
      }
      if (this.isDead()) return null;
      if (this.txBytes > (this.opts.maxBufferedOutbound ?? CONNECTION_DEFAULTS.maxBufferedOutbound)) return null;
      let progressed: boolean;
      try {
        progressed = this.step();
      } catch (e) {
        this.fail(toWireError(e));
        continue;
      }
      if (!progressed) return null;
    }
  }

  /** Next chunk to write, or null. */
  pollTransmit(): Uint8Array | null {
    if (this.txHead === this.tx.length) return null;
    const c = this.tx[this.txHead];
    this.tx[this.txHead++] = undefined as unknown as Uint8Array;
    if (this.txHead === this.tx.length) { this.tx = []; this.txHead = 0; }
    this.txBytes -= c.length;
    return c;
  }

  /** When `handleTimeout` should next be called (ms, same clock as `now`), or null. */
  nextTimeout(): number | null {
    if (this.isDead()) return null;
    const o = this.opts;
    let t = this.lastRecvAt + (o.idleTimeout ?? CONNECTION_DEFAULTS.idleTimeout);
    if (this._state === 'handshaking') {
      t = Math.min(t, this.createdAt + (o.handshakeTimeout ?? CONNECTION_DEFAULTS.handshakeTimeout));
    } else {
      t = Math.min(t, this.lastSendAt + (o.keepAliveInterval ?? CONNECTION_DEFAULTS.keepAliveInterval));
      const r = this.outbound.nextDeadline();
      if (r !== null) t = Math.min(t, r);
    }
    return t;
  }

  /** Process every deadline at or before `now`. */
  handleTimeout(now: number): void {
    if (this.isDead()) return;
    const o = this.opts;
    // Bytes waiting to be parsed prove the peer alive: a stall in pulling events (an
    // adapter that paused reading for a slow application) is ours, not the peer's.
    if (this.bufferedInbound > 0 && now > this.lastRecvAt) this.lastRecvAt = now;
    if (this._state === 'handshaking' && now >= this.createdAt + (o.handshakeTimeout ?? CONNECTION_DEFAULTS.handshakeTimeout)) {
      this.fail(new WireError('HANDSHAKE_TIMEOUT', 'no complete handshake in time'));
      return;
    }
    if (now >= this.lastRecvAt + (o.idleTimeout ?? CONNECTION_DEFAULTS.idleTimeout)) {
      this.fail(new WireError('KEEPALIVE_TIMEOUT', `nothing received for ${now - this.lastRecvAt} ms`));
      return;
    }
    if (this._state !== 'open') return;
    if (now >= this.lastSendAt + (o.keepAliveInterval ?? CONNECTION_DEFAULTS.keepAliveInterval)) {
      this.queueMessage({ type: 'keep_alive' }, now);
    }
    for (const r of this.outbound.expire(now)) {
      this.emit({ type: 'request_timeout', index: r.index, begin: r.begin, length: r.length });
    }
  }

  // ------------------------------------------------------------------ handshake commands

  /** Initiator: send our handshake (first thing on the wire). */
  sendHandshake(now: number): void {
    this.assertAlive();
    if (this.role !== 'initiator') throw localError('the acceptor answers with accept()');
    if (this.ourHandshakeSent) throw localError('handshake already sent');
    this.pushHandshake(now);
  }

  /** Acceptor, after 'handshake_info_hash': serve this torrent and answer the handshake. */
  accept(a: AcceptOptions, now: number): void {
    this.assertAlive();
    if (this.role !== 'acceptor' || !this.awaitingAccept) throw localError('accept() only after a handshake_info_hash event');
    if (a.numPieces === null) {
      this.deferred = new DeferredPeerPieces();
    } else {
      checkNumPieces(a.numPieces);
      this.numPiecesValue = a.numPieces;
      this.capFrames(a.numPieces);
    }
    this.infoHashValue = this.hs.infoHash!;
    if (a.extensions) this.bindHooks(a.extensions, a.control ?? this.opts.control);
    this.awaitingAccept = false;
    this.pushHandshake(now);
  }

  /**
   * The piece count became known (a magnet link: the metadata arrived), for a connection
   * opened with `numPieces: null`. What the peer announced meanwhile is checked now as it
   * would have been on arrival (BEP 3 bitfield length and spare bits; have, allowed_fast
   * and pending request indices below the count) and reported as ONE 'bitfield' event
   * holding everything announced (source 'have_all' / 'have_none' when that is all it
   * said, else 'bitfield'); nothing is reported if the peer announced nothing. One event
   * rather than a 'have' per piece, so up to 2^22 stored haves never become 2^22 queued
   * events. A violation ends the connection with its usual typed error ('error' event).
   */
  setNumPieces(numPieces: number): void {
    this.assertAlive();
    const d = this.deferred;
    if (d === null) throw localError('setNumPieces() only once, for a connection opened with numPieces: null');
    checkNumPieces(numPieces);
    this.deferred = null;
    this.numPiecesValue = numPieces;
    this.capFrames(numPieces);
    if (this._state !== 'open') return; // nothing received yet: maybeOpen starts from the count
    try {
      const init = d.initial;
      const pieces = init === null ? new Bitfield(numPieces)
        : init.source === 'bitfield' ? Bitfield.fromBytes(init.bits, numPieces) // BAD_BITFIELD_LENGTH, BITFIELD_SPARE_BITS
          : init.source === 'have_all' ? Bitfield.full(numPieces) : new Bitfield(numPieces);
      let added = false;
      for (const i of d.haveIndices()) {
        this.checkPeerIndex(i);
        if (pieces.set(i)) added = true;
      }
      for (const i of this.allowedFastIn) this.checkPeerIndex(i);
      for (const r of this.inbound.list()) this.checkPeerIndex(r.index);
      this._peerPieces = pieces;
      if (init !== null || added) {
        const source = init !== null && init.source !== 'bitfield' && !added ? init.source : 'bitfield';
        this.emit({ type: 'bitfield', source, pieces });
      }
    } catch (e) {
      this.fail(toWireError(e));
    }
  }

  /** Acceptor: refuse the info hash. The connection ends with a local 'TORRENT_REJECTED'. */
  reject(): void {
    this.assertAlive();
    if (this.role !== 'acceptor' || !this.awaitingAccept) throw localError('reject() only after a handshake_info_hash event');
    this.fail(new WireError('TORRENT_REJECTED', 'info hash not served here', false));
  }

  /** Stop: no more events or bytes. Queued output is dropped. */
  close(): void {
    if (this.isDead()) return;
    this._state = 'closed';
    this.tx = []; this.txHead = 0; this.txBytes = 0;
    this.events.length = 0; this.eventHead = 0;
  }

  // ------------------------------------------------------------------ message commands

  choke(now: number): BlockRef[] {
    this.assertOpen();
    if (this._amChoking) return [];
    this._amChoking = true;
    this.chokeCycled = true;
    this.queueMessage({ type: 'choke' }, now);
    // BEP 6: choking no longer drops requests silently; each one not allowed-fast is rejected.
    // BEP 3 (no fast): the peer knows choke voids them all.
    const dropped = this.inbound.removeWhere((r) => !(this.fastOn && this.allowedFastOut.has(r.index)));
    if (this.fastOn) for (const r of dropped) this.queueMessage({ type: 'reject_request', ...r }, now);
    return dropped;
  }

  unchoke(now: number): void {
    this.assertOpen();
    if (!this._amChoking) return;
    this._amChoking = false;
    this.queueMessage({ type: 'unchoke' }, now);
  }

  interested(now: number): void {
    this.assertOpen();
    if (this._amInterested) return;
    this._amInterested = true;
    this.queueMessage({ type: 'interested' }, now);
  }

  notInterested(now: number): void {
    this.assertOpen();
    if (!this._amInterested) return;
    this._amInterested = false;
    this.queueMessage({ type: 'not_interested' }, now);
  }

  have(index: number, now: number): void {
    this.assertOpen();
    this.checkIndex(index);
    this.queueMessage({ type: 'have', index }, now);
  }

  /** Our piece set; only as the first state message after the handshake. */
  bitfield(pieces: Bitfield | Uint8Array, now: number): void {
    this.assertOpen();
    this.assertFirstWindow('bitfield');
    if (this.numPiecesValue === null) throw localError('the piece count is not known yet (setNumPieces)');
    const bits = pieces instanceof Bitfield ? pieces.toBytes() : pieces;
    try { validateBitfield(bits, this.numPiecesValue); } catch (e) { throw invalidArgument((e as Error).message); }
    this.ourFirstWindow = false;
    this.queueMessage({ type: 'bitfield', bits }, now);
  }

  haveAll(now: number): void {
    this.assertOpen(); this.assertFast('have_all'); this.assertFirstWindow('have_all');
    this.ourFirstWindow = false;
    this.queueMessage({ type: 'have_all' }, now);
  }

  haveNone(now: number): void {
    this.assertOpen(); this.assertFast('have_none'); this.assertFirstWindow('have_none');
    this.ourFirstWindow = false;
    this.queueMessage({ type: 'have_none' }, now);
  }

  /** Whether `request(index, …)` would be accepted now (ignoring argument checks). */
  canRequest(index: number): boolean {
    return this._state === 'open'
      && this._peerPieces !== null && this._peerPieces.get(index)
      && (!this._peerChoking || (this.fastOn && this.allowedFastIn.has(index)))
      && this.outbound.size < this.requestLimitValue;
  }

  request(index: number, begin: number, length: number, now: number): void {
    this.assertOpen();
    this.checkIndex(index);
    if (!isU32(begin)) throw invalidArgument(`bad begin ${begin}`);
    if (!(Number.isInteger(length) && length >= 1 && length <= this.maxRequestLength)) {
      throw invalidArgument(`request length ${length} outside [1, ${this.maxRequestLength}]`);
    }
    if (!this._peerPieces!.get(index)) throw localError(`the peer does not have piece ${index}`);
    if (this._peerChoking && !(this.fastOn && this.allowedFastIn.has(index))) {
      throw localError(`the peer chokes us and piece ${index} is not allowed fast`);
    }
    if (this.outbound.size >= this.requestLimitValue) throw localError(`already ${this.outbound.size} requests in flight (limit ${this.requestLimitValue}, peer reqq ${this.peerReqqValue})`);
    if (this.outbound.has(index, begin, length)) throw localError('duplicate request');
    this.outbound.add({ index, begin, length }, now);
    this.queueMessage({ type: 'request', index, begin, length }, now);
  }

  /** Withdraw one of our requests. Under fast the peer answers with the piece or a reject. */
  cancel(index: number, begin: number, length: number, now: number): void {
    this.assertOpen();
    if (!this.outbound.cancel(index, begin, length)) throw localError('cancel of a request not in flight');
    this.queueMessage({ type: 'cancel', index, begin, length }, now);
  }

  /** Whether `sendPiece` would be accepted for this block now. */
  canSendPiece(index: number, begin: number, length: number): boolean {
    if (this._state !== 'open') return false;
    if (!this.inbound.has(index, begin, length)) return false;
    if (this._amChoking && !(this.fastOn && this.allowedFastOut.has(index))) return false;
    for (const s of this.hooks) {
      if (s.active && s.hook.canSendPiece && !s.hook.canSendPiece(index, begin, length)) return false;
    }
    return true;
  }

  /**
   * Serve a block the peer has pending. Queued as header + `block` (not copied: do not
   * modify `block` until it has been written).
   */
  sendPiece(index: number, begin: number, block: Uint8Array, now: number): void {
    this.assertOpen();
    const length = block.length;
    if (!this.inbound.has(index, begin, length)) throw localError(`no pending request ${index}:${begin}:${length} from the peer`);
    if (!this.canSendPiece(index, begin, length)) throw localError(`piece ${index}:${begin}:${length} may not be sent now (choked or refused by an extension)`);
    this.inbound.remove(index, begin, length);
    this.pushTx(encodePieceHeader(index, begin, length), now);
    this.pushTx(block, now);
    this._stats.protocolBytesOut += 13;
    this._stats.payloadBytesOut += length;
    this.ourFirstWindow = false;
    for (const s of this.hooks) if (s.active && s.hook.onPieceSent) s.hook.onPieceSent(index, begin, length);
  }

  /** Refuse one of the peer's pending requests (BEP 6). */
  rejectRequest(index: number, begin: number, length: number, now: number): void {
    this.assertOpen(); this.assertFast('reject_request');
    if (!this.inbound.remove(index, begin, length)) throw localError('reject of a request the peer does not have pending');
    this.queueMessage({ type: 'reject_request', index, begin, length }, now);
  }

  /** Let the peer request `index` while we choke it (BEP 6). */
  allowedFast(index: number, now: number): void {
    this.assertOpen(); this.assertFast('allowed_fast');
    this.checkIndex(index);
    this.allowedFastOut.add(index);
    this.queueMessage({ type: 'allowed_fast', index }, now);
  }

  suggest(index: number, now: number): void {
    this.assertOpen(); this.assertFast('suggest_piece');
    this.checkIndex(index);
    this.queueMessage({ type: 'suggest_piece', index }, now);
  }

  /** BEP 5 DHT port (we must advertise the dht bit). */
  port(port: number, now: number): void {
    this.assertOpen();
    if (!this.ourFlags.dht) throw localError('port message without our dht bit');
    if (!(Number.isInteger(port) && port >= 0 && port <= 0xffff)) throw invalidArgument(`bad port ${port}`);
    this.queueMessage({ type: 'port', port }, now);
  }

  /** Send an extension message by name: only once the peer's id for it is known. */
  sendExtended(name: string, payload: Uint8Array, now: number): void {
    this.assertOpen();
    if (!this.extendedOn) throw new WireError('EXTENSION_NOT_NEGOTIATED', 'BEP 10 not negotiated', false);
    const id = this.remoteExt.get(name);
    if (id === undefined) throw new WireError('EXTENSION_NOT_NEGOTIATED', `the peer has no id for '${name}' (yet)`, false);
    this.queueMessage({ type: 'extended', id, payload }, now);
  }

  // ------------------------------------------------------------------ internals: input

  /** Process one unit of buffered input; false if nothing could be done. */
  private step(): boolean {
    if (!this.hs.done) return this.stepHandshake();
    if (this._state !== 'open') return false; // peer handshake in, ours not sent yet
    const m = this.framer.next();
    if (m === null) {
      if (this.ended) {
        this.framer.assertDrained();
        this._state = 'closed';
        this.emit({ type: 'end' });
        return true;
      }
      return false;
    }
    this.onMessage(m);
    return true;
  }

  private stepHandshake(): boolean {
    if (this.awaitingAccept) return false;
    while (this.inbox.length > 0 && !this.hs.done) {
      const chunk = this.inbox[0];
      // Feed at most up to the 48-byte header first, so an acceptor stops there and asks.
      const limit = !this.headerSeen ? 48 - this.hs.received : chunk.length;
      const part = chunk.length > limit ? chunk.subarray(0, limit) : chunk;
      const used = this.hs.feed(part);
      this.inboxBytes -= used;
      if (used === chunk.length) this.inbox.shift();
      else this.inbox[0] = chunk.subarray(used);
      if (!this.headerSeen && this.hs.headerReady) {
        this.headerSeen = true;
        const ih = this.hs.infoHash!;
        this.peerReservedValue = this.hs.reserved!;
        if (this.role === 'initiator') {
          if (!bytesEqual(ih, this.infoHashValue!)) throw new WireError('INFO_HASH_MISMATCH', 'the peer answered for another torrent');
        } else {
          this.awaitingAccept = true;
          this.emit({ type: 'handshake_info_hash', infoHash: ih, reserved: this.hs.reserved!, flags: reservedFlags(this.hs.reserved!) });
          return true;
        }
      }
    }
    if (!this.hs.done) {
      if (this.ended) this.hs.end(); // throws TRUNCATED
      return false;
    }
    // Whatever followed the handshake goes to the framer, in order.
    for (const c of this.inbox) this.framer.feed(c);
    this.inbox = [];
    this.inboxBytes = 0;
    if (this.ended) this.framer.end();
    this._stats.protocolBytesIn += HANDSHAKE_LENGTH;
    this.peerIdValue = this.hs.peerId!;
    this.maybeOpen();
    return true;
  }

  private maybeOpen(): void {
    if (this._state !== 'handshaking' || !this.hs.done || !this.ourHandshakeSent) return;
    this._state = 'open';
    const peer = reservedFlags(this.peerReservedValue!);
    this.fastOn = this.ourFlags.fast && peer.fast;
    this.extendedOn = this.ourFlags.extended && peer.extended;
    this._peerPieces = this.numPiecesValue === null ? null : new Bitfield(this.numPiecesValue);
    this.emit({
      type: 'handshake', infoHash: this.infoHashValue!, peerId: this.peerIdValue!,
      reserved: this.peerReservedValue!, flags: peer, extended: this.extendedOn, fast: this.fastOn,
    });
    if (this.extendedOn) this.sendOurExtendedHandshake(this.lastSendAt);
  }

  private onMessage(m: Message): void {
    const len = encodedLength(m);
    if (m.type === 'piece') {
      this._stats.payloadBytesIn += m.block.length;
      this._stats.protocolBytesIn += len - m.block.length;
    } else {
      this._stats.protocolBytesIn += len;
    }
    if (!this.fastOn && FAST_MESSAGE_TYPES.has(m.type)) throw new WireError('FAST_NOT_NEGOTIATED', `${m.type} without the fast extension on both sides`);
    const pieces = this._peerPieces!;
    switch (m.type) {
      case 'keep_alive': return;
      case 'choke': {
        this._peerChoking = true;
        // BEP 3: a choke voids our requests; under fast the peer rejects each itself.
        const dropped = this.fastOn ? [] : this.outbound.dropAll();
        this.emit({ type: 'choke', dropped });
        return;
      }
      case 'unchoke': this._peerChoking = false; this.emit({ type: 'unchoke' }); return;
      case 'interested': this._peerInterested = true; this.emit({ type: 'interested' }); return;
      case 'not_interested': this._peerInterested = false; this.emit({ type: 'not_interested' }); return;
      case 'have':
        this.checkPeerIndex(m.index);
        if (this.deferred !== null) { this.deferred.addHave(m.index); return; } // reported by setNumPieces
        pieces.set(m.index);
        this.emit({ type: 'have', index: m.index });
        return;
      case 'bitfield': {
        // At any time (a later one replaces the piece set: some clients resend theirs).
        // Count unknown: keep a copy (bounded by the frame cap), checked by setNumPieces.
        if (this.deferred !== null) { this.deferred.initial = { source: 'bitfield', bits: m.bits.slice() }; return; }
        const bf = Bitfield.fromBytes(m.bits, this.numPiecesValue!); // validates length and spare bits
        this._peerPieces = bf;
        this.emit({ type: 'bitfield', source: 'bitfield', pieces: bf });
        return;
      }
      case 'have_all':
        if (this.deferred !== null) { this.deferred.initial = { source: 'have_all' }; return; }
        pieces.setAll();
        this.emit({ type: 'bitfield', source: 'have_all', pieces });
        return;
      case 'have_none':
        if (this.deferred !== null) { this.deferred.initial = { source: 'have_none' }; return; }
        pieces.clearAll();
        this.emit({ type: 'bitfield', source: 'have_none', pieces });
        return;
      case 'request': return this.onRequest(m.index, m.begin, m.length);
      case 'cancel': {
        if (!this.inbound.remove(m.index, m.begin, m.length)) return; // already served or rejected
        // Transmission #511: under fast a cancel gets exactly one answer, piece or reject.
        if (this.fastOn) this.queueMessage({ type: 'reject_request', index: m.index, begin: m.begin, length: m.length }, this.lastRecvAt);
        this.emit({ type: 'cancel', index: m.index, begin: m.begin, length: m.length });
        return;
      }
      case 'piece': {
        const len2 = m.block.length;
        const s = this.outbound.settle(m.index, m.begin, len2);
        if (s === null) throw new WireError('UNREQUESTED_PIECE', `piece ${m.index}:${m.begin}:${len2} was not requested`);
        for (const h of this.hooks) if (h.active && h.hook.onPieceReceived) h.hook.onPieceReceived(m.index, m.begin, len2);
        this.emit({ type: 'piece', index: m.index, begin: m.begin, block: m.block, late: s === 'cancelled' });
        return;
      }
      case 'reject_request': {
        const s = this.outbound.settle(m.index, m.begin, m.length);
        // A reject for a cancelled request is the normal answer to our cancel; for one
        // we never made it is ignored (libtorrent does the same).
        if (s === 'inflight') {
          for (const h of this.hooks) if (h.active && h.hook.onRequestRejected) callHook(() => h.hook.onRequestRejected!(m.index, m.begin, m.length));
          this.emit({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
        }
        return;
      }
      case 'allowed_fast':
        this.checkPeerIndex(m.index);
        if (this.allowedFastIn.size < (this.opts.maxAllowedFast ?? CONNECTION_DEFAULTS.maxAllowedFast) || this.allowedFastIn.has(m.index)) {
          this.allowedFastIn.add(m.index);
          this.emit({ type: 'allowed_fast', index: m.index });
        }
        return;
      case 'suggest_piece':
        this.checkPeerIndex(m.index);
        this.emit({ type: 'suggest', index: m.index });
        return;
      case 'port': this.emit({ type: 'port', port: m.port }); return;
      case 'extended': return this.onExtended(m.id, m.payload);
      default: {
        const never: never = m;
        throw new WireError('ILLEGAL_STATE', `unhandled message ${(never as { type: string }).type}`);
      }
    }
  }

  private onRequest(index: number, begin: number, length: number): void {
    this.checkPeerIndex(index);
    if (!(length >= 1 && length <= this.maxRequestLength)) {
      throw new WireError('BAD_REQUEST', `request length ${length} outside [1, ${this.maxRequestLength}]`);
    }
    if (this._amChoking && !(this.fastOn && this.allowedFastOut.has(index))) {
      // BEP 3: requests that crossed our choke are void. BEP 6: say so explicitly.
      if (this.fastOn) this.queueMessage({ type: 'reject_request', index, begin, length }, this.lastRecvAt);
      return;
    }
    if (this.inbound.has(index, begin, length)) return; // duplicate: still one pending
    if (this.inbound.size >= this.reqqLimit) {
      if (!this.fastOn) {
        // Without fast a peer cannot tell which of its requests crossed our choke: it
        // counts them all as void, while those that reached us after our unchoke are
        // live. So once we have choked and unchoked it, up to reqq more are honest.
        const limit = this.chokeCycled ? 2 * this.reqqLimit : this.reqqLimit;
        if (this.inbound.size >= limit) throw new WireError('REQUEST_OVERFLOW', `more than ${limit} outstanding requests (reqq ${this.reqqLimit})`);
        this.inbound.add({ index, begin, length });
        this.emit({ type: 'request', index, begin, length });
        return;
      }
      // libtorrent #5831, webtorrent #1995: push back instead of queueing without bound.
      this.queueMessage({ type: 'reject_request', index, begin, length }, this.lastRecvAt);
      return;
    }
    this.inbound.add({ index, begin, length });
    this.emit({ type: 'request', index, begin, length });
  }

  /**
   * Once the piece count is known, no frame may be longer than the largest legitimate
   * one: the bitfield, a block at our maximum request length, or an extended message
   * (ut_metadata's 16 KiB pieces; handshakes are far smaller), with a 128 KiB floor.
   * A peer claiming more (a 1 MiB extended handshake) is cut at its length prefix
   * ('LENGTH_TOO_LARGE') instead of being buffered and parsed.
   */
  private capFrames(numPieces: number): void {
    this.framer.lowerMaxMessageLength(Math.max(1 + Math.ceil(numPieces / 8), 9 + this.maxRequestLength, FRAME_CAP_FLOOR));
  }

  private onExtended(id: number, view: Uint8Array): void {
    if (!this.extendedOn) throw new WireError('EXTENSION_NOT_NEGOTIATED', 'extended message without BEP 10 on both sides');
    // Hooks and the decoded handshake own their bytes (bencoded strings are views of the
    // payload, and the payload a view of a read buffer the socket adapter reuses).
    // Extended messages are small and rare next to blocks: the copy costs nothing.
    const payload = view.slice();
    if (id === 0) {
      const hs = parseExtendedHandshake(payload);
      for (const name of hs.disabled) this.remoteExt.delete(name);
      for (const [name, rid] of hs.m) this.remoteExt.set(name, rid);
      if (hs.reqq !== undefined) {
        this.peerReqqValue = Math.min(hs.reqq, this.opts.maxPeerReqq ?? CONNECTION_DEFAULTS.maxPeerReqq);
        this.requestLimitValue = Math.max(1, this.peerReqqValue - 1);
      }
      this.peerExtHandshake = hs;
      for (const s of this.hooks) {
        if (!s.active || !s.hook.onPeerHandshake) continue;
        if (!callHook(() => s.hook.onPeerHandshake!(hs))) s.active = false;
      }
      this.emit({ type: 'extended_handshake', handshake: hs });
      return;
    }
    const slot = this.hooks[id - 1];
    if (slot === undefined) throw new WireError('UNKNOWN_EXTENSION_ID', `extended message id ${id} was never advertised`);
    if (!slot.active || !slot.hook.onMessage) return; // declined for this connection: ignore
    callHook(() => slot.hook.onMessage!(payload));
  }

  // ------------------------------------------------------------------ internals: output

  private pushHandshake(now: number): void {
    this.ourHandshakeSent = true;
    this.pushTx(encodeHandshake({ infoHash: this.infoHashValue!, peerId: this.opts.peerId, reserved: this.ourReserved }), now);
    this._stats.protocolBytesOut += HANDSHAKE_LENGTH;
    this.maybeOpen();
  }

  private sendOurExtendedHandshake(now: number): void {
    const m = new Map<string, Encodable>();
    for (const s of this.hooks) m.set(s.hook.name, s.localId);
    const d = new Map<string, Encodable>();
    for (const s of this.hooks) if (s.hook.addHandshakeKeys) s.hook.addHandshakeKeys(d);
    d.set('m', m);
    d.set('reqq', this.reqqLimit);
    if (this.opts.clientVersion !== undefined) d.set('v', this.opts.clientVersion);
    if (this.opts.listenPort !== undefined) d.set('p', this.opts.listenPort);
    if (this.opts.yourIp !== undefined) d.set('yourip', this.opts.yourIp);
    this.queueMessage({ type: 'extended', id: 0, payload: encode(d) }, now);
  }

  private queueMessage(m: Message, now: number): void {
    const bytes = encodeMessage(m);
    this._stats.protocolBytesOut += bytes.length;
    if (!NEUTRAL_FIRST.has(m.type)) this.ourFirstWindow = false;
    this.pushTx(bytes, now);
  }

  private pushTx(chunk: Uint8Array, now: number): void {
    this.tx.push(chunk);
    this.txBytes += chunk.length;
    if (now > this.lastSendAt) this.lastSendAt = now;
  }

  private emit(ev: ConnectionEvent): void {
    this.events.push(ev);
  }

  private fail(err: WireError): void {
    if (this.isDead()) return;
    this._state = 'error';
    this._error = err;
    this.tx = []; this.txHead = 0; this.txBytes = 0;
    this.inbox = []; this.inboxBytes = 0;
    this.emit({ type: 'error', error: err });
  }

  private bindHooks(list: readonly ExtensionHook[], control: PeerControl = IGNORED_CONTROL): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const conn = this; // the hook context's closures reach private state through it
    for (const hook of list) {
      if (this.hooks.length >= 254) throw invalidArgument('too many extensions (ids are one byte)');
      if (this.hooks.some((s) => s.hook.name === hook.name)) throw invalidArgument(`duplicate extension '${hook.name}'`);
      const slot: HookSlot = { hook, localId: this.hooks.length + 1, active: true };
      this.hooks.push(slot);
      if (hook.attach) {
        const ctx: ExtensionContext = {
          localId: slot.localId,
          get remoteId(): number | null { return conn.remoteExt.get(hook.name) ?? null; },
          send(payload: Uint8Array): void {
            if (!slot.active) throw new WireError('EXTENSION_NOT_NEGOTIATED', `'${hook.name}' declined for this connection`, false);
            conn.sendExtended(hook.name, payload, conn.lastSendAt);
          },
          control,
        };
        hook.attach(ctx);
      }
    }
  }

  // ------------------------------------------------------------------ internals: checks

  private isDead(): boolean { return this._state === 'closed' || this._state === 'error'; }

  private assertAlive(): void {
    if (this.isDead()) throw localError(`connection is ${this._state}`);
  }

  private assertOpen(): void {
    if (this._state !== 'open') throw localError(`connection is ${this._state}, not open`);
  }

  private assertFast(what: string): void {
    if (!this.fastOn) throw new WireError('FAST_NOT_NEGOTIATED', `${what} needs the fast extension on both sides`, false);
  }

  private assertFirstWindow(what: string): void {
    if (!this.ourFirstWindow) throw new WireError('HAVE_ALL_NOT_FIRST', `${what} only as the first message after the handshake`, false);
  }

  private checkIndex(index: number): void {
    if (this.numPiecesValue === null) throw localError('the piece count is not known yet (setNumPieces)');
    if (!(Number.isInteger(index) && index >= 0 && index < this.numPiecesValue!)) {
      throw invalidArgument(`piece index ${index} outside [0, ${this.numPiecesValue})`);
    }
  }

  private checkPeerIndex(index: number): void {
    // Count unknown (magnet): indices are only bounded, and checked again by setNumPieces.
    const limit = this.numPiecesValue ?? MAX_DEFERRED_PIECES;
    if (!(index < limit)) {
      throw new WireError('BAD_PIECE_INDEX', `piece index ${index} outside [0, ${limit})`);
    }
  }
}

/**
 * Largest piece count whose indices a peer may announce while ours is unknown (a magnet
 * link before the metadata): 2^22 pieces (4 TiB in 1 MiB pieces), so the have store is
 * at most 512 KiB whatever the peer sends. A raw bitfield is bounded by the frame cap.
 */
export const MAX_DEFERRED_PIECES = 1 << 22;

/** What the peer announced about its pieces before we knew how many there are. */
class DeferredPeerPieces {
  /** Its bitfield (a copy), have_all or have_none; null if it sent none. */
  initial: { readonly source: 'bitfield'; readonly bits: Uint8Array } | { readonly source: 'have_all' | 'have_none' } | null = null;
  /** Indices from have messages, packed; grown on demand up to MAX_DEFERRED_PIECES bits. */
  private haves = new Uint8Array(0);

  addHave(index: number): void {
    const byte = index >>> 3;
    if (byte >= this.haves.length) {
      const grown = new Uint8Array(Math.min(MAX_DEFERRED_PIECES >>> 3, Math.max(byte + 1, this.haves.length * 2, 64)));
      grown.set(this.haves);
      this.haves = grown;
    }
    this.haves[byte] |= 0x80 >>> (index & 7);
  }

  *haveIndices(): IterableIterator<number> {
    const h = this.haves;
    for (let i = 0; i < h.length; i++) {
      if (h[i] === 0) continue;
      for (let j = 0; j < 8; j++) if (h[i] & (0x80 >>> j)) yield (i << 3) + j;
    }
  }
}

function checkNumPieces(n: number | undefined): void {
  if (!(Number.isInteger(n) && n! >= 0 && n! <= 0xffffffff)) throw invalidArgument(`bad numPieces ${n}`);
}

function positiveInt(n: number, what: string): number {
  if (!(Number.isInteger(n) && n >= 1)) throw invalidArgument(`${what} must be a positive integer, got ${n}`);
  return n;
}

function toWireError(e: unknown): WireError {
  if (e instanceof WireError) return e;
  return new WireError('ILLEGAL_STATE', `internal error: ${e instanceof Error ? e.message : String(e)}`, false);
}

/** A connection driven without an adapter (tests, fuzzing): hook commands go nowhere. */
const IGNORED_CONTROL: PeerControl = {
  now: () => 0, choke() {}, unchoke() {}, reject() {}, allowFast() {}, refill() {}, limitRequests() {}, close() {}, flush() {},
};

/** Run a hook callback: a WireError passes through, anything else becomes 'EXTENSION_ERROR'. */
function callHook<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WireError) throw e;
    throw new WireError('EXTENSION_ERROR', `extension hook failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
