/**
 * The buyer's payer against the local ledger over HTTP JSON-RPC: what it sends,
 * what it journals, and what it refuses before any money moves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Keypair } from '@solana/web3.js';
import bs58 from 'bs58';
import type { Chain } from '../../payment/chain.js';
import { Journal } from '../../payment/journal.js';
import { PayError, payPrepaid, settlePending, type PayRequest } from '../../payment/payer.js';
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

  // Journaled before returning: pending before the send, settled by the payment record.
  assert.equal(journal.hasPayment(proof.tx), true);
  assert.deepEqual(journal.records().map((r) => r.kind), ['payment_pending', 'payment']);
  assert.deepEqual(journal.pendingPayments(), []);
  const rec = journal.records()[1];
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
  // The first two are refused before anything is signed; the third was signed and
  // journaled as pending, then refused at preflight: settled as never sent.
  assert.deepEqual(req.journal.records().map((r) => r.kind), ['payment_pending', 'payment_void']);
  const settled = req.journal.records()[1];
  assert.equal(settled.kind === 'payment_void' ? settled.reason : null, 'refused');
  assert.equal(req.journal.spentOn(req.infoHash), 0n);
  assert.deepEqual(req.journal.pendingPayments(), []);
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

/**
 * The chain as a slow RPC shows it: sends go through (and land on the ledger at once),
 * but their status and transaction stay hidden while `hide` holds. `atSend` records, per
 * send, whether the journal held its pending record at that moment.
 */
function lateChain(chain: Chain, journal: Journal, o: { hide: boolean; atSend: boolean[]; sendFails?: boolean }): Chain {
  const sent = new Set<string>();
  const hidden = (s: string): boolean => o.hide && sent.has(s);
  return {
    genesisHash: () => chain.genesisHash(),
    latestBlockhash: () => chain.latestBlockhash(),
    blockHeight: () => chain.blockHeight(),
    async sendRawTransaction(raw) {
      const signature = bs58.encode(raw.subarray(1, 65)); // one signature: compact count 1, then the fee payer's
      o.atSend.push(journal.pendingPayment(signature) !== undefined);
      if (o.sendFails) throw new Error('socket hang up (the process dies here)');
      sent.add(signature);
      return chain.sendRawTransaction(raw);
    },
    signatureStatus: async (s) => (hidden(s) ? null : chain.signatureStatus(s)),
    signatureStatuses: async (ss) => (await chain.signatureStatuses(ss)).map((st, i) => (hidden(ss[i]) ? null : st)),
    transaction: async (s) => (hidden(s) ? null : chain.transaction(s)),
    tokenAccount: (a) => chain.tokenAccount(a),
    mint: (a) => chain.mint(a),
  };
}

test('a confirmation later than confirmTimeoutMs: pending journaled before the send, not_confirmed with the signature, the payment journaled once it shows', async () => {
  const req = await request();
  const j = req.journal;
  const o = { hide: true, atSend: [] as boolean[] };
  const chain = lateChain(f.chain, j, o);
  let err: PayError | null = null;
  await payPrepaid({ ...req, chain, confirmTimeoutMs: 150 }).catch((e: unknown) => { err = e as PayError; });
  assert.ok(err !== null);
  const e = err as PayError;
  assert.equal(e.code, 'not_confirmed');
  assert.ok(e.signature !== undefined);
  assert.deepEqual(o.atSend, [true], 'the pending record was journaled before the send');
  // It landed: the money moved. The journal has it as pending (spent), not forgotten.
  assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC - 400_000n);
  assert.equal(j.pendingPayment(e.signature)?.amount, 400_000n);
  assert.equal(j.spentOn(req.infoHash), 400_000n);
  assert.equal(j.hasPayment(e.signature), false);
  // Still hidden: still pending.
  assert.deepEqual((await settlePending(chain, j, j.pendingPayments())).map((x) => x.state), ['pending']);
  // The RPC catches up: it is journaled as a payment, counted once.
  o.hide = false;
  assert.deepEqual((await settlePending(chain, j, j.pendingPayments())).map((x) => x.state), ['landed']);
  assert.equal(j.hasPayment(e.signature), true);
  assert.deepEqual(j.pendingPayments(), []);
  assert.equal(j.spentOn(req.infoHash), 400_000n);
  assert.deepEqual(j.records().map((r) => r.kind), ['payment_pending', 'payment']);
  const rec = j.records()[1];
  assert.ok(rec.kind === 'payment');
  assert.deepEqual([rec.signature, rec.amount, rec.sessionHash, rec.seller], [e.signature, 400_000n, req.sessionHash, req.terms.wallet]);
  await j.close();
});

test('a crash between journaling and sending: the next run finds the pending payment and settles it as never landed once its blockhash expired', async () => {
  const req = await request();
  const o = { hide: false, atSend: [] as boolean[], sendFails: true };
  const err = await payPrepaid({ ...req, chain: lateChain(f.chain, req.journal, o) }).then(() => null, (e: unknown) => e as PayError);
  assert.ok(err instanceof PayError && err.code === 'rpc_unavailable' && err.signature !== undefined, 'fate unknown: the send may have reached the cluster');
  assert.deepEqual(o.atSend, [true]);
  const path = req.journal.path;
  await req.journal.close();
  // The next run on the journal.
  const j = await Journal.open(path);
  try {
    const [p] = j.pendingPayments();
    assert.equal(p.signature, err.signature);
    assert.equal(j.spentOn(req.infoHash), 400_000n, 'counted as spent while its fate is unknown');
    // Its blockhash is still valid (the local ledger's height moves one slot per transaction): it could still land.
    assert.deepEqual((await settlePending(f.chain, j, j.pendingPayments())).map((x) => x.state), ['pending']);
    // Past its last valid block height, unknown to the cluster: it never will.
    const later = { ...f.chain, blockHeight: async () => p.lastValidBlockHeight + 1, signatureStatuses: (s: readonly string[]) => f.chain.signatureStatuses(s) };
    const fates = await settlePending(later, j, j.pendingPayments());
    assert.deepEqual(fates.map((x) => (x.state === 'void' ? x.reason : x.state)), ['expired']);
    assert.equal(j.spentOn(req.infoHash), 0n, 'its budget is free');
    assert.equal(await tokenBalance(f, req.payer.publicKey), 5n * USDC, 'and indeed nothing moved');
  } finally {
    await j.close();
  }
});
