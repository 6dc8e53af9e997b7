/**
 * What a fuzz target is, and how one input is judged.
 *
 * A target takes bytes and drives one parser or state machine with them. The only
 * acceptable outcomes are a result or the module's TYPED error (a class with a `code`);
 * anything else — a TypeError, a RangeError, a plain Error, an invariant the target
 * checks (round trips, bounds) — is a failure. Targets throw `FuzzFailure` for broken
 * invariants; `runOne` turns every non-typed exception into a `Failure` record with a
 * stable signature, so the same bug found twice is reported once.
 */

/** An invariant a target checks was broken (not an exception of the module under test). */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
  constructor(message: string) { super(message); }
}

/** A byte range of one record (a frame, an op) inside an input, for message-level mutations. */
export interface Record {
  readonly start: number;
  readonly end: number;
  /** Where its length field is, if it has one, and how many bytes wide (big-endian). */
  readonly lenAt?: number;
  readonly lenSize?: 1 | 2 | 4;
}

export interface FuzzTarget {
  readonly name: string;
  /** One line: what is fed to what. */
  readonly about: string;
  /** Inputs longer than this are cut (keeps executions fast; bounds memory of the run). */
  readonly maxInputLength: number;
  /** Feed one input; throw FuzzFailure on a broken invariant. Must not keep state between calls. */
  run(input: Uint8Array): void;
  /** Small valid inputs (the seed corpus is generated from these). */
  seeds(): Uint8Array[];
  /** Tokens worth splicing in (keys, magic values). */
  readonly dictionary?: readonly Uint8Array[];
  /** The records of an input in this target's format (for duplicate / drop / length rewrites). */
  records?(input: Uint8Array): Record[];
}

export interface Failure {
  readonly target: string;
  /** Dedup key: error class + first message line (numbers blanked) + top frame. */
  readonly signature: string;
  readonly message: string;
  readonly stack: string;
  readonly input: Uint8Array;
}

/** Digits vary from input to input (offsets, lengths); the bug does not. */
function normalise(s: string): string {
  return s.split('\n')[0].replace(/\d+/g, 'N').slice(0, 200);
}

function topFrame(stack: string): string {
  const line = stack.split('\n').find((l) => l.trim().startsWith('at '));
  return line === undefined ? '' : line.trim().replace(/:\d+:\d+\)?$/, '');
}

/** Run one input; null when the target accepted it or failed with a typed error. */
export function runOne(t: FuzzTarget, input: Uint8Array): Failure | null {
  const x = input.length > t.maxInputLength ? input.subarray(0, t.maxInputLength) : input;
  try {
    t.run(x);
    return null;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const stack = err.stack ?? String(err);
    return {
      target: t.name,
      signature: `${err.name}: ${normalise(err.message)} @ ${topFrame(stack)}`,
      message: err.message,
      stack,
      input: new Uint8Array(x), // a copy (Buffer#slice would be a view)
    };
  }
}

/**
 * Call `f`; an exception that `typed` does not accept becomes a FuzzFailure that names
 * it (with its own stack kept), a typed one is swallowed. Returns f's value or undefined.
 */
export function expectTyped<T>(what: string, f: () => T, typed: (e: unknown) => boolean): T | undefined {
  try {
    return f();
  } catch (e) {
    if (typed(e)) return undefined;
    if (e instanceof FuzzFailure) throw e;
    const err = e instanceof Error ? e : new Error(String(e));
    const ff = new FuzzFailure(`${what} threw ${err.name}: ${err.message}`);
    ff.stack = `${ff.name}: ${ff.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
    throw ff;
  }
}

export function check(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new FuzzFailure(msg);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** xorshift32: a tiny deterministic PRNG for split points and mutations (seeded from the input or fast-check). */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  u32(): number {
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x;
  }
  /** Integer in [0, n). */
  below(n: number): number { return n <= 1 ? 0 : this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 0x100000000 < p; }
}

/**
 * Cut `bytes` into chunks: mode 0 = whole, 1 = one byte at a time, else random sizes in
 * [1, mode] from `seed` (the input's own bytes drive the split, so it is reproducible).
 */
export function split(bytes: Uint8Array, mode: number, seed: number): Uint8Array[] {
  if (bytes.length === 0) return [];
  if (mode === 0) return [bytes];
  const out: Uint8Array[] = [];
  if (mode === 1) {
    for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
    return out;
  }
  const r = new Rng(seed);
  for (let i = 0; i < bytes.length;) {
    const n = 1 + r.below(mode);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}
