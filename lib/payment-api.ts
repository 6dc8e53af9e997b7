/**
 * The payment layer's public surface, gathered for `lib/index.ts` (exported there as
 * the `payment` namespace). Low-level helpers (journal framing, transaction
 * encoding, ledger internals) stay importable from their modules.
 */
export { MIB, AmountError, chargeFor, bytesCoveredBy, parseAmount, formatAmount, type AmountErrorCode } from '../payment/amount.js';
export { associatedTokenAddress, connectionChain, chainFromUrl, type Chain, type ConnectionChainOptions, type TokenAccountInfo, type MintInfo } from '../payment/chain.js';
export { Journal, readJournal, summarize, summaryToJSON, type JournalSummary, type JournalOpenOptions, type SessionCharge } from '../payment/journal.js';
export { JournalError, type JournalErrorCode, type JournalRecord } from '../payment/journal-format.js';
export { buildMemo, parseMemo, MemoError, type SeedPayMemo } from '../payment/memo.js';
export { payPrepaid, buildPaymentTransaction, PayError, type PayErrorCode, type PaymentProof, type PayRequest } from '../payment/payer.js';
export {
  SessionError, generateWallet, walletFromSeed, walletFromSecretKey, parseWalletKeypairJson, walletKeypairJson,
  loadWalletKeypairFile, deriveSession, generateEphemeral,
  type SessionErrorCode, type WalletKeypair, type SessionKeys, type EphemeralKeyPair,
} from '../payment/session.js';
export {
  TermsError, validateTerms, encodeTerms, decodeTerms, parseTerms, termsEqual, termsDigest,
  type Terms, type ParsedTerms, type TermsErrorCode,
} from '../payment/terms.js';
export { PaymentVerifier, DEFAULT_RETRY, type VerifierOptions, type VerifyRequest, type VerifyResult, type RetryPolicy } from '../payment/verifier.js';
export { checkTransaction, type RejectReason } from '../payment/verify-rules.js';
export { LocalLedger, type LedgerOptions } from '../payment/ledger/ledger.js';
