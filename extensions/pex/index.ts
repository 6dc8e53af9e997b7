/** Peer exchange (BEP 11, ut_pex): the codec, one connection's state, its hook and the torrent plugin. */
export {
  UT_PEX, PEX_FLAGS, MAX_PEX_PAYLOAD, MAX_PEX_ENTRIES, PexError, decodePex, encodePex,
  type PexErrorReason, type PexPeer, type PexMessage,
} from './codec.js';
export { addressScope, acceptableFrom, splitAddress, type AddressScope } from './address.js';
export {
  PexPeerState, PEX_LIMITS,
  type PexLimits, type PexCandidate, type PexReceived, type PexPeerStats,
} from './peer-state.js';
export { PexHook, type PexHookHost } from './hook.js';
export { PexPlugin, peerExchange, type PexHost, type PexPluginOptions, type PexStats } from './plugin.js';
