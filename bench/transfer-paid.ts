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
 * like); the ledger too (the harness: bench/paid-transfer.ts, shared with
 * transfer-channel.ts). One transfer of each kind warms the process up first (not
 * counted). 1 GiB by default, 64 MiB with --quick; `--runs N`.
 * Run alone: `node dist/bench/transfer-paid.js [--quick] [--json]`; bench/transfer.ts
 * measures the variants of its requested paid cases in one run and calls
 * `reportPaidVsFree` for `paid-vs-free`.
 */
import { fileURLToPath } from 'node:url';
import { log, makeCase, median, parseRuns, quickMode, report } from '../testkit/bench-report.js';
import { MiB } from '../testkit/transfer-clients.js';
import { BENCH_MAX_PREPAY, runVariants, type Sample, type Variant } from './paid-transfer.js';

/** The variants paid-vs-free and first-paid-byte need. */
export const PAID_VARIANTS: readonly Variant[] = ['free', 'paid', 'paid-default-risk'];

/** Report paid-vs-free, paid-vs-free-default-risk and first-paid-byte from the harness's samples. */
export function reportPaidVsFree(samples: ReadonlyMap<Variant, Sample[]>, sizeBytes: number): void {
  const free = samples.get('free')!;
  const paid = samples.get('paid')!;
  const paidDefault = samples.get('paid-default-risk')!;
  const size = `${sizeBytes / MiB}MiB`;
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
}

/** Measure and report the paid cases alone. Returns an exit status (0: measured). */
export async function runPaidVsFree(o: { sizeBytes: number; runs: number; timeoutMs: number }): Promise<number> {
  reportPaidVsFree(await runVariants(PAID_VARIANTS, o), o.sizeBytes);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runPaidVsFree({ sizeBytes: (quickMode ? 64 : 1024) * MiB, runs: parseRuns(9), timeoutMs: quickMode ? 120_000 : 600_000 }).then(
    (code) => process.exit(code),
    (e: unknown) => { log(`bench:transfer paid-vs-free: ${(e as Error).stack ?? String(e)}`); process.exit(1); },
  );
}
