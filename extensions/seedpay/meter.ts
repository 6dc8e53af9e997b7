/**
 * The seller's meter (SEEDPAY.md §5): what one buyer has been credited, what the
 * bytes served so far cost, and whether the next block is covered.
 *
 *   charged = ceil(paidBytes × price / 2^20)   (cumulative, payment/amount.ts chargeFor)
 *   balance = credited − charged               (≥ 0: a block is served only if covered)
 *
 * A declared free sample (BEP 6 allowed_fast pieces) is served without charge, up to
 * `freeBytes` in total, so repeated requests for the sample cannot turn into
 * unlimited free service.
 *
 * Ratio credits (docs/PROTOCOL.md §10): piece bytes the buyer's credit pays for
 * (`allowCredit`, cumulative) are served before any money is charged; a block that
 * straddles the end of that allowance takes what is left of it and charges the rest,
 * so the allowance is always used up exactly before money (the buyer's own count of
 * what it owes stays exact). Pure arithmetic, no I/O.
 */
import { chargeFor, MIB } from '../../payment/amount.js';
import { localError } from './errors.js';

export interface MeterOptions {
  /** Base units per MiB. 0 = everything is free. */
  price: bigint;
  /** Piece indices of the free sample (the pieces we announce with allowed_fast). */
  freePieces?: Iterable<number>;
  /** Most bytes served free over the whole session (default 0: no sample). */
  freeBytes?: bigint;
}

/** How a block would be served now. */
export type BlockClass = 'free' | 'credit' | 'paid' | 'uncovered';

export interface MeterStats {
  credited: bigint;
  charged: bigint;
  balance: bigint;
  /** Piece bytes served against credit. */
  paidBytes: bigint;
  /** Piece bytes served from the free sample. */
  freeBytes: bigint;
  /** Piece bytes served from the buyer's ratio credit, and how many it may cover in all. */
  creditBytes: bigint;
  creditAllowance: bigint;
}

/**
 * Byte counts are kept as JS numbers (exact below 2^53 bytes, 8 PiB, far beyond any
 * session) so that the per-block path — classify and record run for every block a
 * seller sends — does no bigint arithmetic and allocates nothing: money is compared
 * through `maxPaid`, the most paid bytes the credited money covers, recomputed (in
 * bigint, exactly) only when money is credited. Amounts that leave the meter are
 * bigint, computed exactly from those counts.
 */
export class Meter {
  readonly price: bigint;
  private readonly freePieces: ReadonlySet<number>;
  private readonly freeLimit: bigint;
  private readonly freeLimitN: number;
  private _credited = 0n;
  private _paid = 0;
  private _free = 0;
  private _creditAllowance = 0n;
  private _creditUsed = 0;
  /** Ratio-credit bytes left (at most 2^53 − 1: larger allowances are as good as endless). */
  private _creditLeftN = 0;
  /** floor(credited × 2^20 / price): a block is covered while paid bytes stay within it (Infinity at price 0). */
  private _maxPaid: number;
  /** chargeFor(paid bytes), computed when asked after the count moved. */
  private _chargedCache: bigint | null = 0n;

  constructor(o: MeterOptions) {
    if (typeof o.price !== 'bigint' || o.price < 0n) throw localError('price must be a bigint >= 0');
    const fb = o.freeBytes ?? 0n;
    if (typeof fb !== 'bigint' || fb < 0n) throw localError('freeBytes must be a bigint >= 0');
    this.price = o.price;
    this.freePieces = new Set(o.freePieces ?? []);
    this.freeLimit = fb;
    this.freeLimitN = toSafe(fb);
    this._maxPaid = this.price === 0n ? Infinity : 0;
  }

  get credited(): bigint { return this._credited; }
  get charged(): bigint {
    if (this._chargedCache === null) this._chargedCache = chargeFor(BigInt(this._paid), this.price);
    return this._chargedCache;
  }
  get balance(): bigint { return this._credited - this.charged; }
  get paidBytes(): bigint { return BigInt(this._paid); }
  /** `paidBytes` as a number (exact: see the class comment). */
  get paidBytesCount(): number { return this._paid; }
  get freeBytesServed(): bigint { return BigInt(this._free); }
  get freeBytesLimit(): bigint { return this.freeLimit; }
  isFreePiece(index: number): boolean { return this.freePieces.has(index); }
  get creditBytes(): bigint { return BigInt(this._creditUsed); }
  get creditAllowance(): bigint { return this._creditAllowance; }
  /** Piece bytes the ratio credit still covers. */
  get creditLeft(): bigint { return this._creditAllowance - BigInt(this._creditUsed); }
  /** `creditLeft` as a number, at most 2^53 − 1. */
  get creditLeftCount(): number { return this._creditLeftN; }
  /**
   * Non-free bytes that can still be served now: the ratio credit left plus what the
   * credited money covers beyond the bytes charged (at most 2^53 − 1 each; Infinity at price 0).
   */
  get headroom(): number { return this._creditLeftN + (this._maxPaid - this._paid); }

  /** Of `length` more bytes, those the ratio credit does not cover. */
  private moneyPart(length: number): number {
    const n = length - this._creditLeftN;
    return n > 0 ? n : 0;
  }

  /** Charge after serving `length` more non-free bytes (the ratio credit first). */
  chargeAfter(length: number): bigint { return chargeFor(BigInt(this._paid + this.moneyPart(length)), this.price); }

  /** Whether `length` more non-free bytes are covered (by the ratio credit, then money). */
  covers(length: number): boolean { return this._paid + this.moneyPart(length) <= this._maxPaid; }

  /** Units missing before `length` more non-free bytes are covered (0 if covered). */
  shortfall(length: number): bigint {
    const need = this.chargeAfter(length) - this._credited;
    return need > 0n ? need : 0n;
  }

  /** How a block of piece `index` would be served now ('credit': wholly by the ratio credit). Pure. */
  classify(index: number, length: number): BlockClass {
    if (this.freePieces.has(index) && this._free + length <= this.freeLimitN) return 'free';
    if (this._creditLeftN >= length) return 'credit';
    return this._paid + (length - this._creditLeftN) <= this._maxPaid ? 'paid' : 'uncovered';
  }

  /**
   * Account for a block that went out. Throws (local misuse) for an uncovered block:
   * the gate must have refused it.
   */
  record(index: number, length: number): 'free' | 'credit' | 'paid' {
    const c = this.classify(index, length);
    if (c === 'uncovered') throw localError(`block of ${length} bytes in piece ${index} served beyond credit`);
    if (c === 'free') {
      this._free += length;
    } else if (c === 'credit') {
      this._creditUsed += length;
      this._creditLeftN -= length;
    } else {
      const fromCredit = this._creditLeftN;
      this._creditUsed += fromCredit;
      this._creditLeftN = 0;
      this._paid += length - fromCredit;
      this._chargedCache = null;
    }
    return c;
  }

  /** The ratio credit now covers `bytes` more piece bytes. */
  allowCredit(bytes: bigint): void {
    if (typeof bytes !== 'bigint' || bytes < 0n) throw localError('credit allowance must be a bigint >= 0');
    this._creditAllowance += bytes;
    this._creditLeftN = toSafe(this.creditLeft);
  }

  /** A confirmed payment. */
  credit(amount: bigint): void {
    if (typeof amount !== 'bigint' || amount < 0n) throw localError('credit must be a bigint >= 0');
    this._credited += amount;
    if (this.price > 0n) this._maxPaid = toSafe((this._credited * MIB) / this.price);
  }

  stats(): MeterStats {
    return {
      credited: this._credited, charged: this.charged, balance: this.balance, paidBytes: this.paidBytes, freeBytes: this.freeBytesServed,
      creditBytes: this.creditBytes, creditAllowance: this._creditAllowance,
    };
  }
}

/** A non-negative bigint as a number, capped at 2^53 − 1 (beyond it every byte count here is out of reach). */
export function toSafe(n: bigint): number {
  return n > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(n);
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A meter's `headroom` from which what the buyer has left — balance + chargeFor(credit
 * left) — is surely at least `units`: that value is more than headroom × price / 2^20 − 1
 * (the money covers floor(credited × 2^20 / price) paid bytes, the charge's ceil adds
 * under one unit, the credit's ceil adds nothing), so ceil(units × 2^20 / price) bytes
 * suffice. Beyond exact numbers, null: no headroom tells (check in bigint). At price 0
 * nothing is charged: any headroom for units ≤ 0, none for more (the value is then the
 * balance alone).
 */
export function headroomWorth(units: bigint, price: bigint): number | null {
  if (price === 0n) return units <= 0n ? 0 : null;
  const bytes = units <= 0n ? 0n : (units * MIB + price - 1n) / price;
  return bytes > MAX_SAFE ? null : Number(bytes);
}

/**
 * Credit left above this many bytes is worth at least `units`: chargeFor(c, price) ≥ units
 * ⟺ c > floor((units − 1) × 2^20 / price) for units ≥ 1. −1 when any credit is (units ≤ 0);
 * 2^53 − 1 when none is (price 0, or beyond exact numbers: `creditLeftCount` never exceeds it).
 */
export function creditWorthAbove(units: bigint, price: bigint): number {
  if (units <= 0n) return -1;
  if (price === 0n) return Number.MAX_SAFE_INTEGER;
  return toSafe(((units - 1n) * MIB) / price);
}
