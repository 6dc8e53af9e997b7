/**
 * Typed errors of the peer wire.
 *
 * Every error that ends a connection carries a stable string `code` (for logs,
 * metrics and tests) and says whether the REMOTE peer broke the protocol
 * (`remote: true`, e.g. a malformed frame) or WE misused the API
 * (`remote: false`, e.g. encoding a negative index). Following h11, an error
 * leaves the object that raised it in a sticky error state.
 *
 * `WireErrorCode` is a plain union so that other wire modules (the connection
 * state machine) can add their codes here, in one place.
 */

export type WireErrorCode =
  // ---- framing and message decoding (framer.ts, codec.ts) ----
  /** Length prefix ≥ 2^31 or above the configured maximum message length. */
  | 'LENGTH_TOO_LARGE'
  /** A message id this implementation does not know. */
  | 'UNKNOWN_MESSAGE_ID'
  /** A frame shorter than its message type requires. */
  | 'BAD_MESSAGE_SIZE'
  /** A fixed-size message with extra bytes after its fields. */
  | 'TRAILING_BYTES'
  /** The stream ended in the middle of a handshake or a message. */
  | 'TRUNCATED'
  /** A bitfield whose byte length is not ceil(numPieces / 8). */
  | 'BAD_BITFIELD_LENGTH'
  /** A bitfield with bits set past the last piece. */
  | 'BITFIELD_SPARE_BITS'
  /** A piece index at or past the number of pieces. */
  | 'BAD_PIECE_INDEX'
  // ---- handshake (handshake.ts) ----
  /** pstrlen is not 19 or pstr is not "BitTorrent protocol". */
  | 'BAD_HANDSHAKE'
  /** The peer's info hash is not the torrent we asked for / serve. */
  | 'INFO_HASH_MISMATCH'
  // ---- connection state machine (connection.ts) ----
  /** A BEP 6 message although the fast extension was not negotiated by both sides. */
  | 'FAST_NOT_NEGOTIATED'
  /** have_all / have_none / bitfield after some other message (BEP 6: only first). */
  | 'HAVE_ALL_NOT_FIRST'
  /** A message that is not legal in the connection's current state. */
  | 'ILLEGAL_STATE'
  /** The peer sent more outstanding requests than the `reqq` we advertised. */
  | 'REQUEST_OVERFLOW'
  /** A piece block we never requested (or already received / cancelled). */
  | 'UNREQUESTED_PIECE'
  /** An extended message although the peer did not set the BEP 10 bit, or before handshakes. */
  | 'EXTENSION_NOT_NEGOTIATED'
  /** The BEP 10 extended handshake is not a valid bencoded dictionary or has bad fields. */
  | 'BAD_EXTENDED_HANDSHAKE'
  /** An extended message with an id we never advertised. */
  | 'UNKNOWN_EXTENSION_ID'
  /** No handshake within the allowed time. */
  | 'HANDSHAKE_TIMEOUT'
  /** Nothing received for longer than the keep-alive timeout. */
  | 'KEEPALIVE_TIMEOUT'
  /** A request we sent was not answered in time. */
  | 'REQUEST_TIMEOUT'
  /** A request with length 0 or above the block size we serve (BEP 3: 16 KiB in practice). */
  | 'BAD_REQUEST'
  /** An extension hook threw something other than a WireError. */
  | 'EXTENSION_ERROR'
  /** The accepting side did not want the info hash the peer asked for (local decision). */
  | 'TORRENT_REJECTED'
  /** The socket under a connection failed or closed (lib/net/peer-socket.ts). */
  | 'SOCKET_ERROR'
  /** The peer broke the MSE/PE handshake before the BitTorrent one (garbage, no sync, bad VC, padding, key or crypto_select; the message names the wire/mse MseError code). */
  | 'MSE_FAILED'
  /** An MSE/PE peer that broke nothing but does not meet our policy (plaintext under 'require', no common method) or names no torrent we serve. */
  | 'MSE_REFUSED'
  // ---- local misuse ----
  /** A value out of range handed to an encoder or to the API (local error). */
  | 'INVALID_ARGUMENT';

export class WireError extends Error {
  readonly code: WireErrorCode;
  /** true: the remote peer broke the protocol; false: our own misuse of the API. */
  readonly remote: boolean;

  constructor(code: WireErrorCode, message: string, remote = true) {
    super(`${code}: ${message}`);
    this.name = 'WireError';
    this.code = code;
    this.remote = remote;
  }
}

/** Shorthand for a local (caller-side) argument error. */
export function invalidArgument(message: string): WireError {
  return new WireError('INVALID_ARGUMENT', message, false);
}
