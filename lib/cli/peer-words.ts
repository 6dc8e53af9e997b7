/**
 * Why a peer connection ended, in words a user understands (pure: no I/O). The engine's
 * close reasons are codes and socket error messages (`SOCKET_ERROR: connect
 * ECONNREFUSED …`); a user wants "refused" or "unreachable". `kind` groups reasons so
 * that a report can tell a repeat of the same failure from a new one.
 */
import type { PeerCloseReason } from '../engine/peer-session.js';

export type PeerFailureKind =
  | 'refused' | 'unreachable' | 'timed out' | 'hung up' | 'reset' | 'wrong torrent' | 'not bittorrent'
  | 'encryption' | 'protocol' | 'silent' | 'ours' | 'other';

export interface PeerCloseWords {
  readonly kind: PeerFailureKind;
  /** Fits after "peer 1.2.3.4:5 …" (or "dropped (…)" for a connected one): e.g. "refused (nothing listens there)". */
  readonly text: string;
}

/** The errno in a socket error's message (ECONNREFUSED, EHOSTUNREACH, …), or null. */
function errno(reason: PeerCloseReason): string | null {
  return /\b(E[A-Z]{3,})\b/.exec(reason.error?.message ?? '')?.[1] ?? null;
}

/**
 * Words for a connection that ended; `connected`: it had completed the BitTorrent
 * handshake (else it was a dial, or an incoming connection, that never got that far).
 */
export function peerCloseWords(reason: PeerCloseReason, connected: boolean): PeerCloseWords {
  const w = (kind: PeerFailureKind, text: string): PeerCloseWords => ({ kind, text });
  switch (reason.code) {
    case 'SOCKET_ERROR': {
      const e = errno(reason);
      if (e === 'ECONNREFUSED') return w('refused', 'refused (nothing listens there)');
      if (e === 'EHOSTUNREACH' || e === 'ENETUNREACH' || e === 'EADDRNOTAVAIL') return w('unreachable', `unreachable (${e})`);
      if (e === 'ETIMEDOUT') return w('unreachable', 'unreachable (connect timed out)');
      if (e === 'ECONNRESET' || e === 'EPIPE') return w('reset', connected ? 'reset the connection' : 'reset the connection during the handshake');
      return w('hung up', connected ? `closed the connection${e === null ? '' : ` (${e})`}` : 'hung up during the handshake');
    }
    case 'END':
    case 'TRUNCATED':
      return w('hung up', connected ? 'closed the connection' : 'hung up during the handshake');
    case 'HANDSHAKE_TIMEOUT':
      // The handshake timer runs from the dial: a host that never answers the TCP
      // connect ends here too, as does one that accepts and says nothing.
      return w('timed out', 'did not answer in time (no handshake)');
    case 'KEEPALIVE_TIMEOUT':
      return w('silent', 'went silent');
    case 'INFO_HASH_MISMATCH':
    case 'UNKNOWN_TORRENT':
    case 'TORRENT_REJECTED':
      return w('wrong torrent', 'does not have this torrent (wrong info hash)');
    case 'BAD_HANDSHAKE':
      return w('not bittorrent', 'is not a BitTorrent peer (bad handshake)');
    case 'MSE_REFUSED':
      return w('encryption', `encryption mismatch (${detail(reason)}; see --encryption)`);
    case 'MSE_FAILED':
      return w('encryption', `failed the encryption handshake (${detail(reason)})`);
    case 'NOT_NEEDED':
      return w('ours', 'both sides have every piece');
    case 'CLOSED':
      return w('ours', 'closed by us');
    case 'DUPLICATE':
      return w('ours', 'a second connection to the same peer');
    case 'SELF':
      return w('ours', 'is ourselves');
    case 'BANNED':
      return w('protocol', 'banned: it sent data that failed the hash check');
    case 'STORAGE':
      return w('ours', `a disk error while serving it (${detail(reason)})`);
    case 'EXTENSION_VIOLATION':
      return w('protocol', `broke an extension's protocol (${detail(reason)})`);
    case 'REQUEST_TIMEOUT':
      return w('silent', 'stopped answering requests');
    default:
      return w('protocol', `broke the protocol (${reason.code})`);
  }
}

/** The error's message without its leading code ("MSE_REFUSED: x" → "x"), short. */
function detail(reason: PeerCloseReason): string {
  const m = (reason.error?.message ?? reason.code).replace(/^[A-Z_]+: /, '');
  return m.length > 80 ? `${m.slice(0, 77)}…` : m;
}

/** Azureus-style peer id prefixes ("-qB4630-") of common clients. */
const CLIENTS: Readonly<Record<string, string>> = {
  qB: 'qBittorrent', TR: 'Transmission', lt: 'libtorrent', LT: 'libtorrent (rakshasa)', DE: 'Deluge', UT: 'µTorrent',
  UM: 'µTorrent Mac', BT: 'BitTorrent', AZ: 'Vuze', BI: 'BiglyBT', TX: 'Tixati', WW: 'WebTorrent', WD: 'WebTorrent Desktop',
  FD: 'Free Download Manager', KT: 'KTorrent', RT: 'rTorrent', SY: 'SeedPay', AG: 'Ares', XL: 'Xunlei', SD: 'Xunlei',
};

/**
 * The client a peer id names, when it follows the Azureus convention ("-XXvvvv-") with a
 * known XX: "qBittorrent 4.6.3". The version digits are read as each client writes them
 * most often (one character per component, 0-9 then A-Z for 10+), trailing zeros dropped.
 * A peer can claim anything here: it is a hint for a user, never trusted.
 */
export function clientName(peerId: Uint8Array | null): string | null {
  if (peerId === null || peerId.length !== 20 || peerId[0] !== 0x2d || peerId[7] !== 0x2d) return null;
  const id = String.fromCharCode(...peerId.subarray(1, 7));
  const name = CLIENTS[id.slice(0, 2)];
  if (name === undefined) return null;
  const parts: number[] = [];
  for (const c of id.slice(2)) {
    const n = parseInt(c, 36);
    if (Number.isNaN(n)) return name;
    parts.push(n);
  }
  while (parts.length > 1 && parts[parts.length - 1] === 0) parts.pop();
  return `${name} ${parts.join('.')}`;
}
