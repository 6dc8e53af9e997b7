/**
 * bench:pay — SeedPay settlement throughput on the embedded local ledger, over
 * real HTTP JSON-RPC on 127.0.0.1 (the ledger runs in this process, so its CPU
 * counts against the clients: these are end-to-end figures for one machine).
 *
 * Cases:
 *   verify-payment          seller verifications/s, 16 proofs in flight: getTransaction
 *                           over RPC + every §4 rule + fsync'd credit in the journal
 *   verify-payment-serial   the same, one at a time (latency bound: RPC + fsync)
 *   verify-rules            the §4 rules alone on a fetched transaction (no I/O)
 *   pay-confirmed           buyer payments/s, one at a time: balance check, blockhash,
 *                           send (preflight), poll to confirmed, fsync'd journal record
 *   pay-confirmed-parallel8 8 buyers paying at once
 *   + the session crypto cases of bench/pay-crypto.ts (ours vs @noble)
 *
 * No baseline exists for the on-chain cases (baseline null). `ours` is wall-clock
 * ops/s; `extra.ops_per_cpu_s` divides by the CPU time this process used instead.
 *
 *   node dist/bench/pay.js [--json] [--quick]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import {
  createAssociatedTokenAccountIdempotentInstruction, createTransferCheckedInstruction, getAssociatedTokenAddressSync,
} from '@solana/spl-token';
import { createMemoInstruction } from '@solana/spl-memo';
import { Keypair, TransactionMessage, VersionedTransaction, type VersionedTransactionResponse } from '@solana/web3.js';
import { chainFromUrl } from '../payment/chain.js';
import { Journal } from '../payment/journal.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { buildMemo } from '../payment/memo.js';
import { payPrepaid } from '../payment/payer.js';
import { PaymentVerifier, type VerifyRequest } from '../payment/verifier.js';
import { checkTransaction } from '../payment/verify-rules.js';
import type { Terms } from '../payment/terms.js';
import { payCryptoCases } from './pay-crypto.js';
import { log, makeCase, quickMode, report, type BenchCase } from '../testkit/bench-report.js';

const RUNS = quickMode ? 3 : 5;
const N_VERIFY = quickMode ? 40 : 400;
const N_RULES = quickMode ? 2000 : 20_000;
const N_PAY = quickMode ? 20 : 150;
const N_PAY_PARALLEL = quickMode ? 24 : 240;
const VERIFY_CONCURRENCY = 16;
const PAY_BUYERS = 8;

const hex = (n: number): string => crypto.randomBytes(n).toString('hex');

/**
 * Wall-clock and CPU-time rates of one run. The machines are shared and busy: wall
 * time mostly measures the scheduler, CPU time (user + system, this process: client,
 * ledger and journal together) is the steadier figure and is reported in `extra`.
 */
interface Rate { wall: number; cpu: number }

async function timed(ops: number, body: () => Promise<void>): Promise<Rate> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: ops / wall, cpu: ops / ((c.user + c.system) / 1e6) };
}

function rateCase(name: string, rates: Rate[], extra: Record<string, number | string | null>): BenchCase {
  const cpu = rates.map((r) => r.cpu).sort((a, b) => a - b);
  return makeCase({
    bench: 'pay', case: name, unit: 'ops/s', ours: rates.map((r) => r.wall),
    extra: { ...extra, ops_per_cpu_s: Math.round(cpu[cpu.length >> 1] * 100) / 100 },
  });
}

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const ledger = await LocalLedger.start();
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-bench-pay-'));
  const chain = chainFromUrl(ledger.url);
  const seller = Keypair.generate();
  const terms: Terms = {
    v: 1, chain: 'solana', cluster: ledger.genesisHash, mint: ledger.mint.toBase58(), wallet: seller.publicKey.toBase58(),
    price: 1000n, minPrepay: 1000n, modes: ['prepaid'],
  };
  const sessionHash = hex(32);
  const infoHash = hex(20);
  const cases: BenchCase[] = [];
  let journals = 0;
  const freshJournal = (): Promise<Journal> => Journal.open(join(dir, `j${journals++}`));

  try {
    // Payments to verify, made untimed straight on the engine (same bytes a buyer sends).
    log(`bench:pay: preparing ${N_VERIFY * RUNS * 2} payments on ${ledger.url}`);
    const payer = Keypair.generate();
    ledger.fundSol(payer.publicKey, 100_000_000_000n);
    ledger.fundTokens(payer.publicKey, 1_000_000_000_000n);
    const from = getAssociatedTokenAddressSync(ledger.mint, payer.publicKey);
    const to = getAssociatedTokenAddressSync(ledger.mint, seller.publicKey);
    const makePayment = (i: number): string => {
      const msg = new TransactionMessage({
        payerKey: payer.publicKey, recentBlockhash: ledger.engine.latestBlockhash().blockhash,
        instructions: [
          createAssociatedTokenAccountIdempotentInstruction(payer.publicKey, to, seller.publicKey, ledger.mint),
          createTransferCheckedInstruction(from, ledger.mint, to, payer.publicKey, 10_000n + BigInt(i), 6),
          createMemoInstruction(buildMemo(sessionHash, Date.now())),
        ],
      }).compileToV0Message();
      const tx = new VersionedTransaction(msg);
      tx.sign([payer]);
      return ledger.engine.submit(tx.serialize(), { skipPreflight: true });
    };
    const batches: string[][] = [];
    for (let b = 0; b < RUNS * 2; b++) batches.push(Array.from({ length: N_VERIFY }, (_, i) => makePayment(b * N_VERIFY + i)));

    const verifyRun = async (sigs: string[], concurrency: number): Promise<Rate> => {
      const journal = await freshJournal();
      const verifier = new PaymentVerifier({ chain, journal, notFoundRetries: 0 });
      let credited = 0;
      const rate = await timed(sigs.length, () => pool(sigs, concurrency, async (signature) => {
        const req: VerifyRequest = { signature, sessionHash, infoHash, terms, now: Date.now() };
        const r = await verifier.verifyPayment(req);
        if (!r.ok) throw new Error(`bench verification rejected: ${r.reason} ${r.detail}`);
        credited++;
      }));
      await journal.close();
      if (credited !== sigs.length) throw new Error('not every payment was credited');
      return rate;
    };

    const conc: Rate[] = [];
    const serial: Rate[] = [];
    for (let r = 0; r < RUNS; r++) {
      conc.push(await verifyRun(batches[2 * r], VERIFY_CONCURRENCY));
      serial.push(await verifyRun(batches[2 * r + 1], 1));
    }
    cases.push(rateCase('verify-payment', conc, { per_run: N_VERIFY, in_flight: VERIFY_CONCURRENCY }));
    cases.push(rateCase('verify-payment-serial', serial, { per_run: N_VERIFY }));

    // The rules alone, on transactions already fetched.
    const fetched: VersionedTransactionResponse[] = [];
    for (const s of batches[0].slice(0, 50)) {
      const tx = await chain.transaction(s);
      if (tx) fetched.push(tx);
    }
    const rules: Rate[] = [];
    for (let r = 0; r < RUNS; r++) {
      const now = Date.now();
      rules.push(await timed(N_RULES, async () => {
        for (let i = 0; i < N_RULES; i++) {
          const res = checkTransaction(fetched[i % fetched.length], { wallet: terms.wallet, mint: terms.mint, minPrepay: terms.minPrepay, sessionHash, now });
          if (!res.ok) throw new Error(`rules rejected: ${res.reason}`);
        }
      }));
    }
    cases.push(rateCase('verify-rules', rules, { per_run: N_RULES }));

    // Buyer payments end to end.
    const buyers = Array.from({ length: PAY_BUYERS }, () => {
      const k = Keypair.generate();
      ledger.fundSol(k.publicKey, 10_000_000_000n);
      ledger.fundTokens(k.publicKey, 1_000_000_000_000n);
      return k;
    });
    const payRun = async (count: number, parallel: number): Promise<Rate> => {
      const journal = await freshJournal();
      const rate = await timed(count, async () => {
        await Promise.all(buyers.slice(0, parallel).map(async (buyer) => {
          for (let i = 0; i < count / parallel; i++) {
            await payPrepaid({ chain, payer: buyer, terms, sessionHash, infoHash, amount: 5_000n, journal, pollIntervalMs: 50 });
          }
        }));
      });
      await journal.close();
      return rate;
    };
    const seq: Rate[] = [];
    const par: Rate[] = [];
    for (let r = 0; r < RUNS; r++) {
      seq.push(await payRun(N_PAY, 1));
      par.push(await payRun(N_PAY_PARALLEL, PAY_BUYERS));
    }
    cases.push(rateCase('pay-confirmed', seq, { per_run: N_PAY }));
    cases.push(rateCase('pay-confirmed-parallel8', par, { per_run: N_PAY_PARALLEL, buyers: PAY_BUYERS }));
    log(`bench:pay: ledger processed ${ledger.engine.transactionCount} transactions`);
  } finally {
    await ledger.stop();
    await rm(dir, { recursive: true, force: true });
  }
  for (const c of cases) report(c);

  for (const c of await payCryptoCases({ quick: quickMode })) report(c);
  log(`bench:pay: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e: unknown) => {
  log(`bench:pay failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
