/**
 * Compact peer addresses (BEP 23 IPv4: 4 address bytes + a 2-byte port; BEP 7 IPv6:
 * 16 + 2), as trackers (discovery/) and peer exchange (extensions/pex/) carry them,
 * and the IP literal parsing and printing both need.
 */
import type { PeerAddress } from './magnet.js';

export const COMPACT_V4 = 6;
export const COMPACT_V6 = 18;
export type CompactRecordSize = typeof COMPACT_V4 | typeof COMPACT_V6;

/** The address in the `recordSize`-byte record at `offset` of `b` (the caller checks the bounds). */
export function readCompactPeer(b: Uint8Array, offset: number, recordSize: CompactRecordSize): PeerAddress {
  const o = offset;
  const ipLen = recordSize - 2;
  const host = ipLen === 4 ? `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}` : formatIpv6(b.subarray(o, o + 16));
  return { host, port: (b[o + ipLen] << 8) | b[o + ipLen + 1] };
}

/**
 * Write `p` as a `recordSize`-byte record at `offset` of `out`; false (nothing written)
 * when its host is not an IP literal of that family or its port is not 0..65535.
 */
export function writeCompactPeer(out: Uint8Array, offset: number, p: PeerAddress, recordSize: CompactRecordSize): boolean {
  const ip = recordSize === COMPACT_V4 ? parseIpv4(p.host) : parseIpv6(p.host);
  if (ip === null || !(Number.isInteger(p.port) && p.port >= 0 && p.port <= 0xffff)) return false;
  out.set(ip, offset);
  out[offset + ip.length] = p.port >> 8;
  out[offset + ip.length + 1] = p.port & 0xff;
  return true;
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
