/**
 * The buyer side of SeedPay on one connection, sans-IO (SEEDPAY.md §2–§4, §6).
 * Messages in (`receive`), messages out (`pollTransmit`), events out (`pollEvent`);
 * the payer's async work is requested with a 'pay' event and its result comes back
 * through `paid(tx, amount)` / `payFailed(err)`.
 *
 * States: pending → not_selling (free / buyer-only / unusable terms) | refused
 * (policy says no, or the session signature failed: never paid) | awaiting_ecdh →
 * ready (paying) → stopped (no further payment: bad piece, a final rejection, budget
 * or repeated failures) | ended (the seller broke the protocol).
 *
 * Risk bounds (money):
 *  - at most one payment being paid at a time; proofs of earlier ones may still await
 *    their answers (pipelined: the next payment need not wait a whole settlement round
 *    trip, which would cap the transfer at one risk cap per round trip);
 *  - the first payment covers `firstPaymentBytes`; later ones grow by `growth` only
 *    if a piece from this seller passed its SHA-1 check since the previous payment was
 *    decided, capped at `maxPaymentBytes` and at the risk cap, and always within the
 *    shared budgets (reserved before the 'pay' event, so connections cannot overspend
 *    together);
 *  - money at risk with a seller (paid, not yet backed by its data that passed the
 *    hash check) never exceeds the risk cap: a payment is sized to fit, and waits for
 *    delivered data to verify; data that never verifies (the last block of each piece
 *    withheld, corrupt blocks) stops the payments, the loss bounded by the cap;
 *  - the risk cap is the policy's `maxPrepay` when set; by default it starts at
 *    DEFAULT_RISK_BYTES worth, or two pieces when pieces are larger (no piece can verify
 *    before all of it is paid for; a seller demanding a larger min_prepay is refused) and
 *    grows with trust earned: to a quarter of the value of this seller's data that
 *    passed its hash check, at most `maxPaymentBytes` worth. A seller that cheats
 *    after delivering honestly keeps at most a quarter of what it delivered, and one
 *    that never delivers verified data keeps at most the starting cap;
 *  - a top-up needs the estimated balance below the low-water mark AND data received
 *    since the last confirmation (a seller that takes money and sends nothing gets one
 *    increment, not a stream of them); the estimate is the seller's confirmed balance
 *    minus the charge for bytes received after it, so the seller's `payment_required`
 *    is a hint, never a bill;
 *  - a confirmed balance below what the buyer's own conservative count allows, or a
 *    credit below the amount paid, is cheating: stop paying.
 *
 * Session resume (an extension, docs/PROTOCOL.md §4; only with a seller whose terms
 * carry `resume`): `resume(prev, …)` asks the seller to move what an earlier session of
 * ours left (its unspent balance) into this one; once it answers `session_resumed`, the
 * payments of that session that were never answered are proven again here. No new
 * payment starts while a resume or such a proof is unanswered (their credit may make
 * it unnecessary). `leftovers()` says what this session would leave to a later one if
 * its connection were cut now.
 *
 * Message authentication (docs/PROTOCOL.md §3; with a seller whose terms carry `mac`,
 * unless `mac: false`): our ecdh_init asks for it and we accept only a session
 * signature over the transcript that says so (a man in the middle that strips the
 * offer or our request fails the signature check before anything is paid). Every
 * message after the binding, both ways, then carries a tag under a per-direction key
 * (payment/seedpay-mac.ts). One whose tag fails — an injected `payment_rejected`,
 * `payment_confirmed` or `payment_required`, an altered, replayed or reordered one,
 * malformed bytes — is dropped and counted, never acted on; after `maxBadMacs` of them
 * the paid session ends (BAD_MAC).
 *
 * Payment channels (docs/PROTOCOL.md, "Payment channels"; with `channel` options, a
 * seller whose terms list mode `channel` on the same program is paid through an escrow
 * channel instead of prepaid transfers — one mode per session, chosen here from the
 * terms): once bound, the adapter names a channel of ours for this seller ('channel_needed'
 * → `channelReady`: one from our journal, or a new one), we send channel_opened and wait
 * for channel_confirmed. Then we keep `aheadBytes` worth of data paid ahead of what we
 * received: each 'voucher' request asks the adapter for an increase (it journals the new
 * cumulative amount and signs it → `voucherSigned`), sent as payment_check; the seller's
 * channel_confirmed acknowledges it with the balance, checked against our own count as a
 * payment_confirmed's is. What we risk with the seller is one increment (the ahead amount,
 * earned by delivery unless fixed) beyond what we received. A rejected channel falls back to prepaid when the terms offer it.
 */
import { bytesEqual } from '../../wire/bytes.js';
import { chargeFor, MIB } from '../../payment/amount.js';
import {
  buildTranscript, decodePublicKey58, deriveSession, deriveSessionWithMac, generateEphemeral, verifyTranscript,
  type EphemeralKeyPair,
} from '../../payment/session.js';
import { MacChannel } from './mac-channel.js';
import type { Terms } from '../../payment/terms.js';
import type { PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { classifyPeer, type PeerClass } from './classify.js';
import { SeedPayError, localError } from './errors.js';
import {
  decodeOrEnd, isKnownReason, type DecodedMessage, type SeedPayMessage,
} from './messages.js';
import { DEFAULT_RISK_BYTES, remainingOf, reserveAll, type BuyerPolicy } from './policy.js';
import bs58 from 'bs58';

export interface BuyerOptions {
  /** The torrent's 20-byte info hash. */
  infoHash: Uint8Array;
  policy: BuyerPolicy;
  /** Ephemeral key source (tests and vectors); default a fresh random key. */
  ephemeral?: () => EphemeralKeyPair;
  /**
   * Session resume: asked once the session is bound with a seller that offers it,
   * before any payment — the earlier sessions to resume here (see `resume`).
   */
  resumes?: (sessionHash: string, terms: Terms) => readonly ResumeRequest[];
  /**
   * Authenticate this session's messages when the seller's terms offer it (terms key
   * `mac`, docs/PROTOCOL.md §3). Default true; false behaves as a buyer that does not
   * know the key (tests of older peers).
   */
  mac?: boolean;
  /** Messages whose MAC failed before the paid session ends (default 16). */
  maxBadMacs?: number;
  /**
   * Ratio credits (docs/PROTOCOL.md §10): we prove a credit identity on our connections
   * (extensions/ratio). With a seller whose terms take credit and whose handshake lists
   * the credit extension, no payment is made before its `credit_state` says how much
   * of the transfer our credit pays for.
   */
  creditIdentity?: boolean;
  /** Payment channels: pay sellers that offer them on this program through a channel (unset: prepaid only). */
  channel?: BuyerChannelOptions | null;
  /**
   * The torrent's piece length once known (a magnet link's comes with its metadata). The
   * default risk cap never falls below two pieces' worth: a piece verifies only once all
   * of it is paid for, and the next one is requested while it completes — with 16 MiB
   * pieces a cap of 8 MiB would stall before the first hash check.
   */
  pieceLength?: () => number | null;
}

export interface BuyerChannelOptions {
  /** The escrow program (base58) our channels live on: a seller whose terms name another is paid prepaid. */
  readonly programId: string;
  /**
   * Data kept paid ahead of what was received: the most a seller can take without
   * serving. Default: earned — DEFAULT_CHANNEL_AHEAD_BYTES to start, growing to a quarter
   * of this seller's data that passed its hash check, at most the policy's
   * `maxPaymentBytes` (the trust rule of prepaid mode's risk cap).
   */
  readonly aheadBytes?: bigint;
}

/** What the adapter hands back for 'channel_needed': our channel for this seller, and the proof it is ours. */
export interface ChannelReady {
  /** The channel address (32 bytes). */
  readonly channel: Uint8Array;
  /** Our wallet key (32 bytes) and its signature over payment/channel/open-proof.ts channelOpenMessage. */
  readonly buyer: Uint8Array;
  readonly sig: Uint8Array;
  readonly deposit: bigint;
  /** The latest voucher amount we signed on it (our journal). */
  readonly sent: bigint;
  /**
   * The latest voucher amount signed on it now, by any of our sessions (the journal,
   * counting appends in flight): sessions with one seller share a channel. Default: `sent`
   * plus what this session signed.
   */
  readonly sentNow?: () => bigint;
}

/** Data paid ahead by vouchers with a seller not yet trusted (the default lead grows from it). */
export const DEFAULT_CHANNEL_AHEAD_BYTES = MIB;
/** not_increasing answers tolerated per session (a voucher overtaken by one of ours sent on another connection). */
const MAX_STALE_VOUCHERS = 8;

/** The ratio credits extension's name (extensions/ratio/messages.ts CREDIT_EXTENSION; not imported: that floor builds on this one). */
const CREDIT_EXTENSION_NAME = 'seedpay_credit';

/** Default bound on messages dropped for a failed MAC before the paid session ends. */
const DEFAULT_MAX_BAD_MACS = 16;

/** One earlier session to resume: its hash, the payer's key and signature, its payments never answered. */
export interface ResumeRequest {
  readonly prev: string;
  readonly payer: Uint8Array;
  readonly sig: Uint8Array;
  readonly payments: readonly PaymentRef[];
}

export type BuyerState = 'pending' | 'not_selling' | 'refused' | 'awaiting_ecdh' | 'ready' | 'stopped' | 'ended';

/** Why a seller is never paid. */
export type RefusalReason =
  | 'no_prepaid_mode' | 'wrong_mint' | 'wrong_cluster' | 'price_too_high' | 'min_prepay_too_high'
  | 'missing_signature' | 'bad_signature' | 'bad_session_key';

/** Why payments to a seller stopped. */
export type StopReason =
  | 'bad_piece' | 'rejected' | 'retries_exhausted' | 'under_credited' | 'overcharged' | 'pay_failed' | 'channel_closed';

/** The payer's failure, as much as the state machine needs (payment/payer.ts PayError fits). */
export interface PayFailure {
  readonly code?: string;
  /** Set when a transaction was submitted: it may have moved money. */
  readonly signature?: string;
  readonly message?: string;
}

export type BuyerEvent =
  | { readonly type: 'classified'; readonly peer: PeerClass['kind'] }
  /** This seller will never be paid on this connection. */
  | { readonly type: 'refused'; readonly reason: RefusalReason }
  | { readonly type: 'session'; readonly sessionHash: string }
  /** Pay `amount` to the seller (payment/payer.ts), then call `paid` or `payFailed`. */
  | { readonly type: 'pay'; readonly amount: bigint; readonly terms: Terms; readonly sessionHash: string }
  | { readonly type: 'proof_sent'; readonly tx: string; readonly amount: bigint }
  | { readonly type: 'confirmed'; readonly tx: string; readonly credited: bigint; readonly balance: bigint }
  | { readonly type: 'rejected'; readonly tx: string; readonly reason: string; readonly final: boolean }
  /** Call `retryProof(tx)` after `delayMs` (a transient rejection). */
  | { readonly type: 'retry_proof'; readonly tx: string; readonly delayMs: number }
  /** No further payment to this seller. */
  | { readonly type: 'stopped'; readonly reason: StopReason; readonly detail: string }
  /** A top-up is due but the budgets cannot cover even min_prepay (reported once; retried on the next trigger). */
  | { readonly type: 'budget_exhausted'; readonly needed: bigint }
  /** Close the connection (a bad piece: SEEDPAY.md §6). */
  | { readonly type: 'disconnect'; readonly reason: 'bad_piece'; readonly index: number }
  /** Payment channels: name a channel of ours for this seller, then call `channelReady` or `channelFailed`. */
  | { readonly type: 'channel_needed'; readonly terms: Terms; readonly sessionHash: string }
  /**
   * Payment channels: raise our voucher on `channel` by `delta` (journal the new
   * cumulative amount, fsync, and sign it), then call `voucherSigned` or `voucherFailed`.
   */
  | { readonly type: 'voucher'; readonly channel: string; readonly delta: bigint; readonly terms: Terms }
  | { readonly type: 'voucher_sent'; readonly channel: string; readonly amount: bigint; readonly delta: bigint }
  /** The seller confirmed the channel (first) or acknowledged vouchers up to `accepted`, `credited` of ours now credited. */
  | { readonly type: 'channel_confirmed'; readonly channel: string; readonly accepted: bigint; readonly credited: bigint; readonly balance: bigint }
  | { readonly type: 'channel_rejected'; readonly channel: string; readonly reason: string }
  | { readonly type: 'voucher_rejected'; readonly channel: string; readonly amount: bigint; readonly reason: string }
  /** The channel is closed or unusable (the seller said so): do not name it again. */
  | { readonly type: 'channel_closed'; readonly channel: string; readonly reason: string }
  /** Session resume: `prev` resumed here, `credited` of its balance moved; its payments are proven again. */
  | { readonly type: 'resumed'; readonly prev: string; readonly credited: bigint; readonly balance: bigint; readonly payments: number }
  | { readonly type: 'resume_rejected'; readonly prev: string; readonly reason: string }
  | { readonly type: 'ended'; readonly error: SeedPayError };

/** Pieces tracked per seller for verified-byte accounting (more than any request pipeline spans). */
const MAX_TRACKED_PIECES = 65_536;

/** Transient rejections: the same proof may be resent (bounded). */
const RETRYABLE: ReadonlySet<string> = new Set(['rpc_unavailable', 'tx_not_found', 'unconfirmed']);
/** Payer failures that will not go away by trying again with this seller. */
const FATAL_PAY: ReadonlySet<string> = new Set(['insufficient_funds', 'wrong_cluster', 'wrong_mint', 'journal_failed', 'bad_amount']);

/** A payment (transaction signature and amount paid). */
export interface PaymentRef { readonly tx: string; readonly amount: bigint }

/** What a session leaves to a later one: a session hash, and its payments never answered. */
export interface Leftover { readonly sessionHash: string; readonly payments: readonly PaymentRef[] }

/** A paid payment whose proof awaits the seller's answer (`waiting`: resent after a delay). */
interface ProofInFlight {
  readonly amount: bigint;
  retries: number;
  waiting: boolean;
  /** bytesReceived when this payment was decided: the round trip is measured from it. */
  readonly startBytes: bigint;
}

/**
 * Proofs unanswered at once at most, once the seller has answered one in this session
 * (before that, one: a seller that takes money and never answers gets one increment).
 * Two keep the payer busy while the seller verifies; with the risk cap, more would only
 * mean smaller payments.
 */
const MAX_PROOFS_IN_FLIGHT = 2;

/** The default risk cap grows to this fraction (1/n) of the value of verified data. */
const TRUST_DIVISOR = 4n;

/** What a channel decision that paid nothing read (BuyerSession.maybePayChannel), and up to which received byte it holds. */
interface ChannelQuiet {
  readonly until: bigint;
  readonly credited: bigint;
  readonly verified: bigint;
  readonly allowance: bigint;
  readonly unackedChanges: number;
  readonly terms: Terms;
  readonly chan: unknown;
}

export class BuyerSession {
  private readonly opts: BuyerOptions;
  private readonly infoHash: Uint8Array;
  private readonly policy: BuyerPolicy;
  private readonly firstBytes: bigint;
  private readonly maxBytes: bigint;
  private readonly growth: bigint;
  private readonly lowWaterBytes: bigint;
  /** bytesReceived when the payment being paid was decided (null when none). */
  private payStartBytes: bigint | null = null;
  /**
   * Bytes that arrived during the last payment's round trip (pay → payment_confirmed):
   * rate × settlement latency, measured without a clock. The top-up fires with twice
   * that still to run, so a payment confirms before the credit runs out however fast
   * the transfer (at 500 MB/s a 60 ms confirmation is 30 MB).
   */
  private roundTripBytes = 0n;
  /**
   * The seller refused blocks for want of credit while a payment of ours was on its way
   * (topUp() with one outstanding): the runway was too short for this transfer's
   * speed. From then on the top-up fires with a whole last payment still to run, and
   * the next payment grows twice as fast.
   */
  private ranDry = false;
  private ranDryThisPayment = false;

  private _state: BuyerState = 'pending';
  private _error: SeedPayError | null = null;
  private _terms: Terms | null = null;
  private termsBencoded: Uint8Array | null = null;
  private ephemeral: EphemeralKeyPair | null = null;
  private _sessionHash: string | null = null;

  /** The payment the payer is making ('pay' sent, no paid/payFailed yet). */
  private paying: { amount: bigint } | null = null;
  /** Our payments of this session whose proofs await an answer, by signature. */
  private readonly proofs = new Map<string, ProofInFlight>();
  private lastPaid = 0n;
  private verifiedSinceLastPay = false;
  private payFailures = 0;
  private budgetSignalled = false;

  /** Seller's balance in its last payment_confirmed (null before the first). */
  private confirmedBalance: bigint | null = null;
  private bytesSinceConfirm = 0n;
  private _bytesReceived = 0n;
  /** Received bytes our ratio credit did not cover (what the seller may charge for). */
  private _chargeableReceived = 0n;
  private _bytesVerified = 0n;
  /** Ratio credits: waiting for the seller's credit_state before any payment. */
  private awaitingCredit = false;
  /** Piece bytes the seller said our credit pays for (cumulative), and what of it is not used yet. */
  private _creditAllowance = 0n;
  private _creditLeft = 0n;
  /** Bytes received from this seller per piece not yet hash-checked (numbers: a piece is far below 2^53 bytes). */
  private readonly pendingPieceBytes = new Map<number, number>();
  /**
   * Channel mode: received bytes up to which a new block cannot bring the voucher lead
   * below half of the ahead mark, while every other input of that decision is as it was
   * (see maybePayChannel). Lets the per-block path skip the bigint arithmetic.
   */
  private chanQuiet: ChannelQuiet | null = null;
  /** Changes of `unacked` (an input of the channel decision that a sum would cost to compare). */
  private unackedChanges = 0;
  private _paidTotal = 0n;
  private _creditedTotal = 0n;
  private _piecesVerified = 0;

  /** Resumes sent and not answered: earlier session → its payments to prove here once resumed. */
  private readonly pendingResumes = new Map<string, readonly PaymentRef[]>();
  /** Earlier sessions resumed here (their payments may be proven here). */
  private readonly resumedPrevs = new Set<string>();
  /** Payments of earlier sessions proven here, not answered yet. */
  private readonly resumedProofs = new Map<string, { prev: string; amount: bigint; retries: number; waiting: boolean }>();

  private connClosed = false;
  /** What the session left when the seller changed its terms mid-session (leftovers() after the end). */
  private leftAtTermsChange: Leftover[] | null = null;
  private readonly events: BuyerEvent[] = [];
  private readonly out: SeedPayMessage[] = [];

  /** How this session pays (chosen from the terms and our options). */
  private payMode: 'prepaid' | 'channel' = 'prepaid';
  /** Payment channels: the channel of this session and where it stands. */
  private chan: { address: Uint8Array; address58: string; deposit: bigint; sent: bigint; sentNow: (() => bigint) | null } | null = null;
  private chanState: 'none' | 'needed' | 'opened' | 'confirmed' | 'dead' = 'none';
  /** A voucher increase the adapter is journaling and signing. */
  private voucherPending: bigint | null = null;
  /** Vouchers sent and not acknowledged yet: amount → increase. */
  private readonly unacked = new Map<bigint, bigint>();
  private staleVouchers = 0;

  /** We asked for message authentication (the terms offer it and we support it). */
  private wantMac = false;
  /** The authenticated channel once the session is bound (null: plain messages). */
  private mac: MacChannel | null = null;

  constructor(o: BuyerOptions) {
    if (!(o.infoHash instanceof Uint8Array) || o.infoHash.length !== 20) throw localError('infoHash must be 20 bytes');
    const p = o.policy;
    if (typeof p.maxPricePerMiB !== 'bigint' || p.maxPricePerMiB < 0n) throw localError('maxPricePerMiB must be a bigint >= 0');
    this.opts = o;
    this.infoHash = new Uint8Array(o.infoHash);
    this.policy = p;
    const first = p.firstPaymentBytes ?? MIB;
    this.firstBytes = first < 64n * 1024n ? 64n * 1024n : first;
    const max = p.maxPaymentBytes ?? 64n * MIB;
    this.maxBytes = max < this.firstBytes ? this.firstBytes : max;
    this.growth = p.growth !== undefined && p.growth >= 1n ? p.growth : 2n;
    this.lowWaterBytes = p.lowWaterBytes ?? 2n * MIB;
  }

  get state(): BuyerState { return this._state; }
  get error(): SeedPayError | null { return this._error; }
  get terms(): Terms | null { return this._terms; }
  get sessionHash(): string | null { return this._sessionHash; }
  /** Base units paid to this seller (transactions that may have moved money included). */
  get paidTotal(): bigint { return this._paidTotal; }
  get creditedTotal(): bigint { return this._creditedTotal; }
  /** Paid in this session, proofs not answered yet: credit on its way (ahead of the balance). */
  get unansweredTotal(): bigint {
    let n = 0n;
    for (const p of this.proofs.values()) n += p.amount;
    for (const d of this.unacked.values()) n += d;
    return n;
  }
  /** How this session pays. */
  get paymentMode(): 'prepaid' | 'channel' { return this.payMode; }
  /** Payment channels: this session's channel (base58) and the latest voucher amount we signed on it. */
  get channel(): { readonly address: string; readonly sent: bigint; readonly state: string } | null {
    return this.chan === null ? null : { address: this.chan.address58, sent: this.chan.sent, state: this.chanState };
  }
  get bytesReceived(): bigint { return this._bytesReceived; }
  /** Received bytes the ratio credit did not cover. */
  get chargeableReceived(): bigint { return this._chargeableReceived; }
  /** Piece bytes the seller serves from our ratio credit in this session (cumulative), and what is left of it. */
  get creditAllowance(): bigint { return this._creditAllowance; }
  get creditLeft(): bigint { return this._creditLeft; }
  /** Bytes received while the last confirmed payment settled (paid → credited): the runway a top-up needs at this rate. */
  get settlementBytes(): bigint { return this.roundTripBytes; }
  /** Whether a payment waits for the seller's credit_state. */
  get waitingForCredit(): boolean { return this.awaitingCredit; }
  /** Bytes from this seller in pieces that passed their hash check. */
  get bytesVerified(): bigint { return this._bytesVerified; }
  get piecesVerified(): number { return this._piecesVerified; }
  /** Whether a payment is being made or its proof (or a resume) awaits an answer. */
  get paymentOutstanding(): boolean {
    return this.paying !== null || this.proofs.size > 0 || this.pendingResumes.size > 0 || this.resumedProofs.size > 0
      || this.voucherPending !== null || this.unacked.size > 0 || this.chanState === 'needed' || this.chanState === 'opened';
  }

  /**
   * What a cut now would leave to a later session with this seller (session resume):
   * this session (its unspent balance, and its payment whose proof is unanswered), and
   * the earlier sessions it was resuming with their unanswered payments. Empty unless
   * the session is bound and in good standing, and the seller offers resume.
   */
  leftovers(): Leftover[] {
    if (this.payMode === 'channel') return []; // a channel carries over by itself (its vouchers are cumulative)
    if (this._state === 'ended' && this.leftAtTermsChange !== null) return this.leftAtTermsChange;
    if (this._state !== 'ready' || this._sessionHash === null || this._terms?.resume !== true) return [];
    const by = new Map<string, PaymentRef[]>();
    by.set(this._sessionHash, [...this.proofs].map(([tx, p]) => ({ tx, amount: p.amount })));
    for (const [prev, txs] of this.pendingResumes) by.set(prev, [...txs]);
    for (const [tx, r] of this.resumedProofs) {
      const list = by.get(r.prev) ?? [];
      list.push({ tx, amount: r.amount });
      by.set(r.prev, list);
    }
    return [...by].map(([sessionHash, payments]) => ({ sessionHash, payments }));
  }

  /**
   * Session resume: ask the seller to move what our earlier session `prev` left into
   * this one. `sig` is the payer wallet's signature (payment/resume.ts) over
   * resumeMessage(infoHash, prev, this session); `payments`: that session's payments
   * never answered, proven here once the seller accepts. Ignored unless this session
   * is bound and the seller's terms offer resume.
   */
  resume(prev: string, payer: Uint8Array, sig: Uint8Array, payments: readonly PaymentRef[]): void {
    if (this._state !== 'ready' || this._terms?.resume !== true || prev === this._sessionHash || this.pendingResumes.has(prev)) return;
    this.pendingResumes.set(prev, [...payments]);
    this.out.push({ type: 'session_resume', prev, payer, sig });
  }

  /** The seller's balance as far as we can tell: last confirmed balance − charge for bytes since (null before any). */
  get estimatedBalance(): bigint | null {
    if (this.confirmedBalance === null || this._terms === null) return null;
    return this.confirmedBalance - chargeFor(this.bytesSinceConfirm, this._terms.price);
  }

  pollEvent(): BuyerEvent | null { return this.events.shift() ?? null; }
  /** The next message to send; in a session with message authentication, tagged (its number is taken now). */
  pollTransmit(): SeedPayMessage | null {
    const m = this.out.shift();
    if (m === undefined) return null;
    return this.mac === null ? m : this.mac.seal(m);
  }

  /** Whether this session authenticates its messages. */
  get authenticated(): boolean { return this.mac !== null; }
  /** Messages dropped because their MAC failed. */
  get badMacs(): number { return this.mac?.rejected ?? 0; }

  /**
   * The peer's extended handshake. Returns true iff this peer is a seller we will
   * talk to (the hook keeps itself active only then). A re-sent handshake with other
   * terms than the signed ones ends the paid session.
   */
  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    if (this._state !== 'pending') {
      if (this.termsBencoded !== null && this.isLive()) {
        const c = classifyPeer(hs);
        if (c.kind !== 'seller' || !bytesEqual(c.termsBencoded, this.termsBencoded)) {
          // Not a breach of the protocol: what this session leaves (its balance, proofs
          // unanswered) stays resumable by a later session under the new terms.
          this.leftAtTermsChange = this.leftovers();
          this.end(new SeedPayError('TERMS_CHANGED', 'the seller re-sent its handshake with other terms'));
        }
      }
      return this.isLive();
    }
    const c = classifyPeer(hs);
    this.events.push({ type: 'classified', peer: c.kind });
    if (c.kind !== 'seller') {
      this._state = 'not_selling';
      return false;
    }
    const t = c.terms;
    const p = this.policy;
    let why: RefusalReason | null = null;
    const ch = this.opts.channel;
    this.payMode = ch != null && t.modes.includes('channel') && t.channel === ch.programId ? 'channel' : 'prepaid';
    if (this.payMode === 'prepaid' && !t.modes.includes('prepaid')) why = 'no_prepaid_mode';
    else if (p.mint !== undefined && t.mint !== p.mint) why = 'wrong_mint';
    else if (p.cluster !== undefined && t.cluster !== p.cluster) why = 'wrong_cluster';
    else if (t.price > p.maxPricePerMiB) why = 'price_too_high';
    // A seller's min_prepay sets the smallest payment, whatever data it buys: a policy
    // may cap it (money at risk before the first piece verifies). Budgets cap it anyway.
    else if (p.maxMinPrepay !== undefined && t.minPrepay > p.maxMinPrepay) why = 'min_prepay_too_high';
    // Every payment is at least min_prepay and at most the risk cap: a seller demanding
    // more than we would ever risk at once (say, the whole budget) gets nothing.
    // (A channel pays in small increments: min_prepay is a prepaid rule.)
    else if (this.payMode === 'prepaid' && t.price > 0n && t.minPrepay > this.riskCap(t)) why = 'min_prepay_too_high';
    this._terms = t;
    this.termsBencoded = c.termsBencoded;
    if (why !== null) {
      this.refuse(why);
      return false;
    }
    this.ephemeral = (this.opts.ephemeral ?? generateEphemeral)();
    this._state = 'awaiting_ecdh';
    this.wantMac = t.mac === true && this.opts.mac !== false;
    this.awaitingCredit = this.opts.creditIdentity === true && t.ratio !== undefined && hs.m.has(CREDIT_EXTENSION_NAME);
    this.out.push({ type: 'ecdh_init', pk: this.ephemeral.public, ...(this.wantMac ? { wantMac: true } : {}) });
    return true;
  }

  /** One `seedpay` payload from the seller. Malformed input ends the paid session (never throws). */
  receivePayload(payload: Uint8Array): void {
    if (!this.isLive()) return;
    // Authenticated session: the tag is checked before anything else, malformed bytes
    // included (they may be injected: dropped, not an end of the session).
    if (this.mac !== null && !this.mac.acceptPayload(payload)) return this.badMac();
    const m = decodeOrEnd(payload, (e) => this.end(e));
    if (m !== null) this.handle(m);
  }

  /**
   * One decoded message from the seller (typed input). In a session with message
   * authentication its `mac` is checked against the canonical encoding of its fields.
   */
  receive(m: DecodedMessage): void {
    if (!this.isLive()) return;
    if (this.mac !== null && !this.mac.acceptMessage(m)) return this.badMac();
    this.handle(m);
  }

  /** A message whose MAC failed: dropped and counted; too many end the paid session. */
  private badMac(): void {
    if (this.mac !== null && this.mac.rejected > (this.opts.maxBadMacs ?? DEFAULT_MAX_BAD_MACS)) {
      this.end(new SeedPayError('BAD_MAC', `more than ${this.opts.maxBadMacs ?? DEFAULT_MAX_BAD_MACS} messages with a bad MAC`));
    }
  }

  private handle(m: DecodedMessage): void {
    if (!this.isLive() || m.type === 'unknown') return;
    switch (m.type) {
      case 'ecdh_init': return this.onEcdhInit(m.pk, m.sig);
      case 'payment_confirmed': return this.onConfirmed(m.tx, m.credited, m.balance);
      case 'payment_rejected': return this.onRejected(m.tx, m.reason);
      case 'payment_required':
        if (this._state === 'ready') this.maybePay();
        return;
      case 'session_resumed': return this.onResumed(m.prev, m.credited, m.balance);
      case 'resume_rejected': return this.onResumeRejected(m.prev, m.reason);
      case 'credit_state': return this.onCreditState(m.served);
      case 'channel_confirmed': return this.onChannelConfirmed(m.channel, m.accepted, m.balance);
      case 'channel_rejected': return this.onChannelRejected(m.channel, m.reason);
      case 'payment_check_rejected': return this.onCheckRejected(m.channel, m.amount, m.reason);
      case 'payment_check_required':
        if (this._state === 'ready' && this.payMode === 'channel') this.maybePayChannel();
        return;
      case 'channel_closed': return this.onChannelClosed(m.channel, m.reason);
      case 'payment_proof':
      case 'session_resume':
      case 'channel_opened':
      case 'payment_check':
        this.end(new SeedPayError('UNEXPECTED_MESSAGE', `${m.type} is a buyer→seller message`));
        return;
      default: {
        const never: never = m;
        throw localError(`unhandled ${(never as { type: string }).type}`);
      }
    }
  }

  private onEcdhInit(sellerPk: Uint8Array, sig: Uint8Array | undefined): void {
    if (this._state !== 'awaiting_ecdh') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'ecdh_init from the seller twice'));
      return;
    }
    const eph = this.ephemeral!;
    this.ephemeral = null;
    try {
      if (sig === undefined) return this.refuse('missing_signature');
      const transcript = buildTranscript({
        infoHash: this.infoHash, sellerPublic: sellerPk, buyerPublic: eph.public, termsBencoded: this.termsBencoded!,
        mac: this.wantMac,
      });
      let wallet: Uint8Array;
      try { wallet = decodePublicKey58(this._terms!.wallet); } catch { return this.refuse('bad_signature'); }
      if (!verifyTranscript(wallet, transcript, sig)) return this.refuse('bad_signature');
      let sessionHash: string;
      try {
        const args = { ownSecret: eph.secret, peerPublic: sellerPk, infoHash: this.infoHash };
        if (this.wantMac) {
          const k = deriveSessionWithMac(args);
          sessionHash = k.sessionHash;
          this.mac = MacChannel.buyer(k.mac);
        } else {
          sessionHash = deriveSession(args).sessionHash;
        }
      } catch {
        return this.refuse('bad_session_key');
      }
      this._sessionHash = sessionHash;
      this._state = 'ready';
      this.events.push({ type: 'session', sessionHash });
      if (this.payMode === 'channel') {
        // The adapter names our channel for this seller (or opens one) before anything is paid.
        this.chanState = 'needed';
        this.events.push({ type: 'channel_needed', terms: this._terms!, sessionHash });
        return;
      }
      // Resumes first: what they bring may make the first payment unnecessary.
      if (this._terms!.resume === true && this.opts.resumes !== undefined) {
        for (const r of this.opts.resumes(sessionHash, this._terms!)) this.resume(r.prev, r.payer, r.sig, r.payments);
      }
      if (this.policy.payOnConnect ?? true) this.maybePay();
    } finally {
      eph.secret.fill(0);
    }
  }

  /**
   * What the seller serves from our credit (cumulative). A seller that says more than it
   * serves only makes us pay later (we wait for data, lose nothing); one that charges
   * money for bytes it said credit covers fails the balance check (overcharged).
   */
  private onCreditState(served: bigint): void {
    if (this._state !== 'ready' || this._terms?.ratio === undefined) return; // unsolicited: ignore
    if (served > this._creditAllowance) {
      this._creditLeft += served - this._creditAllowance;
      this._creditAllowance = served;
    }
    if (this.awaitingCredit) {
      this.awaitingCredit = false;
      if (this.policy.payOnConnect ?? true) this.maybePay();
    }
  }

  /**
   * Stop waiting for the seller's credit_state (it did not come in time: a seller that
   * lists the credit extension but never decides our identity): pay as without credit.
   */
  giveUpOnCredit(): void {
    if (!this.awaitingCredit) return;
    this.awaitingCredit = false;
    if (this._state === 'ready' && (this.policy.payOnConnect ?? true)) this.maybePay();
  }

  private onResumed(prev: string, credited: bigint, balance: bigint): void {
    const payments = this.pendingResumes.get(prev);
    if (this._state !== 'ready' || payments === undefined) return; // not asked / late: ignore
    this.pendingResumes.delete(prev);
    this._creditedTotal += credited;
    this.resumedPrevs.add(prev);
    this.events.push({ type: 'resumed', prev, credited, balance, payments: payments.length });
    if (!this.acceptBalance(balance)) return;
    for (const p of payments) {
      if (this.resumedProofs.has(p.tx)) continue;
      this.resumedProofs.set(p.tx, { prev, amount: p.amount, retries: 0, waiting: false });
      this.out.push({ type: 'payment_proof', tx: p.tx, amount: p.amount });
    }
    this.maybePay();
  }

  /**
   * A payment of the earlier session `prev` that landed after this session asked to
   * resume it (its connection was cut while it was being paid): proven here too.
   * False when this session is not resuming `prev`.
   */
  addResumedPayment(prev: string, p: PaymentRef): boolean {
    if (this._state !== 'ready') return false;
    const pending = this.pendingResumes.get(prev);
    if (pending !== undefined) {
      this.pendingResumes.set(prev, [...pending, p]);
      return true;
    }
    if (!this.resumedPrevs.has(prev)) return false;
    if (!this.resumedProofs.has(p.tx)) {
      this.resumedProofs.set(p.tx, { prev, amount: p.amount, retries: 0, waiting: false });
      this.out.push({ type: 'payment_proof', tx: p.tx, amount: p.amount });
    }
    return true;
  }

  private onResumeRejected(prev: string, reason: string): void {
    if (this._state !== 'ready' || !this.pendingResumes.delete(prev)) return;
    this.events.push({ type: 'resume_rejected', prev, reason });
    this.maybePay();
  }

  /**
   * A balance the seller reported (after a credit or a resume): checked against our
   * own conservative count (everything received, free sample included, charged).
   * False: it undercounts us, and payments stopped.
   */
  private acceptBalance(balance: bigint): boolean {
    const own = this._creditedTotal - chargeFor(this._chargeableReceived, this._terms!.price);
    if (balance + 1n < own) {
      this.stop('overcharged', `seller says balance ${balance}, our count allows at least ${own}`);
      return false;
    }
    this.confirmedBalance = balance;
    this.bytesSinceConfirm = 0n;
    return true;
  }

  /** An answer to a payment of an earlier session proven here (session resume). */
  private onResumedProofAnswer(tx: string, answer: { credited: bigint; balance: bigint } | { reason: string }): void {
    const r = this.resumedProofs.get(tx)!;
    if ('reason' in answer) {
      if (r.waiting) return; // an answer to a proof we are about to resend: the resend gets its own
      const retryable = RETRYABLE.has(answer.reason);
      if (retryable && r.retries < (this.policy.maxProofRetries ?? 3)) {
        const delayMs = (this.policy.proofRetryDelayMs ?? 2000) * 2 ** r.retries;
        r.retries++;
        r.waiting = true;
        this.events.push({ type: 'rejected', tx, reason: answer.reason, final: false });
        this.events.push({ type: 'retry_proof', tx, delayMs });
        return;
      }
      // A final no for an old payment (e.g. expired): that money is lost, but the seller
      // did nothing wrong in this session, so payments go on.
      this.resumedProofs.delete(tx);
      this.events.push({ type: 'rejected', tx, reason: answer.reason, final: true });
      this.maybePay();
      return;
    }
    this.resumedProofs.delete(tx);
    this._creditedTotal += answer.credited;
    this.events.push({ type: 'confirmed', tx, credited: answer.credited, balance: answer.balance });
    if (answer.credited < r.amount) {
      this.stop('under_credited', `paid ${r.amount}, credited ${answer.credited}`);
      return;
    }
    if (this.acceptBalance(answer.balance)) this.maybePay();
  }

  private onConfirmed(tx: string, credited: bigint, balance: bigint): void {
    if (this._state === 'ready' && this.resumedProofs.has(tx)) return this.onResumedProofAnswer(tx, { credited, balance });
    const o = this.proofs.get(tx);
    if (this._state !== 'ready' || o === undefined) return; // not ours / late: ignore
    this.proofs.delete(tx);
    this._creditedTotal += credited;
    this.events.push({ type: 'confirmed', tx, credited, balance });
    if (credited < o.amount) {
      this.stop('under_credited', `paid ${o.amount}, credited ${credited}`);
      return;
    }
    if (!this.acceptBalance(balance)) return;
    this.roundTripBytes = this._bytesReceived - o.startBytes;
  }

  private onRejected(tx: string, reason: string): void {
    if (this._state === 'ready' && this.resumedProofs.has(tx)) return this.onResumedProofAnswer(tx, { reason });
    const o = this.proofs.get(tx);
    if (this._state !== 'ready' || o === undefined || o.waiting) return;
    const retryable = RETRYABLE.has(reason);
    if (retryable && o.retries < (this.policy.maxProofRetries ?? 3)) {
      const delayMs = (this.policy.proofRetryDelayMs ?? 2000) * 2 ** o.retries;
      o.retries++;
      o.waiting = true;
      this.events.push({ type: 'rejected', tx, reason, final: false });
      this.events.push({ type: 'retry_proof', tx, delayMs });
      return;
    }
    this.proofs.delete(tx);
    this.events.push({ type: 'rejected', tx, reason, final: true });
    // Every final rejection stops payments to this seller: our payer pays exactly per
    // the signed terms and session, so the seller (or the path) is at fault, and an
    // unknown reason is treated the same way. One loss per seller at most.
    this.stop(retryable ? 'retries_exhausted' : 'rejected', isKnownReason(reason) ? reason : `unknown reason ${JSON.stringify(reason)}`);
  }

  /** Resend a proof after a 'retry_proof' delay. Ignored if no longer relevant. */
  retryProof(tx: string): void {
    const r = this.resumedProofs.get(tx);
    if (r !== undefined) {
      if (this._state !== 'ready' || !r.waiting) return;
      r.waiting = false;
      this.out.push({ type: 'payment_proof', tx, amount: r.amount });
      return;
    }
    const o = this.proofs.get(tx);
    if (this._state !== 'ready' || o === undefined || !o.waiting) return;
    o.waiting = false;
    this.out.push({ type: 'payment_proof', tx, amount: o.amount });
  }

  /**
   * The connection under this session is gone: a payment that lands later is not
   * proven here (nothing can be sent); the adapter keeps it for a later session.
   */
  connectionClosed(): void { this.connClosed = true; }

  /** The payer paid (and journaled) the requested amount. */
  paid(tx: string, amount: bigint): void {
    const o = this.paying;
    if (o === null) throw localError('paid() without a pay request outstanding');
    if (amount !== o.amount) throw localError(`paid ${amount}, but ${o.amount} was requested`);
    this.paying = null;
    const startBytes = this.payStartBytes ?? this._bytesReceived;
    this.payStartBytes = null;
    for (const b of this.policy.budgets) b.spend(amount);
    this._paidTotal += amount;
    this.lastPaid = amount;
    this.payFailures = 0;
    if (this._state !== 'ready' || this.connClosed) {
      // The session ended while the payment was on its way: no more messages here (with
      // session resume the adapter proves it in a later session).
      return;
    }
    this.proofs.set(tx, { amount, retries: 0, waiting: false, startBytes });
    this.out.push({ type: 'payment_proof', tx, amount });
    this.events.push({ type: 'proof_sent', tx, amount });
    // The next payment may be due already (a fast transfer spends while this one settles).
    this.maybePay();
  }

  /** The payer failed. A submitted transaction (signature set) counts as spent. */
  payFailed(err: PayFailure): void {
    const o = this.paying;
    if (o === null) throw localError('payFailed() without a pay request outstanding');
    this.paying = null;
    this.payStartBytes = null;
    if (err.signature !== undefined) {
      for (const b of this.policy.budgets) b.spend(o.amount);
      this._paidTotal += o.amount;
    } else {
      for (const b of this.policy.budgets) b.release(o.amount);
    }
    if (this._state !== 'ready') return;
    this.payFailures++;
    if ((err.code !== undefined && FATAL_PAY.has(err.code)) || this.payFailures >= (this.policy.maxPayFailures ?? 3) || err.signature !== undefined) {
      // A submitted transaction of unknown fate: no further risk with this seller.
      this.stop('pay_failed', `${err.code ?? 'error'}: ${err.message ?? ''}`.slice(0, 200));
    }
  }

  /** A block from this seller arrived (`index`: its piece, to credit it when the piece verifies). */
  pieceReceived(length: number, index?: number): void {
    const n = BigInt(length);
    this._bytesReceived += n;
    // The seller serves from our credit before it charges (docs/PROTOCOL.md §10).
    const fromCredit = n < this._creditLeft ? n : this._creditLeft;
    this._creditLeft -= fromCredit;
    this._chargeableReceived += n - fromCredit;
    this.bytesSinceConfirm += n - fromCredit;
    if (index !== undefined && this.pendingPieceBytes.size < MAX_TRACKED_PIECES) {
      this.pendingPieceBytes.set(index, (this.pendingPieceBytes.get(index) ?? 0) + length);
    }
    if (this.chanQuiet !== null && this.channelStillQuiet(this.chanQuiet)) return;
    // Before our first payment, data (a free sample) starts paying only if payOnConnect.
    if (this._state === 'ready' && (this.lastPaid > 0n || (this.policy.payOnConnect ?? true))) this.maybePay();
  }

  /** Whether the last channel decision still holds for the bytes received since (see maybePayChannel). */
  private channelStillQuiet(q: ChannelQuiet): boolean {
    return this._bytesReceived <= q.until && this._state === 'ready' && this.payMode === 'channel' && this.chanState === 'confirmed'
      && this.voucherPending === null && !this.awaitingCredit && this.proofs.size === 0
      && this._creditedTotal === q.credited && this._bytesVerified === q.verified && this._creditAllowance === q.allowance
      && this.unackedChanges === q.unackedChanges && this._terms === q.terms && this.chan === q.chan;
  }

  /** A piece this seller contributed to was hash-checked. A bad one stops all payment and asks to disconnect. */
  pieceVerified(index: number, ok: boolean): void {
    const bytes = this.pendingPieceBytes.get(index);
    this.pendingPieceBytes.delete(index);
    if (ok) {
      this._piecesVerified++;
      this.verifiedSinceLastPay = true;
      if (bytes !== undefined) this._bytesVerified += BigInt(bytes);
      // A top-up held until delivered data verified may go now.
      if (this._state === 'ready' && this.lastPaid > 0n) this.maybePay();
      return;
    }
    if (this._state === 'ready' || this._state === 'awaiting_ecdh') this.stop('bad_piece', `piece ${index} failed its hash check`);
    this.events.push({ type: 'disconnect', reason: 'bad_piece', index });
  }

  /** Ask for a top-up now (e.g. the session sees requests rejected). Same rules as the automatic ones. */
  topUp(): void {
    if (this._state !== 'ready') return;
    if (this.payMode === 'channel') return this.maybePayChannel();
    if (this.paying !== null || this.proofs.size > 0) { this.ranDry = true; this.ranDryThisPayment = true; }
    this.maybePay();
  }

  /** Paid to this seller and not yet backed by data from it that passed its hash check. */
  private exposure(t: Terms): bigint {
    // Verified data our credit paid for backs none of our money.
    const creditUsed = this._creditAllowance - this._creditLeft;
    const backed = chargeFor(this._bytesVerified > creditUsed ? this._bytesVerified - creditUsed : 0n, t.price);
    return this._paidTotal > backed ? this._paidTotal - backed : 0n;
  }

  /**
   * The most at risk with this seller at once: the policy's `maxPrepay`; else
   * DEFAULT_RISK_BYTES worth (two pieces' worth when pieces are larger, at most
   * `maxPaymentBytes` worth), grown to a quarter of the value of this seller's verified
   * data, at most `maxPaymentBytes` worth (trust earned by delivery, as a settlement
   * round trip on a real cluster needs far more than a few MiB in flight at speed).
   */
  private riskCap(t: Terms): bigint {
    if (this.policy.maxPrepay !== undefined) return this.policy.maxPrepay;
    const piece = this.opts.pieceLength?.() ?? null;
    // Two pieces, but no more than the largest payment: a torrent made with huge pieces
    // must not raise what a buyer risks on a seller it does not know beyond its own limit.
    let twoPieces = piece !== null && piece > 0 ? 2n * BigInt(piece) : 0n;
    if (twoPieces > this.maxBytes) twoPieces = this.maxBytes;
    const base = chargeFor(twoPieces > DEFAULT_RISK_BYTES ? twoPieces : DEFAULT_RISK_BYTES, t.price);
    let earned = chargeFor(this._bytesVerified, t.price) / TRUST_DIVISOR;
    const ceiling = chargeFor(this.maxBytes, t.price);
    if (earned > ceiling) earned = ceiling;
    return earned > base ? earned : base;
  }

  /** The largest payment: growth stops at `maxPaymentBytes`, and never above the risk cap. */
  private cap(t: Terms): bigint {
    let c = chargeFor(this.maxBytes, t.price);
    const risk = this.riskCap(t);
    if (c > risk) c = risk;
    return c > t.minPrepay ? c : t.minPrepay;
  }

  private lowWaterUnits(t: Terms): bigint {
    const lw = chargeFor(this.lowWaterBytes, t.price);
    const half = this.lastPaid / 2n;
    const runway = chargeFor(2n * this.roundTripBytes, t.price);
    let units = lw > half ? lw : half;
    if (runway > units) units = runway;
    // Running dry showed the runway too short; and until a round trip has been measured
    // with data flowing (the first payment's has none: nothing flows before it confirms),
    // the runway is unknown. Either way keep a whole payment ahead.
    if ((this.ranDry || this.roundTripBytes === 0n) && this.lastPaid > units) units = this.lastPaid;
    // Never more ahead than half the risk cap (a stall inflates the measured round trip):
    // the other half is room for the payment that tops it up.
    const halfRisk = this.riskCap(t) / 2n;
    const cap = this.cap(t);
    const limit = halfRisk < cap ? halfRisk : cap;
    return units < limit ? units : limit;
  }

  // ------------------------------------------------------------------ payment channels

  /** The adapter named our channel for this seller: we tell the seller (channel_opened) and wait for its check. */
  channelReady(r: ChannelReady): void {
    if (this.chanState !== 'needed') throw localError('channelReady() without a channel_needed outstanding');
    if (this._state !== 'ready' || this.connClosed) { this.chanState = 'dead'; return; }
    if (!(r.channel instanceof Uint8Array) || r.channel.length !== 32 || r.sent < 0n || r.deposit <= 0n) throw localError('channelReady: bad channel');
    this.chan = { address: r.channel.slice(), address58: bs58.encode(r.channel), deposit: r.deposit, sent: r.sent, sentNow: r.sentNow ?? null };
    this.chanState = 'opened';
    this.out.push({ type: 'channel_opened', channel: r.channel, buyer: r.buyer, sig: r.sig });
  }

  /** The adapter has no channel for this seller (opening failed): prepaid if the terms offer it, else no payment. */
  channelFailed(reason: string): void {
    if (this.chanState !== 'needed') throw localError('channelFailed() without a channel_needed outstanding');
    this.chanState = 'dead';
    this.fallBack(`no channel: ${reason}`);
  }

  /** Pay this session prepaid (the seller's session has not picked a mode: its channel was never confirmed). */
  private fallBack(detail: string): void {
    if (this._state !== 'ready') return;
    if (this._terms!.modes.includes('prepaid') && !(this._terms!.price > 0n && this._terms!.minPrepay > this.riskCap(this._terms!))) {
      this.payMode = 'prepaid';
      if (this.policy.payOnConnect ?? true) this.maybePay();
      return;
    }
    this.stop('pay_failed', detail.slice(0, 200));
  }

  private ours(channel: Uint8Array): boolean {
    return this.payMode === 'channel' && this.chan !== null && bytesEqual(channel, this.chan.address);
  }

  private onChannelConfirmed(channel: Uint8Array, accepted: bigint, balance: bigint): void {
    if (this._state !== 'ready' || !this.ours(channel)) return; // unsolicited: ignore
    const c = this.chan!;
    // The seller can hold no voucher above what we signed: claiming one is a lie that
    // would make our next increase pay it more than it credits.
    const signed = c.sentNow === null ? c.sent : c.sentNow();
    if (accepted > (signed > c.sent ? signed : c.sent)) {
      this.stop('overcharged', `the seller says it holds a voucher of ${accepted}, we signed ${c.sent}`);
      return;
    }
    let credited = 0n;
    if (this.chanState === 'opened') {
      this.chanState = 'confirmed';
    } else if (this.chanState === 'confirmed') {
      for (const [amount, delta] of this.unacked) {
        if (amount > accepted) continue;
        this.unacked.delete(amount);
        this.unackedChanges++;
        credited += delta;
      }
      this._creditedTotal += credited;
    } else {
      return;
    }
    this.events.push({ type: 'channel_confirmed', channel: c.address58, accepted, credited, balance });
    if (!this.acceptBalance(balance)) return;
    this.maybePayChannel();
  }

  private onChannelRejected(channel: Uint8Array, reason: string): void {
    if (this._state !== 'ready' || !this.ours(channel) || this.chanState !== 'opened') return;
    this.chanState = 'dead';
    this.events.push({ type: 'channel_rejected', channel: this.chan!.address58, reason });
    this.fallBack(`channel rejected: ${reason}`);
  }

  private onChannelClosed(channel: Uint8Array, reason: string): void {
    if (!this.ours(channel) || this.chanState === 'dead') return;
    this.chanState = 'dead';
    this.events.push({ type: 'channel_closed', channel: this.chan!.address58, reason });
    this.stop('channel_closed', reason);
  }

  private onCheckRejected(channel: Uint8Array, amount: bigint, reason: string): void {
    if (this._state !== 'ready' || !this.ours(channel) || !this.unacked.has(amount)) return;
    this.unacked.delete(amount);
    this.unackedChanges++;
    this.events.push({ type: 'voucher_rejected', channel: this.chan!.address58, amount, reason });
    // Overtaken by a higher voucher of ours on another connection with this seller
    // (which took the credit there): not the seller's fault, a few are tolerated.
    if (reason === 'not_increasing' && ++this.staleVouchers <= MAX_STALE_VOUCHERS) {
      this.maybePayChannel();
      return;
    }
    this.stop('rejected', `voucher of ${amount}: ${reason}`.slice(0, 200));
  }

  /** The adapter journaled and signed our voucher: `amount` cumulative, `delta` of it new (at most what was asked). */
  voucherSigned(amount: bigint, delta: bigint, sig: Uint8Array): void {
    const asked = this.voucherPending;
    if (asked === null || this.chan === null) throw localError('voucherSigned() without a voucher request outstanding');
    if (delta <= 0n || delta > asked || amount <= this.chan.sent || amount > this.chan.deposit) {
      throw localError(`voucherSigned(${amount}, ${delta}): not the voucher asked for`);
    }
    this.voucherPending = null;
    for (const b of this.policy.budgets) b.spend(delta);
    if (delta < asked) for (const b of this.policy.budgets) b.release(asked - delta);
    this.chan.sent = amount;
    this._paidTotal += delta;
    this.lastPaid = delta;
    if (this._state !== 'ready' || this.connClosed || this.chanState !== 'confirmed') return;
    this.unacked.set(amount, delta);
    this.unackedChanges++;
    this.out.push({ type: 'payment_check', channel: this.chan.address, amount, sig });
    this.events.push({ type: 'voucher_sent', channel: this.chan.address58, amount, delta });
    this.maybePayChannel();
  }

  /** The adapter could not raise our voucher (deposit exhausted, journal failed): no more payment here. */
  voucherFailed(reason: string): void {
    const asked = this.voucherPending;
    if (asked === null) throw localError('voucherFailed() without a voucher request outstanding');
    this.voucherPending = null;
    for (const b of this.policy.budgets) b.release(asked);
    this.stop('pay_failed', `voucher: ${reason}`.slice(0, 200));
  }

  /**
   * Keep `aheadBytes` worth paid ahead of what we received (the seller's charge for it,
   * by our own conservative count): a new voucher, topping it up to `aheadBytes`, once
   * less than half of it is left ahead.
   */
  /**
   * The voucher lead: the option when set; else earned as the prepaid risk cap is, from
   * DEFAULT_CHANNEL_AHEAD_BYTES to a quarter of this seller's verified data, at most
   * `maxPaymentBytes`. A fixed small lead at loopback speed means a voucher (and an fsync
   * on both sides) every half MiB; a lead earned by delivery keeps the loss to a seller
   * that turns bad at a quarter of what it delivered.
   */
  private channelAheadBytes(): bigint {
    const fixed = this.opts.channel?.aheadBytes;
    if (fixed !== undefined) return fixed;
    let earned = this._bytesVerified / TRUST_DIVISOR;
    if (earned > this.maxBytes) earned = this.maxBytes;
    return earned > DEFAULT_CHANNEL_AHEAD_BYTES ? earned : DEFAULT_CHANNEL_AHEAD_BYTES;
  }

  private maybePayChannel(): void {
    const t = this._terms!;
    const c = this.chan;
    if (this._state !== 'ready' || this.chanState !== 'confirmed' || c === null || this.voucherPending !== null || this.awaitingCredit || t.price === 0n) return;
    const aheadBytes = this.channelAheadBytes();
    const ahead = chargeFor(aheadBytes, t.price);
    const expected = this._creditedTotal + this.unansweredTotal;
    const charge = chargeFor(this._chargeableReceived, t.price);
    const lead = expected + chargeFor(this._creditLeft, t.price) - charge;
    // The same threshold when the seller asks or refuses a block: our count is
    // conservative, so a seller short of credit while we are half an increment ahead is
    // one whose acknowledgement is on its way (it refills our requests) — paying more
    // would only buy tiny increments, an fsync each on both sides.
    const slack = lead - ahead / 2n;
    if (slack >= 0n) {
      // Δ more bytes lower the lead by at most ceil of the charge on their chargeable part
      // plus ceil of the credit's on the rest: under Δ × price / 2^20 + 2 units. While
      // that stays within the slack, nothing here can change: pieceReceived skips us.
      const quiet = slack >= 2n ? ((slack - 2n) * MIB) / t.price : 0n;
      this.chanQuiet = quiet === 0n || this.proofs.size > 0 ? null : {
        until: this._bytesReceived + quiet, credited: this._creditedTotal, verified: this._bytesVerified, allowance: this._creditAllowance,
        unackedChanges: this.unackedChanges, terms: t, chan: c,
      };
      return;
    }
    this.chanQuiet = null;
    const rest = this._chargeableReceived + aheadBytes - this._creditLeft;
    let delta = chargeFor(rest > 0n ? rest : 0n, t.price) - expected;
    if (delta <= 0n) return;
    const sentNow = c.sentNow === null ? c.sent : c.sentNow();
    const room = c.deposit - (sentNow > c.sent ? sentNow : c.sent);
    if (delta > room) delta = room;
    if (delta <= 0n) return; // drained: what is left in it is paid
    // What we received counts for our lead, but only data that passed its hash check
    // backs our money: a seller that withholds the last block of every piece would
    // otherwise be paid for all it sent. Vouchered and not yet backed by verified data
    // stays within the risk cap, as in prepaid mode; a verified piece makes room again.
    const risk = this.riskCap(t) - this.exposure(t);
    if (delta > risk) delta = risk;
    if (delta <= 0n) return;
    if (!reserveAll(this.policy.budgets, delta)) {
      const fit = remainingOf(this.policy.budgets);
      if (fit !== null && fit > 0n && fit < delta && reserveAll(this.policy.budgets, fit)) {
        delta = fit;
      } else {
        if (!this.budgetSignalled) {
          this.budgetSignalled = true;
          this.events.push({ type: 'budget_exhausted', needed: delta });
        }
        return;
      }
    }
    this.voucherPending = delta;
    this.events.push({ type: 'voucher', channel: c.address58, delta, terms: t });
  }

  private maybePay(): void {
    if (this.payMode === 'channel') return this.maybePayChannel();
    const t = this._terms!;
    // One payment paid at a time, a few proofs in flight; a free seller needs nothing.
    const maxProofs = this.confirmedBalance === null ? 1 : MAX_PROOFS_IN_FLIGHT;
    if (this.paying !== null || this.proofs.size >= maxProofs || t.price === 0n || this.awaitingCredit) return;
    // A resume or a resumed payment not answered yet: its credit may make this payment unnecessary.
    // (maybePay runs per received block: no allocation unless a resumed proof exists.)
    if (this.pendingResumes.size > 0 || (this.resumedProofs.size > 0 && [...this.resumedProofs.values()].some((r) => !r.waiting))) return;
    if (this.lastPaid > 0n || this.confirmedBalance !== null) {
      if (this.bytesSinceConfirm === 0n) return; // nothing delivered since the last credit
      // Ahead of what was received: the estimated balance, the payments on their way, the credit left.
      const ahead = (this.estimatedBalance ?? 0n) + this.unansweredTotal + chargeFor(this._creditLeft, t.price);
      if (ahead >= this.lowWaterUnits(t)) return;
    } else if (this._creditLeft > 0n && chargeFor(this._creditLeft, t.price) >= this.lowWaterUnits(t)) {
      return; // the credit still covers a low-water mark's worth: no money yet
    }
    let amount: bigint;
    if (this.lastPaid === 0n) amount = chargeFor(this.firstBytes, t.price);
    else amount = this.verifiedSinceLastPay ? this.lastPaid * (this.ranDryThisPayment ? this.growth * this.growth : this.growth) : this.lastPaid;
    this.ranDryThisPayment = false;
    // Growth needs a piece verified after this decision: one that verifies while this
    // payment is being journaled (tens of ms behind a disk flush) counts for the next.
    this.verifiedSinceLastPay = false;
    const cap = this.cap(t);
    if (amount > cap) amount = cap;
    // Money at risk with this seller — paid and not yet backed by data that passed its
    // hash check — never exceeds the risk cap: a seller that withholds the last block of
    // every piece, or sends data that never verifies, keeps what it holds and gets no more.
    const room = this.riskCap(t) - this.exposure(t);
    if (amount > room) amount = room;
    if (amount < t.minPrepay) {
      if (room < t.minPrepay) return; // wait for delivered data to verify
      amount = t.minPrepay;
    }
    if (!reserveAll(this.policy.budgets, amount)) {
      const room = remainingOf(this.policy.budgets);
      if (room !== null && room >= t.minPrepay && room > 0n && reserveAll(this.policy.budgets, room)) {
        amount = room;
      } else {
        if (!this.budgetSignalled) {
          this.budgetSignalled = true;
          this.events.push({ type: 'budget_exhausted', needed: amount });
        }
        return;
      }
    }
    this.paying = { amount };
    this.payStartBytes = this._bytesReceived;
    this.events.push({ type: 'pay', amount, terms: t, sessionHash: this._sessionHash! });
  }

  private isLive(): boolean {
    return this._state === 'pending' || this._state === 'awaiting_ecdh' || this._state === 'ready';
  }

  private refuse(reason: RefusalReason): void {
    this._state = 'refused';
    this.events.push({ type: 'refused', reason });
  }

  private stop(reason: StopReason, detail: string): void {
    if (this._state === 'stopped' || this._state === 'ended') return;
    this._state = 'stopped';
    this.proofs.clear();
    this.pendingResumes.clear();
    this.resumedProofs.clear();
    this.events.push({ type: 'stopped', reason, detail });
  }

  /** End the paid session (the seller broke the protocol). */
  end(error: SeedPayError): void {
    if (this._state === 'ended') return;
    this._state = 'ended';
    this._error = error;
    if (this.ephemeral !== null) { this.ephemeral.secret.fill(0); this.ephemeral = null; }
    this.proofs.clear();
    this.pendingResumes.clear();
    this.resumedProofs.clear();
    this.events.push({ type: 'ended', error });
  }
}

