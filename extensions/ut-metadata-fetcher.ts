/**
 * Fetching a torrent's info dictionary from peers (BEP 9), for a magnet link: one
 * `MetadataFetcher` per torrent, shared by all its connections. Sans-IO: sources (the
 * per-connection ut_metadata hooks) feed it handshakes, data and rejects; it answers
 * by asking sources to send requests; time comes in through `handleTimeout(now)`.
 *
 * How it works
 *  - Each source advertises `metadata_size` in its extended handshake. Sizes above
 *    `maxMetadataSize` (default 16 MiB: the info dict of a torrent with ~800k pieces)
 *    are refused: such a source is never asked. A source without a size is never
 *    asked either (we could not check its answers).
 *  - One attempt at a time: the size advertised by most usable sources is fetched, in
 *    16 KiB pieces, at most `maxRequestsPerPeer` in flight per source, each piece from
 *    one source. Pieces are kept as they arrive (allocation follows what arrived, never
 *    the claimed size), concatenated and checked with `parseInfo(bytes,
 *    { expectedInfoHash })` once all are in.
 *  - Hash mismatch: the attempt is discarded. If one source supplied every piece it is
 *    banned (event 'peer_banned'; its label is remembered so a reconnect is not asked
 *    again). If several did, the culprit is unknown: each is marked suspect and from
 *    then on attempts take all pieces from ONE source (non-suspects first, then the
 *    fewest failures), so the next failure names its culprit.
 *  - A reject or a timeout frees the piece for another source and rests that source for
 *    `retryAfter`. A late answer to a timed-out request is ignored, not an error.
 *  - Hostile data (typed UtMetadataError; the source is dropped first, the hook rethrows
 *    it so the connection ends): a piece not requested from that source, a total_size
 *    other than the size we requested under, a payload not of the piece's exact length.
 *  - Hash matched but the dictionary is unusable (bad paths, sizes, …): the torrent
 *    itself is bad; the fetcher stops with an 'invalid' event.
 *
 * Clock: hooks have no clock, so requests they trigger are stamped with the latest
 * `now` the fetcher was given (constructor, `handleTimeout`). Call `handleTimeout(now)`
 * when `nextTimeout()` is due and, ideally, on a regular tick (≤ 1 s): a request is
 * then timed out at most one tick early.
 */

import { MetainfoError, parseInfo, type Metainfo, type ParseOptions } from '../format/metainfo.js';
import { invalidArgument } from '../wire/errors.js';
import {
  METADATA_PIECE_LENGTH, UtMetadataError, metadataPieceCount, metadataPieceLength,
} from './ut-metadata-codec.js';

export const METADATA_FETCH_DEFAULTS = {
  /** BEP 9 gives no limit; 16 MiB holds the info dict of any sane torrent. */
  maxMetadataSize: 16 * 1024 * 1024,
  requestTimeout: 20_000,
  retryAfter: 10_000,
  maxRequestsPerPeer: 4,
  /** Banned peer labels remembered (oldest forgotten first). */
  maxBannedPeers: 1024,
} as const;

/** One peer able to answer ut_metadata requests (the per-connection hook). */
export interface MetadataSource {
  /** Label for events and bans (e.g. "host:port"). */
  readonly peer: string;
  /** Queue a request for metadata piece `piece`; false if the connection cannot send any more. */
  sendRequest(piece: number): boolean;
}

export interface MetadataFetcherOptions {
  infoHash: Uint8Array;
  /** Creation time (ms): the clock until the first `handleTimeout`. */
  now: number;
  maxMetadataSize?: number;
  /** A request unanswered this long is given to another source. */
  requestTimeout?: number;
  /** A source that rejected or timed out is not asked again for this long. */
  retryAfter?: number;
  maxRequestsPerPeer?: number;
  maxBannedPeers?: number;
  /** Bounds for parsing the fetched info dict. */
  parseOptions?: ParseOptions;
}

export type MetadataFetchEvent =
  /** The metadata arrived and hashes to the info hash. */
  | { readonly type: 'complete'; readonly metainfo: Metainfo }
  /** An attempt's bytes did not hash to the info hash; these sources supplied them. */
  | { readonly type: 'verify_failed'; readonly size: number; readonly contributors: readonly string[] }
  /** A source alone supplied metadata that failed verification: never asked again. */
  | { readonly type: 'peer_banned'; readonly peer: string }
  /** The metadata hashed correctly but is not a usable info dict: fetching stopped. */
  | { readonly type: 'invalid'; readonly error: Error };

export type MetadataFetchState = 'fetching' | 'done' | 'invalid' | 'stopped';

interface SourceState {
  /** Advertised metadata_size, when usable (≤ max). */
  size: number | null;
  /** piece → time requested (current attempt only). */
  readonly outstanding: Map<number, number>;
  /** Pieces requested earlier whose answer no longer counts (timed out, attempt gone). */
  readonly stale: Set<number>;
  retryAt: number;
  failures: number;
  suspect: boolean;
  banned: boolean;
}

interface Attempt {
  readonly size: number;
  readonly count: number;
  readonly pieces: (Uint8Array | undefined)[];
  received: number;
  /** Pieces neither received nor in flight; popped from the end (kept reversed: piece 0 first). */
  readonly unassigned: number[];
  readonly contributors: Set<MetadataSource>;
  /** Isolation mode: the one source this attempt asks. */
  source: MetadataSource | null;
}

export class MetadataFetcher {
  readonly infoHash: Uint8Array;
  private readonly maxSize: number;
  private readonly requestTimeout: number;
  private readonly retryAfter: number;
  private readonly perPeer: number;
  private readonly maxBanned: number;
  private readonly parseOptions: ParseOptions | undefined;

  private now: number;
  private _state: MetadataFetchState = 'fetching';
  private _metainfo: Metainfo | null = null;
  private readonly sources = new Map<MetadataSource, SourceState>();
  private readonly bannedPeers = new Set<string>();
  private attempt: Attempt | null = null;
  /** After a multi-source verification failure: one source per attempt. */
  private isolate = false;
  private readonly events: MetadataFetchEvent[] = [];

  constructor(o: MetadataFetcherOptions) {
    if (!(o.infoHash instanceof Uint8Array) || o.infoHash.length !== 20) throw invalidArgument('infoHash must be 20 bytes');
    if (!Number.isFinite(o.now)) throw invalidArgument('now must be a finite number');
    this.infoHash = o.infoHash.slice();
    this.now = o.now;
    this.maxSize = posInt(o.maxMetadataSize ?? METADATA_FETCH_DEFAULTS.maxMetadataSize, 'maxMetadataSize');
    this.requestTimeout = posInt(o.requestTimeout ?? METADATA_FETCH_DEFAULTS.requestTimeout, 'requestTimeout');
    this.retryAfter = posInt(o.retryAfter ?? METADATA_FETCH_DEFAULTS.retryAfter, 'retryAfter');
    this.perPeer = posInt(o.maxRequestsPerPeer ?? METADATA_FETCH_DEFAULTS.maxRequestsPerPeer, 'maxRequestsPerPeer');
    this.maxBanned = posInt(o.maxBannedPeers ?? METADATA_FETCH_DEFAULTS.maxBannedPeers, 'maxBannedPeers');
    this.parseOptions = o.parseOptions;
  }

  // ------------------------------------------------------------------ state

  get state(): MetadataFetchState { return this._state; }
  /** The verified metadata once 'complete'. */
  get metainfo(): Metainfo | null { return this._metainfo; }
  /** The size being fetched now, or null. */
  get attemptSize(): number | null { return this.attempt?.size ?? null; }
  /** Pieces in and total of the current attempt. */
  get progress(): { readonly received: number; readonly total: number } {
    return { received: this.attempt?.received ?? 0, total: this.attempt?.count ?? 0 };
  }
  get sourceCount(): number { return this.sources.size; }
  isBanned(peer: string): boolean { return this.bannedPeers.has(peer); }
  /** Requests in flight to one source (for tests and stats). */
  inFlight(src: MetadataSource): number[] { return [...(this.sources.get(src)?.outstanding.keys() ?? [])]; }

  /** Next event, or null. */
  pollEvent(): MetadataFetchEvent | null { return this.events.shift() ?? null; }

  // ------------------------------------------------------------------ inputs

  /**
   * A source's extended handshake (again on a re-handshake): its advertised size.
   * A changed size voids its requests in flight.
   */
  addSource(src: MetadataSource, metadataSize: number | undefined): void {
    const size = metadataSize !== undefined && Number.isSafeInteger(metadataSize) && metadataSize >= 1 && metadataSize <= this.maxSize
      ? metadataSize : null;
    let st = this.sources.get(src);
    if (st === undefined) {
      st = {
        size, outstanding: new Map(), stale: new Set(), retryAt: -Infinity, failures: 0, suspect: false,
        banned: this.bannedPeers.has(src.peer),
      };
      this.sources.set(src, st);
    } else if (st.size !== size) {
      this.voidRequests(st);
      st.size = size;
    }
    this.fill();
  }

  /** The source's connection is gone. */
  removeSource(src: MetadataSource): void {
    if (!this.drop(src)) return;
    this.fill();
  }

  /**
   * A data message. Throws UtMetadataError (after dropping the source) for hostile
   * input; a late answer to a request we gave up on is ignored.
   */
  onData(src: MetadataSource, piece: number, totalSize: number, data: Uint8Array): void {
    const st = this.sources.get(src);
    if (st !== undefined && st.outstanding.has(piece)) {
      const a = this.attempt!; // outstanding requests always belong to the current attempt
      if (totalSize !== a.size) {
        this.drop(src); this.fill();
        throw new UtMetadataError('METADATA_SIZE_MISMATCH', `total_size ${totalSize}, requested under metadata_size ${a.size}`);
      }
      const want = metadataPieceLength(a.size, piece);
      if (data.length !== want) {
        this.drop(src); this.fill();
        throw new UtMetadataError('BAD_METADATA_PIECE_LENGTH', `piece ${piece} has ${data.length} bytes, expected ${want}`);
      }
      st.outstanding.delete(piece);
      if (a.pieces[piece] === undefined) {
        a.pieces[piece] = data.slice(); // the payload is a view of a received frame
        a.received++;
        a.contributors.add(src);
      }
      if (a.received === a.count) this.verify(a);
      else this.fill();
      return;
    }
    if (st !== undefined && st.stale.delete(piece)) return; // late answer: no longer counted
    if (st !== undefined) { this.drop(src); this.fill(); }
    throw new UtMetadataError('UNREQUESTED_METADATA', `data for metadata piece ${piece} that was not requested`);
  }

  /** A reject: the piece goes to another source, this one rests. */
  onReject(src: MetadataSource, piece: number): void {
    const st = this.sources.get(src);
    if (st === undefined) return;
    if (st.outstanding.delete(piece)) {
      this.attempt!.unassigned.push(piece);
      st.retryAt = this.now + this.retryAfter;
      this.fill();
    } else {
      st.stale.delete(piece); // answer to a request we gave up on; anything else is ignored
    }
  }

  /** When `handleTimeout` should next run (ms), or null. */
  nextTimeout(): number | null {
    if (this._state !== 'fetching') return null;
    let t = Infinity;
    const a = this.attempt;
    for (const st of this.sources.values()) {
      for (const at of st.outstanding.values()) t = Math.min(t, at + this.requestTimeout);
      // A resting source may become the one to ask.
      if (!st.banned && st.size !== null && st.retryAt > this.now && (a === null || (a.unassigned.length > 0 && st.size === a.size))) {
        t = Math.min(t, st.retryAt);
      }
    }
    return t === Infinity ? null : t;
  }

  /** Time out requests due at `now`, and ask sources that are rested. */
  handleTimeout(now: number): void {
    if (now > this.now) this.now = now;
    if (this._state !== 'fetching') return;
    const a = this.attempt;
    for (const st of this.sources.values()) {
      for (const [piece, at] of st.outstanding) {
        if (at + this.requestTimeout > this.now) continue;
        st.outstanding.delete(piece);
        st.stale.add(piece);
        a!.unassigned.push(piece);
        st.retryAt = this.now + this.retryAfter;
      }
    }
    this.fill();
  }

  /** Stop fetching (e.g. the metadata came from elsewhere). */
  stop(): void {
    if (this._state !== 'fetching') return;
    this._state = 'stopped';
    this.endAttempt();
  }

  // ------------------------------------------------------------------ internals

  /** Forget a source; its requests in flight go back to the pool. False if unknown. */
  private drop(src: MetadataSource): boolean {
    const st = this.sources.get(src);
    if (st === undefined) return false;
    this.voidRequests(st);
    this.sources.delete(src);
    if (this.attempt !== null && this.attempt.source === src) this.attempt.source = null;
    return true;
  }

  /** Move a source's requests in flight to its stale set and the pieces back to the pool. */
  private voidRequests(st: SourceState): void {
    for (const piece of st.outstanding.keys()) {
      st.stale.add(piece);
      this.attempt?.unassigned.push(piece);
    }
    st.outstanding.clear();
  }

  private usable(st: SourceState, size: number): boolean {
    return !st.banned && st.size === size;
  }

  /** Start an attempt if needed and give free pieces to sources with room. */
  private fill(): void {
    if (this._state !== 'fetching') return;
    let a = this.attempt;
    if (a !== null && ![...this.sources.values()].some((st) => this.usable(st, a!.size))) {
      this.endAttempt(); // nobody left who advertises this size: start over with another
      a = null;
    }
    if (a === null) a = this.startAttempt();
    if (a === null) return;
    if (this.isolate) {
      const cur = a.source === null ? undefined : this.sources.get(a.source);
      const curOk = cur !== undefined && this.usable(cur, a.size) && (cur.retryAt <= this.now || cur.outstanding.size > 0);
      if (!curOk) a.source = this.pickIsolatedSource(a) ?? a.source;
    }
    while (a.unassigned.length > 0 && this.attempt === a) {
      const src = this.pickSource(a);
      if (src === null) return;
      const piece = a.unassigned.pop()!;
      const st = this.sources.get(src)!;
      st.outstanding.set(piece, this.now);
      st.stale.delete(piece);
      if (!src.sendRequest(piece)) {
        this.drop(src); // the connection cannot send: forget it (its piece returns to the pool)
      }
    }
  }

  /** The source with room and the fewest requests in flight, or null. */
  private pickSource(a: Attempt): MetadataSource | null {
    let best: MetadataSource | null = null;
    let bestLoad = Infinity;
    for (const [src, st] of this.sources) {
      if (this.isolate && src !== a.source) continue;
      if (!this.usable(st, a.size) || st.retryAt > this.now || st.outstanding.size >= this.perPeer) continue;
      if (st.outstanding.size < bestLoad) { best = src; bestLoad = st.outstanding.size; }
    }
    return best;
  }

  /** Isolation: a rested source first, then non-suspect, then the fewest failures. */
  private pickIsolatedSource(a: Attempt): MetadataSource | null {
    let best: MetadataSource | null = null;
    let bestKey = Infinity;
    for (const [src, st] of this.sources) {
      if (!this.usable(st, a.size)) continue;
      const key = (st.retryAt > this.now ? 1_000_000 : 0) + (st.suspect ? 1000 : 0) + Math.min(st.failures, 999);
      if (key < bestKey) { best = src; bestKey = key; }
    }
    return best;
  }

  private startAttempt(): Attempt | null {
    const votes = new Map<number, number>();
    for (const st of this.sources.values()) {
      if (st.banned || st.size === null) continue;
      votes.set(st.size, (votes.get(st.size) ?? 0) + 1);
    }
    let size = 0;
    let best = 0;
    for (const [s, n] of votes) if (n > best) { size = s; best = n; }
    if (best === 0) return null;
    const count = metadataPieceCount(size);
    const unassigned: number[] = [];
    for (let i = count - 1; i >= 0; i--) unassigned.push(i);
    this.attempt = { size, count, pieces: new Array<Uint8Array | undefined>(count), received: 0, unassigned, contributors: new Set(), source: null };
    return this.attempt;
  }

  /** Drop the current attempt; answers still in flight will be ignored. */
  private endAttempt(): void {
    for (const st of this.sources.values()) {
      for (const piece of st.outstanding.keys()) st.stale.add(piece);
      st.outstanding.clear();
    }
    this.attempt = null;
  }

  private verify(a: Attempt): void {
    const bytes = new Uint8Array(a.size);
    for (let i = 0; i < a.count; i++) bytes.set(a.pieces[i]!, i * METADATA_PIECE_LENGTH);
    const contributors = [...a.contributors];
    let m: Metainfo;
    try {
      m = parseInfo(bytes, { ...this.parseOptions, expectedInfoHash: this.infoHash });
    } catch (e) {
      this.endAttempt();
      if (e instanceof MetainfoError && e.code === 'INFO_HASH_MISMATCH') {
        this.events.push({ type: 'verify_failed', size: a.size, contributors: contributors.map((s) => s.peer) });
        if (contributors.length === 1) {
          this.ban(contributors[0]);
        } else {
          for (const s of contributors) {
            const st = this.sources.get(s);
            if (st !== undefined) { st.failures++; st.suspect = true; }
          }
          this.isolate = true;
        }
        this.fill();
        return;
      }
      // The bytes are what the info hash names, so the torrent itself is unusable.
      this._state = 'invalid';
      this.events.push({ type: 'invalid', error: e instanceof Error ? e : new Error(String(e)) });
      return;
    }
    this.endAttempt();
    this._state = 'done';
    this._metainfo = m;
    this.events.push({ type: 'complete', metainfo: m });
  }

  private ban(src: MetadataSource): void {
    // Every connection under the same label (a reconnect that overlaps the old one).
    for (const [s, st] of this.sources) {
      if (s !== src && s.peer !== src.peer) continue;
      this.voidRequests(st);
      st.banned = true;
      st.failures++;
    }
    if (this.bannedPeers.size >= this.maxBanned) {
      const oldest = this.bannedPeers.values().next().value;
      if (oldest !== undefined) this.bannedPeers.delete(oldest);
    }
    this.bannedPeers.add(src.peer);
    this.events.push({ type: 'peer_banned', peer: src.peer });
  }
}

function posInt(n: number, what: string): number {
  if (!(Number.isSafeInteger(n) && n >= 1)) throw invalidArgument(`${what} must be a positive integer, got ${n}`);
  return n;
}
