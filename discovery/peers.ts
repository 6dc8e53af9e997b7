/**
 * Peer lists as trackers send them: compact IPv4 (BEP 23, 6 bytes each), compact IPv6
 * (BEP 7, 18 bytes each), and the original list of dictionaries (BEP 3). Lengths are
 * exact: a compact string that is not a whole number of records is an error, not a
 * truncated list, because a tracker that gets the framing wrong cannot be trusted for
 * the addresses either.
 */
import type { PeerAddress } from '../format/magnet.js';
import { TrackerError } from './errors.js';

export type { PeerAddress } from '../format/magnet.js';

export const COMPACT_V4 = 6;
export const COMPACT_V6 = 18;

/** Addresses from a compact string of `recordSize`-byte records (4 or 16 address bytes + a 2-byte port). */
export function decodeCompactPeers(b: Uint8Array, recordSize: typeof COMPACT_V4 | typeof COMPACT_V6, maxPeers: number): PeerAddress[] {
  if (b.length % recordSize !== 0) {
    throw new TrackerError('BAD_COMPACT_LENGTH', `compact peers of ${b.length} bytes is not a multiple of ${recordSize}`);
  }
  const n = b.length / recordSize;
  if (n > maxPeers) throw new TrackerError('TOO_MANY_PEERS', `${n} peers, more than the cap of ${maxPeers}`);
  const out: PeerAddress[] = [];
  for (let o = 0; o < b.length; o += recordSize) {
    const ipLen = recordSize - 2;
    const host = ipLen === 4 ? `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}` : formatIpv6(b.subarray(o, o + 16));
    out.push({ host, port: (b[o + ipLen] << 8) | b[o + ipLen + 1] });
  }
  return out;
}

/** The compact form of IPv4 or IPv6 literal addresses (the inverse of decodeCompactPeers). */
export function encodeCompactPeers(peers: readonly PeerAddress[], recordSize: typeof COMPACT_V4 | typeof COMPACT_V6): Uint8Array {
  const out = new Uint8Array(peers.length * recordSize);
  peers.forEach((p, i) => {
    const ip = recordSize === COMPACT_V4 ? parseIpv4(p.host) : parseIpv6(p.host);
    if (ip === null || !(Number.isInteger(p.port) && p.port >= 0 && p.port <= 0xffff)) {
      throw new TrackerError('BAD_ARGUMENT', `${p.host}:${p.port} has no ${recordSize === COMPACT_V4 ? 'IPv4' : 'IPv6'} compact form`);
    }
    out.set(ip, i * recordSize);
    out[i * recordSize + ip.length] = p.port >> 8;
    out[i * recordSize + ip.length + 1] = p.port & 0xff;
  });
  return out;
}

/** Dotted quad to 4 bytes, or null (no leading zeros: `010` is octal to some parsers). */
export function parseIpv4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1];
    if (part.length > 1 && part[0] === '0') return null;
    const v = Number(part);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** An IPv6 literal (with `::` and an optional dotted IPv4 tail) to 16 bytes, or null. */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  let tail: Uint8Array | null = null;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail = parseIpv4(s.slice(lastColon + 1));
    if (tail === null) return null;
    text = `${s.slice(0, lastColon + 1)}0:0`; // two placeholder groups for the IPv4 tail
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): string[] | null => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || rest === null) return null;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const all = [...head, ...new Array<string>(8 - total).fill('0'), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(all[i])) return null;
    const v = parseInt(all[i], 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  }
  if (tail !== null) out.set(tail, 12);
  return out;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

/** A host a dictionary peer may name: an IP literal or a DNS name (bounded, no spaces or slashes). */
export function isPeerHost(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  if (parseIpv4(s) !== null || parseIpv6(s) !== null) return true;
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/.test(s);
}
