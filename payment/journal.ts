/**
 * The payment journal: an append-only, fsync'd, crash-safe file of credits (seller),
 * charges (seller), balance transfers between sessions (seller, session resume) and
 * payments (buyer: `payment_pending` before the transaction is sent, then `payment`
 * once it landed or `payment_void` once it provably never can) — SEEDPAY.md §7 —
 * and ratio credits (`ratio_earned`, `ratio_strike`, `ratio_spent`, `ratio_expired`, `ratio_vouched`: docs/PROTOCOL.md §10, written by
 * credit-book.ts). Record format: journal-format.ts; the snapshot of
 * a compacted journal: journal-snapshot.ts; scan rules: journal-scan.ts; what is kept
 * in memory: journal-books.ts; the lock: journal-lock.ts.
 *
 * Guarantees:
 *  - `append` resolves only after the record's bytes are written AND fdatasync'd; a
 *    caller acknowledges a payment to its peer only after that. Except with
 *    `{ sync: false }` (the seller's running charges): written at once, made durable by
 *    the next synced append or by `close`. A crash may lose such records since the last
 *    sync, which SEEDPAY.md §7 allows for charges (it errs in the buyer's favour), and
 *    it spares a disk flush per charge record on the serving path.
 *  - Appends are serialised through one writer: records land in call order. Appends
 *    that queue up while a write is in flight are written and synced together (group
 *    commit), each still resolving only after that sync.
 *  - On open, a torn last record is ignored and the file is truncated back to the last
 *    good record (and synced) before anything new is written; damage before the tail is
 *    a hard JournalError('CORRUPT'). The file is streamed, never read whole.
 *  - The replay set is rebuilt on open. A credit for a signature already journaled, or
 *    being journaled right now, is refused synchronously (DUPLICATE_SIGNATURE): check and
 *    reserve are one step, so two concurrent verifications of the same transaction cannot
 *    both credit it. Same for a buyer's payment signatures.
 *  - After a failed write or sync the journal refuses further appends (JOURNAL_FAILED):
 *    the file tail is unknown until it is reopened and rescanned.
 *  - One writer per journal: a kernel lock on `<path>.lock` (journal-lock.ts), and an
 *    in-process set so the same process gets a clear error when it opens one twice.
 *
 * Compaction. Without it the file, and the time and memory to open it, grow with every
 * payment ever made. A compaction writes `<path>.compact`: MAGIC_V2 and a snapshot of
 * the durable books as they stood at one file offset E, while appends go on to the
 * journal. Then, with the writer paused: the bytes appended since E are copied after
 * the snapshot, the new file is fsync'd, renamed over the journal, and the directory
 * fsync'd; appends resume on the new file. A crash at any byte of this leaves either
 * the old journal, complete (the half-written `.compact` is deleted on the next open),
 * or the new one, complete: it only takes the journal's name once it holds everything.
 * It runs on its own when the records after the snapshot pass `compactAfterBytes` (and
 * the snapshot's own size, so rewriting a large snapshot stays rare), on open and after
 * writes, or when `compact()` is called.
 *
 * What a compaction forgets (the horizon is `retainMs`, 24 h by default, counted back
 * from the clock or from the latest record, whichever is earlier, so a clock that jumps
 * ahead does not empty the replay set):
 *  - signatures of credits and payments older than the horizon. They cannot be credited
 *    again: a seller refuses a payment older than its freshness window (10 minutes,
 *    verify-rules.ts) as expired, so `hasSignature` / `hasPayment` answer the same for
 *    every signature that could still be presented;
 *  - sessions with nothing left to spend and no record within the horizon: their
 *    earnings and charges stay in the totals and per-wallet sums, but they leave the
 *    per-session maps of `summary()`, and `creditedFor` / `chargedFor` / `payersOf`
 *    answer zero / empty for them (`balanceOf` was zero already). A session is a
 *    connection's meter (connections idle out after minutes), so none comes back; if
 *    one did, its later charges would count from zero.
 *  - whole records: `records()` returns the credits and payments kept for the replay set
 *    and the pending payments not settled (whatever their age; in order), then every
 *    record appended after the snapshot. A sum over records() is
 *    therefore a sum over the horizon; the sums over all time are in `summary()` (per
 *    payer, seller, torrent, and totals) and `spentOn`.
 * Everything else — balances, payers, charges and transfers of every session kept,
 * earnings per payer, spend per seller, totals and counts — reads the same before and
 * after a compaction, and after a reopen.
 */
import { constants as FS } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  Books, type ChannelBook, type JournalSummary, type RatioBook, type RatioState, type SessionCharge, type SnapshotPlan,
} from './journal-books.js';
import {
  JournalError, MAGIC, MAGIC_V2, checkRecord, encodeFrame,
  type ChargeRecord, type CreditRecord, type JournalRecord, type PaymentPendingRecord, type PaymentRecord,
  type PaymentVoidReason, type PaymentVoidRecord, type ChannelClaimedRecord, type ChannelOpenRecord, type VoucherRecord, type VoucherSentRecord, type RatioEarnedRecord, type RatioExpiredRecord, type RatioSpentRecord, type RatioStrikeRecord, type RatioVouchedRecord, type TransferRecord,
} from './journal-format.js';
import { JournalLock } from './journal-lock.js';
import { scanFile, scanJournal, type JournalEntry } from './journal-scan.js';
import { SnapshotWriter } from './journal-snapshot.js';

export { JournalError, MAGIC, MAGIC_V2, scanJournal, encodeFrame, checkRecord };
export type { JournalErrorCode } from './journal-format.js';
export type { ScanResult } from './journal-scan.js';
export type { JournalSummary, RatioBook, RatioState, SessionCharge };
export type { RatioEarnedRecord, RatioExpiredRecord, RatioSpentRecord, RatioStrikeRecord, RatioVouchedRecord };
export type { ChargeRecord, CreditRecord, JournalRecord, PaymentRecord, TransferRecord };
export type { PaymentPendingRecord, PaymentVoidReason, PaymentVoidRecord };
export type { ChannelBook, ChannelClaimedRecord, ChannelOpenRecord, VoucherRecord, VoucherSentRecord };

/**
 * A compaction's horizon may not be shorter: payments are accepted for 10 minutes and
 * clocks drift, and a restarted buyer resumes from the payments of the last hour it
 * finds in records() (lib/paid/buyer.ts).
 */
export const MIN_RETAIN_MS = 60 * 60_000;
const DEFAULT_RETAIN_MS = 24 * 60 * 60_000;
const DEFAULT_COMPACT_AFTER_BYTES = 4 << 20;
/** A compaction writes the snapshot in pieces of about this size, letting appends run in between. */
const WRITE_CHUNK = 1 << 20;

export interface JournalOpenOptions {
  /** Skip the `<path>.lock` file (tests that simulate a crash by abandoning a handle). */
  noLock?: boolean;
  /**
   * Run each append's fdatasync through this gate (lib/files/flush-gate.ts `processFlushGate`:
   * O_DIRECT piece writes of the same process step aside while it flushes the disk cache).
   */
  syncGate?: { flush<T>(sync: () => Promise<T>): Promise<T> };
  /**
   * Compact on its own once the records after the snapshot take this many bytes (and
   * no fewer than the snapshot). Default 4 MiB; 0 turns automatic compaction off.
   */
  compactAfterBytes?: number;
  /** What a compaction keeps, in ms back from now (see above). Default 24 h; at least MIN_RETAIN_MS. */
  retainMs?: number;
  /** The clock (unix ms) deciding what is old. Default Date.now. */
  now?: () => number;
  /**
   * Tests (crash simulation): called when a compaction's new file is complete and
   * synced, just before it is renamed over the journal, with the writer paused.
   */
  beforeCompactRename?: (compactPath: string) => Promise<void> | void;
}

/** What opening read. */
export interface JournalLoadStats {
  /** Bytes read from the file. */
  bytesRead: number;
  /** Frames decoded (snapshot frames and records). */
  frames: number;
  /** Records after the snapshot, replayed one by one. */
  tailRecords: number;
}

/** What the journal holds now. */
export interface JournalStats {
  fileBytes: number;
  /** Bytes of magic and snapshot before the first record of the tail. */
  snapshotBytes: number;
  tailBytes: number;
  tailRecords: number;
  /** Records held for records(). */
  records: number;
  /** Sessions held in memory. */
  sessions: number;
  /** Credit and payment signatures held (the replay sets). */
  signatures: number;
  /** Compactions completed since open. */
  compactions: number;
}

export interface CompactionResult {
  /** File size just before the new file replaced it, and just after. */
  bytesBefore: number;
  bytesAfter: number;
  snapshotBytes: number;
  /** Bytes appended during the compaction, copied after the snapshot. */
  tailBytes: number;
  sessionsKept: number;
  sessionsRetired: number;
  signaturesKept: number;
}

/** Summary of a list of records (pure). */
export function summarize(records: readonly JournalRecord[]): JournalSummary {
  const b = new Books();
  for (const r of records) b.apply(r);
  return b.summary();
}

/** A summary as plain JSON (amounts as decimal strings of base units), e.g. for a CLI. */
export function summaryToJSON(s: JournalSummary): Record<string, unknown> {
  const obj = (m: Map<string, bigint>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [k, v.toString()]));
  return {
    earnedByPayer: obj(s.earnedByPayer),
    earnedBySession: obj(s.earnedBySession),
    chargedBySession: Object.fromEntries([...s.chargedBySession].map(([k, v]) => [k, { bytes: v.bytes.toString(), units: v.units.toString() }])),
    spentBySeller: obj(s.spentBySeller),
    spentByTorrent: obj(s.spentByTorrent),
    movedOutBySession: obj(s.movedOutBySession),
    movedInBySession: obj(s.movedInBySession),
    totals: { ...s.totals, earned: s.totals.earned.toString(), charged: s.totals.charged.toString(), spent: s.totals.spent.toString() },
  };
}

/** Fold one entry of a scan into books; a problem the books find is reported at the frame's offset. */
function loadInto(books: Books, e: JournalEntry, at: number): void {
  try {
    if (e.type === 'record') books.load(e.record);
    else if (e.type === 'snapshot') books.loadHeader(e.header);
    else if (e.type === 'items') for (const i of e.items) books.loadItem(i);
    else books.endSnapshot();
  } catch (err) {
    if (err instanceof JournalError && err.offset < 0) throw new JournalError(err.code, `${err.message} (offset ${at})`, at);
    throw err;
  }
}

/**
 * Read a journal without opening it for writing: no lock, no truncation of a torn tail
 * (safe while the owning process runs, e.g. a CLI report; a compaction renames a new
 * file in, so the file read is one or the other, whole). Streamed with bounded memory;
 * `records` are those records() would return. Damage before the tail still throws
 * JournalError('CORRUPT').
 */
export async function readJournal(path: string): Promise<{ records: JournalRecord[]; summary: JournalSummary; ratio: Map<string, RatioBook>; channels: ChannelBook[]; tornBytes: number }> {
  const fh = await open(path, FS.O_RDONLY);
  try {
    const books = new Books();
    const scan = await scanFile(fh, (await fh.stat()).size, (e, at) => loadInto(books, e, at));
    return { records: [...books.records()], summary: books.summary(), ratio: books.ratioBooks(), channels: books.channelBooks(), tornBytes: scan.tornBytes };
  } finally {
    await fh.close();
  }
}

/** Journals open in this process (absolute paths): a clear error before the lock's. */
const openInProcess = new Set<string>();

async function fsyncDir(path: string, strict: boolean): Promise<void> {
  // Makes a directory entry (a new file, a rename) durable. Some platforms refuse to
  // open directories; for a new journal there is nothing more to do then, but a
  // compaction's rename that may not be durable must fail the journal (strict).
  let dh: FileHandle | undefined;
  try {
    dh = await open(path, FS.O_RDONLY);
    await dh.sync();
  } catch (e) {
    if (strict) throw e;
  } finally {
    await dh?.close().catch(() => undefined);
  }
}

interface Pending {
  frame: Uint8Array;
  record: JournalRecord;
  /** fdatasync before resolving (false: made durable by a later sync or close). */
  sync: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Settings {
  compactAfterBytes: number;
  retainMs: number;
  now: () => number;
  beforeRename: JournalOpenOptions['beforeCompactRename'] | null;
  gate: JournalOpenOptions['syncGate'] | null;
}

function settingsOf(o: JournalOpenOptions): Settings {
  const retainMs = o.retainMs ?? DEFAULT_RETAIN_MS;
  if (!Number.isFinite(retainMs) || retainMs < MIN_RETAIN_MS) throw new RangeError(`retainMs must be at least ${MIN_RETAIN_MS} ms`);
  const compactAfterBytes = o.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  if (!Number.isSafeInteger(compactAfterBytes) || compactAfterBytes < 0) throw new RangeError('compactAfterBytes must be a non-negative integer');
  return { compactAfterBytes, retainMs, now: o.now ?? Date.now, beforeRename: o.beforeCompactRename ?? null, gate: o.syncGate ?? null };
}

const compactPathOf = (path: string): string => path + '.compact';

function aborted(why: string): JournalError {
  return new JournalError('COMPACT_ABORTED', `compaction abandoned: ${why}`);
}

export class Journal {
  readonly path: string;
  private recovered = 0;
  private loaded: JournalLoadStats = { bytesRead: 0, frames: 0, tailRecords: 0 };
  private compactError: Error | null = null;

  private readonly absPath: string;
  private fh: FileHandle | null;
  private readonly lock: JournalLock | null;
  private readonly set: Settings;
  private readonly books = new Books();
  /** Where the next record goes. */
  private end = 0;
  /** Where the records after the snapshot start. */
  private tailStart = MAGIC.length;
  private tailRecords = 0;
  private queue: Pending[] = [];
  /** Records written (sync: false) since the last fdatasync: close() syncs them. */
  private unsynced = false;
  /** The writer's current turn: draining the queue, or a compaction's swap. Never rejects. */
  private flushing: Promise<void> | null = null;
  private compacting: Promise<CompactionResult> | null = null;
  /** Callers of exclusive() waiting for the writer's turn. */
  private turnsWanted = 0;
  /** No automatic compaction before the tail reaches this (backs off after a failure). */
  private autoCompactFloor = 0;
  private compactions = 0;
  private failed: Error | null = null;
  private closed = false;

  private constructor(path: string, abs: string, fh: FileHandle, lock: JournalLock | null, set: Settings) {
    this.path = path;
    this.absPath = abs;
    this.fh = fh;
    this.lock = lock;
    this.set = set;
  }

  /** Open (creating if absent) and recover a journal file. */
  static async open(path: string, opts: JournalOpenOptions = {}): Promise<Journal> {
    const set = settingsOf(opts);
    const abs = resolve(path);
    if (openInProcess.has(abs)) throw new JournalError('LOCKED', `journal already open in this process (${abs})`);
    openInProcess.add(abs);
    try {
      return await Journal.openUnguarded(path, abs, opts, set);
    } catch (e) {
      openInProcess.delete(abs);
      throw e;
    }
  }

  private static async openUnguarded(path: string, abs: string, opts: JournalOpenOptions, set: Settings): Promise<Journal> {
    const lock = opts.noLock ? null : await JournalLock.acquire(path + '.lock');
    let fh: FileHandle | undefined;
    try {
      // A compaction that never got to its rename: the journal is whole without it.
      await unlink(compactPathOf(path)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
      let created = false;
      try {
        fh = await open(path, FS.O_RDWR);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fh = await open(path, FS.O_RDWR | FS.O_CREAT | FS.O_EXCL, 0o600);
        created = true;
      }
      const j = new Journal(path, abs, fh, lock, set);
      await j.load();
      if (created) await fsyncDir(dirname(path), false);
      if (j.compactDue()) {
        await j.compact().catch((e: unknown) => { j.noteCompactFailure(e); });
      }
      j.books.retainOnlyFrom = null; // (if that compaction failed, records() lacks what load() let go)
      if (j.failed) {
        // Its rename could not be made durable: the journal refuses appends, so refuse to open.
        const why = j.failed;
        await j.close();
        throw why;
      }
      return j;
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await lock?.release().catch(() => undefined);
      throw e;
    }
  }

  /** Stream the file into the books; cut a torn tail, start an empty file. */
  private async load(): Promise<void> {
    const fh = this.fh!;
    const size = (await fh.stat()).size;
    let tailStart = MAGIC.length;
    let tailRecords = 0;
    const scan = await scanFile(fh, size, (e, at, next) => {
      loadInto(this.books, e, at);
      if (e.type === 'snapshot-end') tailStart = next;
      if (e.type !== 'record') return;
      tailRecords++;
      // A tail this long is compacted as soon as the journal is open, which keeps only
      // recent credits and payments: hold no more than that while reading it.
      if (this.books.retainOnlyFrom === null && this.set.compactAfterBytes > 0 && next - tailStart >= this.compactThreshold(tailStart)) {
        this.books.retainOnly(this.cutTime());
      }
    });
    this.end = scan.goodEnd;
    this.tailStart = tailStart;
    this.tailRecords = tailRecords;
    this.recovered = scan.tornBytes;
    this.loaded = { bytesRead: scan.bytesRead, frames: scan.frames, tailRecords };
    if (scan.version === 0) {
      // New file, or a crash while writing the magic: start it (again).
      await fh.truncate(0);
      await writeAll(fh, MAGIC, 0);
      await fh.sync();
      this.end = MAGIC.length;
    } else if (scan.tornBytes > 0) {
      // Cut the torn tail before anything new is appended after it.
      await fh.truncate(this.end);
      await fh.sync();
    }
  }

  /** Bytes of torn tail removed on open (0 if the file was clean). */
  get recoveredBytes(): number {
    return this.recovered;
  }

  /** What opening read (a compacted journal reads its snapshot, not its history). */
  get loadStats(): JournalLoadStats {
    return { ...this.loaded };
  }

  /** The last automatic compaction's error, if it failed (the journal itself is unharmed). */
  get lastCompactError(): Error | null {
    return this.compactError;
  }

  /** Seller replay check: was a credit for this transaction signature journaled (or is one being)? */
  hasSignature(signature: string): boolean {
    return this.books.hasCredit(signature);
  }

  /** Buyer: was a payment with this signature journaled (or is one being)? */
  hasPayment(signature: string): boolean {
    return this.books.hasPayment(signature);
  }

  /**
   * Buyer: the pending payment with this signature if it is not settled, nor being
   * settled by an append in flight (a `payment` or `payment_void` for it would be accepted).
   */
  pendingPayment(signature: string): PaymentPendingRecord | undefined {
    return this.books.pendingPayment(signature);
  }

  /**
   * Buyer: payments signed (and maybe sent) whose fate the journal does not know yet:
   * `payment_pending` records without a `payment` or `payment_void` written after them,
   * in file order. Compaction keeps them, whatever their age.
   */
  pendingPayments(): PaymentPendingRecord[] {
    return this.books.pendingPayments();
  }

  /** Credited base units of one session so far (durable records only). */
  creditedFor(sessionHash: string): bigint {
    return this.books.creditedFor(sessionHash);
  }

  /** Latest durable cumulative charge of one session. */
  chargedFor(sessionHash: string): SessionCharge {
    return this.books.chargedFor(sessionHash);
  }

  /**
   * Seller: what a session has left to spend (credits and transfers in, less its
   * latest charge and transfers out), counting appends still being written.
   */
  balanceOf(sessionHash: string): bigint {
    return this.books.balanceOf(sessionHash);
  }

  /**
   * Buyer: base units paid for a torrent (info hash) in this journal, ever, counting
   * payments pending (not yet known to have landed) until a `payment_void` settles them.
   * Unlike a sum over records(), compaction does not change it.
   */
  spentOn(infoHash: string): bigint {
    return this.books.spentOn(infoHash);
  }

  /** Whether this journal has a record of the session (kept through compaction while it matters). */
  knows(sessionHash: string): boolean {
    return this.books.knows(sessionHash);
  }

  /** Seller: the wallets that paid into a session, by credit or by a transfer in (empty: none). */
  payersOf(sessionHash: string): ReadonlySet<string> {
    return this.books.payersOf(sessionHash);
  }

  /**
   * Ratio credits of one identity (base58 wallet) at this node, counting appends still
   * being written (as balanceOf does); undefined if it has none.
   */
  ratioOf(identity: string): RatioState | undefined {
    return this.books.ratioOf(identity);
  }

  /** Ratio credits: the latest statement total redeemed for `identity` from trusted `issuer` (0: none), counting appends in flight. */
  vouchedTotal(issuer: string, identity: string): bigint {
    return this.books.vouchedTotal(issuer, identity);
  }

  /** Ratio credits: what `issuer`'s statements brought in all, counting appends in flight. */
  issuerUsedOf(issuer: string): bigint {
    return this.books.issuerUsedOf(issuer);
  }

  /** Ratio credits of every identity, from durable records (a copy; compaction keeps them all). */
  ratioBooks(): Map<string, RatioBook> {
    return this.books.ratioBooks();
  }

  /** Payment channels: a channel's book from durable records (undefined: none names it). */
  channelOf(channel: string): ChannelBook | undefined {
    return this.books.channelOf(channel);
  }

  /** Payment channels: every channel's book (durable records; compaction keeps them all). */
  channelBooks(): ChannelBook[] {
    return this.books.channelBooks();
  }

  /** Seller: the latest voucher amount accepted on a channel, counting appends being written (0: none). */
  acceptedOf(channel: string): bigint {
    return this.books.acceptedOf(channel);
  }

  /** Buyer: the latest voucher amount signed on a channel, counting appends being written (0: none). */
  sentOf(channel: string): bigint {
    return this.books.sentOf(channel);
  }

  /**
   * Durable records, in file order: those the last snapshot kept (recent credits and
   * payments), then every record after it. Without a compaction yet: all of them.
   */
  records(): readonly JournalRecord[] {
    return this.books.records();
  }

  /** Earnings and spend from the durable records (copies; safe to keep). */
  summary(): JournalSummary {
    return this.books.summary();
  }

  stats(): JournalStats {
    return {
      fileBytes: this.end, snapshotBytes: this.tailStart, tailBytes: this.end - this.tailStart, tailRecords: this.tailRecords,
      records: this.books.retainedCount, sessions: this.books.sessionCount, signatures: this.books.signatureCount,
      compactions: this.compactions,
    };
  }

  /**
   * Append one record; resolves after it is written and fdatasync'd. Rejects with a
   * JournalError for an invalid record, a duplicate signature, a decreasing charge, a
   * closed or failed journal, or the I/O error that failed the journal.
   */
  append(record: JournalRecord, opts?: { sync?: boolean }): Promise<void> {
    try {
      if (this.closed) throw new JournalError('CLOSED', 'journal is closed');
      if (this.failed) throw new JournalError('JOURNAL_FAILED', `journal failed earlier: ${this.failed.message}`);
      const clean = checkRecord(record);
      const frame = encodeFrame(clean);
      this.books.reserve(clean, false); // synchronous check-and-reserve (replay, monotone charge, balance)
      return new Promise<void>((resolve, reject) => {
        this.queue.push({ frame, record: clean, sync: opts?.sync !== false, resolve, reject });
        if (!this.flushing) this.startFlush();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Compact now (waiting for one already running): snapshot, then the records appended
   * meanwhile, atomically replacing the file. Rejects with COMPACT_ABORTED if the
   * journal is closed meanwhile, or with the I/O error (the journal is unharmed, except
   * when the directory could not be synced after the rename: then it is failed).
   */
  async compact(): Promise<CompactionResult> {
    while (this.compacting) await this.compacting.catch(() => undefined);
    if (this.closed) throw new JournalError('CLOSED', 'journal is closed');
    if (this.failed) throw new JournalError('JOURNAL_FAILED', `journal failed earlier: ${this.failed.message}`);
    const run = this.compactWithRetry();
    this.compacting = run;
    try {
      return await run;
    } finally {
      this.compacting = null;
    }
  }

  /** Wait for queued appends and a running compaction, then close the file and release the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.compacting?.catch(() => undefined); // it sees `closed` and gives up, or finishes its swap
    while (this.flushing) await this.flushing;
    const fh = this.fh;
    this.fh = null;
    try {
      if (this.unsynced && !this.failed) await fh?.datasync();
      await fh?.close();
      await this.lock?.release();
    } finally {
      openInProcess.delete(this.absPath);
    }
  }

  // ---------------------------------------------------------------- writer

  private startFlush(): void {
    // `.finally` runs a few microtasks after drain() ends (and after this assignment,
    // even if drain() completes at once): an append made in between queued its record
    // without starting a writer, so look again.
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
      if (this.queue.length > 0 && this.turnsWanted === 0) this.startFlush();
    });
  }

  private async drain(): Promise<void> {
    // A compaction waiting for its swap gets the next turn, so a steady stream of
    // appends cannot starve it; it restarts the writer when done.
    while (this.queue.length > 0 && this.turnsWanted === 0) {
      const batch = this.queue;
      this.queue = [];
      if (this.failed || !this.fh) {
        const err = new JournalError('JOURNAL_FAILED', `journal failed earlier: ${this.failed?.message ?? 'closed'}`);
        for (const p of batch) p.reject(err);
        continue;
      }
      const buf = concat(batch.map((p) => p.frame));
      const sync = batch.some((p) => p.sync);
      try {
        await writeAll(this.fh, buf, this.end);
        if (sync) {
          const fh = this.fh;
          await (this.set.gate ? this.set.gate.flush(() => fh.datasync()) : fh.datasync());
        }
      } catch (e) {
        // Reserved signatures stay reserved: the record may be on disk; refusing to
        // credit it again is the safe side.
        this.failed = e instanceof Error ? e : new Error(String(e));
        for (const p of batch) p.reject(this.failed);
        continue;
      }
      // The file offset and the durable books move together, in one step: a
      // compaction's snapshot taken at any other moment stands for exactly `end`.
      this.end += buf.length;
      this.unsynced = !sync;
      for (const p of batch) {
        this.books.apply(p.record);
        this.tailRecords++;
        p.resolve();
      }
      this.maybeCompact();
    }
  }

  /** Run `fn` as the writer's turn: no append is written until it is done. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.turnsWanted++;
    try {
      while (this.flushing) await this.flushing;
    } finally {
      this.turnsWanted--;
    }
    let release!: () => void;
    this.flushing = new Promise<void>((r) => { release = r; });
    try {
      return await fn();
    } finally {
      this.flushing = null;
      release();
      if (this.queue.length > 0) this.startFlush();
    }
  }

  // ---------------------------------------------------------------- compaction

  private compactThreshold(snapshotBytes = this.tailStart): number {
    return Math.max(this.set.compactAfterBytes, snapshotBytes, this.autoCompactFloor);
  }

  private compactDue(): boolean {
    return this.set.compactAfterBytes > 0 && this.end - this.tailStart >= this.compactThreshold();
  }

  private maybeCompact(): void {
    if (this.compacting || this.closed || this.failed || !this.compactDue()) return;
    this.compact().catch((e: unknown) => this.noteCompactFailure(e));
  }

  private noteCompactFailure(e: unknown): void {
    this.compactError = e instanceof Error ? e : new Error(String(e));
    // Try again once the tail has grown as much again.
    this.autoCompactFloor = this.end - this.tailStart + this.set.compactAfterBytes;
  }

  /** Older than this (unix ms), signatures and idle empty sessions are left out. */
  private cutTime(): number {
    return Math.max(0, Math.min(this.set.now(), this.books.maxTime) - this.set.retainMs);
  }

  private async compactWithRetry(): Promise<CompactionResult> {
    // A session being retired that an append touches meanwhile voids the snapshot;
    // the second try retires nothing, so it cannot be voided that way.
    const first = await this.compactOnce(true);
    return first ?? (await this.compactOnce(false)) ?? Promise.reject(aborted('sessions kept changing'));
  }

  /** One compaction; null if an append touched a session it retires (nothing changed then). */
  private async compactOnce(retire: boolean): Promise<CompactionResult | null> {
    const tmp = compactPathOf(this.path);
    let out: FileHandle | null = await open(tmp, FS.O_RDWR | FS.O_CREAT | FS.O_TRUNC, 0o600);
    // The offset and the plan are taken in the same synchronous step (see drain).
    const from = this.end;
    const recordsAtPlan = this.tailRecords;
    const plan = this.books.plan(this.set.now(), this.cutTime(), retire);
    try {
      const snapEnd = await this.writeSnapshot(out, plan);
      return await this.exclusive(async () => {
        if (this.closed) throw aborted('the journal was closed');
        if (this.failed || !this.fh) throw aborted('the journal failed');
        if (this.books.retiringTouched) return null;
        const newOut = out!;
        const tail = this.end - from;
        await copyRange(this.fh, from, newOut, snapEnd, tail);
        await newOut.sync();
        await this.set.beforeRename?.(tmp);
        const bytesBefore = this.end;
        await rename(tmp, this.path);
        // The new file is the journal now: switch to it before anything can fail.
        const old = this.fh;
        this.fh = newOut;
        out = null;
        this.end = snapEnd + tail;
        this.tailStart = snapEnd;
        this.tailRecords -= recordsAtPlan;
        this.unsynced = false;
        this.books.compacted(plan, this.queue.map((p) => p.record));
        this.compactions++;
        this.autoCompactFloor = 0;
        await old.close().catch(() => undefined);
        await this.syncRename();
        return {
          bytesBefore, bytesAfter: this.end, snapshotBytes: snapEnd, tailBytes: tail,
          sessionsKept: plan.sessions.length, sessionsRetired: plan.retiring.size, signaturesKept: plan.kept.length,
        };
      });
    } finally {
      if (out !== null) {
        this.books.abandoned();
        await out.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      }
    }
  }

  private async syncRename(): Promise<void> {
    try {
      await fsyncDir(dirname(this.path), true);
    } catch (e) {
      // Until the rename is durable a crash could bring the old file back, without
      // whatever is appended from now on: accept nothing more.
      this.failed = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  /** MAGIC_V2 and the snapshot of `plan`, in pieces; returns where the tail goes. */
  private async writeSnapshot(out: FileHandle, plan: SnapshotPlan): Promise<number> {
    const w = new SnapshotWriter();
    let pos = 0;
    let parts: Uint8Array[] = [MAGIC_V2, SnapshotWriter.header(plan.header)];
    let size = parts[0].length + parts[1].length;
    const put = async (): Promise<void> => {
      await writeAll(out, concat(parts), pos);
      pos += size;
      parts = [];
      size = 0;
      if (this.closed) throw aborted('the journal was closed');
    };
    for (const item of this.books.items(plan)) {
      const frame = w.add(item);
      if (frame === null) continue;
      parts.push(frame);
      size += frame.length;
      if (size >= WRITE_CHUNK) await put();
    }
    for (const f of w.finish()) {
      parts.push(f);
      size += f.length;
    }
    await put();
    return pos;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let size = 0;
  for (const p of parts) size += p.length;
  const buf = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    buf.set(p, o);
    o += p.length;
  }
  return buf;
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    if (bytesWritten <= 0) throw new Error('journal write made no progress');
    off += bytesWritten;
  }
}

/** Copy `len` bytes at `from` in `src` to `to` in `dst`, a bounded piece at a time. */
async function copyRange(src: FileHandle, from: number, dst: FileHandle, to: number, len: number): Promise<void> {
  const buf = new Uint8Array(Math.min(len, WRITE_CHUNK));
  for (let done = 0; done < len;) {
    const n = Math.min(buf.length, len - done);
    const { bytesRead } = await src.read(buf, 0, n, from + done);
    if (bytesRead <= 0) throw new Error('journal shorter than expected while compacting');
    await writeAll(dst, buf.subarray(0, bytesRead), to + done);
    done += bytesRead;
  }
}
