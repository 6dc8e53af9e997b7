/**
 * Whether an address a peer source names (a tracker, peer exchange) is this client's
 * own listener: trackers list the asking peer among the others, and PEX may hand us
 * back our own address; dialling it would only end in a 'SELF' close.
 */
import { networkInterfaces } from 'node:os';
import type { PeerAddress } from '../../format/magnet.js';

/** Where this client listens and dials from. */
export interface OwnListener {
  /** Our listening port (null: not listening). */
  port(): number | null;
  /** The address we listen on (null before listen). */
  listenHost(): string | null;
  /** The source address of our outgoing connections, if set. */
  readonly localAddress: string | undefined;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

/** Our port on our listen address (on any local address when we listen on all of them). */
export function isOwnListener(p: PeerAddress, l: OwnListener): boolean {
  const port = l.port();
  if (port === null || p.port !== port) return false;
  const listen = l.listenHost() ?? '';
  if (p.host === listen || p.host === l.localAddress) return true;
  if (!UNSPECIFIED.has(listen)) return false;
  if (p.host.startsWith('127.') || p.host === '::1') return true;
  return Object.values(networkInterfaces()).some((as) => as?.some((a) => a.address === p.host));
}
