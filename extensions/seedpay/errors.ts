/**
 * The typed error of the SeedPay extension. It ends the PAID SESSION on one
 * connection (the buyer stays choked, the buyer pays nothing more, the seller serves
 * nothing more on credit) — never the process, and not by itself the BitTorrent
 * connection: the hook reports it as an event and the session decides whether to
 * close (SEEDPAY.md §8: "the connection may close").
 */

export type SeedPayErrorCode =
  // ---- message codec (messages.ts): the peer sent something malformed ----
  /** Payload longer than MAX_MESSAGE_BYTES. */
  | 'TOO_LARGE'
  /** Not one valid (strict, bounded) bencoded value. */
  | 'NOT_BENCODE'
  /** A bencoded value that is not a dictionary. */
  | 'NOT_A_DICT'
  /** `type` missing, not a byte string, not UTF-8 or too long. */
  | 'BAD_TYPE'
  /** A required key of a known message is absent. */
  | 'MISSING_KEY'
  /** A key of a known message has the wrong bencode type. */
  | 'WRONG_TYPE'
  /** `pk` not 32 bytes, `sig` not 64 bytes. */
  | 'BAD_LENGTH'
  /** An integer outside u64 (amounts, balances). */
  | 'OUT_OF_RANGE'
  /** `tx` is not the base58 form of a 64-byte signature. */
  | 'BAD_TX'
  /** `reason` empty, too long or not UTF-8. */
  | 'BAD_REASON'
  // ---- state machines (seller.ts, buyer.ts): the peer broke the session protocol ----
  /** A known message in the wrong direction or the wrong state (e.g. a second ecdh_init). */
  | 'UNEXPECTED_MESSAGE'
  /** A SeedPay message from a peer that did not list `seedpay` in its handshake. */
  | 'NOT_NEGOTIATED'
  /** The peer's x25519 key is of small order (forces a known shared secret). */
  | 'BAD_SESSION_KEY'
  /** Far more payment proofs than a buyer needs (see seller.ts). */
  | 'PROOF_FLOOD'
  /** The seller re-sent its extended handshake with other terms than it signed. */
  | 'TERMS_CHANGED'
  /** Too many messages whose MAC failed in a session that authenticates its messages (docs/PROTOCOL.md §3). */
  | 'BAD_MAC'
  // ---- our own misuse (remote: false) ----
  /** A local API call with a bad argument or in the wrong state. */
  | 'ILLEGAL_STATE';

export class SeedPayError extends Error {
  override readonly name = 'SeedPayError';
  constructor(
    readonly code: SeedPayErrorCode,
    message: string,
    /** true: the peer broke the protocol; false: we misused the API. */
    readonly remote: boolean = true,
  ) {
    super(message);
  }
}

export function localError(message: string): SeedPayError {
  return new SeedPayError('ILLEGAL_STATE', message, false);
}
