/**
 * Policies: what a buyer agrees to pay (SEEDPAY.md §6) and what a seller does with
 * peers that do not speak SeedPay (§5). All money is bigint base units.
 *
 * Budgets are shared objects (one per torrent, one for the whole process) that every
 * buyer connection reserves from BEFORE it asks the payer to pay, so concurrent
 * connections can never together spend past a limit: reserve (all-or-nothing over
 * the budgets involved) → spend on success, or release when nothing left the wallet.
 */
import { localError } from './errors.js';

/** Seller policy for peers without SeedPay: serve them free, or never unchoke them. */
export type NonSeedPayPolicy = 'free' | 'paid-only';

export class Budget {
  private _spent = 0n;
  private _reserved = 0n;
  constructor(readonly limit: bigint, readonly label = 'budget') {
    if (typeof limit !== 'bigint' || limit < 0n) throw localError('budget limit must be a bigint >= 0');
  }
  get spent(): bigint { return this._spent; }
  get reserved(): bigint { return this._reserved; }
  /** What may still be reserved. */
  get remaining(): bigint { return this.limit - this._spent - this._reserved; }
  /** Reserve `amount` if it fits; false (nothing changed) otherwise. */
  reserve(amount: bigint): boolean {
    if (amount <= 0n || amount > this.remaining) return false;
    this._reserved += amount;
    return true;
  }
  /** A reservation became a payment (or may have: a submitted transaction with unknown fate). */
  spend(amount: bigint): void {
    this.take(amount);
    this._spent += amount;
  }
  /** Nothing was paid: give the reservation back. */
  release(amount: bigint): void { this.take(amount); }
  /** Count a payment made before this budget existed (an earlier run, from a journal). */
  spentBefore(amount: bigint): void {
    if (amount < 0n) throw localError(`${this.label}: a negative amount cannot have been spent`);
    this._spent += amount;
  }
  private take(amount: bigint): void {
    if (amount <= 0n || amount > this._reserved) throw localError(`${this.label}: ${amount} is not reserved`);
    this._reserved -= amount;
  }
}

/** Reserve `amount` in every budget, or in none. */
export function reserveAll(budgets: readonly Budget[], amount: bigint): boolean {
  const done: Budget[] = [];
  for (const b of budgets) {
    if (!b.reserve(amount)) {
      for (const d of done) d.release(amount);
      return false;
    }
    done.push(b);
  }
  return true;
}

/** The most that could be reserved right now across all budgets. */
export function remainingOf(budgets: readonly Budget[]): bigint | null {
  let r: bigint | null = null;
  for (const b of budgets) if (r === null || b.remaining < r) r = b.remaining;
  return r;
}

/** The starting risk cap unless the policy's `maxPrepay` says otherwise: a few MiB at risk with a seller not yet trusted. */
export const DEFAULT_RISK_BYTES = 8n * 1024n * 1024n;

export interface BuyerPolicy {
  /** Highest price accepted, base units per MiB. */
  maxPricePerMiB: bigint;
  /** Only this mint (base58) is paid; unset = the terms' mint (the payer may still refuse it). */
  mint?: string;
  /** Genesis hash (base58) our RPC reports; sellers settling elsewhere are refused. */
  cluster?: string;
  /** Budgets every payment must fit: typically [this torrent's, the process total]. */
  budgets: readonly Budget[];
  /**
   * Refuse sellers whose min_prepay (the smallest payment they credit) is above this
   * (base units). Unset: only the budgets limit it. A payment is always at least
   * min_prepay, so with a high min_prepay at a low price even the first payment buys
   * more data than `firstPaymentBytes`.
   */
  maxMinPrepay?: bigint;
  /**
   * The most this buyer risks with one seller at once (base units): money paid and not
   * yet backed by data from it that passed its hash check (prepaid payments and channel
   * vouchers alike). So also the largest single payment. Unset: earned — the price of DEFAULT_RISK_BYTES at the seller's price at
   * first, growing to a quarter of the value of the seller's verified data, at most
   * `maxPaymentBytes` worth. A seller whose min_prepay is above the cap when the
   * session starts is refused before anything is paid.
   */
  maxPrepay?: bigint;
  /** First payment covers this much data (default 1 MiB; at least 64 KiB). */
  firstPaymentBytes?: bigint;
  /** Later payments double while pieces verify, up to this much data (default 64 MiB). */
  maxPaymentBytes?: bigint;
  /** Growth factor per payment while pieces verify (default 2). */
  growth?: bigint;
  /** Top up when the estimated balance covers less than this (default 2 MiB) — or half the last payment, if more. */
  lowWaterBytes?: bigint;
  /** Resends of one proof after a transient rejection (rpc_unavailable, tx_not_found, unconfirmed). Default 3. */
  maxProofRetries?: number;
  /** First resend delay, doubling (default 2000 ms). */
  proofRetryDelayMs?: number;
  /** Failed payment attempts (before any transaction was sent) before giving up on this seller. Default 3. */
  maxPayFailures?: number;
  /** Pay the first increment as soon as the session is bound (default true); false: only on payment_required or topUp(). */
  payOnConnect?: boolean;
}
