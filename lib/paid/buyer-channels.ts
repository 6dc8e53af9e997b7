/**
 * The buyer's payment channels (docs/PROTOCOL.md, "Payment channels"): one channel per
 * seller and mint, found in the buyer's journal and reused by later sessions and
 * torrents until it nears expiry or runs dry (then a new one, with a new nonce), and the
 * vouchers raised on it. Every step that commits money is journaled first (fsync):
 *  - `channel_open` (address, seller, mint, nonce, deposit, expiry, voucher key) before the
 *    open transaction is sent — the address is derived from the seeds, so a crash after
 *    the send still leaves the channel in the journal (to reuse, or reclaim after expiry);
 *  - `voucher_sent` (the new cumulative amount) before the voucher is signed and sent; the
 *    journal refuses an amount not above the last or above the deposit.
 */
import { PublicKey, type Keypair } from '@solana/web3.js';
import type { ChannelChain, ChannelState } from '../../payment/channel/types.js';
import { channelAddress } from '../../payment/channel/program.js';
import { signVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import { channelOpenMessage, signChannelOpen } from '../../payment/channel/open-proof.js';
import type { Journal } from '../../payment/journal.js';

export interface BuyerChannelSettings {
  readonly chain: ChannelChain;
  /** The buyer's wallet: it opens channels (pays the deposit and the rent) and proves them ours in sessions. */
  readonly payer: Keypair;
  /** The key that signs vouchers (default the payer). */
  readonly voucherKey?: Keypair;
  /** Deposit of a new channel, base units. */
  readonly deposit: bigint;
  /** Lifetime of a new channel (default 24 h). */
  readonly expirySeconds?: number;
  /** A channel expiring within this many seconds is not reused (default 1 h; above any seller's margin). */
  readonly renewMarginSeconds?: number;
}

/** A channel this process opened: its open transaction landed. */
export interface ChannelOpened {
  readonly channel: string;
  readonly seller: string;
  readonly mint: string;
  readonly deposit: bigint;
  /** Unix seconds (the cluster's clock). */
  readonly expiry: bigint;
  /** The open transaction's signature (the journal records the open before it is sent, so it has none). */
  readonly tx: string;
}

/** A channel to use with a seller now. */
export interface UsableChannel {
  readonly address: PublicKey;
  readonly deposit: bigint;
  /** The latest voucher amount we signed on it. */
  readonly sent: bigint;
}

export class BuyerChannels {
  /** One lookup-or-open at a time per seller and mint: concurrent sessions share the result. */
  private readonly finding = new Map<string, Promise<UsableChannel>>();
  /** Channels a seller said are closed or unusable, or whose open failed: never named again. */
  private readonly dead = new Set<string>();
  private readonly openedHere: ChannelOpened[] = [];

  constructor(private readonly journal: Journal, private readonly s: BuyerChannelSettings) {}

  get programId(): PublicKey { return this.s.chain.programId; }

  /** The channels this process opened, in order, with their open transactions (receipts, reports). */
  opened(): readonly ChannelOpened[] { return [...this.openedHere]; }

  /** Never name this channel again (closed, expiring, drained, refused). */
  markDead(channel: string): void { this.dead.add(channel); }

  /** Our channel for `seller` in `mint`: one from the journal still good, or a new one. */
  channelFor(seller: string, mint: string): Promise<UsableChannel> {
    const k = `${seller}/${mint}`;
    const running = this.finding.get(k);
    if (running !== undefined) return running;
    const p = this.find(seller, mint).finally(() => this.finding.delete(k));
    this.finding.set(k, p);
    return p;
  }

  private async find(seller: string, mint: string): Promise<UsableChannel> {
    const now = await this.s.chain.clock();
    const margin = BigInt(this.s.renewMarginSeconds ?? 3600);
    const mine = this.journal.channelBooks()
      .filter((b) => b.open !== undefined && b.open.seller === seller && b.open.mint === mint)
      .sort((a, b) => (a.open!.nonce < b.open!.nonce ? 1 : -1));
    for (const b of mine) {
      if (this.dead.has(b.channel) || b.open!.expiry - now <= margin) continue;
      const sent = this.journal.sentOf(b.channel);
      const state = await this.s.chain.fetchChannel(new PublicKey(b.channel));
      if (!this.usable(state, seller, mint) || state!.expiry - now <= margin) { this.dead.add(b.channel); continue; }
      // Worth reusing while an eighth of the deposit is left to pay with.
      if (state!.deposit - sent <= state!.deposit / 8n) { this.dead.add(b.channel); continue; }
      return { address: state!.address, deposit: state!.deposit, sent };
    }
    return this.open(seller, mint, now, mine.reduce((n, b) => (b.open!.nonce > n ? b.open!.nonce : n), 0n));
  }

  private usable(state: ChannelState | null, seller: string, mint: string): boolean {
    return state !== null && state.programId.equals(this.s.chain.programId) && state.buyer.equals(this.s.payer.publicKey)
      && state.seller.toBase58() === seller && state.mint.toBase58() === mint;
  }

  private async open(seller: string, mint: string, now: bigint, lastNonce: bigint): Promise<UsableChannel> {
    // A fresh nonce even if an earlier journal was lost: the clock in ms beats any we used.
    const ms = BigInt(Date.now());
    const nonce = lastNonce + 1n > ms ? lastNonce + 1n : ms;
    const sellerKey = new PublicKey(seller);
    const mintKey = new PublicKey(mint);
    const address = channelAddress(this.s.chain.programId, this.s.payer.publicKey, sellerKey, mintKey, nonce);
    const expiry = now + BigInt(this.s.expirySeconds ?? 24 * 3600);
    const voucherKey = (this.s.voucherKey ?? this.s.payer).publicKey;
    await this.journal.append({
      kind: 'channel_open', channel: address.toBase58(), seller, mint, nonce, deposit: this.s.deposit, expiry,
      voucherKey: voucherKey.toBase58(), time: Date.now(),
    });
    try {
      const tx = await this.s.chain.open({ buyer: this.s.payer, seller: sellerKey, mint: mintKey, nonce, deposit: this.s.deposit, expiry, voucherKey });
      if (!tx.channel.equals(address)) throw new Error(`the chain opened ${tx.channel.toBase58()}, not ${address.toBase58()}`);
      this.openedHere.push({ channel: address.toBase58(), seller, mint, deposit: this.s.deposit, expiry, tx: tx.signature });
    } catch (e) {
      this.dead.add(address.toBase58());
      throw e;
    }
    return { address, deposit: this.s.deposit, sent: 0n };
  }

  /** Our wallet's proof that `channel` is ours, for channel_opened in this session. */
  openProof(infoHash: Uint8Array, sessionHash: string, channel: PublicKey): { buyer: Uint8Array; sig: Uint8Array } {
    const msg = channelOpenMessage(infoHash, sessionHash, channel.toBytes());
    return { buyer: this.s.payer.publicKey.toBytes(), sig: signChannelOpen(this.s.payer.secretKey.subarray(0, 32), msg) };
  }

  /** The latest voucher amount signed on a channel (any session; appends in flight included). */
  sentOf(channel: string): bigint { return this.journal.sentOf(channel); }

  /**
   * Raise our voucher on `channel` by `delta` (less if the deposit has less room): the
   * new cumulative amount is journaled (fsync), then signed. Rejects when the channel
   * has no room left or the journal refuses.
   */
  async raise(channel: string, seller: string, infoHash: string, delta: bigint): Promise<{ amount: bigint; delta: bigint; sig: Uint8Array }> {
    const book = this.journal.channelOf(channel);
    const deposit = book?.open?.deposit;
    if (deposit === undefined) throw new Error(`channel ${channel} is not one of ours`);
    // Read and reserve in one synchronous step: concurrent sessions get distinct amounts.
    const sent = this.journal.sentOf(channel);
    const d = sent + delta > deposit ? deposit - sent : delta;
    if (d <= 0n) throw new Error(`channel ${channel} is drained (${sent} of ${deposit} vouchered)`);
    const amount = sent + d;
    await this.journal.append({ kind: 'voucher_sent', channel, amount, seller, infoHash, time: Date.now() });
    const key = this.s.voucherKey ?? this.s.payer;
    const sig = signVoucher(key.secretKey.subarray(0, 32), voucherMessage({ programId: this.s.chain.programId.toBytes(), channel: new PublicKey(channel).toBytes(), amount }));
    return { amount, delta: d, sig };
  }

  /** Take back what expired channels of ours hold (after expiry only the buyer can). Returns how many were reclaimed. */
  async reclaimExpired(): Promise<number> {
    const now = await this.s.chain.clock();
    let n = 0;
    for (const b of this.journal.channelBooks()) {
      if (b.open === undefined || b.open.expiry > now) continue;
      const state = await this.s.chain.fetchChannel(new PublicKey(b.channel));
      if (state === null || now < state.expiry) continue;
      await this.s.chain.reclaim({ buyer: this.s.payer, channel: state });
      this.dead.add(b.channel);
      n++;
    }
    return n;
  }
}
