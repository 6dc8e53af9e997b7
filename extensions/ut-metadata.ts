/**
 * ut_metadata (BEP 9) for one torrent: serve the info dictionary to peers once we
 * have it, fetch it from peers while we do not (magnet links).
 *
 * `UtMetadata` is the per-torrent object and the registry factory (name
 * 'ut_metadata'); `create()` makes one `UtMetadataHook` per connection.
 *
 * Serving (we have the info bytes, given or fetched):
 *  - `metadata_size` goes into our extended handshake (added by the hook, not by the
 *    connection: it is per torrent);
 *  - a request is answered at once with data, or with reject when we lack the
 *    metadata, the piece is out of range, or the peer used up its budget: each
 *    connection is served at most `maxServeRounds` × the metadata's pieces (+ 8).
 *    Answers are immediate, so no request queue exists to grow; the budget bounds the
 *    bytes one peer can make us queue.
 *
 * Fetching: hooks join the torrent's `MetadataFetcher` when the peer's extended
 * handshake names ut_metadata (see ut-metadata-fetcher.ts for the rules and bounds).
 *
 * Per connection:
 *  - a peer whose handshake has no id for ut_metadata: the hook declines (we could
 *    never answer it), and so does a later handshake that disables it;
 *  - hostile input ends the connection with a typed UtMetadataError (code
 *    'EXTENSION_ERROR', `reason` one of BAD_METADATA_MESSAGE, UNREQUESTED_METADATA,
 *    METADATA_SIZE_MISMATCH, BAD_METADATA_PIECE_LENGTH). Ending it, rather than only
 *    dropping the extension, follows the project rule that a protocol breach ends that
 *    one connection; the fetcher forgets the source first;
 *  - an unknown msg_type and a reject for nothing we asked are ignored (BEP 9).
 *
 * How a torrent session uses it (a magnet link):
 *   const ut = new UtMetadata({ infoHash, now });            // no infoBytes: fetch them
 *   const registry = new ExtensionRegistry([ut, ...others]);
 *   // per connection:
 *   const ext = registry.forConnection({ infoHash, peer: 'host:port', role, flush: () => sock.flush() });
 *   new PeerConnection({ ..., numPieces: null, extensions: ext.hooks });  // or accept({ numPieces: null, extensions })
 *   // when the connection ends (any reason): ext.close();
 *   // timer: at ut.nextTimeout() (and on a ~1 s tick) call ut.handleTimeout(now);
 *   // after handling events: for (let e = ut.pollEvent(); e; e = ut.pollEvent()) …
 *   //   'complete' → e.metainfo; conn.setNumPieces(e.metainfo.pieceCount) on every connection;
 *   //   'peer_banned' → end that peer's connections; 'invalid' → give up on the magnet.
 * With a .torrent, pass `infoBytes: metainfo.infoBytes` and it only serves.
 * Checked by hand against libtorrent 2.0.8 and Transmission 3.00 on loopback, both
 * ways (fetching from them, serving their magnet downloads).
 */

import type { Encodable } from '../wire/bencode.js';
import type { ExtensionContext, PeerExtendedHandshake } from '../wire/extension-hooks.js';
import { invalidArgument } from '../wire/errors.js';
import type { Metainfo } from '../format/metainfo.js';
import { infoSha1 as sha1 } from '../format/info-hash.js';
import type { ClosableExtensionHook, ExtensionConnectionInfo, ExtensionFactory } from './registry.js';
import {
  METADATA_PIECE_LENGTH, UT_METADATA, UtMetadataError, decodeUtMetadata, encodeMetadataData,
  encodeMetadataReject, encodeMetadataRequest, metadataPieceCount,
} from './ut-metadata-codec.js';
import {
  MetadataFetcher, type MetadataFetchEvent, type MetadataFetcherOptions, type MetadataSource,
} from './ut-metadata-fetcher.js';

export interface UtMetadataOptions extends Omit<MetadataFetcherOptions, 'infoHash' | 'now'> {
  infoHash: Uint8Array;
  /** Creation time (ms). */
  now: number;
  /** The exact bencoded info dict, when known (a .torrent or a seeded torrent): serve it, fetch nothing. */
  infoBytes?: Uint8Array;
  /** How many times one connection may be served the whole metadata. Default 2. */
  maxServeRounds?: number;
}

export class UtMetadata implements ExtensionFactory {
  readonly name = UT_METADATA;
  readonly infoHash: Uint8Array;
  /** Present when we started without the info bytes (a magnet link). */
  readonly fetcher: MetadataFetcher | null;
  readonly maxServeRounds: number;
  private readonly given: Uint8Array | null;

  constructor(o: UtMetadataOptions) {
    if (!(o.infoHash instanceof Uint8Array) || o.infoHash.length !== 20) throw invalidArgument('infoHash must be 20 bytes');
    this.infoHash = o.infoHash.slice();
    this.maxServeRounds = o.maxServeRounds ?? 2;
    if (!(Number.isSafeInteger(this.maxServeRounds) && this.maxServeRounds >= 1)) throw invalidArgument('maxServeRounds must be a positive integer');
    if (o.infoBytes !== undefined) {
      if (!sha1(o.infoBytes).equals(this.infoHash)) throw invalidArgument('infoBytes do not hash to infoHash');
      this.given = o.infoBytes.slice();
      this.fetcher = null;
    } else {
      this.given = null;
      const { infoBytes: _i, maxServeRounds: _r, ...fetchOpts } = o;
      this.fetcher = new MetadataFetcher({ ...fetchOpts, infoHash: this.infoHash });
    }
  }

  /** The info dict bytes we can serve (given, or fetched and verified), or null. */
  get infoBytes(): Uint8Array | null {
    return this.given ?? this.fetcher?.metainfo?.infoBytes ?? null;
  }

  /** The fetched metadata once verified (null when it was given). */
  get metainfo(): Metainfo | null { return this.fetcher?.metainfo ?? null; }

  create(info: ExtensionConnectionInfo): UtMetadataHook {
    return new UtMetadataHook(this, info);
  }

  // Pass-throughs to the fetcher, so a session can drive one object.
  nextTimeout(): number | null { return this.fetcher?.nextTimeout() ?? null; }
  handleTimeout(now: number): void { this.fetcher?.handleTimeout(now); }
  pollEvent(): MetadataFetchEvent | null { return this.fetcher?.pollEvent() ?? null; }
}

/** The ut_metadata hook of one connection. */
export class UtMetadataHook implements ClosableExtensionHook, MetadataSource {
  readonly name = UT_METADATA;
  readonly peer: string;
  private readonly owner: UtMetadata;
  private readonly info: ExtensionConnectionInfo;
  private ctx: ExtensionContext | null = null;
  private joined = false;
  private closed = false;
  /** >0 while inside one of this connection's callbacks (its adapter flushes afterwards). */
  private depth = 0;
  /** Data messages sent to this peer. */
  private served = 0;

  constructor(owner: UtMetadata, info: ExtensionConnectionInfo) {
    this.owner = owner;
    this.info = info;
    this.peer = info.peer;
  }

  /** Data messages this connection has been sent. */
  get servedPieces(): number { return this.served; }
  /** Whether this connection is a source for the torrent's fetcher. */
  get isSource(): boolean { return this.joined; }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  addHandshakeKeys(dict: Map<string, Encodable>): void {
    const b = this.owner.infoBytes;
    if (b !== null) dict.set('metadata_size', b.length);
  }

  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    if (this.closed || this.ctx === null || this.ctx.remoteId === null) {
      this.close();
      return false;
    }
    const f = this.owner.fetcher;
    if (f !== null && (f.state === 'fetching' || this.joined)) {
      this.depth++;
      try {
        f.addSource(this, hs.metadataSize);
        this.joined = true;
      } finally {
        this.depth--;
      }
    }
    return true;
  }

  onMessage(payload: Uint8Array): void {
    if (this.closed) return;
    this.depth++;
    try {
      const msg = decodeUtMetadata(payload);
      switch (msg.type) {
        case 'request': this.serve(msg.piece); return;
        case 'data': {
          const f = this.owner.fetcher;
          if (f === null || !this.joined) throw new UtMetadataError('UNREQUESTED_METADATA', `data for metadata piece ${msg.piece} that was not requested`);
          f.onData(this, msg.piece, msg.totalSize, msg.data);
          return;
        }
        case 'reject':
          if (this.joined) this.owner.fetcher!.onReject(this, msg.piece);
          return;
        case 'unknown': return; // BEP 9: ignore unknown message types
      }
    } catch (e) {
      this.close(); // the connection ends with this error: leave the fetcher first
      throw e;
    } finally {
      this.depth--;
    }
  }

  /** MetadataSource: queue a request; false if this connection cannot send. */
  sendRequest(piece: number): boolean {
    if (this.closed || this.ctx === null) return false;
    try {
      this.ctx.send(encodeMetadataRequest(piece));
    } catch {
      // Dead or no longer negotiated. The fetcher drops us on `false` (calling back into
      // it from here would re-enter its request loop).
      this.closed = true;
      this.joined = false;
      return false;
    }
    if (this.depth === 0) this.info.flush?.();
    return true;
  }

  onClose(): void { this.close(); }

  /** Leave the fetcher (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.joined) {
      this.joined = false;
      this.owner.fetcher?.removeSource(this);
    }
  }

  private serve(piece: number): void {
    const ctx = this.ctx!;
    if (ctx.remoteId === null) return; // no id to answer with (cannot happen while active)
    const bytes = this.owner.infoBytes;
    const n = bytes === null ? 0 : metadataPieceCount(bytes.length);
    if (bytes === null || piece >= n || this.served >= this.owner.maxServeRounds * n + 8) {
      ctx.send(encodeMetadataReject(piece));
      return;
    }
    this.served++;
    const start = piece * METADATA_PIECE_LENGTH;
    ctx.send(encodeMetadataData(piece, bytes.length, bytes.subarray(start, Math.min(start + METADATA_PIECE_LENGTH, bytes.length))));
  }
}
