/**
 * Tracker URLs from a .torrent or a magnet link (hostile text): which ones we can
 * speak to, and the BEP 12 tier list a torrent's announce keys make.
 */
import { TrackerError } from './errors.js';

export type TrackerUrl =
  | { readonly kind: 'http'; readonly url: string }
  | { readonly kind: 'udp'; readonly url: string; readonly host: string; readonly port: number };

/** Longest tracker URL accepted (real ones are well under 200 characters). */
export const MAX_TRACKER_URL = 2048;
/** Most trackers one torrent uses (over all tiers): a .torrent listing thousands gets the first ones. */
export const MAX_TRACKERS = 64;

export function parseTrackerUrl(s: string): TrackerUrl {
  if (s.length > MAX_TRACKER_URL) throw new TrackerError('BAD_URL', `tracker URL of ${s.length} characters`);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new TrackerError('BAD_URL', `not a URL: ${JSON.stringify(s.slice(0, 80))}`);
  }
  if (u.hostname === '') throw new TrackerError('BAD_URL', `no host in ${JSON.stringify(s.slice(0, 80))}`);
  if (u.protocol === 'http:' || u.protocol === 'https:') return { kind: 'http', url: s };
  if (u.protocol === 'udp:') {
    if (u.port === '') throw new TrackerError('BAD_URL', `udp tracker without a port: ${JSON.stringify(s.slice(0, 80))}`);
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return { kind: 'udp', url: s, host, port: Number(u.port) };
  }
  throw new TrackerError('BAD_URL', `unsupported tracker scheme ${u.protocol}`);
}

/**
 * The tiers to announce to (BEP 12): `announce-list` when present (then `announce` is
 * ignored), else `announce` alone; URLs we cannot speak to are dropped, duplicates kept
 * once, empty tiers removed, at most MAX_TRACKERS in all.
 */
export function trackerTiers(announce: string | undefined, announceList: readonly (readonly string[])[] | undefined): string[][] {
  const source = announceList !== undefined && announceList.some((t) => t.length > 0)
    ? announceList
    : announce !== undefined ? [[announce]] : [];
  const seen = new Set<string>();
  const tiers: string[][] = [];
  for (const tier of source) {
    const kept: string[] = [];
    for (const url of tier) {
      if (seen.size >= MAX_TRACKERS) break;
      if (seen.has(url)) continue;
      try { parseTrackerUrl(url); } catch { continue; }
      seen.add(url);
      kept.push(url);
    }
    if (kept.length > 0) tiers.push(kept);
  }
  return tiers;
}
