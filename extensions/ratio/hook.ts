/**
 * The `seedpay_credit` hook of one connection: runs the identity binding
 * (identity.ts) and reports every block this connection delivered for one of our
 * requests to its torrent's plugin (plugin.ts), which decides what it earns.
 *
 * It never declines, even for a peer without the extension: the plugin must see every
 * block's first copy, whoever sent it, to know which copy the piece was built from.
 * It never closes the connection and never throws into it.
 */
import type { ExtensionContext, ExtensionHook, HookCloseReason, PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { IdentityBinding, type IdentityBindingOptions, type PeerIdentityState } from './identity.js';
import { CREDIT_EXTENSION, encodeCreditMessage } from './messages.js';

/** What the hook tells its torrent's plugin. */
export interface CreditHookHost {
  received(hook: CreditHook, index: number, begin: number, length: number): void;
  /** The peer's identity just bound. */
  bound(hook: CreditHook): void;
  closed(hook: CreditHook): void;
}

export class CreditHook implements ExtensionHook {
  readonly name = CREDIT_EXTENSION;
  readonly binding: IdentityBinding;
  /** Verified bytes this peer delivered before its identity was decided (credited when it binds). */
  pendingBytes = 0;
  /** Failed pieces this peer contributed to before its identity was decided. */
  pendingStrikes = 0;
  private ctx: ExtensionContext | null = null;
  private closedFlag = false;
  private decidedListeners: Array<(hook: CreditHook) => void> | null = [];

  constructor(opts: IdentityBindingOptions, private readonly host: CreditHookHost) {
    this.binding = new IdentityBinding(opts);
  }

  /** The peer's bound wallet (base58), else null. */
  get identity(): string | null { return this.closedFlag ? null : this.binding.identity; }
  get state(): PeerIdentityState { return this.binding.state; }
  get isClosed(): boolean { return this.closedFlag; }

  attach(ctx: ExtensionContext): void { this.ctx = ctx; }

  onPeerHandshake(hs: PeerExtendedHandshake): boolean {
    if (hs.m.has(CREDIT_EXTENSION)) {
      this.binding.peerSupports();
      this.flush();
    }
    return true;
  }

  onMessage(payload: Uint8Array): void {
    const before = this.binding.identity;
    this.binding.receive(payload);
    this.flush();
    if (before === null && this.binding.identity !== null) this.host.bound(this);
    if (this.binding.state !== 'pending') this.decided();
  }

  /**
   * Call `listener` once the peer's identity is decided (bound, refused or ended; at
   * once if it is already) — a paid session learns whose credit it may draw on. Never
   * called for a peer that never proves one, nor after the connection closed.
   */
  onDecided(listener: (hook: CreditHook) => void): void {
    if (this.closedFlag) return;
    if (this.decidedListeners === null) listener(this);
    else this.decidedListeners.push(listener);
  }

  private decided(): void {
    const ls = this.decidedListeners;
    if (ls === null) return;
    this.decidedListeners = null;
    for (const l of ls) l(this);
  }

  onPieceReceived(index: number, begin: number, length: number): void {
    this.host.received(this, index, begin, length);
  }

  onClose(_reason: HookCloseReason): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.decidedListeners !== null) this.decidedListeners = [];
    this.host.closed(this);
  }

  private flush(): void {
    for (let m = this.binding.pollTransmit(); m !== null; m = this.binding.pollTransmit()) {
      try {
        this.ctx?.send(encodeCreditMessage(m));
      } catch {
        // The peer dropped the extension or the connection is closing: nothing to prove to.
        while (this.binding.pollTransmit() !== null) { /* drop */ }
        return;
      }
    }
  }
}
