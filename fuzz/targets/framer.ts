/**
 * Framer target: the same byte stream fed whole and in chunks (cut by the input's own
 * first bytes: h11 fuzz/afl-server.py's habit) must give the same messages and the same
 * error at the same place; every message must re-encode to the exact frame bytes it came
 * from (anacrolix peer_protocol/fuzz_test.go); errors are sticky WireErrors; the assembly
 * buffer stays bounded by what arrived, not by what a length prefix claims.
 *
 * Input: [cap selector + split mode][split seed; odd = split feed with reuseAssemblyBuffer][stream...].
 */
import { Framer } from '../../wire/framer.js';
import { WireError } from '../../wire/errors.js';
import { encodeMessage } from '../../wire/codec.js';
import type { Message } from '../../wire/messages.js';
import {
  type FuzzTarget, type Record, ascii, bytesEqual, check, concat, expectTyped, split,
} from '../target.js';
import { frame, u32be } from './wire-seeds.js';

const CAPS = [undefined, 16, 300, 0x4000 + 13] as const;
const MAX_MESSAGES = 1 << 16;

/** Messages are re-encoded as soon as they are pulled: with reuseAssemblyBuffer a payload is only valid until the next `next()`. */
interface Outcome { readonly msgs: Uint8Array[]; readonly types: string[]; readonly error: string | null }

function pull(f: Framer, out: Uint8Array[], types: string[], fedBytes: number): string | null {
  for (;;) {
    let m: Message | null;
    try {
      m = f.next();
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      // Sticky: the same error again, and input after it is dropped.
      let again: unknown = null;
      try { f.next(); } catch (e2) { again = e2; }
      check(again === e, 'framer error is not sticky');
      f.feed(new Uint8Array([0, 0, 0, 0]));
      return e.code;
    }
    if (m === null) return null;
    out.push(encodeMessage(m));
    types.push(m.type);
    check(out.length <= MAX_MESSAGES, 'too many messages');
    // Memory: an assembly buffer is sized by arrival (64 KiB slab/floor), never by a claim.
    check(f.assemblyBytes <= Math.max(64 * 1024, 2 * fedBytes), `assembly buffer ${f.assemblyBytes} for ${fedBytes} bytes fed`);
  }
}

function feedAll(chunks: Uint8Array[], cap: number | undefined, reuse: boolean): Outcome {
  const f = new Framer({ ...(cap === undefined ? {} : { maxMessageLength: cap }), reuseAssemblyBuffer: reuse });
  const msgs: Uint8Array[] = [];
  const types: string[] = [];
  let fed = 0;
  let error: string | null = null;
  for (const c of chunks) {
    f.feed(c);
    fed += c.length;
    check(f.assemblyBytes <= Math.max(64 * 1024, 2 * fed), `assembly buffer ${f.assemblyBytes} after ${fed} bytes fed`);
    error = pull(f, msgs, types, fed);
    if (error !== null) return { msgs, types, error };
  }
  f.end();
  error = pull(f, msgs, types, fed);
  if (error === null) {
    try { f.assertDrained(); } catch (e) {
      if (!(e instanceof WireError)) throw e;
      check(e.code === 'TRUNCATED', `assertDrained threw ${e.code}`);
      error = e.code;
    }
  }
  return { msgs, types, error };
}

export const framerTarget: FuzzTarget = {
  name: 'framer',
  about: 'wire/framer.ts Framer.feed/next: whole vs split feeding, re-encoding, sticky typed errors',
  maxInputLength: 64 * 1024,
  run(input) {
    if (input.length < 2) return;
    const cap = CAPS[input[0] & 3];
    const mode = input[0] >> 2; // 0 whole, 1 bytewise, else chunks up to `mode` bytes
    const stream = input.subarray(2);
    const reuse = (input[1] & 1) !== 0; // the split is fed with reuseAssemblyBuffer on
    const whole = expectTyped('framer (whole)', () => feedAll([stream], cap, false), (e) => e instanceof WireError)!;
    // At most ~4096 chunks: finer cuts of a big stream add time, not paths.
    const chunkMax = Math.max(mode === 0 ? 1 : mode, Math.ceil(stream.length / 4096));
    const parts = expectTyped('framer (split)', () => feedAll(split(stream, chunkMax, input[1] * 2654435761), cap, reuse), (e) => e instanceof WireError)!;
    check(whole.error === parts.error, `whole feed ended with ${whole.error}, split feed with ${parts.error}`);
    check(whole.msgs.length === parts.msgs.length, `whole feed gave ${whole.msgs.length} messages, split ${parts.msgs.length}`);
    let off = 0;
    for (let i = 0; i < whole.msgs.length; i++) {
      const enc = whole.msgs[i];
      check(bytesEqual(enc, stream.subarray(off, off + enc.length)), `message ${i} (${whole.types[i]}) does not re-encode to its frame`);
      check(bytesEqual(enc, parts.msgs[i]), `message ${i} (${whole.types[i]}) differs between whole and split${reuse ? ' (reuseAssemblyBuffer)' : ''} feeding`);
      off += enc.length;
    }
  },
  seeds() {
    const msgs = [
      frame(0), frame(1), frame(2), frame(3), frame(4, u32be(7)), frame(5, new Uint8Array([0xff, 0x80])),
      frame(6, concat([u32be(1), u32be(0), u32be(16384)])), frame(7, concat([u32be(1), u32be(0), ascii('blockdata')])),
      frame(8, concat([u32be(1), u32be(0), u32be(16384)])), frame(9, new Uint8Array([0x1a, 0xe1])),
      frame(13, u32be(3)), frame(14), frame(15), frame(16, concat([u32be(1), u32be(16384), u32be(16384)])),
      frame(17, u32be(2)), frame(20, concat([new Uint8Array([0]), ascii('d1:md11:ut_metadatai1eee')])), new Uint8Array(4),
    ];
    return [
      concat([new Uint8Array([0, 0]), ...msgs]),
      concat([new Uint8Array([1 << 2, 0]), ...msgs]),
      concat([new Uint8Array([7 << 2, 5]), ...msgs, ...msgs]),
      concat([new Uint8Array([3 | (5 << 2), 9]), frame(7, concat([u32be(0), u32be(0), new Uint8Array(0x4000)])), frame(1)]),
      concat([new Uint8Array([0, 0]), u32be(0x7fffffff), frame(1)]),
      concat([new Uint8Array([2 << 2, 1]), frame(2), new Uint8Array([0, 0, 1])]),
    ];
  },
  records(input) { return btRecords(input, 2); },
  dictionary: [u32be(0), u32be(1), u32be(5), u32be(13), u32be(0x4009), u32be(0x100000 + 13), u32be(0x100000 + 14), u32be(0x7fffffff), u32be(0x80000000), u32be(0xffffffff)],
};

/** BitTorrent frames from `start` (length prefix, id, payload), as far as they are whole. */
export function btRecords(input: Uint8Array, start: number): Record[] {
  const out: Record[] = [];
  let o = start;
  while (o + 4 <= input.length && out.length < 4096) {
    const len = ((input[o] << 24) | (input[o + 1] << 16) | (input[o + 2] << 8) | input[o + 3]) >>> 0;
    if (o + 4 + len > input.length) break;
    out.push({ start: o, end: o + 4 + len, lenAt: o, lenSize: 4 });
    o += 4 + len;
  }
  return out;
}
