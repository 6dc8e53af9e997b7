/**
 * Encoders and decoders for single peer-wire messages (BEP 3, BEP 6, BEP 10 framing).
 *
 * A frame on the wire is <u32 length><id><fields>. `decodeMessage` takes the
 * bytes AFTER the 4-byte length prefix; the framer (framer.ts) finds frames.
 *
 * - Every integer is unsigned 32-bit big-endian, read with `>>> 0` (a value of
 *   0x80000000 is 2^31, never negative). `port` is 16-bit.
 * - Each type has an exact size: a frame too short for its fields is
 *   'BAD_MESSAGE_SIZE'; a fixed-size frame with extra bytes is 'TRAILING_BYTES'.
 * - Variable payloads (bitfield bits, piece block, extended payload) are returned
 *   as views (`subarray`) of the frame, never copied.
 */

import { WireError, invalidArgument } from './errors.js';
import { MessageId, type Message, type MessageType } from './messages.js';

// Shared immutable instances of the field-less messages: decoding them allocates nothing.
const KEEP_ALIVE: Message = Object.freeze({ type: 'keep_alive' });
const CHOKE: Message = Object.freeze({ type: 'choke' });
const UNCHOKE: Message = Object.freeze({ type: 'unchoke' });
const INTERESTED: Message = Object.freeze({ type: 'interested' });
const NOT_INTERESTED: Message = Object.freeze({ type: 'not_interested' });
const HAVE_ALL: Message = Object.freeze({ type: 'have_all' });
const HAVE_NONE: Message = Object.freeze({ type: 'have_none' });

/** Length of the piece message header: <len=9+n><id=7><index><begin>. */
export const PIECE_HEADER_LENGTH = 13;

/**
 * A plain Uint8Array view of b[start, start+length). Cheaper than subarray()
 * on a Node Buffer (which runs JS code and builds a Buffer); payload views are
 * typed Uint8Array, so callers must not rely on Buffer methods.
 */
export function view(b: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, length);
}

/** Read a big-endian u32 at `o` as an unsigned number. */
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Write `v` as a big-endian u32 at `o`. */
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function sizeError(type: MessageType, got: number, want: number, exact: boolean): WireError {
  if (got > want && exact) {
    return new WireError('TRAILING_BYTES', `${type} frame is ${got} bytes, expected ${want}`);
  }
  return new WireError('BAD_MESSAGE_SIZE', `${type} frame is ${got} bytes, expected ${exact ? '' : 'at least '}${want}`);
}

/**
 * Decode the frame of `len` bytes starting at `off` in `b` (the id byte is at `off`).
 * The framer uses this to avoid creating a subarray for every small message.
 */
export function decodeFrame(b: Uint8Array, off: number, len: number): Message {
  if (len === 0) return KEEP_ALIVE;
  const id = b[off];
  // Most frames are pieces: test that first.
  if (id === 7) {
    if (len < 9) throw sizeError('piece', len, 9, false);
    return { type: 'piece', index: readU32(b, off + 1), begin: readU32(b, off + 5), block: view(b, off + 9, len - 9) };
  }
  switch (id) {
    case 0: if (len !== 1) throw sizeError('choke', len, 1, true); return CHOKE;
    case 1: if (len !== 1) throw sizeError('unchoke', len, 1, true); return UNCHOKE;
    case 2: if (len !== 1) throw sizeError('interested', len, 1, true); return INTERESTED;
    case 3: if (len !== 1) throw sizeError('not_interested', len, 1, true); return NOT_INTERESTED;
    case 4:
      if (len !== 5) throw sizeError('have', len, 5, true);
      return { type: 'have', index: readU32(b, off + 1) };
    case 5:
      return { type: 'bitfield', bits: view(b, off + 1, len - 1) };
    case 6:
      if (len !== 13) throw sizeError('request', len, 13, true);
      return { type: 'request', index: readU32(b, off + 1), begin: readU32(b, off + 5), length: readU32(b, off + 9) };
    case 8:
      if (len !== 13) throw sizeError('cancel', len, 13, true);
      return { type: 'cancel', index: readU32(b, off + 1), begin: readU32(b, off + 5), length: readU32(b, off + 9) };
    case 9:
      if (len !== 3) throw sizeError('port', len, 3, true);
      return { type: 'port', port: (b[off + 1] << 8) | b[off + 2] };
    case 0x0d:
      if (len !== 5) throw sizeError('suggest_piece', len, 5, true);
      return { type: 'suggest_piece', index: readU32(b, off + 1) };
    case 0x0e: if (len !== 1) throw sizeError('have_all', len, 1, true); return HAVE_ALL;
    case 0x0f: if (len !== 1) throw sizeError('have_none', len, 1, true); return HAVE_NONE;
    case 0x10:
      if (len !== 13) throw sizeError('reject_request', len, 13, true);
      return { type: 'reject_request', index: readU32(b, off + 1), begin: readU32(b, off + 5), length: readU32(b, off + 9) };
    case 0x11:
      if (len !== 5) throw sizeError('allowed_fast', len, 5, true);
      return { type: 'allowed_fast', index: readU32(b, off + 1) };
    case 20:
      if (len < 2) throw sizeError('extended', len, 2, false);
      return { type: 'extended', id: b[off + 1], payload: view(b, off + 2, len - 2) };
    default:
      throw new WireError('UNKNOWN_MESSAGE_ID', `unknown message id ${id}`);
  }
}

/** Decode one frame: the bytes after the 4-byte length prefix (empty = keep-alive). */
export function decodeMessage(frame: Uint8Array): Message {
  return decodeFrame(frame, 0, frame.length);
}

// ---------------------------------------------------------------- encoding

function u32(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw invalidArgument(`${name} must be a u32, got ${v}`);
  return v;
}

function fixed(len: number, id: number): Uint8Array {
  const out = new Uint8Array(4 + len);
  writeU32(out, 0, len);
  out[4] = id;
  return out;
}

function oneU32(id: number, v: number): Uint8Array {
  const out = fixed(5, id);
  writeU32(out, 5, u32('index', v));
  return out;
}

function threeU32(id: number, m: { index: number; begin: number; length: number }): Uint8Array {
  const out = fixed(13, id);
  writeU32(out, 5, u32('index', m.index));
  writeU32(out, 9, u32('begin', m.begin));
  writeU32(out, 13, u32('length', m.length));
  return out;
}

function withPayload(id: number, prefix: number, payload: Uint8Array): Uint8Array {
  const len = 1 + prefix + payload.length;
  if (len > 0xffffffff) throw invalidArgument('message too long');
  const out = new Uint8Array(4 + len);
  writeU32(out, 0, len);
  out[4] = id;
  out.set(payload, 5 + prefix);
  return out;
}

/**
 * The 13-byte header of a piece message carrying `blockLength` bytes, so a
 * socket can write header and block separately (writev / cork) without
 * concatenating them.
 */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Uint8Array {
  if (!(blockLength >= 0 && blockLength <= 0xffffffff - 9 && Number.isInteger(blockLength))) {
    throw invalidArgument(`bad block length ${blockLength}`);
  }
  const out = new Uint8Array(PIECE_HEADER_LENGTH);
  writeU32(out, 0, 9 + blockLength);
  out[4] = 7;
  writeU32(out, 5, u32('index', index));
  writeU32(out, 9, u32('begin', begin));
  return out;
}

/** Encode one message as a complete frame (length prefix included). Throws INVALID_ARGUMENT on bad fields. */
export function encodeMessage(m: Message): Uint8Array {
  switch (m.type) {
    case 'keep_alive': return new Uint8Array(4);
    case 'choke': return fixed(1, MessageId.choke);
    case 'unchoke': return fixed(1, MessageId.unchoke);
    case 'interested': return fixed(1, MessageId.interested);
    case 'not_interested': return fixed(1, MessageId.not_interested);
    case 'have': return oneU32(MessageId.have, m.index);
    case 'bitfield': return withPayload(MessageId.bitfield, 0, m.bits);
    case 'request': return threeU32(MessageId.request, m);
    case 'piece': {
      const out = withPayload(MessageId.piece, 8, m.block);
      writeU32(out, 5, u32('index', m.index));
      writeU32(out, 9, u32('begin', m.begin));
      return out;
    }
    case 'cancel': return threeU32(MessageId.cancel, m);
    case 'port': {
      if (!(Number.isInteger(m.port) && m.port >= 0 && m.port <= 0xffff)) throw invalidArgument(`port must be 16-bit, got ${m.port}`);
      const out = fixed(3, MessageId.port);
      out[5] = m.port >>> 8;
      out[6] = m.port & 0xff;
      return out;
    }
    case 'suggest_piece': return oneU32(MessageId.suggest_piece, m.index);
    case 'have_all': return fixed(1, MessageId.have_all);
    case 'have_none': return fixed(1, MessageId.have_none);
    case 'reject_request': return threeU32(MessageId.reject_request, m);
    case 'allowed_fast': return oneU32(MessageId.allowed_fast, m.index);
    case 'extended': {
      if (!(Number.isInteger(m.id) && m.id >= 0 && m.id <= 0xff)) throw invalidArgument(`extended id must be a byte, got ${m.id}`);
      const out = withPayload(MessageId.extended, 1, m.payload);
      out[5] = m.id;
      return out;
    }
    default: {
      const never: never = m;
      throw invalidArgument(`unknown message type ${(never as { type: string }).type}`);
    }
  }
}

/** Size in bytes of the encoded frame of `m` (length prefix included). */
export function encodedLength(m: Message): number {
  switch (m.type) {
    case 'keep_alive': return 4;
    case 'have': case 'suggest_piece': case 'allowed_fast': return 9;
    case 'request': case 'cancel': case 'reject_request': return 17;
    case 'port': return 7;
    case 'bitfield': return 5 + m.bits.length;
    case 'piece': return 13 + m.block.length;
    case 'extended': return 6 + m.payload.length;
    default: return 5;
  }
}
