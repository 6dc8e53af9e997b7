/**
 * The payment journal: an append-only, fsync'd, crash-safe file of credits (seller),
 * charges (seller), balance transfers between sessions (seller, session resume) and
 * payments (buyer) — SEEDPAY.md §7. Format and scan rules are in
 * journal-format.ts.
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
 *    a hard JournalError('CORRUPT').
 *  - The replay set is rebuilt on open. A credit for a signature already journaled, or
 *    being journaled right now, is refused synchronously (DUPLICATE_SIGNATURE): check and
 *    reserve are one step, so two concurrent verifications of the same transaction cannot
 *    both credit it. Same for a buyer's payment signatures.
 *  - After a failed write or sync the journal refuses further appends (JOURNAL_FAILED):
 *    the file tail is unknown until it is reopened and rescanned.
 *  - One writer per journal: a `<path>.lock` file holding the owner's pid (a lock left by
 *    a dead process, or by an earlier process that had our pid, is taken over), and an
 *    in-process set so the same process cannot open it twice.
 */
import { constants as FS } from 'node:fs';
import { open, readFile, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  JournalError, MAGIC, checkRecord, encodeFrame, scanJournal,
  type ChargeRecord, type CreditRecord, type JournalRecord, type PaymentRecord, type TransferRecord,
} from './journal-format.js';

export { JournalError, MAGIC, scanJournal, encodeFrame, checkRecord };
export type { JournalErrorCode, ScanResult } from './journal-format.js';
export type { ChargeRecord, CreditRecord, JournalRecord, PaymentRecord, TransferRecord };

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
  /** Buyer: paid base units per seller wallet. */
  spentBySeller: Map<string, bigint>;
  totals: {
    earned: bigint;
    charged: bigint;
    spent: bigint;
    credits: number;
    charges: number;
    payments: number;
    transfers: number;
  };
}

export interface JournalOpenOptions {
  /** Skip the `<path>.lock` file (tests that simulate a crash by abandoning a handle). */
  noLock?: boolean;
  /**
   * Run each append's fdatasync through this gate (lib/flush-gate.ts `processFlushGate`:
   * O_DIRECT piece writes of the same process step aside while it flushes the disk cache).
   */
  syncGate?: { flush<T>(sync: () => Promise<T>): Promise<T> };
}

function emptySummary(): JournalSummary {
  return {
    earnedByPayer: new Map(), earnedBySession: new Map(), chargedBySession: new Map(), spentBySeller: new Map(),
    movedOutBySession: new Map(), movedInBySession: new Map(),
    totals: { earned: 0n, charged: 0n, spent: 0n, credits: 0, charges: 0, payments: 0, transfers: 0 },
  };
}

/** Fold one record into a summary (records in file order). */
function addToSummary(s: JournalSummary, r: JournalRecord): void {
  const add = (m: Map<string, bigint>, k: string, v: bigint): void => { m.set(k, (m.get(k) ?? 0n) + v); };
  if (r.kind === 'credit') {
    add(s.earnedByPayer, r.payer, r.amount);
    add(s.earnedBySession, r.sessionHash, r.amount);
    s.totals.earned += r.amount;
    s.totals.credits++;
  } else if (r.kind === 'payment') {
    add(s.spentBySeller, r.seller, r.amount);
    s.totals.spent += r.amount;
    s.totals.payments++;
  } else if (r.kind === 'transfer') {
    add(s.movedOutBySession, r.from, r.amount);
    add(s.movedInBySession, r.to, r.amount);
    s.totals.transfers++;
  } else {
    // Charges are cumulative per session: the latest record replaces the previous one.
    const prev = s.chargedBySession.get(r.sessionHash);
    s.totals.charged += r.units - (prev?.units ?? 0n);
    s.chargedBySession.set(r.sessionHash, { bytes: r.bytes, units: r.units });
    s.totals.charges++;
  }
}

/** Summary of a list of records (pure). */
export function summarize(records: readonly JournalRecord[]): JournalSummary {
  const s = emptySummary();
  for (const r of records) addToSummary(s, r);
  return s;
}

/** A summary as plain JSON (amounts as decimal strings of base units), e.g. for a CLI. */
export function summaryToJSON(s: JournalSummary): Record<string, unknown> {
  const obj = (m: Map<string, bigint>): Record<string, string> => Object.fromEntries([...m].map(([k, v]) => [k, v.toString()]));
  return {
    earnedByPayer: obj(s.earnedByPayer),
    earnedBySession: obj(s.earnedBySession),
    chargedBySession: Object.fromEntries([...s.chargedBySession].map(([k, v]) => [k, { bytes: v.bytes.toString(), units: v.units.toString() }])),
    spentBySeller: obj(s.spentBySeller),
    movedOutBySession: obj(s.movedOutBySession),
    movedInBySession: obj(s.movedInBySession),
    totals: { ...s.totals, earned: s.totals.earned.toString(), charged: s.totals.charged.toString(), spent: s.totals.spent.toString() },
  };
}

/**
 * Read a journal without opening it for writing: no lock, no truncation of a torn tail
 * (safe while the owning process runs, e.g. a CLI report). Damage before the tail still
 * throws JournalError('CORRUPT').
 */
export async function readJournal(path: string): Promise<{ records: JournalRecord[]; summary: JournalSummary; tornBytes: number }> {
  const scan = scanJournal(new Uint8Array(await readFile(path)));
  return { records: scan.records, summary: summarize(scan.records), tornBytes: scan.tornBytes };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Journals open in this process (absolute paths): the lock file cannot tell, see takeLock. */
const openInProcess = new Set<string>();

async function takeLock(lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidAlive(owner)) {
      throw new JournalError('LOCKED', `journal is in use by process ${owner} (remove ${lockPath} if that is wrong)`);
    }
    // A lock naming a dead process, or our own pid while this process has not opened the
    // journal (a container restarts with the same pid), is stale.
    await unlink(lockPath).catch(() => undefined);
  }
  throw new JournalError('LOCKED', `could not take ${lockPath}`);
}

async function fsyncDir(path: string): Promise<void> {
  // Makes a newly created file's directory entry durable. Some platforms refuse to
  // open directories; then there is nothing more we can do.
  let dh: FileHandle | undefined;
  try {
    dh = await open(path, FS.O_RDONLY);
    await dh.sync();
  } catch {
    /* best effort */
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

export class Journal {
  readonly path: string;
  /** Bytes of torn tail removed on open (0 if the file was clean). */
  readonly recoveredBytes: number;

  private readonly absPath: string;
  private fh: FileHandle | null;
  private readonly lockPath: string | null;
  private end: number;
  private readonly all: JournalRecord[] = [];
  private readonly creditSigs = new Set<string>();
  private readonly paymentSigs = new Set<string>();
  /** Highest cumulative charge per session, including appends not yet synced. */
  private readonly reservedCharge = new Map<string, SessionCharge>();
  /**
   * Seller: per session, credits + transfers in − charge − transfers out, including
   * appends not yet synced (a transfer is checked against it synchronously, so two
   * resumes of one session cannot both move its balance).
   */
  private readonly reservedBalance = new Map<string, bigint>();
  /** Seller: the payer wallets of each session's credits and of the transfers into it. */
  private readonly payersBySession = new Map<string, Set<string>>();
  private readonly sum: JournalSummary = emptySummary();
  private queue: Pending[] = [];
  /** Records written (sync: false) since the last fdatasync: close() syncs them. */
  private unsynced = false;
  private flushing: Promise<void> | null = null;
  private failed: Error | null = null;
  private closed = false;
  private readonly gate: JournalOpenOptions['syncGate'] | null;

  private constructor(path: string, abs: string, fh: FileHandle, lockPath: string | null, end: number, recovered: number, gate: JournalOpenOptions['syncGate'] | null) {
    this.path = path;
    this.gate = gate;
    this.absPath = abs;
    this.fh = fh;
    this.lockPath = lockPath;
    this.end = end;
    this.recoveredBytes = recovered;
  }

  /** Open (creating if absent) and recover a journal file. */
  static async open(path: string, opts: JournalOpenOptions = {}): Promise<Journal> {
    const abs = resolve(path);
    if (openInProcess.has(abs)) throw new JournalError('LOCKED', `journal already open in this process (${abs})`);
    openInProcess.add(abs);
    try {
      return await Journal.openUnguarded(path, abs, opts);
    } catch (e) {
      openInProcess.delete(abs);
      throw e;
    }
  }

  private static async openUnguarded(path: string, abs: string, opts: JournalOpenOptions): Promise<Journal> {
    const lockPath = opts.noLock ? null : path + '.lock';
    if (lockPath) await takeLock(lockPath);
    let fh: FileHandle | undefined;
    try {
      let created = false;
      try {
        fh = await open(path, FS.O_RDWR);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fh = await open(path, FS.O_RDWR | FS.O_CREAT | FS.O_EXCL, 0o600);
        created = true;
      }
      const file = new Uint8Array(await fh.readFile());
      const scan = scanJournal(file);
      let end = scan.goodEnd;
      if (end === 0) {
        // New file, or a crash while writing the magic: start it (again).
        await fh.truncate(0);
        await writeAll(fh, MAGIC, 0);
        await fh.sync();
        end = MAGIC.length;
      } else if (scan.tornBytes > 0) {
        // Cut the torn tail before anything new is appended after it.
        await fh.truncate(end);
        await fh.sync();
      }
      if (created) await fsyncDir(dirname(path));
      const j = new Journal(path, abs, fh, lockPath, end, scan.tornBytes, opts.syncGate ?? null);
      for (const r of scan.records) {
        j.reserve(r, true);
        j.apply(r);
      }
      return j;
    } catch (e) {
      await fh?.close().catch(() => undefined);
      if (lockPath) await unlink(lockPath).catch(() => undefined);
      throw e;
    }
  }

  /** Seller replay check: was a credit for this transaction signature journaled (or is one being)? */
  hasSignature(signature: string): boolean {
    return this.creditSigs.has(signature);
  }

  /** Buyer: was a payment with this signature journaled (or is one being)? */
  hasPayment(signature: string): boolean {
    return this.paymentSigs.has(signature);
  }

  /** Credited base units of one session so far (durable records only). */
  creditedFor(sessionHash: string): bigint {
    return this.sum.earnedBySession.get(sessionHash) ?? 0n;
  }

  /** Latest durable cumulative charge of one session. */
  chargedFor(sessionHash: string): SessionCharge {
    const c = this.sum.chargedBySession.get(sessionHash);
    return c ? { ...c } : { bytes: 0n, units: 0n };
  }

  /**
   * Seller: what a session has left to spend (credits and transfers in, less its
   * latest charge and transfers out), counting appends still being written.
   */
  balanceOf(sessionHash: string): bigint {
    return this.reservedBalance.get(sessionHash) ?? 0n;
  }

  /** Seller: the wallets that paid into a session, by credit or by a transfer in (empty: none). */
  payersOf(sessionHash: string): ReadonlySet<string> {
    return this.payersBySession.get(sessionHash) ?? new Set();
  }

  /** All durable records, in file order. */
  records(): readonly JournalRecord[] {
    return this.all.slice();
  }

  /** Earnings and spend rebuilt from the durable records (copies; safe to keep). */
  summary(): JournalSummary {
    const s = this.sum;
    return {
      earnedByPayer: new Map(s.earnedByPayer),
      earnedBySession: new Map(s.earnedBySession),
      chargedBySession: new Map([...s.chargedBySession].map(([k, v]) => [k, { ...v }])),
      spentBySeller: new Map(s.spentBySeller),
      movedOutBySession: new Map(s.movedOutBySession),
      movedInBySession: new Map(s.movedInBySession),
      totals: { ...s.totals },
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
      this.reserve(clean, false); // synchronous check-and-reserve (replay, monotone charge)
      return new Promise<void>((resolve, reject) => {
        this.queue.push({ frame, record: clean, sync: opts?.sync !== false, resolve, reject });
        if (!this.flushing) this.flushing = this.flush();
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Wait for queued appends, then close the file and release the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    const fh = this.fh;
    this.fh = null;
    try {
      if (this.unsynced && !this.failed) await fh?.datasync();
      await fh?.close();
      if (this.lockPath) await unlink(this.lockPath).catch(() => undefined);
    } finally {
      openInProcess.delete(this.absPath);
    }
  }

  private reserve(r: JournalRecord, loading: boolean): void {
    const bal = (k: string): bigint => this.reservedBalance.get(k) ?? 0n;
    if (r.kind === 'credit') {
      if (this.creditSigs.has(r.signature)) {
        throw new JournalError(loading ? 'CORRUPT' : 'DUPLICATE_SIGNATURE', `signature ${r.signature} already credited`);
      }
      this.creditSigs.add(r.signature);
      this.reservedBalance.set(r.sessionHash, bal(r.sessionHash) + r.amount);
      this.addPayer(r.sessionHash, r.payer);
    } else if (r.kind === 'transfer') {
      if (bal(r.from) < r.amount) {
        throw new JournalError(loading ? 'CORRUPT' : 'OVERDRAWN', `transfer of ${r.amount} from session ${r.from}, which has ${bal(r.from)}`);
      }
      this.reservedBalance.set(r.from, bal(r.from) - r.amount);
      this.reservedBalance.set(r.to, bal(r.to) + r.amount);
      // The payer whose resume moved it owns that credit in `to` as if it had paid it there.
      this.addPayer(r.to, r.payer);
    } else if (r.kind === 'payment') {
      if (this.paymentSigs.has(r.signature)) {
        throw new JournalError(loading ? 'CORRUPT' : 'DUPLICATE_SIGNATURE', `payment ${r.signature} already journaled`);
      }
      this.paymentSigs.add(r.signature);
    } else {
      const prev = this.reservedCharge.get(r.sessionHash);
      if (prev && (r.bytes < prev.bytes || r.units < prev.units)) {
        throw new JournalError(loading ? 'CORRUPT' : 'CHARGE_DECREASED', `charge for session ${r.sessionHash} decreased`);
      }
      this.reservedCharge.set(r.sessionHash, { bytes: r.bytes, units: r.units });
      this.reservedBalance.set(r.sessionHash, bal(r.sessionHash) - (r.units - (prev?.units ?? 0n)));
    }
  }

  private addPayer(sessionHash: string, payer: string): void {
    let payers = this.payersBySession.get(sessionHash);
    if (payers === undefined) this.payersBySession.set(sessionHash, payers = new Set());
    payers.add(payer);
  }

  private apply(r: JournalRecord): void {
    this.all.push(r);
    addToSummary(this.sum, r);
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        if (this.failed || !this.fh) {
          const err = new JournalError('JOURNAL_FAILED', `journal failed earlier: ${this.failed?.message ?? 'closed'}`);
          for (const p of batch) p.reject(err);
          continue;
        }
        let size = 0;
        for (const p of batch) size += p.frame.length;
        const buf = new Uint8Array(size);
        let o = 0;
        for (const p of batch) {
          buf.set(p.frame, o);
          o += p.frame.length;
        }
        const sync = batch.some((p) => p.sync);
        try {
          await writeAll(this.fh, buf, this.end);
          if (sync) {
            const fh = this.fh;
            await (this.gate ? this.gate.flush(() => fh.datasync()) : fh.datasync());
          }
        } catch (e) {
          // Reserved signatures stay reserved: the record may be on disk; refusing to
          // credit it again is the safe side.
          this.failed = e instanceof Error ? e : new Error(String(e));
          for (const p of batch) p.reject(this.failed);
          continue;
        }
        this.end += size;
        this.unsynced = !sync;
        for (const p of batch) {
          this.apply(p.record);
          p.resolve();
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    if (bytesWritten <= 0) throw new Error('journal write made no progress');
    off += bytesWritten;
  }
}
