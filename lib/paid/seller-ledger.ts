/**
 * The seller's books: the one object that writes the seller's journal. Credits (a
 * verified payment, fsync'd before the buyer hears "confirmed"), charges (bytes served
 * against credit, not fsync'd: a crash loses charges in the buyer's favour) and
 * transfers (session resume moves an earlier session's unspent balance, fsync'd; the
 * journal refuses to move more than is left). The verifier checks payments on the
 * chain and hands the credit back here to be written.
 */
import type { Chain } from '../../payment/chain.js';
import { Journal, type ChannelClaimedRecord, type CreditRecord, type JournalRecord, type VoucherRecord } from '../../payment/journal.js';
import type { Terms } from '../../payment/terms.js';
import { PaymentVerifier, type RetryPolicy, type VerifyResult } from '../../payment/verifier.js';
import { processFlushGate } from '../files/flush-gate.js';

export interface SellerLedgerOptions {
  chain: Chain;
  journalPath: string;
  retry?: RetryPolicy;
}

export class SellerLedger {
  private readonly verifier: PaymentVerifier;

  private constructor(private readonly journalFile: Journal, opts: SellerLedgerOptions) {
    this.verifier = new PaymentVerifier({
      chain: opts.chain, retry: opts.retry,
      journal: { hasSignature: (sig) => journalFile.hasSignature(sig), append: (r) => this.credit(r as CreditRecord) },
    });
  }

  static async open(opts: SellerLedgerOptions): Promise<SellerLedger> {
    const journal = await Journal.open(opts.journalPath, { syncGate: processFlushGate });
    return new SellerLedger(journal, opts);
  }

  /** The journal, to read (path, records, balances); only the ledger writes it. */
  get journal(): Journal { return this.journalFile; }

  /** Look a payment up on the chain; a good one is credited (journaled) before this resolves. */
  verify(req: {
    signature: string; sessionHash: string; linkedSessions: ReadonlyMap<string, string>; infoHash: string;
    terms: Pick<Terms, 'wallet' | 'mint' | 'minPrepay'>; now: number; freshnessMs?: number;
  }): Promise<VerifyResult> {
    return this.verifier.verifyPayment(req);
  }

  /** Journal the cumulative charge of a session (no fsync: a crash errs in the buyer's favour, SEEDPAY.md §7). */
  charge(sessionHash: string, infoHash: string, bytes: bigint, units: bigint, time: number): Promise<void> {
    return this.write({ kind: 'charge', sessionHash, infoHash, bytes, units, time }, false);
  }

  /** Move `amount` of session `from`'s balance to `to` (fsync; OVERDRAWN if less is left). */
  transfer(from: string, to: string, amount: bigint, payer: string, infoHash: string, time: number): Promise<void> {
    return this.write({ kind: 'transfer', from, to, amount, payer, infoHash, time }, true);
  }

  /**
   * A session bound here: journaled (a charge of nothing yet, fsync'd) so this journal,
   * and no other, knows it. Sellers that scale out run many processes behind one
   * wallet with a journal each: a session lives in exactly one of them, and a resume
   * may only name a session its journal knows — or one payment could be credited by
   * two processes.
   */
  openSession(sessionHash: string, infoHash: string, time: number): Promise<void> {
    if (this.journalFile.knows(sessionHash)) return Promise.resolve();
    return this.write({ kind: 'charge', sessionHash, infoHash, bytes: 0n, units: 0n, time }, true);
  }

  /** Whether this journal knows the session (see openSession). */
  knows(sessionHash: string): boolean { return this.journalFile.knows(sessionHash); }

  /**
   * Payment channels: journal an accepted voucher (fsync) and return its increase over
   * the channel's previous one — what the session may now be credited. Rejects with
   * STALE_VOUCHER when it is not above the last (another session's got there first).
   */
  voucher(r: Omit<VoucherRecord, 'kind'>): Promise<bigint> {
    const increase = r.amount - this.journalFile.acceptedOf(r.channel);
    // acceptedOf and the append's reservation are one synchronous step: no other voucher in between.
    return this.write({ kind: 'voucher', ...r }, true).then(() => increase);
  }

  /** Payment channels: a claim landed (fsync). */
  claimed(r: Omit<ChannelClaimedRecord, 'kind'>): Promise<void> {
    return this.write({ kind: 'channel_claimed', ...r }, true);
  }

  /** The latest voucher amount accepted on a channel (appends in flight included). */
  acceptedOf(channel: string): bigint { return this.journalFile.acceptedOf(channel); }

  balanceOf(sessionHash: string): bigint { return this.journalFile.balanceOf(sessionHash); }
  payersOf(sessionHash: string): ReadonlySet<string> { return this.journalFile.payersOf(sessionHash); }

  close(): Promise<void> { return this.journalFile.close(); }

  /** A verified payment: durable before anyone hears "confirmed". */
  private credit(record: CreditRecord): Promise<void> { return this.write(record, true); }

  private write(record: JournalRecord, sync: boolean): Promise<void> {
    return this.journalFile.append(record, { sync });
  }
}
