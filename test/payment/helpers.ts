/**
 * Shared fixtures for the on-chain payment tests: one local ledger per test file,
 * funded buyer/seller wallets, terms, session and info hashes, temp journals, and
 * builders for the hostile transactions the verifier must reject.
 */
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAssociatedTokenAccountIdempotentInstruction, createTransferCheckedInstruction, getAssociatedTokenAddressSync,
} from '@solana/spl-token';
import { createMemoInstruction } from '@solana/spl-memo';
import {
  Connection, Keypair, PublicKey, TransactionMessage, VersionedTransaction, type TransactionInstruction,
} from '@solana/web3.js';
import { chainFromUrl, type Chain } from '../../payment/chain.js';
import { Journal } from '../../payment/journal.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { buildMemo } from '../../payment/memo.js';
import type { Terms } from '../../payment/terms.js';

export const USDC = 1_000_000n;

export const hex = (bytes: number): string => crypto.randomBytes(bytes).toString('hex');
export const newSessionHash = (): string => hex(32);
export const newInfoHash = (): string => hex(20);

export interface Fixture {
  ledger: LocalLedger;
  conn: Connection;
  chain: Chain;
  dir: string;
  close(): Promise<void>;
}

export async function startFixture(): Promise<Fixture> {
  const ledger = await LocalLedger.start();
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-pay-'));
  const conn = new Connection(ledger.url, 'confirmed');
  return {
    ledger, conn, chain: chainFromUrl(ledger.url, { requestTimeoutMs: 2000 }), dir,
    async close() {
      await ledger.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let journals = 0;
export function openJournal(f: Fixture, name = `j${++journals}`): Promise<Journal> {
  return Journal.open(join(f.dir, name));
}

/** A wallet with 1 SOL and `tokens` base units of the ledger's mint (or `mint`). */
export function fundedWallet(f: Fixture, tokens: bigint, mint?: PublicKey): Keypair {
  const k = Keypair.generate();
  f.ledger.fundSol(k.publicKey, 1_000_000_000n);
  if (tokens > 0n || mint) f.ledger.fundTokens(k.publicKey, tokens, mint);
  return k;
}

export function sellerTerms(f: Fixture, wallet: PublicKey, minPrepay = 100_000n): Terms {
  return {
    v: 1, chain: 'solana', cluster: f.ledger.genesisHash, mint: f.ledger.mint.toBase58(), wallet: wallet.toBase58(),
    price: 1_000n, minPrepay, modes: ['prepaid'],
  };
}

export function ata(mint: PublicKey, owner: PublicKey): PublicKey {
  return getAssociatedTokenAddressSync(mint, owner, true);
}

/** Instructions of a SeedPay-shaped payment, each part replaceable by a test. */
export function paymentInstructions(args: {
  payer: Keypair; to: PublicKey; mint: PublicKey; amount: bigint; memos: string[];
}): TransactionInstruction[] {
  const from = ata(args.mint, args.payer.publicKey);
  const toAta = ata(args.mint, args.to);
  return [
    createAssociatedTokenAccountIdempotentInstruction(args.payer.publicKey, toAta, args.to, args.mint),
    createTransferCheckedInstruction(from, args.mint, toAta, args.payer.publicKey, args.amount, 6),
    ...args.memos.map((m) => createMemoInstruction(m)),
  ];
}

export function seedpayMemo(sessionHash: string, nonce = Date.now()): string {
  return buildMemo(sessionHash, nonce);
}

/** Sign and send through the RPC; confirmed at once on the local ledger. */
export async function sendInstructions(
  f: Fixture, payer: Keypair, ixs: TransactionInstruction[], opts: { skipPreflight?: boolean; extraSigners?: Keypair[] } = {},
): Promise<string> {
  const { blockhash } = await f.conn.getLatestBlockhash();
  const msg = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions: ixs }).compileToV0Message();
  const tx = new VersionedTransaction(msg);
  tx.sign([payer, ...(opts.extraSigners ?? [])]);
  return f.conn.sendRawTransaction(tx.serialize(), { skipPreflight: opts.skipPreflight === true });
}

export async function tokenBalance(f: Fixture, owner: PublicKey, mint: PublicKey = f.ledger.mint): Promise<bigint> {
  const acc = await f.chain.tokenAccount(ata(mint, owner));
  return acc?.amount ?? 0n;
}
