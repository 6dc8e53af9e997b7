/**
 * The seedpay hooks as the paid layer uses them: the extension's SellerHook /
 * BuyerHook plus a `wake` callback after every call that may queue events, and a
 * `close` the registry calls when the connection ends.
 *
 * Why: SeedPay messages raise no connection event of their own (the registry hands
 * them straight to the hook), and charges accrue inside `onPieceSent`, in the
 * serving path. Polling only on connection events would answer a payment proof at
 * the next unrelated message. Each hook therefore asks its owner to drain it soon
 * (coalesced to one microtask), whatever the caller.
 */
import { BuyerHook, SellerHook, type HookOutput } from '../../extensions/seedpay/hook.js';
import type { BuyerOptions } from '../../extensions/seedpay/buyer.js';
import type { SellerOptions } from '../../extensions/seedpay/seller.js';
import type { PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import type { PeerSession } from '../peer-session.js';

/** What a paid hook tells its owner. */
export interface HookOwner<H> {
  /** Events may be waiting: drain them soon. */
  wake(hook: H): void;
  /** The connection is gone. */
  closed(hook: H): void;
}

/** Coalesce wake-ups to one microtask per hook. */
class Waker {
  private queued = false;
  constructor(private readonly run: () => void) {}
  soon(): void {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => { this.queued = false; this.run(); });
  }
}

export class PaidSellerHook extends SellerHook {
  /** The connection this hook serves (learnt from its first connection event). */
  session: PeerSession | null = null;
  readonly infoHashHex: string;
  /** Paid bytes last written to the journal as a charge. */
  journaledBytes = 0n;
  isClosed = false;
  private readonly waker: Waker;
  private readonly owner: HookOwner<PaidSellerHook>;

  constructor(opts: SellerOptions & HookOutput, owner: HookOwner<PaidSellerHook>) {
    super(opts);
    this.owner = owner;
    this.infoHashHex = Buffer.from(opts.infoHash).toString('hex');
    this.waker = new Waker(() => owner.wake(this));
  }

  override onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    const keep = super.onPeerHandshake(hs);
    this.waker.soon();
    return keep;
  }

  override onMessage(payload: Uint8Array): void {
    super.onMessage(payload);
    this.waker.soon();
  }

  override canSendPiece(index: number, begin: number, length: number): boolean {
    const ok = super.canSendPiece(index, begin, length);
    if (!ok) this.waker.soon();
    return ok;
  }

  override onPieceSent(index: number, begin: number, length: number): void {
    super.onPieceSent(index, begin, length);
    this.waker.soon();
  }

  /** Wake after the verifier's answer too. */
  wakeSoon(): void { this.waker.soon(); }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.owner.closed(this);
  }
}

export class PaidBuyerHook extends BuyerHook {
  session: PeerSession | null = null;
  readonly infoHashHex: string;
  isClosed = false;
  /** Timers of proof retries (cleared on close). */
  readonly timers = new Set<NodeJS.Timeout>();
  private readonly waker: Waker;
  private readonly owner: HookOwner<PaidBuyerHook>;

  constructor(opts: BuyerOptions & HookOutput, owner: HookOwner<PaidBuyerHook>) {
    super(opts);
    this.owner = owner;
    this.infoHashHex = Buffer.from(opts.infoHash).toString('hex');
    this.waker = new Waker(() => owner.wake(this));
  }

  override onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    const keep = super.onPeerHandshake(hs);
    this.waker.soon();
    return keep;
  }

  override onMessage(payload: Uint8Array): void {
    super.onMessage(payload);
    this.waker.soon();
  }

  override onPieceReceived(index: number, begin: number, length: number): void {
    super.onPieceReceived(index, begin, length);
    this.waker.soon();
  }

  wakeSoon(): void { this.waker.soon(); }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.owner.closed(this);
    this.buyer.connectionClosed();
  }
}
