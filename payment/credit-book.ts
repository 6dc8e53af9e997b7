/**
 * The node's ratio credits (docs/PROTOCOL.md, "Ratio credits"): what each peer
 * identity (a wallet) earned at this node by delivering data the node asked for and
 * verified, and what it spent of it in the node's paid torrents, kept in the node's
 * journal (`ratio_earned`, `ratio_strike`, `ratio_spent`, `ratio_expired` records) and
 * read back from it on open. One book per node, shared by every torrent it runs: the
 * torrents' plugins (extensions/ratio/plugin.ts) write into it as their `CreditSink`,
 * and a selling node's paid sessions draw on it (`reserve`).
 *
 * Durability ([decided], like the seller's charges): what peers earn and spend
 * accumulates in memory and is journaled (fsync'd) about once a second (`flush`, from
 * the plugins' tick), at `flushBytes` per identity, and at `close`. A crash loses at
 * most the last second of earnings (in the node's favour) and of spending (in the
 * spender's); an fsync per passed piece would compete with the download's own disk
 * writes. Strikes are rare and journaled at once. Earnings are always written before
 * the spends that may draw on them, so the journal, which refuses a spend of more than
 * an identity holds, never sees one out of order.
 *
 * Bounds:
 *  - at most `maxIdentities` identities: once that many have records, a new identity
 *    earns nothing here (memory and the journal's snapshot stay bounded, and an
 *    identity only gets in by delivering verified data first);
 *  - an identity with `maxStrikes` strikes (failed pieces it contributed to) earns
 *    nothing more here, and no more strikes are written for it;
 *  - `cap`: an identity never holds more than this (earnings beyond it are not kept);
 *  - `ttlSeconds`: the credit of an identity that earned nothing here for this long
 *    expires (a running balance has no age per byte; an uploader that keeps uploading
 *    keeps its credit, one that left stops being owed). Expired credit cannot be
 *    spent, and is written off (`ratio_expired`) before the identity earns again, so it
 *    never comes back.
 * Credit drawn for a paid session is set aside (`reserve`): two sessions of one
 * identity, in one torrent or several, never spend the same credit.
 * A journal that cannot be written loses the credit being written (reported through
 * `onError`): never a crash, and never credit that is not on disk after a restart.
 */
import { Journal, type JournalOpenOptions, type RatioBook } from './journal.js';

export const DEFAULT_MAX_IDENTITIES = 65_536;
export const DEFAULT_MAX_STRIKES = 8;
const DEFAULT_FLUSH_BYTES = 4 << 20;

export interface CreditBookOptions {
  maxIdentities?: number;
  maxStrikes?: number;
  /** Most credit (bytes) an identity holds at this node; earnings beyond it are not kept. Default: no cap. */
  cap?: bigint;
  /** Credit of an identity that earned nothing here for this many seconds expires. Default: never. */
  ttlSeconds?: number;
  /** Journal an identity's accumulated earnings once they reach this many bytes (default 4 MiB). */
  flushBytes?: number;
  /** Unix ms for records (default Date.now). */
  now?: () => number;
  /** A write that failed (its credit is lost; the journal refuses further writes until reopened). */
  onError?: (e: Error) => void;
}

/** What one identity has at this node, counting what is not yet on disk. */
export interface CreditBalance {
  /** Verified bytes it delivered and that were kept (the cap may have left some out). */
  earned: bigint;
  /** Credit trusted nodes' statements brought (one hop; at this node's discount). */
  vouched: bigint;
  /** Credit spent in paid sessions or expired. */
  spent: bigint;
  /** earned + vouched − spent: what the node owes it (reserved credit included). */
  held: bigint;
  /** What a new paid session could draw now: held, less what live sessions set aside; 0 once expired. */
  available: bigint;
  strikes: number;
  /** Unix ms of its latest earning (0: none). */
  earnedAt: number;
}

interface Accrual {
  identity: string;
  infoHash: string;
  bytes: bigint;
}

/**
 * Credit set aside for one paid session (`CreditBook.reserve`). The session reports
 * what it has spent so far (`spend`, cumulative); the book journals it; `release`
 * returns what was not spent.
 */
export class CreditReservation {
  /** Credit spent so far (cumulative, ≤ granted). */
  used = 0n;
  /** Of `used`, what is journaled (or being written). */
  journaled = 0n;
  released = false;

  constructor(
    private readonly book: CreditBook,
    readonly identity: string,
    /** Credit bytes set aside for this session. */
    readonly granted: bigint,
    readonly infoHash: string,
    readonly sessionHash: string,
  ) {}

  /** Credit this session has spent in all (never more than granted; never goes down). */
  spend(total: bigint): void {
    if (this.released) return;
    const t = total > this.granted ? this.granted : total;
    if (t > this.used) this.used = t;
  }

  /** The session is over: what it spent is journaled, the rest is available again. */
  release(): Promise<void> {
    if (this.released) return Promise.resolve();
    this.released = true;
    return this.book.flush();
  }
}

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export class CreditBook {
  readonly journal: Journal;
  readonly cap: bigint | null;
  readonly ttlSeconds: number | null;
  private readonly owned: boolean;
  private readonly maxIdentities: number;
  private readonly maxStrikes: number;
  private readonly flushBytes: bigint;
  private readonly now: () => number;
  private readonly onError: (e: Error) => void;
  /** Identities with records, or about to have them. */
  private readonly known: Set<string>;
  /** Not journaled yet: identity + torrent → bytes. */
  private accrued = new Map<string, Accrual>();
  /** Earnings per identity not journaled yet (the sum of its accruals), and when it last earned. */
  private readonly accruedBy = new Map<string, { bytes: bigint; at: number }>();
  /** Reservations of live sessions, and released ones whose spend is not journaled yet. */
  private readonly reservations = new Set<CreditReservation>();
  private readonly writes = new Set<Promise<void>>();
  private closed = false;

  constructor(journal: Journal, opts: CreditBookOptions = {}, owned = false) {
    this.journal = journal;
    this.owned = owned;
    this.maxIdentities = positive(opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES, 'maxIdentities');
    this.maxStrikes = positive(opts.maxStrikes ?? DEFAULT_MAX_STRIKES, 'maxStrikes');
    this.flushBytes = BigInt(positive(opts.flushBytes ?? DEFAULT_FLUSH_BYTES, 'flushBytes'));
    if (opts.cap !== undefined && (typeof opts.cap !== 'bigint' || opts.cap <= 0n)) throw new RangeError('cap must be a positive bigint');
    this.cap = opts.cap ?? null;
    this.ttlSeconds = opts.ttlSeconds === undefined ? null : positive(opts.ttlSeconds, 'ttlSeconds');
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => undefined);
    this.known = new Set(journal.ratioBooks().keys());
  }

  /** Open (or create) a journal of its own at `path` and read the balances from it. */
  static async open(path: string, opts: CreditBookOptions & { journal?: JournalOpenOptions } = {}): Promise<CreditBook> {
    const j = await Journal.open(path, opts.journal);
    return new CreditBook(j, opts, true);
  }

  /** `identity` delivered `bytes` of verified data in torrent `infoHash` (20 bytes). */
  earn(identity: string, bytes: number, infoHash: Uint8Array): void {
    if (this.closed || !Number.isSafeInteger(bytes) || bytes <= 0 || infoHash.length !== 20) return;
    if (!this.admits(identity)) return;
    if (this.strikesOf(identity) >= this.maxStrikes) return;
    const now = this.now();
    this.expireIfStale(identity, now);
    let keep = BigInt(bytes);
    if (this.cap !== null) {
      const room = this.cap - this.heldOf(identity);
      if (room <= 0n) return;
      if (keep > room) keep = room;
    }
    this.known.add(identity);
    const ih = hexOf(infoHash);
    const k = `${identity} ${ih}`;
    let a = this.accrued.get(k);
    if (a === undefined) this.accrued.set(k, a = { identity, infoHash: ih, bytes: 0n });
    a.bytes += keep;
    const by = this.accruedBy.get(identity);
    this.accruedBy.set(identity, { bytes: (by?.bytes ?? 0n) + keep, at: now });
    if (a.bytes >= this.flushBytes) this.writeEarned(a, k);
  }

  /** A piece `identity` contributed to failed our hash check. */
  strike(identity: string, infoHash: Uint8Array): void {
    if (this.closed || infoHash.length !== 20 || !this.admits(identity)) return;
    if (this.strikesOf(identity) >= this.maxStrikes) return; // saturated: nothing more to learn
    this.known.add(identity);
    this.settle(this.journal.append({ kind: 'ratio_strike', identity, infoHash: hexOf(infoHash), time: this.now() }));
  }

  /**
   * A statement by trusted node `issuer` that `identity` delivered `total` verified bytes
   * to it, in all (its signature and the trust checked by the caller,
   * extensions/ratio/statements.ts). Credits the part of `total` not redeemed before,
   * times `discount`, within what `issuer`'s statements may bring in all (`budget`) and
   * the cap; journaled at once (fsync'd; statements are rare). Returns the credit granted.
   */
  vouch(identity: string, issuer: string, total: bigint, rule: { readonly discount: readonly [bigint, bigint]; readonly budget: bigint }): bigint {
    if (this.closed || identity === issuer || total <= 0n || !this.admits(identity)) return 0n;
    if (this.strikesOf(identity) >= this.maxStrikes) return 0n;
    const before = this.journal.vouchedTotal(issuer, identity);
    if (total <= before) return 0n; // redeemed already
    const [num, den] = rule.discount;
    let bytes = ((total - before) * num) / den;
    const left = rule.budget - this.journal.issuerUsedOf(issuer);
    if (bytes > left) bytes = left;
    const now = this.now();
    this.expireIfStale(identity, now);
    if (this.cap !== null) {
      const room = this.cap - this.heldOf(identity);
      if (bytes > room) bytes = room;
    }
    if (bytes <= 0n) return 0n;
    this.known.add(identity);
    this.settle(this.journal.append({ kind: 'ratio_vouched', identity, issuer, total, bytes, time: now }));
    return bytes;
  }

  /** Verified bytes `identity` delivered to this node itself (what this node may vouch for to others). */
  verifiedBy(identity: string): bigint {
    return (this.journal.ratioOf(identity)?.earned ?? 0n) + (this.accruedBy.get(identity)?.bytes ?? 0n);
  }

  /**
   * Set aside up to `want` bytes of `identity`'s credit for paid session `sessionHash`
   * of torrent `infoHash` (hex); null if it has none available (none, all set aside by
   * other sessions, or expired).
   */
  reserve(identity: string, want: bigint, infoHash: string, sessionHash: string): CreditReservation | null {
    if (this.closed || want <= 0n) return null;
    const avail = this.balanceOf(identity).available;
    if (avail <= 0n) return null;
    const r = new CreditReservation(this, identity, want < avail ? want : avail, infoHash, sessionHash);
    this.reservations.add(r);
    return r;
  }

  /** Journal what has accumulated (earnings first). Resolves once it is on disk (or lost to a failed journal, reported). */
  flush(): Promise<void> {
    const batch = this.accrued;
    this.accrued = new Map();
    this.accruedBy.clear();
    for (const [k, a] of batch) this.writeEarned(a, k, batch);
    for (const r of this.reservations) {
      if (r.used > r.journaled) {
        const bytes = r.used - r.journaled;
        r.journaled = r.used;
        this.settle(this.journal.append({ kind: 'ratio_spent', identity: r.identity, bytes, infoHash: r.infoHash, sessionHash: r.sessionHash, time: this.now() }));
      }
      if (r.released) this.reservations.delete(r);
    }
    return this.settled();
  }

  /** What `identity` has at this node (what is not on disk yet included). */
  balanceOf(identity: string): CreditBalance {
    const d = this.journal.ratioOf(identity);
    const by = this.accruedBy.get(identity);
    const earned = (d?.earned ?? 0n) + (by?.bytes ?? 0n);
    const vouched = d?.vouched ?? 0n;
    let spent = d?.spent ?? 0n;
    let aside = 0n;
    for (const r of this.reservations) {
      if (r.identity !== identity) continue;
      spent += r.used - r.journaled;
      if (!r.released) aside += r.granted - r.used;
    }
    const held = earned + vouched - spent;
    const earnedAt = Math.max(d?.earnedAt ?? 0, by?.at ?? 0);
    const available = this.expired(earnedAt, held, this.now()) ? 0n : held - aside;
    return { earned, vouched, spent, held, available: available > 0n ? available : 0n, strikes: d?.strikes ?? 0, earnedAt };
  }

  /** Balances on disk, per identity (what a restarted node reads back). */
  durable(): Map<string, RatioBook> {
    return this.journal.ratioBooks();
  }

  /** Every identity this node knows, with its balance now. */
  balances(): Map<string, CreditBalance> {
    const out = new Map<string, CreditBalance>();
    for (const id of this.known) out.set(id, this.balanceOf(id));
    return out;
  }

  get identityCount(): number { return this.known.size; }

  /** Journal what has accumulated, wait for every write, close the journal if it is ours. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const r of this.reservations) r.released = true;
    await this.flush();
    this.closed = true;
    if (this.owned) await this.journal.close();
  }

  private heldOf(identity: string): bigint {
    return this.balanceOf(identity).held;
  }

  private expired(earnedAt: number, held: bigint, now: number): boolean {
    return this.ttlSeconds !== null && held > 0n && now - earnedAt > this.ttlSeconds * 1000;
  }

  /**
   * Write off what an identity that stopped earning holds, before it earns again (so
   * the old credit does not come back with the new). What live sessions set aside is
   * theirs to finish spending, so it is not written off now.
   */
  private expireIfStale(identity: string, now: number): void {
    const b = this.balanceOf(identity);
    if (!this.expired(b.earnedAt, b.held, now)) return;
    let aside = 0n;
    for (const r of this.reservations) if (r.identity === identity && !r.released) aside += r.granted - r.used;
    const bytes = b.held - aside;
    if (bytes <= 0n) return;
    // Earnings not journaled yet go to disk first: the write-off may take them too.
    void this.flush();
    this.settle(this.journal.append({ kind: 'ratio_expired', identity, bytes, time: now }));
  }

  private admits(identity: string): boolean {
    return this.known.has(identity) || this.known.size < this.maxIdentities;
  }

  private strikesOf(identity: string): number {
    return this.journal.ratioOf(identity)?.strikes ?? 0;
  }

  private writeEarned(a: Accrual, key: string, from: Map<string, Accrual> = this.accrued): void {
    from.delete(key);
    if (from === this.accrued) {
      const by = this.accruedBy.get(a.identity);
      if (by !== undefined) {
        const rest = by.bytes - a.bytes;
        if (rest > 0n) this.accruedBy.set(a.identity, { bytes: rest, at: by.at });
        else this.accruedBy.delete(a.identity);
      }
    }
    this.settle(this.journal.append({ kind: 'ratio_earned', identity: a.identity, bytes: a.bytes, infoHash: a.infoHash, time: this.now() }));
  }

  /** Keep the append until it is on disk; a failed one is reported (the journal keeps it reserved: never credited twice). */
  private settle(append: Promise<void>): void {
    const done: Promise<void> = append.then(
      () => undefined,
      (e: unknown) => { this.onError(e instanceof Error ? e : new Error(String(e))); },
    ).finally(() => { this.writes.delete(done); });
    this.writes.add(done);
  }

  private async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes]);
  }
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`${what} must be a positive integer`);
  return n;
}
