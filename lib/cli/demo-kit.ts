/**
 * What the paid demos share (paid-demo.ts, ratio-demo.ts, channel-demo.ts): the local
 * ledger with funded wallets, a random sample file and its torrent, a transfer watched
 * with a progress bar, bounded waits, and the receipt — its padded lines and the checks
 * whose failure is marked on the line (MISMATCH) and makes the command exit non-zero.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Keypair } from '@solana/web3.js';
import type { Metainfo } from '../../format/metainfo.js';
import { LocalLedger, type LedgerOptions } from '../../payment/ledger/ledger.js';
import type { Torrent } from '../engine/torrent.js';
import { createTorrentFromPath, defaultPieceLength } from '../files/create-torrent.js';
import { CliError } from './args.js';
import type { Out } from './paid-common.js';
import { ProgressBar } from './progress.js';
import { writeRandomFile } from './sample-files.js';

/** A receipt line: the label padded to 12 columns after a 2-space indent. */
export const receiptLine = (label: string, text: string): string => `  ${label.padEnd(12)}${text}`;

/** Start the embedded ledger, saying so on stderr (`what`: the programs it runs). */
export async function startDemoLedger(io: Out, opts: LedgerOptions = {}, what = 'SPL Token, ATA, Memo'): Promise<LocalLedger> {
  io.err.write(`starting the local Solana ledger (litesvm: ${what})…\n`);
  return LocalLedger.start(opts);
}

/** A new wallet with 1 SOL for fees and `tokens` base units of the ledger's mint (none: no token account yet). */
export function demoWallet(ledger: LocalLedger, tokens = 0n): Keypair {
  const k = Keypair.generate();
  ledger.fundSol(k.publicKey, 1_000_000_000n);
  if (tokens > 0n) ledger.fundTokens(k.publicKey, tokens);
  return k;
}

/** A random file of `size` bytes in `dir` and its torrent. */
export async function sampleTorrent(dir: string, name: string, size: number): Promise<{ file: string; meta: Metainfo }> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, name);
  await writeRandomFile(file, size);
  // Pieces of at least 256 KiB: fewer, larger disk writes and hashes.
  const { metainfo } = await createTorrentFromPath(file, { createdBy: 'seedpay demo', pieceLength: Math.max(defaultPieceLength(size), 256 * 1024) });
  return { file, meta: metainfo };
}

/** A latch the demo's event handlers trip: `failed` rejects with the first error. */
export function failureLatch(): { failed: Promise<never>; fail: (e: CliError) => void } {
  let fail: (e: CliError) => void = () => undefined;
  const failed = new Promise<never>((_, rej) => { fail = rej; });
  failed.catch(() => undefined);
  return { failed, fail };
}

/** Until `t` is complete (or errors, or `failed` rejects first), with a progress bar. */
export async function transferWithBar(t: Torrent, label: string | undefined, io: Out, failed: Promise<never>): Promise<void> {
  const bar = new ProgressBar(io.err, label ?? {});
  const timer = setInterval(() => bar.update(t), 200);
  try {
    const result = await Promise.race([
      failed,
      new Promise<'done' | Error>((res) => {
        if (t.isComplete) res('done');
        t.once('done', () => res('done'));
        t.once('error', (e) => res(e));
      }),
    ]);
    if (result !== 'done') throw new CliError(`transfer of ${t.name} failed: ${result.message}`);
  } finally {
    clearInterval(timer);
  }
  bar.update(t, true);
  bar.done();
}

/** Poll `cond` every 20 ms for at most `ms`; whether it came true. */
export async function within(ms: number, cond: () => boolean | Promise<boolean>): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

/** The receipt's checks: each failed one is named, and marked on its line. */
export class ReceiptChecks {
  readonly problems: string[] = [];

  /** '' when `ok`, else '  (MISMATCH)' (and `what` is recorded). */
  check(ok: boolean, what: string): string {
    if (!ok) this.problems.push(what);
    return ok ? '' : '  (MISMATCH)';
  }

  get ok(): boolean { return this.problems.length === 0; }
}
