/**
 * The journal's memory (pure): per-session books, the replay sets, earnings and spend,
 * and the records it retains; rebuilt on open from the snapshot and the records after
 * it, kept up to date by appends, and turned back into a snapshot by a compaction.
 *
 * Two views of each session:
 *  - the DURABLE book: the fold of the records written so far, an immutable object
 *    replaced on every change, so a compaction can copy the references at one instant
 *    and write them out while appends go on;
 *  - the RESERVED state (balance, latest charge, payers, signatures): the durable one
 *    plus appends still being written. Checks that must not race (a signature credited
 *    twice, a balance moved twice, a charge going down) are made and reserved in one
 *    synchronous step against it.
 */
import {
  JournalError, type ChannelRecord, type ChargeRecord, type CreditRecord, type JournalRecord, type PaymentPendingRecord, type PaymentRecord,
  type PaymentVoidRecord, type TransferRecord,
} from './journal-format.js';
import {
  sessionItems, type ChannelBook, type ChannelItem, type KeptRecord, type RatioItem, type SessionItem, type SnapshotHeader, type SnapshotItem, type SnapshotTotals,
} from './journal-snapshot.js';

export type { ChannelBook };

/** A channel's numbers counting appends being written (what channel records are checked against). */
interface ChannelReserved {
  /** Buyer: opened (its deposit), latest voucher sent. */
  deposit: bigint | null;
  sent: bigint;
  /** Seller: latest voucher accepted, latest claim. */
  accepted: bigint;
  claimed: bigint;
}

/**
 * Ratio credits of one identity at this node (an immutable value, replaced on change,
 * like a session's book): bytes of verified data it delivered, credit it spent or lost
 * to expiry (it holds earned − spent), failed pieces it contributed to, the time of its
 * latest record and of its latest earning (its own or vouched for).
 */
export interface RatioBook {
  readonly earned: bigint;
  /** Credit trusted nodes' statements brought (one hop). */
  readonly vouched: bigint;
  readonly spent: bigint;
  readonly strikes: number;
  readonly last: number;
  readonly earnedAt: number;
}

/** An identity's credit counting appends being written. */
export interface RatioState {
  readonly earned: bigint;
  readonly vouched: bigint;
  readonly spent: bigint;
  readonly strikes: number;
  /** Time of its latest earning (0: none). */
  readonly earnedAt: number;
}

const NO_RATIO: RatioBook = Object.freeze({ earned: 0n, vouched: 0n, spent: 0n, strikes: 0, last: 0, earnedAt: 0 });

export interface SessionCharge {
  bytes: bigint;
  units: bigint;
}

export interface JournalSummary {
  /** Seller: credited base units per payer wallet. */
  earnedByPayer: Map<string, bigint>;
  /** Seller: credited base units per session hash. */
  earnedBySession: Map<string, bigint>;
  /** Seller: latest cumulative charge per session hash. */
  chargedBySession: Map<string, SessionCharge>;
  /** Seller: balance moved out of / into a session by transfers (session resume). */
  movedOutBySession: Map<string, bigint>;
  movedInBySession: Map<string, bigint>;
  /** Buyer: paid base units per seller wallet (payments not yet known to have landed included: see PaymentPendingRecord). */
  spentBySeller: Map<string, bigint>;
  /** Buyer: paid base units per torrent (info hash), ever: what a restarted buyer has spent on it (pending payments included). */
  spentByTorrent: Map<string, bigint>;
  totals: SnapshotTotals;
}

/** A session's durable book. Fields are absent when the session had no such record (as in the summary's maps). */
export interface SessionBook {
  readonly earned?: bigint;
  readonly charge?: SessionCharge;
  readonly movedIn?: bigint;
  readonly movedOut?: bigint;
  readonly payers: readonly string[];
  /** Time of the session's latest record. */
  readonly last: number;
}

const NO_BOOK: SessionBook = Object.freeze({ payers: Object.freeze([]) as readonly string[], last: 0 });

interface Session {
  book: SessionBook;
  /** Reserved: credits and transfers in, less the latest charge and transfers out. */
  balance: bigint;
  /** Reserved: highest cumulative charge. */
  charge: SessionCharge | undefined;
  /** Reserved: wallets that paid in by credit or by a transfer in. */
  payers: Set<string>;
}

export function bookBalance(b: SessionBook): bigint {
  return (b.earned ?? 0n) + (b.movedIn ?? 0n) - (b.charge?.units ?? 0n) - (b.movedOut ?? 0n);
}

/** What a compaction writes, copied at one instant (the file offset it stands for is the caller's). */
export interface SnapshotPlan {
  header: SnapshotHeader;
  /** Durable books of the sessions kept. */
  sessions: Array<[string, SessionBook]>;
  /** Sessions left out: nothing left to spend and idle since before the cut. */
  retiring: Set<string>;
  earned: Array<[string, bigint]>;
  spent: Array<[string, bigint]>;
  spentByTorrent: Array<[string, bigint]>;
  /** Credits and payments kept whole (the replay set), and unsettled pending payments, in order. */
  kept: KeptRecord[];
  /** Ratio credits of every identity (never retired: they are what the node owes its uploaders). */
  ratio: Array<[string, RatioBook]>;
  /** Payment channels (every one: a channel is money until claimed or reclaimed). */
  channels: ChannelBook[];
  /** Statement totals redeemed, and what each issuer brought (durable: of the records written). */
  vouches: Array<[string, bigint]>;
  issuers: Array<[string, bigint]>;
  /** How many retained records the plan covers; those after it are the new tail. */
  retainedLen: number;
}

function corrupt(msg: string): JournalError {
  return new JournalError('CORRUPT', msg);
}

function zeroTotals(): SnapshotTotals {
  return { earned: 0n, charged: 0n, spent: 0n, credits: 0, charges: 0, payments: 0, transfers: 0 };
}

export class Books {
  private readonly sessions = new Map<string, Session>();
  private creditSigs = new Set<string>();
  private paymentSigs = new Set<string>();
  /**
   * Buyer: pending payments not settled, counting appends being written (a settle being
   * written removes one): what `payment` / `payment_void` appends are checked against.
   */
  private readonly pendingReserved = new Map<string, PaymentPendingRecord>();
  /** Buyer: pending payments not settled by a written record (in file order): what a snapshot keeps. */
  private readonly pendingDurable = new Map<string, PaymentPendingRecord>();
  private readonly earnedByPayer = new Map<string, bigint>();
  private readonly spentBySeller = new Map<string, bigint>();
  private readonly spentByTorrent = new Map<string, bigint>();
  /** Ratio credits per identity (durable records; kept whole by every snapshot). */
  private readonly ratio = new Map<string, RatioBook>();
  /** Ratio credits per identity counting appends being written (what the credit book decides on). */
  private readonly ratioReserved = new Map<string, { earned: bigint; vouched: bigint; spent: bigint; strikes: number; earnedAt: number }>();
  /** Latest statement total redeemed per `issuer identity` (reserved and durable: only ever goes up, checked at reserve). */
  private readonly vouchTotals = new Map<string, bigint>();
  /** Credit each issuer's statements brought, counting appends being written. */
  private readonly issuerUsed = new Map<string, bigint>();
  /** The same two, of written records only (what a snapshot holds). */
  private readonly vouchDurable = new Map<string, bigint>();
  private readonly issuerDurable = new Map<string, bigint>();
  /** Payment channels (both roles), durable books and reserved numbers. */
  private readonly channels = new Map<string, ChannelBook>();
  private readonly chanReserved = new Map<string, ChannelReserved>();
  private totals = zeroTotals();
  private retained: JournalRecord[] = [];
  /** Latest record time folded in. */
  maxTime = 0;
  /**
   * While set, only credits and payments from this time on are retained: opening a long
   * journal that is compacted as soon as it is open (which keeps no more than these).
   */
  retainOnlyFrom: number | null = null;
  /** The sessions a running compaction leaves out; touching one voids that compaction. */
  private retiring: ReadonlySet<string> | null = null;
  retiringTouched = false;

  // ---------------------------------------------------------------- queries

  hasCredit(signature: string): boolean { return this.creditSigs.has(signature); }
  hasPayment(signature: string): boolean { return this.paymentSigs.has(signature); }
  /** A pending payment not settled (nor being settled): its record, else undefined. */
  pendingPayment(signature: string): PaymentPendingRecord | undefined { return this.pendingReserved.get(signature); }
  /** Pending payments not settled by a written record, in file order. */
  pendingPayments(): PaymentPendingRecord[] { return [...this.pendingDurable.values()]; }
  creditedFor(s: string): bigint { return this.sessions.get(s)?.book.earned ?? 0n; }
  chargedFor(s: string): SessionCharge {
    const c = this.sessions.get(s)?.book.charge;
    return c ? { ...c } : { bytes: 0n, units: 0n };
  }
  balanceOf(s: string): bigint { return this.sessions.get(s)?.balance ?? 0n; }
  spentOn(infoHash: string): bigint { return this.spentByTorrent.get(infoHash) ?? 0n; }
  payersOf(s: string): ReadonlySet<string> { return this.sessions.get(s)?.payers ?? new Set(); }
  /** Whether any record names this session (it was opened, credited, charged or moved here). */
  knows(s: string): boolean { return this.sessions.has(s); }
  /** Ratio credits of one identity counting appends being written, or undefined if it has none. */
  ratioOf(identity: string): RatioState | undefined {
    const r = this.ratioReserved.get(identity);
    return r && { ...r };
  }
  /** The latest statement total redeemed for `identity` from `issuer` (0: none). */
  vouchedTotal(issuer: string, identity: string): bigint { return this.vouchTotals.get(`${issuer} ${identity}`) ?? 0n; }
  /** Credit `issuer`'s statements brought in all. */
  issuerUsedOf(issuer: string): bigint { return this.issuerUsed.get(issuer) ?? 0n; }
  /** Every identity with ratio records (a copy). */
  ratioBooks(): Map<string, RatioBook> { return new Map(this.ratio); }
  get ratioCount(): number { return this.ratio.size; }
  /** A channel's durable book (undefined: no record names it). */
  channelOf(channel: string): ChannelBook | undefined { return this.channels.get(channel); }
  /** Every channel's durable book. */
  channelBooks(): ChannelBook[] { return [...this.channels.values()]; }
  /** Seller: the latest voucher amount accepted for a channel, counting appends being written (0: none). */
  acceptedOf(channel: string): bigint { return this.chanReserved.get(channel)?.accepted ?? 0n; }
  /** Buyer: the latest voucher amount signed for a channel, counting appends being written (0: none). */
  sentOf(channel: string): bigint { return this.chanReserved.get(channel)?.sent ?? 0n; }
  records(): readonly JournalRecord[] { return this.retained.slice(); }
  get retainedCount(): number { return this.retained.length; }
  get sessionCount(): number { return this.sessions.size; }
  get signatureCount(): number { return this.creditSigs.size + this.paymentSigs.size + this.pendingReserved.size; }

  /** Earnings and spend from the durable books (fresh maps; safe to keep). */
  summary(): JournalSummary {
    const s: JournalSummary = {
      earnedByPayer: new Map(this.earnedByPayer), earnedBySession: new Map(), chargedBySession: new Map(),
      movedOutBySession: new Map(), movedInBySession: new Map(), spentBySeller: new Map(this.spentBySeller),
      spentByTorrent: new Map(this.spentByTorrent), totals: { ...this.totals },
    };
    for (const [k, { book: b }] of this.sessions) {
      if (b.earned !== undefined) s.earnedBySession.set(k, b.earned);
      if (b.charge !== undefined) s.chargedBySession.set(k, { ...b.charge });
      if (b.movedOut !== undefined) s.movedOutBySession.set(k, b.movedOut);
      if (b.movedIn !== undefined) s.movedInBySession.set(k, b.movedIn);
    }
    return s;
  }

  // ---------------------------------------------------------------- records

  /** A record read from disk: checked like an append (a failed check is corruption), then folded in. */
  load(r: JournalRecord): void {
    this.reserve(r, true);
    this.apply(r);
  }

  /**
   * Check a record against the reserved state and reserve it, in one synchronous step:
   * a duplicate signature, a transfer of more than is left, or a charge going down is
   * refused (on load: CORRUPT).
   */
  reserve(r: JournalRecord, loading: boolean): void {
    if (r.kind === 'credit') this.reserveCredit(r, loading);
    else if (r.kind === 'transfer') this.reserveTransfer(r, loading);
    else if (r.kind === 'payment') this.reservePayment(r, loading);
    else if (r.kind === 'payment_pending') this.reservePending(r, loading);
    else if (r.kind === 'payment_void') this.reserveVoid(r, loading);
    else if (r.kind === 'charge') this.reserveCharge(r, loading);
    else if (r.kind === 'voucher' || r.kind === 'channel_claimed' || r.kind === 'channel_open' || r.kind === 'voucher_sent') this.reserveChannel(r, loading);
    else this.reserveRatio(r, loading);
  }

  /**
   * Channel records: cumulative vouchers only go up (each increase is credited, or
   * spent, once), a buyer never signs above its deposit, a claim never goes down nor
   * beyond the vouchers held.
   */
  private reserveChannel(r: ChannelRecord, loading: boolean): void {
    const err = (code: 'STALE_VOUCHER' | 'UNKNOWN_CHANNEL' | 'OVERDRAWN', msg: string): JournalError => new JournalError(loading ? 'CORRUPT' : code, msg);
    let c = this.chanReserved.get(r.channel);
    if (c === undefined) c = { deposit: null, sent: 0n, accepted: 0n, claimed: 0n };
    if (r.kind === 'channel_open') {
      if (c.deposit !== null) throw err('UNKNOWN_CHANNEL', `channel ${r.channel} opened twice`);
      c.deposit = r.deposit;
    } else if (r.kind === 'voucher_sent') {
      if (c.deposit === null) throw err('UNKNOWN_CHANNEL', `voucher for channel ${r.channel}, which was never opened here`);
      if (r.amount <= c.sent) throw err('STALE_VOUCHER', `voucher of ${r.amount} on channel ${r.channel} is not above ${c.sent}`);
      if (r.amount > c.deposit) throw err('OVERDRAWN', `voucher of ${r.amount} on channel ${r.channel}, whose deposit is ${c.deposit}`);
      c.sent = r.amount;
    } else if (r.kind === 'voucher') {
      if (r.amount <= c.accepted) throw err('STALE_VOUCHER', `voucher of ${r.amount} on channel ${r.channel} is not above ${c.accepted}`);
      const s = this.session(r.sessionHash);
      s.balance += r.amount - c.accepted;
      s.payers.add(r.buyer);
      c.accepted = r.amount;
    } else {
      if (r.amount < c.claimed) throw err('STALE_VOUCHER', `claim of ${r.amount} on channel ${r.channel} below the claim of ${c.claimed}`);
      if (r.amount > c.accepted) throw err('OVERDRAWN', `claim of ${r.amount} on channel ${r.channel}, whose vouchers reach ${c.accepted}`);
      c.claimed = r.amount;
    }
    this.chanReserved.set(r.channel, c);
  }

  /**
   * Earnings and strikes only add; a spend or an expiry is refused if it takes more than
   * the identity holds (counting appends in flight: the credit book decides on that sum).
   */
  private reserveRatio(r: Extract<JournalRecord, { identity: string }>, loading: boolean): void {
    let b = this.ratioReserved.get(r.identity);
    if (r.kind === 'ratio_spent' || r.kind === 'ratio_expired') {
      const held = b === undefined ? 0n : b.earned + b.vouched - b.spent;
      if (r.bytes > held) {
        throw new JournalError(loading ? 'CORRUPT' : 'OVERDRAWN', `${r.kind} of ${r.bytes} by ${r.identity}, which holds ${held}`);
      }
      b!.spent += r.bytes;
      return;
    }
    if (r.kind === 'ratio_vouched') {
      const k = `${r.issuer} ${r.identity}`;
      const before = this.vouchTotals.get(k) ?? 0n;
      if (r.total <= before) {
        throw new JournalError(loading ? 'CORRUPT' : 'STALE_STATEMENT', `statement total ${r.total} by ${r.issuer} for ${r.identity} is not above ${before}`);
      }
      this.vouchTotals.set(k, r.total);
      this.issuerUsed.set(r.issuer, (this.issuerUsed.get(r.issuer) ?? 0n) + r.bytes);
    }
    if (b === undefined) this.ratioReserved.set(r.identity, b = { earned: 0n, vouched: 0n, spent: 0n, strikes: 0, earnedAt: 0 });
    if (r.kind === 'ratio_vouched') {
      b.vouched += r.bytes;
      if (r.time > b.earnedAt) b.earnedAt = r.time;
    } else if (r.kind === 'ratio_earned') {
      b.earned += r.bytes;
      if (r.time > b.earnedAt) b.earnedAt = r.time;
    } else {
      b.strikes++;
    }
  }

  private reserveCredit(r: CreditRecord, loading: boolean): void {
    if (this.creditSigs.has(r.signature)) {
      throw new JournalError(loading ? 'CORRUPT' : 'DUPLICATE_SIGNATURE', `signature ${r.signature} already credited`);
    }
    this.creditSigs.add(r.signature);
    const s = this.session(r.sessionHash);
    s.balance += r.amount;
    s.payers.add(r.payer);
  }

  private reserveTransfer(r: TransferRecord, loading: boolean): void {
    const from = this.session(r.from);
    if (from.balance < r.amount) {
      throw new JournalError(loading ? 'CORRUPT' : 'OVERDRAWN', `transfer of ${r.amount} from session ${r.from}, which has ${from.balance}`);
    }
    const to = this.session(r.to);
    from.balance -= r.amount;
    to.balance += r.amount;
    // The payer whose resume moved it owns that credit in `to` as if it had paid it there.
    to.payers.add(r.payer);
  }

  private reservePayment(r: PaymentRecord, loading: boolean): void {
    if (this.paymentSigs.has(r.signature)) {
      throw new JournalError(loading ? 'CORRUPT' : 'DUPLICATE_SIGNATURE', `payment ${r.signature} already journaled`);
    }
    const p = this.pendingReserved.get(r.signature);
    // The payment of a pending one settles it: the same transaction, so the same amount, seller and torrent.
    if (p !== undefined && (p.amount !== r.amount || p.seller !== r.seller || p.infoHash !== r.infoHash)) {
      throw new JournalError(loading ? 'CORRUPT' : 'NOT_PENDING', `payment ${r.signature} disagrees with its pending record`);
    }
    this.pendingReserved.delete(r.signature);
    this.paymentSigs.add(r.signature);
  }

  private reservePending(r: PaymentPendingRecord, loading: boolean): void {
    if (this.paymentSigs.has(r.signature) || this.pendingReserved.has(r.signature)) {
      throw new JournalError(loading ? 'CORRUPT' : 'DUPLICATE_SIGNATURE', `payment ${r.signature} already journaled`);
    }
    this.pendingReserved.set(r.signature, r);
  }

  private reserveVoid(r: PaymentVoidRecord, loading: boolean): void {
    if (!this.pendingReserved.delete(r.signature)) {
      throw new JournalError(loading ? 'CORRUPT' : 'NOT_PENDING', `payment_void for ${r.signature}, which is not an unsettled pending payment`);
    }
  }

  private reserveCharge(r: ChargeRecord, loading: boolean): void {
    const s = this.session(r.sessionHash);
    const prev = s.charge;
    if (prev && (r.bytes < prev.bytes || r.units < prev.units)) {
      throw new JournalError(loading ? 'CORRUPT' : 'CHARGE_DECREASED', `charge for session ${r.sessionHash} decreased`);
    }
    s.charge = { bytes: r.bytes, units: r.units };
    s.balance -= r.units - (prev?.units ?? 0n);
  }

  /** The session's state, created empty; touching a session a running compaction retires voids that compaction. */
  private session(hash: string): Session {
    if (this.retiring?.has(hash)) this.retiringTouched = true;
    let s = this.sessions.get(hash);
    if (s === undefined) this.sessions.set(hash, s = { book: NO_BOOK, balance: 0n, charge: undefined, payers: new Set() });
    return s;
  }

  /** Fold a record that is now written (in file order) into the durable books. */
  apply(r: JournalRecord): void {
    if (r.time > this.maxTime) this.maxTime = r.time;
    const t = this.totals;
    if (r.kind === 'credit') {
      addTo(this.earnedByPayer, r.payer, r.amount);
      this.rebook(r.sessionHash, r.time, (b) => ({ earned: (b.earned ?? 0n) + r.amount, payers: withPayer(b.payers, r.payer) }));
      t.earned += r.amount;
      t.credits++;
    } else if (r.kind === 'payment') {
      // A pending payment that landed: its amount is counted already.
      if (!this.pendingDurable.delete(r.signature)) {
        addTo(this.spentBySeller, r.seller, r.amount);
        addTo(this.spentByTorrent, r.infoHash, r.amount);
        t.spent += r.amount;
      }
      t.payments++;
    } else if (r.kind === 'payment_pending') {
      // Spent until it is known never to have moved money.
      this.pendingDurable.set(r.signature, r);
      addTo(this.spentBySeller, r.seller, r.amount);
      addTo(this.spentByTorrent, r.infoHash, r.amount);
      t.spent += r.amount;
    } else if (r.kind === 'payment_void') {
      const p = this.pendingDurable.get(r.signature);
      if (p !== undefined) {
        this.pendingDurable.delete(r.signature);
        addTo(this.spentBySeller, p.seller, -p.amount);
        addTo(this.spentByTorrent, p.infoHash, -p.amount);
        t.spent -= p.amount;
      }
    } else if (r.kind === 'ratio_earned' || r.kind === 'ratio_strike' || r.kind === 'ratio_spent' || r.kind === 'ratio_expired' || r.kind === 'ratio_vouched') {
      const b = this.ratio.get(r.identity) ?? NO_RATIO;
      const last = Math.max(b.last, r.time);
      if (r.kind === 'ratio_vouched') {
        this.ratio.set(r.identity, { ...b, vouched: b.vouched + r.bytes, last, earnedAt: Math.max(b.earnedAt, r.time) });
        this.vouchDurable.set(`${r.issuer} ${r.identity}`, r.total);
        this.issuerDurable.set(r.issuer, (this.issuerDurable.get(r.issuer) ?? 0n) + r.bytes);
      }
      else if (r.kind === 'ratio_earned') this.ratio.set(r.identity, { ...b, earned: b.earned + r.bytes, last, earnedAt: Math.max(b.earnedAt, r.time) });
      else if (r.kind === 'ratio_strike') this.ratio.set(r.identity, { ...b, strikes: b.strikes + 1, last });
      else this.ratio.set(r.identity, { ...b, spent: b.spent + r.bytes, last });
    } else if (r.kind === 'voucher' || r.kind === 'channel_claimed' || r.kind === 'channel_open' || r.kind === 'voucher_sent') {
      this.applyChannel(r);
    } else if (r.kind === 'transfer') {
      this.rebook(r.from, r.time, (b) => ({ movedOut: (b.movedOut ?? 0n) + r.amount }));
      this.rebook(r.to, r.time, (b) => ({ movedIn: (b.movedIn ?? 0n) + r.amount, payers: withPayer(b.payers, r.payer) }));
      t.transfers++;
    } else {
      // Charges are cumulative per session: the latest record replaces the previous one.
      this.rebook(r.sessionHash, r.time, (b) => {
        t.charged += r.units - (b.charge?.units ?? 0n);
        return { charge: { bytes: r.bytes, units: r.units } };
      });
      t.charges++;
    }
    this.retain(r);
  }

  /** A channel record, written: its book, and the increase of a voucher as money earned or spent. */
  private applyChannel(r: ChannelRecord): void {
    const b: ChannelBook = this.channels.get(r.channel) ?? { channel: r.channel, last: 0 };
    const last = Math.max(b.last, r.time);
    const t = this.totals;
    if (r.kind === 'channel_open') {
      const { seller, mint, nonce, deposit, expiry, voucherKey, time } = r;
      this.channels.set(r.channel, { ...b, open: { seller, mint, nonce, deposit, expiry, voucherKey, time }, last });
    } else if (r.kind === 'voucher_sent') {
      const delta = r.amount - (b.sent ?? 0n);
      addTo(this.spentBySeller, r.seller, delta);
      addTo(this.spentByTorrent, r.infoHash, delta);
      t.spent += delta;
      this.channels.set(r.channel, { ...b, sent: r.amount, last });
    } else if (r.kind === 'voucher') {
      const delta = r.amount - (b.voucher?.amount ?? 0n);
      addTo(this.earnedByPayer, r.buyer, delta);
      t.earned += delta;
      this.rebook(r.sessionHash, r.time, (s) => ({ earned: (s.earned ?? 0n) + delta, payers: withPayer(s.payers, r.buyer) }));
      const { amount, signature, buyer, sessionHash, infoHash, time } = r;
      this.channels.set(r.channel, { ...b, voucher: { amount, signature, buyer, sessionHash, infoHash, time }, last });
    } else {
      const { amount, signature, closed, time } = r;
      this.channels.set(r.channel, { ...b, claimed: { amount, signature, closed, time }, last });
    }
  }

  private rebook(hash: string, time: number, change: (b: SessionBook) => Partial<SessionBook>): void {
    const s = this.session(hash);
    const b = s.book;
    s.book = { ...b, ...change(b), last: Math.max(b.last, time) };
  }

  private retain(r: JournalRecord): void {
    const from = this.retainOnlyFrom;
    if (from === null || mayKeep(r, from)) this.retained.push(r);
  }

  /** Retain from now on only what a snapshot cut at `from` keeps, and forget the rest already retained. */
  retainOnly(from: number): void {
    this.retainOnlyFrom = from;
    this.retained = this.retained.filter((r) => mayKeep(r, from));
  }

  // ---------------------------------------------------------------- snapshot in

  loadHeader(h: SnapshotHeader): void {
    this.totals = { ...h.totals };
    this.maxTime = h.maxTime;
  }

  loadItem(item: SnapshotItem): void {
    switch (item.t) {
      case 'session': return this.loadSession(item);
      case 'payers': return this.loadPayers(item.session, item.payers);
      case 'earned': return loadOnce(this.earnedByPayer, item.payer, item.amount, 'payer');
      case 'spent': return loadOnce(this.spentBySeller, item.seller, item.amount, 'seller');
      case 'torrent': return loadOnce(this.spentByTorrent, item.infoHash, item.amount, 'torrent');
      case 'record': return this.loadKept(item.record);
      case 'ratio': return this.loadRatio(item);
      case 'vouch': {
        const k = `${item.issuer} ${item.identity}`;
        if (this.vouchTotals.has(k)) throw corrupt(`snapshot lists the statements of ${item.issuer} for ${item.identity} twice`);
        this.vouchTotals.set(k, item.total);
        this.vouchDurable.set(k, item.total);
        return;
      }
      case 'channel': return this.loadChannel(item);
      case 'issuer':
        if (this.issuerUsed.has(item.issuer)) throw corrupt(`snapshot lists issuer ${item.issuer} twice`);
        this.issuerUsed.set(item.issuer, item.used);
        this.issuerDurable.set(item.issuer, item.used);
        return;
    }
  }

  private loadSession(i: SessionItem): void {
    if (this.sessions.has(i.session)) throw corrupt(`snapshot lists session ${i.session} twice`);
    const book: SessionBook = {
      ...(i.earned !== undefined && { earned: i.earned }), ...(i.charge !== undefined && { charge: { ...i.charge } }),
      ...(i.in !== undefined && { movedIn: i.in }), ...(i.out !== undefined && { movedOut: i.out }),
      payers: [], last: i.last,
    };
    this.sessions.set(i.session, { book, balance: bookBalance(book), charge: i.charge && { ...i.charge }, payers: new Set() });
    this.loadPayers(i.session, i.payers);
  }

  private loadRatio(i: RatioItem): void {
    if (this.ratio.has(i.identity)) throw corrupt(`snapshot lists identity ${i.identity} twice`);
    this.ratio.set(i.identity, { earned: i.earned, vouched: i.vouched, spent: i.spent, strikes: i.strikes, last: i.last, earnedAt: i.earnedAt });
    this.ratioReserved.set(i.identity, { earned: i.earned, vouched: i.vouched, spent: i.spent, strikes: i.strikes, earnedAt: i.earnedAt });
  }

  private loadChannel(i: ChannelItem): void {
    if (this.channels.has(i.channel)) throw corrupt(`snapshot lists channel ${i.channel} twice`);
    const { t: _t, ...book } = i;
    this.channels.set(i.channel, book);
    this.chanReserved.set(i.channel, {
      deposit: i.open?.deposit ?? null, sent: i.sent ?? 0n, accepted: i.voucher?.amount ?? 0n, claimed: i.claimed?.amount ?? 0n,
    });
  }

  private loadPayers(hash: string, payers: readonly string[]): void {
    const s = this.sessions.get(hash);
    if (s === undefined) throw corrupt(`snapshot lists payers of session ${hash} before the session`);
    for (const p of payers) {
      if (s.payers.has(p)) throw corrupt(`snapshot lists payer ${p} of session ${hash} twice`);
      s.payers.add(p);
    }
    s.book = { ...s.book, payers: [...s.book.payers, ...payers] };
  }

  /**
   * A kept credit, payment or unsettled pending payment: back in the replay set (or the
   * pending ones) and in records(), not counted again (the totals and sums have it).
   */
  private loadKept(r: KeptRecord): void {
    if (r.kind === 'payment_pending') {
      if (this.pendingReserved.has(r.signature) || this.paymentSigs.has(r.signature)) throw corrupt(`snapshot keeps signature ${r.signature} twice`);
      this.pendingReserved.set(r.signature, r);
      this.pendingDurable.set(r.signature, r);
      this.retained.push(r);
      return;
    }
    const sigs = r.kind === 'credit' ? this.creditSigs : this.paymentSigs;
    if (sigs.has(r.signature) || (r.kind === 'payment' && this.pendingReserved.has(r.signature))) {
      throw corrupt(`snapshot keeps signature ${r.signature} twice`);
    }
    sigs.add(r.signature);
    this.retained.push(r);
  }

  /** The snapshot is fully read: what it lists must add up to its totals. */
  endSnapshot(): void {
    const sum = (m: Map<string, bigint>): bigint => { let n = 0n; for (const v of m.values()) n += v; return n; };
    if (sum(this.earnedByPayer) !== this.totals.earned) throw corrupt('snapshot: earnings per payer do not add up to the total');
    if (sum(this.spentBySeller) !== this.totals.spent) throw corrupt('snapshot: spend per seller does not add up to the total');
    if (sum(this.spentByTorrent) !== this.totals.spent) throw corrupt('snapshot: spend per torrent does not add up to the total');
  }

  // ---------------------------------------------------------------- snapshot out

  /**
   * Copy what a snapshot taken now holds (cheap: references to immutable books). Left
   * out: signatures of credits and payments older than `cut`, and (if `retire`) sessions
   * with nothing left to spend whose latest record is older than `cut` and that nothing
   * pending touches.
   */
  plan(now: number, cut: number, retire: boolean): SnapshotPlan {
    const sessions: Array<[string, SessionBook]> = [];
    const retiring = new Set<string>();
    for (const [hash, s] of this.sessions) {
      if (s.book === NO_BOOK) continue; // only pending records so far: they will be in the tail
      if (retire && this.idle(s, cut)) retiring.add(hash);
      else sessions.push([hash, s.book]);
    }
    // Unsettled pending payments are kept whatever their age: their fate is still to be learnt.
    const kept = this.retained.filter((r): r is KeptRecord => ((r.kind === 'credit' || r.kind === 'payment') && r.time >= cut)
      || (r.kind === 'payment_pending' && this.pendingDurable.has(r.signature)));
    this.retiring = retiring.size > 0 ? retiring : null;
    this.retiringTouched = false;
    return {
      header: { time: now, cut, maxTime: this.maxTime, totals: { ...this.totals } },
      sessions, retiring, earned: [...this.earnedByPayer], spent: [...this.spentBySeller], spentByTorrent: [...this.spentByTorrent], kept,
      ratio: [...this.ratio], channels: [...this.channels.values()], vouches: [...this.vouchDurable], issuers: [...this.issuerDurable], retainedLen: this.retained.length,
    };
  }

  private idle(s: Session, cut: number): boolean {
    const b = s.book;
    const noPending = s.balance === bookBalance(b) && s.charge?.units === b.charge?.units && s.charge?.bytes === b.charge?.bytes
      && s.payers.size === b.payers.length;
    return b.last < cut && bookBalance(b) === 0n && noPending;
  }

  /** The snapshot's items, in the order they are written. */
  *items(p: SnapshotPlan): Generator<SnapshotItem> {
    for (const [session, b] of p.sessions) {
      yield* sessionItems({ session, last: b.last, earned: b.earned, charge: b.charge, in: b.movedIn, out: b.movedOut }, b.payers);
    }
    for (const [payer, amount] of p.earned) yield { t: 'earned', payer, amount };
    for (const [seller, amount] of p.spent) yield { t: 'spent', seller, amount };
    for (const [infoHash, amount] of p.spentByTorrent) yield { t: 'torrent', infoHash, amount };
    for (const r of p.kept) yield { t: 'record', record: r };
    for (const [identity, b] of p.ratio) yield { t: 'ratio', identity, earned: b.earned, vouched: b.vouched, spent: b.spent, strikes: b.strikes, last: b.last, earnedAt: b.earnedAt };
    for (const [k, total] of p.vouches) {
      const [issuer, identity] = k.split(' ');
      yield { t: 'vouch', issuer, identity, total };
    }
    for (const [issuer, used] of p.issuers) yield { t: 'issuer', issuer, used };
    for (const c of p.channels) yield { t: 'channel', ...c };
  }

  /**
   * The snapshot of `p` replaced the journal: forget what it left out, so memory holds
   * what a reopen would rebuild. `pending` are records reserved but not written yet.
   */
  compacted(p: SnapshotPlan, pending: readonly JournalRecord[]): void {
    for (const hash of p.retiring) this.sessions.delete(hash);
    this.retiring = null;
    const tail = this.retained.slice(p.retainedLen);
    this.retained = [...p.kept, ...tail];
    this.retainOnlyFrom = null;
    this.creditSigs = new Set();
    this.paymentSigs = new Set();
    for (const r of [...this.retained, ...pending]) {
      if (r.kind === 'credit') this.creditSigs.add(r.signature);
      else if (r.kind === 'payment') this.paymentSigs.add(r.signature);
    }
  }

  /** The compaction of `p` was given up: nothing changes. */
  abandoned(): void {
    this.retiring = null;
    this.retiringTouched = false;
  }
}

function addTo(m: Map<string, bigint>, k: string, v: bigint): void {
  const n = (m.get(k) ?? 0n) + v;
  // A voided pending payment that was all of a key's spend leaves no zero entry behind.
  if (n === 0n && v < 0n) m.delete(k);
  else m.set(k, n);
}

/** Whether a snapshot cut at `from` may keep this record (pending payments: if still unsettled, decided at the plan). */
function mayKeep(r: JournalRecord, from: number): boolean {
  return ((r.kind === 'credit' || r.kind === 'payment') && r.time >= from) || r.kind === 'payment_pending';
}

function withPayer(payers: readonly string[], p: string): readonly string[] {
  return payers.includes(p) ? payers : [...payers, p];
}

function loadOnce(m: Map<string, bigint>, k: string, v: bigint, what: string): void {
  if (m.has(k)) throw corrupt(`snapshot lists ${what} ${k} twice`);
  m.set(k, v);
}
