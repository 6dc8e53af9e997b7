/**
 * On-disk format of the payment journal (pure: bytes in, records out; the file adapter
 * is journal.ts).
 *
 * File  = MAGIC (8 bytes, "SPJRNL1\n") then frames, back to back.
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
 *    decimal strings, never as JSON numbers (which would round above 2^53).
 *
 * Scan rules (`scanJournal`): a frame cut short by the end of file (header or body), a
 * last frame whose body fails its CRC, or a tail of zero bytes (a file extended but not
 * written before a crash) is a TORN TAIL: ignored, and the adapter truncates it away.
 * Anything wrong that is followed by more data — or a frame whose CRC is right but whose
 * body is not a valid record — is CORRUPTION: a hard JournalError, never skipped.
 */
import { crc32 } from 'node:zlib';
import { U64_MAX } from './amount.js';

export const MAGIC = new TextEncoder().encode('SPJRNL1\n');
const FRAME_HEADER = 12;
/** Largest body accepted; real records are ~300 bytes. */
const MAX_BODY = 4096;

export type JournalErrorCode =
  | 'BAD_MAGIC' // not a journal file (or another version)
  | 'CORRUPT' // damaged record before the tail
  | 'BAD_RECORD' // a record that fails validation (on append: caller bug; on load: corruption)
  | 'DUPLICATE_SIGNATURE' // a credit (or payment) for a signature already journaled
  | 'CHARGE_DECREASED' // a cumulative charge below an earlier one for the same session
  | 'OVERDRAWN' // a transfer of more than its session's balance
  | 'LOCKED' // another live process holds the journal
  | 'JOURNAL_FAILED' // an earlier write/fsync failed: no more appends until reopened
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

export type JournalRecord = CreditRecord | ChargeRecord | PaymentRecord | TransferRecord;

const B58 = /^[1-9A-HJ-NP-Za-km-z]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;
const DEC = /^(0|[1-9][0-9]{0,19})$/;

function fail(msg: string): never {
  throw new JournalError('BAD_RECORD', msg);
}
function b58(v: unknown, min: number, max: number, what: string): string {
  if (typeof v !== 'string' || v.length < min || v.length > max || !B58.test(v)) fail(`${what}: not base58`);
  return v;
}
// A 64-byte signature is 64..88 base58 chars; a 32-byte key 32..44.
const sig58 = (v: unknown): string => b58(v, 64, 88, 'signature');
const key58 = (v: unknown, what: string): string => b58(v, 32, 44, what);
function hex(v: unknown, re: RegExp, what: string): string {
  if (typeof v !== 'string' || !re.test(v)) fail(`${what}: bad hex`);
  return v;
}
function u64(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) fail(`${what}: outside u64`);
    return v;
  }
  if (typeof v !== 'string' || !DEC.test(v)) fail(`${what}: not a decimal u64`);
  const n = BigInt(v);
  if (n > U64_MAX) fail(`${what}: outside u64`);
  return n;
}
function time(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('time: not a non-negative integer (unix ms)');
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
    case 'transfer': {
      const from = hex(o.from, HEX64, 'from');
      const to = hex(o.to, HEX64, 'to');
      if (from === to) fail('transfer: from and to are the same session');
      return {
        kind: 'transfer', from, to, amount: u64(o.amount, 'amount'), payer: key58(o.payer, 'payer'),
        infoHash: hex(o.infoHash, HEX40, 'infoHash'), time: time(o.time),
      };
    }
    default:
      return fail(`unknown record kind ${JSON.stringify(String(o.kind)).slice(0, 40)}`);
  }
}

/** JSON body of a record; bigints as decimal strings. */
function encodeBody(r: JournalRecord): Uint8Array {
  const c = checkRecord(r);
  const json = JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  const body = new TextEncoder().encode(json);
  if (body.length > MAX_BODY) fail(`record body ${body.length} bytes exceeds ${MAX_BODY}`);
  return body;
}

export function encodeFrame(r: JournalRecord): Uint8Array {
  const body = encodeBody(r);
  const frame = new Uint8Array(FRAME_HEADER + body.length);
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, body.length);
  dv.setUint32(4, ~body.length >>> 0);
  dv.setUint32(8, crc32(body) >>> 0);
  frame.set(body, FRAME_HEADER);
  return frame;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBody(body: Uint8Array, offset: number): JournalRecord {
  try {
    return checkRecord(JSON.parse(utf8.decode(body)));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // The CRC matched, so these are the bytes that were written: not a torn write.
    throw new JournalError('CORRUPT', `journal record at offset ${offset} is invalid: ${why}`, offset);
  }
}

export interface ScanResult {
  records: JournalRecord[];
  /** Offset just past the last good frame: where the next append goes. */
  goodEnd: number;
  /** Bytes of torn tail after goodEnd (0 for a clean file). */
  tornBytes: number;
}

function allZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/**
 * Scan a whole journal file. A file that is empty or a strict prefix of MAGIC (a crash
 * while creating it) scans as empty with goodEnd 0; the adapter writes MAGIC.
 */
export function scanJournal(file: Uint8Array): ScanResult {
  if (file.length < MAGIC.length) {
    for (let i = 0; i < file.length; i++) {
      if (file[i] !== MAGIC[i]) throw new JournalError('BAD_MAGIC', 'not a SeedPay journal (bad magic)', 0);
    }
    return { records: [], goodEnd: 0, tornBytes: file.length };
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (file[i] !== MAGIC[i]) throw new JournalError('BAD_MAGIC', 'not a SeedPay journal (bad magic or version)', 0);
  }
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const records: JournalRecord[] = [];
  let off = MAGIC.length;
  const size = file.length;
  const torn = (): ScanResult => ({ records, goodEnd: off, tornBytes: size - off });
  while (off < size) {
    const remaining = size - off;
    if (remaining < FRAME_HEADER) return torn(); // header cut short
    const len = dv.getUint32(off);
    const inv = dv.getUint32(off + 4);
    if ((~len >>> 0) !== inv || len === 0 || len > MAX_BODY) {
      if (allZero(file.subarray(off))) return torn(); // extended-but-unwritten tail
      throw new JournalError('CORRUPT', `journal frame header at offset ${off} is damaged`, off);
    }
    if (remaining < FRAME_HEADER + len) return torn(); // body cut short
    const body = file.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
    if ((crc32(body) >>> 0) !== dv.getUint32(off + 8)) {
      // A write that did not fully reach the disk can only be the last one.
      if (off + FRAME_HEADER + len === size) return torn();
      throw new JournalError('CORRUPT', `journal record at offset ${off} fails its checksum`, off);
    }
    records.push(decodeBody(body, off));
    off += FRAME_HEADER + len;
  }
  return { records, goodEnd: off, tornBytes: 0 };
}
