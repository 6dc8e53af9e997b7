/**
 * A per-connection Budget that never lets a buyer prepay for more than the torrent
 * still needs. Prepaid credit is per session (it carries over only to a later
 * session of the same wallet with the same seller and torrent, by session resume),
 * so credit left when the download completes is money the buyer may never use: a payment is
 * capped at what this seller would charge for everything it sent us plus everything
 * still missing, minus what it already credited or will once it answers the proofs on
 * their way (several may be in flight) — the seller's own cumulative
 * arithmetic (ceil once over the total), so rounding never triggers a needless
 * min_prepay payment — and never below min_prepay while anything is missing (or the
 * last bytes could never be bought). Bytes our ratio credit covers there (docs/PROTOCOL.md
 * §10) are never bought.
 *
 * In a swarm (several sellers and free peers at once) "still missing" is shared: each
 * seller's cap counts only its expected part of it (`share`, from the purchase policy's
 * measured rates: lib/paid/swarm-purchases.ts), or every seller would prepay for the
 * whole rest and most of that credit would go unused. There a seller's prepaid credit is
 * also kept within a horizon (`ahead`: what it delivers in a couple of seconds, from the
 * policy's measured rate), so a first payment is not a share of the whole torrent before
 * anything was measured; and it is topped up only once half of that horizon is used (a
 * payment every second or so, not one per block).
 *
 * It works through the buyer state machine's own fallback: when the planned payment
 * does not fit the budgets, it pays what does fit, if that is at least min_prepay.
 */
import { Budget } from '../../extensions/seedpay/policy.js';
import { chargeFor } from '../../payment/amount.js';
import type { Terms } from '../../payment/terms.js';

/** Larger than any payment (u64 max). */
const UNBOUNDED = (1n << 64n) - 1n;

export class NeedBudget extends Budget {
  constructor(
    /** Bytes the torrent still misses (0 when complete; null while unknown, e.g. magnet before metadata). */
    private readonly missingBytes: () => number | null,
    /**
     * The seller's terms, piece bytes received from it that it may charge for (our ratio
     * credit covered the others), what it credited us plus what our unanswered proofs
     * carry, and the piece bytes our ratio credit still covers there.
     */
    private readonly seller: () => { terms: Terms | null; bytesReceived: bigint; credited: bigint; creditLeft?: bigint },
    /** The part (0, 1] of the missing bytes this seller is expected to deliver (default: all). */
    private readonly share: () => number = () => 1,
    /** Bytes this seller's prepaid credit should cover ahead of what it sent (null: no horizon, e.g. our only source). */
    private readonly ahead: () => number | null = () => null,
  ) {
    super(UNBOUNDED, 'need');
  }

  override get remaining(): bigint {
    const base = super.remaining;
    const missing = this.missingBytes();
    const { terms, bytesReceived, credited, creditLeft = 0n } = this.seller();
    if (missing === null || terms === null) return base;
    if (missing <= 0) return 0n;
    const part = Math.min(1, Math.max(0, this.share()));
    let toBuy = BigInt(Math.ceil(missing * part)) - creditLeft;
    if (toBuy <= 0n) return 0n; // our ratio credit there covers the rest
    const ahead = this.ahead();
    const horizon = ahead === null ? null : BigInt(Math.ceil(Math.max(0, ahead))) - creditLeft;
    if (horizon !== null && horizon < toBuy) {
      if (horizon <= 0n) return 0n;
      toBuy = horizon;
      // Credit still ahead of what it sent (the seller's arithmetic): top up only below half the horizon.
      const prepaidAhead = credited - chargeFor(bytesReceived, terms.price);
      if (2n * prepaidAhead > chargeFor(horizon, terms.price)) return 0n;
    }
    let need = chargeFor(bytesReceived + toBuy, terms.price) - credited;
    if (need <= 0n) return 0n;
    if (need < terms.minPrepay) need = terms.minPrepay;
    return need < base ? need : base;
  }
}
