/**
 * Bencode (BEP 3) codec for hostile input: strict, bounded, iterative.
 *
 * Why hand-written instead of the npm `bencode` package (already a dependency):
 *  - it decodes integers as JS numbers (silently wrong above 2^53, accepts `i-0e`,
 *    leading zeros and even floats);
 *  - it recurses once per nesting level taken from the input, so a message of
 *    `llllll…` blows the JS stack (RangeError) instead of failing cleanly;
 *  - it does not expose the raw byte span of a value, and the info hash must be
 *    the SHA-1 of the exact bytes of `info` as received (re-encoding a torrent whose
 *    keys were unsorted would give another hash);
 *  - it copies the input (`data.slice`) before decoding.
 *
 * Model:
 *  - integers are `bigint` (no precision loss; callers narrow with `getSafeInt`);
 *  - byte strings are `Uint8Array` VIEWS of the input (no copy): keep them past the
 *    life of the input buffer only after copying;
 *  - dictionaries are `Map<string, BValue>` whose keys are the raw key bytes read as
 *    latin1 (one char per byte), so any binary key round-trips exactly and JS string
 *    order equals raw byte order.
 *
 * The decoder is a loop over an explicit stack, so nesting costs heap (bounded by
 * `maxDepth`), never JS stack. Every failure is a `BencodeError` with a `code`.
 */

export type BValue = bigint | Uint8Array | BValue[] | BDict;
export type BDict = Map<string, BValue>;

export type BencodeErrorCode =
  | 'TRUNCATED'          // input ended inside a value
  | 'BAD_INTEGER'        // empty, '-0', leading zero, non-digit, too many digits, unsafe number
  | 'BAD_STRING_LENGTH'  // length prefix with non-digits, leading zero, or absurd size
  | 'TOO_DEEP'           // more nested containers than maxDepth
  | 'TOO_MANY_ITEMS'     // more values than maxItems
  | 'TOO_LARGE'          // input (or the value) longer than maxBytes
  | 'TRAILING_BYTES'     // bytes after the single top-level value
  | 'UNSORTED_KEYS'      // dict keys not in ascending raw byte order (strict mode)
  | 'DUPLICATE_KEY'      // the same key twice in one dict
  | 'BAD_KEY'            // a dict key that is not a byte string / an unencodable key
  | 'UNEXPECTED_BYTE'    // a byte that cannot start a value here
  | 'BAD_VALUE'          // encoder: a value that has no bencode form (null, float, ...)
  | 'MISSING_KEY'        // accessor: required key absent
  | 'WRONG_TYPE'         // accessor: key present with another type
  | 'OUT_OF_RANGE'       // accessor: integer outside the caller's bounds
  | 'BAD_UTF8';          // accessor: byte string is not valid UTF-8

export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  constructor(
    readonly code: BencodeErrorCode,
    message: string,
    /** Byte offset in the input where the problem was found (decoder only). */
    readonly offset: number = -1,
  ) {
    super(message);
  }
}

export interface DecodeOptions {
  /** Maximum nesting of lists/dicts (the top-level container counts as 1). Default 32. */
  maxDepth?: number;
  /** Maximum input length in bytes (for decodePrefix: the value's length). Default: unlimited. */
  maxBytes?: number;
  /** Maximum number of values (every int, string, list and dict counts; keys do not). Default 1_000_000. */
  maxItems?: number;
  /**
   * Strict mode (default true): dict keys must be in ascending raw byte order, as BEP 3
   * requires. Non-strict accepts unsorted keys (seen in .torrent files from the wild)
   * but still rejects duplicates.
   */
  strict?: boolean;
  /** Maximum digits of an integer. Default 64 (int64 needs 20). */
  maxIntegerDigits?: number;
}

export interface EncodeOptions {
  /** Maximum nesting; also stops cyclic structures. Default 32 (what decode accepts by default). */
  maxDepth?: number;
}

/** A raw byte span [start, end) in the decoder's input. */
export interface Span { readonly start: number; readonly end: number }

const CH_I = 0x69; // i
const CH_L = 0x6c; // l
const CH_D = 0x64; // d
const CH_E = 0x65; // e
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

const DEFAULT_MAX_DEPTH = 32;
const DEFAULT_MAX_ITEMS = 1_000_000;
const DEFAULT_MAX_INT_DIGITS = 64;
/** 15 digits < 2^53, so a string length parsed as a number is always exact. */
const MAX_LENGTH_DIGITS = 15;

interface Frame {
  /** Exactly one of list/dict is set. */
  readonly list: BValue[] | null;
  readonly dict: BDict | null;
  readonly start: number;
  /** dict: key read, value pending. */
  key: string | null;
  /** dict: previous key, for order / duplicate checks. */
  lastKey: string | null;
}

interface DecodeResult { value: BValue; end: number }

function latin1(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 64) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
    return s;
  }
  return Buffer.from(buf.buffer, buf.byteOffset + start, n).toString('latin1');
}

function describe(b: number): string {
  return b >= 0x20 && b < 0x7f ? `'${String.fromCharCode(b)}'` : `0x${b.toString(16).padStart(2, '0')}`;
}

function decodeCore(buf: Uint8Array, start: number, wholeInput: boolean, opts: DecodeOptions | undefined,
  spans: WeakMap<object, Span> | null): DecodeResult {
  const maxDepth = opts?.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxItems = opts?.maxItems ?? DEFAULT_MAX_ITEMS;
  const maxBytes = opts?.maxBytes ?? Infinity;
  const strict = opts?.strict ?? true;
  const maxIntDigits = opts?.maxIntegerDigits ?? DEFAULT_MAX_INT_DIGITS;

  if (wholeInput && buf.length - start > maxBytes) {
    throw new BencodeError('TOO_LARGE', `input of ${buf.length - start} bytes exceeds maxBytes ${maxBytes}`, start);
  }
  const limit = Math.min(buf.length, start + maxBytes);
  const truncated = (at: number): never => {
    if (limit < buf.length) throw new BencodeError('TOO_LARGE', `value longer than maxBytes ${maxBytes}`, at);
    throw new BencodeError('TRUNCATED', `input ended inside a value at byte ${at}`, at);
  };

  const stack: Frame[] = [];
  let pos = start;
  let items = 0;

  for (;;) {
    if (pos >= limit) truncated(pos);
    const top = stack.length > 0 ? stack[stack.length - 1] : null;
    const c = buf[pos];
    let value: BValue;
    let valueStart = pos;

    if (top !== null && top.dict !== null && top.key === null) {
      // Expecting a key or the end of the dict.
      if (c === CH_E) {
        pos++;
        value = top.dict;
        valueStart = top.start;
        stack.pop();
      } else if (c >= CH_0 && c <= CH_9) {
        const [ks, ke] = readStringSpan();
        const key = latin1(buf, ks, ke);
        const last = top.lastKey;
        if (last !== null && key <= last) {
          if (key === last) throw new BencodeError('DUPLICATE_KEY', `duplicate dict key ${JSON.stringify(key)}`, valueStart);
          if (strict) throw new BencodeError('UNSORTED_KEYS', `dict key ${JSON.stringify(key)} after ${JSON.stringify(last)}`, valueStart);
        }
        // Sorted keys are unique by the comparison above; unsorted ones need a lookup.
        if (!strict && top.dict.has(key)) throw new BencodeError('DUPLICATE_KEY', `duplicate dict key ${JSON.stringify(key)}`, valueStart);
        top.key = key;
        top.lastKey = key;
        continue;
      } else {
        throw new BencodeError('BAD_KEY', `dict key must be a byte string, got ${describe(c)} at byte ${pos}`, pos);
      }
    } else if (c === CH_I) {
      value = readInteger();
    } else if (c >= CH_0 && c <= CH_9) {
      const [s, e] = readStringSpan();
      value = buf.subarray(s, e);
    } else if (c === CH_L || c === CH_D) {
      if (stack.length >= maxDepth) throw new BencodeError('TOO_DEEP', `nesting deeper than maxDepth ${maxDepth}`, pos);
      if (++items > maxItems) throw new BencodeError('TOO_MANY_ITEMS', `more than maxItems ${maxItems} values`, pos);
      stack.push(c === CH_L
        ? { list: [], dict: null, start: pos, key: null, lastKey: null }
        : { list: null, dict: new Map(), start: pos, key: null, lastKey: null });
      pos++;
      continue;
    } else if (c === CH_E && top !== null && top.list !== null) {
      pos++;
      value = top.list;
      valueStart = top.start;
      stack.pop();
    } else {
      throw new BencodeError('UNEXPECTED_BYTE', `unexpected ${describe(c)} at byte ${pos}`, pos);
    }

    // Containers were counted when opened; scalars are counted here.
    if (typeof value === 'bigint' || value instanceof Uint8Array) {
      if (++items > maxItems) throw new BencodeError('TOO_MANY_ITEMS', `more than maxItems ${maxItems} values`, valueStart);
    }
    if (spans !== null && typeof value === 'object') spans.set(value, { start: valueStart, end: pos });

    const parent = stack.length > 0 ? stack[stack.length - 1] : null;
    if (parent === null) return { value, end: pos };
    if (parent.list !== null) {
      parent.list.push(value);
    } else {
      parent.dict!.set(parent.key!, value);
      parent.key = null;
    }
  }

  /** pos at the first length digit; returns [dataStart, dataEnd) and moves pos past the data. */
  function readStringSpan(): [number, number] {
    const first = pos;
    let len = 0;
    let i = pos;
    for (;;) {
      if (i >= limit) truncated(i);
      const b = buf[i];
      if (b === CH_COLON) break;
      if (b < CH_0 || b > CH_9) throw new BencodeError('BAD_STRING_LENGTH', `non-digit ${describe(b)} in string length at byte ${i}`, i);
      if (i - first >= MAX_LENGTH_DIGITS) throw new BencodeError('BAD_STRING_LENGTH', `string length with more than ${MAX_LENGTH_DIGITS} digits at byte ${first}`, first);
      len = len * 10 + (b - CH_0);
      i++;
    }
    const digits = i - first;
    if (digits > 1 && buf[first] === CH_0) throw new BencodeError('BAD_STRING_LENGTH', `string length with a leading zero at byte ${first}`, first);
    const dataStart = i + 1;
    const dataEnd = dataStart + len;
    if (dataEnd > limit) truncated(limit);
    pos = dataEnd;
    return [dataStart, dataEnd];
  }

  /** pos at 'i'. */
  function readInteger(): bigint {
    const at = pos;
    let i = pos + 1;
    let neg = false;
    if (i < limit && buf[i] === CH_MINUS) { neg = true; i++; }
    const ds = i;
    let n = 0;
    for (;;) {
      if (i >= limit) truncated(i);
      const b = buf[i];
      if (b === CH_E) break;
      if (b < CH_0 || b > CH_9) throw new BencodeError('BAD_INTEGER', `non-digit ${describe(b)} in integer at byte ${i}`, i);
      if (i - ds >= maxIntDigits) throw new BencodeError('BAD_INTEGER', `integer with more than ${maxIntDigits} digits at byte ${at}`, at);
      n = n * 10 + (b - CH_0);
      i++;
    }
    const digits = i - ds;
    if (digits === 0) throw new BencodeError('BAD_INTEGER', `empty integer at byte ${at}`, at);
    if (buf[ds] === CH_0 && (digits > 1 || neg)) {
      throw new BencodeError('BAD_INTEGER', neg ? `negative zero at byte ${at}` : `integer with a leading zero at byte ${at}`, at);
    }
    pos = i + 1;
    if (digits <= 15) return BigInt(neg ? -n : n);
    const big = BigInt(latin1(buf, ds, i));
    return neg ? -big : big;
  }
}

/** Decode exactly one value that spans the whole input. */
export function decode(buf: Uint8Array, opts?: DecodeOptions): BValue {
  const r = decodeCore(buf, 0, true, opts, null);
  if (r.end !== buf.length) throw new BencodeError('TRAILING_BYTES', `${buf.length - r.end} bytes after the value`, r.end);
  return r.value;
}

/**
 * Decode one value at the start of `buf` (from `offset`) and say where it ends; bytes after
 * it are left alone. For messages that append raw data after a bencoded dict (BEP 9
 * ut_metadata `data` messages).
 */
export function decodePrefix(buf: Uint8Array, opts?: DecodeOptions, offset = 0): { value: BValue; end: number } {
  return decodeCore(buf, offset, false, opts, null);
}

/**
 * Decode the whole input and remember where each container and byte string came from,
 * so a caller can take the exact received bytes of a sub-value (the info hash).
 */
export function decodeWithSpans(buf: Uint8Array, opts?: DecodeOptions): { value: BValue; spanOf(v: BValue): Span | undefined } {
  const spans = new WeakMap<object, Span>();
  const r = decodeCore(buf, 0, true, opts, spans);
  if (r.end !== buf.length) throw new BencodeError('TRAILING_BYTES', `${buf.length - r.end} bytes after the value`, r.end);
  return { value: r.value, spanOf: (v) => (typeof v === 'object' ? spans.get(v) : undefined) };
}

/**
 * The exact raw bytes (a view of `buf`) of the value at a path of dict keys, e.g.
 * `rawValue(torrent, ['info'])`; undefined when the path does not exist.
 */
export function rawValue(buf: Uint8Array, path: readonly string[], opts?: DecodeOptions): Uint8Array | undefined {
  const { value, spanOf } = decodeWithSpans(buf, opts);
  let v: BValue | undefined = value;
  for (const k of path) {
    if (!(v instanceof Map)) return undefined;
    v = v.get(k);
    if (v === undefined) return undefined;
  }
  if (typeof v === 'bigint') return undefined; // integers have no identity to look up
  const s = spanOf(v);
  return s === undefined ? undefined : buf.subarray(s.start, s.end);
}

// ---------------------------------------------------------------------------------------
// Encoder

/** What the encoder accepts. Strings are written as UTF-8; dict keys as latin1 (raw bytes). */
export type Encodable =
  | bigint
  | number
  | string
  | Uint8Array
  | readonly Encodable[]
  | ReadonlyMap<string, Encodable>
  | { readonly [key: string]: Encodable | undefined };

class Writer {
  buf: Buffer;
  len = 0;
  constructor(size: number) { this.buf = Buffer.allocUnsafe(size); }
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  byte(b: number): void { this.reserve(1); this.buf[this.len++] = b; }
  ascii(s: string): void { this.reserve(s.length); this.len += this.buf.write(s, this.len, 'latin1'); }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.len); this.len += b.length; }
  latin1Str(s: string): void { this.ascii(String(s.length)); this.byte(CH_COLON); this.ascii(s); }
  utf8Str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.ascii(String(n)); this.byte(CH_COLON);
    this.reserve(n); this.len += this.buf.write(s, this.len, 'utf8');
  }
}

function checkKey(k: string): void {
  for (let i = 0; i < k.length; i++) {
    if (k.charCodeAt(i) > 0xff) {
      throw new BencodeError('BAD_KEY', `dict key ${JSON.stringify(k)} has a char above 0xFF; keys are raw bytes as latin1 (use Buffer.from(utf8).toString('latin1'))`);
    }
  }
}

function encodeInto(w: Writer, v: Encodable, depth: number, maxDepth: number): void {
  if (typeof v === 'bigint') { w.byte(CH_I); w.ascii(v.toString()); w.byte(CH_E); return; }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new BencodeError('BAD_INTEGER', `cannot encode number ${v}: only safe integers (use bigint)`);
    w.byte(CH_I); w.ascii(String(v === 0 ? 0 : v)); w.byte(CH_E); return; // -0 → 0
  }
  if (typeof v === 'string') { w.utf8Str(v); return; }
  if (v instanceof Uint8Array) { w.ascii(String(v.length)); w.byte(CH_COLON); w.bytes(v); return; }
  if (v === null || typeof v !== 'object') throw new BencodeError('BAD_VALUE', `cannot encode ${v === null ? 'null' : typeof v}`);
  if (depth >= maxDepth) throw new BencodeError('TOO_DEEP', `nesting deeper than maxDepth ${maxDepth} (or a cycle)`);
  if (Array.isArray(v)) {
    w.byte(CH_L);
    for (const x of v as readonly Encodable[]) encodeInto(w, x, depth + 1, maxDepth);
    w.byte(CH_E);
    return;
  }
  let entries: [string, Encodable][];
  if (v instanceof Map) {
    entries = [...(v as ReadonlyMap<string, Encodable>).entries()];
  } else {
    if (ArrayBuffer.isView(v)) throw new BencodeError('BAD_VALUE', 'cannot encode a typed array other than Uint8Array');
    entries = [];
    for (const [k, x] of Object.entries(v as { readonly [key: string]: Encodable | undefined })) {
      if (x !== undefined) entries.push([k, x]); // undefined = absent optional field
    }
  }
  for (const [k] of entries) {
    if (typeof k !== 'string') throw new BencodeError('BAD_KEY', 'dict keys must be strings');
    checkKey(k);
  }
  // Canonical order: raw bytes ascending. Keys are latin1 (all code units ≤ 0xFF), so
  // JS code-unit order is raw byte order.
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  w.byte(CH_D);
  for (const [k, x] of entries) {
    w.latin1Str(k);
    encodeInto(w, x, depth + 1, maxDepth);
  }
  w.byte(CH_E);
}

/** Canonical bencoding (dict keys sorted by raw bytes). Throws BencodeError on unencodable input. */
export function encode(v: Encodable, opts?: EncodeOptions): Buffer {
  const w = new Writer(256);
  encodeInto(w, v, 0, opts?.maxDepth ?? DEFAULT_MAX_DEPTH);
  return w.buf.subarray(0, w.len);
}

// ---------------------------------------------------------------------------------------
// Typed accessors: each returns the typed value or throws BencodeError (MISSING_KEY,
// WRONG_TYPE, OUT_OF_RANGE, BAD_UTF8). The opt* forms return undefined when absent.

export function isDict(v: BValue | undefined): v is BDict { return v instanceof Map; }
export function isList(v: BValue | undefined): v is BValue[] { return Array.isArray(v); }
export function isBytes(v: BValue | undefined): v is Uint8Array { return v instanceof Uint8Array; }
export function isInt(v: BValue | undefined): v is bigint { return typeof v === 'bigint'; }

function typeName(v: BValue): string {
  return typeof v === 'bigint' ? 'integer' : v instanceof Uint8Array ? 'byte string' : Array.isArray(v) ? 'list' : 'dict';
}

function need<T extends BValue>(d: BDict, key: string, guard: (v: BValue) => v is T, what: string): T {
  const v = d.get(key);
  if (v === undefined) throw new BencodeError('MISSING_KEY', `missing key ${JSON.stringify(key)}`);
  if (!guard(v)) throw new BencodeError('WRONG_TYPE', `key ${JSON.stringify(key)}: expected ${what}, got ${typeName(v)}`);
  return v;
}
function opt<T extends BValue>(d: BDict, key: string, guard: (v: BValue) => v is T, what: string): T | undefined {
  return d.has(key) ? need(d, key, guard, what) : undefined;
}

export const getInt = (d: BDict, key: string): bigint => need(d, key, isInt, 'integer');
export const getBytes = (d: BDict, key: string): Uint8Array => need(d, key, isBytes, 'byte string');
export const getDict = (d: BDict, key: string): BDict => need(d, key, isDict, 'dict');
export const getList = (d: BDict, key: string): BValue[] => need(d, key, isList, 'list');
export const optInt = (d: BDict, key: string): bigint | undefined => opt(d, key, isInt, 'integer');
export const optBytes = (d: BDict, key: string): Uint8Array | undefined => opt(d, key, isBytes, 'byte string');

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** Decode a byte string as UTF-8 (fatal on invalid sequences). */
function bytesToString(b: Uint8Array, what = 'byte string'): string {
  try {
    return utf8Fatal.decode(b);
  } catch {
    throw new BencodeError('BAD_UTF8', `${what} is not valid UTF-8`);
  }
}
export const getString = (d: BDict, key: string): string => bytesToString(getBytes(d, key), `key ${JSON.stringify(key)}`);

/** An integer narrowed to a JS number within [min, max] (defaults: the safe-integer range). */
function toSafeInt(v: bigint, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER, what = 'integer'): number {
  if (v < BigInt(min) || v > BigInt(max)) throw new BencodeError('OUT_OF_RANGE', `${what} ${v} outside [${min}, ${max}]`);
  return Number(v);
}
export const getSafeInt = (d: BDict, key: string, min?: number, max?: number): number =>
  toSafeInt(getInt(d, key), min, max, `key ${JSON.stringify(key)}`);

/** Convert a UTF-8 text key to the latin1 (raw byte) form used by BDict, for non-ASCII keys. */
export function keyFromUtf8(s: string): string { return Buffer.from(s, 'utf8').toString('latin1'); }
