/** Ratio credits: identity binding on the peer wire and the earning plugin (docs/PROTOCOL.md, "Ratio credits"). */
export {
  CREDIT_EXTENSION, MAX_CREDIT_MESSAGE_BYTES, RatioError, decodeCreditMessage, encodeCreditMessage,
  type RatioErrorCode, type CreditMessage, type DecodedCreditMessage, type IdInit, type IdProof,
} from './messages.js';
export { IdentityBinding, type IdentityBindingOptions, type PeerIdentityState } from './identity.js';
export { BlockAttribution } from './attribution.js';
export { CreditHook, type CreditHookHost } from './hook.js';
export { RatioPlugin, ratioCredits, type CreditSink, type RatioPluginOptions, type PeerIdentity } from './plugin.js';
