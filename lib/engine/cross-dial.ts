/**
 * Two connections to one peer, one dialled by each side: both learnt the other's
 * address at once (peer exchange tells both ends of a pair in the same minute) and
 * dialled. Two connections to one peer download everything twice in endgame and take
 * two unchoke slots, so one is closed — and both ends must close the same one without
 * a word: each keeps the connection dialled by the side with the lower peer id.
 *
 * Only a pair with the same peer id AND the same IP counts, so a stranger cannot close
 * someone's connection by borrowing its peer id; two connections opened the same way
 * are left alone (a reconnect while the old socket lingers is not a cross-dial).
 */
import { splitAddress } from '../../extensions/pex/address.js';
import { bytesEqual } from '../../wire/bytes.js';

/** What the rule reads of a connection. */
export interface DialEnd {
  readonly role: 'initiator' | 'acceptor';
  /** "host:port" label (dialled address, or an accepted socket's remote end). */
  readonly address: string;
  readonly peerId: Uint8Array | null;
  readonly registered: boolean;
  readonly isClosed: boolean;
}

/**
 * `s` just completed its handshake; if an open, registered connection among `others`
 * goes to the same peer the other way round, the one to close and the one kept.
 */
export function crossDial<T extends DialEnd>(s: T, others: Iterable<T>, ourId: Uint8Array): { loser: T; winner: T } | null {
  const pid = s.peerId;
  const host = splitAddress(s.address)?.host;
  if (pid === null || host === undefined) return null;
  for (const o of others) {
    if (o === s || !o.registered || o.isClosed || o.role === s.role || o.peerId === null || !bytesEqual(o.peerId, pid)) continue;
    if (splitAddress(o.address)?.host !== host) continue;
    const weDialWinner = Buffer.compare(ourId, pid) < 0;
    const [ours, theirs] = s.role === 'initiator' ? [s, o] : [o, s];
    return weDialWinner ? { winner: ours, loser: theirs } : { winner: theirs, loser: ours };
  }
  return null;
}
