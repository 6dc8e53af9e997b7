/**
 * The payment channel as both sides of a SeedPay session see it, and what they need
 * from the chain to use one. The escrow program (program/channel/) defines the on-chain
 * state; payment/channel/program.ts encodes its instructions and decodes its accounts.
 */
import type { Keypair, PublicKey } from '@solana/web3.js';

/** A channel account as stored on chain (decoded). */
export interface ChannelState {
  /** The channel's address (the program-derived address of buyer, seller, mint, nonce). */
  readonly address: PublicKey;
  readonly programId: PublicKey;
  readonly buyer: PublicKey;
  readonly seller: PublicKey;
  readonly mint: PublicKey;
  /** The token account the deposit sits in (authority: the channel address). */
  readonly vault: PublicKey;
  /** The ed25519 key that signs vouchers (the buyer's wallet unless it chose another). */
  readonly voucherKey: PublicKey;
  readonly nonce: bigint;
  /** Everything deposited so far (open + top-ups), base units. */
  readonly deposit: bigint;
  /** What the seller has claimed so far, base units. */
  readonly claimed: bigint;
  /** Unix seconds (the cluster's clock) after which the seller cannot claim and the buyer may reclaim. */
  readonly expiry: bigint;
}

/** A signed voucher: the cumulative amount paid into `channel`. */
export interface Voucher {
  readonly channel: PublicKey;
  readonly amount: bigint;
  /** ed25519 signature by the channel's voucher key of voucherMessage(). */
  readonly signature: Uint8Array;
}

/** The result of a transaction the channel sent: its signature once it is confirmed. */
export interface ChannelTx {
  readonly signature: string;
}

/** What channel payments need from the chain (implemented on web3.js Connection by channel-chain.ts). */
export interface ChannelChain {
  readonly programId: PublicKey;
  /** The channel's current state; null when the account does not exist (never opened, or closed). */
  fetchChannel(address: PublicKey): Promise<ChannelState | null>;
  /** The cluster's clock (unix seconds), as the program sees it. */
  clock(): Promise<bigint>;
  /** Buyer: open a channel (creates the vault and the state, moves `deposit`). One transaction. */
  open(args: { buyer: Keypair; seller: PublicKey; mint: PublicKey; nonce: bigint; deposit: bigint; expiry: bigint; voucherKey: PublicKey }): Promise<ChannelTx & { channel: PublicKey }>;
  /** Buyer: add to the deposit. */
  topUp(args: { buyer: Keypair; channel: ChannelState; amount: bigint }): Promise<ChannelTx>;
  /** Buyer: move the expiry later. */
  extend(args: { buyer: Keypair; channel: ChannelState; expiry: bigint }): Promise<ChannelTx>;
  /** Seller: claim `voucher.amount − claimed`; `close` also refunds the rest to the buyer and closes the accounts. */
  claim(args: { seller: Keypair; channel: ChannelState; voucher: Voucher; close: boolean }): Promise<ChannelTx>;
  /** Buyer, after expiry: take back what was not claimed and close the accounts. */
  reclaim(args: { buyer: Keypair; channel: ChannelState }): Promise<ChannelTx>;
}
