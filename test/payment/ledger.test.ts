/**
 * The local ledger as a Solana JSON-RPC node: web3.js Connection runs against it
 * unchanged and gets real-node shapes back (spot-checked field by field, and raw).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  Connection, Keypair, LAMPORTS_PER_SOL, SendTransactionError, SystemProgram, Transaction, TransactionMessage, VersionedTransaction,
  sendAndConfirmTransaction,
} from '@solana/web3.js';
import { getAccount, getMint } from '@solana/spl-token';
import bs58 from 'bs58';
import { formatAmount } from '../../payment/amount.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { decimalString } from '../../payment/ledger/token-accounts.js';
import { supportedMethods } from '../../payment/ledger/rpc.js';
import {
  USDC, ata, fundedWallet, newSessionHash, paymentInstructions, seedpayMemo, sendInstructions, startFixture, type Fixture,
} from './helpers.js';

let f: Fixture;
before(async () => { f = await startFixture(); });
after(async () => { await f.close(); });

async function rpc(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }> {
  const res = await fetch(f.ledger.url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
  });
  const body = await res.json() as { jsonrpc: string; id: number };
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.id, 7);
  return body as never;
}

test('cluster identity, version, health, slot, block height, epoch info', async () => {
  assert.equal(await f.conn.getGenesisHash(), f.ledger.genesisHash);
  assert.equal(bs58.decode(f.ledger.genesisHash).length, 32);
  const other = await LocalLedger.start({ genesisHash: f.ledger.genesisHash });
  assert.equal(other.genesisHash, f.ledger.genesisHash); // given hash is honoured
  await other.stop();
  assert.equal(typeof (await f.conn.getVersion())['solana-core'], 'string');
  assert.equal((await rpc('getHealth')).result, 'ok');
  const s0 = await f.conn.getSlot();
  f.ledger.fundSol(Keypair.generate().publicKey, BigInt(LAMPORTS_PER_SOL));
  assert.equal(await f.conn.getSlot(), s0 + 1); // one slot per transaction
  assert.equal(await f.conn.getBlockHeight(), s0 + 1);
  const ei = await f.conn.getEpochInfo();
  assert.equal(ei.absoluteSlot, s0 + 1);
});

test('context-wrapped results look like a real node: {context: {slot, apiVersion}, value}', async () => {
  const r = await rpc('getLatestBlockhash', [{ commitment: 'confirmed' }]);
  const v = r.result as { context: { slot: number; apiVersion: string }; value: { blockhash: string; lastValidBlockHeight: number } };
  assert.equal(typeof v.context.slot, 'number');
  assert.equal(typeof v.context.apiVersion, 'string');
  assert.equal(bs58.decode(v.value.blockhash).length, 32);
  assert.equal(v.value.lastValidBlockHeight, v.context.slot + 150);
  const bal = await rpc('getBalance', [Keypair.generate().publicKey.toBase58()]);
  assert.deepEqual((bal.result as { value: number }).value, 0);
  assert.equal((await rpc('nope')).error?.code, -32601);
  assert.equal((await rpc('getBalance', ['xyz'])).error?.code, -32602);
  const bad = await fetch(f.ledger.url, { method: 'POST', body: '{not json' });
  assert.equal(((await bad.json()) as { error: { code: number } }).error.code, -32700);
  const big = await fetch(f.ledger.url, { method: 'POST', body: 'x'.repeat(2 << 20) }).catch(() => null);
  assert.ok(big === null || big.status === 413);
});

test('airdrop, balances, rent, fees, token balances and accounts through web3.js and spl-token', async () => {
  const k = Keypair.generate();
  const sig = await f.conn.requestAirdrop(k.publicKey, 2 * LAMPORTS_PER_SOL);
  assert.equal((await f.conn.getSignatureStatus(sig)).value?.confirmationStatus, 'finalized');
  assert.equal(await f.conn.getBalance(k.publicKey), 2 * LAMPORTS_PER_SOL);
  assert.equal(await f.conn.getMinimumBalanceForRentExemption(165), 2_039_280);
  const a = f.ledger.fundTokens(k.publicKey, 1_500_000n);
  assert.deepEqual((await f.conn.getTokenAccountBalance(a)).value, { amount: '1500000', decimals: 6, uiAmount: 1.5, uiAmountString: '1.5' });
  const acc = await getAccount(f.conn, a);
  assert.equal(acc.amount, 1_500_000n);
  assert.ok(acc.owner.equals(k.publicKey));
  const mint = await getMint(f.conn, f.ledger.mint);
  assert.equal(mint.decimals, 6);
  assert.ok(mint.mintAuthority?.equals(f.ledger.mintAuthority.publicKey));
  const multi = await f.conn.getMultipleAccountsInfo([a, Keypair.generate().publicKey]);
  assert.equal(multi.length, 2);
  assert.equal(multi[1], null);
  const parsed = await f.conn.getParsedAccountInfo(a);
  const info = (parsed.value?.data as { parsed: { info: { tokenAmount: { amount: string } } } }).parsed.info;
  assert.equal(info.tokenAmount.amount, '1500000');
  const { blockhash } = await f.conn.getLatestBlockhash();
  const msg = new TransactionMessage({ payerKey: k.publicKey, recentBlockhash: blockhash, instructions: [] }).compileToV0Message();
  assert.equal((await f.conn.getFeeForMessage(msg)).value, 5000);
  await assert.rejects(f.conn.getTokenAccountBalance(k.publicKey));
});

test('getTransaction (json, v0) carries every field the verifier needs, in real-node shapes', async () => {
  const buyer = fundedWallet(f, 3n * USDC);
  const seller = Keypair.generate();
  const session = newSessionHash();
  const sig = await sendInstructions(f, buyer, paymentInstructions({
    payer: buyer, to: seller.publicKey, mint: f.ledger.mint, amount: 1_250_000n, memos: [seedpayMemo(session)],
  }));
  const st = await f.conn.getSignatureStatuses([sig]);
  assert.equal(st.value[0]?.confirmationStatus, 'finalized');
  assert.equal(st.value[0]?.err, null);

  const tx = await f.conn.getTransaction(sig, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 });
  assert.ok(tx && tx.meta);
  assert.equal(tx.version, 0);
  assert.equal(tx.slot, st.value[0]?.slot);
  assert.equal(typeof tx.blockTime, 'number');
  assert.ok(Math.abs((tx.blockTime as number) - Date.now() / 1000) < 5);
  assert.equal(tx.transaction.signatures[0], sig);
  const keys = tx.transaction.message.staticAccountKeys;
  assert.ok(keys[0].equals(buyer.publicKey));
  assert.equal(tx.meta.err, null);
  assert.equal(tx.meta.fee, 5000);
  assert.equal(tx.meta.preBalances.length, keys.length);
  assert.equal(tx.meta.postBalances.length, keys.length);
  assert.equal(tx.meta.preBalances[0] - tx.meta.postBalances[0], 5000 + 2_039_280); // fee + seller ATA rent
  assert.deepEqual(tx.meta.loadedAddresses, { writable: [], readonly: [] });
  assert.ok((tx.meta.computeUnitsConsumed ?? 0) > 0);
  assert.ok(tx.meta.logMessages?.some((l) => l.includes(session)));
  assert.ok((tx.meta.innerInstructions ?? []).length > 0); // ATA creation CPIs

  const sellerAta = ata(f.ledger.mint, seller.publicKey);
  const sellerIndex = keys.findIndex((k) => k.equals(sellerAta));
  assert.ok(sellerIndex > 0);
  assert.equal(tx.meta.preTokenBalances?.find((b) => b.accountIndex === sellerIndex), undefined); // created in this tx
  const post = tx.meta.postTokenBalances?.find((b) => b.accountIndex === sellerIndex);
  assert.deepEqual(post, {
    accountIndex: sellerIndex, mint: f.ledger.mint.toBase58(), owner: seller.publicKey.toBase58(),
    programId: 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA',
    uiTokenAmount: { amount: '1250000', decimals: 6, uiAmount: 1.25, uiAmountString: '1.25' },
  });
  const buyerIndex = keys.findIndex((k) => k.equals(ata(f.ledger.mint, buyer.publicKey)));
  assert.equal(tx.meta.preTokenBalances?.find((b) => b.accountIndex === buyerIndex)?.uiTokenAmount.amount, '3000000');
  assert.equal(tx.meta.postTokenBalances?.find((b) => b.accountIndex === buyerIndex)?.uiTokenAmount.amount, '1750000');

  // A v0 transaction without maxSupportedTransactionVersion: the node's -32015 error.
  const raw = await rpc('getTransaction', [sig, { encoding: 'json' }]);
  assert.equal(raw.error?.code, -32015);
  // getTransaction refuses commitment processed, like agave.
  assert.equal((await rpc('getTransaction', [sig, { commitment: 'processed', maxSupportedTransactionVersion: 0 }])).error?.code, -32602);
  // base64 encoding returns the exact bytes.
  const b64 = await rpc('getTransaction', [sig, { encoding: 'base64', maxSupportedTransactionVersion: 0 }]);
  const [data, enc] = (b64.result as { transaction: [string, string] }).transaction;
  assert.equal(enc, 'base64');
  assert.equal(bs58.encode(VersionedTransaction.deserialize(Buffer.from(data, 'base64')).signatures[0]), sig);
  // Unknown signature: null result, null status.
  const unknown = bs58.encode(crypto.randomBytes(64));
  assert.equal(await f.conn.getTransaction(unknown, { maxSupportedTransactionVersion: 0 }), null);
  assert.equal((await f.conn.getSignatureStatus(unknown)).value, null);
});

test('getParsedTransaction: memo, transferChecked and ATA instructions parsed like agave', async () => {
  const buyer = fundedWallet(f, USDC);
  const seller = Keypair.generate();
  const memo = seedpayMemo(newSessionHash());
  const sig = await sendInstructions(f, buyer, paymentInstructions({ payer: buyer, to: seller.publicKey, mint: f.ledger.mint, amount: 10n, memos: [memo] }));
  const tx = await f.conn.getParsedTransaction(sig, { maxSupportedTransactionVersion: 0 });
  assert.ok(tx);
  const ixs = tx.transaction.message.instructions as { program?: string; parsed?: unknown }[];
  assert.deepEqual(ixs.map((i) => i.program), ['spl-associated-token-account', 'spl-token', 'spl-memo']);
  assert.equal((ixs[0].parsed as { type: string }).type, 'createIdempotent');
  assert.equal((ixs[1].parsed as { type: string }).type, 'transferChecked');
  assert.equal(ixs[2].parsed, memo);
  const keys = tx.transaction.message.accountKeys;
  assert.deepEqual({ signer: keys[0].signer, writable: keys[0].writable, source: keys[0].source }, { signer: true, writable: true, source: 'transaction' });
});

test('legacy transactions: version "legacy" and no addressTableLookups', async () => {
  const payer = fundedWallet(f, 0n);
  const to = Keypair.generate().publicKey;
  const { blockhash } = await f.conn.getLatestBlockhash();
  const tx = new Transaction({ feePayer: payer.publicKey, recentBlockhash: blockhash })
    .add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: LAMPORTS_PER_SOL / 10 }));
  tx.sign(payer);
  const sig = await f.conn.sendRawTransaction(tx.serialize());
  const got = await f.conn.getTransaction(sig, { maxSupportedTransactionVersion: 0 });
  assert.equal(got?.version, 'legacy');
  const raw = await rpc('getTransaction', [sig, 'json']);
  const r = raw.result as { version?: unknown; transaction: { message: Record<string, unknown> } };
  assert.equal(r.version, undefined);
  assert.equal('addressTableLookups' in r.transaction.message, false);
  assert.equal(await f.conn.getBalance(to), LAMPORTS_PER_SOL / 10);
});

test('failures: preflight error with logs; skipPreflight records the failed tx with meta.err and a fee', async () => {
  const buyer = fundedWallet(f, USDC);
  const ixs = paymentInstructions({ payer: buyer, to: Keypair.generate().publicKey, mint: f.ledger.mint, amount: 2n * USDC, memos: [] });
  await assert.rejects(sendInstructions(f, buyer, ixs), (e: unknown) => e instanceof SendTransactionError && (e.logs ?? []).some((l) => /insufficient funds/i.test(l)));
  const before = await f.conn.getBalance(buyer.publicKey);
  const sig = await sendInstructions(f, buyer, ixs, { skipPreflight: true });
  const tx = await f.conn.getTransaction(sig, { maxSupportedTransactionVersion: 0 });
  assert.deepEqual(tx?.meta?.err, { InstructionError: [1, { Custom: 1 }] });
  assert.equal(tx?.meta?.fee, 5000);
  assert.equal(await f.conn.getBalance(buyer.publicKey), before - 5000 - 2_039_280 + 2_039_280); // ATA creation rolled back
  const st = await f.conn.getSignatureStatus(sig);
  assert.deepEqual(st.value?.err, { InstructionError: [1, { Custom: 1 }] });
});

test('blockhashes: resending is AlreadyProcessed, an unknown or expired blockhash is BlockhashNotFound', async () => {
  const payer = fundedWallet(f, 0n);
  const { blockhash } = await f.conn.getLatestBlockhash();
  assert.equal(await f.conn.isBlockhashValid(blockhash).then((r) => r.value), true);
  const make = (bh: string, lamports: number): Uint8Array => {
    const msg = new TransactionMessage({
      payerKey: payer.publicKey, recentBlockhash: bh,
      instructions: [SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: Keypair.generate().publicKey, lamports })],
    }).compileToV0Message();
    const tx = new VersionedTransaction(msg);
    tx.sign([payer]);
    return tx.serialize();
  };
  const raw = make(blockhash, 1_000_000);
  await f.conn.sendRawTransaction(raw);
  await assert.rejects(f.conn.sendRawTransaction(raw), /already been processed/);
  await assert.rejects(f.conn.sendRawTransaction(make(bs58.encode(crypto.randomBytes(32)), 1_000_000)), /Blockhash not found/);
  // An older (but unexpired) blockhash still works, as on a real cluster.
  await f.conn.sendRawTransaction(make(blockhash, 1_000_001));
  f.ledger.engine.expireAllBlockhashes();
  assert.equal(await f.conn.isBlockhashValid(blockhash).then((r) => r.value), false);
  await assert.rejects(f.conn.sendRawTransaction(make(blockhash, 1_000_002)), /Blockhash not found/);
});

test('websocket confirmation: sendAndConfirmTransaction and confirmTransaction run unchanged', async () => {
  // Its own ledger: stopping it closes the websockets normally (1000), so web3.js does
  // not try to reconnect after the test.
  const ledger = await LocalLedger.start();
  try {
    const conn = new Connection(ledger.url, 'confirmed'); // default ws endpoint: HTTP port + 1
    const payer = Keypair.generate();
    ledger.fundSol(payer.publicKey, BigInt(LAMPORTS_PER_SOL));
    const to = Keypair.generate().publicKey;
    const tx = new Transaction().add(SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: LAMPORTS_PER_SOL / 4 }));
    const sig = await sendAndConfirmTransaction(conn, tx, [payer], { commitment: 'confirmed' });
    assert.equal(await conn.getBalance(to), LAMPORTS_PER_SOL / 4);
    const viaWsUrl = new Connection(ledger.url, { commitment: 'confirmed', wsEndpoint: ledger.wsUrl });
    const latest = await viaWsUrl.getLatestBlockhash();
    const r = await viaWsUrl.confirmTransaction({ signature: sig, ...latest }, 'confirmed');
    assert.equal(r.value.err, null);
    // Let web3.js finish unsubscribing before the ledger goes away (see websocketSubscriptions).
    for (let i = 0; i < 200 && ledger.websocketSubscriptions > 0; i++) await new Promise((res) => setTimeout(res, 5));
    assert.equal(ledger.websocketSubscriptions, 0);
  } finally {
    await ledger.stop();
  }
});

test('simulateTransaction answers without changing state', async () => {
  const payer = fundedWallet(f, 0n);
  const to = Keypair.generate().publicKey;
  const { blockhash } = await f.conn.getLatestBlockhash();
  const msg = new TransactionMessage({
    payerKey: payer.publicKey, recentBlockhash: blockhash,
    instructions: [SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports: LAMPORTS_PER_SOL / 2 })],
  }).compileToV0Message();
  const sim = await f.conn.simulateTransaction(new VersionedTransaction(msg), { sigVerify: false });
  assert.equal(sim.value.err, null);
  assert.ok((sim.value.logs ?? []).length > 0);
  assert.equal(await f.conn.getBalance(to), 0);
});

test('clock: block time follows the wall clock unless set', async () => {
  f.ledger.setClock(1_700_000_000);
  const sig = f.ledger.fundSol(Keypair.generate().publicKey, BigInt(LAMPORTS_PER_SOL));
  f.ledger.setClock(null);
  const sig2 = f.ledger.fundSol(Keypair.generate().publicKey, BigInt(LAMPORTS_PER_SOL));
  assert.equal((await f.conn.getTransaction(sig, { maxSupportedTransactionVersion: 0 }))?.blockTime, 1_700_000_000);
  const t2 = (await f.conn.getTransaction(sig2, { maxSupportedTransactionVersion: 0 }))?.blockTime ?? 0;
  assert.ok(Math.abs(t2 - Date.now() / 1000) < 5);
});

test('fault switch: 503 and dropped connections, then healthy again', async () => {
  try {
    f.ledger.setFailing('http503');
    await assert.rejects(f.conn.getSlot(), /503/);
    f.ledger.setFailing('close');
    await assert.rejects(f.conn.getSlot());
  } finally {
    f.ledger.setFailing(false);
  }
  assert.equal(typeof (await f.conn.getSlot()), 'number');
});

test('property: uiAmountString equals the project formatter for every u64 and decimals 0..9', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 0, max: 9 }), (amount, decimals) => {
    assert.equal(decimalString(amount, decimals), formatAmount(amount, decimals));
  }), { numRuns: 2000 });
});

test('property: hostile JSON-RPC requests get a JSON-RPC answer and never break the ledger', async () => {
  const methods = [...supportedMethods, 'nope', '__proto__', 'constructor'];
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...methods),
    fc.oneof(fc.array(fc.anything(), { maxLength: 4 }), fc.anything()),
    async (method, params) => {
      let body: string;
      try {
        body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
      } catch {
        return; // not representable as JSON (e.g. bigint): nothing to send
      }
      if (method === 'requestAirdrop') return; // would move faucet funds on valid input; covered above
      const res = await fetch(f.ledger.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(res.status, 200);
      const out = await res.json() as { result?: unknown; error?: { code: unknown } };
      assert.ok('result' in out || typeof out.error?.code === 'number');
      assert.notEqual(out.error?.code, -32603, `internal error for ${body}: ${JSON.stringify(out.error)}`); // every refusal is typed
    },
  ), { numRuns: 200 });
  assert.equal(typeof (await f.conn.getSlot()), 'number');
  // Batches too, including an oversized one.
  const batch = await rpcBatch(Array.from({ length: 3 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'getSlot' })));
  assert.equal(batch.length, 3);
  const tooMany = await fetch(f.ledger.url, { method: 'POST', body: JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'getSlot' }))) });
  assert.equal(((await tooMany.json()) as { error: { code: number } }).error.code, -32600);
});

async function rpcBatch(reqs: unknown[]): Promise<unknown[]> {
  const res = await fetch(f.ledger.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reqs) });
  return await res.json() as unknown[];
}

test('main: the ledger command prints its URL, serves RPC, stops on SIGTERM', async () => {
  const here = new URL(import.meta.url);
  const ext = here.pathname.endsWith('.ts') ? '.ts' : '.js';
  const main = fileURLToPath(new URL(`../../payment/ledger/main${ext}`, here));
  // Under tsx the loader flags are in execArgv; compiled, there are none that matter.
  const flags = process.execArgv.filter((a) => !a.startsWith('--test'));
  const child = spawn(process.execPath, [...flags, main, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n')) resolve(line);
      });
      child.on('exit', (code) => reject(new Error(`ledger command exited ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const conn = new Connection(url, 'confirmed');
    assert.equal(bs58.decode(await conn.getGenesisHash()).length, 32);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
