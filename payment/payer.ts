/**
 * Buyer side of prepaid settlement (SEEDPAY.md §4.1–4.3, §7): pay the seller's
 * associated token account with one TransferChecked (creating that account
 * idempotently first) plus exactly one SeedPay memo, wait for `confirmed` by
 * polling (no websockets), journal the payment (fsync), then hand back the proof.
 *
 * A payment is never forgotten once it may move money (docs/PROTOCOL.md §7): the
 * signed transaction is journaled as `payment_pending` (fsync) BEFORE it is sent.
 * Then exactly one of:
 *  - it confirms: the `payment` record settles it and the proof is returned;
 *  - it provably never moves money (refused at preflight, landed with an error, or
 *    its blockhash expired while the cluster does not know it): a `payment_void`
 *    settles it (best effort: if that append fails the pending record stays, and
 *    `settlePending` settles it later);
 *  - its fate is unknown (not confirmed within confirmTimeoutMs, the RPC failing
 *    while sending or polling): PayError with `signature`, the pending record stays
 *    in the journal, and `settlePending` (the buyer's watcher, or the next run on the
 *    journal) journals its `payment` when it lands or its `payment_void` once it
 *    provably cannot.
 *
 * Refusals before any money moves, each a typed PayError:
 *  - the RPC's genesis hash is not the terms' cluster (wrong_cluster): paying on
 *    another cluster (e.g. devnet tokens to a mainnet seller) buys nothing;
 *  - the terms' mint is not the one the buyer accepts, or is no mint there (wrong_mint);
 *  - the buyer's token account holds less than the amount (insufficient_funds).
 */
import { createAssociatedTokenAccountIdempotentInstruction, createTransferCheckedInstruction } from '@solana/spl-token';
import { createMemoInstruction } from '@solana/spl-memo';
import { Keypair, PublicKey, TransactionMessage, VersionedTransaction } from '@solana/web3.js';
import bs58 from 'bs58';
import { U64_MAX } from './amount.js';
import { associatedTokenAddress, type Chain } from './chain.js';
import type { Journal, PaymentPendingRecord, PaymentRecord, PaymentVoidReason } from './journal.js';
import { buildMemo } from './memo.js';
import type { Terms } from './terms.js';

export type PayErrorCode =
  | 'bad_amount' | 'wrong_cluster' | 'wrong_mint' | 'insufficient_funds' | 'send_failed'
  | 'tx_failed' | 'not_confirmed' | 'rpc_unavailable' | 'journal_failed' | 'expired';

/**
 * A payment that failed. `signature` is set when a transaction may have moved money
 * (the buyer must account for it); then, except for tx_failed, its `payment_pending`
 * record is in the journal, unsettled, for `settlePending` to resolve. `expired`: the
 * blockhash expired before the transaction landed, journaled as never landed (no money moved).
 */
export class PayError extends Error {
  readonly code: PayErrorCode;
  /** Set once a transaction was submitted: the buyer must account for it. */
  readonly signature: string | undefined;
  constructor(code: PayErrorCode, message: string, signature?: string) {
    super(message);
    this.name = 'PayError';
    this.code = code;
    this.signature = signature;
  }
}

export interface PaymentProof {
  /** base58 transaction signature (the `tx` of payment_proof). */
  tx: string;
  /** Base units paid (informational for the seller, who credits the on-chain gain). */
  amount: bigint;
}

export interface PayRequest {
  chain: Chain;
  payer: Keypair;
  terms: Pick<Terms, 'cluster' | 'mint' | 'wallet'>;
  sessionHash: string;
  /** Torrent info hash, 40 lowercase hex (journaled). */
  infoHash: string;
  amount: bigint;
  /** The buyer's journal: the pending payment is recorded there before it is sent, the payment before the proof is returned. */
  journal: Pick<Journal, 'append'>;
  /** The only mint the buyer pays in (its policy); when set, other terms are refused. */
  acceptedMint?: string;
  /** Wall clock in ms (memo nonce, journal time); default Date.now. */
  now?: () => number;
  /** Give up waiting for `confirmed` after this long (default 60 s). */
  confirmTimeoutMs?: number;
  /** Poll interval for the signature status (default 400 ms, a Solana slot). */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rpc<T>(what: string, call: () => Promise<T>, signature?: string): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw new PayError('rpc_unavailable', `${what}: ${(e as Error).message}`, signature);
  }
}

/** Build the signed payment transaction (exported for tests and benchmarks). */
export function buildPaymentTransaction(args: {
  payer: Keypair; wallet: PublicKey; mint: PublicKey; tokenProgram: PublicKey; decimals: number;
  amount: bigint; memo: string; recentBlockhash: string;
}): VersionedTransaction {
  const { payer, wallet, mint, tokenProgram } = args;
  const from = associatedTokenAddress(mint, payer.publicKey, tokenProgram);
  const to = associatedTokenAddress(mint, wallet, tokenProgram);
  const msg = new TransactionMessage({
    payerKey: payer.publicKey,
    recentBlockhash: args.recentBlockhash,
    instructions: [
      createAssociatedTokenAccountIdempotentInstruction(payer.publicKey, to, wallet, mint, tokenProgram),
      createTransferCheckedInstruction(from, mint, to, payer.publicKey, args.amount, args.decimals, [], tokenProgram),
      createMemoInstruction(args.memo),
    ],
  }).compileToV0Message();
  const tx = new VersionedTransaction(msg);
  tx.sign([payer]);
  return tx;
}

export async function payPrepaid(req: PayRequest): Promise<PaymentProof> {
  const now = req.now ?? Date.now;
  const sleep = req.sleep ?? defaultSleep;
  const { chain, terms, amount } = req;
  if (typeof amount !== 'bigint' || amount <= 0n || amount > U64_MAX) throw new PayError('bad_amount', `amount must be 1..u64, got ${String(amount)}`);

  const genesis = await rpc('getGenesisHash', () => chain.genesisHash());
  if (genesis !== terms.cluster) {
    throw new PayError('wrong_cluster', `RPC serves cluster ${genesis}, the seller settles on ${terms.cluster}`);
  }
  if (req.acceptedMint !== undefined && req.acceptedMint !== terms.mint) {
    throw new PayError('wrong_mint', `seller asks for mint ${terms.mint}, buyer pays only in ${req.acceptedMint}`);
  }
  let mint: PublicKey;
  let wallet: PublicKey;
  try {
    mint = new PublicKey(terms.mint);
    wallet = new PublicKey(terms.wallet);
  } catch {
    throw new PayError('wrong_mint', 'terms carry an invalid mint or wallet key');
  }
  const mintInfo = await rpc('getAccountInfo(mint)', () => chain.mint(mint));
  if (mintInfo === null) throw new PayError('wrong_mint', `mint ${terms.mint} does not exist on this cluster`);

  const source = associatedTokenAddress(mint, req.payer.publicKey, mintInfo.programId);
  // Independent lookups: one round trip of latency instead of two.
  const [held, { blockhash, lastValidBlockHeight }] = await Promise.all([
    rpc('getAccountInfo(source)', () => chain.tokenAccount(source)),
    rpc('getLatestBlockhash', () => chain.latestBlockhash()),
  ]);
  const balance = held !== null && held.mint === terms.mint ? held.amount : 0n;
  if (balance < amount) throw new PayError('insufficient_funds', `token account holds ${balance}, payment needs ${amount}`);

  const tx = buildPaymentTransaction({
    payer: req.payer, wallet, mint, tokenProgram: mintInfo.programId, decimals: mintInfo.decimals, amount,
    memo: buildMemo(req.sessionHash, now()), recentBlockhash: blockhash,
  });
  const signature = bs58.encode(tx.signatures[0]);
  const pending: PaymentPendingRecord = {
    kind: 'payment_pending', signature, amount, seller: terms.wallet, mint: terms.mint, infoHash: req.infoHash,
    sessionHash: req.sessionHash, lastValidBlockHeight, time: now(),
  };
  try {
    await req.journal.append(pending); // §7: recorded before it can move money
  } catch (e) {
    throw new PayError('journal_failed', `payment not journaled, not sent: ${(e as Error).message}`);
  }
  try {
    await chain.sendRawTransaction(tx.serialize());
  } catch (e) {
    const text = `${(e as Error).message} ${((e as { logs?: string[] }).logs ?? []).join(' ')}`;
    const refused = (e as { name?: string }).name === 'SendTransactionError' || /insufficient (funds|lamports)|no record of a prior credit/i.test(text);
    if (!refused) {
      // The request may have reached the cluster: the fate is unknown, the pending record stays.
      throw new PayError('rpc_unavailable', `sendTransaction: ${(e as Error).message}`, signature);
    }
    // Refused at preflight: never forwarded, it cannot land.
    await voidPending(req.journal, signature, 'refused', now());
    if (/insufficient (funds|lamports)|no record of a prior credit/i.test(text)) {
      throw new PayError('insufficient_funds', `preflight: ${(e as Error).message}`);
    }
    throw new PayError('send_failed', (e as Error).message);
  }

  const fate = await waitConfirmed(req, signature, lastValidBlockHeight, sleep);
  if (fate === 'expired') {
    await voidPending(req.journal, signature, 'expired', now());
    throw new PayError('expired', 'blockhash expired before the transaction landed: it never will (journaled as never landed)');
  }
  if (fate !== 'confirmed') {
    await voidPending(req.journal, signature, 'failed', now());
    throw new PayError('tx_failed', `transaction failed: ${fate.failed}`, signature);
  }

  const record: PaymentRecord = {
    kind: 'payment', signature, amount, seller: terms.wallet, infoHash: req.infoHash, sessionHash: req.sessionHash, time: now(),
  };
  try {
    await req.journal.append(record); // §7: recorded before the proof leaves
  } catch (e) {
    throw new PayError('journal_failed', `payment confirmed but not journaled: ${(e as Error).message}`, signature);
  }
  return { tx: signature, amount };
}

/** Settle a pending payment as never having moved money; best effort (unsettled, `settlePending` gets to it later). */
async function voidPending(journal: Pick<Journal, 'append'>, signature: string, reason: PaymentVoidReason, time: number): Promise<boolean> {
  try {
    await journal.append({ kind: 'payment_void', signature, reason, time });
    return true;
  } catch {
    return false;
  }
}

type Fate = 'confirmed' | 'expired' | { failed: string };

/** Whether a signature status is final for us: landed (confirmed or better), or landed with an error. */
function statusFate(st: { err: unknown; confirmationStatus?: string | null } | null): Fate | null {
  if (st === null) return null;
  if (st.err !== null) return { failed: JSON.stringify(st.err) };
  return st.confirmationStatus === 'confirmed' || st.confirmationStatus === 'finalized' ? 'confirmed' : null;
}

async function waitConfirmed(req: PayRequest, signature: string, lastValidBlockHeight: number, sleep: (ms: number) => Promise<void>): Promise<Fate> {
  const timeout = req.confirmTimeoutMs ?? 60_000;
  const interval = req.pollIntervalMs ?? 400;
  const started = Date.now();
  let failures = 0;
  for (;;) {
    try {
      const st = await req.chain.signatureStatus(signature);
      failures = 0;
      const fate = statusFate(st);
      if (fate !== null) return fate;
      // Expired only if the height passed lastValidBlockHeight BEFORE the cluster was
      // asked again and did not know it: a transaction landing in between is seen.
      if (st === null && (await req.chain.blockHeight()) > lastValidBlockHeight && (await req.chain.signatureStatus(signature)) === null) {
        return 'expired';
      }
    } catch (e) {
      // The transaction is out; a flaky RPC only delays knowing its fate.
      if (++failures >= 5) throw new PayError('rpc_unavailable', `status polling: ${(e as Error).message}`, signature);
    }
    if (Date.now() - started > timeout) throw new PayError('not_confirmed', `not confirmed within ${timeout} ms`, signature);
    await sleep(interval);
  }
}

/** What `settlePending` learnt of one pending payment. */
export type PendingFate =
  /** It landed: its `payment` record is journaled (now, or by an earlier look). */
  | { readonly state: 'landed'; readonly record: PaymentPendingRecord }
  /** It never moved money: its `payment_void` record is journaled. */
  | { readonly state: 'void'; readonly record: PaymentPendingRecord; readonly reason: PaymentVoidReason | null }
  /** Not known yet (not landed, blockhash still valid; or the RPC or the journal failed): look again later. */
  | { readonly state: 'pending'; readonly record: PaymentPendingRecord };

/** Signatures looked up per RPC call (getSignatureStatuses takes up to 256). */
const STATUS_BATCH = 256;

/**
 * Learn the fate of pending payments (a buyer's `payment_pending` records without a
 * settlement: after a confirmation timeout, or found in the journal on open) and journal
 * it: `payment` for one that landed (confirmed or better, without error), `payment_void`
 * for one that landed with an error or whose blockhash expired (the block height, read
 * first, past its lastValidBlockHeight) while the cluster does not know it. One
 * blockHeight call and one getSignatureStatuses per 256 signatures. Never throws: an
 * RPC or journal failure leaves the payment pending, to be looked at again.
 */
export async function settlePending(
  chain: Pick<Chain, 'blockHeight' | 'signatureStatuses'>,
  journal: Pick<Journal, 'append' | 'pendingPayment' | 'hasPayment'>,
  pending: readonly PaymentPendingRecord[],
  now: () => number = Date.now,
): Promise<PendingFate[]> {
  const out: PendingFate[] = [];
  let height: number | null = null;
  try {
    height = await chain.blockHeight();
  } catch {
    // Without the height, nothing can be voided; landings are still seen.
  }
  for (let i = 0; i < pending.length; i += STATUS_BATCH) {
    const batch = pending.slice(i, i + STATUS_BATCH);
    let statuses: Awaited<ReturnType<Chain['signatureStatuses']>>;
    try {
      statuses = await chain.signatureStatuses(batch.map((p) => p.signature));
    } catch {
      for (const record of batch) out.push({ state: 'pending', record });
      continue;
    }
    for (let k = 0; k < batch.length; k++) out.push(await settleOne(journal, batch[k], statuses[k] ?? null, height, now));
  }
  return out;
}

async function settleOne(
  journal: Pick<Journal, 'append' | 'pendingPayment' | 'hasPayment'>, record: PaymentPendingRecord,
  st: { err: unknown; confirmationStatus?: string | null } | null, height: number | null, now: () => number,
): Promise<PendingFate> {
  // Settled meanwhile (by the payer itself, or an earlier look): landed, or void (reason not known here).
  if (journal.pendingPayment(record.signature) === undefined) {
    return journal.hasPayment(record.signature) ? { state: 'landed', record } : { state: 'void', record, reason: null };
  }
  const fate = statusFate(st);
  try {
    if (fate === 'confirmed') {
      await journal.append({
        kind: 'payment', signature: record.signature, amount: record.amount, seller: record.seller, infoHash: record.infoHash,
        sessionHash: record.sessionHash, time: now(),
      });
      return { state: 'landed', record };
    }
    const reason: PaymentVoidReason | null = fate !== null ? 'failed'
      : st === null && height !== null && height > record.lastValidBlockHeight ? 'expired' : null;
    if (reason === null) return { state: 'pending', record };
    await journal.append({ kind: 'payment_void', signature: record.signature, reason, time: now() });
    return { state: 'void', record, reason };
  } catch {
    return { state: 'pending', record };
  }
}
