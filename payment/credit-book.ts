/**
 * The node's ratio credits (docs/PROTOCOL.md, "Ratio credits"): what each peer
 * identity (a wallet) earned at this node by delivering data the node asked for and
 * verified, kept in the node's journal (`ratio_earned`, `ratio_strike` records) and
 * read back from it on open. One book per node, shared by every torrent it runs: the
 * torrents' plugins (extensions/ratio/plugin.ts) write into it as their `CreditSink`.
 *
 * Durability ([decided], like the seller's charges): what peers earn accumulates in
 * memory and is journaled (fsync'd) about once a second (`flush`, from the plugins'
 * tick), at `flushBytes` per identity, and at `close`. A crash loses at most the last
 * second of earnings, in the node's favour; an fsync per passed piece would compete
 * with the download's own disk writes. Strikes are rare and journaled at once.
 *
 * Bounds:
 *  - at most `maxIdentities` identities: once that many have records, a new identity
 *    earns nothing here (memory and the journal's snapshot stay bounded, and an
 *    identity only gets in by delivering verified data first);
 *  - an identity with `maxStrikes` strikes (failed pieces it contributed to) earns
 *    nothing more here, and no more strikes are written for it.
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
  /** Journal an identity's accumulated earnings once they reach this many bytes (default 4 MiB). */
  flushBytes?: number;
  /** Unix ms for records (default Date.now). */
  now?: () => number;
  /** A write that failed (its credit is lost; the journal refuses further writes until reopened). */
  onError?: (e: Error) => void;
}

/** What one identity has at this node, counting what is not yet on disk. */
export interface CreditBalance {
  earned: bigint;
  strikes: number;
}

interface Accrual {
  identity: string;
  infoHash: string;
  bytes: bigint;
}

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export class CreditBook {
  readonly journal: Journal;
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
  private readonly writes = new Set<Promise<void>>();
  private closed = false;

  constructor(journal: Journal, opts: CreditBookOptions = {}, owned = false) {
    this.journal = journal;
    this.owned = owned;
    this.maxIdentities = positive(opts.maxIdentities ?? DEFAULT_MAX_IDENTITIES, 'maxIdentities');
    this.maxStrikes = positive(opts.maxStrikes ?? DEFAULT_MAX_STRIKES, 'maxStrikes');
    this.flushBytes = BigInt(positive(opts.flushBytes ?? DEFAULT_FLUSH_BYTES, 'flushBytes'));
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
    this.known.add(identity);
    const ih = hexOf(infoHash);
    const k = `${identity} ${ih}`;
    let a = this.accrued.get(k);
    if (a === undefined) this.accrued.set(k, a = { identity, infoHash: ih, bytes: 0n });
    a.bytes += BigInt(bytes);
    if (a.bytes >= this.flushBytes) this.write(a, k);
  }

  /** A piece `identity` contributed to failed our hash check. */
  strike(identity: string, infoHash: Uint8Array): void {
    if (this.closed || infoHash.length !== 20 || !this.admits(identity)) return;
    if (this.strikesOf(identity) >= this.maxStrikes) return; // saturated: nothing more to learn
    this.known.add(identity);
    this.settle(this.journal.append({ kind: 'ratio_strike', identity, infoHash: hexOf(infoHash), time: this.now() }));
  }

  /** Journal what has accumulated. Resolves once it is on disk (or lost to a failed journal, reported). */
  flush(): Promise<void> {
    const batch = this.accrued;
    this.accrued = new Map();
    for (const [k, a] of batch) this.write(a, k, batch);
    return this.settled();
  }

  /** Verified bytes `identity` delivered to this node, and its strikes (what is not on disk yet included). */
  balanceOf(identity: string): CreditBalance {
    const d = this.journal.ratioOf(identity);
    let earned = d?.earned ?? 0n;
    for (const a of this.accrued.values()) if (a.identity === identity) earned += a.bytes;
    return { earned, strikes: d?.strikes ?? 0 };
  }

  /** Balances on disk, per identity (what a restarted node reads back). */
  durable(): Map<string, RatioBook> {
    return this.journal.ratioBooks();
  }

  get identityCount(): number { return this.known.size; }

  /** Journal what has accumulated, wait for every write, close the journal if it is ours. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.owned) await this.journal.close();
  }

  private admits(identity: string): boolean {
    return this.known.has(identity) || this.known.size < this.maxIdentities;
  }

  private strikesOf(identity: string): number {
    return this.journal.ratioOf(identity)?.strikes ?? 0;
  }

  private write(a: Accrual, key: string, from: Map<string, Accrual> = this.accrued): void {
    from.delete(key);
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
