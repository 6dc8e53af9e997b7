/**
 * A recorded transaction rendered as `getTransaction` answers on a real node,
 * for the encodings web3.js asks for: `json` (getTransaction), `jsonParsed`
 * (getParsedTransaction), `base64` / `base58`.
 */
import bs58 from 'bs58';
import { LedgerRpcError, RPC_UNSUPPORTED_TX_VERSION, invalidParams } from './errors.js';
import type { TxRecord } from './engine.js';
import { toJsonParsedInstruction } from './parse-instruction.js';

export type TxEncoding = 'json' | 'jsonParsed' | 'base64' | 'base58';

export function parseEncoding(v: unknown): TxEncoding {
  if (v === undefined || v === null) return 'json';
  if (v === 'json' || v === 'jsonParsed' || v === 'base64' || v === 'base58') return v;
  throw invalidParams(`unknown variant \`${String(v)}\`, expected one of \`binary\`, \`base64\`, \`base58\`, \`json\`, \`jsonParsed\``);
}

function meta(rec: TxRecord, parsed: boolean): Record<string, unknown> {
  const keys = rec.accountKeys.map((k) => k.toBase58());
  return {
    err: rec.err,
    status: rec.err === null ? { Ok: null } : { Err: rec.err },
    fee: rec.fee,
    preBalances: rec.preBalances,
    postBalances: rec.postBalances,
    innerInstructions: rec.innerInstructions.map((group) => ({
      index: group.index,
      instructions: group.instructions.map((ii) =>
        parsed
          ? toJsonParsedInstruction(keys[ii.programIdIndex], ii.accounts.map((a) => keys[a]), ii.data, ii.stackHeight)
          : { programIdIndex: ii.programIdIndex, accounts: ii.accounts, data: bs58.encode(ii.data), stackHeight: ii.stackHeight }),
    })),
    logMessages: rec.logMessages,
    preTokenBalances: rec.preTokenBalances,
    postTokenBalances: rec.postTokenBalances,
    rewards: [],
    loadedAddresses: rec.loadedAddresses,
    computeUnitsConsumed: rec.computeUnitsConsumed,
  };
}

function transactionJson(rec: TxRecord, parsed: boolean): Record<string, unknown> {
  const m = rec.tx.message;
  const isV0 = rec.tx.version === 0;
  const allKeys = rec.accountKeys.map((k) => k.toBase58());
  const message: Record<string, unknown> = {};
  if (parsed) {
    const nStatic = m.staticAccountKeys.length;
    message.accountKeys = allKeys.map((pubkey, i) => ({
      pubkey,
      writable: m.isAccountWritable(i),
      signer: m.isAccountSigner(i),
      source: i < nStatic ? 'transaction' : 'lookupTable',
    }));
    message.instructions = m.compiledInstructions.map((ix) =>
      toJsonParsedInstruction(allKeys[ix.programIdIndex], ix.accountKeyIndexes.map((a) => allKeys[a]), ix.data, null));
  } else {
    message.accountKeys = m.staticAccountKeys.map((k) => k.toBase58());
    message.header = m.header;
    message.instructions = m.compiledInstructions.map((ix) => ({
      programIdIndex: ix.programIdIndex, accounts: ix.accountKeyIndexes, data: bs58.encode(ix.data), stackHeight: null,
    }));
  }
  message.recentBlockhash = m.recentBlockhash;
  if (isV0) {
    message.addressTableLookups = m.addressTableLookups.map((l) => ({
      accountKey: l.accountKey.toBase58(), writableIndexes: l.writableIndexes, readonlyIndexes: l.readonlyIndexes,
    }));
  }
  return { signatures: rec.tx.signatures.map((s) => bs58.encode(s)), message };
}

/**
 * agave refuses a versioned transaction unless the client says it can read one;
 * `version` is only present when the client set maxSupportedTransactionVersion.
 */
export function encodeTransaction(rec: TxRecord, encoding: TxEncoding, maxSupportedVersion: number | undefined): Record<string, unknown> {
  const version = rec.tx.version;
  if (version === 0 && (maxSupportedVersion === undefined || maxSupportedVersion < 0)) {
    throw new LedgerRpcError(
      RPC_UNSUPPORTED_TX_VERSION,
      'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
    );
  }
  let transaction: unknown;
  switch (encoding) {
    case 'base64': transaction = [Buffer.from(rec.raw).toString('base64'), 'base64']; break;
    case 'base58': transaction = [bs58.encode(rec.raw), 'base58']; break;
    default: transaction = transactionJson(rec, encoding === 'jsonParsed');
  }
  const out: Record<string, unknown> = {
    slot: rec.slot,
    transaction,
    meta: meta(rec, encoding === 'jsonParsed'),
    blockTime: rec.blockTime,
  };
  if (maxSupportedVersion !== undefined) out.version = version === 'legacy' ? 'legacy' : version;
  return out;
}
