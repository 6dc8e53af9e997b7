/**
 * The hook surface a BEP 10 extension sees inside one PeerConnection, shaped like
 * libtorrent's `peer_plugin` (include/libtorrent/extensions.hpp): add keys to our
 * extended handshake, read the peer's and keep or decline itself for this
 * connection, handle its own messages, observe / gate piece sends (what SeedPay's
 * metering needs: it decides block by block what is served), learn when the
 * connection ends (`onClose`) and what time it is (`tick`), and act on its
 * connection through a `PeerControl` handle (choke, reject, close, flush).
 *
 * Sans-IO: the handle only queues commands (wire/peer-control.ts); the I/O adapter
 * that owns the socket carries them out. A hook never sees a socket or a timer.
 *
 * One hook object lives for one connection (a registry in extensions/ creates them).
 * The connection assigns each hook a local message id (1, 2, … in list order) and
 * advertises it in the `m` dictionary of our extended handshake.
 */

import type { BDict, BValue, Encodable } from './bencode.js';
import {
  decode, isDict, isInt, isBytes, BencodeError,
} from './bencode.js';
import { WireError } from './errors.js';

/** Why a connection ended, as its hooks are told (`onClose`). */
export interface HookCloseReason {
  /** The adapter's close code (e.g. 'END', 'CLOSED', a WireError code). */
  readonly code: string;
  /** The typed error behind it, if any. */
  readonly error: Error | null;
}

/**
 * How a hook may end its connection: 'CLOSED' (done with it, nobody's fault),
 * 'BANNED' (it sent data that failed a check), 'EXTENSION_VIOLATION' (it broke this
 * extension's protocol: the adapter counts it against the peer's address).
 */
export type HookCloseCode = 'CLOSED' | 'BANNED' | 'EXTENSION_VIOLATION';

/**
 * One command a hook asked of its connection. The I/O adapter drains them
 * (PeerCommandQueue.drain) and carries each out in order.
 */
export type PeerCommand =
  /** Choke the peer and hold it choked (the choker cannot unchoke it) until 'unchoke'. */
  | { readonly type: 'choke' }
  /** Lift a hold: the peer may be served again (the choker decides when). */
  | { readonly type: 'unchoke' }
  /** Refuse one of the peer's requests: reject_request under the fast extension, else a held choke. */
  | { readonly type: 'reject'; readonly index: number; readonly begin: number; readonly length: number }
  /** Tell the peer (allowed_fast) it may request this piece while choked. */
  | { readonly type: 'allow_fast'; readonly index: number }
  /** Refill our request pipeline to this peer now (it can serve us again). */
  | { readonly type: 'refill' }
  /**
   * Keep at most `max` of our requests in flight to this peer (null: no limit of the
   * extension's; the connection's own depth still applies). Requests already sent are
   * not cancelled; a raised limit refills at once.
   */
  | { readonly type: 'request_limit'; readonly max: number | null }
  /** End the connection. */
  | { readonly type: 'close'; readonly code: HookCloseCode; readonly error: Error | null };

/**
 * A hook's handle on its connection. Every method only queues (or reads the clock):
 * the adapter carries commands out after the hook returns, or soon after `flush()`
 * when the hook acts from outside the connection's own event handling (an answer
 * from an RPC, another connection's event).
 */
export interface PeerControl {
  /** The adapter's clock (ms). */
  now(): number;
  choke(): void;
  unchoke(): void;
  reject(index: number, begin: number, length: number): void;
  allowFast(index: number): void;
  refill(): void;
  /** Keep at most `max` requests in flight to this peer (null: lift the limit); see PeerCommand 'request_limit'. */
  limitRequests(max: number | null): void;
  close(code: HookCloseCode, error?: Error): void;
  /** Carry out what is queued and write what the connection holds, soon. */
  flush(): void;
}

/** What the connection gives a hook to act with. */
export interface ExtensionContext {
  /** Our local id for this extension (what the peer puts in messages to us). */
  readonly localId: number;
  /** The peer's id for this extension: null until its extended handshake names it (or if it disabled it). */
  readonly remoteId: number | null;
  /**
   * Queue one message of this extension. Throws a local WireError
   * ('EXTENSION_NOT_NEGOTIATED') until the peer's id is known (Transmission PR #7177),
   * or if the connection is not open.
   */
  send(payload: Uint8Array): void;
  /** Act on this connection (queued; see PeerControl). */
  readonly control: PeerControl;
}

/** The peer's BEP 10 handshake, with the well-known fields typed and checked. */
export interface PeerExtendedHandshake {
  /**
   * The whole decoded dictionary. Byte strings are views of the received frame:
   * copy any you keep past the event.
   */
  readonly dict: BDict;
  /** name → the peer's message id for it (entries with id 0, i.e. disabled, are left out). */
  readonly m: ReadonlyMap<string, number>;
  /** Names the peer explicitly disabled (id 0) in this handshake. */
  readonly disabled: ReadonlySet<string>;
  /** `v`: client name and version, if a valid UTF-8 string. */
  readonly v?: string;
  /** `p`: the peer's listen port, if in 1..65535. */
  readonly p?: number;
  /** `reqq`: how many outstanding requests the peer accepts, if a positive integer. */
  readonly reqq?: number;
  /** `yourip`: our address as the peer sees it (4 or 16 bytes, copied). */
  readonly yourip?: Uint8Array;
  /** `metadata_size` (BEP 9), if a positive safe integer. */
  readonly metadataSize?: number;
  /** `upload_only` (libtorrent, Transmission) is 1. */
  readonly uploadOnly: boolean;
}

export interface ExtensionHook {
  /** The name in the `m` dictionary, e.g. 'ut_metadata' or 'seedpay'. */
  readonly name: string;
  /** Called once when the hook is bound to its connection, before any handshake. */
  attach?(ctx: ExtensionContext): void;
  /** Add keys to our extended handshake (top level; `m` is filled by the connection). */
  addHandshakeKeys?(dict: Map<string, Encodable>): void;
  /**
   * The peer's extended handshake arrived (BEP 10 allows it to be sent again later;
   * each is reported). Return false to decline: the hook is then detached for the
   * rest of this connection (no more messages or piece callbacks).
   */
  onPeerHandshake?(hs: PeerExtendedHandshake): boolean;
  /**
   * One message for this extension (the peer used our local id). The payload is a
   * view of the received frame. Throwing a WireError ends the connection with it;
   * any other exception ends it with 'EXTENSION_ERROR'.
   */
  onMessage?(payload: Uint8Array): void;
  /**
   * Gate a piece send: every active hook must return true for `sendPiece` to go out.
   * (SeedPay: only serve what has been paid for.)
   */
  canSendPiece?(index: number, begin: number, length: number): boolean;
  /** A piece was queued for the peer (payload bytes, not protocol bytes). */
  onPieceSent?(index: number, begin: number, length: number): void;
  /** A piece answering one of our requests arrived. */
  onPieceReceived?(index: number, begin: number, length: number): void;
  /** The peer refused one of our requests (reject_request while it was in flight). */
  onRequestRejected?(index: number, begin: number, length: number): void;
  /** Time passes (the adapter's tick, about once a second): deadlines and retries live here. */
  tick?(now: number): void;
  /** The connection ended (or the hook was declined for it): release what it holds. Called once. */
  onClose?(reason: HookCloseReason): void;
}

/** Bounds for decoding a peer's extended handshake (hostile input). */
const HANDSHAKE_DECODE = { maxDepth: 8, maxItems: 4096, strict: false } as const;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

function safeInt(v: BValue | undefined, min: number, max: number): number | undefined {
  if (!isInt(v)) return undefined;
  if (v < BigInt(min) || v > BigInt(max)) return undefined;
  return Number(v);
}

/**
 * Parse the payload of an extended message with id 0. The dictionary and its `m`
 * map must be well-formed (else 'BAD_EXTENDED_HANDSHAKE'); optional fields with a
 * wrong type or range are ignored, as real clients do.
 */
export function parseExtendedHandshake(payload: Uint8Array): PeerExtendedHandshake {
  let dict: BValue;
  try {
    dict = decode(payload, HANDSHAKE_DECODE);
  } catch (e) {
    const why = e instanceof BencodeError ? `${e.code}: ${e.message}` : String(e);
    throw new WireError('BAD_EXTENDED_HANDSHAKE', `extended handshake is not valid bencode (${why})`);
  }
  if (!isDict(dict)) throw new WireError('BAD_EXTENDED_HANDSHAKE', 'extended handshake is not a dictionary');
  const m = new Map<string, number>();
  const disabled = new Set<string>();
  const mv = dict.get('m');
  if (mv !== undefined) {
    if (!isDict(mv)) throw new WireError('BAD_EXTENDED_HANDSHAKE', "extended handshake 'm' is not a dictionary");
    for (const [name, idv] of mv) {
      const id = safeInt(idv, 0, 255); // a message id is one byte on the wire
      if (id === undefined) continue;
      if (id === 0) disabled.add(name);
      else m.set(name, id);
    }
  }
  const out: {
    dict: BDict; m: Map<string, number>; disabled: Set<string>; uploadOnly: boolean;
    v?: string; p?: number; reqq?: number; yourip?: Uint8Array; metadataSize?: number;
  } = { dict, m, disabled, uploadOnly: safeInt(dict.get('upload_only'), 1, 1) === 1 };
  const v = dict.get('v');
  if (isBytes(v) && v.length <= 256) {
    try { out.v = utf8.decode(v); } catch { out.v = latin1.decode(v); }
  }
  const p = safeInt(dict.get('p'), 1, 65535);
  if (p !== undefined) out.p = p;
  const reqq = safeInt(dict.get('reqq'), 1, Number.MAX_SAFE_INTEGER);
  if (reqq !== undefined) out.reqq = reqq;
  const yourip = dict.get('yourip');
  if (isBytes(yourip) && (yourip.length === 4 || yourip.length === 16)) out.yourip = yourip.slice();
  const ms = safeInt(dict.get('metadata_size'), 1, Number.MAX_SAFE_INTEGER);
  if (ms !== undefined) out.metadataSize = ms;
  return out;
}
