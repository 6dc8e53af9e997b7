/**
 * Which handshake to dial a known peer with, learnt per peer (sans-IO).
 *
 * Under 'prefer' we dial plain BitTorrent first: most peers take it, and it costs no
 * round trip. A peer that insists on encryption hangs up on a plain handshake; then the
 * next dial, at once, is MSE (offering RC4 and plaintext). The reverse holds too (a
 * plain-only peer hangs up on MSE). Every such failure switches the method, but only
 * the first of a failure streak redials at once; later ones wait the usual back-off (a
 * peer that hangs up on both is not hammered). The method that last connected is kept
 * for later dials. Under 'require' every dial is MSE; under 'off' every dial is plain.
 */
import type { PeerCloseReason } from './peer-session.js';
import type { EncryptionMode } from '../../wire/mse/policy.js';

/** Socket errors that say the host is not there at all: switching the handshake would not help. */
export const UNREACHABLE = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EADDRNOTAVAIL/;

/** Close codes of a connection the peer ended during (or right after) our handshake. */
const HUNG_UP: ReadonlySet<string> = new Set(['END', 'TRUNCATED', 'SOCKET_ERROR', 'MSE_REFUSED', 'MSE_FAILED', 'BAD_HANDSHAKE']);

export class DialMethod {
  private encrypted: boolean;
  private switched = false;

  constructor(private readonly mode: EncryptionMode) {
    this.encrypted = mode === 'require';
  }

  /** Dial the next connection with MSE. */
  get mse(): boolean { return this.encrypted; }

  /** The connection completed the BitTorrent handshake: keep this method. */
  connected(): void { this.switched = false; }

  /**
   * The connection ended before the BitTorrent handshake. True when the other method is
   * worth a dial right away (the caller skips the back-off this once).
   */
  failed(reason: PeerCloseReason | null): boolean {
    if (this.mode !== 'prefer' || reason === null || !HUNG_UP.has(reason.code)) return false;
    if (reason.code === 'SOCKET_ERROR' && UNREACHABLE.test(reason.error?.message ?? '')) return false;
    this.encrypted = !this.encrypted;
    const first = !this.switched;
    this.switched = true;
    return first;
  }
}
