/**
 * The 68-byte BEP 3 handshake:
 *
 *   offset 0   pstrlen = 19
 *   offset 1   pstr    = "BitTorrent protocol"
 *   offset 20  reserved (8 bytes; feature bits, see below)
 *   offset 28  info_hash (20 bytes)
 *   offset 48  peer_id (20 bytes)
 *
 * The decoder is incremental (the 68 bytes may arrive split anywhere) and exposes
 * the info hash and reserved bytes as soon as the first 48 bytes are in, so one
 * listener serving many torrents can pick the torrent (or refuse) before it
 * answers; the peer id follows. It tells how many bytes of each chunk it used, so
 * whatever follows the handshake in the same chunk goes to the framer.
 */

import { WireError, invalidArgument } from './errors.js';

export const HANDSHAKE_LENGTH = 68;
export const PROTOCOL_STRING = 'BitTorrent protocol';
const PSTR = new TextEncoder().encode(PROTOCOL_STRING); // 19 bytes
const RESERVED_OFFSET = 20;
const INFO_HASH_OFFSET = 28;
const PEER_ID_OFFSET = 48;
/** Bytes needed before the info hash and reserved bytes are known. */
export const HANDSHAKE_HEADER_LENGTH = PEER_ID_OFFSET;

// ---------------------------------------------------------------- reserved bits

/** A named feature bit in the 8 reserved bytes: byte index and mask. */
export interface ReservedBit { readonly byte: number; readonly mask: number }

export const RESERVED_BITS = {
  /** BEP 10 extension protocol: reserved[5] & 0x10. */
  extended: { byte: 5, mask: 0x10 },
  /** BEP 6 fast extension: reserved[7] & 0x04. */
  fast: { byte: 7, mask: 0x04 },
  /** BEP 5 DHT (peer will send `port`): reserved[7] & 0x01. */
  dht: { byte: 7, mask: 0x01 },
} as const satisfies Record<string, ReservedBit>;

export type ReservedFlag = keyof typeof RESERVED_BITS;

export interface ReservedFlags { extended: boolean; fast: boolean; dht: boolean }

function checkReserved(reserved: Uint8Array): void {
  if (reserved.length !== 8) throw invalidArgument(`reserved must be 8 bytes, got ${reserved.length}`);
}

/** Whether a named bit is set in the 8 reserved bytes. */
export function hasReservedBit(reserved: Uint8Array, flag: ReservedFlag): boolean {
  checkReserved(reserved);
  const b = RESERVED_BITS[flag];
  return (reserved[b.byte] & b.mask) !== 0;
}

/** A copy of `reserved` with one named bit set or cleared; every other bit is preserved. */
export function withReservedBit(reserved: Uint8Array, flag: ReservedFlag, on = true): Uint8Array {
  checkReserved(reserved);
  const out = new Uint8Array(reserved);
  const b = RESERVED_BITS[flag];
  if (on) out[b.byte] |= b.mask;
  else out[b.byte] &= ~b.mask & 0xff;
  return out;
}

/**
 * Build reserved bytes from named flags, starting from `base` (default all zero)
 * so unknown bits a caller wants to keep (or echo) are preserved.
 */
export function makeReserved(flags: Partial<ReservedFlags>, base?: Uint8Array): Uint8Array {
  let r: Uint8Array = base ? new Uint8Array(base) : new Uint8Array(8);
  checkReserved(r);
  for (const name of Object.keys(RESERVED_BITS) as ReservedFlag[]) {
    const v = flags[name];
    if (v !== undefined) r = withReservedBit(r, name, v);
  }
  return r;
}

/** The named bits of reserved bytes. */
export function reservedFlags(reserved: Uint8Array): ReservedFlags {
  return {
    extended: hasReservedBit(reserved, 'extended'),
    fast: hasReservedBit(reserved, 'fast'),
    dht: hasReservedBit(reserved, 'dht'),
  };
}

// ---------------------------------------------------------------- encode

export interface Handshake {
  readonly infoHash: Uint8Array; // 20 bytes
  readonly peerId: Uint8Array; // 20 bytes
  readonly reserved: Uint8Array; // 8 bytes
}

/** The 68 handshake bytes. `reserved` defaults to all zero. */
export function encodeHandshake(h: { infoHash: Uint8Array; peerId: Uint8Array; reserved?: Uint8Array }): Uint8Array {
  if (h.infoHash.length !== 20) throw invalidArgument(`infoHash must be 20 bytes, got ${h.infoHash.length}`);
  if (h.peerId.length !== 20) throw invalidArgument(`peerId must be 20 bytes, got ${h.peerId.length}`);
  const out = new Uint8Array(HANDSHAKE_LENGTH);
  out[0] = PSTR.length;
  out.set(PSTR, 1);
  if (h.reserved !== undefined) {
    checkReserved(h.reserved);
    out.set(h.reserved, RESERVED_OFFSET);
  }
  out.set(h.infoHash, INFO_HASH_OFFSET);
  out.set(h.peerId, PEER_ID_OFFSET);
  return out;
}

// ---------------------------------------------------------------- decode

/**
 * Incremental handshake decoder. Usage:
 *
 *   const used = dec.feed(chunk);
 *   if (dec.headerReady) { pick torrent by dec.infoHash, check dec.reserved }
 *   if (dec.done) framer.feed(chunk.subarray(used));
 *
 * pstrlen and pstr are checked byte by byte as they arrive, so a non-BitTorrent
 * peer is refused at its first wrong byte. Errors are sticky.
 */
export class HandshakeDecoder {
  private readonly buf = new Uint8Array(HANDSHAKE_LENGTH);
  private have = 0;
  private error: WireError | null = null;
  private _infoHash: Uint8Array | null = null;
  private _reserved: Uint8Array | null = null;
  private _peerId: Uint8Array | null = null;

  /** Bytes of the handshake received so far (0..68). */
  get received(): number { return this.have; }
  /** True once reserved bytes and info hash are known (48 bytes in). */
  get headerReady(): boolean { return this.have >= HANDSHAKE_HEADER_LENGTH; }
  /** True once all 68 bytes are in. */
  get done(): boolean { return this.have === HANDSHAKE_LENGTH; }
  /** The peer's info hash (20 bytes) once `headerReady`, else null. */
  get infoHash(): Uint8Array | null { return this._infoHash; }
  /** The peer's 8 reserved bytes once `headerReady`, else null. */
  get reserved(): Uint8Array | null { return this._reserved; }
  /** The peer's id (20 bytes) once `done`, else null. */
  get peerId(): Uint8Array | null { return this._peerId; }

  /** The whole handshake once done. */
  get handshake(): Handshake | null {
    if (!this.done) return null;
    return { infoHash: this._infoHash!, peerId: this._peerId!, reserved: this._reserved! };
  }

  /**
   * Take handshake bytes from `chunk`; returns how many bytes were consumed
   * (0 once the handshake is complete). Throws WireError('BAD_HANDSHAKE').
   */
  feed(chunk: Uint8Array): number {
    if (this.error) throw this.error;
    const start = this.have;
    const n = Math.min(chunk.length, HANDSHAKE_LENGTH - start);
    if (n === 0) return 0;
    this.buf.set(n === chunk.length ? chunk : chunk.subarray(0, n), start);
    this.have = start + n;
    // Validate the protocol-string bytes that just arrived.
    const pEnd = Math.min(this.have, RESERVED_OFFSET);
    for (let i = start; i < pEnd; i++) {
      if (i === 0) {
        if (this.buf[0] !== PSTR.length) {
          return this.fail(`pstrlen ${this.buf[0]}, expected ${PSTR.length}`);
        }
      } else if (this.buf[i] !== PSTR[i - 1]) {
        return this.fail(`protocol string mismatch at byte ${i}`);
      }
    }
    if (start < HANDSHAKE_HEADER_LENGTH && this.have >= HANDSHAKE_HEADER_LENGTH) {
      this._reserved = this.buf.slice(RESERVED_OFFSET, INFO_HASH_OFFSET);
      this._infoHash = this.buf.slice(INFO_HASH_OFFSET, PEER_ID_OFFSET);
    }
    if (this.have === HANDSHAKE_LENGTH) {
      this._peerId = this.buf.slice(PEER_ID_OFFSET, HANDSHAKE_LENGTH);
    }
    return n;
  }

  /** Call when the stream ended: throws TRUNCATED unless the handshake is complete. */
  end(): void {
    if (this.error) throw this.error;
    if (!this.done) {
      this.error = new WireError('TRUNCATED', `stream ended after ${this.have} of ${HANDSHAKE_LENGTH} handshake bytes`);
      throw this.error;
    }
  }

  private fail(msg: string): never {
    this.error = new WireError('BAD_HANDSHAKE', msg);
    throw this.error;
  }
}

/** Decode a complete 68-byte handshake at once. */
export function decodeHandshake(bytes: Uint8Array): Handshake {
  if (bytes.length !== HANDSHAKE_LENGTH) {
    throw new WireError('BAD_HANDSHAKE', `handshake must be ${HANDSHAKE_LENGTH} bytes, got ${bytes.length}`);
  }
  const d = new HandshakeDecoder();
  d.feed(bytes);
  return d.handshake!;
}
