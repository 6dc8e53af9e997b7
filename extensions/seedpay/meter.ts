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
import { chargeFor } from '../../payment/amount.js';
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

export class Meter {
  readonly price: bigint;
  private readonly freePieces: ReadonlySet<number>;
  private readonly freeLimit: bigint;
  private _credited = 0n;
  private _paidBytes = 0n;
  private _freeBytes = 0n;
  private _creditAllowance = 0n;
  private _creditBytes = 0n;
  /** Cached chargeFor(_paidBytes): recomputed once per block. */
  private _charged = 0n;

  constructor(o: MeterOptions) {
    if (typeof o.price !== 'bigint' || o.price < 0n) throw localError('price must be a bigint >= 0');
    const fb = o.freeBytes ?? 0n;
    if (typeof fb !== 'bigint' || fb < 0n) throw localError('freeBytes must be a bigint >= 0');
    this.price = o.price;
    this.freePieces = new Set(o.freePieces ?? []);
    this.freeLimit = fb;
  }

  get credited(): bigint { return this._credited; }
  get charged(): bigint { return this._charged; }
  get balance(): bigint { return this._credited - this._charged; }
  get paidBytes(): bigint { return this._paidBytes; }
  get freeBytesServed(): bigint { return this._freeBytes; }
  get freeBytesLimit(): bigint { return this.freeLimit; }
  isFreePiece(index: number): boolean { return this.freePieces.has(index); }
  get creditBytes(): bigint { return this._creditBytes; }
  get creditAllowance(): bigint { return this._creditAllowance; }
  /** Piece bytes the ratio credit still covers. */
  get creditLeft(): bigint { return this._creditAllowance - this._creditBytes; }

  /** Of `length` more bytes, those the ratio credit does not cover. */
  private moneyPart(length: number): bigint {
    const n = BigInt(length) - this.creditLeft;
    return n > 0n ? n : 0n;
  }

  /** Charge after serving `length` more non-free bytes (the ratio credit first). */
  chargeAfter(length: number): bigint { return chargeFor(this._paidBytes + this.moneyPart(length), this.price); }

  /** Whether `length` more non-free bytes are covered (by the ratio credit, then money). */
  covers(length: number): boolean { return this.chargeAfter(length) <= this._credited; }

  /** Units missing before `length` more non-free bytes are covered (0 if covered). */
  shortfall(length: number): bigint {
    const need = this.chargeAfter(length) - this._credited;
    return need > 0n ? need : 0n;
  }

  /** How a block of piece `index` would be served now ('credit': wholly by the ratio credit). Pure. */
  classify(index: number, length: number): BlockClass {
    if (this.freePieces.has(index) && this._freeBytes + BigInt(length) <= this.freeLimit) return 'free';
    if (this.creditLeft >= BigInt(length)) return 'credit';
    return this.covers(length) ? 'paid' : 'uncovered';
  }

  /**
   * Account for a block that went out. Throws (local misuse) for an uncovered block:
   * the gate must have refused it.
   */
  record(index: number, length: number): 'free' | 'credit' | 'paid' {
    const c = this.classify(index, length);
    if (c === 'uncovered') throw localError(`block of ${length} bytes in piece ${index} served beyond credit`);
    if (c === 'free') {
      this._freeBytes += BigInt(length);
    } else if (c === 'credit') {
      this._creditBytes += BigInt(length);
    } else {
      const money = this.moneyPart(length);
      this._creditBytes += BigInt(length) - money;
      this._paidBytes += money;
      this._charged = chargeFor(this._paidBytes, this.price);
    }
    return c;
  }

  /** The ratio credit now covers `bytes` more piece bytes. */
  allowCredit(bytes: bigint): void {
    if (typeof bytes !== 'bigint' || bytes < 0n) throw localError('credit allowance must be a bigint >= 0');
    this._creditAllowance += bytes;
  }

  /** A confirmed payment. */
  credit(amount: bigint): void {
    if (typeof amount !== 'bigint' || amount < 0n) throw localError('credit must be a bigint >= 0');
    this._credited += amount;
  }

  stats(): MeterStats {
    return {
      credited: this._credited, charged: this._charged, balance: this.balance, paidBytes: this._paidBytes, freeBytes: this._freeBytes,
      creditBytes: this._creditBytes, creditAllowance: this._creditAllowance,
    };
  }
}
