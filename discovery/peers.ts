/**
 * Peer lists as trackers send them: compact IPv4 (BEP 23, 6 bytes each), compact IPv6
 * (BEP 7, 18 bytes each), and the original list of dictionaries (BEP 3). Lengths are
 * exact: a compact string that is not a whole number of records is an error, not a
 * truncated list, because a tracker that gets the framing wrong cannot be trusted for
 * the addresses either.
 */
import type { PeerAddress } from '../format/magnet.js';
import { COMPACT_V4, type COMPACT_V6, parseIpv4, parseIpv6, readCompactPeer, writeCompactPeer } from '../format/compact-peers.js';
import { TrackerError } from './errors.js';

export type { PeerAddress } from '../format/magnet.js';
// The record sizes and IP literal helpers live one floor down (peer exchange uses them too).
export { COMPACT_V4, COMPACT_V6, formatIpv6, parseIpv4, parseIpv6 } from '../format/compact-peers.js';

/** Addresses from a compact string of `recordSize`-byte records (4 or 16 address bytes + a 2-byte port). */
export function decodeCompactPeers(b: Uint8Array, recordSize: typeof COMPACT_V4 | typeof COMPACT_V6, maxPeers: number): PeerAddress[] {
  if (b.length % recordSize !== 0) {
    throw new TrackerError('BAD_COMPACT_LENGTH', `compact peers of ${b.length} bytes is not a multiple of ${recordSize}`);
  }
  const n = b.length / recordSize;
  if (n > maxPeers) throw new TrackerError('TOO_MANY_PEERS', `${n} peers, more than the cap of ${maxPeers}`);
  const out: PeerAddress[] = [];
  for (let o = 0; o < b.length; o += recordSize) out.push(readCompactPeer(b, o, recordSize));
  return out;
}

/** The compact form of IPv4 or IPv6 literal addresses (the inverse of decodeCompactPeers). */
export function encodeCompactPeers(peers: readonly PeerAddress[], recordSize: typeof COMPACT_V4 | typeof COMPACT_V6): Uint8Array {
  const out = new Uint8Array(peers.length * recordSize);
  peers.forEach((p, i) => {
    if (!writeCompactPeer(out, i * recordSize, p, recordSize)) {
      throw new TrackerError('BAD_ARGUMENT', `${p.host}:${p.port} has no ${recordSize === COMPACT_V4 ? 'IPv4' : 'IPv6'} compact form`);
    }
  });
  return out;
}

/** A host a dictionary peer may name: an IP literal or a DNS name (bounded, no spaces or slashes). */
export function isPeerHost(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  if (parseIpv4(s) !== null || parseIpv6(s) !== null) return true;
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/.test(s);
}
