/**
 * BitTorrent peer-wire messages (BEP 3, BEP 6, BEP 10 framing) as a discriminated union.
 *
 * Every integer on the wire is an unsigned 32-bit big-endian value; here they are
 * plain `number`s in [0, 2^32). Binary payloads are `Uint8Array` views: a decoded
 * `piece.block` or `bitfield.bits` may alias the framer's input chunk, so a consumer
 * that keeps one past the next `feed()` must copy it.
 */

/** Message ids on the wire (keep-alive has none: it is a zero-length frame). */
export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  not_interested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggest_piece: 0x0d,
  have_all: 0x0e,
  have_none: 0x0f,
  reject_request: 0x10,
  allowed_fast: 0x11,
  extended: 20,
} as const;

export interface KeepAlive { readonly type: 'keep_alive' }
export interface Choke { readonly type: 'choke' }
export interface Unchoke { readonly type: 'unchoke' }
export interface Interested { readonly type: 'interested' }
export interface NotInterested { readonly type: 'not_interested' }
export interface Have { readonly type: 'have'; readonly index: number }
/** Packed bitfield, high bit of byte 0 = piece 0 (BEP 3). */
export interface Bitfield { readonly type: 'bitfield'; readonly bits: Uint8Array }
export interface Request { readonly type: 'request'; readonly index: number; readonly begin: number; readonly length: number }
export interface Piece { readonly type: 'piece'; readonly index: number; readonly begin: number; readonly block: Uint8Array }
export interface Cancel { readonly type: 'cancel'; readonly index: number; readonly begin: number; readonly length: number }
/** DHT port (BEP 5); 16-bit. */
export interface Port { readonly type: 'port'; readonly port: number }
export interface SuggestPiece { readonly type: 'suggest_piece'; readonly index: number }
export interface HaveAll { readonly type: 'have_all' }
export interface HaveNone { readonly type: 'have_none' }
export interface RejectRequest { readonly type: 'reject_request'; readonly index: number; readonly begin: number; readonly length: number }
export interface AllowedFast { readonly type: 'allowed_fast'; readonly index: number }
/** BEP 10: id 0 is the extended handshake; other ids are the ones the receiver advertised in its `m` map. */
export interface Extended { readonly type: 'extended'; readonly id: number; readonly payload: Uint8Array }

export type Message =
  | KeepAlive | Choke | Unchoke | Interested | NotInterested | Have | Bitfield
  | Request | Piece | Cancel | Port | SuggestPiece | HaveAll | HaveNone
  | RejectRequest | AllowedFast | Extended;

export type MessageType = Message['type'];

/** The BEP 6 fast-extension messages: illegal unless both sides set the fast bit. */
export const FAST_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'suggest_piece', 'have_all', 'have_none', 'reject_request', 'allowed_fast',
]);

/** A block request key shared by request, cancel, reject_request. */
export interface BlockRef { readonly index: number; readonly begin: number; readonly length: number }
