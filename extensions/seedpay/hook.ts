/**
 * ExtensionHook adapters: plug the sans-IO seller / buyer state machines into one
 * PeerConnection (wire/extension-hooks.ts). One hook object per connection; the
 * registry (extensions/registry.ts) creates them. The session polls `pollEvent()`
 * after driving the connection and answers the async requests ('verify' → verified,
 * 'pay' → paid / payFailed).
 *
 * The hooks never throw into the connection: a malformed SeedPay message ends the
 * paid session (an 'ended' event), not the BitTorrent connection and not the process.
 */
import type { Encodable } from '../../wire/bencode.js';
import type { ExtensionContext, ExtensionHook, PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import type { PeerConnection } from '../../wire/connection.js';
import { BuyerSession, type BuyerEvent, type BuyerOptions, type PayFailure } from './buyer.js';
import { addTermsToHandshake } from './classify.js';
import { SeedPayError } from './errors.js';
import type { MeterStats } from './meter.js';
import { encodeMessage, EXTENSION_NAME, type SeedPayMessage } from './messages.js';
import { SellerSession, type SellerEvent, type SellerOptions, type VerifyOutcome } from './seller.js';

interface Machine {
  pollTransmit(): SeedPayMessage | null;
  end(e: SeedPayError): void;
}

/** Send whatever the state machine queued. A send the connection refuses ends the paid session. */
function flush(m: Machine, ctx: ExtensionContext | null, onOutput?: () => void): void {
  let sent = false;
  for (let msg = m.pollTransmit(); msg !== null; msg = m.pollTransmit()) {
    sent = true;
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
  if (sent && onOutput !== undefined) onOutput();
}

/** Options of the hooks on top of the state machines'. */
export interface HookOutput {
  /**
   * Called after the hook queued messages from outside the connection's own event
   * handling (an answer from the verifier or the payer): the I/O adapter should write
   * (the registry's `flush`).
   */
  onOutput?: () => void;
}

/** The seller's hook: terms in the handshake, session binding, proofs, and the piece gate. */
export class SellerHook implements ExtensionHook {
  readonly name = EXTENSION_NAME;
  readonly seller: SellerSession;
  private ctx: ExtensionContext | null = null;

  private readonly onOutput: (() => void) | undefined;

  constructor(opts: SellerOptions & HookOutput) {
    this.seller = new SellerSession(opts);
    this.onOutput = opts.onOutput;
  }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  addHandshakeKeys(dict: Map<string, Encodable>): void { addTermsToHandshake(dict, this.seller.terms); }

  /** Always stays active: even for peers without SeedPay the gate applies the policy. */
  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    this.seller.onPeerHandshake(hs);
    return true;
  }

  onMessage(payload: Uint8Array): void {
    this.seller.receivePayload(payload);
    flush(this.seller, this.ctx);
  }

  canSendPiece(index: number, begin: number, length: number): boolean {
    const ok = this.seller.canSendPiece(index, begin, length);
    if (!ok) flush(this.seller, this.ctx);
    return ok;
  }

  onPieceSent(index: number, begin: number, length: number): void {
    this.seller.sent(index, begin, length);
    flush(this.seller, this.ctx);
  }

  /** The verifier's answer for a 'verify' event. */
  verified(tx: string, outcome: VerifyOutcome): void {
    this.seller.verified(tx, outcome);
    flush(this.seller, this.ctx, this.onOutput);
  }

  /** The adapter's answer for a 'resume_request' event (session resume). */
  resumed(prev: string, moved: bigint): void {
    this.seller.resumed(prev, moved);
    flush(this.seller, this.ctx, this.onOutput);
  }

  resumeRejected(prev: string, reason: string): void {
    this.seller.resumeRejected(prev, reason);
    flush(this.seller, this.ctx, this.onOutput);
  }

  /** For the choker's filter (policy 'paid-only', buyers without credit). */
  unchokeAllowed(): boolean { return this.seller.unchokeAllowed(); }

  stats(): MeterStats { return this.seller.stats(); }

  pollEvent(): SellerEvent | null { return this.seller.pollEvent(); }
}

/** The buyer's hook: `seedpay` in `m` (no terms), session binding, payments and proofs. */
export class BuyerHook implements ExtensionHook {
  readonly name = EXTENSION_NAME;
  readonly buyer: BuyerSession;
  private ctx: ExtensionContext | null = null;

  private readonly onOutput: (() => void) | undefined;

  constructor(opts: BuyerOptions & HookOutput) {
    this.buyer = new BuyerSession(opts);
    this.onOutput = opts.onOutput;
  }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  /** Keeps itself only for a seller whose terms parse and pass the policy. */
  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    const keep = this.buyer.onPeerHandshake(hs);
    flush(this.buyer, this.ctx);
    return keep;
  }

  onMessage(payload: Uint8Array): void {
    this.buyer.receivePayload(payload);
    flush(this.buyer, this.ctx);
  }

  onPieceReceived(_index: number, _begin: number, length: number): void {
    this.buyer.pieceReceived(length);
    flush(this.buyer, this.ctx);
  }

  // Called from outside the connection's event handling (payer results, timers, the
  // piece checker): tell the adapter to write.
  paid(tx: string, amount: bigint): void { this.buyer.paid(tx, amount); flush(this.buyer, this.ctx, this.onOutput); }
  payFailed(err: PayFailure): void { this.buyer.payFailed(err); flush(this.buyer, this.ctx, this.onOutput); }
  pieceVerified(index: number, ok: boolean): void { this.buyer.pieceVerified(index, ok); flush(this.buyer, this.ctx, this.onOutput); }
  retryProof(tx: string): void { this.buyer.retryProof(tx); flush(this.buyer, this.ctx, this.onOutput); }
  topUp(): void { this.buyer.topUp(); flush(this.buyer, this.ctx, this.onOutput); }
  /** Session resume: ask the seller to move what session `prev` left here (see BuyerSession.resume). */
  resume(prev: string, payer: Uint8Array, sig: Uint8Array, txs: readonly { tx: string; amount: bigint }[]): void {
    this.buyer.resume(prev, payer, sig, txs);
    flush(this.buyer, this.ctx, this.onOutput);
  }
  addResumedPayment(prev: string, p: { tx: string; amount: bigint }): boolean {
    const ok = this.buyer.addResumedPayment(prev, p);
    flush(this.buyer, this.ctx, this.onOutput);
    return ok;
  }

  pollEvent(): BuyerEvent | null { return this.buyer.pollEvent(); }
}

/** What the registry (extensions/registry.ts) tells a factory about a connection; structurally its ExtensionConnectionInfo. */
export interface SeedPayConnectionInfo {
  readonly infoHash: Uint8Array;
  readonly flush?: () => void;
}

/**
 * A registry factory for the seller side of one torrent: a fresh SellerHook (fresh
 * session, fresh ephemeral key) per connection. `hooks` sees each one (the session
 * keeps them to poll events and answer verifications).
 */
export function sellerExtension(
  opts: Omit<SellerOptions, 'infoHash'>, hooks?: (hook: SellerHook, info: SeedPayConnectionInfo) => void,
): { readonly name: string; create(info: SeedPayConnectionInfo): SellerHook } {
  return {
    name: EXTENSION_NAME,
    create(info) {
      const hook = new SellerHook({ ...opts, infoHash: info.infoHash, onOutput: info.flush });
      hooks?.(hook, info);
      return hook;
    },
  };
}

/** A registry factory for the buyer side of one torrent (budgets in `opts.policy` are shared by all its connections). */
export function buyerExtension(
  opts: Omit<BuyerOptions, 'infoHash'>, hooks?: (hook: BuyerHook, info: SeedPayConnectionInfo) => void,
): { readonly name: string; create(info: SeedPayConnectionInfo): BuyerHook } {
  return {
    name: EXTENSION_NAME,
    create(info) {
      const hook = new BuyerHook({ ...opts, infoHash: info.infoHash, onOutput: info.flush });
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
