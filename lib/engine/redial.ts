/**
 * When to dial a known peer again after its connection ended (sans-IO: time passed in).
 *
 * The usual back-off: 1 s after a connection that worked, else 2 s doubling per failed
 * attempt up to 30 s, so a peer that is not there is not hammered.
 *
 * But a peer that answered and then closed on us for a benign reason — it hung up
 * during or after the handshake (a client that takes one connection per IP and already
 * has one from us, a seed shedding connections, NOT_NEEDED), or reset the socket — is
 * redialled every `STARVING_REDIAL_MS` while we still need data and no connected peer
 * can give us any: waiting out a 16 s back-off for the only source there is leaves the
 * download idle for nothing (measured: a 17 s gap). A host that is not there at all
 * (refused, unreachable), a peer that broke the protocol or never finished its
 * handshake keeps the usual back-off.
 */
import type { PeerCloseReason } from './peer-session.js';
import { UNREACHABLE } from './dial-method.js';

export const STARVING_REDIAL_MS = 2_000;
const MAX_BACKOFF_MS = 30_000;

/** The usual delay before the next dial: 1 s × 2^failures, at most 30 s. */
export function backoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(5, failures));
}

/** Close codes of a connection the peer itself ended without breaking anything. */
const BENIGN: ReadonlySet<string> = new Set(['END', 'NOT_NEEDED', 'TRUNCATED', 'SOCKET_ERROR']);

/** Whether the connection ended in a way that a prompt redial may fix (see above). */
export function endedBenignly(reason: PeerCloseReason | null): boolean {
  if (reason === null || !BENIGN.has(reason.code)) return false;
  return !(reason.code === 'SOCKET_ERROR' && UNREACHABLE.test(reason.error?.message ?? ''));
}

export interface RedialState {
  /** When the usual back-off ends. */
  readonly nextAt: number;
  /** When its last connection ended (-Infinity: never connected). */
  readonly endedAt: number;
  /** That connection ended benignly (endedBenignly). */
  readonly benign: boolean;
}

/**
 * In how many ms the peer will be dialled again (at least 0), as `redialDue` decides it
 * if nothing changes meanwhile: the sooner of the back-off and, for a benign end while
 * we starve, the prompt redial. The torrent's tick (1 s) may add up to a second.
 */
export function redialInMs(p: RedialState, now: number, starving: boolean): number {
  const at = starving && p.benign ? Math.min(p.nextAt, p.endedAt + STARVING_REDIAL_MS) : p.nextAt;
  return Math.max(0, at - now);
}

/** Whether to dial the peer now; `starving`: we need data and no connected peer can give any. */
export function redialDue(p: RedialState, now: number, starving: boolean): boolean {
  if (now >= p.nextAt) return true;
  return starving && p.benign && now >= p.endedAt + STARVING_REDIAL_MS;
}
