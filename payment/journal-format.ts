/**
 * On-disk format of the payment journal (pure: bytes in, records out; the file adapter
 * is journal.ts, the snapshot of a compacted journal is journal-snapshot.ts and the
 * scan rules are journal-scan.ts).
 *
 * File  = MAGIC (8 bytes, "SPJRNL1\n") then frames, back to back; or, once compacted,
 *         MAGIC_V2 ("SPJRNL2\n"), the frames of one complete snapshot, then frames.
 * Frame = len:u32be | ~len:u32be | crc32(body):u32be | body (len bytes, UTF-8 JSON).
 *
 * Why this framing:
 *  - the length is stored twice (plain and inverted) so a damaged length is recognised
 *    as damage instead of being trusted: a flipped length byte in an EARLIER record would
 *    otherwise look like "record runs past end of file" = a torn tail, and every record
 *    after it would be silently dropped;
 *  - CRC32 over the body catches torn or damaged bodies (accidental damage is the threat
 *    here; an attacker who can write the file can do anything anyway);
 *  - JSON bodies stay readable with standard tools (`strings journal`), and records are
 *    a few hundred bytes, so compactness does not matter. bigint amounts are written as
 *    decimal strings, never as JSON numbers (which would round above 2^53);
 *  - every body is bounded (a record 4 KiB, a snapshot chunk 64 KiB), so a reader needs
 *    a bounded buffer whatever the file holds, and a damaged length cannot make it
 *    allocate gigabytes.
 */
import { crc32 } from 'node:zlib';
import { U64_MAX } from './amount.js';

/** A journal that starts with its first record (every journal until it is compacted). */
export const MAGIC = new TextEncoder().encode('SPJRNL1\n');
/**
 * A compacted journal: a complete snapshot (journal-snapshot.ts) first, then records.
 * A new magic so that a reader that knows no snapshots refuses the file (BAD_MAGIC)
 * instead of misreading it.
 */
export const MAGIC_V2 = new TextEncoder().encode('SPJRNL2\n');
export const FRAME_HEADER = 12;
/** Largest record body accepted; real records are ~300 bytes. */
export const MAX_RECORD_BODY = 4096;
/** Largest frame body of any kind (snapshot chunks are the big ones, ~60 KiB at most). */
export const MAX_FRAME_BODY = 65536;

export type JournalErrorCode =
  | 'BAD_MAGIC' // not a journal file (or another version)
  | 'CORRUPT' // damaged record before the tail, or an incomplete snapshot
  | 'BAD_RECORD' // a record that fails validation (on append: caller bug; on load: corruption)
  | 'DUPLICATE_SIGNATURE' // a credit (or payment) for a signature already journaled
  | 'CHARGE_DECREASED' // a cumulative charge below an earlier one for the same session
  | 'OVERDRAWN' // a transfer of more than its session's balance, a ratio spend or expiry of more than the identity holds
  | 'STALE_STATEMENT' // a ratio_vouched whose statement total is not above the one redeemed before for that issuer and identity
  | 'STALE_VOUCHER' // a voucher (sent or accepted) not above the last one for its channel, or a claim below the last claim
  | 'UNKNOWN_CHANNEL' // a voucher_sent for a channel with no channel_open, a claim of a channel with no voucher, or a second channel_open of one
  | 'NOT_PENDING' // a payment_void for a signature with no unsettled payment_pending, or a payment that disagrees with its pending record
  | 'LOCKED' // another live process holds the journal
  | 'LOCK_UNAVAILABLE' // this platform offers no file lock we can use
  | 'JOURNAL_FAILED' // an earlier write/fsync failed: no more appends until reopened
  | 'COMPACT_ABORTED' // a compaction gave up (journal closed or failed meanwhile); nothing was lost
  | 'CLOSED';

export class JournalError extends Error {
  readonly code: JournalErrorCode;
  /** Byte offset in the file where the problem was found, when known. */
  readonly offset: number;
  constructor(code: JournalErrorCode, message: string, offset = -1) {
    super(message);
    this.name = 'JournalError';
    this.code = code;
    this.offset = offset;
  }
}

/** Seller: a payment it verified and credited (written before `payment_confirmed`). */
export interface CreditRecord {
  kind: 'credit';
  /** Transaction signature, base58. */
  signature: string;
  /** On-chain gain of the seller's token account, base units. */
  amount: bigint;
  /** Payer's wallet (fee payer / token owner), base58. */
  payer: string;
  sessionHash: string;
  /** 40 lowercase hex chars. */
  infoHash: string;
  /** Seller's wallet, base58. */
  seller: string;
  /** Unix ms. */
  time: number;
}

/** Seller: cumulative charge of one session so far (flushed periodically; the latest wins). */
export interface ChargeRecord {
  kind: 'charge';
  sessionHash: string;
  infoHash: string;
  /** Cumulative piece bytes sent in the session. */
  bytes: bigint;
  /** Cumulative charge in base units = chargeFor(bytes, price). */
  units: bigint;
  time: number;
}

/** Buyer: a payment it made (written before sending `payment_proof`). */
export interface PaymentRecord {
  kind: 'payment';
  signature: string;
  amount: bigint;
  /** Seller's wallet, base58. */
  seller: string;
  infoHash: string;
  sessionHash: string;
  time: number;
}

/**
 * Buyer: a payment signed and about to be sent, not yet known to have landed (written,
 * fsync'd, BEFORE the transaction is sent: a crash or a confirmation that comes too
 * late cannot forget it). Settled by the `payment` record of the same signature (it
 * landed) or by a `payment_void` (it provably never moved money). Until then it counts
 * as spent.
 */
export interface PaymentPendingRecord {
  kind: 'payment_pending';
  signature: string;
  amount: bigint;
  /** Seller's wallet, base58. */
  seller: string;
  /** Token mint, base58. */
  mint: string;
  infoHash: string;
  sessionHash: string;
  /** The transaction's blockhash is valid up to this block height: past it, unknown to the cluster = never landed. */
  lastValidBlockHeight: number;
  time: number;
}

/** Why a pending payment never moved money. */
export type PaymentVoidReason =
  /** Its blockhash expired (block height past lastValidBlockHeight) and the cluster does not know it. */
  | 'expired'
  /** It landed and failed: no token moved. */
  | 'failed'
  /** The RPC refused it at preflight: never forwarded. */
  | 'refused';
export const PAYMENT_VOID_REASONS: readonly PaymentVoidReason[] = ['expired', 'failed', 'refused'];

/** Buyer: a `payment_pending` settled as never having moved money (its budget is free again). */
export interface PaymentVoidRecord {
  kind: 'payment_void';
  signature: string;
  reason: PaymentVoidReason;
  time: number;
}

/**
 * Seller: a session's unspent balance moved to a later session of the same payer
 * (session resume, docs/PROTOCOL.md §4: written before `session_resumed`).
 */
export interface TransferRecord {
  kind: 'transfer';
  /** The session the balance leaves (64 hex). */
  from: string;
  /** The session it joins. */
  to: string;
  amount: bigint;
  /** The wallet whose signature authorised the move (the payer of every credit of `from`). */
  payer: string;
  infoHash: string;
  time: number;
}

/**
 * Ratio credits (docs/PROTOCOL.md, "Ratio credits"): a peer identity (a wallet) earned
 * `bytes` of credit at this node by delivering that much data this node requested and
 * verified, in torrent `infoHash`. Credit is bytes, never money. One record covers
 * what accumulated over about a second (payment/credit-book.ts).
 */
export interface RatioEarnedRecord {
  kind: 'ratio_earned';
  /** The uploader's wallet, base58. */
  identity: string;
  /** Verified piece bytes, at least 1. */
  bytes: bigint;
  infoHash: string;
  time: number;
}

/**
 * Ratio credits: `identity` spent `bytes` of its credit at this node, in paid session
 * `sessionHash` of torrent `infoHash` (a seller served it that much, at the rate of its
 * terms). A delta, written about once a second while credit is being spent: a crash
 * loses at most the last unwritten spend, in the spender's favour. The journal refuses
 * a spend of more than the identity holds.
 */
export interface RatioSpentRecord {
  kind: 'ratio_spent';
  identity: string;
  /** Credit bytes, at least 1. */
  bytes: bigint;
  infoHash: string;
  sessionHash: string;
  time: number;
}

/**
 * Ratio credits: what `identity` held at this node expired (it earned nothing here for
 * longer than the node's credit lifetime), written before it earns again so old credit
 * never comes back. The journal refuses more than the identity holds.
 */
export interface RatioExpiredRecord {
  kind: 'ratio_expired';
  identity: string;
  bytes: bigint;
  time: number;
}

/**
 * Ratio credits from one hop away (docs/PROTOCOL.md §10, "Beyond one node"): a node
 * this node trusts (`issuer`) signed that `identity` delivered `total` verified bytes
 * to it, in all; this node credited `bytes` for the part of that total not redeemed
 * before (at its discount, within the issuer's budget and the cap). Statement totals
 * per issuer and identity only go up: the journal refuses one not above the last.
 */
export interface RatioVouchedRecord {
  kind: 'ratio_vouched';
  identity: string;
  issuer: string;
  /** The statement's total (u64). */
  total: bigint;
  /** Credit granted for it, at least 1. */
  bytes: bigint;
  time: number;
}

/** Ratio credits: a piece `identity` contributed to failed this node's hash check. */
export interface RatioStrikeRecord {
  kind: 'ratio_strike';
  identity: string;
  infoHash: string;
  time: number;
}

/**
 * Payment channels (docs/PROTOCOL.md, "Payment channels"), seller: a voucher it
 * accepted — the cumulative amount `buyer`'s channel pays it, signed by the channel's
 * voucher key — written (fsync) BEFORE the session is credited its increase over the
 * previous voucher of the channel. The journal refuses one not above the last
 * (STALE_VOUCHER): each increase is credited once, in one session.
 */
export interface VoucherRecord {
  kind: 'voucher';
  /** The channel address, base58. */
  channel: string;
  /** Cumulative, at least 1. */
  amount: bigint;
  /** The voucher key's ed25519 signature (64 bytes), base58: what a claim presents. */
  signature: string;
  /** The channel's buyer (the wallet bound in the session), base58. */
  buyer: string;
  sessionHash: string;
  infoHash: string;
  time: number;
}

/** Payment channels, seller: a claim landed (the program paid out up to `amount`; `closed`: the channel is gone). */
export interface ChannelClaimedRecord {
  kind: 'channel_claimed';
  channel: string;
  /** The voucher amount claimed (cumulative, as the program's `claimed`). */
  amount: bigint;
  /** The claim transaction's signature, base58. */
  signature: string;
  closed: boolean;
  time: number;
}

/** Payment channels, buyer: a channel it opened (written once the open transaction landed). */
export interface ChannelOpenRecord {
  kind: 'channel_open';
  channel: string;
  seller: string;
  mint: string;
  nonce: bigint;
  deposit: bigint;
  /** Unix seconds (the cluster's clock). */
  expiry: bigint;
  voucherKey: string;
  time: number;
}

/**
 * Payment channels, buyer: a voucher it signed for `amount` (cumulative) — written
 * (fsync) before it is sent. Its increase over the previous one is what the buyer spent
 * (per seller and torrent, as payments are). The journal refuses one not above the
 * last (STALE_VOUCHER) or above the deposit (OVERDRAWN).
 */
export interface VoucherSentRecord {
  kind: 'voucher_sent';
  channel: string;
  amount: bigint;
  seller: string;
  infoHash: string;
  time: number;
}

export type ChannelRecord = VoucherRecord | ChannelClaimedRecord | ChannelOpenRecord | VoucherSentRecord;

export type JournalRecord =
  | CreditRecord | ChargeRecord | PaymentRecord | TransferRecord | PaymentPendingRecord | PaymentVoidRecord
  | RatioEarnedRecord | RatioStrikeRecord | RatioSpentRecord | RatioExpiredRecord | RatioVouchedRecord | ChannelRecord;

const B58 = /^[1-9A-HJ-NP-Za-km-z]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;
const DEC = /^(0|[1-9][0-9]{0,19})$/;
/** Sums of u64 amounts (per payer, per session, totals): below 10^39 > 2^128. */
const BIG_DEC = /^(0|[1-9][0-9]{0,38})$/;

/** Throw the validation error of a field read from disk or given to append. */
export function fail(msg: string): never {
  throw new JournalError('BAD_RECORD', msg);
}
function b58(v: unknown, min: number, max: number, what: string): string {
  if (typeof v !== 'string' || v.length < min || v.length > max || !B58.test(v)) fail(`${what}: not base58`);
  return v;
}
// A 64-byte signature is 64..88 base58 chars; a 32-byte key 32..44.
export const sig58 = (v: unknown): string => b58(v, 64, 88, 'signature');
export const key58 = (v: unknown, what: string): string => b58(v, 32, 44, what);
function hex(v: unknown, re: RegExp, what: string): string {
  if (typeof v !== 'string' || !re.test(v)) fail(`${what}: bad hex`);
  return v;
}
/** A session hash: 64 lowercase hex chars. */
export const hex64 = (v: unknown, what: string): string => hex(v, HEX64, what);
/** An info hash: 40 lowercase hex chars. */
export const hex40 = (v: unknown, what: string): string => hex(v, HEX40, what);
export function u64(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) fail(`${what}: outside u64`);
    return v;
  }
  if (typeof v !== 'string' || !DEC.test(v)) fail(`${what}: not a decimal u64`);
  const n = BigInt(v);
  if (n > U64_MAX) fail(`${what}: outside u64`);
  return n;
}
/** A u64 of at least 1. */
function positive(v: unknown, what: string): bigint {
  const n = u64(v, what);
  if (n === 0n) fail(`${what}: zero`);
  return n;
}
/** A non-negative sum of u64 amounts, as a decimal string (bounded length). */
export function bigDec(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || !BIG_DEC.test(v)) fail(`${what}: not a bounded non-negative decimal`);
  return BigInt(v);
}
export function time(v: unknown, what = 'time'): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what}: not a non-negative integer (unix ms)`);
  return v;
}
/** A block height: a non-negative safe integer. */
export function height(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what}: not a block height`);
  return v;
}
/** A count (of records): a non-negative safe integer. */
export function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what}: not a count`);
  return v;
}

/** Validate a record (in memory or freshly parsed); returns a clean copy with only known fields. */
export function checkRecord(r: unknown): JournalRecord {
  if (typeof r !== 'object' || r === null) fail('record is not an object');
  const o = r as Record<string, unknown>;
  switch (o.kind) {
    case 'credit':
      return {
        kind: 'credit', signature: sig58(o.signature), amount: u64(o.amount, 'amount'), payer: key58(o.payer, 'payer'),
        sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'), infoHash: hex(o.infoHash, HEX40, 'infoHash'),
        seller: key58(o.seller, 'seller'), time: time(o.time),
      };
    case 'charge':
      return {
        kind: 'charge', sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'), infoHash: hex(o.infoHash, HEX40, 'infoHash'),
        bytes: u64(o.bytes, 'bytes'), units: u64(o.units, 'units'), time: time(o.time),
      };
    case 'payment':
      return {
        kind: 'payment', signature: sig58(o.signature), amount: u64(o.amount, 'amount'), seller: key58(o.seller, 'seller'),
        infoHash: hex(o.infoHash, HEX40, 'infoHash'), sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'), time: time(o.time),
      };
    case 'payment_pending':
      return {
        kind: 'payment_pending', signature: sig58(o.signature), amount: u64(o.amount, 'amount'), seller: key58(o.seller, 'seller'),
        mint: key58(o.mint, 'mint'), infoHash: hex(o.infoHash, HEX40, 'infoHash'), sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'),
        lastValidBlockHeight: height(o.lastValidBlockHeight, 'lastValidBlockHeight'), time: time(o.time),
      };
    case 'payment_void': {
      const reason = o.reason as PaymentVoidReason;
      if (!PAYMENT_VOID_REASONS.includes(reason)) fail('payment_void: unknown reason');
      return { kind: 'payment_void', signature: sig58(o.signature), reason, time: time(o.time) };
    }
    case 'transfer': {
      const from = hex(o.from, HEX64, 'from');
      const to = hex(o.to, HEX64, 'to');
      if (from === to) fail('transfer: from and to are the same session');
      return {
        kind: 'transfer', from, to, amount: u64(o.amount, 'amount'), payer: key58(o.payer, 'payer'),
        infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time),
      };
    }
    case 'ratio_earned': {
      const bytes = u64(o.bytes, 'bytes');
      if (bytes === 0n) fail('ratio_earned: no bytes');
      return { kind: 'ratio_earned', identity: key58(o.identity, 'identity'), bytes, infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time) };
    }
    case 'ratio_spent': {
      const bytes = u64(o.bytes, 'bytes');
      if (bytes === 0n) fail('ratio_spent: no bytes');
      return {
        kind: 'ratio_spent', identity: key58(o.identity, 'identity'), bytes, infoHash: hex(o.infoHash, HEX40, 'infoHash'),
        sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'), time: time(o.time),
      };
    }
    case 'ratio_expired': {
      const bytes = u64(o.bytes, 'bytes');
      if (bytes === 0n) fail('ratio_expired: no bytes');
      return { kind: 'ratio_expired', identity: key58(o.identity, 'identity'), bytes, time: time(o.time) };
    }
    case 'ratio_vouched': {
      const bytes = u64(o.bytes, 'bytes');
      if (bytes === 0n) fail('ratio_vouched: no bytes');
      const identity = key58(o.identity, 'identity');
      const issuer = key58(o.issuer, 'issuer');
      if (identity === issuer) fail('ratio_vouched: an issuer vouching for itself');
      return { kind: 'ratio_vouched', identity, issuer, total: u64(o.total, 'total'), bytes, time: time(o.time) };
    }
    case 'ratio_strike':
      return { kind: 'ratio_strike', identity: key58(o.identity, 'identity'), infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time) };
    case 'voucher':
      return {
        kind: 'voucher', channel: key58(o.channel, 'channel'), amount: positive(o.amount, 'voucher amount'), signature: sig58(o.signature),
        buyer: key58(o.buyer, 'buyer'), sessionHash: hex(o.sessionHash, HEX64, 'sessionHash'), infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time),
      };
    case 'channel_claimed':
      if (typeof o.closed !== 'boolean') fail('channel_claimed: closed must be a boolean');
      return { kind: 'channel_claimed', channel: key58(o.channel, 'channel'), amount: u64(o.amount, 'amount'), signature: sig58(o.signature), closed: o.closed, time: time(o.time) };
    case 'channel_open':
      return {
        kind: 'channel_open', channel: key58(o.channel, 'channel'), seller: key58(o.seller, 'seller'), mint: key58(o.mint, 'mint'),
        nonce: u64(o.nonce, 'nonce'), deposit: positive(o.deposit, 'deposit'), expiry: positive(o.expiry, 'expiry'),
        voucherKey: key58(o.voucherKey, 'voucherKey'), time: time(o.time),
      };
    case 'voucher_sent':
      return {
        kind: 'voucher_sent', channel: key58(o.channel, 'channel'), amount: positive(o.amount, 'voucher amount'), seller: key58(o.seller, 'seller'),
        infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time),
      };
    default:
      return fail(`unknown record kind ${JSON.stringify(String(o.kind)).slice(0, 40)}`);
  }
}

/** JSON with bigints as decimal strings (never JSON numbers, which round above 2^53). */
export function toJSON(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

/** A record's JSON, as toJSON writes it, without a replacer call per field (appends and bulk writes). */
function recordJSON(c: JournalRecord): string {
  if (c.kind === 'charge') return JSON.stringify({ ...c, bytes: c.bytes.toString(), units: c.units.toString() });
  if (c.kind === 'payment_void' || c.kind === 'ratio_strike') return JSON.stringify(c);
  if (c.kind === 'ratio_earned' || c.kind === 'ratio_spent' || c.kind === 'ratio_expired') return JSON.stringify({ ...c, bytes: c.bytes.toString() });
  if (c.kind === 'ratio_vouched') return JSON.stringify({ ...c, total: c.total.toString(), bytes: c.bytes.toString() });
  if (c.kind === 'channel_open') return JSON.stringify({ ...c, nonce: c.nonce.toString(), deposit: c.deposit.toString(), expiry: c.expiry.toString() });
  return JSON.stringify({ ...c, amount: c.amount.toString() });
}

const utf8 = new TextEncoder();

/** JSON body of a record; bigints as decimal strings. */
function encodeBody(r: JournalRecord): Uint8Array {
  const body = utf8.encode(recordJSON(checkRecord(r)));
  if (body.length > MAX_RECORD_BODY) fail(`record body ${body.length} bytes exceeds ${MAX_RECORD_BODY}`);
  return body;
}

/** One frame around a body (of any kind, at most MAX_FRAME_BODY bytes). */
export function frameBytes(body: Uint8Array): Uint8Array {
  if (body.length === 0 || body.length > MAX_FRAME_BODY) throw new RangeError(`frame body of ${body.length} bytes`);
  const frame = new Uint8Array(FRAME_HEADER + body.length);
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, body.length);
  dv.setUint32(4, ~body.length >>> 0);
  dv.setUint32(8, crc32(body) >>> 0);
  frame.set(body, FRAME_HEADER);
  return frame;
}

export function encodeFrame(r: JournalRecord): Uint8Array {
  return frameBytes(encodeBody(r));
}

/**
 * What the bytes at one offset hold, seen through a window of the file:
 *  - frame: a whole frame whose CRC matches; `next` is the offset after it;
 *  - need: the frame is longer than the window: read `bytes` bytes from this offset;
 *  - torn: the file ends inside this frame, or this is the last frame and its CRC
 *    fails (a write that did not fully reach the disk can only be the last one);
 *  - bad-header: the length fields disagree or are out of bounds. Torn if every byte
 *    from here to the end of the file is zero (a file extended but not written before
 *    a crash), else corruption: the caller checks, it may have to read on.
 * A CRC failure with more data after the frame is corruption: thrown here.
 */
export type FrameStep =
  | { kind: 'frame'; body: Uint8Array; next: number }
  | { kind: 'need'; bytes: number }
  | { kind: 'torn' }
  | { kind: 'bad-header' };

/**
 * Read the frame at file offset `off`. `win` holds the file's bytes from offset `winPos`
 * (off >= winPos); `size` is the file's size.
 */
export function frameAt(win: Uint8Array, winPos: number, off: number, size: number): FrameStep {
  const remaining = size - off;
  const at = off - winPos;
  const have = win.length - at;
  if (remaining < FRAME_HEADER) return { kind: 'torn' }; // header cut short
  if (have < FRAME_HEADER) return { kind: 'need', bytes: FRAME_HEADER };
  const dv = new DataView(win.buffer, win.byteOffset + at, FRAME_HEADER);
  const len = dv.getUint32(0);
  if ((~len >>> 0) !== dv.getUint32(4) || len === 0 || len > MAX_FRAME_BODY) return { kind: 'bad-header' };
  if (remaining < FRAME_HEADER + len) return { kind: 'torn' }; // body cut short
  if (have < FRAME_HEADER + len) return { kind: 'need', bytes: FRAME_HEADER + len };
  const body = win.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len);
  if ((crc32(body) >>> 0) !== dv.getUint32(8)) {
    if (remaining === FRAME_HEADER + len) return { kind: 'torn' };
    throw new JournalError('CORRUPT', `journal record at offset ${off} fails its checksum`, off);
  }
  return { kind: 'frame', body, next: off + FRAME_HEADER + len };
}

/** Which journal a file's first bytes announce; 'empty' for a strict prefix of MAGIC (a crash while creating it). */
export function magicVersion(head: Uint8Array): 1 | 2 | 'empty' {
  const same = (m: Uint8Array, n: number): boolean => {
    for (let i = 0; i < n; i++) if (head[i] !== m[i]) return false;
    return true;
  };
  if (head.length < MAGIC.length) {
    if (same(MAGIC, head.length)) return 'empty';
    throw new JournalError('BAD_MAGIC', 'not a SeedPay journal (bad magic)', 0);
  }
  if (same(MAGIC, MAGIC.length)) return 1;
  if (same(MAGIC_V2, MAGIC_V2.length)) return 2;
  throw new JournalError('BAD_MAGIC', 'not a SeedPay journal (bad magic or version)', 0);
}

export function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}
