/**
 * The SeedPay hooks: plug the sans-IO seller / buyer state machines into one
 * connection (wire/extension-hooks.ts). One hook object per connection; a torrent
 * plugin (lib/paid) or the registry creates them.
 *
 * Each hook handles its state machine's output right where it arises: messages go
 * out by `ctx.send`, what concerns the connection (refuse a request, serve again,
 * refill our requests, close) goes to `ctx.control`, and what needs the node — a
 * proof to verify on the chain, a payment to make, a charge to journal — goes to the
 * hook's driver, which answers later through `verified` / `paid` / … . Without a
 * driver (tests of the state machines), those events wait for `pollEvent()`.
 *
 * The hooks never throw into the connection: a malformed SeedPay message ends the
 * paid session (an 'ended' event, and the connection is closed), not the process.
 */
import type { Encodable } from '../../wire/bencode.js';
import type { ExtensionContext, ExtensionHook, HookCloseReason, PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import type { PeerConnection } from '../../wire/connection.js';
import { BuyerSession, type BuyerEvent, type BuyerOptions, type ChannelReady, type PayFailure } from './buyer-session.js';
import { addTermsToHandshake } from './classify.js';
import { SeedPayError } from './errors.js';
import type { MeterStats } from './meter.js';
import { encodeMessage, EXTENSION_NAME, type SeedPayMessage } from './messages.js';
import {
  SellerSession, type ChannelCheckOutcome, type SellerEvent, type SellerOptions, type VerifyOutcome, type VoucherRefusal,
} from './seller-session.js';

interface Machine {
  pollTransmit(): SeedPayMessage | null;
  end(e: SeedPayError): void;
}

/** Send whatever the state machine queued. A send the connection refuses ends the paid session. */
function flush(m: Machine, ctx: ExtensionContext | null): void {
  for (let msg = m.pollTransmit(); msg !== null; msg = m.pollTransmit()) {
    try {
      if (ctx === null) throw new Error('hook not attached');
      ctx.send(encodeMessage(msg));
    } catch (e) {
      m.end(new SeedPayError('NOT_NEGOTIATED', `cannot send ${msg.type}: ${e instanceof Error ? e.message : String(e)}`, false));
      // Drain what is left: nothing more can go out.
      while (m.pollTransmit() !== null) { /* drop */ }
      return;
    }
  }
}

/**
 * How long a buyer with a credit identity waits, once its session is bound, for the
 * seller's credit_state before paying as without credit. An honest seller decides our
 * identity within a round trip or two of the binding; one that never does must not hold
 * the transfer.
 */
export const CREDIT_WAIT_MS = 10_000;

/** What the seller's hook needs of its node (lib/paid): the chain, the journal, the books. */
export interface SellerDriver {
  /** Verify this proof (RPC, then journal the credit); answer with `hook.verified`. */
  verify(hook: SellerHook, req: Extract<SellerEvent, { type: 'verify' }>): void;
  /** Move an earlier session's unspent balance here; answer with `hook.resumed` or `hook.resumeRejected`. */
  resume(hook: SellerHook, req: Extract<SellerEvent, { type: 'resume_request' }>): void;
  /** Journal the session's cumulative charge (`hook.stats()`). */
  charge(hook: SellerHook): void;
  /** Payment channels (terms with mode `channel`): fetch and check the channel; answer with `hook.channelChecked`. */
  checkChannel(hook: SellerHook, req: Extract<SellerEvent, { type: 'channel_check' }>): void;
  /** Payment channels: journal the voucher (fsync); answer with `hook.voucherAccepted` or `hook.voucherRejected`. */
  voucher(hook: SellerHook, req: Extract<SellerEvent, { type: 'voucher' }>): void;
  /** What the state machine reports for the node's books and events (session, credited, rejected, resumed, ended). */
  event(hook: SellerHook, ev: SellerEvent): void;
  /** The connection is gone. */
  connectionClosed(hook: SellerHook, reason: HookCloseReason): void;
}

/** What the buyer's hook needs of its node: the payer, the journal, the books. */
export interface BuyerDriver {
  /** Make this payment (journal it, send it); answer with `hook.paid` or `hook.payFailed`. */
  pay(hook: BuyerHook, req: Extract<BuyerEvent, { type: 'pay' }>): void;
  /** Payment channels: name (or open) our channel for this seller; answer with `hook.channelReady` or `hook.channelFailed`. */
  channel(hook: BuyerHook, req: Extract<BuyerEvent, { type: 'channel_needed' }>): void;
  /** Payment channels: journal and sign a raised voucher; answer with `hook.voucherSigned` or `hook.voucherFailed`. */
  voucher(hook: BuyerHook, req: Extract<BuyerEvent, { type: 'voucher' }>): void;
  /** What the state machine reports (session, confirmed, rejected, stopped, …). */
  event(hook: BuyerHook, ev: BuyerEvent): void;
  /** The connection is gone. */
  connectionClosed(hook: BuyerHook, reason: HookCloseReason): void;
}

/** The seller's hook: terms in the handshake, session binding, proofs, and the piece gate. */
export class SellerHook implements ExtensionHook {
  readonly name = EXTENSION_NAME;
  readonly seller: SellerSession;
  private ctx: ExtensionContext | null = null;
  private readonly driver: SellerDriver | null;
  private readonly unpolled: SellerEvent[] = [];
  private closedFlag = false;
  /** The node closed this connection: nothing more is served on it. */
  private stopped = false;

  constructor(opts: SellerOptions, driver: SellerDriver | null = null) {
    this.seller = new SellerSession(opts);
    this.driver = driver;
  }

  get isClosed(): boolean { return this.closedFlag; }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  addHandshakeKeys(dict: Map<string, Encodable>): void { addTermsToHandshake(dict, this.seller.terms); }

  /** Always stays active: even for peers without SeedPay the gate applies the policy. */
  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    this.seller.onPeerHandshake(hs);
    this.pump(false);
    return true;
  }

  onMessage(payload: Uint8Array): void {
    this.seller.receivePayload(payload);
    this.pump(false);
  }

  canSendPiece(index: number, begin: number, length: number): boolean {
    if (this.stopped) return false;
    const ok = this.seller.canSendPiece(index, begin, length);
    if (!ok) this.pump(false);
    return ok;
  }

  onPieceSent(index: number, begin: number, length: number): void {
    this.seller.sent(index, begin, length);
    this.pump(false);
  }

  onClose(reason: HookCloseReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.driver?.connectionClosed(this, reason);
  }

  /** The driver's answer for a 'verify' request. */
  verified(tx: string, outcome: VerifyOutcome): void {
    this.seller.verified(tx, outcome);
    this.pump(true);
  }

  /** The driver's answer for a 'resume_request' (session resume). */
  resumed(prev: string, moved: bigint): void {
    this.seller.resumed(prev, moved);
    this.pump(true);
  }

  resumeRejected(prev: string, reason: string): void {
    this.seller.resumeRejected(prev, reason);
    this.pump(true);
  }

  /** Payment channels: the driver's verdict on a 'channel_check'. */
  channelChecked(channel: string, outcome: ChannelCheckOutcome): void {
    this.seller.channelChecked(channel, outcome);
    this.pump(true);
  }

  /** Payment channels: the voucher is journaled; its increase is credited now. */
  voucherAccepted(amount: bigint, increase: bigint): void {
    this.seller.voucherAccepted(amount, increase);
    this.pump(true);
  }

  voucherRejected(amount: bigint, reason: VoucherRefusal): void {
    this.seller.voucherRejected(amount, reason);
    this.pump(true);
  }

  /** Payment channels: the channel was claimed and closed, or expires soon: no more vouchers on it. */
  closeChannel(reason: string): void {
    this.seller.closeChannel(reason);
    this.pump(true);
  }

  /** Ratio credits: the node set aside credit paying for `served` piece bytes of this session (see SellerSession.grantCredit). */
  grantCredit(served: bigint, creditLeft: bigint): void {
    this.seller.grantCredit(served, creditLeft);
    this.pump(true);
  }

  /** For the choker's filter (policy 'paid-only', buyers without credit). */
  unchokeAllowed(): boolean { return !this.stopped && this.seller.unchokeAllowed(); }

  /** The node ends this connection (its session resumed on another): from now on nothing is served. */
  closeConnection(): void {
    this.stopped = true;
    this.ctx?.control.close('CLOSED');
    this.ctx?.control.flush();
  }

  stats(): MeterStats { return this.seller.stats(); }

  /** Without a driver: the next event the state machine reported. */
  pollEvent(): SellerEvent | null { return this.unpolled.shift() ?? null; }

  /**
   * Send what the state machine queued and act on its events. `external`: called from
   * outside the connection's own event handling, so ask the adapter to flush.
   */
  private pump(external: boolean): void {
    flush(this.seller, this.ctx);
    const control = this.ctx?.control;
    let acted = external;
    for (let ev = this.seller.pollEvent(); ev !== null; ev = this.seller.pollEvent()) {
      acted = true;
      switch (ev.type) {
        case 'refuse':
          // The serving path refused the block already; this covers one refused outside it.
          control?.reject(ev.index, ev.begin, ev.length);
          break;
        case 'resume':
          control?.unchoke();
          break;
        case 'ended':
          // The buyer's fault (remote): a typed close its address is throttled for. Not
          // for bad MACs: a third party on the path may have injected them, and a ban
          // would be theirs to inflict on an honest address.
          control?.close(ev.error.remote && ev.error.code !== 'BAD_MAC' ? 'EXTENSION_VIOLATION' : 'CLOSED', ev.error);
          break;
        default:
          break;
      }
      const d = this.driver;
      if (d === null) { this.unpolled.push(ev); continue; }
      if (ev.type === 'verify') d.verify(this, ev);
      else if (ev.type === 'channel_check') d.checkChannel(this, ev);
      else if (ev.type === 'voucher') d.voucher(this, ev);
      else if (ev.type === 'resume_request') d.resume(this, ev);
      else if (ev.type === 'charge') d.charge(this);
      else d.event(this, ev);
    }
    if (acted) control?.flush();
  }
}

/** The buyer's hook: `seedpay` in `m` (no terms), session binding, payments and proofs. */
export class BuyerHook implements ExtensionHook {
  readonly name = EXTENSION_NAME;
  readonly buyer: BuyerSession;
  private ctx: ExtensionContext | null = null;
  private readonly driver: BuyerDriver | null;
  private readonly unpolled: BuyerEvent[] = [];
  /** Proofs to resend (a transient rejection): tx → when (the control's clock, ms). */
  private readonly retryAt = new Map<string, number>();
  /** When the bound session started waiting for the seller's credit_state (the control's clock, ms). */
  private creditWaitSince: number | null = null;
  private closedFlag = false;

  constructor(opts: BuyerOptions, driver: BuyerDriver | null = null) {
    this.buyer = new BuyerSession(opts);
    this.driver = driver;
  }

  get isClosed(): boolean { return this.closedFlag; }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  /** Keeps itself only for a seller whose terms parse and pass the policy. */
  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    const keep = this.buyer.onPeerHandshake(hs);
    this.pump(false);
    return keep;
  }

  onMessage(payload: Uint8Array): void {
    this.buyer.receivePayload(payload);
    this.pump(false);
  }

  onPieceReceived(index: number, _begin: number, length: number): void {
    this.buyer.pieceReceived(length, index);
    this.pump(false);
  }

  /** The seller refused a request: out of our credit, so a top-up if the policy allows one. */
  onRequestRejected(): void {
    if (this.buyer.state !== 'ready') return;
    this.buyer.topUp();
    this.pump(false);
  }

  /** Resend the proofs whose retry time has come; stop waiting for a credit_state that is late. */
  tick(now: number): void {
    if (this.buyer.waitingForCredit && this.buyer.state === 'ready') {
      this.creditWaitSince ??= now;
      if (now - this.creditWaitSince >= CREDIT_WAIT_MS) {
        this.buyer.giveUpOnCredit();
        this.pump(true);
      }
    }
    if (this.retryAt.size === 0) return;
    let due = false;
    for (const [tx, at] of this.retryAt) {
      if (at > now) continue;
      this.retryAt.delete(tx);
      this.buyer.retryProof(tx);
      due = true;
    }
    if (due) this.pump(true);
  }

  onClose(reason: HookCloseReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.retryAt.clear();
    this.buyer.connectionClosed();
    this.driver?.connectionClosed(this, reason);
  }

  // Answers and inputs from outside the connection's event handling (the payer, the
  // torrent's hash checks, the node's resume bookkeeping): the adapter is asked to flush.
  paid(tx: string, amount: bigint): void { this.buyer.paid(tx, amount); this.pump(true); }
  payFailed(err: PayFailure): void { this.buyer.payFailed(err); this.pump(true); }
  pieceVerified(index: number, ok: boolean): void { this.buyer.pieceVerified(index, ok); this.pump(true); }
  retryProof(tx: string): void { this.retryAt.delete(tx); this.buyer.retryProof(tx); this.pump(true); }
  topUp(): void { this.buyer.topUp(); this.pump(true); }
  channelReady(r: ChannelReady): void { this.buyer.channelReady(r); this.pump(true); }
  channelFailed(reason: string): void { this.buyer.channelFailed(reason); this.pump(true); }
  voucherSigned(amount: bigint, delta: bigint, sig: Uint8Array): void { this.buyer.voucherSigned(amount, delta, sig); this.pump(true); }
  voucherFailed(reason: string): void { this.buyer.voucherFailed(reason); this.pump(true); }
  /** Session resume: ask the seller to move what session `prev` left here (see BuyerSession.resume). */
  resume(prev: string, payer: Uint8Array, sig: Uint8Array, txs: readonly { tx: string; amount: bigint }[]): void {
    this.buyer.resume(prev, payer, sig, txs);
    this.pump(true);
  }
  addResumedPayment(prev: string, p: { tx: string; amount: bigint }): boolean {
    const ok = this.buyer.addResumedPayment(prev, p);
    this.pump(true);
    return ok;
  }

  /** Without a driver: the next event the state machine reported. */
  pollEvent(): BuyerEvent | null { return this.unpolled.shift() ?? null; }

  private pump(external: boolean): void {
    flush(this.buyer, this.ctx);
    const control = this.ctx?.control;
    let acted = external;
    for (let ev = this.buyer.pollEvent(); ev !== null; ev = this.buyer.pollEvent()) {
      acted = true;
      switch (ev.type) {
        case 'confirmed':
        case 'channel_confirmed':
          // Credit arrived: the seller serves again, so refill our requests now.
          control?.refill();
          break;
        case 'retry_proof':
          if (this.driver !== null && !this.closedFlag) this.retryAt.set(ev.tx, (control?.now() ?? 0) + ev.delayMs);
          break;
        case 'disconnect':
          control?.close('BANNED');
          break;
        case 'ended':
          control?.close('CLOSED', ev.error);
          break;
        default:
          break;
      }
      const d = this.driver;
      if (d === null) { this.unpolled.push(ev); continue; }
      if (ev.type === 'pay') d.pay(this, ev);
      else if (ev.type === 'channel_needed') d.channel(this, ev);
      else if (ev.type === 'voucher') d.voucher(this, ev);
      else d.event(this, ev);
    }
    // Also tells the torrent that business on this connection may have settled.
    if (acted) control?.flush();
  }
}

/** What the registry (extensions/registry.ts) tells a factory about a connection; structurally its ExtensionConnectionInfo. */
export interface SeedPayConnectionInfo {
  readonly infoHash: Uint8Array;
}

/**
 * A registry factory for the seller side of one torrent: a fresh SellerHook (fresh
 * session, fresh ephemeral key) per connection. `hooks` sees each one.
 */
export function sellerExtension(
  opts: Omit<SellerOptions, 'infoHash'>, hooks?: (hook: SellerHook, info: SeedPayConnectionInfo) => void,
  driver: SellerDriver | null = null,
): { readonly name: string; create(info: SeedPayConnectionInfo): SellerHook } {
  return {
    name: EXTENSION_NAME,
    create(info) {
      const hook = new SellerHook({ ...opts, infoHash: info.infoHash }, driver);
      hooks?.(hook, info);
      return hook;
    },
  };
}

/** A registry factory for the buyer side of one torrent (budgets in `opts.policy` are shared by all its connections). */
export function buyerExtension(
  opts: Omit<BuyerOptions, 'infoHash'>, hooks?: (hook: BuyerHook, info: SeedPayConnectionInfo) => void,
  driver: BuyerDriver | null = null,
): { readonly name: string; create(info: SeedPayConnectionInfo): BuyerHook } {
  return {
    name: EXTENSION_NAME,
    create(info) {
      const hook = new BuyerHook({ ...opts, infoHash: info.infoHash }, driver);
      hooks?.(hook, info);
      return hook;
    },
  };
}

/**
 * Apply a seller 'refuse' event to the connection: reject_request under the fast
 * extension, otherwise choke (SEEDPAY.md §5). Returns what was done.
 */
export function applyRefusal(
  conn: PeerConnection, ev: { readonly index: number; readonly begin: number; readonly length: number }, now: number,
): 'rejected' | 'choked' | 'none' {
  if (conn.state !== 'open') return 'none';
  if (conn.fastEnabled) {
    if (!conn.hasPeerRequest(ev.index, ev.begin, ev.length)) return 'none';
    conn.rejectRequest(ev.index, ev.begin, ev.length, now);
    return 'rejected';
  }
  if (conn.amChoking) return 'none';
  conn.choke(now);
  return 'choked';
}
