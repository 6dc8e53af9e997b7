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
import { CREDIT_EXTENSION, encodeCreditMessage, type CreditMessage, type CreditStatement } from './messages.js';
import { MAX_STATEMENTS_PER_CONNECTION } from './statements.js';

/** What the hook tells its torrent's plugin. */
export interface CreditHookHost {
  received(hook: CreditHook, index: number, begin: number, length: number): void;
  /** Our proof just went out on this connection. */
  proved(hook: CreditHook): void;
  /** The peer sent a credit statement (one hop: ours to keep, or its to have credited). */
  statement(hook: CreditHook, s: CreditStatement): void;
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
  /** One hop: statements this peer sent (looked at up to a bound), the total we last vouched to it, ours presented. */
  statementsSeen = 0;
  issuedTotal = 0n;
  presented = false;
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
    const statement = this.binding.receive(payload);
    if (statement !== null && this.statementsSeen++ < MAX_STATEMENTS_PER_CONNECTION) this.host.statement(this, statement);
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

  /** Send a message of the plugin's (a statement) after ours; nothing once the extension ended or closed. */
  send(m: CreditMessage): void {
    if (this.closedFlag) return;
    this.binding.queue(m);
    this.flush();
  }

  private flush(): void {
    for (let m = this.binding.pollTransmit(); m !== null; m = this.binding.pollTransmit()) {
      try {
        this.ctx?.send(encodeCreditMessage(m));
        if (m.type === 'id_proof') this.host.proved(this);
      } catch {
        // The peer dropped the extension or the connection is closing: nothing to prove to.
        while (this.binding.pollTransmit() !== null) { /* drop */ }
        return;
      }
    }
  }
}
