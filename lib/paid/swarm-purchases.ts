/**
 * Paying in a swarm, the buyer's side of one torrent (docs/PROTOCOL.md "Paying in a
 * swarm"): once a second, measure what each paid seller and the free peers deliver, ask
 * the purchase policy (extensions/seedpay/swarm-policy.ts) which sellers to buy from,
 * and apply its plan to each seller's connection:
 *  - its payment gate (a per-connection Budget among the hook's budgets: closed, no
 *    payment fits; opened, a top-up is asked for at once);
 *  - its request allowance (`control.limitRequests`): the engine keeps at most that many
 *    of our requests in flight there, so the picker's requests go to cheaper sources and
 *    free peers. A seller given the full pipeline is not limited at all.
 * Peers we do not pay (free peers, sellers at price 0, sellers we refused) are never
 * limited. Budgets, the risk cap per seller and session resume stay where they are
 * (the hook's policy, lib/paid/buyer.ts); this only decides where money goes first.
 */
import type { BuyerHook } from '../../extensions/seedpay/hook.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { planPurchases, type SellerView } from '../../extensions/seedpay/swarm-policy.js';
import type { PluginPeer } from '../../extensions/plugin.js';
import { MIB } from '../../payment/amount.js';

/** Larger than any payment (u64 max). */
const UNBOUNDED = (1n << 64n) - 1n;

/**
 * A per-connection Budget that is either open (no limit of its own) or closed (nothing
 * fits): the policy's "pay this seller or not". Reservations made while open are spent
 * or released as usual after it closes.
 */
export class PaymentGate extends Budget {
  constructor(public open: boolean) { super(UNBOUNDED, 'swarm gate'); }
  override get remaining(): bigint { return this.open ? super.remaining : 0n; }
}

export interface SwarmPurchaseOptions {
  /** The download rate wanted (bytes/s): buy only what free peers do not deliver. Null: as fast as possible within the max price. */
  readonly targetRate: number | null;
  readonly maxPricePerMiB: bigint;
  /** Requests in flight that count as a full pipeline (a seller given this many is not limited). Default 64. */
  readonly fullPipeline?: number;
  /** With a target: no purchase starts in the first this-many ms while free peers are connected (their rate is measured first). Default 3000. */
  readonly warmupMs?: number;
}

/** A seller's prepayment covers its measured share of the missing bytes × this (room to speed up). */
const SHARE_MARGIN = 1.5;
/** Nor less than this part of them (a seller measured slow can still be paid to speed up). */
const MIN_SHARE = 0.05;

/**
 * The horizon of a seller's prepaid credit in a swarm (NeedBudget `ahead`): what it
 * delivers in this many seconds at its measured rate, nor less than three settlement
 * round trips' worth of its data (a top-up must land before the credit runs out), nor
 * less than AHEAD_FLOOR (before its rate is measured: the first payment).
 */
const AHEAD_SECONDS = 2;
const AHEAD_FLOOR = 2 * 1024 * 1024;

/** Weight of the newest sample in the rate averages (one sample per tick, about a second). */
const ALPHA = 0.5;

interface Tracked {
  readonly peer: PluginPeer;
  readonly hook: BuyerHook;
  readonly gate: PaymentGate;
  lastBytes: bigint;
  rate: number;
  capacity: number;
  buying: boolean;
  /** Ticks in a row it was bought from without a limit. */
  fullTicks: number;
  /** It has been a paid session: its bytes count as paid ones from then on. */
  everPaid: boolean;
  /** The allowance last sent (null: none). */
  applied: number | null;
}

export class SwarmPurchases {
  private readonly sellers = new Map<number, Tracked>();
  private readonly full: number;
  private lastAt: number | null = null;
  private lastTotal = 0;
  private lastPaid = 0n;
  /** Bytes from paid sellers whose connection is gone (the paid part of the torrent's counter). */
  private paidGone = 0n;
  private freeRate = 0;
  private startedAt: number | null = null;

  constructor(
    private readonly opts: SwarmPurchaseOptions,
    /** Payload bytes the torrent received in all (null before it is known). */
    private readonly downloaded: () => number | null,
    /** Money left in the tightest of the budgets shared by the torrent's connections. */
    private readonly budgetLeft: () => bigint,
  ) {
    this.full = Math.max(1, opts.fullPipeline ?? 64);
  }

  /** The gate a new connection's hook pays through (open at once when buying as fast as possible). */
  newGate(): PaymentGate { return new PaymentGate(this.opts.targetRate === null); }

  /** A connection with a buyer hook joined (its hook may turn out not to sell). */
  add(peer: PluginPeer, hook: BuyerHook, gate: PaymentGate): void {
    this.sellers.set(peer.id, { peer, hook, gate, lastBytes: hook.buyer.bytesReceived, rate: 0, capacity: 0, buying: gate.open, everPaid: false, fullTicks: 0, applied: null });
  }

  remove(peer: PluginPeer): void {
    const s = this.sellers.get(peer.id);
    if (s === undefined) return;
    this.sellers.delete(peer.id);
    if (s.everPaid || isPaid(s.hook)) this.paidGone += s.hook.buyer.bytesReceived;
  }

  /** A paid session was just bound: with a target, ask nothing of it until the policy buys from it. */
  sessionBound(peer: PluginPeer): void {
    const s = this.sellers.get(peer.id);
    if (s === undefined || this.opts.targetRate === null || !isPaid(s.hook) || s.gate.open) return;
    this.apply(s, 0);
  }

  /**
   * The part of what the torrent still misses this seller's payments may cover
   * (NeedBudget): its measured share of the download rate (free peers included) × 1.5,
   * or, before it is measured, an equal share among the connected peers that may
   * deliver (sellers bought from, free peers, peers not classified yet).
   */
  shareOf(hook: BuyerHook): number {
    let mine: Tracked | undefined;
    let sources = 1; // this seller
    let total = this.freeRate;
    for (const s of this.sellers.values()) {
      if (s.hook === hook) { mine = s; total += s.rate; continue; }
      const st = s.hook.buyer.state;
      if (isPaid(s.hook)) {
        if (s.gate.open) { sources++; total += s.rate; }
      } else if (st !== 'refused' && st !== 'stopped' && st !== 'ended' && !s.hook.isClosed) {
        // A free peer, or one not classified yet (a session binds before the other
        // connections' handshakes are in): each may deliver its part.
        sources++;
      }
    }
    if (mine !== undefined && mine.rate > 0 && total > 0) return Math.min(1, Math.max(MIN_SHARE, SHARE_MARGIN * mine.rate / total));
    return 1 / sources;
  }

  /**
   * How many bytes this seller's prepaid credit should cover ahead of what it sent
   * (NeedBudget): null while it is our only source (nothing to share: the session's own
   * sizing, tuned for one fast seller, applies), else its measured rate × AHEAD_SECONDS,
   * at least three settlement round trips of its data and AHEAD_FLOOR.
   */
  aheadOf(hook: BuyerHook): number | null {
    let mine: Tracked | undefined;
    let others = this.freeRate > 0 ? 1 : 0;
    for (const s of this.sellers.values()) {
      if (s.hook === hook) { mine = s; continue; }
      const st = s.hook.buyer.state;
      if (isPaid(s.hook) ? s.gate.open : st !== 'refused' && st !== 'stopped' && st !== 'ended' && !s.hook.isClosed) others++;
    }
    if (others === 0) return null;
    const settle = 3 * Number(hook.buyer.settlementBytes);
    return Math.max(AHEAD_FLOOR, (mine?.rate ?? 0) * AHEAD_SECONDS, settle);
  }

  /** Bytes/s from peers we do not pay, as last measured. */
  get freeRateNow(): number { return this.freeRate; }

  tick(now: number): void {
    const total = this.downloaded();
    if (total === null) return;
    this.startedAt ??= now;
    let paidNow = this.paidGone;
    for (const s of this.sellers.values()) {
      s.everPaid ||= isPaid(s.hook);
      if (s.everPaid) paidNow += s.hook.buyer.bytesReceived;
    }
    const dt = this.lastAt === null ? 0 : (now - this.lastAt) / 1000;
    if (dt > 0) {
      const free = Math.max(0, (total - this.lastTotal) - Number(paidNow - this.lastPaid)) / dt;
      this.freeRate = this.lastAt === null ? free : ALPHA * free + (1 - ALPHA) * this.freeRate;
    }
    this.lastAt = now;
    this.lastTotal = total;
    this.lastPaid = paidNow;

    const views: SellerView[] = [];
    let freePeers = 0;
    for (const s of this.sellers.values()) {
      const b = s.hook.buyer;
      const now1 = dt > 0 ? Number(b.bytesReceived - s.lastBytes) / dt : 0;
      if (dt > 0) s.rate = ALPHA * now1 + (1 - ALPHA) * s.rate;
      s.lastBytes = b.bytesReceived;
      // What it can deliver: measured while bought from without a limit, from its second
      // second on (the first holds its first payment's round trip). Until then it counts
      // as unmeasured, so no dearer seller is added meanwhile.
      if (s.buying && s.applied === null) {
        s.fullTicks++;
        if (s.fullTicks >= 2) s.capacity = Math.max(s.capacity * 0.9, now1);
      } else {
        s.fullTicks = 0;
      }
      if (!isPaid(s.hook) || s.hook.isClosed) {
        if (b.terms === null || b.terms.price === 0n || b.state === 'not_selling') freePeers++;
        // No longer a seller we pay (stopped, refused, ended): never limited by us.
        if (s.applied !== null) this.apply(s, null);
        s.gate.open = false;
        continue;
      }
      const t = b.terms!;
      const prepaid = (b.estimatedBalance ?? 0n) + b.unansweredTotal;
      const balanceBytes = Number((prepaid > 0n ? prepaid * MIB / t.price : 0n) + b.creditLeft);
      views.push({ id: s.peer.id, pricePerMiB: t.price, rate: s.rate, capacity: s.capacity, buying: s.buying, balanceBytes });
    }
    if (views.length === 0) return;
    const warming = this.opts.targetRate !== null && freePeers > 0 && now - this.startedAt < (this.opts.warmupMs ?? 3000);
    const plans = planPurchases({
      freeRate: this.freeRate, sellers: views, maxPricePerMiB: this.opts.maxPricePerMiB, targetRate: this.opts.targetRate,
      fullPipeline: this.full, budgetLeft: this.budgetLeft(), holdNew: warming,
    });
    for (const p of plans) {
      const s = this.sellers.get(p.id)!;
      const opened = p.pay && !s.gate.open;
      s.gate.open = p.pay;
      s.buying = p.pay;
      this.apply(s, p.requests >= this.full ? null : p.requests);
      // Opened: the payment its session may have wanted (and the gate refused) goes now.
      if (opened) s.hook.topUp();
    }
  }

  /** Current decisions, for displays and tests: per connection id, buying or not and the allowance. */
  snapshot(): { id: number; address: string; buying: boolean; requests: number | null; rate: number; capacity: number }[] {
    return [...this.sellers.values()].filter((s) => isPaid(s.hook)).map((s) => ({
      id: s.peer.id, address: s.peer.address, buying: s.buying, requests: s.applied, rate: s.rate, capacity: s.capacity,
    }));
  }

  private apply(s: Tracked, requests: number | null): void {
    if (s.applied === requests) return;
    s.applied = requests;
    s.peer.control.limitRequests(requests);
    s.peer.control.flush();
  }
}

/** A seller we pay: a bound paid session at a price above 0. */
function isPaid(h: BuyerHook): boolean {
  const t = h.buyer.terms;
  return h.buyer.state === 'ready' && t !== null && t.price > 0n;
}
