/**
 * SeedPay's public API.
 *
 *  - The client (most users): `Client`, `Torrent`, `PeerSession` and their events.
 *  - Torrent files, magnet links, storage, picking and choking (lib/).
 *  - The sans-IO peer wire (wire/): `PeerConnection` and its codec pieces.
 *  - BEP 10 extensions (extensions/): the registry and ut_metadata; SeedPay's
 *    buyer/seller machinery under the `seedpay` namespace, peer exchange (BEP 11)
 *    under `pex`.
 *  - Payments (payment/): amounts, terms, wallets and sessions, payer, verifier,
 *    journal, chains, and the embedded local ledger, under the `payment` namespace
 *    (its names are specific enough to read as `payment.payPrepaid`, etc.).
 */

// ---- the client ----------------------------------------------------------------
export {
  Client, ClientError, CLIENT_VERSION, HARD_MAX_BLOCK_LENGTH,
  type ClientOptions, type ClientEvents, type TorrentSource,
} from './net/client.js';
export {
  Torrent,
  type TorrentOptions, type TorrentEvents, type TorrentStats, type TorrentProgress,
} from './engine/torrent.js';
export { PeerSession, type PeerCloseCode, type PeerCloseReason } from './engine/peer-session.js';
export type { ScrapeReport } from './discovery/client-trackers.js';
export { TypedEmitter } from './events/typed-emitter.js';

// ---- torrents, storage, policy ---------------------------------------------------
export {
  parseTorrent, parseInfo, pieceHash, MetainfoError,
  type Metainfo, type TorrentFile, type ParseOptions, type MetainfoErrorCode,
} from '../format/metainfo.js';
export {
  createTorrent, createTorrentFromFiles, createTorrentFromPath, buildTorrent, defaultPieceLength,
  type CreateOptions, type CreateFileSpec,
} from './files/create-torrent.js';
export { FileMap, FileMapError, type FileSegment } from '../format/file-map.js';
export {
  parseMagnet, buildMagnet, parsePeerAddress, formatPeerAddress, parseInfoHash, MagnetError,
  type Magnet, type PeerAddress, type MagnetErrorCode,
} from '../format/magnet.js';
export { PieceStore, StorageError, type StorageOptions, type StorageLayout, type StorageErrorCode } from './files/piece-store.js';
export { sha1, sha1Equals, createSha1, SHA1_LENGTH } from './files/sha1.js';
export {
  PiecePicker, PickerError, DEFAULT_BLOCK_SIZE,
  type PiecePickerOptions, type PickOptions, type PeerKey, type ReceiveResult, type PieceState, type BlockState,
} from './engine/piece-picker.js';
export { Choker, ChokerError, type ChokerOptions, type ChokeDecision, type SeedPolicy } from './engine/choker.js';
export { PeerSocket, type PeerSocketOptions, type PeerEventHandler } from './net/peer-socket.js';

// ---- the peer wire (sans-IO) -----------------------------------------------------
export {
  PeerConnection, CONNECTION_DEFAULTS,
  type ConnectionOptions, type AcceptOptions, type ConnectionEvent, type ConnectionStats, type ConnectionState,
} from '../wire/connection.js';
export { WireError, type WireErrorCode } from '../wire/errors.js';
export {
  MseInitiator, MseResponder, MseError, Rc4, req2Hash, isEncryptionMode, ENCRYPTION_MODES,
  type MseResult, type MseErrorCode, type EncryptionMode, type CryptoMethod, type InitiatorOptions, type ResponderOptions,
} from '../wire/mse/index.js';
export { Bitfield } from '../wire/bitfield.js';
export type { BlockRef, Message } from '../wire/messages.js';
export type { ExtensionHook, ExtensionContext, PeerExtendedHandshake } from '../wire/extension-hooks.js';
export { encode as bencode, decode as bdecode, BencodeError, type BValue, type BDict, type Encodable } from '../wire/bencode.js';

// ---- extensions ------------------------------------------------------------------
export {
  ExtensionRegistry, ConnectionExtensions, ExtensionProtocolError, UtMetadata, UtMetadataHook, UtMetadataError, MetadataFetcher,
  type ExtensionFactory, type ExtensionConnectionInfo, type ClosableExtensionHook,
} from '../extensions/index.js';
export * as seedpay from '../extensions/seedpay/index.js';
export * as pex from '../extensions/pex/index.js';

// ---- paid seeding and buying over the client (SeedPay end to end) ------------------
export {
  PaidSeller, PaidBuyer,
  type PaidSellerOptions, type PaidSellerEvents, type SellerTotals, type SellerPeerInfo,
  type PaidBuyerOptions, type PaidBuyerEvents, type PaymentMade, type BuyerPeerInfo,
} from './paid/index.js';

// ---- payments ----------------------------------------------------------------------
export * as payment from './payment-api.js';
