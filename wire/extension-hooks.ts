/**
 * The hook surface a BEP 10 extension sees inside one PeerConnection, shaped like
 * libtorrent's `peer_plugin` (include/libtorrent/extensions.hpp): add keys to our
 * extended handshake, read the peer's and keep or decline itself for this
 * connection, handle its own messages, and observe / gate piece sends (what
 * SeedPay's metering needs: it decides block by block what is served).
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
