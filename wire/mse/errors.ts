/**
 * Typed errors of the MSE/PE handshake. As with WireError, `remote` says whether the
 * peer broke the protocol (true) or we misused the API (false), and an error leaves
 * the handshake in a sticky error state.
 */

export type MseErrorCode =
  /** Responder: HASH('req1', S) not within 512 bytes of padding after Ya. */
  | 'BAD_REQ1_SYNC'
  /** Initiator: ENCRYPT(VC) not within 512 bytes of padding after Yb. */
  | 'BAD_VC_SYNC'
  /** Responder: the decrypted verification constant is not 8 zero bytes (wrong keys). */
  | 'BAD_VC'
  /** A public key of 0, 1, P-1 or ≥ P. */
  | 'BAD_PUBLIC_KEY'
  /** Responder: HASH('req2', SKEY) names none of our torrents. */
  | 'UNKNOWN_INFO_HASH'
  /** Responder: the initiator offered no method our policy allows. */
  | 'NO_COMMON_METHOD'
  /** Initiator: crypto_select is not exactly one of the methods we offered. */
  | 'BAD_CRYPTO_SELECT'
  /** len(PadC) or len(PadD) above 512. */
  | 'BAD_PAD_LENGTH'
  /** Responder under 'require': the peer opened with a plain BitTorrent handshake. */
  | 'PLAINTEXT_REFUSED'
  /** The handshake did not finish by its deadline. */
  | 'TIMEOUT'
  /** The stream ended before the handshake finished. */
  | 'TRUNCATED'
  /** Local misuse: a bad option, or input after the handshake finished. */
  | 'INVALID_ARGUMENT';

export class MseError extends Error {
  readonly code: MseErrorCode;
  readonly remote: boolean;

  constructor(code: MseErrorCode, message: string, remote = true) {
    super(`${code}: ${message}`);
    this.name = 'MseError';
    this.code = code;
    this.remote = remote;
  }
}
