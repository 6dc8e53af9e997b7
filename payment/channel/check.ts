/**
 * The seller's check of a channel a buyer names (docs/PROTOCOL.md, "Payment channels"),
 * pure: the on-chain state (fetched by the seller's driver), what the session and the
 * seller know, and the cluster's clock in; a verdict out. Nothing is served against a
 * channel that fails it — not one byte.
 */
import type { ChannelState } from './types.js';

/** Why a channel is refused (the `reason` of channel_rejected). */
export type ChannelRefusal =
  /** No such account: never opened, or closed (claimed with close, or reclaimed). */
  | 'not_found'
  /** Owned by another program, or another deployment than the one our terms name. */
  | 'wrong_program'
  /** Its buyer is not the wallet that signed channel_opened in this session. */
  | 'wrong_buyer'
  /** It pays another seller. */
  | 'wrong_seller'
  /** It holds another token than our terms' mint. */
  | 'wrong_mint'
  /** It expires within the seller's margin: there would be no time left to claim. */
  | 'expiring'
  /** Nothing left in it beyond what was claimed or vouchered already. */
  | 'drained';

export interface ChannelExpectation {
  /** The address the buyer named (base58). */
  readonly address: string;
  /** Our terms' program id, mint and wallet (base58). */
  readonly programId: string;
  readonly mint: string;
  readonly seller: string;
  /** The wallet bound in the session (it signed channel_opened), base58. */
  readonly buyer: string;
  /** The cluster's clock, unix seconds. */
  readonly now: bigint;
  /** Refuse a channel that expires within this many seconds. */
  readonly marginSeconds: bigint;
  /** The highest voucher amount this seller holds for the channel (its journal), 0 if none. */
  readonly accepted: bigint;
}

export type ChannelVerdict =
  | { readonly ok: true; readonly state: ChannelState; readonly accepted: bigint }
  | { readonly ok: false; readonly reason: ChannelRefusal };

/**
 * Whether the seller may serve against `state`. `accepted` in the answer is where the
 * next voucher must start above: the larger of what we hold and what was claimed.
 */
export function checkChannel(state: ChannelState | null, e: ChannelExpectation): ChannelVerdict {
  if (state === null || state.address.toBase58() !== e.address) return { ok: false, reason: 'not_found' };
  if (state.programId.toBase58() !== e.programId) return { ok: false, reason: 'wrong_program' };
  if (state.buyer.toBase58() !== e.buyer) return { ok: false, reason: 'wrong_buyer' };
  if (state.seller.toBase58() !== e.seller) return { ok: false, reason: 'wrong_seller' };
  if (state.mint.toBase58() !== e.mint) return { ok: false, reason: 'wrong_mint' };
  if (state.expiry <= e.now + e.marginSeconds) return { ok: false, reason: 'expiring' };
  const accepted = state.claimed > e.accepted ? state.claimed : e.accepted;
  if (state.deposit <= accepted) return { ok: false, reason: 'drained' };
  return { ok: true, state, accepted };
}
