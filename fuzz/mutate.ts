/**
 * Structure-aware mutations of valid inputs (what AFL/libFuzzer do, plus what peer-wire
 * bugs need): flipped bits, interesting bytes, truncations, splices of two corpus
 * entries, dictionary tokens, and — on a target's records (frames, ops) — duplicated,
 * dropped and swapped messages, rewritten length prefixes and huge length claims.
 *
 * Never writes into its input: corpus entries may be Buffers, whose `slice` is a view,
 * so every in-place edit works on `new Uint8Array(b)` (a copy).
 */
import { type FuzzTarget, type Record, Rng, concat } from './target.js';

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x13, 0x14, 0x30, 0x39, 0x3a, 0x65, 0x69, 0x6c, 0x64, 0x2d];
const INTERESTING32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x100000 + 13, 0x100000 + 14, 0x4009, 0x4000, 0x10000];
const NUMBERS = ['0', '-0', '-1', '01', '1', '99999999999', '18446744073709551616', '9007199254740993', '4294967296', '2147483648', '16384', '255', '256'];
const enc = new TextEncoder();

export interface MutationContext {
  readonly rng: Rng;
  readonly corpus: readonly Uint8Array[];
  readonly target: FuzzTarget;
}

function replace(b: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  return concat([b.subarray(0, at), ins, b.subarray(Math.min(b.length, at + del))]);
}

function writeLen(b: Uint8Array, r: Record, value: number): Uint8Array {
  const out = new Uint8Array(b);
  const at = r.lenAt!;
  const size = r.lenSize!;
  for (let i = size - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) if (at + i < out.length) out[at + i] = v & 0xff;
  return out;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** One mutation of `b` (may return b itself when the chosen one does not apply). */
export function mutateOnce(b: Uint8Array, ctx: MutationContext): Uint8Array {
  const { rng, corpus, target } = ctx;
  const n = b.length;
  const pos = (): number => rng.below(n);
  const op = rng.below(18);
  switch (op) {
    case 0: { // flip a bit
      if (n === 0) break;
      const out = new Uint8Array(b); out[pos()] ^= 1 << rng.below(8); return out;
    }
    case 1: { // interesting byte
      if (n === 0) break;
      const out = new Uint8Array(b); out[pos()] = INTERESTING8[rng.below(INTERESTING8.length)]; return out;
    }
    case 2: { // random byte
      if (n === 0) break;
      const out = new Uint8Array(b); out[pos()] = rng.below(256); return out;
    }
    case 3: { // insert random bytes
      const ins = new Uint8Array(1 + rng.below(8));
      for (let i = 0; i < ins.length; i++) ins[i] = rng.below(256);
      return replace(b, rng.below(n + 1), 0, ins);
    }
    case 4: { // delete a range
      if (n === 0) break;
      const at = pos(); return replace(b, at, 1 + rng.below(Math.min(64, n - at)), new Uint8Array(0));
    }
    case 5: { // duplicate a range elsewhere
      if (n === 0) break;
      const at = pos(); const len = 1 + rng.below(Math.min(64, n - at));
      return replace(b, rng.below(n + 1), 0, new Uint8Array(b.subarray(at, at + len)));
    }
    case 6: // truncate
      return b.subarray(0, rng.below(n + 1));
    case 7: { // splice: our prefix + another entry's suffix
      const o = corpus[rng.below(corpus.length)];
      if (o === undefined) break;
      return concat([b.subarray(0, rng.below(n + 1)), o.subarray(rng.below(o.length + 1))]);
    }
    case 8: { // insert a chunk of another entry
      const o = corpus[rng.below(corpus.length)];
      if (o === undefined || o.length === 0) break;
      const at = rng.below(o.length); const len = 1 + rng.below(Math.min(128, o.length - at));
      return replace(b, rng.below(n + 1), 0, o.subarray(at, at + len));
    }
    case 9: case 10: { // dictionary token: insert or overwrite
      const d = target.dictionary;
      if (d === undefined || d.length === 0) break;
      const tok = d[rng.below(d.length)];
      const at = rng.below(n + 1);
      return replace(b, at, op === 10 ? tok.length : 0, tok);
    }
    case 11: case 12: case 13: case 14: { // record-level
      const recs = target.records?.(b) ?? [];
      if (recs.length === 0) break;
      const r = recs[rng.below(recs.length)];
      if (op === 11) return replace(b, r.end, 0, new Uint8Array(b.subarray(r.start, r.end))); // duplicate a message
      if (op === 12) return replace(b, r.start, r.end - r.start, new Uint8Array(0)); // drop one
      if (op === 13) { // swap two
        const s = recs[rng.below(recs.length)];
        if (s === r) break;
        const [x, y] = r.start < s.start ? [r, s] : [s, r];
        if (x.end > y.start) break;
        return concat([b.subarray(0, x.start), b.subarray(y.start, y.end), b.subarray(x.end, y.start), b.subarray(x.start, x.end), b.subarray(y.end)]);
      }
      if (r.lenAt === undefined || r.lenSize === undefined) break;
      const cur = r.end - r.start - (r.lenSize === 4 ? 4 : 1);
      const max = r.lenSize === 4 ? 0xffffffff : r.lenSize === 2 ? 0xffff : 0xdf;
      const choices = [0, 1, cur - 1, cur + 1, cur + 2, max, rng.below(max + 1)];
      if (r.lenSize === 4) choices.push(...INTERESTING32);
      const v = choices[rng.below(choices.length)];
      return writeLen(b, r, Math.max(0, Math.min(max, v)));
    }
    case 15: { // a huge length claim somewhere
      const v = INTERESTING32[rng.below(INTERESTING32.length)];
      const recs = target.records?.(b) ?? [];
      const r4 = recs.filter((r) => r.lenSize === 4);
      if (r4.length > 0 && rng.chance(0.7)) return writeLen(b, r4[rng.below(r4.length)], v);
      const at = rng.below(n + 1);
      return replace(b, at, rng.chance(0.5) ? 4 : 0, u32(v));
    }
    case 16: { // a number in text (bencode ints and lengths, URIs): replace a digit run
      const starts: number[] = [];
      for (let i = 0; i < n && starts.length < 256; i++) if (b[i] >= 0x30 && b[i] <= 0x39 && (i === 0 || b[i - 1] < 0x30 || b[i - 1] > 0x39)) starts.push(i);
      if (starts.length === 0) break;
      const at = starts[rng.below(starts.length)];
      let end = at;
      while (end < n && b[end] >= 0x30 && b[end] <= 0x39) end++;
      const v = rng.chance(0.6) ? NUMBERS[rng.below(NUMBERS.length)] : String(Number(Buffer.from(b.subarray(at, end)).toString('latin1')) + rng.below(5) - 2);
      return replace(b, at, end - at, enc.encode(v));
    }
    default: { // small arithmetic on a byte
      if (n === 0) break;
      const out = new Uint8Array(b); const at = pos(); out[at] = (out[at] + rng.below(9) - 4) & 0xff; return out;
    }
  }
  return b;
}

/** `rounds` stacked mutations of `base`, capped at the target's input length. */
export function mutate(base: Uint8Array, ctx: MutationContext, rounds: number): Uint8Array {
  let b = base;
  for (let i = 0; i < rounds; i++) b = mutateOnce(b, ctx);
  return b.length > ctx.target.maxInputLength ? b.subarray(0, ctx.target.maxInputLength) : b;
}
