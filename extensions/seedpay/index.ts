/** SeedPay as a BEP 10 extension: codec, terms, sans-IO seller and buyer, metering, hooks. */
export { SeedPayError, type SeedPayErrorCode } from './errors.js';
export {
  EXTENSION_NAME, MAX_MESSAGE_BYTES, KNOWN_REASONS, RESERVED_TYPES, decodeMessage, encodeMessage, isKnownReason, isTxSignature,
  type SeedPayMessage, type DecodedMessage, type EcdhInit, type PaymentProofMsg, type PaymentConfirmed,
  type PaymentRejected, type PaymentRequired, type UnknownMessage,
} from './messages.js';
export { classifyPeer, addTermsToHandshake, type PeerClass } from './classify.js';
export { Meter, type MeterOptions, type MeterStats, type BlockClass } from './meter.js';
export { Budget, reserveAll, remainingOf, type BuyerPolicy, type NonSeedPayPolicy } from './policy.js';
export {
  SellerSession, walletSigner, seedSigner,
  type Signer, type SellerOptions, type SellerState, type SellerEvent, type VerifyOutcome,
} from './seller-session.js';
export {
  BuyerSession,
  type BuyerOptions, type BuyerState, type BuyerEvent, type RefusalReason, type StopReason, type PayFailure,
} from './buyer-session.js';
export { SellerHook, BuyerHook, applyRefusal, sellerExtension, buyerExtension, type SellerDriver, type BuyerDriver, type SeedPayConnectionInfo } from './hook.js';
