/** Byte builders shared by the wire targets' seeds. */
import { concat } from '../target.js';

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** A peer-wire frame: length prefix, id, payload. */
export function frame(id: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat([u32be(1 + payload.length), new Uint8Array([id]), payload]);
}

/** Reserved bytes seen from real clients (INTEROP.md captures). */
export const RESERVED_LIBTORRENT = new Uint8Array([0, 0, 0, 0, 0, 0x10, 0, 0x05]);
export const RESERVED_TRANSMISSION = new Uint8Array([0, 0, 0, 0, 0, 0x10, 0, 0x04]);
export const RESERVED_NONE = new Uint8Array(8);
