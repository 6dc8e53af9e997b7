/**
 * The seller side of SeedPay on one connection, sans-IO (SEEDPAY.md §3–§5):
 * bytes never appear here, only decoded messages in (`receive`), messages out
 * (`pollTransmit`), events out (`pollEvent`), and the results of async work
 * (`verified`) back in. The hook (hook.ts) ties it to a PeerConnection.
 *
 * States: pending (no extended handshake from the peer yet) → non_seedpay (the peer
 * does not list seedpay: the NonSeedPayPolicy decides) | awaiting_ecdh → ready
 * (session bound, proofs verified, blocks metered) → ended (the peer broke the paid
 * protocol: nothing more is served on this connection).
 *
 * Proof handling is bounded so a flood costs O(1) work per message: one verification
 * in flight, at most `maxQueuedProofs` waiting; a duplicate of a waiting or in-flight
 * proof is ignored (it will be answered once); a proof of a tx this session already
 * credited is answered `replayed_tx` without an RPC call; a proof that finds the queue
 * full is answered `rpc_unavailable` ("cannot verify now, resend later" — the §4
 * reason whose meaning is exactly that, so any conforming buyer retries later); after
 * `maxRefusedProofs` proofs refused without a verification (queue full, replays) or
 * `maxFailedProofs` verifications that credited nothing, the paid session ends with
 * PROOF_FLOOD: an honest buyer needs a handful of each, a flood of made-up signatures
 * must not keep the verifier (and its RPC) busy for the life of the connection.
 *
 * Session resume (an extension, docs/PROTOCOL.md §4; offered when the terms carry
 * `resume`): `session_resume` names an earlier session and is signed by a payer
 * wallet. A valid one is handed to the adapter ('resume_request': it checks the
 * journal, closes that session if it is still open, and moves its unspent balance
 * here); the answer comes back through `resumed` / `resumeRejected`. From then on this
 * session also credits that payer's payments whose memo names the earlier session
 * (payments that were on their way when it was cut). At most `maxResumes` per
 * session; more are refused and count toward PROOF_FLOOD.
 *
 * Message authentication (docs/PROTOCOL.md §3; offered when the terms carry `mac`):
 * when the buyer's ecdh_init asks for it, the signed transcript says so, and every
 * message after the binding, both ways, carries a tag under a per-direction key
 * derived from the session's shared secret (payment/seedpay-mac.ts). A message whose
 * tag fails (injected, altered, replayed, reordered; malformed bytes included) is
 * dropped and counted, never acted on, and does not end the session: ending it would
 * hand an injector a cheaper attack. After `maxBadMacs` of them the paid session ends
 * (BAD_MAC).
 *
 * Payment channels (docs/PROTOCOL.md, "Payment channels"; offered when the terms list
 * mode `channel` with the program id): a session is prepaid or channel, decided by the
 * buyer's first payment message (`payment_proof` / `session_resume` → prepaid,
 * `channel_opened` → channel); the other mode's messages then end the paid session.
 * `channel_opened` names an escrow channel and carries the buyer wallet's signature
 * binding it to this session; the adapter fetches the channel ('channel_check') and
 * answers `channelChecked` — confirmed (channel_confirmed) or rejected with a reason.
 * Each `payment_check` (a voucher) is verified here, locally: this channel, above the
 * last accepted amount, within the deposit, signed by the channel's voucher key. A good
 * one goes to the adapter ('voucher'), which journals it (fsync) and answers
 * `voucherAccepted(amount, increase)`: only then is the increase credited to the meter,
 * exactly as a prepaid payment's credit, and acknowledged with a channel_confirmed that
 * carries the new amount and balance. One voucher is journaled at a time; a newer one
 * arriving meanwhile waits (a higher one replaces it: amounts are cumulative). Refused
 * vouchers count toward PROOF_FLOOD like refused proofs.
 */
import { chargeFor, MIB } from '../../payment/amount.js';
import {
  buildTranscript, deriveSession, deriveSessionWithMac, generateEphemeral, signTranscript, walletFromSeed,
  type EphemeralKeyPair, type WalletKeypair,
} from '../../payment/session.js';
import type { MacKeys } from '../../payment/seedpay-mac.js';
import { MacChannel } from './mac-channel.js';
import { encodeTerms, validateTerms, type Terms } from '../../payment/terms.js';
import { resumeMessage, verifyResume } from '../../payment/resume.js';
import { voucherMessage, verifyVoucher } from '../../payment/channel/voucher.js';
import { channelOpenMessage, verifyChannelOpen } from '../../payment/channel/open-proof.js';
import { CHANNEL_MODE } from '../../payment/terms.js';
import { decodePublicKey58 } from '../../payment/session.js';
import { bytesEqual } from '../../wire/bytes.js';
import bs58 from 'bs58';
import type { RejectReason } from '../../payment/verify-rules.js';
import type { PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { SeedPayError, localError } from './errors.js';
import { creditWorthAbove, headroomWorth, Meter, toSafe, type MeterStats } from './meter.js';
import {
  decodeOrEnd, EXTENSION_NAME, type DecodedMessage, type SeedPayMessage,
} from './messages.js';
import type { NonSeedPayPolicy } from './policy.js';

/**
 * Signs session transcripts with the seller's wallet key. Kept behind this interface
 * so the wallet secret can stay outside the connection objects (or in a separate
 * process / hardware signer later).
 */
export interface Signer {
  /** The wallet address (base58) the terms name. */
  readonly wallet: string;
  /** ed25519 signature (64 bytes) over `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/** A Signer over an in-process wallet keypair. */
export function walletSigner(w: WalletKeypair): Signer {
  const seed = new Uint8Array(w.seed);
  return { wallet: w.address, sign: (m) => signTranscript(seed, m) };
}

/** A Signer from a 32-byte seed. */
export function seedSigner(seed: Uint8Array): Signer { return walletSigner(walletFromSeed(seed)); }

/** What the payment verifier (payment/verifier.ts) concluded, reduced to what the session needs. */
export type VerifyOutcome =
  | { readonly ok: true; readonly credited: bigint }
  | { readonly ok: false; readonly reason: RejectReason };

export interface SellerOptions {
  terms: Terms;
  /** The torrent's 20-byte info hash (HKDF salt and transcript). */
  infoHash: Uint8Array;
  signer: Signer;
  /** Peers without SeedPay: served free, or never unchoked (default 'free'). */
  policy?: NonSeedPayPolicy;
  /** Send payment_required when the balance covers less than this much data (default 4 MiB). */
  lowWaterBytes?: bigint;
  /** Free sample: piece indices announced with allowed_fast, and the most bytes served free. */
  freePieces?: Iterable<number>;
  freeBytes?: bigint;
  /** Proofs waiting behind the one being verified (default 4). */
  maxQueuedProofs?: number;
  /** Proofs refused without verification (queue full, replays) before the paid session ends (default 64). */
  maxRefusedProofs?: number;
  /** Verifications that credited nothing before the paid session ends (default 32). */
  maxFailedProofs?: number;
  /** Emit a 'charge' event every this many paid bytes (default 4 MiB). */
  chargeEventBytes?: bigint;
  /** Largest block a buyer asks for (for unchokeAllowed; default 16 KiB). */
  maxBlockLength?: number;
  /** Earlier sessions one session may resume (default 8). */
  maxResumes?: number;
  /** Ephemeral key source (tests and vectors); default a fresh random key. */
  ephemeral?: () => EphemeralKeyPair;
  /** Messages whose MAC failed before the paid session ends (default 16; sessions with message authentication). */
  maxBadMacs?: number;
  /** Payment channels: channels one session may name (each costs the adapter an RPC lookup; default 4). */
  maxChannelOpens?: number;
}

/** What the adapter found when it fetched a channel (payment/channel/check.ts). */
export type ChannelCheckOutcome =
  | {
    readonly ok: true;
    /** Total deposited; vouchers above it are refused. */
    readonly deposit: bigint;
    /** The key that signs the channel's vouchers (32 bytes). */
    readonly voucherKey: Uint8Array;
    /** The highest voucher amount the seller holds for the channel (or claimed on chain): the next must exceed it. */
    readonly accepted: bigint;
  }
  | { readonly ok: false; readonly reason: string };

/** Why a voucher is refused (the `reason` of payment_check_rejected). */
export type VoucherRefusal =
  | 'no_channel' | 'wrong_channel' | 'not_increasing' | 'above_deposit' | 'bad_signature' | 'channel_closed' | 'unavailable';

/** Default bound on messages dropped for a failed MAC before the paid session ends. */
export const DEFAULT_MAX_BAD_MACS = 16;

export type SellerState = 'pending' | 'non_seedpay' | 'awaiting_ecdh' | 'ready' | 'ended';

export type SellerEvent =
  /** The peer's first extended handshake classified it. */
  | { readonly type: 'peer'; readonly seedpay: boolean }
  /** ecdh_init answered: the paid session is bound. */
  | { readonly type: 'session'; readonly sessionHash: string }
  /**
   * Verify this proof (payment/verifier.ts), then call `verified(tx, outcome)`.
   * `linked`: earlier sessions this one resumed (memo session hash → payer allowed).
   */
  | { readonly type: 'verify'; readonly tx: string; readonly sessionHash: string; readonly linked: ReadonlyMap<string, string> }
  /**
   * A signed request to resume `prev` here (signature verified): move its unspent
   * balance (if `payer` paid all of it) and call `resumed(prev, moved)`, or
   * `resumeRejected(prev, reason)`.
   */
  | { readonly type: 'resume_request'; readonly prev: string; readonly payer: string; readonly sessionHash: string }
  /** `prev` resumed here: `moved` of its balance credited to this session. */
  | { readonly type: 'resumed'; readonly prev: string; readonly moved: bigint; readonly balance: bigint }
  | { readonly type: 'credited'; readonly tx: string; readonly credited: bigint; readonly balance: bigint }
  | { readonly type: 'rejected'; readonly tx: string; readonly reason: RejectReason }
  /** A confirmed payment left a positive balance: unchoke (service resumes at once). */
  | { readonly type: 'resume'; readonly balance: bigint }
  /**
   * This pending request is not served: reject it (fast) or choke (no fast). Reported
   * once per block per starvation episode.
   */
  | { readonly type: 'refuse'; readonly index: number; readonly begin: number; readonly length: number; readonly why: 'credit' | 'policy' | 'ended' }
  /** Charges accrued (journal them): totals so far. */
  | { readonly type: 'charge'; readonly charged: bigint; readonly paidBytes: bigint; readonly freeBytes: bigint; readonly credited: bigint }
  /**
   * Payment channels: fetch channel `channel` (base58) and check it for this session's
   * buyer wallet (payment/channel/check.ts), then call `channelChecked(channel, outcome)`.
   */
  | { readonly type: 'channel_check'; readonly channel: string; readonly buyer: string; readonly sessionHash: string }
  /** The channel is confirmed for this session (`accepted`: where vouchers continue). */
  | { readonly type: 'channel_confirmed'; readonly channel: string; readonly buyer: string; readonly accepted: bigint; readonly deposit: bigint }
  | { readonly type: 'channel_rejected'; readonly channel: string; readonly reason: string }
  /**
   * Journal this voucher (fsync), then call `voucherAccepted(amount, increase)` with its
   * increase over the last voucher of the channel, or `voucherRejected(amount, reason)`.
   */
  | { readonly type: 'voucher'; readonly channel: string; readonly amount: bigint; readonly sig: Uint8Array; readonly buyer: string; readonly sessionHash: string }
  /** A voucher was journaled and its increase credited. */
  | { readonly type: 'voucher_credited'; readonly channel: string; readonly amount: bigint; readonly increase: bigint; readonly balance: bigint }
  | { readonly type: 'voucher_rejected'; readonly channel: string; readonly amount: bigint; readonly reason: VoucherRefusal }
  /** The paid session ended (the peer broke the protocol); the connection may close. */
  | { readonly type: 'ended'; readonly error: SeedPayError };

/** The channel a session serves against, once confirmed. */
interface SessionChannel {
  readonly address: Uint8Array;
  readonly address58: string;
  readonly buyer: string;
  readonly voucherKey: Uint8Array;
  readonly deposit: bigint;
  /** The latest voucher amount journaled (or found) for the channel. */
  accepted: bigint;
  /** The voucher being journaled, and the newest one waiting behind it. */
  journaling: { amount: bigint; sig: Uint8Array } | null;
  waiting: { amount: bigint; sig: Uint8Array } | null;
  /** False once the channel is closed or expiring: no more vouchers. */
  usable: boolean;
}

/** Refusals waiting to be polled; beyond this the session is not polling and more events would only grow memory. */
const MAX_REFUSED_KEYS = 4096;

export class SellerSession {
  readonly terms: Terms;
  readonly meter: Meter;
  private readonly opts: SellerOptions;
  private readonly infoHash: Uint8Array;
  private readonly termsBencoded: Uint8Array;
  private readonly policy: NonSeedPayPolicy;
  private readonly lowWaterUnits: bigint;
  private readonly maxQueued: number;
  private readonly maxRefusedProofs: number;
  private readonly maxFailedProofs: number;
  private readonly chargeEventBytes: number;
  /**
   * The per-block low-water check in numbers. What the buyer has left —
   * balance + chargeFor(credit left) — is more than headroom × price / 2^20 − 1 units, so
   * while the meter's headroom is at least this many bytes it is not below low water and
   * the exact (bigint) check is skipped.
   */
  private readonly lowWaterHeadroom: number | null;
  /** Ratio credit left above this many bytes is worth at least lowWaterUnits. */
  private readonly lowWaterCreditBytes: number;
  private readonly maxBlock: number;

  private _state: SellerState = 'pending';
  private _sessionHash: string | null = null;
  private _error: SeedPayError | null = null;

  private inFlight: string | null = null;
  private readonly queue: string[] = [];
  private readonly credited = new Set<string>();
  private refusedProofs = 0;
  private failedProofs = 0;
  private readonly maxResumes: number;
  /** Resume requests by earlier session hash (kept when refused: each prev is answered once). */
  private readonly resumes = new Map<string, { payer: string; state: 'pending' | 'done' | 'rejected' }>();

  /** payment_required already sent for the current starvation / low-water episode. */
  private starvedSignalled = false;
  private lowWaterSignalled = false;
  /**
   * Blocks with a 'refuse' event not yet polled: a session that probes the gate twice
   * before acting gets one event, while a block requested again after its reject is
   * reported again (it needs its own reject).
   */
  private readonly refusedKeys = new Set<string>();
  private lastChargeEventAt = 0;

  private readonly events: SellerEvent[] = [];
  private readonly out: SeedPayMessage[] = [];

  /** The authenticated channel once bound with it (null: this session sends and accepts plain messages). */
  private mac: MacChannel | null = null;
  private readonly maxBadMacs: number;

  /** Which payment mode the buyer picked in this session (its first payment message decides). */
  private mode: 'none' | 'prepaid' | 'channel' = 'none';
  /** Payment channels: the program id of our terms (null: not offered). */
  private readonly programId: Uint8Array | null;
  /** The channel being checked by the adapter, and the one confirmed. */
  private checking: { channel: string; buyer: string; address: Uint8Array } | null = null;
  private _channel: SessionChannel | null = null;
  private channelOpens = 0;
  private readonly maxChannelOpens: number;

  constructor(o: SellerOptions) {
    validateTerms(o.terms);
    if (!(o.infoHash instanceof Uint8Array) || o.infoHash.length !== 20) throw localError('infoHash must be 20 bytes');
    if (o.signer.wallet !== o.terms.wallet) throw localError('the signer wallet is not the wallet in the terms');
    this.opts = o;
    this.terms = o.terms;
    this.infoHash = new Uint8Array(o.infoHash);
    this.termsBencoded = encodeTerms(o.terms);
    this.policy = o.policy ?? 'free';
    this.meter = new Meter({ price: o.terms.price, freePieces: o.freePieces, freeBytes: o.freeBytes });
    this.lowWaterUnits = chargeFor(o.lowWaterBytes ?? 4n * MIB, o.terms.price);
    this.maxQueued = o.maxQueuedProofs ?? 4;
    this.maxRefusedProofs = o.maxRefusedProofs ?? 64;
    this.maxFailedProofs = o.maxFailedProofs ?? 32;
    this.chargeEventBytes = toSafe(o.chargeEventBytes ?? 4n * MIB);
    this.lowWaterHeadroom = headroomWorth(this.lowWaterUnits, o.terms.price);
    this.lowWaterCreditBytes = creditWorthAbove(this.lowWaterUnits, o.terms.price);
    this.maxBlock = o.maxBlockLength ?? 16 * 1024;
    this.maxResumes = o.maxResumes ?? 8;
    this.maxBadMacs = o.maxBadMacs ?? DEFAULT_MAX_BAD_MACS;
    this.maxChannelOpens = o.maxChannelOpens ?? 4;
    this.programId = o.terms.modes.includes(CHANNEL_MODE) && o.terms.channel !== undefined ? decodePublicKey58(o.terms.channel) : null;
  }

  /** The payment mode this session's buyer picked ('none' before its first payment message). */
  get paymentMode(): 'none' | 'prepaid' | 'channel' { return this.mode; }
  /** The confirmed channel (base58), its latest accepted voucher, and whether it is still usable. */
  get channel(): { readonly address: string; readonly buyer: string; readonly accepted: bigint; readonly deposit: bigint; readonly usable: boolean } | null {
    const c = this._channel;
    return c === null ? null : { address: c.address58, buyer: c.buyer, accepted: c.accepted, deposit: c.deposit, usable: c.usable };
  }

  get state(): SellerState { return this._state; }
  get sessionHash(): string | null { return this._sessionHash; }
  get error(): SeedPayError | null { return this._error; }
  /** The proof being verified, if any, and how many wait. */
  get verifying(): string | null { return this.inFlight; }
  get queuedProofs(): number { return this.queue.length; }

  pollEvent(): SellerEvent | null {
    const ev = this.events.shift() ?? null;
    if (ev !== null && ev.type === 'refuse') this.refusedKeys.delete(`${ev.index}:${ev.begin}:${ev.length}`);
    return ev;
  }
  /** The next message to send; in a session with message authentication, tagged (its number is taken now). */
  pollTransmit(): SeedPayMessage | null {
    const m = this.out.shift();
    if (m === undefined) return null;
    return this.mac === null ? m : this.mac.seal(m);
  }

  /** Whether this session authenticates its messages (bound with a buyer that asked for it). */
  get authenticated(): boolean { return this.mac !== null; }
  /** Messages dropped because their MAC failed. */
  get badMacs(): number { return this.mac?.rejected ?? 0; }

  stats(): MeterStats { return this.meter.stats(); }

  /** The peer's extended handshake (each one is reported; the first one classifies). */
  onPeerHandshake(hs: PeerExtendedHandshake): void {
    if (this._state !== 'pending') return; // no re-classification: a paid session cannot turn free
    const seedpay = hs.m.has(EXTENSION_NAME);
    this._state = seedpay ? 'awaiting_ecdh' : 'non_seedpay';
    this.events.push({ type: 'peer', seedpay });
  }

  /** One `seedpay` payload from the peer. Malformed input ends the paid session (never throws). */
  receivePayload(payload: Uint8Array): void {
    if (this._state === 'ended') return;
    // Authenticated session: the tag is checked before anything else, malformed bytes
    // included (they may be injected: dropped, not an end of the session).
    if (this.mac !== null && !this.mac.acceptPayload(payload)) return this.badMac();
    const m = decodeOrEnd(payload, (e) => this.end(e));
    if (m !== null) this.handle(m);
  }

  /**
   * One decoded message from the peer (typed input). In a session with message
   * authentication its `mac` is checked against the canonical encoding of its fields.
   */
  receive(m: DecodedMessage): void {
    if (this._state === 'ended') return;
    if (this.mac !== null && !this.mac.acceptMessage(m)) return this.badMac();
    this.handle(m);
  }

  /** A message whose MAC failed: dropped and counted; too many end the paid session. */
  private badMac(): void {
    if (this.mac !== null && this.mac.rejected > this.maxBadMacs) {
      this.end(new SeedPayError('BAD_MAC', `more than ${this.maxBadMacs} messages with a bad MAC`));
    }
  }

  private handle(m: DecodedMessage): void {
    if (this._state === 'ended' || m.type === 'unknown') return;
    if (this._state === 'pending' || this._state === 'non_seedpay') {
      this.end(new SeedPayError('NOT_NEGOTIATED', `${m.type} from a peer that did not list seedpay`));
      return;
    }
    switch (m.type) {
      case 'ecdh_init': return this.onEcdhInit(m.pk, m.sig, m.wantMac === true);
      case 'payment_proof':
        if (!this.pickMode('prepaid', m.type)) return;
        return this.onProof(m.tx);
      case 'session_resume':
        // Not offered: to this seller it is an unknown message (ignored, SEEDPAY.md §8).
        if (this.terms.resume !== true) return;
        if (!this.pickMode('prepaid', m.type)) return;
        return this.onResume(m.prev, m.payer, m.sig);
      case 'channel_opened':
        if (this.programId === null) return; // channels not offered: an unknown message to us
        return this.onChannelOpened(m.channel, m.buyer, m.sig);
      case 'payment_check':
        if (this.programId === null) return;
        return this.onPaymentCheck(m.channel, m.amount, m.sig);
      case 'channel_closed':
        // The buyer will not pay into this channel any more: nothing waits for it.
        if (this._channel !== null && bytesEqual(m.channel, this._channel.address)) this.closeChannel(null);
        return;
      default:
        this.end(new SeedPayError('UNEXPECTED_MESSAGE', `${m.type} is a seller→buyer message`));
    }
  }

  private onEcdhInit(buyerPk: Uint8Array, sig: Uint8Array | undefined, wantMac: boolean): void {
    if (this._state !== 'awaiting_ecdh') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'a second ecdh_init (a session is bound once per connection)'));
      return;
    }
    if (sig !== undefined) {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'ecdh_init with sig: the buyer does not sign'));
      return;
    }
    // Message authentication: offered by our terms and asked for by the buyer. The
    // transcript we sign says so, so a man in the middle cannot add or strip the request.
    const mac = this.terms.mac === true && wantMac;
    const eph = (this.opts.ephemeral ?? generateEphemeral)();
    let sessionHash: string;
    let macKeys: MacKeys | null = null;
    try {
      const args = { ownSecret: eph.secret, peerPublic: buyerPk, infoHash: this.infoHash };
      if (mac) {
        const k = deriveSessionWithMac(args);
        sessionHash = k.sessionHash;
        macKeys = k.mac;
      } else {
        sessionHash = deriveSession(args).sessionHash;
      }
    } catch (e) {
      this.end(new SeedPayError('BAD_SESSION_KEY', `ecdh_init: ${e instanceof Error ? e.message : String(e)}`));
      return;
    } finally {
      eph.secret.fill(0); // the ephemeral secret is not needed past the derivation
    }
    const transcript = buildTranscript({
      infoHash: this.infoHash, sellerPublic: eph.public, buyerPublic: buyerPk, termsBencoded: this.termsBencoded, mac,
    });
    const signature = this.opts.signer.sign(transcript);
    this._sessionHash = sessionHash;
    this.mac = macKeys === null ? null : MacChannel.seller(macKeys);
    this._state = 'ready';
    this.out.push({ type: 'ecdh_init', pk: eph.public, sig: signature });
    this.events.push({ type: 'session', sessionHash });
  }

  /**
   * The buyer's payment message picks this session's mode (once the session is bound);
   * a message of the other mode ends the paid session. False: ended.
   */
  private pickMode(mode: 'prepaid' | 'channel', what: string): boolean {
    if (this._state !== 'ready') return true; // the handlers end it as before
    const busy = this.mode === 'none' && mode === 'prepaid' && this.checking !== null;
    if ((this.mode !== 'none' && this.mode !== mode) || busy) {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', `${what} in a session paying by ${this.mode === 'none' ? 'channel' : this.mode}`));
      return false;
    }
    if (mode === 'prepaid') this.mode = 'prepaid';
    return true;
  }

  /** A refused payment message (proof, resume, channel, voucher): counted; too many end the paid session. */
  private refused(): boolean {
    if (++this.refusedProofs > this.maxRefusedProofs) {
      this.end(new SeedPayError('PROOF_FLOOD', `more than ${this.maxRefusedProofs} payment messages refused`));
      return false;
    }
    return true;
  }

  private onChannelOpened(address: Uint8Array, buyerKey: Uint8Array, sig: Uint8Array): void {
    if (this._state !== 'ready') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'channel_opened before the session is bound'));
      return;
    }
    if (this.mode === 'prepaid') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'channel_opened in a session paying prepaid'));
      return;
    }
    if (this.checking !== null) return; // answered once the check is done
    let reason: string | null = null;
    if (this._channel !== null) reason = 'already_open';
    else if (this.channelOpens >= this.maxChannelOpens) reason = 'too_many';
    else if (!verifyChannelOpen(buyerKey, channelOpenMessage(this.infoHash, this._sessionHash!, address), sig)) reason = 'bad_signature';
    if (reason !== null) {
      if (!this.refused()) return;
      this.out.push({ type: 'channel_rejected', channel: address, reason });
      return;
    }
    this.channelOpens++;
    const channel = bs58.encode(address);
    const buyer = bs58.encode(buyerKey);
    this.checking = { channel, buyer, address: address.slice() };
    this.events.push({ type: 'channel_check', channel, buyer, sessionHash: this._sessionHash! });
  }

  /**
   * The adapter's verdict on the channel being checked. A channel that fails is
   * refused before anything is served against it.
   */
  channelChecked(channel: string, outcome: ChannelCheckOutcome): void {
    const c = this.checking;
    if (c === null || c.channel !== channel) throw localError(`channelChecked(${channel}): no such check in flight`);
    this.checking = null;
    if (this._state !== 'ready') return;
    if (!outcome.ok) {
      this.out.push({ type: 'channel_rejected', channel: c.address, reason: outcome.reason });
      this.events.push({ type: 'channel_rejected', channel, reason: outcome.reason });
      this.refused();
      return;
    }
    if (!(outcome.voucherKey instanceof Uint8Array) || outcome.voucherKey.length !== 32 || outcome.accepted < 0n || outcome.deposit <= outcome.accepted) {
      throw localError('channelChecked: a usable channel needs a 32-byte voucher key and deposit > accepted >= 0');
    }
    this.mode = 'channel';
    this._channel = {
      address: c.address, address58: channel, buyer: c.buyer, voucherKey: outcome.voucherKey.slice(), deposit: outcome.deposit,
      accepted: outcome.accepted, journaling: null, waiting: null, usable: true,
    };
    this.out.push({ type: 'channel_confirmed', channel: c.address, accepted: outcome.accepted, balance: this.meter.balance });
    this.events.push({ type: 'channel_confirmed', channel, buyer: c.buyer, accepted: outcome.accepted, deposit: outcome.deposit });
  }

  private onPaymentCheck(address: Uint8Array, amount: bigint, sig: Uint8Array): void {
    if (this._state !== 'ready') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'payment_check before the session is bound'));
      return;
    }
    if (this.mode === 'prepaid') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'payment_check in a session paying prepaid'));
      return;
    }
    const c = this._channel;
    let reason: VoucherRefusal | null = null;
    if (c === null) reason = 'no_channel';
    else if (!bytesEqual(address, c.address)) reason = 'wrong_channel';
    else if (!c.usable) reason = 'channel_closed';
    else if (amount <= c.accepted || (c.journaling !== null && amount <= c.journaling.amount) || (c.waiting !== null && amount <= c.waiting.amount)) reason = 'not_increasing';
    else if (amount > c.deposit) reason = 'above_deposit';
    else if (!verifyVoucher(c.voucherKey, voucherMessage({ programId: this.programId!, channel: c.address, amount }), sig)) reason = 'bad_signature';
    if (reason !== null) {
      if (!this.refused()) return;
      this.out.push({ type: 'payment_check_rejected', channel: address, amount, reason });
      this.events.push({ type: 'voucher_rejected', channel: bs58.encode(address), amount, reason });
      return;
    }
    const v = { amount, sig: sig.slice() };
    if (c!.journaling !== null) {
      c!.waiting = v; // cumulative: the newest supersedes any older one waiting
      return;
    }
    this.journalVoucher(c!, v);
  }

  private journalVoucher(c: SessionChannel, v: { amount: bigint; sig: Uint8Array }): void {
    c.journaling = v;
    this.events.push({ type: 'voucher', channel: c.address58, amount: v.amount, sig: v.sig, buyer: c.buyer, sessionHash: this._sessionHash! });
  }

  /**
   * The adapter journaled the voucher being journaled (fsync): its `increase` over the
   * channel's previous voucher is credited now. Counted even if the paid session ended
   * meanwhile (the voucher is the seller's money).
   */
  voucherAccepted(amount: bigint, increase: bigint): void {
    const c = this._channel;
    if (c === null || c.journaling === null || c.journaling.amount !== amount) throw localError(`voucherAccepted(${amount}): not the voucher being journaled`);
    if (typeof increase !== 'bigint' || increase < 0n) throw localError('increase must be a bigint >= 0');
    c.journaling = null;
    if (amount > c.accepted) c.accepted = amount;
    this.meter.credit(increase);
    const balance = this.meter.balance;
    this.events.push({ type: 'voucher_credited', channel: c.address58, amount, increase, balance });
    if (this._state === 'ready') {
      this.out.push({ type: 'channel_confirmed', channel: c.address, accepted: c.accepted, balance });
      this.creditArrived(balance);
    }
    this.nextVoucher(c);
  }

  /** The adapter could not journal the voucher (another session's was higher: not_increasing; the journal failed: unavailable). */
  voucherRejected(amount: bigint, reason: VoucherRefusal): void {
    const c = this._channel;
    if (c === null || c.journaling === null || c.journaling.amount !== amount) throw localError(`voucherRejected(${amount}): not the voucher being journaled`);
    c.journaling = null;
    if (this._state === 'ready') this.out.push({ type: 'payment_check_rejected', channel: c.address, amount, reason });
    this.events.push({ type: 'voucher_rejected', channel: c.address58, amount, reason });
    this.nextVoucher(c);
  }

  private nextVoucher(c: SessionChannel): void {
    const w = c.waiting;
    c.waiting = null;
    if (w !== null && this._state === 'ready' && c.usable && w.amount > c.accepted) this.journalVoucher(c, w);
  }

  /**
   * The channel can no longer be paid into (claimed and closed, or about to expire): no
   * more vouchers; the buyer hears channel_closed. Credit already granted stays.
   */
  closeChannel(reason: string | null): void {
    const c = this._channel;
    if (c === null || !c.usable) return;
    c.usable = false;
    c.waiting = null;
    if (reason !== null && this._state === 'ready') this.out.push({ type: 'channel_closed', channel: c.address, reason });
  }

  /** A credit (payment, resume, voucher) left `balance`: a new episode, and service resumes. */
  private creditArrived(balance: bigint): void {
    this.starvedSignalled = false;
    if (balance >= this.lowWaterUnits) this.lowWaterSignalled = false;
    if (this._state === 'ready' && balance > 0n) this.events.push({ type: 'resume', balance });
  }

  /** Ask for money the way this session pays: payment_check_required in channel mode, else payment_required. */
  private askForMoney(balance: bigint, units: bigint): void {
    const c = this._channel;
    if (this.mode === 'channel' && c !== null) {
      if (!c.usable) return;
      const wanted = c.accepted + (units > 0n ? units : 1n);
      this.out.push({ type: 'payment_check_required', channel: c.address, accepted: c.accepted, balance, required: wanted < c.deposit ? wanted : c.deposit });
      return;
    }
    if (this.checking !== null) return; // the buyer is opening a channel: it pays once confirmed
    this.out.push({ type: 'payment_required', balance, required: this.required(units) });
  }

  private onProof(tx: string): void {
    if (this._state !== 'ready') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'payment_proof before the session is bound'));
      return;
    }
    if (tx === this.inFlight || this.queue.includes(tx)) return; // will be answered once
    const replay = this.credited.has(tx);
    if (replay || (this.inFlight !== null && this.queue.length >= this.maxQueued)) {
      if (++this.refusedProofs > this.maxRefusedProofs) {
        this.end(new SeedPayError('PROOF_FLOOD', `more than ${this.maxRefusedProofs} proofs refused without verification`));
        return;
      }
      this.reject(tx, replay ? 'replayed_tx' : 'rpc_unavailable');
      return;
    }
    this.queue.push(tx);
    this.pump();
  }

  private pump(): void {
    if (this.inFlight !== null || this.queue.length === 0 || this._state !== 'ready') return;
    const tx = this.queue.shift()!;
    this.inFlight = tx;
    this.events.push({ type: 'verify', tx, sessionHash: this._sessionHash!, linked: this.linked() });
  }

  /** Earlier sessions resumed here: memo session hash → the payer whose payments naming it count here. */
  linked(): ReadonlyMap<string, string> {
    const m = new Map<string, string>();
    for (const [prev, r] of this.resumes) if (r.state === 'done') m.set(prev, r.payer);
    return m;
  }

  private onResume(prev: string, payerKey: Uint8Array, sig: Uint8Array): void {
    if (this._state !== 'ready') {
      this.end(new SeedPayError('UNEXPECTED_MESSAGE', 'session_resume before the session is bound'));
      return;
    }
    if (this.resumes.has(prev)) return; // answered once
    let reason: string | null = null;
    if (prev === this._sessionHash) reason = 'same_session';
    else if (this.resumes.size >= this.maxResumes) reason = 'too_many';
    else if (!verifyResume(payerKey, resumeMessage(this.infoHash, prev, this._sessionHash!), sig)) reason = 'bad_signature';
    if (reason !== null) {
      if (++this.refusedProofs > this.maxRefusedProofs) {
        this.end(new SeedPayError('PROOF_FLOOD', `more than ${this.maxRefusedProofs} proofs or resumes refused`));
        return;
      }
      this.out.push({ type: 'resume_rejected', prev, reason });
      return;
    }
    const payer = bs58.encode(payerKey);
    this.resumes.set(prev, { payer, state: 'pending' });
    this.events.push({ type: 'resume_request', prev, payer, sessionHash: this._sessionHash! });
  }

  /** The adapter moved `moved` of `prev`'s balance here (journaled) and linked it. */
  resumed(prev: string, moved: bigint): void {
    const r = this.resumes.get(prev);
    if (r === undefined || r.state !== 'pending') throw localError(`resumed(${prev}): no resume request pending`);
    if (typeof moved !== 'bigint' || moved < 0n) throw localError('moved must be a bigint >= 0');
    r.state = 'done';
    // Counted even if the paid session ended meanwhile: the transfer is journaled.
    if (moved > 0n) this.meter.credit(moved);
    const balance = this.meter.balance;
    this.out.push({ type: 'session_resumed', prev, credited: moved, balance });
    this.events.push({ type: 'resumed', prev, moved, balance });
    if (moved > 0n) {
      this.starvedSignalled = false;
      if (balance >= this.lowWaterUnits) this.lowWaterSignalled = false;
      if (this._state === 'ready' && balance > 0n) this.events.push({ type: 'resume', balance });
    }
  }

  /**
   * Ratio credits (docs/PROTOCOL.md §10; terms with `ratio`): the buyer's credit
   * identity is decided on this connection and the node set aside credit for this
   * session, which pays for `served` more piece bytes (0: none); `creditLeft` is what
   * the identity holds beyond it. The buyer hears it in a `credit_state` and the meter
   * serves those bytes before it charges money. Only in a bound session.
   */
  grantCredit(served: bigint, creditLeft: bigint): void {
    if (typeof served !== 'bigint' || served < 0n || typeof creditLeft !== 'bigint' || creditLeft < 0n) throw localError('credit must be bigints >= 0');
    if (this._state !== 'ready' || this.terms.ratio === undefined) return;
    this.meter.allowCredit(served);
    this.out.push({ type: 'credit_state', served: this.meter.creditAllowance, credit: creditLeft });
    if (served > 0n) {
      this.starvedSignalled = false;
      this.lowWaterSignalled = false;
      if (this.meter.covers(this.maxBlock)) this.events.push({ type: 'resume', balance: this.meter.balance });
    }
  }

  /** The adapter refused to resume `prev` (wrong_payer, unavailable, …). */
  resumeRejected(prev: string, reason: string): void {
    const r = this.resumes.get(prev);
    if (r === undefined || r.state !== 'pending') throw localError(`resumeRejected(${prev}): no resume request pending`);
    r.state = 'rejected';
    this.out.push({ type: 'resume_rejected', prev, reason });
  }

  private reject(tx: string, reason: RejectReason): void {
    this.out.push({ type: 'payment_rejected', tx, reason });
    this.events.push({ type: 'rejected', tx, reason });
  }

  /**
   * The verifier's answer for the proof in flight. A credit is counted even if the
   * paid session ended meanwhile (the verifier journaled it; it is the seller's money).
   */
  verified(tx: string, outcome: VerifyOutcome): void {
    if (tx !== this.inFlight) throw localError(`verified(${tx}): not the proof in flight`);
    this.inFlight = null;
    if (outcome.ok) {
      if (typeof outcome.credited !== 'bigint' || outcome.credited < 0n) throw localError('credited must be a bigint >= 0');
      this.credited.add(tx);
      this.meter.credit(outcome.credited);
      const balance = this.meter.balance;
      this.out.push({ type: 'payment_confirmed', tx, credited: outcome.credited, balance });
      this.events.push({ type: 'credited', tx, credited: outcome.credited, balance });
      // A new episode: the next shortage (or low-water crossing) is signalled again.
      this.starvedSignalled = false;
      if (balance >= this.lowWaterUnits) this.lowWaterSignalled = false;
      if (this._state === 'ready' && balance > 0n) this.events.push({ type: 'resume', balance });
    } else {
      this.reject(tx, outcome.reason);
      if (++this.failedProofs > this.maxFailedProofs && this._state !== 'ended') {
        this.end(new SeedPayError('PROOF_FLOOD', `more than ${this.maxFailedProofs} proofs credited nothing`));
      }
    }
    this.pump();
  }

  /** Would this block be served now? Pure (no events, no messages). */
  wouldServe(index: number, length: number): boolean {
    switch (this._state) {
      case 'pending':
      case 'non_seedpay':
        return this.policy === 'free';
      case 'ended':
        return false;
      default:
        return this.meter.classify(index, length) !== 'uncovered';
    }
  }

  /**
   * The piece gate. When the answer is no, the block is reported with a 'refuse' event
   * (once until polled) and — in a bound session, once per starvation episode, which a
   * new credit ends — the buyer gets payment_required.
   */
  canSendPiece(index: number, begin: number, length: number): boolean {
    if (this.wouldServe(index, length)) return true;
    const why = this._state === 'ended' ? 'ended' : this._state === 'pending' || this._state === 'non_seedpay' ? 'policy' : 'credit';
    const key = `${index}:${begin}:${length}`;
    if (!this.refusedKeys.has(key) && this.refusedKeys.size < MAX_REFUSED_KEYS) {
      this.refusedKeys.add(key);
      this.events.push({ type: 'refuse', index, begin, length, why });
    }
    if (why === 'credit' && this._state === 'ready' && !this.starvedSignalled) {
      this.starvedSignalled = true;
      this.lowWaterSignalled = true;
      this.askForMoney(this.meter.balance, this.meter.shortfall(length));
    }
    return false;
  }

  /** A block went out (after canSendPiece said yes). */
  sent(index: number, _begin: number, length: number): void {
    if (this._state === 'pending' || this._state === 'non_seedpay') return; // policy 'free': not metered
    const c = this.meter.record(index, length);
    if (c === 'free') return;
    // Credit first: money is asked for only once the ratio credit left is below low water.
    if (c === 'credit' && this.creditAboveLowWater()) return;
    const paid = this.meter.paidBytesCount;
    if (paid - this.lastChargeEventAt >= this.chargeEventBytes) {
      this.lastChargeEventAt = paid;
      const s = this.meter.stats();
      this.events.push({ type: 'charge', charged: s.charged, paidBytes: s.paidBytes, freeBytes: s.freeBytes, credited: s.credited });
    }
    if (this._state !== 'ready' || this.lowWaterSignalled) return;
    if (this.lowWaterHeadroom !== null && this.meter.headroom >= this.lowWaterHeadroom) return;
    const balance = this.meter.balance;
    if (balance + chargeFor(this.meter.creditLeft, this.terms.price) < this.lowWaterUnits) {
      this.lowWaterSignalled = true;
      this.askForMoney(balance, this.lowWaterUnits - balance);
    }
  }

  /** chargeFor(creditLeft) >= lowWaterUnits, in numbers. */
  private creditAboveLowWater(): boolean { return this.meter.creditLeftCount > this.lowWaterCreditBytes; }

  /** The smallest payment worth asking for: at least min_prepay (what the seller credits). */
  private required(units: bigint): bigint {
    return units > this.terms.minPrepay ? units : this.terms.minPrepay;
  }

  /**
   * For the choker's filter: may this peer be unchoked now? Free peers by policy;
   * SeedPay buyers only while their balance covers a full block (unchoking a buyer
   * without credit would only make it request blocks to be refused).
   */
  unchokeAllowed(): boolean {
    switch (this._state) {
      case 'pending':
      case 'non_seedpay':
        return this.policy === 'free';
      case 'ready':
        return this.meter.covers(this.maxBlock);
      default:
        return false;
    }
  }

  /** End the paid session (peer misbehaviour). Nothing more is served on credit. */
  end(error: SeedPayError): void {
    if (this._state === 'ended') return;
    this._state = 'ended';
    this._error = error;
    this.queue.length = 0;
    this.events.push({ type: 'ended', error });
  }
}

