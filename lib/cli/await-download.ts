/**
 * Waiting for a `seedpay get` download (free and paid): the progress display and the
 * peer report's "still looking" lines on one timer, until the torrent is complete, the
 * command fails (`failed`: a failure that concerns every peer) or `--timeout` runs out.
 */
import type { Torrent } from '../engine/torrent.js';
import { CliError, type ParsedArgs } from './args.js';
import type { PeerReport } from './peer-report.js';
import type { ProgressBar } from './progress.js';

/** The flag: `--timeout S`, seconds (a decimal allowed). */
export const TIMEOUT_FLAG = '--timeout';

/** --timeout in seconds, or null when absent. */
export function parseTimeout(a: ParsedArgs): number | null {
  const v = a.flags.get(TIMEOUT_FLAG);
  if (v === undefined) return null;
  const s = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(s > 0) || s > 365 * 24 * 3600) throw new CliError(`bad --timeout '${v}' (seconds, more than 0)`, 2);
  return s;
}

export interface AwaitDownloadOptions {
  readonly bar: ProgressBar;
  readonly report: PeerReport;
  /** Rejects when the command must stop (e.g. no usable peer left). */
  readonly failed?: Promise<never>;
  /** --timeout: seconds from `startedAt` (null: none). */
  readonly timeoutS: number | null;
  readonly startedAt: number;
  /** How often the display and the report are refreshed. Default 200 ms. */
  readonly tickMs?: number;
}

/** Resolves when `t` is complete (after the final progress line); rejects with a CliError otherwise. */
export async function awaitDownload(t: Torrent, o: AwaitDownloadOptions): Promise<void> {
  const timer = setInterval(() => { o.bar.update(t); o.report.tick(t.peers().length); }, o.tickMs ?? 200);
  let deadline: NodeJS.Timeout | null = null;
  try {
    const races: Promise<void>[] = [new Promise<void>((res) => { if (t.isComplete) res(); else t.once('done', () => res()); })];
    if (o.failed !== undefined) races.push(o.failed);
    if (o.timeoutS !== null) {
      const left = o.startedAt + o.timeoutS * 1000 - Date.now();
      races.push(new Promise<never>((_, rej) => { deadline = setTimeout(() => rej(timedOut(t, o.timeoutS!, o.report)), Math.max(0, left)); }));
    }
    await Promise.race(races);
  } finally {
    clearInterval(timer);
    if (deadline !== null) clearTimeout(deadline);
  }
  o.bar.update(t, true);
  o.bar.done();
}

function timedOut(t: Torrent, secs: number, report: PeerReport): CliError {
  const p = t.progress();
  const peers = t.peers().length;
  const have = t.metainfo === null ? 'the metadata (magnet) not received yet' : `${p.have}/${p.total} pieces`;
  const who = peers > 0 ? `${peers} peer${peers === 1 ? '' : 's'} connected` : report.triedSummary();
  return new CliError(`not complete after --timeout ${secs} s: ${have}, ${who}`);
}
