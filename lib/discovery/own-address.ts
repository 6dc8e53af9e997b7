/**
 * Whether a peer address that a tracker or the DHT names is this client's own listener:
 * both list us among the peers of a torrent we announced.
 */
import { networkInterfaces } from 'node:os';
import type { PeerAddress } from '../../format/magnet.js';

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

/** `p` is our port on our listen address (on any local address if we listen on all). */
export function isOwnAddress(p: PeerAddress, port: number | null, listenHost: string | null, localAddress: string | undefined): boolean {
  if (port === null || p.port !== port) return false;
  const listen = listenHost ?? '';
  if (p.host === listen || p.host === localAddress) return true;
  if (!UNSPECIFIED.has(listen)) return false;
  if (p.host.startsWith('127.') || p.host === '::1') return true;
  return Object.values(networkInterfaces()).some((as) => as?.some((a) => a.address === p.host));
}
