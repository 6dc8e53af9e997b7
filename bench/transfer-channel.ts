/**
 * bench:transfer case `channel-vs-free` (goal: ratio ≥ 0.99): the same torrent ours→ours
 * over loopback TCP, free and paid through a payment channel (docs/PROTOCOL.md §11: one
 * escrow open on our program in the local ledger, signed vouchers over the wire, the
 * seller's claims), alternating in one run with the prepaid default, medians. The
 * harness (both peers and the ledger in this process, warm-ups, rotation) is
 * bench/paid-transfer.ts, shared with paid-vs-free.
 *
 * `extra` counts what each mode puts on chain per GiB: prepaid, one transaction per
 * payment (the default risk cap, `paid-default-risk`; also the 256 MiB cap when
 * paid-vs-free ran in the same invocation); channel, the open plus every claim that
 * landed — during the transfer (the seller claims past 1 USDC vouchered) and at its
 * shutdown (claim + close, not timed). Counts of a run smaller than 1 GiB are scaled
 * linearly, which overstates the channel's: its open and close are per channel, not per byte.
 *
 * Run alone: `node dist/bench/transfer-channel.js [--quick] [--json] [--runs N]`.
 */
import { fileURLToPath } from 'node:url';
import { log, makeCase, median, parseRuns, quickMode, report } from '../testkit/bench-report.js';
import { MiB } from '../testkit/transfer-clients.js';
import { runVariants, type Sample, type Variant } from './paid-transfer.js';

/** The variants channel-vs-free needs: the baseline, the channel, and the prepaid default for its transaction count. */
export const CHANNEL_VARIANTS: readonly Variant[] = ['free', 'paid-default-risk', 'channel'];

const GiB = 1024 * MiB;
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Report channel-vs-free from the harness's samples (`paid` too when it was measured). */
export function reportChannelVsFree(samples: ReadonlyMap<Variant, Sample[]>, sizeBytes: number): void {
  const free = samples.get('free')!;
  const channel = samples.get('channel')!;
  const prepaid = samples.get('paid-default-risk')!;
  const paid256 = samples.get('paid');
  const perGiB = GiB / sizeBytes;
  const channelTxs = median(channel.map((s) => s.opens + s.claims));
  report(makeCase({
    bench: 'transfer', case: 'channel-vs-free', unit: 'MB/s', ours: channel.map((s) => s.mbps), baseline: free.map((s) => s.mbps),
    baselineName: 'seedpay→seedpay free (same run)',
    extra: {
      size: `${sizeBytes / MiB}MiB`,
      goal_ratio: 0.99,
      prepaid_mbps: r2(median(prepaid.map((s) => s.mbps))),
      prepaid_ratio: r2(median(prepaid.map((s) => s.mbps)) / median(free.map((s) => s.mbps))),
      prepaid_payments: median(prepaid.map((s) => s.payments)),
      prepaid_tx_per_GiB: r2(median(prepaid.map((s) => s.payments)) * perGiB),
      ...(paid256 !== undefined && paid256.length > 0 ? { prepaid_256MiB_cap_tx_per_GiB: r2(median(paid256.map((s) => s.payments)) * perGiB) } : {}),
      channel_opens: median(channel.map((s) => s.opens)),
      channel_claims: median(channel.map((s) => s.claims)),
      channel_vouchers: median(channel.map((s) => s.vouchers)),
      channel_tx_per_GiB: r2(channelTxs * perGiB),
      channel_open_ms: r2(median(channel.map((s) => s.openMs))),
      what: 'connect to all pieces verified, both peers in one process, local ledger with the escrow program; channel: library defaults '
        + '(vouchers 1 MiB ahead, claim past 1 USDC, claim+close at the seller\'s shutdown); tx per GiB: prepaid payments, channel open + claims'
        + (sizeBytes < GiB ? ', scaled linearly from this size (overstates the channel\'s fixed open and close)' : ''),
    },
  }));
}

/** Measure and report channel-vs-free alone. Returns an exit status (0: measured). */
export async function runChannelVsFree(o: { sizeBytes: number; runs: number; timeoutMs: number }): Promise<number> {
  reportChannelVsFree(await runVariants(CHANNEL_VARIANTS, o), o.sizeBytes);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runChannelVsFree({ sizeBytes: (quickMode ? 64 : 1024) * MiB, runs: parseRuns(9), timeoutMs: quickMode ? 120_000 : 600_000 }).then(
    (code) => process.exit(code),
    (e: unknown) => { log(`bench:transfer channel-vs-free: ${(e as Error).stack ?? String(e)}`); process.exit(1); },
  );
}
