/**
 * The seller's verifier against the local ledger over real HTTP JSON-RPC: the happy
 * path, then one test per rejection reason of SEEDPAY.md §4 (and the replay cases of §7).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import bs58 from 'bs58';
import { ACCOUNT_SIZE, TOKEN_PROGRAM_ID, createInitializeAccount3Instruction, createTransferCheckedInstruction } from '@solana/spl-token';
import { createMemoInstruction } from '@solana/spl-memo';
import { Keypair, SystemProgram, type SignatureStatus, type VersionedTransactionResponse } from '@solana/web3.js';
import type { Chain } from '../../payment/chain.js';
import { Journal } from '../../payment/journal.js';
import { payPrepaid } from '../../payment/payer.js';
import { PaymentVerifier, type VerifyRequest, type VerifyResult } from '../../payment/verifier.js';
import {
  USDC, ata, fundedWallet, newInfoHash, newSessionHash, openJournal, paymentInstructions, seedpayMemo,
  sellerTerms, sendInstructions, startFixture, type Fixture,
} from './helpers.js';

let f: Fixture;
before(async () => { f = await startFixture(); });
after(async () => { await f.close(); });

const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

async function setup(minPrepay = 100_000n): Promise<{
  buyer: Keypair; seller: Keypair; journal: Journal; verifier: PaymentVerifier; req: (signature: string, over?: Partial<VerifyRequest>) => VerifyRequest;
  sessionHash: string; infoHash: string;
}> {
  const buyer = fundedWallet(f, 10n * USDC);
  const seller = Keypair.generate();
  const journal = await openJournal(f);
  const verifier = new PaymentVerifier({ chain: f.chain, journal, retry: FAST_RETRY, notFoundRetries: 0 });
  const sessionHash = newSessionHash();
  const infoHash = newInfoHash();
  const terms = sellerTerms(f, seller.publicKey, minPrepay);
  return {
    buyer, seller, journal, verifier, sessionHash, infoHash,
    req: (signature, over = {}) => ({ signature, sessionHash, infoHash, terms, now: Date.now(), ...over }),
  };
}

function reason(r: VerifyResult): string {
  return r.ok ? 'ok' : r.reason;
}

test('happy path: a SeedPay payment is credited with its on-chain gain and journaled before success', async () => {
  const s = await setup();
  const journal = await openJournal(f);
  const proof = await payPrepaid({
    chain: f.chain, payer: s.buyer, terms: sellerTerms(f, s.seller.publicKey), sessionHash: s.sessionHash,
    infoHash: s.infoHash, amount: 250_000n, journal, pollIntervalMs: 5,
  });
  const r = await s.verifier.verifyPayment(s.req(proof.tx));
  assert.equal(reason(r), 'ok');
  assert.ok(r.ok);
  assert.equal(r.credited, 250_000n);
  assert.equal(r.payer, s.buyer.publicKey.toBase58());
  assert.equal(s.journal.hasSignature(proof.tx), true);
  const credit = s.journal.records().find((x) => x.kind === 'credit');
  assert.ok(credit && credit.kind === 'credit');
  assert.equal(credit.amount, 250_000n);
  assert.equal(credit.sessionHash, s.sessionHash);
  assert.equal(credit.infoHash, s.infoHash);
  assert.equal(credit.seller, s.seller.publicKey.toBase58());
  assert.equal(s.journal.summary().earnedBySession.get(s.sessionHash), 250_000n);
  await journal.close();
  await s.journal.close();
});

test('credit is the on-chain gain of the seller ATA, also when it already held tokens', async () => {
  const s = await setup();
  f.ledger.fundTokens(s.seller.publicKey, 7n * USDC); // seller ATA exists with a balance
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 123_456n, memos: [seedpayMemo(s.sessionHash)],
  }));
  const r = await s.verifier.verifyPayment(s.req(sig));
  assert.ok(r.ok);
  assert.equal(r.credited, 123_456n);
  await s.journal.close();
});

test('tx_not_found: a signature the cluster never saw, and a malformed one', async () => {
  const s = await setup();
  assert.equal(reason(await s.verifier.verifyPayment(s.req(bs58.encode(crypto.randomBytes(64))))), 'tx_not_found');
  assert.equal(reason(await s.verifier.verifyPayment(s.req('not-a-signature'))), 'tx_not_found');
  assert.equal(reason(await s.verifier.verifyPayment(s.req(bs58.encode(crypto.randomBytes(32))))), 'tx_not_found');
  await s.journal.close();
});

test('tx_failed: a transfer beyond the balance, landed on-chain with meta.err (skipPreflight)', async () => {
  const s = await setup();
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 11n * USDC, memos: [seedpayMemo(s.sessionHash)],
  }), { skipPreflight: true });
  const st = await f.conn.getSignatureStatus(sig);
  assert.notEqual(st.value?.err, null); // recorded as failed, fee charged
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'tx_failed');
  await s.journal.close();
});

test('wrong_recipient: paid someone else with the right memo', async () => {
  const s = await setup();
  const other = Keypair.generate();
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: other.publicKey, mint: f.ledger.mint, amount: USDC, memos: [seedpayMemo(s.sessionHash)],
  }));
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'wrong_recipient');
  await s.journal.close();
});

test("wrong_recipient: paid a token account the seller owns that is not its associated one", async () => {
  const s = await setup();
  const side = Keypair.generate();
  const rent = await f.conn.getMinimumBalanceForRentExemption(ACCOUNT_SIZE);
  const sig = await sendInstructions(f, s.buyer, [
    SystemProgram.createAccount({ fromPubkey: s.buyer.publicKey, newAccountPubkey: side.publicKey, lamports: rent, space: ACCOUNT_SIZE, programId: TOKEN_PROGRAM_ID }),
    createInitializeAccount3Instruction(side.publicKey, f.ledger.mint, s.seller.publicKey),
    createTransferCheckedInstruction(ata(f.ledger.mint, s.buyer.publicKey), f.ledger.mint, side.publicKey, s.buyer.publicKey, USDC, 6),
    createMemoInstruction(seedpayMemo(s.sessionHash)),
  ], { extraSigners: [side] });
  const tx = await f.conn.getTransaction(sig, { maxSupportedTransactionVersion: 0 });
  assert.ok(tx?.meta?.postTokenBalances?.some((b) => b.owner === s.seller.publicKey.toBase58() && b.uiTokenAmount.amount === '1000000'));
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'wrong_recipient');
  await s.journal.close();
});

test('wrong_mint: paid the seller in another (fake "USDC") mint', async () => {
  const s = await setup();
  const fake = f.ledger.createMint(6);
  f.ledger.fundTokens(s.buyer.publicKey, 5n * USDC, fake);
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: fake, amount: USDC, memos: [seedpayMemo(s.sessionHash)],
  }));
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'wrong_mint');
  await s.journal.close();
});

test('insufficient_amount: below min_prepay', async () => {
  const s = await setup(500_000n);
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 499_999n, memos: [seedpayMemo(s.sessionHash)],
  }));
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'insufficient_amount');
  await s.journal.close();
});

test('session_mismatch: no memo, two SeedPay memos, wrong session_hash, bad version', async () => {
  const s = await setup();
  const pay = (memos: string[]): Promise<string> => sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 200_000n, memos,
  }));
  const noMemo = await pay([]);
  const twoMemos = await pay([seedpayMemo(s.sessionHash), seedpayMemo(s.sessionHash, Date.now() + 1)]);
  const wrongSession = await pay([seedpayMemo(newSessionHash())]);
  const badVersion = await pay([seedpayMemo(s.sessionHash).replace('"1.0"', '"2.0"')]);
  for (const sig of [noMemo, twoMemos, wrongSession, badVersion]) {
    assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'session_mismatch');
  }
  // None of them was credited: the journal holds no credit.
  assert.equal(s.journal.records().length, 0);
  await s.journal.close();
});

test('session resume: a memo naming a resumed session is credited here only for the payer that resumed it', async () => {
  const s = await setup();
  const other = fundedWallet(f, 10n * USDC);
  const prev = newSessionHash();
  const pay = (from: Keypair): Promise<string> => sendInstructions(f, from, paymentInstructions({
    payer: from, to: s.seller.publicKey, mint: f.ledger.mint, amount: 200_000n, memos: [seedpayMemo(prev)],
  }));
  const byBuyer = await pay(s.buyer);
  const byOther = await pay(other);
  // Not linked: the memo names another session.
  assert.equal(reason(await s.verifier.verifyPayment(s.req(byBuyer))), 'session_mismatch');
  const linked = new Map([[prev, s.buyer.publicKey.toBase58()]]);
  // Linked for the buyer's wallet: someone else's payment naming that session is still refused.
  assert.equal(reason(await s.verifier.verifyPayment(s.req(byOther, { linkedSessions: linked }))), 'session_mismatch');
  const r = await s.verifier.verifyPayment(s.req(byBuyer, { linkedSessions: linked }));
  assert.equal(reason(r), 'ok');
  // Credited to this session (where it is spent), once.
  const rec = s.journal.records().find((x) => x.kind === 'credit');
  assert.ok(rec !== undefined && rec.kind === 'credit' && rec.sessionHash === s.sessionHash);
  assert.equal(reason(await s.verifier.verifyPayment(s.req(byBuyer, { linkedSessions: linked }))), 'replayed_tx');
  await s.journal.close();
});

test("another application's memo next to the one SeedPay memo does not hide it", async () => {
  const s = await setup();
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 200_000n, memos: ['thanks!', seedpayMemo(s.sessionHash)],
  }));
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'ok');
  await s.journal.close();
});

test('expired: block time outside the freshness window (clock moved), and in the future', async () => {
  const s = await setup();
  const nowS = Math.floor(Date.now() / 1000);
  const pay = async (clock: number): Promise<string> => {
    f.ledger.setClock(clock);
    try {
      return await sendInstructions(f, s.buyer, paymentInstructions({
        payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 200_000n, memos: [seedpayMemo(s.sessionHash)],
      }));
    } finally {
      f.ledger.setClock(null);
    }
  };
  const old = await pay(nowS - 11 * 60);
  const future = await pay(nowS + 10 * 60);
  const tx = await f.conn.getTransaction(old, { maxSupportedTransactionVersion: 0 });
  assert.equal(tx?.blockTime, nowS - 11 * 60);
  assert.equal(reason(await s.verifier.verifyPayment(s.req(old))), 'expired');
  assert.equal(reason(await s.verifier.verifyPayment(s.req(future))), 'expired');
  // A wider window accepts the old one.
  assert.equal(reason(await s.verifier.verifyPayment(s.req(old, { freshnessMs: 20 * 60_000 }))), 'ok');
  await s.journal.close();
});

test('front-running: a stranger proving the payment in a session of its own first changes nothing for the session its memo names', async () => {
  const s = await setup();
  // The stranger's lookup is slow, so the honest proof arrives while it is in flight.
  let gate: () => void = () => {};
  const held = new Promise<void>((r) => { gate = r; });
  let first = true;
  const slow: Chain = { ...f.chain, transaction: async (sig) => { if (first) { first = false; await held; } return f.chain.transaction(sig); } };
  const verifier = new PaymentVerifier({ chain: slow, journal: s.journal, retry: FAST_RETRY, notFoundRetries: 0 });
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 300_000n, memos: [seedpayMemo(s.sessionHash)],
  }));
  const stranger = verifier.verifyPayment(s.req(sig, { sessionHash: newSessionHash() }));
  const honest = verifier.verifyPayment(s.req(sig));
  await new Promise((r) => setTimeout(r, 20));
  gate();
  assert.equal(reason(await stranger), 'session_mismatch');
  assert.equal(reason(await honest), 'ok', 'the honest proof is credited, not answered replayed_tx');
  assert.equal(s.journal.summary().earnedBySession.get(s.sessionHash), 300_000n);
  // And once credited, any further proof is a replay.
  assert.equal(reason(await verifier.verifyPayment(s.req(sig, { sessionHash: newSessionHash() }))), 'replayed_tx');
  await s.journal.close();
});

test('replayed_tx: same session, another session, concurrent proofs, and after a verifier restart', async () => {
  const s = await setup();
  const pay = (): Promise<string> => sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 300_000n, memos: [seedpayMemo(s.sessionHash)],
  }));
  const sig = await pay();
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'ok');
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'replayed_tx');
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig, { sessionHash: newSessionHash() }))), 'replayed_tx');

  // Two proofs of one fresh transaction at once: exactly one credit.
  const sig2 = await pay();
  const both = await Promise.all([s.verifier.verifyPayment(s.req(sig2)), s.verifier.verifyPayment(s.req(sig2))]);
  assert.deepEqual(both.map(reason).sort(), ['ok', 'replayed_tx']);

  // Restart: a new verifier on the reopened journal still refuses both.
  const path = s.journal.path;
  await s.journal.close();
  const reopened = await Journal.open(path);
  const v2 = new PaymentVerifier({ chain: f.chain, journal: reopened, retry: FAST_RETRY, notFoundRetries: 0 });
  assert.equal(reason(await v2.verifyPayment(s.req(sig))), 'replayed_tx');
  assert.equal(reason(await v2.verifyPayment(s.req(sig2))), 'replayed_tx');
  assert.equal(reopened.summary().totals.earned, 600_000n);
  await reopened.close();
});

test('rpc_unavailable: RPC answering 503, or dropping connections, after bounded retries; then recovers', async () => {
  const s = await setup();
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 200_000n, memos: [seedpayMemo(s.sessionHash)],
  }));
  try {
    f.ledger.setFailing('http503');
    assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'rpc_unavailable');
    f.ledger.setFailing('close');
    assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'rpc_unavailable');
  } finally {
    f.ledger.setFailing(false);
  }
  // Nothing was credited meanwhile, so the same proof is accepted once the RPC is back.
  assert.equal(reason(await s.verifier.verifyPayment(s.req(sig))), 'ok');
  await s.journal.close();
});

test('made-up signatures cost a share of one batched status call each, and no transaction fetch', async () => {
  const s = await setup();
  const calls = { statuses: 0, transactions: 0, asked: 0 };
  const counting: Chain = {
    ...f.chain,
    signatureStatuses: (sigs) => { calls.statuses++; calls.asked += sigs.length; return f.chain.signatureStatuses(sigs); },
    transaction: (sig) => { calls.transactions++; return f.chain.transaction(sig); },
  };
  const v = new PaymentVerifier({ chain: counting, journal: s.journal, retry: FAST_RETRY, notFoundRetries: 1, notFoundDelayMs: 5 });
  const fakes = Array.from({ length: 300 }, () => bs58.encode(crypto.randomBytes(64)));
  const rs = await Promise.all(fakes.map((sig) => v.verifyPayment(s.req(sig))));
  assert.ok(rs.every((r) => reason(r) === 'tx_not_found'));
  assert.equal(calls.transactions, 0, 'no transaction is fetched for a signature the cluster does not know');
  assert.equal(calls.asked, 600, 'each signature is asked twice (two looks)');
  // Two looks, each batched at one call per 256 signatures: 4 calls when each look's
  // signatures fall in one moment. The second looks wait on 5 ms timers, which a loaded
  // machine may fire over a few turns, splitting that batch; unbatched it would be 600.
  assert.ok(calls.statuses >= 4 && calls.statuses <= 8, `${calls.statuses} status calls for 600 looks`);
  await s.journal.close();
});

test('rpc_unavailable: retries are bounded with exponential backoff', async () => {
  const waits: number[] = [];
  let calls = 0;
  const down: Chain = {
    genesisHash: () => Promise.reject(new Error('down')),
    latestBlockhash: () => Promise.reject(new Error('down')),
    blockHeight: () => Promise.reject(new Error('down')),
    sendRawTransaction: () => Promise.reject(new Error('down')),
    signatureStatus: () => Promise.reject(new Error('down')),
    // The first look is the (batched) status: every try of it fails.
    signatureStatuses: () => { calls++; return Promise.reject(new Error('fetch failed')); },
    transaction: () => Promise.reject(new Error('fetch failed')),
    tokenAccount: () => Promise.reject(new Error('down')),
    mint: () => Promise.reject(new Error('down')),
  };
  const journal = await openJournal(f);
  const v = new PaymentVerifier({
    chain: down, journal, retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 300 },
    sleep: async (ms) => { waits.push(ms); },
  });
  const r = await v.verifyPayment({
    signature: bs58.encode(crypto.randomBytes(64)), sessionHash: newSessionHash(), infoHash: newInfoHash(),
    terms: { wallet: Keypair.generate().publicKey.toBase58(), mint: f.ledger.mint.toBase58(), minPrepay: 1n }, now: Date.now(),
  });
  assert.equal(reason(r), 'rpc_unavailable');
  assert.equal(calls, 5);
  assert.deepEqual(waits, [100, 200, 300, 300]);
  await journal.close();
});

test('unconfirmed: a transaction the seller RPC only has at processed', async () => {
  const processed: SignatureStatus = { slot: 5, confirmations: 0, err: null, confirmationStatus: 'processed' };
  const chain: Chain = {
    ...f.chain,
    transaction: async (): Promise<VersionedTransactionResponse | null> => null,
    signatureStatus: async () => processed,
    signatureStatuses: async (sigs) => sigs.map(() => processed),
  };
  const journal = await openJournal(f);
  const v = new PaymentVerifier({ chain, journal, retry: FAST_RETRY, notFoundRetries: 1, notFoundDelayMs: 1 });
  const r = await v.verifyPayment({
    signature: bs58.encode(crypto.randomBytes(64)), sessionHash: newSessionHash(), infoHash: newInfoHash(),
    terms: { wallet: Keypair.generate().publicKey.toBase58(), mint: f.ledger.mint.toBase58(), minPrepay: 1n }, now: Date.now(),
  });
  assert.equal(reason(r), 'unconfirmed');
  await journal.close();
});

test('the claimed amount plays no part: the proof carries only a signature', async () => {
  const s = await setup();
  const sig = await sendInstructions(f, s.buyer, paymentInstructions({
    payer: s.buyer, to: s.seller.publicKey, mint: f.ledger.mint, amount: 100_001n, memos: [seedpayMemo(s.sessionHash)],
  }));
  const r = await s.verifier.verifyPayment(s.req(sig));
  assert.ok(r.ok);
  assert.equal(r.credited, 100_001n);
  assert.equal((await f.chain.tokenAccount(ata(f.ledger.mint, s.seller.publicKey)))?.amount, 100_001n);
  await s.journal.close();
});
