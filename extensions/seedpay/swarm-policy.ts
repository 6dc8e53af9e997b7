/**
 * Paying in a swarm (docs/PROTOCOL.md "Paying in a swarm"): which paid sellers a buyer
 * buys from, and how many requests each may have in flight. Pure and sans-IO: the
 * buyer's driver (lib/paid/buyer.ts) measures rates and applies the plan once a second.
 *
 * The rules:
 *  - peers we do not pay (free peers, price-0 sellers) are always used: they never
 *    appear here and are never limited;
 *  - a seller above the buyer's max price is never bought from (the buyer refuses its
 *    terms before this policy runs; it is excluded here as well);
 *  - with a target rate (`targetRate`, bytes/s): we buy only what the free sources do not
 *    deliver, from the cheapest sellers first. Sellers are added in price order while
 *    the rate the chosen ones are known to deliver (their measured capacity) falls short
 *    of the deficit; a seller not measured yet counts as covering it (one new seller per
 *    decision, cheapest first). A seller already bought from stays while the ones
 *    cheaper than it still fall short of the deficit plus a margin (hysteresis, so a
 *    noisy free rate does not flap purchases). The last one chosen gets a share of the
 *    full pipeline matching the part of the deficit left to it;
 *  - without a target (default): as fast as possible within the max price, so every
 *    seller at or below it is bought from, the cheapest with the full pipeline and each
 *    dearer one with a pipeline scaled by cheapest price / its price (at least
 *    MIN_REQUESTS): while a cheaper source has spare capacity it takes the larger share
 *    of the picker's requests;
 *  - no budget left: nobody is bought from;
 *  - a seller we stop buying from keeps its requests while the credit we prepaid there
 *    lasts (`balanceBytes`): that money is spent already, so it is used up first, and
 *    no new payment goes to it.
 *
 * `cheapestSchedule` is the offline optimum the bench compares a run against: given
 * each source's rate and price, the least a file of `size` bytes can cost delivered
 * within `seconds` (a fractional knapsack: fill from the cheapest source up).
 */
import { chargeFor } from '../../payment/amount.js';

/** Requests in flight a seller bought from always gets (enough to keep a TCP stream busy). */
export const MIN_REQUESTS = 4;
/** A seller bought from stays while the cheaper ones fall short of the deficit × (1 + this). */
export const KEEP_MARGIN = 0.25;

/** One paid seller as the policy sees it: its terms, what was measured, what we hold there. */
export interface SellerView {
  /** The connection (unique per buyer). */
  readonly id: number;
  /** Its price, base units per MiB (> 0: price-0 sellers are free peers). */
  readonly pricePerMiB: bigint;
  /** What it delivered recently (bytes/s). */
  readonly rate: number;
  /** The best rate it delivered while bought from with a full pipeline (bytes/s); 0 while unknown. */
  readonly capacity: number;
  /** Bought from in the previous plan. */
  readonly buying: boolean;
  /** Piece bytes our prepaid credit there still pays for (estimated). */
  readonly balanceBytes: number;
}

export interface SwarmPlanInput {
  /** Bytes/s from peers we do not pay. */
  readonly freeRate: number;
  readonly sellers: readonly SellerView[];
  readonly maxPricePerMiB: bigint;
  /** The download rate wanted (bytes/s); null: as fast as possible within the max price. */
  readonly targetRate: number | null;
  /** Requests in flight for a seller bought from in full (the engine's pipeline depth). */
  readonly fullPipeline: number;
  /** Money left in the tightest budget (base units); null: not limited here. */
  readonly budgetLeft: bigint | null;
  /** Start no new purchase (free sources still ramping up): sellers bought from stay, no other is added. */
  readonly holdNew?: boolean;
}

/** What to do with one seller. */
export interface SellerPlan {
  readonly id: number;
  /** Payments to it may go out (its credit may be topped up). */
  readonly pay: boolean;
  /** Requests it may have in flight (0: none). */
  readonly requests: number;
}

/** Sellers by price, then the faster first, then by id (a total order: plans are deterministic). */
function byPrice(a: SellerView, b: SellerView): number {
  if (a.pricePerMiB !== b.pricePerMiB) return a.pricePerMiB < b.pricePerMiB ? -1 : 1;
  const ra = Math.max(a.capacity, a.rate);
  const rb = Math.max(b.capacity, b.rate);
  if (ra !== rb) return rb - ra;
  return a.id - b.id;
}

function clampRequests(n: number, full: number): number {
  const lo = Math.min(MIN_REQUESTS, full);
  if (!Number.isFinite(n)) return full;
  return Math.max(lo, Math.min(full, Math.ceil(n)));
}

/** Decide which sellers we buy from and how many requests each may have in flight. */
export function planPurchases(input: SwarmPlanInput): SellerPlan[] {
  const full = Math.max(0, Math.floor(input.fullPipeline));
  const eligible = input.sellers.filter((s) => s.pricePerMiB > 0n && s.pricePerMiB <= input.maxPricePerMiB).sort(byPrice);
  const chosen = new Map<number, number>(); // id → requests
  const money = input.budgetLeft === null || input.budgetLeft > 0n;
  if (money && eligible.length > 0) {
    if (input.targetRate === null) {
      const cheapest = eligible[0].pricePerMiB;
      for (const s of eligible) {
        if (input.holdNew === true && !s.buying) continue;
        // Integer ratio first (prices are bigint), then scaled to the pipeline.
        const share = Number((cheapest * 1_000_000n) / s.pricePerMiB) / 1_000_000;
        chosen.set(s.id, clampRequests(full * share, full));
      }
    } else {
      const deficit = input.targetRate - Math.max(0, input.freeRate);
      // Up to the dearest seller bought from now, sellers are taken while the cheaper ones
      // fall short of the deficit plus the margin (they stay); past it, of the deficit.
      // Either way the sellers taken are the cheapest ones: a price-ordered prefix.
      let lastBuying = -1;
      eligible.forEach((s, i) => { if (s.buying) lastBuying = i; });
      let covered = 0;
      let previous: number | null = null;
      for (let i = 0; i < eligible.length && deficit > 0; i++) {
        const s = eligible[i];
        const threshold = i <= lastBuying ? deficit * (1 + KEEP_MARGIN) : deficit;
        if (covered >= threshold) break;
        if (!s.buying && input.holdNew === true) continue;
        const cap = s.capacity > 0 ? s.capacity : Infinity;
        // A dearer seller is taken: the cheaper ones before it are all needed in full
        // (the margin can take one more after the deficit alone was met).
        if (previous !== null) chosen.set(previous, full);
        previous = s.id;
        // The marginal seller gets the part of the pipeline its part of the deficit needs.
        const left = Math.max(deficit - covered, 0);
        chosen.set(s.id, clampRequests(cap === Infinity ? full : (full * left) / cap, full));
        covered += cap;
        // An unmeasured seller covers the rest until it is measured: add one at a time.
        if (cap === Infinity) break;
      }
    }
  }
  return input.sellers.map((s) => {
    const req = chosen.get(s.id);
    if (req !== undefined) return { id: s.id, pay: true, requests: req };
    // Not bought from: the credit already there is used up, nothing more is paid.
    return { id: s.id, pay: false, requests: s.balanceBytes > 0 ? clampRequests(full, full) : 0 };
  });
}

/** One source of a schedule: its rate (bytes/s) and price (base units per MiB; 0 for free). */
export interface ScheduleSource {
  readonly rate: number;
  readonly pricePerMiB: bigint;
}

export interface Schedule {
  /** Bytes taken from each source (in the order given). */
  readonly bytes: number[];
  /** What they cost (base units, rounded up per source as a seller charges). */
  readonly cost: bigint;
}

/**
 * The cheapest way to get `size` bytes within `seconds` from these sources, each
 * delivering at most rate × seconds: fill from the cheapest up (optimal for this linear
 * program: every byte costs its source's price and the only constraint per source is
 * its volume). Null when even all of them together cannot deliver `size` in time.
 */
export function cheapestSchedule(sources: readonly ScheduleSource[], size: number, seconds: number): Schedule | null {
  if (!(size >= 0) || !(seconds >= 0)) throw new RangeError('size and seconds must be >= 0');
  const order = sources.map((s, i) => ({ s, i })).sort((a, b) => (a.s.pricePerMiB === b.s.pricePerMiB ? a.i - b.i : a.s.pricePerMiB < b.s.pricePerMiB ? -1 : 1));
  const bytes = sources.map(() => 0);
  let left = size;
  let cost = 0n;
  for (const { s, i } of order) {
    if (left <= 0) break;
    const take = Math.min(left, Math.max(0, Math.floor(s.rate * seconds)));
    bytes[i] = take;
    left -= take;
    // Ceil once per source, as a seller charges its cumulative bytes.
    cost += chargeFor(BigInt(take), s.pricePerMiB);
  }
  return left > 0 ? null : { bytes, cost };
}
