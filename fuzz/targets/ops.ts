/**
 * A small op language that turns fuzz bytes into a message stream plus local actions,
 * so that mutated input reaches a connection's dispatcher instead of dying at the
 * framer (libtorrent fuzzers/src/peer_conn.cpp re-frames its input the same way).
 *
 *   0x00-0xDF L          a record of L bytes (the next L input bytes; the target frames it)
 *   0xE0-0xEE a b        local action (op - 0xE0) with two argument bytes
 *   0xEF                 the rest of the input, verbatim on the wire (hostile length prefixes)
 *   0xF0-0xFF H h.. Zhi Zlo T t..
 *                        a long record: H head bytes, Z zero bytes, T tail bytes
 *                        (16 KiB pieces and metadata pieces cheaply)
 */
import type { Record } from '../target.js';
import { concat } from '../target.js';

export type Op =
  | { readonly kind: 'record'; readonly bytes: Uint8Array }
  | { readonly kind: 'action'; readonly code: number; readonly a: number; readonly b: number }
  | { readonly kind: 'raw'; readonly bytes: Uint8Array };

export const ACTION = 0xe0;
export const RAW = 0xef;
export const LONG = 0xf0;
const MAX_OPS = 4096;

function parse(body: Uint8Array, withRecords: boolean): { ops: Op[]; records: Record[] } {
  const ops: Op[] = [];
  const records: Record[] = [];
  let i = 0;
  while (i < body.length && ops.length < MAX_OPS) {
    const start = i;
    const op = body[i++];
    if (op < ACTION) {
      const end = Math.min(body.length, i + op);
      ops.push({ kind: 'record', bytes: body.subarray(i, end) });
      i = end;
      if (withRecords) records.push({ start, end, lenAt: start, lenSize: 1 });
    } else if (op < RAW) {
      ops.push({ kind: 'action', code: op - ACTION, a: body[i] ?? 0, b: body[i + 1] ?? 0 });
      i += 2;
      if (withRecords) records.push({ start, end: Math.min(i, body.length) });
    } else if (op === RAW) {
      ops.push({ kind: 'raw', bytes: body.subarray(i) });
      if (withRecords) records.push({ start, end: body.length });
      i = body.length;
    } else {
      const h = body[i++] ?? 0;
      const head = body.subarray(Math.min(i, body.length), Math.min(i + h, body.length));
      i += h;
      const z = ((body[i] ?? 0) << 8) | (body[i + 1] ?? 0);
      i += 2;
      const t = body[i++] ?? 0;
      const tail = body.subarray(Math.min(i, body.length), Math.min(i + t, body.length));
      i += t;
      ops.push({ kind: 'record', bytes: concat([head, new Uint8Array(z), tail]) });
      if (withRecords) records.push({ start, end: Math.min(i, body.length) });
    }
  }
  return { ops, records };
}

export function parseOps(body: Uint8Array): Op[] { return parse(body, false).ops; }

/** Records of an op stream starting at `offset` in the input. */
export function opRecords(input: Uint8Array, offset: number): Record[] {
  if (input.length <= offset) return [];
  return parse(input.subarray(offset), true).records.map((r) => ({
    ...r, start: r.start + offset, end: r.end + offset, ...(r.lenAt !== undefined ? { lenAt: r.lenAt + offset } : {}),
  }));
}

// ------------------------------------------------------------ builders for seeds

/** A short record op (≤ 223 bytes). */
export function rec(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= ACTION) throw new Error(`record of ${bytes.length} bytes: use long()`);
  return concat([new Uint8Array([bytes.length]), bytes]);
}

export function act(code: number, a = 0, b = 0): Uint8Array {
  return new Uint8Array([ACTION + code, a, b]);
}

export function long(head: Uint8Array, zeros: number, tail: Uint8Array): Uint8Array {
  if (head.length > 255 || tail.length > 255 || zeros > 0xffff) throw new Error('long(): field too large');
  return concat([new Uint8Array([LONG, head.length]), head, new Uint8Array([zeros >> 8, zeros & 0xff, tail.length]), tail]);
}

export function raw(bytes: Uint8Array): Uint8Array {
  return concat([new Uint8Array([RAW]), bytes]);
}
