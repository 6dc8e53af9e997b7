/**
 * The snapshot that starts a compacted journal (pure: values in, frames out, and the
 * validation of what is read back). Framing and record validation: journal-format.ts.
 *
 * A compacted file is MAGIC_V2, then, each in its own CRC'd frame:
 *   {"kind":"snapshot","version":1,"time":T,"cut":C,"maxTime":M,"totals":{...}}
 *   {"kind":"snapshot-chunk","seq":0,"items":[item, ...]}      (seq 0, 1, 2, ... in order)
 *   ...
 *   {"kind":"snapshot-end","chunks":N,"items":K}
 * then ordinary record frames (the tail).
 *
 * Items (each a few hundred bytes at most, a chunk ~60 KiB at most, so a snapshot of
 * any size is read with a bounded buffer):
 *   {"t":"session","session":H,"last":T,"earned"?,"charge"?:{"bytes","units"},"in"?,"out"?,"payers":[≤16]}
 *       one per session kept: its credits, latest cumulative charge, transfers in and
 *       out (each present only if the session had such records, as in the summary's
 *       maps), the time of its latest record, and its payers;
 *   {"t":"payers","session":H,"payers":[≤16]}   more payers of a session listed before;
 *   {"t":"earned","payer":P,"amount":A}         credited base units per payer wallet;
 *   {"t":"spent","seller":S,"amount":A}         paid base units per seller wallet;
 *   {"t":"torrent","infoHash":I,"amount":A}     paid base units per torrent;
 *   {"t":"record","record":{...}}               a credit or payment kept whole: the replay
 *       set (its signature) and what records() returns; in their original order. Also
 *       every buyer's payment_pending not settled yet, whatever its age (a restart must
 *       still find it and learn its fate); its amount is in the spent sums already;
 *   {"t":"ratio","identity":W,"earned":B,"vouched":V,"spent":S,"strikes":N,"last":T,"earnedAt":E}
 *       ratio credits of one identity (docs/PROTOCOL.md, "Ratio credits"): verified
 *       bytes it delivered, credit trusted nodes' statements brought, and credit it spent
 *       or lost to expiry (decimal strings; what it holds is earned + vouched − spent), failed pieces it contributed to, the time of its
 *       latest record and of its latest earning. Every identity is kept (the node's promise to its
 *       uploaders does not expire with a compaction).
 *   {"t":"vouch","issuer":I,"identity":W,"total":T}   the latest statement total redeemed
 *       per trusted issuer and identity (a statement is never redeemed twice);
 *   {"t":"issuer","issuer":I,"used":U}          credit an issuer's statements brought in all;
 *   {"t":"channel","channel":C,"last":T,"open"?:{...},"sent"?,"voucher"?:{...},"claimed"?:{...}}
 *       a payment channel (docs/PROTOCOL.md, "Payment channels"): a buyer's opening and
 *       latest voucher signed; a seller's latest voucher accepted (its signature: what a
 *       claim presents) and latest claim. Every channel is kept.
 * Amounts are decimal strings. The header's totals count every record ever folded in,
 * including those of sessions and signatures the snapshot no longer lists.
 *
 * A snapshot is all or nothing: a file that ends before its end frame, has chunks out
 * of order, or whose end frame disagrees with what came before, is CORRUPT (never read
 * as a smaller journal). The compactor only renames a snapshot over the journal once it
 * is complete and fsync'd, so this can only be damage.
 */
import {
  JournalError, bigDec, checkRecord, count, fail, frameBytes, hex40, hex64, key58, time, toJSON, u64,
  type CreditRecord, type PaymentPendingRecord, type PaymentRecord,
} from './journal-format.js';

export const SNAPSHOT_VERSION = 1;
/** A chunk is closed once its body would pass this; the largest item is ~4.2 KiB, the frame limit 64 KiB. */
const CHUNK_TARGET = 60_000;
/** Items per chunk when read back (the smallest item is well over 16 bytes). */
const MAX_CHUNK_ITEMS = 4096;
/** Payers listed per item; more go into `payers` items. */
export const PAYERS_PER_ITEM = 16;

export interface SnapshotTotals {
  earned: bigint;
  charged: bigint;
  spent: bigint;
  credits: number;
  charges: number;
  payments: number;
  transfers: number;
}

export interface SnapshotHeader {
  /** Unix ms when the snapshot was taken. */
  time: number;
  /** Signatures of records older than this (unix ms) were left out; idle empty sessions too. */
  cut: number;
  /** Latest record time folded into the snapshot. */
  maxTime: number;
  totals: SnapshotTotals;
}

export interface SessionItem {
  t: 'session';
  session: string;
  last: number;
  earned?: bigint;
  charge?: { bytes: bigint; units: bigint };
  in?: bigint;
  out?: bigint;
  payers: string[];
}
export interface PayersItem { t: 'payers'; session: string; payers: string[] }
export interface EarnedItem { t: 'earned'; payer: string; amount: bigint }
export interface SpentItem { t: 'spent'; seller: string; amount: bigint }
export interface TorrentItem { t: 'torrent'; infoHash: string; amount: bigint }
/** A record a snapshot keeps whole. */
export type KeptRecord = CreditRecord | PaymentRecord | PaymentPendingRecord;
export interface RecordItem { t: 'record'; record: KeptRecord }
export interface RatioItem { t: 'ratio'; identity: string; earned: bigint; vouched: bigint; spent: bigint; strikes: number; last: number; earnedAt: number }
/** The latest statement total redeemed per trusted issuer and identity, and what each issuer's statements brought in all. */
export interface VouchItem { t: 'vouch'; issuer: string; identity: string; total: bigint }
export interface IssuerItem { t: 'issuer'; issuer: string; used: bigint }
/** A payment channel's book (both roles; fields absent when no such record was written). */
export interface ChannelBook {
  readonly channel: string;
  /** Buyer: the channel_open record's fields. */
  readonly open?: { readonly seller: string; readonly mint: string; readonly nonce: bigint; readonly deposit: bigint; readonly expiry: bigint; readonly voucherKey: string; readonly time: number };
  /** Buyer: the latest voucher amount signed. */
  readonly sent?: bigint;
  /** Seller: the latest voucher accepted. */
  readonly voucher?: { readonly amount: bigint; readonly signature: string; readonly buyer: string; readonly sessionHash: string; readonly infoHash: string; readonly time: number };
  /** Seller: the latest claim that landed. */
  readonly claimed?: { readonly amount: bigint; readonly signature: string; readonly closed: boolean; readonly time: number };
  readonly last: number;
}
export interface ChannelItem extends ChannelBook { t: 'channel' }
export type SnapshotItem = SessionItem | PayersItem | EarnedItem | SpentItem | TorrentItem | RecordItem | RatioItem | VouchItem | IssuerItem | ChannelItem;

export type SnapshotFrame =
  | { kind: 'snapshot'; header: SnapshotHeader }
  | { kind: 'snapshot-chunk'; seq: number; items: SnapshotItem[] }
  | { kind: 'snapshot-end'; chunks: number; items: number };

export const SNAPSHOT_KINDS: ReadonlySet<string> = new Set(['snapshot', 'snapshot-chunk', 'snapshot-end']);

// ------------------------------------------------------------------ reading back

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what}: not an object`);
  return v as Record<string, unknown>;
}

function payerList(v: unknown): string[] {
  if (!Array.isArray(v) || v.length > PAYERS_PER_ITEM) fail(`payers: not a list of at most ${PAYERS_PER_ITEM}`);
  return v.map((p) => key58(p, 'payer'));
}

function checkTotals(v: unknown): SnapshotTotals {
  const o = obj(v, 'totals');
  return {
    earned: bigDec(o.earned, 'totals.earned'), charged: bigDec(o.charged, 'totals.charged'), spent: bigDec(o.spent, 'totals.spent'),
    credits: count(o.credits, 'totals.credits'), charges: count(o.charges, 'totals.charges'),
    payments: count(o.payments, 'totals.payments'), transfers: count(o.transfers, 'totals.transfers'),
  };
}

function checkSession(o: Record<string, unknown>): SessionItem {
  const item: SessionItem = { t: 'session', session: hex64(o.session, 'session'), last: time(o.last, 'last'), payers: payerList(o.payers) };
  if (o.earned !== undefined) item.earned = bigDec(o.earned, 'earned');
  if (o.charge !== undefined) {
    const c = obj(o.charge, 'charge');
    item.charge = { bytes: u64(c.bytes, 'charge.bytes'), units: u64(c.units, 'charge.units') };
  }
  if (o.in !== undefined) item.in = bigDec(o.in, 'in');
  if (o.out !== undefined) item.out = bigDec(o.out, 'out');
  return item;
}

function checkRecordItem(v: unknown): RecordItem {
  const r = checkRecord(v);
  if (r.kind !== 'credit' && r.kind !== 'payment' && r.kind !== 'payment_pending') {
    fail(`a snapshot keeps credits, payments and pending payments, not ${r.kind}`);
  }
  return { t: 'record', record: r };
}

export function checkItem(v: unknown): SnapshotItem {
  const o = obj(v, 'item');
  switch (o.t) {
    case 'session': return checkSession(o);
    case 'payers': return { t: 'payers', session: hex64(o.session, 'session'), payers: payerList(o.payers) };
    case 'earned': return { t: 'earned', payer: key58(o.payer, 'payer'), amount: bigDec(o.amount, 'amount') };
    case 'spent': return { t: 'spent', seller: key58(o.seller, 'seller'), amount: bigDec(o.amount, 'amount') };
    case 'torrent': return { t: 'torrent', infoHash: hex40(o.infoHash, 'infoHash'), amount: bigDec(o.amount, 'amount') };
    case 'record': return checkRecordItem(o.record);
    case 'ratio':
    {
      const item: RatioItem = {
        t: 'ratio', identity: key58(o.identity, 'identity'), earned: bigDec(o.earned, 'earned'),
        vouched: o.vouched === undefined ? 0n : bigDec(o.vouched, 'vouched'),
        spent: o.spent === undefined ? 0n : bigDec(o.spent, 'spent'), strikes: count(o.strikes, 'strikes'), last: time(o.last, 'last'),
        earnedAt: o.earnedAt === undefined ? time(o.last, 'last') : time(o.earnedAt, 'earnedAt'),
      };
      if (item.spent > item.earned + item.vouched) fail('ratio: spent more than earned');
      return item;
    }
    case 'vouch': return { t: 'vouch', issuer: key58(o.issuer, 'issuer'), identity: key58(o.identity, 'identity'), total: u64(o.total, 'total') };
    case 'issuer': return { t: 'issuer', issuer: key58(o.issuer, 'issuer'), used: bigDec(o.used, 'used') };
    case 'channel': return checkChannelItem(o);
    default: return fail(`unknown snapshot item ${JSON.stringify(String(o.t)).slice(0, 40)}`);
  }
}

/** A channel item: each part checked as the record it folds (one fixed shape, bounded). */
function checkChannelItem(o: Record<string, unknown>): ChannelItem {
  const channel = key58(o.channel, 'channel');
  let item: ChannelItem = { t: 'channel', channel, last: time(o.last, 'last') };
  if (o.open !== undefined) {
    const r = checkRecord({ ...obj(o.open, 'open'), kind: 'channel_open', channel });
    if (r.kind !== 'channel_open') fail('channel: open');
    const { seller, mint, nonce, deposit, expiry, voucherKey, time: t } = r;
    item = { ...item, open: { seller, mint, nonce, deposit, expiry, voucherKey, time: t } };
  }
  if (o.sent !== undefined) {
    const sent = u64(o.sent, 'sent');
    if (item.open === undefined || sent > item.open.deposit) fail('channel: vouchers sent beyond the deposit, or on a channel never opened');
    item = { ...item, sent };
  }
  if (o.voucher !== undefined) {
    const r = checkRecord({ ...obj(o.voucher, 'voucher'), kind: 'voucher', channel });
    if (r.kind !== 'voucher') fail('channel: voucher');
    const { amount, signature, buyer, sessionHash, infoHash, time: t } = r;
    item = { ...item, voucher: { amount, signature, buyer, sessionHash, infoHash, time: t } };
  }
  if (o.claimed !== undefined) {
    const r = checkRecord({ ...obj(o.claimed, 'claimed'), kind: 'channel_claimed', channel });
    if (r.kind !== 'channel_claimed') fail('channel: claimed');
    if (r.amount > (item.voucher?.amount ?? 0n)) fail('channel: claimed beyond the vouchers held');
    const { amount, signature, closed, time: t } = r;
    item = { ...item, claimed: { amount, signature, closed, time: t } };
  }
  return item;
}

/** Validate a parsed snapshot frame body (any problem: JournalError BAD_RECORD; the scanner reports it as CORRUPT). */
export function checkSnapshotFrame(o: Record<string, unknown>): SnapshotFrame {
  switch (o.kind) {
    case 'snapshot':
      if (o.version !== SNAPSHOT_VERSION) fail(`snapshot version ${String(o.version).slice(0, 20)} is not ${SNAPSHOT_VERSION}`);
      return {
        kind: 'snapshot',
        header: { time: time(o.time), cut: time(o.cut, 'cut'), maxTime: time(o.maxTime, 'maxTime'), totals: checkTotals(o.totals) },
      };
    case 'snapshot-chunk': {
      if (!Array.isArray(o.items) || o.items.length === 0 || o.items.length > MAX_CHUNK_ITEMS) fail('snapshot chunk: bad item list');
      return { kind: 'snapshot-chunk', seq: count(o.seq, 'seq'), items: o.items.map(checkItem) };
    }
    case 'snapshot-end':
      return { kind: 'snapshot-end', chunks: count(o.chunks, 'chunks'), items: count(o.items, 'items') };
    default:
      return fail('not a snapshot frame');
  }
}

// ------------------------------------------------------------------ writing

const utf8 = new TextEncoder();

function headerFrame(h: SnapshotHeader): Uint8Array {
  return frameBytes(utf8.encode(toJSON({ kind: 'snapshot', version: SNAPSHOT_VERSION, time: h.time, cut: h.cut, maxTime: h.maxTime, totals: h.totals })));
}

/** The JSON of one item (ASCII only: hex, base58, digits and our keys, so its length is its size in bytes). */
function itemJSON(item: SnapshotItem): string {
  if (item.t === 'record') return toJSON({ t: 'record', record: checkRecord(item.record) });
  return toJSON(item);
}

/**
 * Turns items into frames, chunk by chunk: `add` returns a finished chunk frame when
 * one is full (else null), `finish` the last chunk and the end frame. Only one chunk's
 * items are held at a time.
 */
export class SnapshotWriter {
  private parts: string[] = [];
  private size = 0;
  private seq = 0;
  private items = 0;

  /** The header frame: first in the file, after MAGIC_V2. */
  static header(h: SnapshotHeader): Uint8Array {
    return headerFrame(h);
  }

  add(item: SnapshotItem): Uint8Array | null {
    const json = itemJSON(item);
    const full = this.size + json.length + 1 > CHUNK_TARGET && this.parts.length > 0 ? this.flushChunk() : null;
    this.parts.push(json);
    this.size += json.length + 1;
    this.items++;
    return full;
  }

  /** The last (partial) chunk, if any, and the end frame. */
  finish(): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.parts.length > 0) out.push(this.flushChunk());
    out.push(frameBytes(utf8.encode(toJSON({ kind: 'snapshot-end', chunks: this.seq, items: this.items }))));
    return out;
  }

  private flushChunk(): Uint8Array {
    const body = `{"kind":"snapshot-chunk","seq":${this.seq},"items":[${this.parts.join(',')}]}`;
    this.seq++;
    this.parts = [];
    this.size = 0;
    return frameBytes(utf8.encode(body));
  }
}

/** Split a session's payers into its session item and as many `payers` items as needed. */
export function sessionItems(base: Omit<SessionItem, 'payers' | 't'>, payers: readonly string[]): SnapshotItem[] {
  const out: SnapshotItem[] = [{ t: 'session', ...base, payers: payers.slice(0, PAYERS_PER_ITEM) }];
  for (let i = PAYERS_PER_ITEM; i < payers.length; i += PAYERS_PER_ITEM) {
    out.push({ t: 'payers', session: base.session, payers: payers.slice(i, i + PAYERS_PER_ITEM) });
  }
  return out;
}

/** A snapshot's structure problem found while reading (ordering, counts). */
export function snapshotCorrupt(msg: string, offset: number): JournalError {
  return new JournalError('CORRUPT', `journal snapshot at offset ${offset}: ${msg}`, offset);
}
