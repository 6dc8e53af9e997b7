/**
 * Codec for the SeedPay messages of SEEDPAY.md §8: each payload of a BEP 10
 * `seedpay` extended message is ONE bencoded dictionary whose `type` (a byte
 * string) names the message. Binary values (keys, signatures) are raw byte
 * strings; amounts are integers in token base units (bigint here, u64 on the wire).
 *
 * Hostile input: decoding is bounded (MAX_MESSAGE_BYTES, shallow nesting, few
 * items), strict (canonical key order, no duplicates, exact lengths), and every
 * failure is a SeedPayError with a code — it ends the paid session, nothing else.
 *
 * Decisions where the spec is silent (they protect money or bound work):
 *  - unknown keys inside a known message are ignored (forward compatibility, as for
 *    the terms); unknown `type` values decode to {type: 'unknown'} and are ignored by
 *    the state machines; the names version 1 reserved for the `channel` mode (§9) are
 *    now the payment-channel messages (docs/PROTOCOL.md, "Payment channels"): a
 *    channel address is 32 raw bytes, a voucher signature 64, amounts u64;
 *  - `balance` (payment_confirmed, payment_required) is credited − charged, which the
 *    seller's meter keeps ≥ 0 by construction (it never serves beyond credit), so a
 *    negative balance is malformed: all integers are u64;
 *  - `tx` must be the canonical base58 spelling of exactly 64 bytes (an ed25519
 *    transaction signature), at most 88 characters;
 *  - `reason` is kept as a string when it is not one of the §4 reasons (a newer
 *    seller may add some), but bounded to MAX_REASON_BYTES of UTF-8.
 *
 * Message authentication (docs/PROTOCOL.md §3; terms key `mac`): in a session that
 * uses it every message after the binding carries `mac`, a 16-byte tag
 * (payment/seedpay-mac.ts) over the canonical bencoding of the dictionary without
 * `mac`. The codec only carries the tag (`mac` on the decoded message when it is a
 * 16-byte string, omitted otherwise: a tag of another shape is simply no tag); the
 * state machines check it (`macBody` gives the bytes it covers). The buyer's
 * ecdh_init asks for it with `mac` = 1 (`wantMac`).
 */
import bs58 from 'bs58';
import {
  BencodeError, decode, encode, isBytes, isDict, isInt, type BDict, type Encodable,
} from '../../wire/bencode.js';
import { U64_MAX } from '../../payment/amount.js';
import { computeMac, MAC_TAG_BYTES, verifyMac } from '../../payment/seedpay-mac.js';
import type { RejectReason } from '../../payment/verify-rules.js';
import { SeedPayError, localError } from './errors.js';

/** The BEP 10 extension name (the key in `m` and in the extended handshake). */
export const EXTENSION_NAME = 'seedpay';

/** Largest payload decoded. A real SeedPay message is < 200 bytes; room for newer, bigger ones. */
export const MAX_MESSAGE_BYTES = 4096;
const DECODE_OPTS = { maxBytes: MAX_MESSAGE_BYTES, maxDepth: 4, maxItems: 256, strict: true, maxIntegerDigits: 24 } as const;

const PK_BYTES = 32;
const SIG_BYTES = 64;
/** A session hash on the wire (session_resume and its answers): sha256, 32 raw bytes. */
const HASH_BYTES = 32;
/** base58 of 64 bytes is at most 88 characters. */
const MAX_TX_CHARS = 88;
const MAX_REASON_BYTES = 64;
const MAX_TYPE_BYTES = 64;

/** The rejection reasons of SEEDPAY.md §4. */
export const KNOWN_REASONS: readonly RejectReason[] = [
  'tx_not_found', 'unconfirmed', 'tx_failed', 'wrong_recipient', 'wrong_mint', 'insufficient_amount',
  'session_mismatch', 'expired', 'replayed_tx', 'rpc_unavailable',
];
const KNOWN_REASON_SET: ReadonlySet<string> = new Set(KNOWN_REASONS);

/**
 * The names version 1 reserved for the `channel` settlement mode (§9): the payment
 * channel messages below (docs/PROTOCOL.md, "Payment channels").
 */
export const RESERVED_TYPES: readonly string[] = [
  'channel_opened', 'channel_confirmed', 'channel_rejected', 'payment_check',
  'payment_check_required', 'payment_check_rejected', 'channel_closed',
];
export const CHANNEL_TYPES = RESERVED_TYPES;

export interface EcdhInit {
  readonly type: 'ecdh_init';
  /** Ephemeral x25519 public key, 32 bytes. */
  readonly pk: Uint8Array;
  /** Seller only: ed25519 signature (64 bytes) by the wallet key over the transcript. */
  readonly sig?: Uint8Array;
  /** Buyer only: it authenticates this session's messages if the terms offer `mac` (wire `mac` = 1). */
  readonly wantMac?: boolean;
}
/** The tag of a message sent after the binding in a session that authenticates its messages. */
interface Tagged {
  /** 16 bytes (payment/seedpay-mac.ts); absent in sessions without message authentication. */
  readonly mac?: Uint8Array;
}
export interface PaymentProofMsg extends Tagged {
  readonly type: 'payment_proof';
  /** base58 transaction signature. */
  readonly tx: string;
  /** Base units the buyer says it paid (informational: the seller credits the on-chain gain). */
  readonly amount: bigint;
}
export interface PaymentConfirmed extends Tagged {
  readonly type: 'payment_confirmed';
  readonly tx: string;
  /** Base units credited for this transaction (the on-chain gain). */
  readonly credited: bigint;
  /** credited − charged over the whole session, after this credit. */
  readonly balance: bigint;
}
export interface PaymentRejected extends Tagged {
  readonly type: 'payment_rejected';
  readonly tx: string;
  /** One of KNOWN_REASONS, or a bounded string a newer seller sent. */
  readonly reason: RejectReason | (string & {});
}
export interface PaymentRequired extends Tagged {
  readonly type: 'payment_required';
  readonly balance: bigint;
  /** The smallest payment the seller asks for (base units). */
  readonly required: bigint;
}
/**
 * Extension (docs/PROTOCOL.md §4, session resume; only to a seller whose terms carry
 * `resume`): move what the earlier session `prev` left into this one. Signed by the
 * payer wallet of `prev`'s payments (payment/resume.ts).
 */
export interface SessionResume extends Tagged {
  readonly type: 'session_resume';
  /** The earlier session's hash (64 lowercase hex; 32 raw bytes on the wire). */
  readonly prev: string;
  /** The payer wallet's public key, 32 bytes. */
  readonly payer: Uint8Array;
  /** ed25519 by `payer` over payment/resume.ts resumeMessage. */
  readonly sig: Uint8Array;
}
/** Extension: `prev` is resumed; `credited` of its balance moved here; `balance` is this session's now. */
export interface SessionResumed extends Tagged {
  readonly type: 'session_resumed';
  readonly prev: string;
  readonly credited: bigint;
  readonly balance: bigint;
}
/** Extension: `prev` was not resumed (bad_signature, wrong_payer, too_many, unavailable, …). */
export interface ResumeRejected extends Tagged {
  readonly type: 'resume_rejected';
  readonly prev: string;
  readonly reason: string;
}
/**
 * Extension (docs/PROTOCOL.md §10, ratio credits; only from a seller whose terms carry
 * `ratio`, to a buyer whose credit identity is decided on this connection): what this
 * session serves from the buyer's credit before it charges money.
 */
export interface CreditState extends Tagged {
  readonly type: 'credit_state';
  /** Piece bytes this session serves from credit, in all so far (cumulative: never goes down). */
  readonly served: bigint;
  /** Credit bytes the buyer's identity holds at this node beyond what this session set aside (informational). */
  readonly credit: bigint;
}

/**
 * Payment channels (docs/PROTOCOL.md, "Payment channels"; only with a seller whose terms
 * list mode `channel`). Buyer → seller: use this escrow channel in this session. `buyer`
 * is the buyer's wallet key and `sig` its signature over payment/channel/open-proof.ts
 * channelOpenMessage (this torrent, this session, this channel): it binds the wallet to
 * the session, so nobody else can name the buyer's channel and collect its vouchers.
 */
export interface ChannelOpened extends Tagged {
  readonly type: 'channel_opened';
  /** The channel's address, 32 bytes. */
  readonly channel: Uint8Array;
  readonly buyer: Uint8Array;
  readonly sig: Uint8Array;
}
/**
 * Seller → buyer: the channel is good for this session, and (sent again after each
 * voucher it accepted) the latest voucher amount it holds for the channel and this
 * session's balance after it.
 */
export interface ChannelConfirmed extends Tagged {
  readonly type: 'channel_confirmed';
  readonly channel: Uint8Array;
  /** The highest voucher amount (cumulative) the seller accepted for this channel, ever. */
  readonly accepted: bigint;
  /** credited − charged in this session. */
  readonly balance: bigint;
}
/** Seller → buyer: the channel cannot be used (not_found, wrong_buyer, wrong_seller, wrong_mint, wrong_program, expiring, drained, unavailable, …). */
export interface ChannelRejected extends Tagged {
  readonly type: 'channel_rejected';
  readonly channel: Uint8Array;
  readonly reason: string;
}
/** Buyer → seller: a voucher (payment/channel/voucher.ts): everything paid into `channel` so far, signed by its voucher key. */
export interface PaymentCheck extends Tagged {
  readonly type: 'payment_check';
  readonly channel: Uint8Array;
  readonly amount: bigint;
  readonly sig: Uint8Array;
}
/** Seller → buyer: credit runs low. `required`: the cumulative voucher amount the seller asks for (a hint). */
export interface PaymentCheckRequired extends Tagged {
  readonly type: 'payment_check_required';
  readonly channel: Uint8Array;
  readonly accepted: bigint;
  readonly balance: bigint;
  readonly required: bigint;
}
/** Seller → buyer: the voucher of `amount` was not accepted (bad_signature, wrong_channel, not_increasing, above_deposit, …). */
export interface PaymentCheckRejected extends Tagged {
  readonly type: 'payment_check_rejected';
  readonly channel: Uint8Array;
  readonly amount: bigint;
  readonly reason: string;
}
/** Either side: the channel was claimed and closed, or is no longer usable in this session (expiring). */
export interface ChannelClosed extends Tagged {
  readonly type: 'channel_closed';
  readonly channel: Uint8Array;
  readonly reason: string;
}

/** A message this version does not act on: ignored. */
export interface UnknownMessage {
  readonly type: 'unknown';
  /** The `type` the peer sent (UTF-8, ≤ MAX_TYPE_BYTES). */
  readonly name: string;
  /** Always false since the reserved channel names became messages (kept for callers of version 1). */
  readonly reserved: boolean;
}

export type ChannelMessage = ChannelOpened | ChannelConfirmed | ChannelRejected | PaymentCheck | PaymentCheckRequired
  | PaymentCheckRejected | ChannelClosed;
export type SeedPayMessage = EcdhInit | PaymentProofMsg | PaymentConfirmed | PaymentRejected | PaymentRequired
  | SessionResume | SessionResumed | ResumeRejected | CreditState | ChannelMessage;
export type DecodedMessage = SeedPayMessage | UnknownMessage;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(b: Uint8Array): string | null {
  try { return utf8.decode(b); } catch { return null; }
}

function bytesField(d: BDict, key: string, len: number, what: string): Uint8Array {
  const v = d.get(key);
  if (v === undefined) throw new SeedPayError('MISSING_KEY', `${what}: missing ${key}`);
  if (!isBytes(v)) throw new SeedPayError('WRONG_TYPE', `${what}: ${key} must be a byte string`);
  if (v.length !== len) throw new SeedPayError('BAD_LENGTH', `${what}: ${key} must be ${len} bytes, got ${v.length}`);
  return v.slice(); // the payload is a view of the received frame: keep a copy
}

function u64Field(d: BDict, key: string, what: string): bigint {
  const v = d.get(key);
  if (v === undefined) throw new SeedPayError('MISSING_KEY', `${what}: missing ${key}`);
  if (!isInt(v)) throw new SeedPayError('WRONG_TYPE', `${what}: ${key} must be an integer`);
  if (v < 0n || v > U64_MAX) throw new SeedPayError('OUT_OF_RANGE', `${what}: ${key} ${v} outside u64`);
  return v;
}

/** True iff `s` is the canonical base58 spelling of exactly 64 bytes. */
export function isTxSignature(s: string): boolean {
  if (typeof s !== 'string' || s.length < 64 || s.length > MAX_TX_CHARS) return false;
  let raw: Uint8Array;
  try { raw = bs58.decode(s); } catch { return false; }
  return raw.length === SIG_BYTES && bs58.encode(raw) === s;
}

function txField(d: BDict, what: string): string {
  const v = d.get('tx');
  if (v === undefined) throw new SeedPayError('MISSING_KEY', `${what}: missing tx`);
  if (!isBytes(v)) throw new SeedPayError('WRONG_TYPE', `${what}: tx must be a byte string`);
  if (v.length > MAX_TX_CHARS) throw new SeedPayError('BAD_TX', `${what}: tx longer than ${MAX_TX_CHARS} characters`);
  const s = text(v);
  if (s === null || !isTxSignature(s)) throw new SeedPayError('BAD_TX', `${what}: tx is not a base58 64-byte signature`);
  return s;
}

function reasonField(d: BDict, what: string): string {
  const r = d.get('reason');
  if (r === undefined) throw new SeedPayError('MISSING_KEY', `${what}: missing reason`);
  if (!isBytes(r)) throw new SeedPayError('WRONG_TYPE', `${what}: reason must be a byte string`);
  if (r.length === 0 || r.length > MAX_REASON_BYTES) throw new SeedPayError('BAD_REASON', `${what}: reason empty or longer than ${MAX_REASON_BYTES} bytes`);
  const reason = text(r);
  if (reason === null) throw new SeedPayError('BAD_REASON', `${what}: reason is not UTF-8`);
  return reason;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Decode one `seedpay` payload. Throws SeedPayError (remote) on malformed input;
 * returns {type: 'unknown'} for a well-formed dictionary with an unknown `type`.
 */
export function decodeMessage(payload: Uint8Array): DecodedMessage {
  return messageOf(decodeDict(payload));
}

/** The payload as one strict, bounded bencoded dictionary (SeedPayError otherwise). */
function decodeDict(payload: Uint8Array): BDict {
  if (payload.length > MAX_MESSAGE_BYTES) throw new SeedPayError('TOO_LARGE', `message of ${payload.length} bytes (max ${MAX_MESSAGE_BYTES})`);
  let v;
  try {
    v = decode(payload, DECODE_OPTS);
  } catch (e) {
    const why = e instanceof BencodeError ? e.code : 'error';
    throw new SeedPayError('NOT_BENCODE', `message is not valid bencode (${why})`);
  }
  if (!isDict(v)) throw new SeedPayError('NOT_A_DICT', 'message is not a dictionary');
  return v;
}

/** The tag of a message: its `mac` when a 16-byte string, else none. */
function tagOf(d: BDict): Uint8Array | null {
  const t = d.get('mac');
  return t !== undefined && isBytes(t) && t.length === MAC_TAG_BYTES ? t.slice() : null;
}

function messageOf(v: BDict): DecodedMessage {
  const m = knownMessageOf(v);
  if (m.type === 'unknown' || m.type === 'ecdh_init') return m;
  const tag = tagOf(v);
  return tag === null ? m : { ...m, mac: tag };
}

function knownMessageOf(v: BDict): DecodedMessage {
  const t = v.get('type');
  if (t === undefined) throw new SeedPayError('BAD_TYPE', 'message without type');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_TYPE_BYTES) throw new SeedPayError('BAD_TYPE', 'type must be a short byte string');
  const type = text(t);
  if (type === null) throw new SeedPayError('BAD_TYPE', 'type is not UTF-8');
  switch (type) {
    case 'ecdh_init': {
      const pk = bytesField(v, 'pk', PK_BYTES, type);
      const flag = v.get('mac');
      const want = flag !== undefined && isInt(flag) && flag === 1n ? { wantMac: true } : {};
      if (!v.has('sig')) return { type, pk, ...want };
      return { type, pk, sig: bytesField(v, 'sig', SIG_BYTES, type), ...want };
    }
    case 'payment_proof':
      return { type, tx: txField(v, type), amount: u64Field(v, 'amount', type) };
    case 'payment_confirmed':
      return { type, tx: txField(v, type), credited: u64Field(v, 'credited', type), balance: u64Field(v, 'balance', type) };
    case 'payment_rejected':
      return { type, tx: txField(v, type), reason: reasonField(v, type) };
    case 'session_resume':
      return { type, prev: hexOf(bytesField(v, 'prev', HASH_BYTES, type)), payer: bytesField(v, 'payer', PK_BYTES, type), sig: bytesField(v, 'sig', SIG_BYTES, type) };
    case 'session_resumed':
      return { type, prev: hexOf(bytesField(v, 'prev', HASH_BYTES, type)), credited: u64Field(v, 'credited', type), balance: u64Field(v, 'balance', type) };
    case 'resume_rejected':
      return { type, prev: hexOf(bytesField(v, 'prev', HASH_BYTES, type)), reason: reasonField(v, type) };
    case 'payment_required':
      return { type, balance: u64Field(v, 'balance', type), required: u64Field(v, 'required', type) };
    case 'credit_state':
      return { type, served: u64Field(v, 'served', type), credit: u64Field(v, 'credit', type) };
    case 'channel_opened':
      return { type, channel: bytesField(v, 'channel', PK_BYTES, type), buyer: bytesField(v, 'buyer', PK_BYTES, type), sig: bytesField(v, 'sig', SIG_BYTES, type) };
    case 'channel_confirmed':
      return { type, channel: bytesField(v, 'channel', PK_BYTES, type), accepted: u64Field(v, 'accepted', type), balance: u64Field(v, 'balance', type) };
    case 'channel_rejected':
    case 'channel_closed':
      return { type, channel: bytesField(v, 'channel', PK_BYTES, type), reason: reasonField(v, type) };
    case 'payment_check':
      return { type, channel: bytesField(v, 'channel', PK_BYTES, type), amount: u64Field(v, 'amount', type), sig: bytesField(v, 'sig', SIG_BYTES, type) };
    case 'payment_check_required':
      return {
        type, channel: bytesField(v, 'channel', PK_BYTES, type), accepted: u64Field(v, 'accepted', type),
        balance: u64Field(v, 'balance', type), required: u64Field(v, 'required', type),
      };
    case 'payment_check_rejected':
      return { type, channel: bytesField(v, 'channel', PK_BYTES, type), amount: u64Field(v, 'amount', type), reason: reasonField(v, type) };
    default:
      return { type: 'unknown', name: type, reserved: false };
  }
}

/**
 * Decode a payload for a state machine (seller or buyer): a malformed one is handed
 * to `end` — it ends that paid session — and gives null; never throws.
 */
export function decodeOrEnd(payload: Uint8Array, end: (e: SeedPayError) => void): DecodedMessage | null {
  try {
    return decodeMessage(payload);
  } catch (e) {
    end(e instanceof SeedPayError ? e : new SeedPayError('NOT_BENCODE', String(e)));
    return null;
  }
}

/** Whether `reason` is one of the §4 reasons. */
export function isKnownReason(reason: string): reason is RejectReason {
  return KNOWN_REASON_SET.has(reason);
}

function checkU64(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw localError(`${what} must be a u64 bigint`);
  return v;
}

function checkLen(b: Uint8Array, len: number, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== len) throw localError(`${what} must be ${len} bytes`);
  return b;
}

function checkHash(h: string, what: string): Uint8Array {
  if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) throw localError(`${what} must be 64 lowercase hex characters`);
  return Buffer.from(h, 'hex');
}

function checkReason(reason: string): string {
  const n = typeof reason === 'string' ? Buffer.byteLength(reason, 'utf8') : 0;
  if (n === 0 || n > MAX_REASON_BYTES) throw localError(`reason must be 1..${MAX_REASON_BYTES} bytes`);
  return reason;
}

function checkTx(tx: string): string {
  if (!isTxSignature(tx)) throw localError('tx must be a base58 64-byte signature');
  return tx;
}

/**
 * Encode one message (canonical bencoding). Throws a local SeedPayError for values
 * that the decoder would refuse, so we never send what we would not accept.
 */
export function encodeMessage(m: SeedPayMessage): Uint8Array {
  let d: { [key: string]: Encodable };
  switch (m.type) {
    case 'ecdh_init':
      d = { type: m.type, pk: checkLen(m.pk, PK_BYTES, 'pk') };
      if (m.sig !== undefined) d.sig = checkLen(m.sig, SIG_BYTES, 'sig');
      if (m.wantMac === true) d.mac = 1n;
      break;
    case 'payment_proof':
      d = { type: m.type, tx: checkTx(m.tx), amount: checkU64(m.amount, 'amount') };
      break;
    case 'payment_confirmed':
      d = { type: m.type, tx: checkTx(m.tx), credited: checkU64(m.credited, 'credited'), balance: checkU64(m.balance, 'balance') };
      break;
    case 'payment_rejected':
      d = { type: m.type, tx: checkTx(m.tx), reason: checkReason(m.reason) };
      break;
    case 'session_resume':
      d = { type: m.type, prev: checkHash(m.prev, 'prev'), payer: checkLen(m.payer, PK_BYTES, 'payer'), sig: checkLen(m.sig, SIG_BYTES, 'sig') };
      break;
    case 'session_resumed':
      d = { type: m.type, prev: checkHash(m.prev, 'prev'), credited: checkU64(m.credited, 'credited'), balance: checkU64(m.balance, 'balance') };
      break;
    case 'resume_rejected':
      d = { type: m.type, prev: checkHash(m.prev, 'prev'), reason: checkReason(m.reason) };
      break;
    case 'payment_required':
      d = { type: m.type, balance: checkU64(m.balance, 'balance'), required: checkU64(m.required, 'required') };
      break;
    case 'credit_state':
      d = { type: m.type, served: checkU64(m.served, 'served'), credit: checkU64(m.credit, 'credit') };
      break;
    case 'channel_opened':
      d = { type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), buyer: checkLen(m.buyer, PK_BYTES, 'buyer'), sig: checkLen(m.sig, SIG_BYTES, 'sig') };
      break;
    case 'channel_confirmed':
      d = { type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), accepted: checkU64(m.accepted, 'accepted'), balance: checkU64(m.balance, 'balance') };
      break;
    case 'channel_rejected':
    case 'channel_closed':
      d = { type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), reason: checkReason(m.reason) };
      break;
    case 'payment_check':
      d = { type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), amount: checkU64(m.amount, 'amount'), sig: checkLen(m.sig, SIG_BYTES, 'sig') };
      break;
    case 'payment_check_required':
      d = {
        type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), accepted: checkU64(m.accepted, 'accepted'),
        balance: checkU64(m.balance, 'balance'), required: checkU64(m.required, 'required'),
      };
      break;
    case 'payment_check_rejected':
      d = { type: m.type, channel: checkLen(m.channel, PK_BYTES, 'channel'), amount: checkU64(m.amount, 'amount'), reason: checkReason(m.reason) };
      break;
    default: {
      const never: never = m;
      throw localError(`cannot encode message ${(never as { type: string }).type}`);
    }
  }
  if (m.type !== 'ecdh_init' && m.mac !== undefined) d.mac = checkLen(m.mac, MAC_TAG_BYTES, 'mac');
  return new Uint8Array(encode(d));
}

/**
 * What a MAC covers in a received payload: the canonical bencoding of its dictionary
 * without `mac` (unknown keys included), and its tag (null when `mac` is absent or not
 * a 16-byte string). Null when the payload is not one strict bencoded dictionary
 * within the limits: no tag can cover it. Never throws.
 */
export function macBody(payload: Uint8Array): { readonly body: Uint8Array; readonly tag: Uint8Array | null } | null {
  let d: BDict;
  try { d = decodeDict(payload); } catch { return null; }
  const tag = tagOf(d);
  const rest = new Map(d);
  rest.delete('mac');
  try {
    return { body: new Uint8Array(encode(rest)), tag };
  } catch {
    return null;
  }
}

/** The canonical bytes a MAC covers for a message we build: its encoding without `mac`. */
export function messageBody(m: SeedPayMessage): Uint8Array {
  if (m.type === 'ecdh_init') return encodeMessage(m);
  const { mac: _drop, ...rest } = m;
  return encodeMessage(rest as SeedPayMessage);
}

/** `m` with its tag as message number `counter` under `key` (never an ecdh_init: it is not authenticated). */
export function sealMessage(m: SeedPayMessage, key: Uint8Array, counter: bigint): SeedPayMessage {
  if (m.type === 'ecdh_init') throw localError('ecdh_init is not authenticated');
  return { ...m, mac: computeMac(key, counter, messageBody(m)) };
}

/**
 * Whether a decoded message (typed input, tests) carries the tag of message number
 * `counter` under `key`. An unknown or ecdh_init message has no checkable tag: false.
 */
export function messageMacValid(m: DecodedMessage, key: Uint8Array, counter: bigint): boolean {
  if (m.type === 'unknown' || m.type === 'ecdh_init' || m.mac === undefined) return false;
  let body: Uint8Array;
  try { body = messageBody(m); } catch { return false; }
  return verifyMac(key, counter, body, m.mac);
}
