/**
 * The arguments of `seedpay node` that are its own: `--seed` / `--get` values
 * (a torrent and, optionally, its data directory) and the ratio terms
 * (`--ratio S:C`, `--ratio-cap`, `--ratio-ttl`). Pure; misuse is a CliError (exit 2).
 */
import { CliError, parseSize } from './args.js';

/** One torrent of the node: where it comes from and where its data lives. */
export interface TorrentSpec {
  /** A .torrent file path or a magnet link. */
  readonly src: string;
  readonly dir: string;
}

/**
 * `T[:dir]`: a torrent file and its data directory, split at the last ':' (a drive
 * letter's ':' is not a separator); without one, `defaultDir`. A magnet link has ':'
 * of its own, so it takes no directory here (it uses `defaultDir`).
 */
export function parseTorrentSpec(flag: string, v: string, defaultDir: string): TorrentSpec {
  if (v === '') throw new CliError(`${flag} needs a torrent`, 2);
  if (v.startsWith('magnet:')) return { src: v, dir: defaultDir };
  const i = v.lastIndexOf(':');
  if (i <= 0 || (i === 1 && /^[A-Za-z]:[\\/]/.test(v))) return { src: v, dir: defaultDir };
  const src = v.slice(0, i);
  const dir = v.slice(i + 1);
  if (dir === '') throw new CliError(`${flag} '${v}': empty data directory after ':'`, 2);
  return { src, dir };
}

/** Ratio terms a selling node offers (PaidSellerOptions.ratio). */
export interface RatioTerms {
  served: bigint;
  credit: bigint;
  cap?: bigint;
  ttlSeconds?: number;
}

/** `--ratio S:C` (bytes served per bytes of credit, positive integers), with `--ratio-cap SIZE` and `--ratio-ttl SECONDS`. */
export function parseRatioTerms(ratio: string | undefined, cap: string | undefined, ttl: string | undefined): RatioTerms | undefined {
  if (ratio === undefined) {
    if (cap !== undefined || ttl !== undefined) throw new CliError(`${cap !== undefined ? '--ratio-cap' : '--ratio-ttl'} needs --ratio S:C`, 2);
    return undefined;
  }
  const m = /^(\d{1,15}):(\d{1,15})$/.exec(ratio.trim());
  const served = m === null ? 0n : BigInt(m[1]);
  const credit = m === null ? 0n : BigInt(m[2]);
  if (served <= 0n || credit <= 0n) throw new CliError(`bad --ratio '${ratio}' (served:credit, two positive integers, e.g. 1:1)`, 2);
  const terms: RatioTerms = { served, credit };
  if (cap !== undefined) terms.cap = BigInt(parseSize(cap));
  if (ttl !== undefined) {
    const n = Number(ttl);
    if (!(/^\d+$/.test(ttl.trim()) && Number.isSafeInteger(n) && n > 0)) throw new CliError(`bad --ratio-ttl '${ttl}' (seconds, a positive integer)`, 2);
    terms.ttlSeconds = n;
  }
  return terms;
}
