/**
 * Codec of the `seedpay_credit` extension (docs/PROTOCOL.md, "Ratio credits"): each
 * payload is one bencoded dictionary whose `type` names the message.
 *
 *   {type: "id_init",  pk: <32 bytes>}                  each end, once: its fresh key for this connection
 *   {type: "id_proof", wallet: <32 bytes>, sig: <64>}   an end that wants credit: its wallet key, and
 *                                                       ed25519(wallet, payment/credit-identity.ts message)
 *   {type: "credit_statement", issuer: <32>, identity: <32>, total: <u64>, time: <u64 ms>, sig: <64>}
 *       one hop (payment/credit-statement.ts): an issuer hands an uploader its statement,
 *       and the uploader presents it to other nodes
 *
 * Hostile input: at most MAX_CREDIT_MESSAGE_BYTES, strict canonical bencode, shallow,
 * exact lengths; every failure is a RatioError. Unknown `type` values and unknown keys
 * are ignored (a later version may add messages).
 */
import { BencodeError, decode, encode, isBytes, isDict, isInt, type BDict } from '../../wire/bencode.js';

/** The BEP 10 extension name. */
export const CREDIT_EXTENSION = 'seedpay_credit';

/** A real message is under 150 bytes. */
export const MAX_CREDIT_MESSAGE_BYTES = 512;
const DECODE_OPTS = { maxBytes: MAX_CREDIT_MESSAGE_BYTES, maxDepth: 2, maxItems: 32, strict: true, maxIntegerDigits: 24 } as const;
const KEY_BYTES = 32;
const SIG_BYTES = 64;
const MAX_TYPE_BYTES = 32;

export type RatioErrorCode = 'TOO_LARGE' | 'NOT_BENCODE' | 'NOT_A_DICT' | 'BAD_TYPE' | 'MISSING_KEY' | 'WRONG_TYPE' | 'BAD_LENGTH' | 'OUT_OF_RANGE'
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
/** One hop: `issuer` signed that `identity` delivered `total` verified bytes to it, in all, as of `time` (unix ms). */
export interface CreditStatement {
  readonly type: 'credit_statement';
  readonly issuer: Uint8Array;
  readonly identity: Uint8Array;
  readonly total: bigint;
  readonly time: number;
  readonly sig: Uint8Array;
}
export type CreditMessage = IdInit | IdProof | CreditStatement;
export type DecodedCreditMessage = CreditMessage | { readonly type: 'unknown'; readonly name: string };

function bytesField(d: BDict, key: string, len: number, what: string): Uint8Array {
  const v = d.get(key);
  if (v === undefined) throw new RatioError('MISSING_KEY', `${what}: missing ${key}`);
  if (!isBytes(v)) throw new RatioError('WRONG_TYPE', `${what}: ${key} must be a byte string`);
  if (v.length !== len) throw new RatioError('BAD_LENGTH', `${what}: ${key} must be ${len} bytes, got ${v.length}`);
  return v.slice(); // the payload is a view of the received frame
}

const U64_MAX = (1n << 64n) - 1n;

function intField(d: BDict, key: string, max: bigint, what: string): bigint {
  const v = d.get(key);
  if (v === undefined) throw new RatioError('MISSING_KEY', `${what}: missing ${key}`);
  if (!isInt(v)) throw new RatioError('WRONG_TYPE', `${what}: ${key} must be an integer`);
  if (v < 0n || v > max) throw new RatioError('OUT_OF_RANGE', `${what}: ${key} out of range`);
  return v;
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
    case 'credit_statement': {
      const time = intField(v, 'time', BigInt(Number.MAX_SAFE_INTEGER), type);
      return {
        type, issuer: bytesField(v, 'issuer', KEY_BYTES, type), identity: bytesField(v, 'identity', KEY_BYTES, type),
        total: intField(v, 'total', U64_MAX, type), time: Number(time), sig: bytesField(v, 'sig', SIG_BYTES, type),
      };
    }
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
  if (m.type === 'credit_statement') {
    if (m.total < 0n || m.total > U64_MAX || !Number.isSafeInteger(m.time) || m.time < 0) throw new RangeError('total or time out of range');
    return new Uint8Array(encode({
      type: m.type, issuer: exact(m.issuer, KEY_BYTES, 'issuer'), identity: exact(m.identity, KEY_BYTES, 'identity'),
      total: m.total, time: BigInt(m.time), sig: exact(m.sig, SIG_BYTES, 'sig'),
    }));
  }
  return new Uint8Array(encode({ type: m.type, wallet: exact(m.wallet, KEY_BYTES, 'wallet'), sig: exact(m.sig, SIG_BYTES, 'sig') }));
}
