/**
 * The seller's terms: the `seedpay` dictionary of its BEP 10 extended handshake
 * (SEEDPAY.md §2), its strict validation, and its canonical bencoding — the bytes whose
 * SHA-256 goes into the session transcript the seller signs (§3).
 *
 * Signed bytes: the canonical bencoding (keys sorted) of the terms dictionary exactly as
 * the seller sent it, INCLUDING keys this version does not know. A buyer must hash what
 * it received (`parseTerms(...).bencoded`), not a re-encoding of the fields it
 * understood; otherwise a future seller adding a key would fail every signature check,
 * and a man in the middle could add keys that no signature covers.
 */
import { decode, encode, isBytes, isDict, isInt, isList, type BDict, type BValue, type Encodable } from '../wire/bencode.js';
import { U64_MAX } from './amount.js';
import bs58 from 'bs58';
import { decodePublicKey58, sha256 } from './session.js';

export interface Terms {
  v: 1;
  chain: 'solana';
  /** Genesis hash (base58) of the cluster payments settle on. */
  cluster: string;
  /** Token mint (base58). */
  mint: string;
  /** Seller's wallet (base58 ed25519 public key). */
  wallet: string;
  /** Base units per MiB of piece data. */
  price: bigint;
  /** Smallest payment the seller credits, base units. */
  minPrepay: bigint;
  /** Settlement modes offered; "prepaid" in version 1. */
  modes: string[];
  /**
   * Extension (docs/PROTOCOL.md §4, session resume): the seller accepts
   * `session_resume`, so a buyer cut off mid-transfer keeps its unspent balance and its
   * in-flight payments in its next session. Wire key `resume` = 1; absent = false.
   */
  resume?: boolean;
  /**
   * Extension (docs/PROTOCOL.md §3, message authentication): the seller authenticates
   * every SeedPay message after the binding with a per-direction MAC when the buyer's
   * ecdh_init asks for it (payment/seedpay-mac.ts). Wire key `mac` = 1; absent = false.
   */
  mac?: boolean;
  /**
   * Extension (docs/PROTOCOL.md §10, ratio credits): the seller accepts credit a buyer's
   * identity earned at this node by uploading to it, serving `served` piece bytes per
   * `credit` bytes of credit. Wire key `ratio` = [served, credit]; `ratio_cap` = `cap`
   * (the most credit an identity holds here), `ratio_ttl` = `ttl` (seconds: the credit
   * of an identity that earned nothing here for that long expires). Absent: no credit.
   */
  ratio?: RatioTerms;
  /**
   * Payment channels (docs/PROTOCOL.md, "Payment channels"): the escrow program id
   * (base58 here; 32 raw bytes on the wire, key `channel`). Required, and only then
   * meaningful, when `modes` lists "channel".
   */
  channel?: string;
}

/** The mode name of payment channels in `modes`. */
export const CHANNEL_MODE = 'channel';

export interface RatioTerms {
  /** Piece bytes served per `credit` bytes of credit (both ≥ 1). */
  served: bigint;
  credit: bigint;
  cap?: bigint;
  ttl?: bigint;
}

const MAX_MODES = 16;
const MAX_MODE_LENGTH = 32;

export type TermsErrorCode =
  | 'NOT_A_DICT'
  | 'BAD_BENCODE' // decodeTerms: the bytes are not one strict bencoded value
  | 'MISSING_KEY'
  | 'WRONG_TYPE'
  | 'UNSUPPORTED_VERSION'
  | 'UNSUPPORTED_CHAIN'
  | 'BAD_KEY' // cluster / mint / wallet not a canonical base58 32-byte value
  | 'OUT_OF_RANGE' // price / min_prepay negative or above u64
  | 'BAD_MODES'
  | 'BAD_CHANNEL'; // mode "channel" without a 32-byte `channel` program id, or a `channel` key that is not one

/** Terms a buyer cannot use: the peer is treated as not selling (the paid session ends). */
export class TermsError extends Error {
  readonly code: TermsErrorCode;
  constructor(code: TermsErrorCode, message: string) {
    super(message);
    this.name = 'TermsError';
    this.code = code;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(d: BDict, key: string): string {
  const v = d.get(key);
  if (v === undefined) throw new TermsError('MISSING_KEY', `terms: missing ${key}`);
  if (!isBytes(v)) throw new TermsError('WRONG_TYPE', `terms: ${key} must be a string`);
  try {
    return utf8.decode(v);
  } catch {
    throw new TermsError('WRONG_TYPE', `terms: ${key} is not UTF-8`);
  }
}

function u64(d: BDict, key: string): bigint {
  const v = d.get(key);
  if (v === undefined) throw new TermsError('MISSING_KEY', `terms: missing ${key}`);
  if (!isInt(v)) throw new TermsError('WRONG_TYPE', `terms: ${key} must be an integer`);
  if (v < 0n || v > U64_MAX) throw new TermsError('OUT_OF_RANGE', `terms: ${key} ${v} outside u64`);
  return v;
}

function key58(value: string, what: string): void {
  try {
    decodePublicKey58(value);
  } catch {
    throw new TermsError('BAD_KEY', `terms: ${what} is not a base58 32-byte key`);
  }
}

/** Validate terms built in code (or parsed); returns them unchanged or throws TermsError. */
export function validateTerms(t: Terms): Terms {
  if (t.v !== 1) throw new TermsError('UNSUPPORTED_VERSION', `terms: version ${String(t.v)} not supported`);
  if (t.chain !== 'solana') throw new TermsError('UNSUPPORTED_CHAIN', `terms: chain ${String(t.chain)} not supported`);
  key58(t.cluster, 'cluster');
  key58(t.mint, 'mint');
  key58(t.wallet, 'wallet');
  for (const [k, v] of [['price', t.price], ['min_prepay', t.minPrepay]] as const) {
    if (typeof v !== 'bigint') throw new TermsError('WRONG_TYPE', `terms: ${k} must be a bigint`);
    if (v < 0n || v > U64_MAX) throw new TermsError('OUT_OF_RANGE', `terms: ${k} ${v} outside u64`);
  }
  if (!Array.isArray(t.modes) || t.modes.length === 0 || t.modes.length > MAX_MODES) {
    throw new TermsError('BAD_MODES', `terms: modes must list 1..${MAX_MODES} modes`);
  }
  for (const m of t.modes) {
    if (typeof m !== 'string' || m.length === 0 || Buffer.byteLength(m, 'utf8') > MAX_MODE_LENGTH) {
      throw new TermsError('BAD_MODES', 'terms: a mode is empty, too long or not a string');
    }
  }
  if (t.modes.includes(CHANNEL_MODE) && t.channel === undefined) {
    throw new TermsError('BAD_CHANNEL', 'terms: mode channel without a channel program id');
  }
  if (t.channel !== undefined) {
    try {
      decodePublicKey58(t.channel);
    } catch {
      throw new TermsError('BAD_CHANNEL', 'terms: channel is not a base58 32-byte program id');
    }
  }
  if (t.ratio !== undefined) {
    const r = t.ratio;
    for (const [k, v] of [['ratio served', r.served], ['ratio credit', r.credit], ['ratio_cap', r.cap ?? 1n], ['ratio_ttl', r.ttl ?? 1n]] as const) {
      if (typeof v !== 'bigint') throw new TermsError('WRONG_TYPE', `terms: ${k} must be a bigint`);
      if (v < 1n || v > U64_MAX) throw new TermsError('OUT_OF_RANGE', `terms: ${k} ${v} outside 1..u64`);
    }
  }
  return t;
}

/** The wire dictionary of validated terms (encode with wire/bencode.ts `encode`). */
export function termsToWire(t: Terms): { [key: string]: Encodable } {
  validateTerms(t);
  return {
    v: 1n,
    chain: t.chain,
    cluster: t.cluster,
    mint: t.mint,
    wallet: t.wallet,
    price: t.price,
    min_prepay: t.minPrepay,
    modes: [...t.modes],
    ...(t.resume === true ? { resume: 1n } : {}),
    ...(t.mac === true ? { mac: 1n } : {}),
    ...(t.ratio !== undefined ? {
      ratio: [t.ratio.served, t.ratio.credit],
      ...(t.ratio.cap !== undefined ? { ratio_cap: t.ratio.cap } : {}),
      ...(t.ratio.ttl !== undefined ? { ratio_ttl: t.ratio.ttl } : {}),
    } : {}),
    ...(t.channel !== undefined ? { channel: decodePublicKey58(t.channel) } : {}),
  };
}

/** Canonical bencoding of our own terms: what a seller puts in its handshake and signs. */
export function encodeTerms(t: Terms): Uint8Array {
  return new Uint8Array(encode(termsToWire(t)));
}

/** SHA-256 of the canonical bencoding, the last 32 bytes of the transcript. */
export function termsDigest(t: Terms): Uint8Array {
  return sha256(encodeTerms(t));
}

export interface ParsedTerms {
  terms: Terms;
  /** Canonical bencoding of the whole received dict, unknown keys included: the signed bytes. */
  bencoded: Uint8Array;
}

/**
 * Strictly parse the `seedpay` value of a peer's extended handshake (a decoded bencode
 * dict). Unknown keys are ignored for meaning but kept in `bencoded`.
 */
export function parseTerms(value: BValue | undefined): ParsedTerms {
  if (value === undefined || !isDict(value)) throw new TermsError('NOT_A_DICT', 'terms: not a dictionary');
  const v = value.get('v');
  if (v === undefined) throw new TermsError('MISSING_KEY', 'terms: missing v');
  if (!isInt(v)) throw new TermsError('WRONG_TYPE', 'terms: v must be an integer');
  if (v !== 1n) throw new TermsError('UNSUPPORTED_VERSION', `terms: version ${v} not supported`);
  const chain = text(value, 'chain');
  if (chain !== 'solana') throw new TermsError('UNSUPPORTED_CHAIN', `terms: chain ${JSON.stringify(chain.slice(0, 40))} not supported`);
  const modesV = value.get('modes');
  if (modesV === undefined) throw new TermsError('MISSING_KEY', 'terms: missing modes');
  if (!isList(modesV)) throw new TermsError('WRONG_TYPE', 'terms: modes must be a list');
  if (modesV.length === 0 || modesV.length > MAX_MODES) throw new TermsError('BAD_MODES', `terms: modes must list 1..${MAX_MODES} modes`);
  const modes = modesV.map((m) => {
    if (!isBytes(m) || m.length === 0 || m.length > MAX_MODE_LENGTH) throw new TermsError('BAD_MODES', 'terms: a mode is not a short string');
    try {
      return utf8.decode(m);
    } catch {
      throw new TermsError('BAD_MODES', 'terms: a mode is not UTF-8');
    }
  });
  const terms: Terms = {
    v: 1,
    chain: 'solana',
    cluster: text(value, 'cluster'),
    mint: text(value, 'mint'),
    wallet: text(value, 'wallet'),
    price: u64(value, 'price'),
    minPrepay: u64(value, 'min_prepay'),
    modes,
  };
  // An extension key: any value but 1 means "not offered" (never an error).
  const resume = value.get('resume');
  if (resume !== undefined && isInt(resume) && resume === 1n) terms.resume = true;
  const mac = value.get('mac');
  if (mac !== undefined && isInt(mac) && mac === 1n) terms.mac = true;
  const ratio = ratioOf(value);
  if (ratio !== null) terms.ratio = ratio;
  // Payment channels: the program id is money-critical (vouchers name it), so a
  // `channel` key that is not exactly 32 raw bytes is an error whether or not the mode
  // is listed, and the mode without it is too (validateTerms). Signed like every key.
  const channel = value.get('channel');
  if (channel !== undefined) {
    if (!isBytes(channel) || channel.length !== 32) throw new TermsError('BAD_CHANNEL', 'terms: channel must be 32 raw bytes');
    terms.channel = bs58.encode(channel);
  }
  validateTerms(terms);
  let bencoded: Uint8Array;
  try {
    bencoded = new Uint8Array(encode(value));
  } catch {
    throw new TermsError('NOT_A_DICT', 'terms: dictionary cannot be re-encoded');
  }
  return { terms, bencoded };
}

/**
 * The ratio keys, an extension: anything malformed (not two integers in 1..u64, a cap or
 * lifetime out of range) means "credit not offered", never an error — the seller is
 * still a seller, and a buyer pays it as one.
 */
function ratioOf(d: BDict): RatioTerms | null {
  const v = d.get('ratio');
  if (v === undefined || !isList(v) || v.length !== 2) return null;
  const [served, credit] = v;
  const ok = (x: BValue | undefined): x is bigint => x !== undefined && isInt(x) && x >= 1n && x <= U64_MAX;
  if (!ok(served) || !ok(credit)) return null;
  const r: RatioTerms = { served, credit };
  const cap = d.get('ratio_cap');
  if (cap !== undefined) { if (!ok(cap)) return null; r.cap = cap; }
  const ttl = d.get('ratio_ttl');
  if (ttl !== undefined) { if (!ok(ttl)) return null; r.ttl = ttl; }
  return r;
}

/** Largest bencoded terms dict decodeTerms accepts (real terms are ~250 bytes). */
const MAX_TERMS_BYTES = 4096;

/** Parse terms from their bencoded bytes (strict bencode, bounded). */
export function decodeTerms(bytes: Uint8Array): ParsedTerms {
  let value: BValue;
  try {
    value = decode(bytes, { maxBytes: MAX_TERMS_BYTES, maxDepth: 4, maxItems: 256 });
  } catch {
    throw new TermsError('BAD_BENCODE', 'terms: not one strict bencoded value');
  }
  return parseTerms(value);
}

/** Same terms? (compares every field; bigint-safe). */
export function termsEqual(a: Terms, b: Terms): boolean {
  return a.v === b.v && a.chain === b.chain && a.cluster === b.cluster && a.mint === b.mint && a.wallet === b.wallet &&
    a.price === b.price && a.minPrepay === b.minPrepay && (a.resume === true) === (b.resume === true) && (a.mac === true) === (b.mac === true) && a.channel === b.channel && ratioEqual(a.ratio, b.ratio) && a.modes.length === b.modes.length && a.modes.every((m, i) => m === b.modes[i]);
}

function ratioEqual(a: RatioTerms | undefined, b: RatioTerms | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.served === b.served && a.credit === b.credit && a.cap === b.cap && a.ttl === b.ttl;
}
