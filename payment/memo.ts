/**
 * The SeedPay payment memo (SEEDPAY.md §4.2): the UTF-8 JSON carried by exactly one
 * SPL Memo instruction of a payment transaction,
 *   {"protocol":"seedpay","version":"1.0","session_hash":"<64 hex>","nonce":<unix ms>}
 * It names the session and nothing else (no peer id, no IP). The builder emits that
 * exact byte layout; the parser is strict and bounded because the memo is chosen by the
 * buyer and read by the seller from the chain: hostile input.
 */

const MEMO_PROTOCOL = 'seedpay';
const MEMO_VERSION = '1.0';

/** Longest memo text the parser looks at; a real SeedPay memo is ~130 bytes. */
export const MAX_MEMO_BYTES = 512;

const HASH_RE = /^[0-9a-f]{64}$/;

export interface SeedPayMemo {
  protocol: 'seedpay';
  version: '1.0';
  sessionHash: string;
  /** Unix time in ms when the buyer built the payment. */
  nonce: number;
}

/** Why a memo is not a usable SeedPay v1.0 memo. */
export type MemoRejectReason =
  | 'too_long' // over MAX_MEMO_BYTES
  | 'not_utf8' // bytes are not valid UTF-8
  | 'not_json' // not a JSON object
  | 'not_seedpay' // a JSON object without protocol "seedpay": some other app's memo
  | 'bad_version' // protocol "seedpay" but a version this code does not know
  | 'bad_hash' // session_hash missing or not 64 lowercase hex
  | 'bad_nonce' // nonce missing or not a non-negative safe integer
  | 'unknown_key'; // a key v1.0 does not define

export type MemoParseResult =
  | { ok: true; memo: SeedPayMemo; canonical: boolean }
  | { ok: false; reason: MemoRejectReason };

/** Typed error for building a memo from bad arguments (our own misuse, not peer input). */
export class MemoError extends Error {
  readonly code: 'BAD_SESSION_HASH' | 'BAD_NONCE';
  constructor(code: 'BAD_SESSION_HASH' | 'BAD_NONCE', message: string) {
    super(message);
    this.name = 'MemoError';
    this.code = code;
  }
}

/** The memo JSON text, byte for byte in the draft's key order. */
export function buildMemo(sessionHash: string, nonceMs: number): string {
  if (typeof sessionHash !== 'string' || !HASH_RE.test(sessionHash)) {
    throw new MemoError('BAD_SESSION_HASH', 'session hash must be 64 lowercase hex characters');
  }
  if (!Number.isSafeInteger(nonceMs) || nonceMs < 0) {
    throw new MemoError('BAD_NONCE', `nonce must be a non-negative safe integer (unix ms), got ${nonceMs}`);
  }
  return `{"protocol":"${MEMO_PROTOCOL}","version":"${MEMO_VERSION}","session_hash":"${sessionHash}","nonce":${nonceMs}}`;
}

/** The memo as the UTF-8 bytes of the SPL Memo instruction data. */
export function buildMemoBytes(sessionHash: string, nonceMs: number): Uint8Array {
  return new TextEncoder().encode(buildMemo(sessionHash, nonceMs));
}

const KNOWN_KEYS = new Set(['protocol', 'version', 'session_hash', 'nonce']);

/**
 * Parse a memo (text, or the raw instruction bytes). `not_seedpay` means "someone else's
 * memo" (the verifier may skip it when counting SeedPay memos); every other failure is
 * a SeedPay memo that cannot be accepted.
 */
export function parseMemo(input: string | Uint8Array): MemoParseResult {
  let text: string;
  if (typeof input === 'string') {
    // Length check before anything else; UTF-16 length <= UTF-8 byte length.
    if (input.length > MAX_MEMO_BYTES || Buffer.byteLength(input, 'utf8') > MAX_MEMO_BYTES) return { ok: false, reason: 'too_long' };
    text = input;
  } else {
    if (input.length > MAX_MEMO_BYTES) return { ok: false, reason: 'too_long' };
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      return { ok: false, reason: 'not_utf8' };
    }
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'not_json' };
  const o = v as Record<string, unknown>;
  if (o.protocol !== MEMO_PROTOCOL) return { ok: false, reason: 'not_seedpay' };
  if (o.version !== MEMO_VERSION) return { ok: false, reason: 'bad_version' };
  if (typeof o.session_hash !== 'string' || !HASH_RE.test(o.session_hash)) return { ok: false, reason: 'bad_hash' };
  if (typeof o.nonce !== 'number' || !Number.isSafeInteger(o.nonce) || o.nonce < 0) return { ok: false, reason: 'bad_nonce' };
  for (const k of Object.keys(o)) if (!KNOWN_KEYS.has(k)) return { ok: false, reason: 'unknown_key' };
  const memo: SeedPayMemo = { protocol: MEMO_PROTOCOL, version: MEMO_VERSION, sessionHash: o.session_hash, nonce: o.nonce };
  // JSON.parse tolerates whitespace, another key order and duplicate keys (last wins);
  // `canonical` tells whether the text is exactly what buildMemo emits.
  return { ok: true, memo, canonical: text === buildMemo(memo.sessionHash, memo.nonce) };
}
