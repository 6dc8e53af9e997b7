/**
 * Every way a tracker exchange can fail, as one typed error. Responses come from the
 * network and are hostile: a parser or state machine in this folder throws only
 * `TrackerError`, never a TypeError or RangeError, whatever the bytes.
 */
export type TrackerErrorCode =
  | 'BAD_URL'             // not an absolute http(s):// or udp:// URL with a host (and a port for udp)
  | 'BAD_ARGUMENT'        // our own misuse: a hash that is not 20 bytes, a negative count
  | 'TOO_LARGE'           // a response longer than the cap
  | 'BAD_BENCODE'         // an HTTP body that is not bencode within the bounds (depth, items)
  | 'NOT_A_DICT'          // a bencoded body whose top value is not a dictionary
  | 'TRACKER_FAILURE'     // the tracker answered with `failure reason` (HTTP) or an error action (UDP)
  | 'MISSING_KEY'         // a required key (interval, peers) is absent
  | 'WRONG_TYPE'          // a key holds another bencode type
  | 'OUT_OF_RANGE'        // an integer outside what the field allows
  | 'BAD_COMPACT_LENGTH'  // compact peers not a whole number of 6 (IPv4) or 18 (IPv6) bytes
  | 'BAD_PEER'            // a dictionary peer without a usable ip or port
  | 'TOO_MANY_PEERS'      // more peers than the cap (a tracker asked for 50 does not send 100 000)
  | 'BAD_PACKET'          // a UDP datagram too short or not a whole number of records
  | 'WRONG_ACTION'        // a UDP answer whose action is not the one asked for
  | 'TIMEOUT'             // no answer in time (UDP: after the last retransmission)
  | 'HTTP_STATUS'         // an HTTP status other than 200
  | 'NETWORK'             // the transport failed (refused, reset, DNS)
  | 'CLOSED';             // the announcer or transport was closed while waiting

export class TrackerError extends Error {
  override readonly name = 'TrackerError';
  constructor(readonly code: TrackerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
