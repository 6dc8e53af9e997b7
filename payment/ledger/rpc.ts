/**
 * Solana JSON-RPC 2.0 methods over the ledger engine, answering in the shapes
 * agave nodes use (`{context: {slot, apiVersion}, value}` where they wrap), so
 * `@solana/web3.js` `Connection` runs against it unchanged.
 */
import { PublicKey, VersionedMessage } from '@solana/web3.js';
import bs58 from 'bs58';
import {
  LedgerRpcError, RPC_INVALID_REQUEST, RPC_METHOD_NOT_FOUND, invalidParams,
} from './errors.js';
import { LAMPORTS_PER_SIGNATURE, type AccountView, type LedgerEngine } from './engine.js';
import { encodeTransaction, parseEncoding } from './encode-tx.js';
import { isTokenProgram, parseMint, parseTokenAccount, uiTokenAmount } from './token-accounts.js';

const API_VERSION = '2.2.0';
const MAX_SIGNATURES_PER_STATUS_CALL = 256;
const MAX_MULTIPLE_ACCOUNTS = 100;
const MAX_BATCH = 100;
/** What agave answers for rent-exempt accounts (u64::MAX; loses precision as a JS number, as it does for web3.js). */
const RENT_EPOCH_EXEMPT = 18446744073709551615;

type Params = unknown[];
type Method = (engine: LedgerEngine, params: Params) => unknown;

export interface JsonRpcResponse {
  jsonrpc: '2.0';
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function ctx(engine: LedgerEngine, value: unknown): { context: { apiVersion: string; slot: number }; value: unknown } {
  return { context: { apiVersion: API_VERSION, slot: engine.slot }, value };
}

function config(params: Params, at: number): Record<string, unknown> {
  const c = params[at];
  if (c === undefined || c === null) return {};
  if (typeof c !== 'object' || Array.isArray(c)) throw invalidParams('invalid type: expected a config object');
  return c as Record<string, unknown>;
}

function pubkeyParam(v: unknown): PublicKey {
  if (typeof v !== 'string' || v.length > 44) throw invalidParams('Invalid param: Invalid');
  try {
    const bytes = bs58.decode(v);
    if (bytes.length !== 32) throw new Error('length');
    return new PublicKey(bytes);
  } catch {
    throw invalidParams('Invalid param: WrongSize');
  }
}

function signatureParam(v: unknown): string {
  if (typeof v !== 'string' || v.length > 88) throw invalidParams('Invalid param: Invalid');
  try {
    if (bs58.decode(v).length !== 64) throw new Error('length');
  } catch {
    throw invalidParams('Invalid param: Invalid');
  }
  return v;
}

function decodeWire(v: unknown, encoding: unknown): Uint8Array {
  if (typeof v !== 'string' || v.length > 4096) throw invalidParams('invalid transaction');
  const enc = encoding ?? 'base58';
  try {
    if (enc === 'base64') return new Uint8Array(Buffer.from(v, 'base64'));
    if (enc === 'base58') return bs58.decode(v);
  } catch {
    throw invalidParams(`invalid ${String(enc)} encoding`);
  }
  throw invalidParams(`unsupported encoding: ${String(enc)}. Supported encodings: base58, base64`);
}

function accountJson(acc: AccountView | null, cfg: Record<string, unknown>): unknown {
  if (acc === null) return null;
  const owner = acc.owner.toBase58();
  const base = { executable: acc.executable, lamports: Number(acc.lamports), owner, rentEpoch: RENT_EPOCH_EXEMPT, space: acc.data.length };
  let data = acc.data;
  const slice = cfg.dataSlice as { offset?: unknown; length?: unknown } | undefined;
  if (slice && typeof slice.offset === 'number' && typeof slice.length === 'number') {
    data = data.subarray(slice.offset, slice.offset + slice.length);
  }
  const enc = cfg.encoding ?? 'base58';
  if (enc === 'jsonParsed' && isTokenProgram(owner)) {
    const t = parseTokenAccount(acc.data);
    if (t) {
      return {
        ...base,
        data: {
          program: 'spl-token',
          parsed: {
            type: 'account',
            info: { isNative: false, mint: t.mint, owner: t.owner, state: t.state === 2 ? 'frozen' : 'initialized', tokenAmount: null },
          },
          space: acc.data.length,
        },
      };
    }
    const m = parseMint(acc.data);
    if (m) {
      return {
        ...base,
        data: {
          program: 'spl-token',
          parsed: {
            type: 'mint',
            info: { decimals: m.decimals, freezeAuthority: m.freezeAuthority, isInitialized: m.isInitialized, mintAuthority: m.mintAuthority, supply: m.supply.toString() },
          },
          space: acc.data.length,
        },
      };
    }
  }
  if (enc === 'base64' || enc === 'jsonParsed') return { ...base, data: [Buffer.from(data).toString('base64'), 'base64'] };
  if (enc === 'base58') {
    if (data.length > 128) throw invalidParams('Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.');
    return { ...base, data: [bs58.encode(data), 'base58'] };
  }
  throw invalidParams(`unsupported encoding: ${String(enc)}`);
}

/** Fill in `tokenAmount` of a parsed token account (needs the mint's decimals). */
function withTokenAmount(engine: LedgerEngine, json: unknown, acc: AccountView | null): unknown {
  const j = json as { data?: { parsed?: { type?: string; info?: { mint: string; tokenAmount: unknown } } } } | null;
  const info = j?.data?.parsed?.type === 'account' ? j.data.parsed.info : undefined;
  if (!info || !acc) return json;
  const t = parseTokenAccount(acc.data);
  const mintAcc = engine.getAccount(new PublicKey(info.mint));
  const decimals = (mintAcc && parseMint(mintAcc.data)?.decimals) ?? 0;
  if (t) info.tokenAmount = uiTokenAmount(t.amount, decimals);
  return json;
}

function commitmentAtLeastConfirmed(cfg: Record<string, unknown>): void {
  if (cfg.commitment === 'processed') throw invalidParams('Method does not support commitment below `confirmed`');
}

const methods: Record<string, Method> = {
  getHealth: () => 'ok',
  getVersion: () => ({ 'solana-core': API_VERSION, 'feature-set': 3294202862 }),
  getGenesisHash: (e) => e.genesisHash,
  getSlot: (e) => e.slot,
  getBlockHeight: (e) => e.slot,
  getTransactionCount: (e) => e.transactionCount,
  getEpochInfo: (e) => ({
    absoluteSlot: e.slot, blockHeight: e.slot, epoch: 0, slotIndex: e.slot, slotsInEpoch: 432000, transactionCount: e.transactionCount,
  }),
  getLatestBlockhash: (e) => ctx(e, e.latestBlockhash()),
  isBlockhashValid: (e, p) => {
    if (typeof p[0] !== 'string') throw invalidParams('Invalid param: Invalid');
    return ctx(e, e.isBlockhashValid(p[0]));
  },
  getMinimumBalanceForRentExemption: (e, p) => {
    const n = p[0];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 10 * 1024 * 1024) throw invalidParams('invalid data length');
    return Number(e.minimumBalanceForRentExemption(n));
  },
  getFeeForMessage: (e, p) => {
    if (typeof p[0] !== 'string') throw invalidParams('invalid message');
    let msg: VersionedMessage;
    try {
      msg = VersionedMessage.deserialize(new Uint8Array(Buffer.from(p[0], 'base64')));
    } catch {
      throw invalidParams('invalid message');
    }
    return ctx(e, e.isBlockhashValid(msg.recentBlockhash) ? LAMPORTS_PER_SIGNATURE * msg.header.numRequiredSignatures : null);
  },
  getBalance: (e, p) => ctx(e, Number(e.getAccount(pubkeyParam(p[0]))?.lamports ?? 0n)),
  getAccountInfo: (e, p) => {
    const cfg = config(p, 1);
    const acc = e.getAccount(pubkeyParam(p[0]));
    return ctx(e, withTokenAmount(e, accountJson(acc, cfg), acc));
  },
  getMultipleAccounts: (e, p) => {
    if (!Array.isArray(p[0]) || p[0].length > MAX_MULTIPLE_ACCOUNTS) throw invalidParams(`Too many inputs provided; max ${MAX_MULTIPLE_ACCOUNTS}`);
    const cfg = config(p, 1);
    return ctx(e, p[0].map((k) => {
      const acc = e.getAccount(pubkeyParam(k));
      return withTokenAmount(e, accountJson(acc, cfg), acc);
    }));
  },
  getTokenAccountBalance: (e, p) => {
    const acc = e.getAccount(pubkeyParam(p[0]));
    if (acc === null) throw invalidParams('Invalid param: could not find account');
    const t = isTokenProgram(acc.owner.toBase58()) ? parseTokenAccount(acc.data) : null;
    if (t === null) throw invalidParams('Invalid param: not a Token account');
    const mintAcc = e.getAccount(new PublicKey(t.mint));
    const m = mintAcc && parseMint(mintAcc.data);
    if (!m) throw invalidParams('Invalid param: could not find mint');
    return ctx(e, uiTokenAmount(t.amount, m.decimals));
  },
  requestAirdrop: (e, p) => {
    const to = pubkeyParam(p[0]);
    const lamports = p[1];
    if (typeof lamports !== 'number' || !Number.isSafeInteger(lamports) || lamports <= 0) throw invalidParams('invalid lamports');
    return e.airdrop(to, BigInt(lamports));
  },
  sendTransaction: (e, p) => {
    const cfg = config(p, 1);
    return e.submit(decodeWire(p[0], cfg.encoding), { skipPreflight: cfg.skipPreflight === true });
  },
  simulateTransaction: (e, p) => {
    const cfg = config(p, 1);
    const r = e.simulate(decodeWire(p[0], cfg.encoding), { sigVerify: cfg.sigVerify === true, replaceRecentBlockhash: cfg.replaceRecentBlockhash === true });
    return ctx(e, {
      err: r.err, logs: r.logs, accounts: null, unitsConsumed: r.unitsConsumed, returnData: null,
      innerInstructions: null, replacementBlockhash: r.replacementBlockhash,
    });
  },
  getSignatureStatuses: (e, p) => {
    if (!Array.isArray(p[0]) || p[0].length > MAX_SIGNATURES_PER_STATUS_CALL) {
      throw invalidParams(`Too many inputs provided; max ${MAX_SIGNATURES_PER_STATUS_CALL}`);
    }
    return ctx(e, p[0].map((s) => {
      const rec = e.getTransaction(signatureParam(s));
      if (!rec) return null;
      // Every recorded transaction is final at once: rooted, so confirmations is null.
      return {
        slot: rec.slot, confirmations: null, err: rec.err,
        status: rec.err === null ? { Ok: null } : { Err: rec.err }, confirmationStatus: 'finalized',
      };
    }));
  },
  getTransaction: (e, p) => {
    const sig = signatureParam(p[0]);
    // The second parameter may be a bare encoding string (old API).
    const cfg = typeof p[1] === 'string' ? { encoding: p[1] } : config(p, 1);
    commitmentAtLeastConfirmed(cfg);
    const encoding = parseEncoding(cfg.encoding);
    const max = cfg.maxSupportedTransactionVersion;
    if (max !== undefined && max !== null && typeof max !== 'number') throw invalidParams('invalid maxSupportedTransactionVersion');
    const rec = e.getTransaction(sig);
    return rec ? encodeTransaction(rec, encoding, typeof max === 'number' ? max : undefined) : null;
  },
  getBlockTime: (e, p) => {
    if (typeof p[0] !== 'number') throw invalidParams('invalid slot');
    return p[0] <= e.slot ? e.unixTimestamp() : null;
  },
};

function errorResponse(id: unknown, code: number, message: string, data?: unknown): JsonRpcResponse {
  const error: JsonRpcResponse['error'] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}

function handleOne(engine: LedgerEngine, req: unknown): JsonRpcResponse {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) return errorResponse(null, RPC_INVALID_REQUEST, 'Invalid request');
  const r = req as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  const id = r.id ?? null;
  if (r.jsonrpc !== '2.0' || typeof r.method !== 'string') return errorResponse(id, RPC_INVALID_REQUEST, 'Invalid request');
  const method = Object.prototype.hasOwnProperty.call(methods, r.method) ? methods[r.method] : undefined;
  if (!method) return errorResponse(id, RPC_METHOD_NOT_FOUND, 'Method not found');
  const params = r.params === undefined ? [] : r.params;
  if (!Array.isArray(params)) return errorResponse(id, -32602, 'Invalid params: expected an array');
  try {
    return { jsonrpc: '2.0', id, result: method(engine, params) };
  } catch (err) {
    if (err instanceof LedgerRpcError) return errorResponse(id, err.rpcCode, err.message, err.data);
    return errorResponse(id, -32603, `Internal error: ${(err as Error).message}`);
  }
}

/** One parsed JSON-RPC body (a request or a batch) in, the response body out. */
export function handleJsonRpc(engine: LedgerEngine, body: unknown): JsonRpcResponse | JsonRpcResponse[] {
  if (Array.isArray(body)) {
    if (body.length === 0 || body.length > MAX_BATCH) return errorResponse(null, RPC_INVALID_REQUEST, 'Invalid request');
    return body.map((r) => handleOne(engine, r));
  }
  return handleOne(engine, body);
}

export const supportedMethods: readonly string[] = Object.keys(methods);
