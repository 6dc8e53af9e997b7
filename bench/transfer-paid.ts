/**
 * bench:transfer case `paid-vs-free` (issue 5 item 7): the same torrent ours→ours
 * over loopback TCP, once free and once with SeedPay (PaidSeller / PaidBuyer, real
 * payments on the embedded local ledger), alternating in one run, medians.
 *
 *   paid-vs-free      MB/s, connect → all pieces verified; baseline: the free transfer
 *   first-paid-byte   ms from the BitTorrent handshake to the first piece block received,
 *                     EXCLUDING the chain (the first payment's submit → payment_confirmed
 *                     span, i.e. the payer's transaction and confirmation plus the
 *                     seller's RPC lookups); baseline: the free transfer's handshake →
 *                     first block. `extra.chain_ms` is the excluded span, measured apart.
 *
 * Both peers run in this process for both variants (so the ratio compares like with
 * like); the ledger too. One transfer of each kind warms the process up first (not counted). 1 GiB by default, 64 MiB with --quick; `--runs N`.
 * Run alone: `node dist/bench/transfer-paid.js [--quick] [--json]`; bench/transfer.ts
 * calls `runPaidVsFree` for its `paid-vs-free` case.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keypair } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import { parseTorrent } from '../format/metainfo.js';
import { PaidBuyer } from '../lib/paid/buyer.js';
import { PaidSeller } from '../lib/paid/seller.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { chainFromUrl } from '../payment/chain.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../payment/session.js';
import { log, makeCase, median, parseRuns, quickMode, report } from '../testkit/bench-report.js';
import { ensureBenchData, MiB, type TransferData } from '../testkit/transfer-clients.js';
import { readFile } from 'node:fs/promises';

const PIECE_LENGTH = 512 * 1024;

interface Sample {
  mbps: number;
  /** Handshake → first piece block (ms). */
  firstByteMs: number;
  /** First payment submitted → confirmed by the seller (ms); 0 for free. */
  chainMs: number;
  payments: number;
  /** Handshake → first payment submitted (extended handshakes, ecdh_init both ways, policy). */
  beforePayMs: number;
  /** payment_confirmed at the buyer → first piece block. */
  afterConfirmMs: number;
}

function whenDone(t: Torrent, ms: number): Promise<void> {
  if (t.isComplete) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`transfer not complete after ${ms} ms`)), ms);
    t.once('done', () => { clearTimeout(timer); resolve(); });
  });
}

/** The risk the paid case accepts with its seller: 256 MiB worth, payments as large as the buyer grows them. */
const BENCH_MAX_PREPAY = 256_000n;

/** `maxPrepay`: the buyer's risk cap (undefined: the library's default, 8 MiB worth). */
async function oneTransfer(paid: boolean, data: TransferData, torrentBytes: Uint8Array, ledger: LocalLedger, buyerKey: Keypair, timeoutMs: number, maxPrepay?: bigint): Promise<Sample> {
  const work = await mkdtemp(join(tmpdir(), 'seedpay-bench-paid-'));
  const chain = chainFromUrl(ledger.url);
  const seedClient = new Client();
  const leechClient = new Client();
  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  try {
    const meta = parseTorrent(torrentBytes);
    const port = await seedClient.listen(0, '127.0.0.1');
    if (paid) {
      const sk = Keypair.generate();
      ledger.fundSol(sk.publicKey, 1_000_000_000n);
      seller = await PaidSeller.open({
        chain, wallet: walletFromSecretKey(sk.secretKey), journalPath: join(work, 'seller.journal'), price: 1_000n, mint: ledger.mint.toBase58(),
      });
      await seller.add(seedClient, meta, { dir: data.dataDir, assumeComplete: true });
      buyer = await PaidBuyer.open({
        chain, payer: buyerKey, journalPath: join(work, 'buyer.journal'), maxPricePerMiB: 1_000n, budget: 100_000_000n,
        mint: ledger.mint.toBase58(), pollIntervalMs: 10, ...(maxPrepay !== undefined ? { maxPrepay } : {}),
      });
    } else {
      await seedClient.add(meta, { dir: data.dataDir, assumeComplete: true });
    }
    let handshakeAt = 0;
    let firstByteAt = 0;
    let payingAt = 0;
    let confirmedAt = 0;
    buyer?.once('paying', () => { payingAt = performance.now(); });
    buyer?.once('confirmed', () => { confirmedAt = performance.now(); });
    const opts = {
      dir: join(work, 'dl'), peers: [`127.0.0.1:${port}`],
      onPeerEvent: (_p: unknown, ev: { type: string }) => {
        if (ev.type === 'handshake' && handshakeAt === 0) handshakeAt = performance.now();
        if (ev.type === 'piece' && firstByteAt === 0) firstByteAt = performance.now();
      },
    };
    const start = performance.now();
    const t = buyer !== null ? await buyer.add(leechClient, meta, opts) : await leechClient.add(meta, opts);
    await whenDone(t, timeoutMs);
    const end = performance.now();
    return {
      mbps: data.torrent.totalSize / 1e6 / ((end - start) / 1000),
      firstByteMs: firstByteAt - handshakeAt,
      chainMs: paid ? confirmedAt - payingAt : 0,
      payments: buyer?.payments().length ?? 0,
      beforePayMs: paid ? payingAt - handshakeAt : 0,
      afterConfirmMs: paid ? firstByteAt - confirmedAt : 0,
    };
  } finally {
    await leechClient.close();
    await seedClient.close();
    await buyer?.close();
    await seller?.close();
    await rm(work, { recursive: true, force: true });
  }
}

/** Measure and report both cases. Returns an exit status (0: measured). */
export async function runPaidVsFree(o: { sizeBytes: number; runs: number; timeoutMs: number }): Promise<number> {
  const data = await ensureBenchData(o.sizeBytes, PIECE_LENGTH, undefined, log);
  const torrentBytes = await readFile(data.torrent.torrentPath);
  const ledger = await LocalLedger.start();
  try {
    const buyerKey = Keypair.generate();
    ledger.fundSol(buyerKey.publicKey, 10_000_000_000n);
    ledger.fundTokens(buyerKey.publicKey, 1_000_000_000n);
    // Warm-up, one of each, not counted: the first transfer of a kind in a process runs
    // cold code (the wire path; for paid also web3.js, the ledger, the journals), a
    // one-time cost of the process rather than of a transfer.
    for (const isPaid of [false, true]) {
      const warm = await oneTransfer(isPaid, data, torrentBytes, ledger, buyerKey, o.timeoutMs, BENCH_MAX_PREPAY);
      log(`  warm-up ${isPaid ? 'paid' : 'free'}: ${warm.mbps.toFixed(1)} MB/s (not counted)`);
    }
    const free: Sample[] = [];
    const paid: Sample[] = [];
    const paidDefault: Sample[] = [];
    type Kind = 'free' | 'paid' | 'paid-default-risk';
    const kinds: Kind[] = ['free', 'paid', 'paid-default-risk'];
    for (let r = 0; r < o.runs; r++) {
      // Rotate which goes first, so none always gets the warmer page cache.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + r) % kinds.length];
        const s = await oneTransfer(kind !== 'free', data, torrentBytes, ledger, buyerKey, o.timeoutMs, kind === 'paid' ? BENCH_MAX_PREPAY : undefined);
        (kind === 'free' ? free : kind === 'paid' ? paid : paidDefault).push(s);
        log(`  run ${r + 1} ${kind}: ${s.mbps.toFixed(1)} MB/s, handshake→first block ${s.firstByteMs.toFixed(1)} ms`
          + (kind !== 'free' ? ` (chain ${s.chainMs.toFixed(1)} ms: before ${s.beforePayMs.toFixed(1)} + after ${s.afterConfirmMs.toFixed(1)} ms outside it, ${s.payments} payments)` : ''));
      }
    }
    const size = `${o.sizeBytes / MiB}MiB`;
    report(makeCase({
      bench: 'transfer', case: 'paid-vs-free', unit: 'MB/s', ours: paid.map((s) => s.mbps), baseline: free.map((s) => s.mbps),
      baselineName: 'seedpay→seedpay free (same run)',
      extra: { size, payments: median(paid.map((s) => s.payments)), max_prepay: BENCH_MAX_PREPAY.toString(), what: 'connect to all pieces verified, both peers in one process, local ledger; the buyer risks up to 256 MiB worth with the seller' },
    }));
    report(makeCase({
      bench: 'transfer', case: 'paid-vs-free-default-risk', unit: 'MB/s', ours: paidDefault.map((s) => s.mbps), baseline: free.map((s) => s.mbps),
      baselineName: 'seedpay→seedpay free (same run)',
      extra: { size, payments: median(paidDefault.map((s) => s.payments)), what: 'as paid-vs-free with the default risk cap (8 MiB worth at the price): one payment per few MiB' },
    }));
    report(makeCase({
      bench: 'transfer', case: 'first-paid-byte', unit: 'ms', better: 'lower',
      ours: paid.map((s) => Math.max(0, s.firstByteMs - s.chainMs)), baseline: free.map((s) => s.firstByteMs),
      baselineName: 'free handshake→first block (same run)',
      extra: {
        chain_ms: Math.round(median(paid.map((s) => s.chainMs)) * 100) / 100,
        paid_total_ms: Math.round(median(paid.map((s) => s.firstByteMs)) * 100) / 100,
        before_pay_ms: Math.round(median(paid.map((s) => s.beforePayMs)) * 100) / 100,
        after_confirm_ms: Math.round(median(paid.map((s) => s.afterConfirmMs)) * 100) / 100,
        what: 'handshake→first paid block minus the first payment submit→confirmed span (chain_ms)',
      },
    }));
    return 0;
  } finally {
    await ledger.stop();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runPaidVsFree({ sizeBytes: (quickMode ? 64 : 1024) * MiB, runs: parseRuns(9), timeoutMs: quickMode ? 120_000 : 600_000 }).then(
    (code) => process.exit(code),
    (e: unknown) => { log(`bench:transfer paid-vs-free: ${(e as Error).stack ?? String(e)}`); process.exit(1); },
  );
}
