/**
 * When a seller claims what its channels owe it (docs/PROTOCOL.md, "Payment
 * channels"), pure: the channels' books (the latest voucher journaled, what was claimed,
 * the expiry), the cluster's clock and the moment in; claims to make out. The IO —
 * fetching the state, sending the claim transaction, journaling `channel_claimed` — is
 * lib/paid/channel-claims.ts.
 *
 * Why these moments:
 *  - near expiry (within the margin): after expiry the program refuses the claim and the
 *    buyer may reclaim everything, so every voucher held must be claimed before; the
 *    channel is closed too (nobody can use it in time any more), which refunds the rest
 *    to the buyer at once;
 *  - once the unclaimed total passes a threshold: money held as a signature is money the
 *    seller loses if its journal is lost; a claim turns it into tokens;
 *  - at start: the vouchers a crashed process journaled and never claimed;
 *  - at shutdown: everything, closing the channels whose buyer is gone (optional: a
 *    buyer that comes back would have to open a new channel).
 * A channel already closed or past its expiry is left alone, and so is one with nothing
 * unclaimed — except at shutdown, where it is closed like the others.
 */

export interface ClaimableChannel {
  /** The channel address, base58. */
  readonly channel: string;
  /** The latest voucher amount journaled (cumulative). */
  readonly voucher: bigint;
  /** What was claimed so far (journaled `channel_claimed`, or the chain's `claimed`). */
  readonly claimed: bigint;
  /** Unix seconds (cluster clock). */
  readonly expiry: bigint;
  /** A live session is serving against it now. */
  readonly live: boolean;
  /** Claimed with close, or found closed. */
  readonly closed: boolean;
}

export interface ClaimPolicy {
  /** Claim once this much (base units) is vouchered and unclaimed. */
  readonly threshold: bigint;
  /** Claim (and close) once the channel expires within this many seconds. */
  readonly expiryMarginSeconds: bigint;
  /** At shutdown, close the channels no live session uses (default true). */
  readonly closeOnShutdown?: boolean;
}

export type ClaimMoment = 'run' | 'start' | 'shutdown';
export type ClaimReason = 'expiry' | 'threshold' | 'start' | 'shutdown';

export interface ClaimDecision {
  readonly channel: string;
  readonly amount: bigint;
  readonly close: boolean;
  readonly reason: ClaimReason;
}

export function dueClaims(channels: Iterable<ClaimableChannel>, now: bigint, policy: ClaimPolicy, moment: ClaimMoment): ClaimDecision[] {
  const out: ClaimDecision[] = [];
  for (const c of channels) {
    if (c.closed || now >= c.expiry) continue;
    const claim = (close: boolean, reason: ClaimReason): void => { out.push({ channel: c.channel, amount: c.voucher, close, reason }); };
    if (c.voucher <= c.claimed) {
      // All claimed already (a threshold claim took the last voucher): at shutdown a
      // channel whose buyer is gone is still closed — paying nothing more, it refunds the
      // buyer's deposit now rather than leaving it locked until expiry.
      if (moment === 'shutdown' && !c.live && policy.closeOnShutdown !== false) claim(true, 'shutdown');
      continue;
    }
    if (c.expiry - now <= policy.expiryMarginSeconds) claim(true, 'expiry');
    else if (moment === 'shutdown') claim(!c.live && policy.closeOnShutdown !== false, 'shutdown');
    else if (moment === 'start') claim(false, 'start');
    else if (c.voucher - c.claimed >= policy.threshold) claim(false, 'threshold');
  }
  return out;
}
