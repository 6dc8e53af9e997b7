/** BEP 10 extensions: the registry every extension plugs into, and ut_metadata (BEP 9). */

export {
  ExtensionProtocolError, ExtensionRegistry, ConnectionExtensions, CONNECTION_HANDSHAKE_KEYS,
  type ExtensionFactory, type ExtensionConnectionInfo, type ClosableExtensionHook,
} from './registry.js';
export {
  UT_METADATA, METADATA_PIECE_LENGTH, UtMetadataError, decodeUtMetadata,
  encodeMetadataRequest, encodeMetadataData, encodeMetadataReject, metadataPieceCount, metadataPieceLength,
  type UtMetadataMessage, type UtMetadataErrorReason,
} from './ut-metadata-codec.js';
export {
  MetadataFetcher, METADATA_FETCH_DEFAULTS,
  type MetadataSource, type MetadataFetcherOptions, type MetadataFetchEvent, type MetadataFetchState,
} from './ut-metadata-fetcher.js';
export { UtMetadata, UtMetadataHook, type UtMetadataOptions } from './ut-metadata.js';
