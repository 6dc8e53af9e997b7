/**
 * The seller's claims on its payment channels (docs/PROTOCOL.md, "Payment channels"),
 * the IO around payment/channel/claimer.ts: it reads the journal's channel books (the
 * latest voucher accepted, what was claimed), learns expiries from the chain, and for
 * each claim the policy finds due fetches the state, sends the claim with the latest
 * journaled voucher, and journals `channel_claimed` (fsync) once it landed.
 *
 * A channel is claimed by one claim at a time. Before a claim that closes a channel,
 * the sessions serving against it stop taking vouchers (a voucher accepted after the
 * close could never be claimed).
 */
import bs58 from 'bs58';
import { PublicKey, type Keypair } from '@solana/web3.js';
import type { ChannelChain } from '../../payment/channel/types.js';
import { dueClaims, type ClaimDecision, type ClaimMoment, type ClaimPolicy, type ClaimableChannel } from '../../payment/channel/claimer.js';
import type { SellerLedger } from './seller-ledger.js';

export interface ClaimDone {
  readonly channel: string;
  readonly amount: bigint;
  /** What this claim moved to the seller (amount − claimed before). */
  readonly paid: bigint;
  readonly tx: string;
  readonly closed: boolean;
  readonly reason: ClaimDecision['reason'];
}

export interface ChannelClaimsOptions {
  readonly chain: ChannelChain;
  /** The seller's wallet keypair: it signs the claims. */
  readonly seller: Keypair;
  readonly ledger: SellerLedger;
  readonly policy: ClaimPolicy;
  /** A live session serves against this channel. */
  isLive(channel: string): boolean;
  /** The channel is about to be closed (stop its sessions taking vouchers). */
  closing(channel: string): void;
  claimed(c: ClaimDone): void;
  error(e: Error): void;
}

export class ChannelClaims {
  /** What we know of channels from the chain: their expiry, and whether they are gone. */
  private readonly known = new Map<string, { expiry: bigint; closed: boolean }>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private running: Promise<void> | null = null;

  constructor(private readonly o: ChannelClaimsOptions) {}

  /** A channel's expiry as a check found it. */
  note(channel: string, expiry: bigint): void {
    const k = this.known.get(channel);
    this.known.set(channel, { expiry, closed: k?.closed ?? false });
  }

  expiryOf(channel: string): bigint | null { return this.known.get(channel)?.expiry ?? null; }

  /** Claims in flight (tests, shutdown). */
  get busy(): boolean { return this.inFlight.size > 0 || this.running !== null; }

  /** Look at every channel with unclaimed vouchers and claim those due at this moment. */
  run(moment: ClaimMoment): Promise<void> {
    if (this.running !== null && moment === 'run') return this.running;
    const p = this.runOnce(moment).catch((e: unknown) => this.o.error(e instanceof Error ? e : new Error(String(e))));
    const tracked = p.finally(() => { if (this.running === tracked) this.running = null; });
    this.running = tracked;
    return tracked;
  }

  private async runOnce(moment: ClaimMoment): Promise<void> {
    // At shutdown, claims in flight land (and are journaled) first: the close is decided
    // on what they claimed, rather than joining one that does not close.
    if (moment === 'shutdown') await Promise.all(this.inFlight.values());
    const now = await this.o.chain.clock();
    const list: ClaimableChannel[] = [];
    for (const b of this.o.ledger.journal.channelBooks()) {
      if (b.voucher === undefined) continue;
      const claimed = b.claimed?.amount ?? 0n;
      // Fully claimed ones too at shutdown (dueClaims closes those whose buyer is gone).
      if (b.claimed?.closed === true || (b.voucher.amount <= claimed && moment !== 'shutdown')) continue;
      let k = this.known.get(b.channel);
      if (k === undefined) {
        // Learnt from the journal only (a restart): ask the chain.
        const s = await this.o.chain.fetchChannel(new PublicKey(b.channel));
        k = { expiry: s?.expiry ?? 0n, closed: s === null };
        this.known.set(b.channel, k);
      }
      list.push({ channel: b.channel, voucher: b.voucher.amount, claimed, expiry: k.expiry, live: this.o.isLive(b.channel), closed: k.closed });
    }
    await Promise.all(dueClaims(list, now, this.o.policy, moment).map((d) => this.claim(d)));
  }

  private claim(d: ClaimDecision): Promise<void> {
    const running = this.inFlight.get(d.channel);
    if (running !== undefined) return running;
    const p = this.claimOnce(d).catch((e: unknown) => this.o.error(e instanceof Error ? e : new Error(String(e))))
      .finally(() => this.inFlight.delete(d.channel));
    this.inFlight.set(d.channel, p);
    return p;
  }

  private async claimOnce(d: ClaimDecision): Promise<void> {
    if (d.close) this.o.closing(d.channel);
    const book = this.o.ledger.journal.channelOf(d.channel);
    const v = book?.voucher;
    if (v === undefined) return;
    const address = new PublicKey(d.channel);
    const state = await this.o.chain.fetchChannel(address);
    if (state === null) {
      // Closed or reclaimed already: nothing left to claim.
      this.known.set(d.channel, { expiry: this.known.get(d.channel)?.expiry ?? 0n, closed: true });
      return;
    }
    this.note(d.channel, state.expiry);
    if (state.claimed >= v.amount && !d.close) return;
    const tx = await this.o.chain.claim({
      seller: this.o.seller, channel: state, close: d.close,
      voucher: { channel: address, amount: v.amount, signature: bs58.decode(v.signature) },
    });
    await this.o.ledger.claimed({ channel: d.channel, amount: v.amount, signature: tx.signature, closed: d.close, time: Date.now() });
    if (d.close) this.known.set(d.channel, { expiry: state.expiry, closed: true });
    this.o.claimed({ channel: d.channel, amount: v.amount, paid: v.amount - state.claimed, tx: tx.signature, closed: d.close, reason: d.reason });
  }
}
