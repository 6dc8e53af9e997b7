/**
 * Seller side of prepaid settlement (SEEDPAY.md §4.4, §7): look a payment up on
 * the seller's own RPC, apply the credit rules (verify-rules.ts), and journal the
 * credit (fsync) before reporting success.
 *
 * The first look at a signature is its status, asked together with every other
 * signature being verified at that moment in one batched call: a made-up signature
 * (a flood of fake proofs) costs a share of one cheap call, never a transaction fetch.
 *
 * Order: the replay check runs first — a signature already credited (journal,
 * across restarts) is `replayed_tx` whatever else holds, and it costs no RPC round
 * trip. A signature being verified right now for another proof is waited for, then
 * checked again: token accounts are public, so anyone may prove a payment they saw
 * in a session of their own, and only the session its memo names may be credited —
 * a stranger's proof in flight must not turn the honest proof into a final
 * `replayed_tx` (it fails `session_mismatch` and credits nothing). Then the §4 rules in table
 * order: found at `confirmed` (tx_not_found / unconfirmed), tx_failed, amount
 * (wrong_recipient / wrong_mint / insufficient_amount), session_mismatch, expired.
 * Every RPC call is retried with bounded exponential backoff; when they all fail
 * the answer is rpc_unavailable (nothing is credited, the buyer may resend the proof).
 */
import type { SignatureStatus, VersionedTransactionResponse } from '@solana/web3.js';
import bs58 from 'bs58';
import type { Chain } from './chain.js';
import type { CreditRecord, Journal } from './journal.js';
import { checkTransaction, type RejectReason } from './verify-rules.js';
import type { Terms } from './terms.js';

export type { RejectReason } from './verify-rules.js';

export interface RetryPolicy {
  /** Total tries of one RPC call (≥ 1). */
  attempts: number;
  /** Wait before the 2nd try; doubles each time, capped at maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 200, maxDelayMs: 2000 };

export interface VerifierOptions {
  chain: Chain;
  /** The seller's journal: replay set and durable credits. */
  journal: Pick<Journal, 'hasSignature' | 'append'>;
  retry?: RetryPolicy;
  /**
   * A buyer sends its proof once its own RPC says `confirmed`; the seller's RPC may
   * lag a little. Look again this many times, this far apart, before tx_not_found.
   */
  notFoundRetries?: number;
  notFoundDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface VerifyRequest {
  /** base58 transaction signature from the buyer's payment_proof. */
  signature: string;
  /** This connection's session hash (64 lowercase hex). */
  sessionHash: string;
  /** Earlier sessions it resumed: memo session hash → the payer allowed to name it (verify-rules.ts). */
  linkedSessions?: ReadonlyMap<string, string>;
  /** Torrent info hash, 40 lowercase hex (journaled with the credit). */
  infoHash: string;
  terms: Pick<Terms, 'wallet' | 'mint' | 'minPrepay'>;
  /** Unix ms. */
  now: number;
  /** Default 10 minutes. */
  freshnessMs?: number;
  futureSkewMs?: number;
}

export type VerifyResult =
  | { ok: true; signature: string; credited: bigint; payer: string; blockTimeMs: number }
  | { ok: false; signature: string; reason: RejectReason; detail: string };

class RpcUnavailable extends Error {
  readonly code = 'rpc_unavailable';
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isSignature(s: unknown): s is string {
  if (typeof s !== 'string' || s.length < 64 || s.length > 88) return false;
  try {
    return bs58.decode(s).length === 64;
  } catch {
    return false;
  }
}

function atLeastConfirmed(st: SignatureStatus): boolean {
  return st.confirmationStatus === 'confirmed' || st.confirmationStatus === 'finalized' ||
    (st.confirmationStatus === undefined && st.confirmations === null); // old nodes: null = rooted
}

export class PaymentVerifier {
  private readonly chain: Chain;
  private readonly journal: Pick<Journal, 'hasSignature' | 'append'>;
  private readonly retry: RetryPolicy;
  private readonly notFoundRetries: number;
  private readonly notFoundDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly statuses: StatusBatcher;
  /** Signatures being verified right now: two proofs of one transaction cannot both credit. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(opts: VerifierOptions) {
    this.chain = opts.chain;
    this.journal = opts.journal;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.notFoundRetries = opts.notFoundRetries ?? 2;
    this.notFoundDelayMs = opts.notFoundDelayMs ?? 500;
    this.sleep = opts.sleep ?? defaultSleep;
    this.statuses = new StatusBatcher(this.chain);
  }

  async verifyPayment(req: VerifyRequest): Promise<VerifyResult> {
    const signature = req.signature;
    const no = (reason: RejectReason, detail: string): VerifyResult => ({ ok: false, signature, reason, detail });
    if (!isSignature(signature)) return no('tx_not_found', 'not a base58 transaction signature');
    // Another proof of this signature is being verified: its outcome decides nothing here
    // but whether the payment is already credited (then this one is a replay).
    for (let other = this.inFlight.get(signature); other !== undefined; other = this.inFlight.get(signature)) {
      await other.catch(() => undefined);
    }
    if (this.journal.hasSignature(signature)) return no('replayed_tx', 'signature already credited');
    const done = this.verifyUnique(req, signature, no);
    this.inFlight.set(signature, done);
    try {
      return await done;
    } finally {
      if (this.inFlight.get(signature) === done) this.inFlight.delete(signature);
    }
  }

  /** Verify a signature no other proof is verifying (the caller holds its in-flight slot). */
  private async verifyUnique(
    req: VerifyRequest, signature: string, no: (reason: RejectReason, detail: string) => VerifyResult,
  ): Promise<VerifyResult> {
    try {
      const tx = await this.fetchConfirmed(signature);
      if ('reason' in tx) return no(tx.reason, tx.detail);
      const r = checkTransaction(tx.tx, {
        wallet: req.terms.wallet, mint: req.terms.mint, minPrepay: req.terms.minPrepay, sessionHash: req.sessionHash,
        ...(req.linkedSessions !== undefined ? { linkedSessions: req.linkedSessions } : {}), now: req.now, freshnessMs: req.freshnessMs, futureSkewMs: req.futureSkewMs,
      });
      if (!r.ok) return no(r.reason, r.detail);
      const record: CreditRecord = {
        kind: 'credit', signature, amount: r.credited, payer: r.payer, sessionHash: req.sessionHash,
        infoHash: req.infoHash, seller: req.terms.wallet, time: req.now,
      };
      try {
        await this.journal.append(record); // durable before anyone hears "confirmed"
      } catch (e) {
        if ((e as { code?: unknown }).code === 'DUPLICATE_SIGNATURE') return no('replayed_tx', 'signature already credited');
        throw e; // a journal that cannot write must not be papered over as a rejection
      }
      return { ok: true, signature, credited: r.credited, payer: r.payer, blockTimeMs: r.blockTimeMs };
    } catch (e) {
      if (e instanceof RpcUnavailable) return no('rpc_unavailable', e.message);
      throw e;
    }
  }

  private async fetchConfirmed(signature: string): Promise<{ tx: VersionedTransactionResponse } | { reason: RejectReason; detail: string }> {
    for (let look = 0; ; look++) {
      const st = await this.withRetry(() => this.statuses.get(signature));
      if (st !== null && atLeastConfirmed(st)) {
        const tx = await this.withRetry(() => this.chain.transaction(signature));
        if (tx !== null) return { tx };
      }
      if (look >= this.notFoundRetries) {
        if (st === null) return { reason: 'tx_not_found', detail: 'the cluster does not know this transaction' };
        if (!atLeastConfirmed(st)) return { reason: 'unconfirmed', detail: `status ${st.confirmationStatus ?? 'unknown'}` };
        return { reason: 'unconfirmed', detail: 'confirmed in status but not yet served by getTransaction' };
      }
      await this.sleep(this.notFoundDelayMs);
    }
  }

  private async withRetry<T>(call: () => Promise<T>): Promise<T> {
    let delay = this.retry.baseDelayMs;
    let last: unknown;
    for (let i = 0; i < Math.max(1, this.retry.attempts); i++) {
      if (i > 0) {
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.retry.maxDelayMs);
      }
      try {
        return await call();
      } catch (e) {
        last = e;
      }
    }
    throw new RpcUnavailable(`RPC failed ${this.retry.attempts} times: ${(last as Error)?.message ?? String(last)}`);
  }
}

/** getSignatureStatuses accepts this many signatures per call. */
const MAX_STATUS_BATCH = 256;

/**
 * Signature status look-ups asked in the same turn of the event loop go out as one
 * getSignatureStatuses call (up to 256 per call).
 */
class StatusBatcher {
  private pending: { signature: string; resolve: (s: SignatureStatus | null) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly chain: Chain) {}

  get(signature: string): Promise<SignatureStatus | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ signature, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length; i += MAX_STATUS_BATCH) {
      const batch = all.slice(i, i + MAX_STATUS_BATCH);
      this.chain.signatureStatuses(batch.map((b) => b.signature)).then(
        (r) => { batch.forEach((b, k) => b.resolve(r[k] ?? null)); },
        (e: unknown) => { for (const b of batch) b.reject(e); },
      );
    }
  }
}
