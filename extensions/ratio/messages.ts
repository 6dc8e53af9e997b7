/**
 * Codec of the `seedpay_credit` extension (docs/PROTOCOL.md, "Ratio credits"): each
 * payload is one bencoded dictionary whose `type` names the message.
 *
 *   {type: "id_init",  pk: <32 bytes>}                  each end, once: its fresh key for this connection
 *   {type: "id_proof", wallet: <32 bytes>, sig: <64>}   an end that wants credit: its wallet key, and
 *                                                       ed25519(wallet, payment/credit-identity.ts message)
 *
 * Hostile input: at most MAX_CREDIT_MESSAGE_BYTES, strict canonical bencode, shallow,
 * exact lengths; every failure is a RatioError. Unknown `type` values and unknown keys
 * are ignored (a later version may add messages, e.g. balance statements).
 */
import { BencodeError, decode, encode, isBytes, isDict, type BDict } from '../../wire/bencode.js';

/** The BEP 10 extension name. */
export const CREDIT_EXTENSION = 'seedpay_credit';

/** A real message is under 150 bytes. */
export const MAX_CREDIT_MESSAGE_BYTES = 512;
const DECODE_OPTS = { maxBytes: MAX_CREDIT_MESSAGE_BYTES, maxDepth: 2, maxItems: 32, strict: true, maxIntegerDigits: 24 } as const;
const KEY_BYTES = 32;
const SIG_BYTES = 64;
const MAX_TYPE_BYTES = 32;

export type RatioErrorCode = 'TOO_LARGE' | 'NOT_BENCODE' | 'NOT_A_DICT' | 'BAD_TYPE' | 'MISSING_KEY' | 'WRONG_TYPE' | 'BAD_LENGTH'
  /** A known message in the wrong state (a second id_init, a proof before both keys are known). */
  | 'UNEXPECTED_MESSAGE';

/** The peer broke the credit extension on one connection: that connection binds no identity. Nothing else. */
export class RatioError extends Error {
  override readonly name = 'RatioError';
  constructor(readonly code: RatioErrorCode, message: string) {
    super(message);
  }
}

export interface IdInit { readonly type: 'id_init'; readonly pk: Uint8Array }
export interface IdProof { readonly type: 'id_proof'; readonly wallet: Uint8Array; readonly sig: Uint8Array }
export type CreditMessage = IdInit | IdProof;
export type DecodedCreditMessage = CreditMessage | { readonly type: 'unknown'; readonly name: string };

function bytesField(d: BDict, key: string, len: number, what: string): Uint8Array {
  const v = d.get(key);
  if (v === undefined) throw new RatioError('MISSING_KEY', `${what}: missing ${key}`);
  if (!isBytes(v)) throw new RatioError('WRONG_TYPE', `${what}: ${key} must be a byte string`);
  if (v.length !== len) throw new RatioError('BAD_LENGTH', `${what}: ${key} must be ${len} bytes, got ${v.length}`);
  return v.slice(); // the payload is a view of the received frame
}

/** Decode one payload; RatioError on anything malformed. */
export function decodeCreditMessage(payload: Uint8Array): DecodedCreditMessage {
  if (payload.length > MAX_CREDIT_MESSAGE_BYTES) throw new RatioError('TOO_LARGE', `message of ${payload.length} bytes (max ${MAX_CREDIT_MESSAGE_BYTES})`);
  let v;
  try {
    v = decode(payload, DECODE_OPTS);
  } catch (e) {
    throw new RatioError('NOT_BENCODE', `not valid bencode (${e instanceof BencodeError ? e.code : 'error'})`);
  }
  if (!isDict(v)) throw new RatioError('NOT_A_DICT', 'message is not a dictionary');
  const t = v.get('type');
  if (t === undefined || !isBytes(t) || t.length === 0 || t.length > MAX_TYPE_BYTES) throw new RatioError('BAD_TYPE', 'type must be a short byte string');
  let type: string;
  try {
    type = new TextDecoder('utf-8', { fatal: true }).decode(t);
  } catch {
    throw new RatioError('BAD_TYPE', 'type is not UTF-8');
  }
  switch (type) {
    case 'id_init': return { type, pk: bytesField(v, 'pk', KEY_BYTES, type) };
    case 'id_proof': return { type, wallet: bytesField(v, 'wallet', KEY_BYTES, type), sig: bytesField(v, 'sig', SIG_BYTES, type) };
    default: return { type: 'unknown', name: type };
  }
}

function exact(b: Uint8Array, len: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== len) throw new RangeError(`${what} must be ${len} bytes`);
  return b;
}

/** Encode one message (canonical bencoding); refuses what the decoder would refuse. */
export function encodeCreditMessage(m: CreditMessage): Uint8Array {
  if (m.type === 'id_init') return new Uint8Array(encode({ type: m.type, pk: exact(m.pk, KEY_BYTES, 'pk') }));
  return new Uint8Array(encode({ type: m.type, wallet: exact(m.wallet, KEY_BYTES, 'wallet'), sig: exact(m.sig, SIG_BYTES, 'sig') }));
}
