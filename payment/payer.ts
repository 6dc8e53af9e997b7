/**
 * Buyer side of prepaid settlement (SEEDPAY.md §4.1–4.3, §7): pay the seller's
 * associated token account with one TransferChecked (creating that account
 * idempotently first) plus exactly one SeedPay memo, wait for `confirmed` by
 * polling (no websockets), journal the payment (fsync), then hand back the proof.
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
import { U64_MAX } from './amount.js';
import { associatedTokenAddress, type Chain } from './chain.js';
import type { Journal, PaymentRecord } from './journal.js';
import { buildMemo } from './memo.js';
import type { Terms } from './terms.js';

export type PayErrorCode =
  | 'bad_amount' | 'wrong_cluster' | 'wrong_mint' | 'insufficient_funds' | 'send_failed'
  | 'tx_failed' | 'not_confirmed' | 'rpc_unavailable' | 'journal_failed';

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
  /** The buyer's journal; the payment is recorded there before the proof is returned. */
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
  let signature: string;
  try {
    signature = await chain.sendRawTransaction(tx.serialize());
  } catch (e) {
    const text = `${(e as Error).message} ${((e as { logs?: string[] }).logs ?? []).join(' ')}`;
    if (/insufficient (funds|lamports)|no record of a prior credit/i.test(text)) {
      throw new PayError('insufficient_funds', `preflight: ${(e as Error).message}`);
    }
    if ((e as { name?: string }).name === 'SendTransactionError') throw new PayError('send_failed', (e as Error).message);
    throw new PayError('rpc_unavailable', `sendTransaction: ${(e as Error).message}`);
  }

  await waitConfirmed(req, signature, lastValidBlockHeight, sleep);

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

async function waitConfirmed(req: PayRequest, signature: string, lastValidBlockHeight: number, sleep: (ms: number) => Promise<void>): Promise<void> {
  const timeout = req.confirmTimeoutMs ?? 60_000;
  const interval = req.pollIntervalMs ?? 400;
  const started = Date.now();
  let failures = 0;
  for (;;) {
    try {
      const st = await req.chain.signatureStatus(signature);
      failures = 0;
      if (st !== null) {
        if (st.err !== null) throw new PayError('tx_failed', `transaction failed: ${JSON.stringify(st.err)}`, signature);
        if (st.confirmationStatus === 'confirmed' || st.confirmationStatus === 'finalized') return;
      } else if ((await req.chain.blockHeight()) > lastValidBlockHeight) {
        throw new PayError('not_confirmed', 'blockhash expired before the transaction landed', signature);
      }
    } catch (e) {
      if (e instanceof PayError) throw e;
      // The transaction is out; a flaky RPC only delays knowing its fate.
      if (++failures >= 5) throw new PayError('rpc_unavailable', `status polling: ${(e as Error).message}`, signature);
    }
    if (Date.now() - started > timeout) throw new PayError('not_confirmed', `not confirmed within ${timeout} ms`, signature);
    await sleep(interval);
  }
}
