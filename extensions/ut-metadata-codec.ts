/**
 * BEP 9 (ut_metadata) messages: the payload of an extended message sent with the
 * peer's id for 'ut_metadata'.
 *
 *   request  d8:msg_typei0e5:piecei<p>ee
 *   data     d8:msg_typei1e5:piecei<p>e10:total_sizei<n>ee<raw metadata bytes>
 *   reject   d8:msg_typei2e5:piecei<p>ee
 *
 * The metadata (the info dictionary's exact bytes) travels in 16 KiB pieces; only the
 * last may be shorter. Decoding is bounded (a small dict, shallow, few items) and
 * strict about what BEP 9 defines: a missing or non-integer `msg_type` / `piece`, a
 * negative piece, bytes after the dict of a request or reject are typed errors. An
 * unknown `msg_type` is reported as such (BEP 9: ignore it), not as an error.
 */

import { BencodeError, decodePrefix, encode, isDict, isInt, type BDict } from '../wire/bencode.js';
import { ExtensionProtocolError } from './registry.js';

export const UT_METADATA = 'ut_metadata';
/** BEP 9: metadata is exchanged in 16 KiB pieces. */
export const METADATA_PIECE_LENGTH = 16 * 1024;

export type UtMetadataErrorReason =
  /** Not a bencoded dict, or msg_type / piece / total_size missing, mistyped or out of range. */
  | 'BAD_METADATA_MESSAGE'
  /** A data message for a piece we did not request from this peer. */
  | 'UNREQUESTED_METADATA'
  /** A data message whose total_size is not the metadata_size the peer advertised. */
  | 'METADATA_SIZE_MISMATCH'
  /** A data message whose payload is not 16 KiB (or the exact remainder for the last piece). */
  | 'BAD_METADATA_PIECE_LENGTH';

export class UtMetadataError extends ExtensionProtocolError<UtMetadataErrorReason> {
  constructor(reason: UtMetadataErrorReason, message: string) {
    super(UT_METADATA, reason, message);
    this.name = 'UtMetadataError';
  }
}

export type UtMetadataMessage =
  | { readonly type: 'request'; readonly piece: number }
  /** `data` is a view of the received payload: copy to keep. */
  | { readonly type: 'data'; readonly piece: number; readonly totalSize: number; readonly data: Uint8Array }
  | { readonly type: 'reject'; readonly piece: number }
  /** A msg_type this implementation does not know (BEP 9: ignore it). */
  | { readonly type: 'unknown'; readonly msgType: number };

/** A piece index fits BEP 9's integer and any sane metadata size. */
const MAX_PIECE = 0x7fffffff;
/** Bounds for the dict in front of a message: a handful of small keys. */
const DECODE = { maxDepth: 4, maxItems: 64, maxBytes: 4096, strict: false, maxIntegerDigits: 20 } as const;

/** Number of 16 KiB pieces of metadata of `size` bytes. */
export function metadataPieceCount(size: number): number {
  return Math.ceil(size / METADATA_PIECE_LENGTH);
}

/** Exact byte length of piece `piece` of metadata of `size` bytes. */
export function metadataPieceLength(size: number, piece: number): number {
  const n = metadataPieceCount(size);
  return piece < n - 1 ? METADATA_PIECE_LENGTH : size - (n - 1) * METADATA_PIECE_LENGTH;
}

function intField(d: BDict, key: string, min: number, max: number, required: true): number;
function intField(d: BDict, key: string, min: number, max: number, required: false): number | undefined;
function intField(d: BDict, key: string, min: number, max: number, required: boolean): number | undefined {
  const v = d.get(key);
  if (v === undefined) {
    if (required) throw new UtMetadataError('BAD_METADATA_MESSAGE', `missing '${key}'`);
    return undefined;
  }
  if (!isInt(v)) throw new UtMetadataError('BAD_METADATA_MESSAGE', `'${key}' is not an integer`);
  if (v < BigInt(min) || v > BigInt(max)) throw new UtMetadataError('BAD_METADATA_MESSAGE', `'${key}' ${v} outside [${min}, ${max}]`);
  return Number(v);
}

/** Parse one ut_metadata payload. Throws UtMetadataError('BAD_METADATA_MESSAGE'). */
export function decodeUtMetadata(payload: Uint8Array): UtMetadataMessage {
  let value;
  let end: number;
  try {
    ({ value, end } = decodePrefix(payload, DECODE));
  } catch (e) {
    const why = e instanceof BencodeError ? `${e.code}: ${e.message}` : String(e);
    throw new UtMetadataError('BAD_METADATA_MESSAGE', `not a bencoded dict (${why})`);
  }
  if (!isDict(value)) throw new UtMetadataError('BAD_METADATA_MESSAGE', 'not a dictionary');
  const msgType = intField(value, 'msg_type', 0, Number.MAX_SAFE_INTEGER, true);
  if (msgType > 2) return { type: 'unknown', msgType };
  const piece = intField(value, 'piece', 0, MAX_PIECE, true);
  if (msgType === 1) {
    const totalSize = intField(value, 'total_size', 1, Number.MAX_SAFE_INTEGER, true);
    return { type: 'data', piece, totalSize, data: payload.subarray(end) };
  }
  if (end !== payload.length) {
    throw new UtMetadataError('BAD_METADATA_MESSAGE', `${payload.length - end} bytes after a ${msgType === 0 ? 'request' : 'reject'}`);
  }
  return msgType === 0 ? { type: 'request', piece } : { type: 'reject', piece };
}

export function encodeMetadataRequest(piece: number): Uint8Array {
  return encode(new Map<string, number>([['msg_type', 0], ['piece', piece]]));
}

export function encodeMetadataReject(piece: number): Uint8Array {
  return encode(new Map<string, number>([['msg_type', 2], ['piece', piece]]));
}

/** The dict and the piece's bytes in one payload (one copy: an extended message is one buffer). */
export function encodeMetadataData(piece: number, totalSize: number, data: Uint8Array): Uint8Array {
  const head = encode(new Map<string, number>([['msg_type', 1], ['piece', piece], ['total_size', totalSize]]));
  const out = new Uint8Array(head.length + data.length);
  out.set(head, 0);
  out.set(data, head.length);
  return out;
}
