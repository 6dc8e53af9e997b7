/**
 * Piece and block picking for the downloader: sans-IO policy, no sockets, no
 * timers, no files. The torrent session feeds it what peers announce and what
 * arrives, and asks it which blocks to request next.
 *
 * Policy, in the order `pick()` applies it:
 *  1. Pieces already in progress that still have unrequested blocks and that the
 *     peer has (keeps few pieces open, so pieces complete and get shared sooner).
 *  2. A fresh piece the peer has and we lack: rarest first (fewest peers hold
 *     it), random tie-break from an injectable RNG; or lowest index first in
 *     sequential mode.
 *  3. Endgame: when no block anywhere is left unrequested (and no fresh piece
 *     is available from anyone), blocks still in flight may be requested again
 *     from another peer, at most `endgameMaxRequesters` peers per block; when one
 *     copy arrives `blockReceived` names the other peers to send `cancel` to.
 *     As in libtorrent, only a peer with no request outstanding asks for a
 *     duplicate, and one at a time: the peers that are done with their own queue
 *     take over what slow or silent peers hold, a block per round trip, while a
 *     block about to arrive anyway is rarely asked twice (asking every idle peer
 *     for a whole pipeline of duplicates downloaded a third of a torrent twice in
 *     a swarm of four). Of the blocks in flight, those with the fewest requesters
 *     and, among them, the most recently requested are duplicated first: a peer
 *     serves its requests in order, so the newest is the furthest from being sent
 *     and the cancel that follows the first copy most likely beats the second.
 * When the peer chokes us (`choked: true`), only its allowed_fast pieces (BEP 6)
 * are considered, in the same order.
 *
 * Peers are opaque keys (number or string) chosen by the caller. The picker keeps
 * each peer's piece set itself (a packed bitfield, or just a flag for a peer that
 * has everything), because it must undo the peer's availability when it leaves
 * and must know who requested which block; so `pick` takes the peer key rather
 * than a predicate.
 *
 * Complexity (n pieces, P peers, B blocks per piece, O open pieces):
 *  - have: O(1). bitfield: O(n/8 + pieces set). have_all: O(1) (a `seeds`
 *    counter, since a seed raises every piece equally and changes no order).
 *    Peer gone: O(n/8 + its pieces + its outstanding requests); a seed leaving is O(requests).
 *  - pick, common case: O(open pieces with unrequested blocks + blocks returned)
 *    plus, when a fresh piece is needed, a walk of the availability buckets
 *    (lib/engine/availability-buckets.ts) from the rarest; for a seed that is O(buckets) ≤ O(P),
 *    for a peer holding a fraction f of the free pieces it is expected O(1/f).
 *    A per-peer count of free pieces it holds makes the walk stop at once when it
 *    holds none, so a peer with nothing for us never costs a scan.
 *    Worst case (a peer holding one free piece among millions): O(n) once, after
 *    which that piece is open and found in step 1.
 *  - sequential mode: scans forward from the first piece we lack; O(distance to
 *    the next free piece the peer has).
 *  - endgame: O(blocks in flight) per pick of a duplicate (bounded by peers × pipeline depth).
 *  - opening, closing, verifying a piece: O(P + availability) to keep the
 *    per-peer counters exact.
 * Memory: 12 bytes per piece (order, position, availability), n/8 bytes per
 * peer that is not a seed, and per open piece B bytes plus its requesters.
 */
import type { BlockRef } from '../../wire/messages.js';
import { AvailabilityBuckets } from './availability-buckets.js';
import { bitfieldByteLength as bitfieldBytes, forEachSet, getBit, setBit, spareBitsClear } from '../../wire/bitfield.js';
import { type PieceSet, packedOf, toPacked } from './piece-set.js';

export type { PieceSet } from './piece-set.js';
export type { BlockRef } from '../../wire/messages.js';

/** A peer as the caller names it: any stable number or string. */
export type PeerKey = number | string;

export const DEFAULT_BLOCK_SIZE = 16 * 1024;

export type PickerErrorCode =
  /** Local: constructor arguments do not describe a torrent. */
  | 'bad_config'
  /** Remote: a peer named a piece index outside the torrent. */
  | 'bad_index'
  /** Remote: a bitfield of the wrong length or with spare bits set. */
  | 'bad_bitfield'
  /** Local: pieceVerified/pieceFailed on a piece whose blocks are not all in. */
  | 'not_complete'
  /** Local: markHave on a piece that is being downloaded. */
  | 'busy_piece';

/** Typed error; `remote` is true when a peer's input caused it (end that peer's connection). */
export class PickerError extends Error {
  readonly code: PickerErrorCode;
  readonly remote: boolean;
  constructor(code: PickerErrorCode, message: string, remote: boolean) {
    super(message);
    this.name = 'PickerError';
    this.code = code;
    this.remote = remote;
  }
}

export interface PiecePickerOptions {
  /** Request size; 16 KiB by default (the size every client serves). */
  blockSize?: number;
  /** Uniform [0, 1) source for tie-breaks; inject a seeded one for deterministic tests. */
  rng?: () => number;
  /** Default for PickOptions.sequential. */
  sequential?: boolean;
  /** In endgame, at most this many peers may have the same block requested at once (≥ 1; default 2). */
  endgameMaxRequesters?: number;
  /** Pieces already on disk and verified (resume). */
  have?: PieceSet;
}

export interface PickOptions {
  /** Lowest index first instead of rarest first (streaming). */
  sequential?: boolean;
  /** The peer chokes us: pick only among its allowed_fast pieces. */
  choked?: boolean;
  /**
   * Allow endgame duplicates for this peer (default true). Even then, a duplicate is
   * picked only when the peer has no request outstanding, and one per pick.
   */
  endgame?: boolean;
  /**
   * Endgame: whether blocks in flight at `holder` are worth asking this peer for too
   * (e.g. the holder is slow or silent). Default: any holder's. Asked at most once per
   * holder per pick; a block qualifies when every peer holding it does.
   */
  mayDuplicate?: (holder: PeerKey) => boolean;
}

export type ReceiveStatus =
  /** Store the data: the block was wanted. */
  | 'accepted'
  /** We already had this block (an endgame race or a late copy): drop the data. */
  | 'duplicate'
  /** Not a block we could want (piece not in progress, off-grid, wrong length): drop it. */
  | 'unexpected';

export interface ReceiveResult {
  readonly status: ReceiveStatus;
  /** Other peers that still have this block requested: send them `cancel`. */
  readonly cancel: readonly PeerKey[];
  /** Every block of the piece is in: hash it, then call pieceVerified or pieceFailed. */
  readonly pieceComplete: boolean;
}

export type PieceState = 'have' | 'free' | 'downloading' | 'complete';
export type BlockState = 'have' | 'missing' | 'requested' | 'received';

const MISSING = 0;
const REQUESTED = 1;
const RECEIVED = 2;

/** A piece with at least one block requested or received. */
interface Downloading {
  readonly blocks: number;
  /** MISSING / REQUESTED / RECEIVED per block. */
  readonly state: Uint8Array;
  /** Peers that have the block requested right now (only for REQUESTED blocks). */
  readonly by: (PeerKey[] | undefined)[];
  missing: number;
  requested: number;
  received: number;
  /** No MISSING block sits below this index (saves rescanning the front of big pieces). */
  hint: number;
  /** Peers whose blocks we accepted into this piece: the suspects if the hash fails. */
  readonly contributors: Set<PeerKey>;
}

interface PeerState {
  /** Has every piece: counted in `seeds`, no bitfield kept. */
  seed: boolean;
  /** Its pieces (non-seed); null until it announces one. */
  bits: Uint8Array | null;
  /** Pieces it has (non-seed). */
  count: number;
  /** Pieces it has that are free (neither had nor in progress): 0 means no fresh pick from it. */
  free: number;
  /** Pieces it has that we lack: 0 means it is not interesting. */
  wanted: number;
  /** Block keys (see `key`) requested from it and not answered. */
  readonly requests: Set<number>;
  allowedFast: Set<number> | null;
}

export class PiecePicker {
  readonly numPieces: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  readonly blockSize: number;
  /** Blocks in a full-size piece: the stride of block keys. */
  private readonly blocksPerPiece: number;
  private readonly lastPieceLength: number;
  private readonly rng: () => number;
  private readonly sequentialDefault: boolean;
  private readonly maxRequesters: number;

  private readonly buckets: AvailabilityBuckets;
  private readonly have: Uint8Array;
  private numHave = 0;
  /** Lowest index we do not have (sequential mode starts here). */
  private cursor = 0;
  /** Peers with every piece: they add 1 to every piece's availability. */
  private seeds = 0;
  private readonly peers = new Map<PeerKey, PeerState>();
  private readonly downloading = new Map<number, Downloading>();
  /** Open pieces that still have MISSING blocks: the only ones step 1 of pick looks at. */
  private readonly withMissing = new Set<number>();
  /** Sum of `missing` over open pieces (endgame test in O(1)). */
  private missingInOpen = 0;
  /** Keys of every REQUESTED block: what endgame may duplicate, without walking whole pieces. */
  private readonly inFlight = new Set<number>();

  constructor(numPieces: number, pieceLength: number, totalLength: number, options: PiecePickerOptions = {}) {
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    const isCount = (x: number): boolean => Number.isSafeInteger(x) && x >= 0;
    if (!isCount(numPieces) || numPieces > 0xffffffff) throw new PickerError('bad_config', `bad piece count ${numPieces}`, false);
    if (!isCount(pieceLength) || pieceLength === 0) throw new PickerError('bad_config', `bad piece length ${pieceLength}`, false);
    if (!isCount(blockSize) || blockSize === 0) throw new PickerError('bad_config', `bad block size ${blockSize}`, false);
    if (!isCount(totalLength)) throw new PickerError('bad_config', `bad total length ${totalLength}`, false);
    const minTotal = numPieces === 0 ? 0 : (numPieces - 1) * pieceLength + 1;
    if (totalLength < minTotal || totalLength > numPieces * pieceLength) {
      throw new PickerError('bad_config', `total length ${totalLength} does not fit ${numPieces} pieces of ${pieceLength}`, false);
    }
    const maxReq = options.endgameMaxRequesters ?? 2;
    if (!Number.isSafeInteger(maxReq) || maxReq < 1) throw new PickerError('bad_config', `bad endgameMaxRequesters ${maxReq}`, false);
    this.numPieces = numPieces;
    this.pieceLength = pieceLength;
    this.totalLength = totalLength;
    this.blockSize = blockSize;
    this.blocksPerPiece = Math.ceil(pieceLength / blockSize);
    if (!Number.isSafeInteger(this.blocksPerPiece * numPieces)) throw new PickerError('bad_config', 'too many blocks', false);
    this.lastPieceLength = numPieces === 0 ? 0 : totalLength - (numPieces - 1) * pieceLength;
    this.rng = options.rng ?? Math.random;
    this.sequentialDefault = options.sequential ?? false;
    this.maxRequesters = maxReq;
    this.buckets = new AvailabilityBuckets(numPieces);
    this.have = new Uint8Array(bitfieldBytes(numPieces));
    if (options.have !== undefined) {
      const bits = this.validBits(options.have, false);
      forEachSet(bits, numPieces, (i) => this.markHave(i));
    }
  }

  // ---- geometry ----------------------------------------------------------

  pieceSize(index: number): number {
    return index === this.numPieces - 1 ? this.lastPieceLength : this.pieceLength;
  }

  blocksInPiece(index: number): number {
    return index === this.numPieces - 1 ? Math.ceil(this.lastPieceLength / this.blockSize) : this.blocksPerPiece;
  }

  blockLength(index: number, block: number): number {
    return Math.min(this.blockSize, this.pieceSize(index) - block * this.blockSize);
  }

  private key(index: number, block: number): number {
    return index * this.blocksPerPiece + block;
  }

  private ref(index: number, block: number): BlockRef {
    return { index, begin: block * this.blockSize, length: this.blockLength(index, block) };
  }

  // ---- our own pieces ----------------------------------------------------

  hasPiece(index: number): boolean {
    return index >= 0 && index < this.numPieces && getBit(this.have, index);
  }

  get haveCount(): number {
    return this.numHave;
  }

  isComplete(): boolean {
    return this.numHave === this.numPieces;
  }

  /** A copy of our pieces as a BEP 3 bitfield (for the `bitfield` message). */
  haveBitfield(): Uint8Array {
    return this.have.slice();
  }

  pieceState(index: number): PieceState {
    this.checkIndex(index, false);
    if (getBit(this.have, index)) return 'have';
    const d = this.downloading.get(index);
    if (d === undefined) return 'free';
    return d.received === d.blocks ? 'complete' : 'downloading';
  }

  blockState(index: number, begin: number): BlockState {
    this.checkIndex(index, false);
    if (!Number.isSafeInteger(begin) || begin < 0 || begin >= this.pieceSize(index)) {
      throw new PickerError('bad_index', `offset ${begin} outside piece ${index}`, false);
    }
    if (getBit(this.have, index)) return 'have';
    const d = this.downloading.get(index);
    if (d === undefined) return 'missing';
    const s = d.state[Math.floor(begin / this.blockSize)];
    return s === RECEIVED ? 'received' : s === REQUESTED ? 'requested' : 'missing';
  }

  /** Peers that have this block requested right now. */
  requesters(index: number, begin: number): PeerKey[] {
    const d = this.downloading.get(index);
    const by = d?.by[Math.floor(begin / this.blockSize)];
    return by === undefined ? [] : by.slice();
  }

  /** Peers whose blocks were accepted into this in-progress piece (empty if none). */
  contributors(index: number): PeerKey[] {
    const d = this.downloading.get(index);
    return d === undefined ? [] : [...d.contributors];
  }

  /** Peers holding the piece (seeds included). */
  availability(index: number): number {
    this.checkIndex(index, false);
    return this.buckets.count[index] + this.seeds;
  }

  /** Resume: a piece found on disk and verified. Only for pieces not being downloaded. */
  markHave(index: number): void {
    this.checkIndex(index, false);
    if (getBit(this.have, index)) return;
    if (this.downloading.has(index)) throw new PickerError('busy_piece', `piece ${index} is being downloaded`, false);
    this.buckets.park(index);
    for (const ps of this.peers.values()) {
      if (!ps.seed && ps.bits !== null && getBit(ps.bits, index)) ps.free--;
    }
    this.gotPiece(index);
  }

  // ---- peers -------------------------------------------------------------

  private peer(key: PeerKey): PeerState {
    let ps = this.peers.get(key);
    if (ps === undefined) {
      ps = { seed: false, bits: null, count: 0, free: 0, wanted: 0, requests: new Set(), allowedFast: null };
      this.peers.set(key, ps);
    }
    return ps;
  }

  /** The peer's bitfield message (or any PieceSet, e.g. the wire's Bitfield). Replaces what it had announced. */
  peerBitfield(peer: PeerKey, pieces: PieceSet): void {
    const bits = this.validBits(pieces, true);
    const ps = this.peer(peer);
    this.forgetPieces(ps);
    ps.bits = bits;
    forEachSet(bits, this.numPieces, (i) => this.countPiece(ps, i));
    this.dropRequestsLacking(peer, ps);
    this.maybeSeed(ps);
  }

  peerHave(peer: PeerKey, index: number): void {
    this.checkIndex(index, true);
    const ps = this.peer(peer);
    if (ps.seed) return;
    if (ps.bits === null) ps.bits = new Uint8Array(bitfieldBytes(this.numPieces));
    if (getBit(ps.bits, index)) return;
    setBit(ps.bits, index);
    this.countPiece(ps, index);
    this.maybeSeed(ps);
  }

  /** BEP 6 have_all: O(1) for a new peer. */
  peerHaveAll(peer: PeerKey): void {
    const ps = this.peer(peer);
    if (ps.seed) return;
    this.forgetPieces(ps);
    ps.seed = true;
    this.seeds++;
  }

  peerHaveNone(peer: PeerKey): void {
    const ps = this.peer(peer);
    this.forgetPieces(ps);
    this.dropRequestsLacking(peer, ps);
  }

  /** BEP 6 allowed_fast: the peer will serve this piece even while it chokes us. */
  peerAllowedFast(peer: PeerKey, index: number): void {
    this.checkIndex(index, true);
    const ps = this.peer(peer);
    if (ps.allowedFast === null) ps.allowedFast = new Set();
    ps.allowedFast.add(index);
  }

  /** Pieces the peer has that we lack, so the session knows whether to send `interested`. O(1). */
  interesting(peer: PeerKey): boolean {
    const ps = this.peers.get(peer);
    if (ps === undefined) return false;
    return ps.seed ? this.numHave < this.numPieces : ps.wanted > 0;
  }

  /** Requests outstanding to this peer. */
  outstanding(peer: PeerKey): number {
    return this.peers.get(peer)?.requests.size ?? 0;
  }

  /**
   * The peer's requests are void (it choked us without the fast extension, or the
   * connection is going): their blocks go back to the pool. Returns them.
   */
  dropRequests(peer: PeerKey): BlockRef[] {
    const ps = this.peers.get(peer);
    if (ps === undefined || ps.requests.size === 0) return [];
    const out: BlockRef[] = [];
    const keys = [...ps.requests];
    ps.requests.clear();
    for (const k of keys) {
      const index = Math.floor(k / this.blocksPerPiece);
      const block = k - index * this.blocksPerPiece;
      out.push(this.ref(index, block));
      const d = this.downloading.get(index);
      if (d !== undefined) this.release(peer, index, block, d);
    }
    return out;
  }

  /** The peer disconnected: its requests return to the pool, its pieces leave the availability counts. */
  peerGone(peer: PeerKey): BlockRef[] {
    const ps = this.peers.get(peer);
    if (ps === undefined) return [];
    const dropped = this.dropRequests(peer);
    this.forgetPieces(ps);
    this.peers.delete(peer);
    return dropped;
  }

  /** Account for one piece newly set in the peer's bits. */
  private countPiece(ps: PeerState, index: number): void {
    ps.count++;
    if (!getBit(this.have, index)) ps.wanted++;
    if (!this.buckets.isParked(index)) ps.free++;
    this.buckets.inc(index);
  }

  /** Undo a peer's contribution to availability; leaves it with no pieces. */
  private forgetPieces(ps: PeerState): void {
    if (ps.seed) {
      ps.seed = false;
      this.seeds--;
    } else if (ps.bits !== null) {
      forEachSet(ps.bits, this.numPieces, (i) => this.buckets.dec(i));
    }
    ps.bits = null;
    ps.count = 0;
    ps.free = 0;
    ps.wanted = 0;
  }

  /**
   * A peer's piece set can only shrink by a repeated bitfield / have_none, which
   * BEP 3 forbids after the first message; if a hostile peer does it anyway, its
   * requests for pieces it now disowns go back to the pool.
   */
  private dropRequestsLacking(peer: PeerKey, ps: PeerState): void {
    if (ps.requests.size === 0 || ps.seed) return;
    for (const k of [...ps.requests]) {
      const index = Math.floor(k / this.blocksPerPiece);
      if (this.peerHas(ps, index)) continue;
      ps.requests.delete(k);
      const d = this.downloading.get(index);
      if (d !== undefined) this.release(peer, index, k - index * this.blocksPerPiece, d);
    }
  }

  /** A peer that has collected every piece becomes a seed: one O(n) pass, then O(1) forever. */
  private maybeSeed(ps: PeerState): void {
    if (ps.seed || ps.count !== this.numPieces || this.numPieces === 0) return;
    this.forgetPieces(ps);
    ps.seed = true;
    this.seeds++;
  }

  private peerHas(ps: PeerState, index: number): boolean {
    return ps.seed || (ps.bits !== null && getBit(ps.bits, index));
  }

  private peerFree(ps: PeerState): number {
    return ps.seed ? this.buckets.free : ps.free;
  }

  // ---- picking -----------------------------------------------------------

  /**
   * True when every block we lack is requested or received and no piece we lack
   * is free and held by a connected peer: the time for duplicate requests.
   */
  inEndgame(): boolean {
    if (this.numHave === this.numPieces || this.missingInOpen > 0) return false;
    const requestableFree = this.seeds > 0 ? this.buckets.free : this.buckets.free - this.buckets.unavailable;
    return requestableFree === 0;
  }

  /**
   * Up to `maxBlocks` block requests to send to `peer`, recorded as requested by it.
   * Never a block we have, already received, or already requested from this peer;
   * never a piece the peer lacks.
   */
  pick(peer: PeerKey, maxBlocks: number, options: PickOptions = {}): BlockRef[] {
    const out: BlockRef[] = [];
    const ps = this.peers.get(peer);
    const max = Math.floor(maxBlocks);
    if (ps === undefined || !(max >= 1) || this.numHave === this.numPieces) return out;
    let allowed: Set<number> | null = null;
    if (options.choked === true) {
      if (ps.allowedFast === null || ps.allowedFast.size === 0) return out;
      allowed = ps.allowedFast;
    }
    const sequential = options.sequential ?? this.sequentialDefault;
    if (ps.seed || ps.wanted > 0) {
      if (sequential) this.pickSequential(peer, ps, max, allowed, out);
      else this.pickRarest(peer, ps, max, allowed, out);
    }
    if (out.length === 0 && ps.requests.size === 0 && options.endgame !== false && this.inEndgame()) {
      this.pickDuplicate(peer, ps, allowed, options.mayDuplicate, out);
    }
    return out;
  }

  /** Open pieces with unrequested blocks that this peer has (and may serve us). */
  private partials(ps: PeerState, allowed: Set<number> | null): number[] {
    const out: number[] = [];
    for (const i of this.withMissing) {
      if (this.peerHas(ps, i) && (allowed === null || allowed.has(i))) out.push(i);
    }
    return out;
  }

  /** Free pieces among the peer's allowed_fast set, for a choked pick. */
  private allowedFree(ps: PeerState, allowed: Set<number>): number[] {
    const out: number[] = [];
    for (const i of allowed) {
      if (!this.buckets.isParked(i) && this.peerHas(ps, i)) out.push(i);
    }
    return out;
  }

  private pickRarest(peer: PeerKey, ps: PeerState, max: number, allowed: Set<number> | null, out: BlockRef[]): void {
    const count = this.buckets.count;
    const byRarity = (a: number, b: number): number =>
      count[a] - count[b] || this.downloading.get(a)!.missing - this.downloading.get(b)!.missing || a - b;
    const partial = this.partials(ps, allowed).sort(byRarity);
    for (const i of partial) {
      if (out.length >= max) return;
      this.takeMissing(peer, ps, i, this.downloading.get(i)!, max, out);
    }
    if (allowed !== null) {
      const fresh = this.allowedFree(ps, allowed).sort((a, b) => count[a] - count[b] || a - b);
      for (const i of fresh) {
        if (out.length >= max) return;
        this.takeMissing(peer, ps, i, this.open(i), max, out);
      }
      return;
    }
    while (out.length < max) {
      const i = this.findRarest(ps);
      if (i < 0) return;
      this.takeMissing(peer, ps, i, this.open(i), max, out);
    }
  }

  /** The rarest free piece the peer has, random among equals; -1 if none. */
  private findRarest(ps: PeerState): number {
    if (this.peerFree(ps) === 0) return -1;
    const b = this.buckets;
    const order = b.order;
    if (ps.seed) {
      for (let k = 0; k < b.bucketCount; k++) {
        const s = b.bucketStart(k);
        const len = b.bucketEnd(k) - s;
        if (len > 0) return order[s + Math.floor(this.rng() * len)];
      }
      return -1;
    }
    const bits = ps.bits!;
    // Bucket 0 holds pieces no non-seed peer has, so this peer cannot have them.
    for (let k = 1; k < b.bucketCount; k++) {
      const s = b.bucketStart(k);
      const e = b.bucketEnd(k);
      const len = e - s;
      if (len === 0) continue;
      // Start at a random slot and wrap: a random choice among this bucket's matches.
      const r = s + Math.floor(this.rng() * len);
      for (let p = r; p < e; p++) if (getBit(bits, order[p])) return order[p];
      for (let p = s; p < r; p++) if (getBit(bits, order[p])) return order[p];
    }
    return -1;
  }

  private pickSequential(peer: PeerKey, ps: PeerState, max: number, allowed: Set<number> | null, out: BlockRef[]): void {
    const partial = this.partials(ps, allowed).sort((a, b) => a - b);
    const fresh = allowed !== null ? this.allowedFree(ps, allowed).sort((a, b) => a - b) : null;
    let pi = 0;
    let fi = 0;
    let scan = this.cursor;
    while (out.length < max) {
      let f = -1;
      if (fresh !== null) {
        if (fi < fresh.length) f = fresh[fi];
      } else {
        f = this.nextFree(ps, scan);
      }
      const p = pi < partial.length ? partial[pi] : -1;
      if (p < 0 && f < 0) return;
      if (p >= 0 && (f < 0 || p < f)) {
        this.takeMissing(peer, ps, p, this.downloading.get(p)!, max, out);
        pi++;
      } else {
        this.takeMissing(peer, ps, f, this.open(f), max, out);
        fi++;
        scan = f + 1;
      }
    }
  }

  /** Lowest free piece ≥ from that the peer has; -1 if none. */
  private nextFree(ps: PeerState, from: number): number {
    if (this.peerFree(ps) === 0) return -1;
    for (let i = from; i < this.numPieces; i++) {
      if (!this.buckets.isParked(i) && this.peerHas(ps, i)) return i;
    }
    return -1;
  }

  /**
   * Endgame: one block in flight at other peers, among those with the fewest
   * requesters the most recently requested (`inFlight` keeps the order in which
   * blocks were first requested). O(blocks in flight).
   */
  private pickDuplicate(
    peer: PeerKey, ps: PeerState, allowed: Set<number> | null, may: ((holder: PeerKey) => boolean) | undefined, out: BlockRef[],
  ): void {
    const verdicts = new Map<PeerKey, boolean>();
    const worth = (h: PeerKey): boolean => {
      let v = verdicts.get(h);
      if (v === undefined) verdicts.set(h, v = may!(h));
      return v;
    };
    let best = -1;
    let bestN = Infinity;
    for (const k of this.inFlight) {
      const index = Math.floor(k / this.blocksPerPiece);
      if (!this.peerHas(ps, index) || (allowed !== null && !allowed.has(index))) continue;
      const by = this.downloading.get(index)!.by[k - index * this.blocksPerPiece]!;
      const n = by.length;
      if (n >= this.maxRequesters || n > bestN || by.includes(peer)) continue;
      if (may !== undefined && !by.every(worth)) continue;
      best = k; // n ≤ bestN: a later key with as few requesters wins (the newer request)
      bestN = n;
    }
    if (best < 0) return;
    const index = Math.floor(best / this.blocksPerPiece);
    this.request(peer, ps, index, best - index * this.blocksPerPiece, this.downloading.get(index)!, out);
  }

  /** Request every MISSING block of an open piece, up to the limit. */
  private takeMissing(peer: PeerKey, ps: PeerState, index: number, d: Downloading, max: number, out: BlockRef[]): void {
    let b = d.hint;
    while (b < d.blocks && d.state[b] !== MISSING) b++;
    for (; b < d.blocks && out.length < max; b++) {
      if (d.state[b] === MISSING) this.request(peer, ps, index, b, d, out);
    }
    // Every MISSING block below b was just requested.
    d.hint = b;
  }

  private request(peer: PeerKey, ps: PeerState, index: number, block: number, d: Downloading, out: BlockRef[]): void {
    if (d.state[block] === MISSING) {
      d.state[block] = REQUESTED;
      this.inFlight.add(this.key(index, block));
      d.missing--;
      d.requested++;
      this.missingInOpen--;
      if (d.missing === 0) this.withMissing.delete(index);
      d.by[block] = [peer];
    } else {
      d.by[block]!.push(peer);
    }
    ps.requests.add(this.key(index, block));
    out.push(this.ref(index, block));
  }

  /** A free piece becomes in progress. */
  private open(index: number): Downloading {
    const blocks = this.blocksInPiece(index);
    const d: Downloading = {
      blocks,
      state: new Uint8Array(blocks),
      by: new Array<PeerKey[] | undefined>(blocks),
      missing: blocks,
      requested: 0,
      received: 0,
      hint: 0,
      contributors: new Set(),
    };
    this.downloading.set(index, d);
    this.withMissing.add(index);
    this.missingInOpen += blocks;
    this.buckets.park(index);
    for (const ps of this.peers.values()) {
      if (!ps.seed && ps.bits !== null && getBit(ps.bits, index)) ps.free--;
    }
    return d;
  }

  /** An in-progress piece with nothing requested goes back to the free pool, its received data discarded. */
  private close(index: number, d: Downloading): void {
    this.downloading.delete(index);
    this.withMissing.delete(index);
    this.missingInOpen -= d.missing;
    this.buckets.unpark(index);
    for (const ps of this.peers.values()) {
      if (!ps.seed && ps.bits !== null && getBit(ps.bits, index)) ps.free++;
    }
  }

  /** Remove one requester of a block; the block is MISSING again when nobody has it requested. */
  private release(peer: PeerKey, index: number, block: number, d: Downloading): void {
    const by = d.by[block];
    if (by === undefined) return;
    const at = by.indexOf(peer);
    if (at < 0) return;
    by.splice(at, 1);
    if (by.length > 0) return;
    d.by[block] = undefined;
    d.state[block] = MISSING;
    this.inFlight.delete(this.key(index, block));
    d.requested--;
    d.missing++;
    this.missingInOpen++;
    this.withMissing.add(index);
    if (block < d.hint) d.hint = block;
    // Nothing requested and nothing received: let rarest-first choose it afresh.
    if (d.requested === 0 && d.received === 0) this.close(index, d);
  }

  // ---- arrivals and failures ----------------------------------------------

  /**
   * A block arrived from `peer`. Accepted when the piece is in progress and the
   * block is not yet received, whoever requested it (a late answer to a timed-out
   * request is still good data); the sender is recorded as a contributor.
   */
  receive(peer: PeerKey, block: BlockRef): ReceiveResult {
    return this.blockReceived(peer, block.index, block.begin, block.length);
  }

  blockReceived(peer: PeerKey, index: number, begin: number, length: number): ReceiveResult {
    const none: readonly PeerKey[] = [];
    const unexpected: ReceiveResult = { status: 'unexpected', cancel: none, pieceComplete: false };
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.numPieces) return unexpected;
    const d = this.downloading.get(index);
    if (d === undefined) return getBit(this.have, index) ? { status: 'duplicate', cancel: none, pieceComplete: false } : unexpected;
    if (!Number.isSafeInteger(begin) || begin < 0 || begin % this.blockSize !== 0) return unexpected;
    const block = begin / this.blockSize;
    if (block >= d.blocks || length !== this.blockLength(index, block)) return unexpected;
    if (d.state[block] === RECEIVED) return { status: 'duplicate', cancel: none, pieceComplete: false };

    const k = this.key(index, block);
    let cancel: PeerKey[] = [];
    if (d.state[block] === REQUESTED) {
      const by = d.by[block]!;
      for (const p of by) {
        this.peers.get(p)?.requests.delete(k);
        if (p !== peer) cancel.push(p);
      }
      d.by[block] = undefined;
      d.requested--;
      this.inFlight.delete(k);
    } else {
      d.missing--;
      this.missingInOpen--;
      if (d.missing === 0) this.withMissing.delete(index);
      cancel = [];
    }
    d.state[block] = RECEIVED;
    d.received++;
    d.contributors.add(peer);
    return { status: 'accepted', cancel, pieceComplete: d.received === d.blocks };
  }

  /**
   * A request to `peer` ended without data: timed out, rejected (BEP 6), or
   * cancelled by us. The block returns to the pool unless another peer has it
   * requested. Returns false if this request was not outstanding.
   */
  requestFailed(peer: PeerKey, index: number, begin: number): boolean {
    const ps = this.peers.get(peer);
    if (ps === undefined || !Number.isSafeInteger(index) || index < 0 || index >= this.numPieces) return false;
    if (!Number.isSafeInteger(begin) || begin < 0 || begin % this.blockSize !== 0) return false;
    const block = begin / this.blockSize;
    if (block >= this.blocksInPiece(index)) return false;
    const k = this.key(index, block);
    if (!ps.requests.delete(k)) return false;
    const d = this.downloading.get(index);
    if (d !== undefined) this.release(peer, index, block, d);
    return true;
  }

  /** The completed piece hashed correctly (and was written): it is ours. */
  pieceVerified(index: number): void {
    this.checkIndex(index, false);
    const d = this.downloading.get(index);
    if (d === undefined || d.received !== d.blocks) {
      throw new PickerError('not_complete', `piece ${index} is not complete`, false);
    }
    this.downloading.delete(index);
    this.gotPiece(index);
  }

  /**
   * The completed piece failed its hash: every block goes back to missing, and the
   * peers that sent any of its blocks are returned so the caller can ban one.
   */
  pieceFailed(index: number): PeerKey[] {
    this.checkIndex(index, false);
    const d = this.downloading.get(index);
    if (d === undefined || d.received !== d.blocks) {
      throw new PickerError('not_complete', `piece ${index} is not complete`, false);
    }
    const suspects = [...d.contributors];
    this.close(index, d);
    return suspects;
  }

  private gotPiece(index: number): void {
    setBit(this.have, index);
    this.numHave++;
    for (const ps of this.peers.values()) {
      if (!ps.seed && ps.bits !== null && getBit(ps.bits, index)) ps.wanted--;
    }
    while (this.cursor < this.numPieces && getBit(this.have, this.cursor)) this.cursor++;
  }

  // ---- validation --------------------------------------------------------

  private checkIndex(index: number, remote: boolean): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.numPieces) {
      throw new PickerError('bad_index', `piece index ${index} out of range [0, ${this.numPieces})`, remote);
    }
  }

  private validBits(pieces: PieceSet, remote: boolean): Uint8Array {
    const packed = packedOf(pieces);
    if (packed !== null) {
      if (packed.length !== bitfieldBytes(this.numPieces)) {
        throw new PickerError('bad_bitfield', `bitfield of ${packed.length} bytes, expected ${bitfieldBytes(this.numPieces)}`, remote);
      }
      if (!spareBitsClear(packed, this.numPieces)) throw new PickerError('bad_bitfield', 'bitfield has spare bits set', remote);
      return packed.slice(); // our own copy, whatever the source shares
    }
    return toPacked(pieces, this.numPieces);
  }

  // ---- test support ------------------------------------------------------

  /** O(n · peers) consistency check of every counter and index; for tests. Throws on the first fault. */
  checkInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`picker invariant: ${msg}`);
    };
    this.buckets.check();
    let have = 0;
    let seeds = 0;
    let missingInOpen = 0;
    for (const ps of this.peers.values()) if (ps.seed) seeds++;
    if (seeds !== this.seeds) fail(`seeds ${this.seeds} != ${seeds}`);
    for (let i = 0; i < this.numPieces; i++) {
      const h = getBit(this.have, i);
      if (h) have++;
      const d = this.downloading.get(i);
      if (h && d !== undefined) fail(`piece ${i} both had and downloading`);
      if (this.buckets.isParked(i) !== (h || d !== undefined)) fail(`piece ${i} parked=${this.buckets.isParked(i)}`);
      let avail = 0;
      for (const ps of this.peers.values()) if (!ps.seed && ps.bits !== null && getBit(ps.bits, i)) avail++;
      if (avail !== this.buckets.count[i]) fail(`piece ${i} availability ${this.buckets.count[i]} != ${avail}`);
    }
    if (have !== this.numHave) fail(`numHave ${this.numHave} != ${have}`);
    let c = 0;
    while (c < this.numPieces && getBit(this.have, c)) c++;
    if (c !== this.cursor) fail(`cursor ${this.cursor} != ${c}`);
    for (const [i, d] of this.downloading) {
      let m = 0, r = 0, g = 0;
      for (let b = 0; b < d.blocks; b++) {
        const s = d.state[b];
        const by = d.by[b];
        if (s === MISSING) { m++; if (b < d.hint) fail(`piece ${i} block ${b} missing below hint ${d.hint}`); }
        else if (s === REQUESTED) r++;
        else if (s === RECEIVED) g++;
        else fail(`piece ${i} block ${b} bad state ${s}`);
        if ((s === REQUESTED) !== (by !== undefined)) fail(`piece ${i} block ${b} requesters/state mismatch`);
        if (by !== undefined) {
          if (by.length === 0 || new Set(by).size !== by.length) fail(`piece ${i} block ${b} requesters ${by}`);
          for (const p of by) {
            const ps = this.peers.get(p);
            if (ps === undefined || !ps.requests.has(this.key(i, b))) fail(`piece ${i} block ${b} requester ${p} does not hold the request`);
            if (!this.peerHas(ps!, i)) fail(`piece ${i} requested from ${p}, which lacks it`);
          }
        }
      }
      if (m !== d.missing || r !== d.requested || g !== d.received) fail(`piece ${i} counters`);
      if (r + g === 0) fail(`piece ${i} open with nothing requested or received`);
      if (this.withMissing.has(i) !== m > 0) fail(`piece ${i} withMissing`);
      missingInOpen += m;
    }
    for (const i of this.withMissing) if (!this.downloading.has(i)) fail(`withMissing has closed piece ${i}`);
    let requested = 0;
    for (const d of this.downloading.values()) requested += d.requested;
    if (requested !== this.inFlight.size) fail(`inFlight has ${this.inFlight.size} keys, ${requested} blocks requested`);
    for (const k of this.inFlight) {
      const i = Math.floor(k / this.blocksPerPiece);
      if (this.downloading.get(i)?.state[k - i * this.blocksPerPiece] !== REQUESTED) fail(`inFlight key ${k} not requested`);
    }
    if (missingInOpen !== this.missingInOpen) fail(`missingInOpen ${this.missingInOpen} != ${missingInOpen}`);
    for (const [key, ps] of this.peers) {
      if (ps.seed && ps.bits !== null) fail(`seed ${key} keeps bits`);
      if (!ps.seed) {
        let count = 0, free = 0, wanted = 0;
        if (ps.bits !== null) {
          forEachSet(ps.bits, this.numPieces, (i) => {
            count++;
            if (!this.buckets.isParked(i)) free++;
            if (!getBit(this.have, i)) wanted++;
          });
        }
        if (count !== ps.count || free !== ps.free || wanted !== ps.wanted) {
          fail(`peer ${key} counters count=${ps.count}/${count} free=${ps.free}/${free} wanted=${ps.wanted}/${wanted}`);
        }
      }
      for (const k of ps.requests) {
        const i = Math.floor(k / this.blocksPerPiece);
        const b = k - i * this.blocksPerPiece;
        const d = this.downloading.get(i);
        if (d === undefined || d.state[b] !== REQUESTED || !d.by[b]!.includes(key)) fail(`peer ${key} holds stale request ${i}/${b}`);
      }
    }
  }
}
