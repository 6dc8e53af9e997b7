/**
 * The seller's credit rules of SEEDPAY.md §4 over an already-fetched transaction:
 * pure (no RPC, no clock — `now` is an argument), so every rule is testable alone.
 * The verifier (verifier.ts) does the I/O and the replay bookkeeping around it.
 *
 * Rules, in the order of the §4 table:
 *  1. executed without error                                 → tx_failed
 *  2. the seller's associated token account for `mint` gained ≥ min_prepay:
 *     credit = post − pre balance of that account (owner = wallet, mint = mint),
 *     never the amount the buyer claims.
 *       gain > 0 but < min_prepay                              → insufficient_amount
 *       no gain there, but an account owned by `wallet` gained
 *       tokens of another mint                                 → wrong_mint
 *       no gain there otherwise (paid someone else, or nothing) → wrong_recipient
 *  3. exactly one SeedPay memo (a memo whose JSON names protocol "seedpay";
 *     other applications' memos are ignored), known protocol/version, and its
 *     session_hash equals this connection's — or names an earlier session this one
 *     resumed, for a payment by the wallet that signed that resume
 *     (docs/PROTOCOL.md §4, session resume)                   → session_mismatch
 *  4. block time (memo nonce when the node has no block time) within the
 *     freshness window, and not in the future beyond a small skew → expired
 */
import { PublicKey, type TokenBalance, type VersionedTransactionResponse } from '@solana/web3.js';
import bs58 from 'bs58';
import { associatedTokenAddress } from './chain.js';
import { parseMemo } from './memo.js';

export const MEMO_PROGRAM_IDS: readonly string[] = [
  'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr', // SPL Memo v2 (what @solana/spl-memo uses)
  'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo', // SPL Memo v1
];

const DEFAULT_FRESHNESS_MS = 10 * 60 * 1000;
/** Block times are whole seconds and clocks drift; allow this much "future". */
const DEFAULT_FUTURE_SKEW_MS = 60 * 1000;

export type RejectReason =
  | 'tx_not_found' | 'unconfirmed' | 'tx_failed' | 'wrong_recipient' | 'wrong_mint' | 'insufficient_amount'
  | 'session_mismatch' | 'expired' | 'replayed_tx' | 'rpc_unavailable';

export interface RuleContext {
  /** Seller's wallet (base58): payments go to its associated token account for `mint`. */
  wallet: string;
  mint: string;
  minPrepay: bigint;
  /** This connection's session hash (64 lowercase hex). */
  sessionHash: string;
  /**
   * Earlier sessions this connection resumed: memo session hash → the payer wallet
   * (base58) whose payments naming it may be credited here.
   */
  linkedSessions?: ReadonlyMap<string, string>;
  /** Unix ms. */
  now: number;
  freshnessMs?: number;
  futureSkewMs?: number;
}

export type RuleResult =
  | { ok: true; credited: bigint; payer: string; blockTimeMs: number }
  | { ok: false; reason: RejectReason; detail: string };

function reject(reason: RejectReason, detail: string): RuleResult {
  return { ok: false, reason, detail };
}

interface FlatBalance { index: number; mint: string; owner: string | undefined; programId: string | undefined; amount: bigint }

function balances(list: TokenBalance[] | null | undefined): FlatBalance[] {
  return (list ?? []).map((b) => ({
    index: b.accountIndex, mint: b.mint, owner: b.owner, programId: b.programId, amount: BigInt(b.uiTokenAmount.amount),
  }));
}

/** Per (account index, mint): post − pre, with a missing side counted as 0 (created or closed in the tx). */
interface Gain { index: number; mint: string; owner: string | undefined; programId: string | undefined; gain: bigint }

function gains(tx: VersionedTransactionResponse): Map<string, Gain> {
  const out = new Map<string, Gain>();
  for (const b of balances(tx.meta?.preTokenBalances)) {
    out.set(`${b.index}:${b.mint}`, { index: b.index, mint: b.mint, owner: b.owner, programId: b.programId, gain: -b.amount });
  }
  for (const b of balances(tx.meta?.postTokenBalances)) {
    const k = `${b.index}:${b.mint}`;
    const prev = out.get(k);
    // The owner after the transaction is the one who holds the tokens now.
    out.set(k, { index: b.index, mint: b.mint, owner: b.owner ?? prev?.owner, programId: b.programId ?? prev?.programId, gain: (prev?.gain ?? 0n) + b.amount });
  }
  return out;
}

function accountKeys(tx: VersionedTransactionResponse): PublicKey[] {
  const m = tx.transaction.message;
  const loaded = tx.meta?.loadedAddresses;
  const keys = m.getAccountKeys(loaded ? { accountKeysFromLookups: loaded } : undefined);
  const out: PublicKey[] = [];
  for (let i = 0; i < keys.length; i++) {
    const k = keys.get(i);
    if (k) out.push(k);
  }
  return out;
}

/** Data of every memo instruction, top level and inner (CPI), in order. */
function memoDatas(tx: VersionedTransactionResponse, keys: PublicKey[]): Uint8Array[] {
  const isMemo = (idx: number): boolean => {
    const k = keys[idx];
    return k !== undefined && MEMO_PROGRAM_IDS.includes(k.toBase58());
  };
  const out: Uint8Array[] = [];
  for (const ix of tx.transaction.message.compiledInstructions) {
    if (isMemo(ix.programIdIndex)) out.push(ix.data);
  }
  for (const group of tx.meta?.innerInstructions ?? []) {
    for (const ix of group.instructions) {
      if (!isMemo(ix.programIdIndex)) continue;
      try {
        out.push(bs58.decode(ix.data));
      } catch {
        out.push(new Uint8Array(0)); // undecodable memo data: still a memo, and not a valid SeedPay one
      }
    }
  }
  return out;
}

function checkSession(datas: Uint8Array[], accept: (memoSession: string) => boolean): { ok: true; nonce: number } | { ok: false; detail: string } {
  let found: { sessionHash: string; nonce: number } | null = null;
  let count = 0;
  for (const d of datas) {
    const p = parseMemo(d);
    // Someone else's memo (not JSON, or JSON without protocol "seedpay") is not ours to judge.
    if (!p.ok && (p.reason === 'not_seedpay' || p.reason === 'not_json' || p.reason === 'not_utf8' || p.reason === 'too_long')) continue;
    count++;
    if (!p.ok) return { ok: false, detail: `SeedPay memo rejected: ${p.reason}` };
    found = { sessionHash: p.memo.sessionHash, nonce: p.memo.nonce };
  }
  if (count !== 1 || found === null) return { ok: false, detail: `expected exactly one SeedPay memo, found ${count}` };
  if (!accept(found.sessionHash)) return { ok: false, detail: 'memo names another session' };
  return { ok: true, nonce: found.nonce };
}

export function checkTransaction(tx: VersionedTransactionResponse, ctx: RuleContext): RuleResult {
  const meta = tx.meta;
  if (meta === null) return reject('tx_failed', 'transaction has no status meta');
  if (meta.err !== null) return reject('tx_failed', `transaction failed on-chain: ${JSON.stringify(meta.err)}`);

  const keys = accountKeys(tx);
  const wallet = new PublicKey(ctx.wallet);
  const mint = new PublicKey(ctx.mint);
  const g = [...gains(tx).values()];
  let gain = 0n;
  for (const e of g) {
    if (e.mint !== ctx.mint || e.owner !== ctx.wallet) continue;
    const key = keys[e.index];
    const program = e.programId === undefined ? undefined : new PublicKey(e.programId);
    // Only the associated token account counts (§4): it is where the buyer was told to pay.
    if (key && key.equals(associatedTokenAddress(mint, wallet, program))) gain += e.gain;
  }
  if (gain <= 0n) {
    const otherMint = g.some((e) => e.owner === ctx.wallet && e.mint !== ctx.mint && e.gain > 0n);
    if (otherMint) return reject('wrong_mint', 'the seller gained tokens of another mint');
    return reject('wrong_recipient', "the seller's token account for the mint gained nothing");
  }
  if (gain < ctx.minPrepay) return reject('insufficient_amount', `gain ${gain} below min_prepay ${ctx.minPrepay}`);

  // The payer: the owner of the account the mint's tokens left, else the fee payer.
  const source = g.filter((e) => e.mint === ctx.mint && e.gain < 0n && e.owner !== undefined).sort((a, b) => (a.gain < b.gain ? -1 : 1))[0];
  const payer = source?.owner ?? keys[0]?.toBase58() ?? '';

  const session = checkSession(memoDatas(tx, keys), (h) => h === ctx.sessionHash || (payer !== '' && ctx.linkedSessions?.get(h) === payer));
  if (!session.ok) return reject('session_mismatch', session.detail);

  const blockTimeMs = tx.blockTime != null ? tx.blockTime * 1000 : session.nonce;
  const window = ctx.freshnessMs ?? DEFAULT_FRESHNESS_MS;
  const skew = ctx.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS;
  if (ctx.now - blockTimeMs > window) return reject('expired', `transaction is ${ctx.now - blockTimeMs} ms old (window ${window} ms)`);
  if (blockTimeMs - ctx.now > skew) return reject('expired', `transaction time is ${blockTimeMs - ctx.now} ms in the future`);

  return { ok: true, credited: gain, payer, blockTimeMs };
}
