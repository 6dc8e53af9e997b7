/**
 * Everything `seedpay get` (free and paid) prints while it downloads, built once for
 * both: the progress display, the per-peer lines (peer-report.ts), and — when the peers
 * the user gave are the only source (no tracker, no DHT) — the pool of those peers
 * (peer-pool.ts) that ends the command with one line once none is usable: each peer
 * that never connects is given up after GIVE_UP_AFTER failed dials.
 */
import type { Torrent } from '../engine/torrent.js';
import { CliError } from './args.js';
import { normalizePeer, PeerPool } from './peer-pool.js';
import { PeerReport } from './peer-report.js';
import { ProgressBar } from './progress.js';

export interface GetReportOptions {
  /** The peers the user gave (--peer, a magnet's x.pe). */
  readonly given: readonly string[];
  /** The other sources searching ("tracker udp://…", "DHT"); empty: the given peers are all there is. */
  readonly lookingVia: readonly string[];
  /** Appended to the final line when no given peer is usable (why there is no other source). */
  readonly exhaustedNote?: string;
  /** Extra progress fields (paid: USDC spent). */
  readonly extra?: () => readonly string[];
  /** Off a terminal, the least time between progress lines (tests). */
  readonly pipeEveryMs?: number;
}

export interface GetReport {
  readonly bar: ProgressBar;
  readonly report: PeerReport;
  /** The given peers while they are the only source, else null. */
  readonly pool: PeerPool | null;
  /** Rejects with the failure that ends the command. */
  readonly failed: Promise<never>;
  /** One line above the progress bar (not once the command is failing: what follows is not news). */
  line(text: string): void;
  /** End the command with `e` (the first failure wins). */
  fail(e: CliError): void;
  /** Wire to the torrent (before it dials). */
  watch(t: Torrent): void;
}

export function startGetReport(err: NodeJS.WritableStream & { isTTY?: boolean }, o: GetReportOptions): GetReport {
  const bar = new ProgressBar(err, { extra: o.extra, pipeEveryMs: o.pipeEveryMs });
  let failing = false;
  let reject: (e: CliError) => void = () => undefined;
  const failed = new Promise<never>((_, rej) => { reject = rej; });
  failed.catch(() => undefined);
  const fail = (e: CliError): void => { if (!failing) { failing = true; reject(e); } };
  const line = (text: string): void => { if (!failing) bar.line(text); };
  let torrent: Torrent | null = null;
  const given = new Set(o.given.map(normalizePeer));
  const pool: PeerPool | null = o.lookingVia.length > 0 || o.given.length === 0 ? null : new PeerPool(o.given, {
    dropped: (peer, why) => line(`dropping peer ${peer}: ${why}`),
    exhausted: (summary) => fail(new CliError(`${summary}${o.exhaustedNote === undefined ? '' : ` (${o.exhaustedNote})`}`)),
  }, () => torrent?.peers().filter((s) => !given.has(s.address) && !pool!.isDropped(s.address)).length ?? 0);
  const report = new PeerReport({
    given: o.given,
    line,
    lookingVia: o.lookingVia,
    ...(pool === null ? {} : {
      gaveUp: (peer: string, why: string): void => {
        pool.drop(peer, why);
        try { torrent?.forgetPeer(peer); } catch { /* not an address the torrent dials */ }
      },
      ignore: (peer: string): boolean => pool.isDropped(peer),
    }),
  });
  return {
    bar, report, pool, failed, line, fail,
    watch(t: Torrent): void {
      torrent = t;
      report.watch(t);
      // A connection from elsewhere (one that dialled us, peer exchange) kept the pool alive.
      if (pool !== null) t.on('peer_closed', (s) => { if (s.registered) pool.recheck(); });
    },
  };
}

/** "peer sources: --peer 127.0.0.1:1, tracker udp://…, DHT, peer exchange (trackers are off)". */
export function sourcesLine(sources: readonly string[], off: readonly string[]): string {
  return `peer sources: ${sources.length > 0 ? sources.join(', ') : 'none'}${off.length > 0 ? ` (${off.join(', ')})` : ''}`;
}
