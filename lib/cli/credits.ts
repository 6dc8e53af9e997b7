/**
 * `seedpay credits`: the node's ratio credits per identity (docs/PROTOCOL.md §10),
 * read from its journal — by default the seller journal `seed` and `node` write in
 * SEEDPAY_HOME, where a node's credit book lives. Read like `earnings` reads: no lock
 * and no repair of a torn tail, so it works while the node runs (a compaction renames
 * a whole new file in; the file read is one or the other).
 *
 * Credit is bytes, not money: shown human-readable with the exact count. `available`
 * is what the identity holds (earned − spent); with `--ratio-ttl` (the seller's
 * setting, which the journal does not record) credit of an identity that earned
 * nothing for that long shows as expired, as the node would treat it.
 */
import { readJournal, type RatioBook } from '../../payment/journal.js';
import { CliError, parseArgs } from './args.js';
import { defaultJournal, type Out } from './paid-common.js';
import { formatBytes } from './progress.js';

/** One identity's credit at the node, as the journal has it. */
export interface CreditRow {
  identity: string;
  earned: bigint;
  /** Credit trusted nodes' statements brought (one hop). */
  vouched: bigint;
  spent: bigint;
  /** What the identity can spend now (0 once expired). */
  available: bigint;
  strikes: number;
  /** Unix ms of its latest earning (0: none). */
  earnedAt: number;
  expired: boolean;
}

/** Ratio books of a journal file, read without opening it for writing (no lock: works while the node runs). */
export async function readCreditBooks(path: string): Promise<Map<string, RatioBook>> {
  return (await readJournal(path)).ratio;
}

/** Rows by most available first (then by identity), with expiry after `ttlSeconds` when given. */
export function creditRows(books: Map<string, RatioBook>, now: number, ttlSeconds?: number): CreditRow[] {
  const rows = [...books].map(([identity, b]): CreditRow => {
    const held = b.earned + b.vouched - b.spent;
    const expired = ttlSeconds !== undefined && held > 0n && now - b.earnedAt > ttlSeconds * 1000;
    return { identity, earned: b.earned, vouched: b.vouched, spent: b.spent, available: expired || held < 0n ? 0n : held, strikes: b.strikes, earnedAt: b.earnedAt, expired };
  });
  return rows.sort((x, y) => (x.available === y.available ? (x.identity < y.identity ? -1 : 1) : x.available > y.available ? -1 : 1));
}

/** "8.0 MiB (8388608)": bytes as a reader reads them, and exactly. */
export function formatCredit(n: bigint): string {
  return n < 1024n ? `${n} B` : `${formatBytes(Number(n))} (${n})`;
}

function whenOf(ms: number): string {
  return ms === 0 ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function cmdCredits(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--journal', '--ratio-ttl'], booleans: ['--json'] });
  if (a.positionals.length !== 0) throw new CliError('credits takes no arguments', 2);
  const ttlText = a.flags.get('--ratio-ttl');
  const ttl = ttlText === undefined ? undefined : Number(ttlText);
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) throw new CliError(`bad --ratio-ttl '${ttlText}' (seconds, a positive integer)`, 2);
  const path = a.flags.get('--journal') ?? defaultJournal('seller');
  let books: Map<string, RatioBook>;
  try {
    books = await readCreditBooks(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no journal at ${path}` : `cannot read journal ${path}: ${(e as Error).message}`);
  }
  const rows = creditRows(books, Date.now(), ttl);
  if (a.flags.has('--json')) {
    io.out.write(`${JSON.stringify({
      journal: path,
      identities: rows.map((r) => ({
        identity: r.identity, earned: r.earned.toString(), vouched: r.vouched.toString(), spent: r.spent.toString(), available: r.available.toString(),
        strikes: r.strikes, lastEarned: r.earnedAt === 0 ? null : r.earnedAt, expired: r.expired,
      })),
    }, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.out.write(`no ratio credits at this node yet (${path})\n`);
    return 0;
  }
  const total = rows.reduce((s, r) => s + r.available, 0n);
  io.out.write(`ratio credits of ${rows.length} identit${rows.length === 1 ? 'y' : 'ies'}, ${formatCredit(total)} available in all (${path})\n`);
  const table = [
    ['identity', 'earned', 'vouched', 'spent', 'available', 'strikes', 'last earned'],
    ...rows.map((r) => [
      r.identity, formatCredit(r.earned), formatCredit(r.vouched), formatCredit(r.spent), r.expired ? `0 B (expired)` : formatCredit(r.available), String(r.strikes), whenOf(r.earnedAt),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) io.out.write(`  ${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}\n`);
  return 0;
}
