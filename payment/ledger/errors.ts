/**
 * Transaction errors as real Solana RPC nodes spell them in JSON
 * (`meta.err`, `getSignatureStatuses().err`, preflight `data.err`), converted from
 * litesvm's error objects, and the typed JSON-RPC error the ledger answers with.
 */

/** The JSON form of a Solana `TransactionError` (a string or a one-key object). */
export type TxErrorJson = string | { [variant: string]: unknown };

// Index = litesvm's `TransactionErrorFieldless` value (same order as agave's enum).
const TX_FIELDLESS = [
  'AccountInUse', 'AccountLoadedTwice', 'AccountNotFound', 'ProgramAccountNotFound',
  'InsufficientFundsForFee', 'InvalidAccountForFee', 'AlreadyProcessed', 'BlockhashNotFound',
  'CallChainTooDeep', 'MissingSignatureForFee', 'InvalidAccountIndex', 'SignatureFailure',
  'InvalidProgramForExecution', 'SanitizeFailure', 'ClusterMaintenance', 'AccountBorrowOutstanding',
  'WouldExceedMaxBlockCostLimit', 'UnsupportedVersion', 'InvalidWritableAccount',
  'WouldExceedMaxAccountCostLimit', 'WouldExceedAccountDataBlockLimit', 'TooManyAccountLocks',
  'AddressLookupTableNotFound', 'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData',
  'InvalidAddressLookupTableIndex', 'InvalidRentPayingAccount', 'WouldExceedMaxVoteCostLimit',
  'WouldExceedAccountDataTotalLimit', 'MaxLoadedAccountsDataSizeExceeded', 'ResanitizationNeeded',
  'InvalidLoadedAccountsDataSizeLimit', 'UnbalancedTransaction', 'ProgramCacheHitMaxLimit',
  'CommitCancelled',
] as const;

// Index = litesvm's `InstructionErrorFieldless` value.
const IX_FIELDLESS = [
  'GenericError', 'InvalidArgument', 'InvalidInstructionData', 'InvalidAccountData',
  'AccountDataTooSmall', 'InsufficientFunds', 'IncorrectProgramId', 'MissingRequiredSignature',
  'AccountAlreadyInitialized', 'UninitializedAccount', 'UnbalancedInstruction', 'ModifiedProgramId',
  'ExternalAccountLamportSpend', 'ExternalAccountDataModified', 'ReadonlyLamportChange',
  'ReadonlyDataModified', 'DuplicateAccountIndex', 'ExecutableModified', 'RentEpochModified',
  'NotEnoughAccountKeys', 'AccountDataSizeChanged', 'AccountNotExecutable', 'AccountBorrowFailed',
  'AccountBorrowOutstanding', 'DuplicateAccountOutOfSync', 'InvalidError', 'ExecutableDataModified',
  'ExecutableLamportChange', 'ExecutableAccountNotRentExempt', 'UnsupportedProgramId', 'CallDepth',
  'MissingAccount', 'ReentrancyNotAllowed', 'MaxSeedLengthExceeded', 'InvalidSeeds', 'InvalidRealloc',
  'ComputationalBudgetExceeded', 'PrivilegeEscalation', 'ProgramEnvironmentSetupFailure',
  'ProgramFailedToComplete', 'ProgramFailedToCompile', 'Immutable', 'IncorrectAuthority',
  'AccountNotRentExempt', 'InvalidAccountOwner', 'ArithmeticOverflow', 'UnsupportedSysvar',
  'IllegalOwner', 'MaxAccountsDataAllocationsExceeded', 'MaxAccountsExceeded',
  'MaxInstructionTraceLengthExceeded', 'BuiltinProgramsMustConsumeComputeUnits', 'BorshIoError',
] as const;

function instructionErrorJson(e: unknown): unknown {
  if (typeof e === 'number') return IX_FIELDLESS[e] ?? `UnknownInstructionError(${e})`;
  if (e !== null && typeof e === 'object') {
    const o = e as { code?: unknown; msg?: unknown };
    if (typeof o.code === 'number') return { Custom: o.code };
    if (typeof o.msg === 'string') return { BorshIoError: o.msg };
  }
  return 'GenericError';
}

/**
 * litesvm returns a number for field-less errors and small class instances for the
 * others; we only rely on their documented fields (index, err(), accountIndex) and
 * on the class name where two shapes coincide.
 */
export function txErrorToJson(err: unknown): TxErrorJson {
  if (typeof err === 'number') return TX_FIELDLESS[err] ?? `UnknownTransactionError(${err})`;
  if (err !== null && typeof err === 'object') {
    const o = err as { index?: unknown; err?: unknown; accountIndex?: unknown; constructor?: { name?: string } };
    if (typeof o.index === 'number' && typeof o.err === 'function') {
      return { InstructionError: [o.index, instructionErrorJson((o.err as () => unknown).call(err))] };
    }
    if (typeof o.index === 'number') return { DuplicateInstruction: o.index };
    if (typeof o.accountIndex === 'number') {
      const name = o.constructor?.name ?? '';
      const variant = name.includes('Restricted') ? 'ProgramExecutionTemporarilyRestricted' : 'InsufficientFundsForRent';
      return { [variant]: { account_index: o.accountIndex } };
    }
  }
  return 'SanitizeFailure';
}

/** A human message like the ones agave puts in preflight failures. */
export function txErrorMessage(err: TxErrorJson): string {
  if (typeof err === 'string') {
    switch (err) {
      case 'BlockhashNotFound': return 'Blockhash not found';
      case 'AlreadyProcessed': return 'This transaction has already been processed';
      case 'InsufficientFundsForFee': return 'Insufficient funds for fee';
      case 'AccountNotFound': return 'Attempt to debit an account but found no record of a prior credit.';
      case 'SignatureFailure': return 'Transaction did not pass signature verification';
      default: return err;
    }
  }
  const ie = (err as { InstructionError?: [number, unknown] }).InstructionError;
  if (ie) {
    const [i, e] = ie;
    const detail = typeof e === 'string' ? e
      : e !== null && typeof e === 'object' && typeof (e as { Custom?: unknown }).Custom === 'number'
        ? `custom program error: 0x${((e as { Custom: number }).Custom).toString(16)}`
        : JSON.stringify(e);
    return `Error processing Instruction ${i}: ${detail}`;
  }
  return JSON.stringify(err);
}

/** A JSON-RPC error the ledger answers with (`{code, message, data}` as agave does). */
export class LedgerRpcError extends Error {
  readonly code: string;
  constructor(readonly rpcCode: number, message: string, readonly data?: unknown) {
    super(message);
    this.name = 'LedgerRpcError';
    this.code = `rpc_${rpcCode}`;
  }
}

export const RPC_INVALID_PARAMS = -32602;
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_PARSE_ERROR = -32700;
export const RPC_INVALID_REQUEST = -32600;
export const RPC_SEND_TX_PREFLIGHT_FAILURE = -32002;
export const RPC_SIGVERIFY_FAILURE = -32003;
export const RPC_UNSUPPORTED_TX_VERSION = -32015;

export function invalidParams(msg: string): LedgerRpcError {
  return new LedgerRpcError(RPC_INVALID_PARAMS, `Invalid params: ${msg}`);
}
