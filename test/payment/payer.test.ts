/**
 * The buyer's payer against the local ledger over HTTP JSON-RPC: what it sends,
 * what it journals, and what it refuses before any money moves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keypair } from '@solana/web3.js';
import bs58 from 'bs58';
import type { Journal } from '../../payment/journal.js';
import { PayError, payPrepaid, type PayRequest } from '../../payment/payer.js';
import { parseMemo } from '../../payment/memo.js';
import { MEMO_PROGRAM_IDS } from '../../payment/verify-rules.js';
import {
  USDC, fundedWallet, newInfoHash, newSessionHash, openJournal, sellerTerms, startFixture, tokenBalance, type Fixture,
} from './helpers.js';

let f: Fixture;
before(async () => { f = await startFixture(); });
after(async () => { await f.close(); });

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof PayError && e.code === code);
}

type Req = PayRequest & { journal: Journal };

async function request(over: Partial<Omit<PayRequest, 'journal'>> = {}): Promise<Req> {
  const payer = fundedWallet(f, 5n * USDC);
  return {
    chain: f.chain, payer, terms: sellerTerms(f, Keypair.generate().publicKey), sessionHash: newSessionHash(),
    infoHash: newInfoHash(), amount: 400_000n, journal: await openJournal(f), pollIntervalMs: 5, ...over,
  };
}

test('pays the seller ATA (created on the way) with TransferChecked + one SeedPay memo, journals, returns the proof', async () => {
  const req = await request();
  const journal = req.journal;
  const wallet = req.terms.wallet;
  const fixedNow = 1_795_000_000_123;
  const proof = await payPrepaid({ ...req, now: () => fixedNow });
  assert.equal(proof.amount, 400_000n);
  assert.equal(bs58.decode(proof.tx).length, 64);

  // Journaled before returning.
  assert.equal(journal.hasPayment(proof.tx), true);
  const rec = journal.records()[0];
  assert.ok(rec.kind === 'payment');
  assert.deepEqual(
    { signature: rec.signature, amount: rec.amount, seller: rec.seller, infoHash: rec.infoHash, sessionHash: rec.sessionHash },
    { signature: proof.tx, amount: 400_000n, seller: wallet, infoHash: req.infoHash, sessionHash: req.sessionHash },
  );
  assert.equal(journal.summary().spentBySeller.get(wallet), 400_000n);

  // On-chain: balances moved, the transaction has exactly one memo, the SeedPay one.
  assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC - 400_000n);
  assert.equal(await tokenBalance(f, new Keypair().publicKey), 0n);
  const tx = await f.conn.getParsedTransaction(proof.tx, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 });
  assert.ok(tx);
  assert.equal(tx.meta?.err, null);
  const ixs = tx.transaction.message.instructions;
  const memos = ixs.filter((i) => MEMO_PROGRAM_IDS.includes(i.programId.toBase58()));
  assert.equal(memos.length, 1);
  const memo = 'parsed' in memos[0] ? memos[0].parsed : null;
  assert.equal(typeof memo, 'string');
  const parsedMemo = parseMemo(memo as string);
  assert.ok(parsedMemo.ok && parsedMemo.canonical);
  assert.equal(parsedMemo.memo.sessionHash, req.sessionHash);
  assert.equal(parsedMemo.memo.nonce, fixedNow);
  const transfer = ixs.find((i) => 'parsed' in i && (i.parsed as { type?: string }).type === 'transferChecked');
  assert.ok(transfer && 'parsed' in transfer);
  assert.equal((transfer.parsed as { info: { tokenAmount: { amount: string; decimals: number } } }).info.tokenAmount.amount, '400000');
  assert.equal((transfer.parsed as { info: { tokenAmount: { decimals: number } } }).info.tokenAmount.decimals, 6);
  await journal.close();
});

test('identical back-to-back payments both land (fresh blockhash per slot, no AlreadyProcessed)', async () => {
  const req = await request();
  const fixed = (): number => 1_795_000_000_000;
  const a = await payPrepaid({ ...req, now: fixed });
  const b = await payPrepaid({ ...req, now: fixed });
  assert.notEqual(a.tx, b.tx);
  assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC - 800_000n);
  await req.journal.close();
});

test('refuses a cluster whose genesis hash differs from the terms (no money moves)', async () => {
  const req = await request();
  const other = bs58.encode(Keypair.generate().publicKey.toBytes());
  await rejectsCode(payPrepaid({ ...req, terms: { ...req.terms, cluster: other } }), 'wrong_cluster');
  assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC);
  await req.journal.close();
});

test('refuses a mint outside the buyer policy, and a mint that does not exist on the cluster', async () => {
  const req = await request();
  await rejectsCode(payPrepaid({ ...req, acceptedMint: Keypair.generate().publicKey.toBase58() }), 'wrong_mint');
  await rejectsCode(payPrepaid({ ...req, terms: { ...req.terms, mint: Keypair.generate().publicKey.toBase58() } }), 'wrong_mint');
  assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC);
  await req.journal.close();
});

test('insufficient funds: too few tokens, no token account, no SOL for the fee', async () => {
  const req = await request();
  await rejectsCode(payPrepaid({ ...req, amount: 5n * USDC + 1n }), 'insufficient_funds');
  await rejectsCode(payPrepaid({ ...req, payer: Keypair.generate() }), 'insufficient_funds');
  const noSol = Keypair.generate();
  f.ledger.fundTokens(noSol.publicKey, USDC);
  await rejectsCode(payPrepaid({ ...req, payer: noSol }), 'insufficient_funds');
  assert.equal(req.journal.records().length, 0);
  await req.journal.close();
});

test('bad amounts are refused', async () => {
  const req = await request();
  await rejectsCode(payPrepaid({ ...req, amount: 0n }), 'bad_amount');
  await rejectsCode(payPrepaid({ ...req, amount: -5n }), 'bad_amount');
  await rejectsCode(payPrepaid({ ...req, amount: 1n << 64n }), 'bad_amount');
  await req.journal.close();
});

test('RPC down: typed rpc_unavailable, nothing journaled', async () => {
  const req = await request();
  try {
    f.ledger.setFailing('http503');
    await rejectsCode(payPrepaid(req), 'rpc_unavailable');
  } finally {
    f.ledger.setFailing(false);
  }
  assert.equal(req.journal.records().length, 0);
  await req.journal.close();
});
