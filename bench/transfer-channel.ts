/**
 * bench:transfer case `channel-vs-free` (goal: ratio ≥ 0.99): the same torrent ours→ours
 * over loopback TCP, free and paid through a payment channel (docs/PROTOCOL.md §11: one
 * escrow open on our program in the local ledger, signed vouchers over the wire, the
 * seller's claims), alternating in one run with the prepaid variants, medians. The
 * harness (both peers and the ledger in this process, warm-ups, rotation) is
 * bench/paid-transfer.ts, shared with paid-vs-free.
 *
 * Like paid-vs-free, the headline case lets the seller hold up to 256 MiB worth unserved
 * (vouchers that far ahead); `channel-vs-free-default-ahead` is the library's default
 * (the lead earned by delivery: 1 MiB ahead at first, growing to a quarter of the data
 * that passed its hash check).
 * `extra` counts what each mode puts on chain per GiB: prepaid, one transaction per
 * payment (both risk caps); channel, the open plus every claim that
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

/** The variants channel-vs-free needs: the baseline, both channel variants, and both prepaid ones for their transaction counts. */
export const CHANNEL_VARIANTS: readonly Variant[] = ['free', 'paid', 'paid-default-risk', 'channel', 'channel-default-ahead'];

const GiB = 1024 * MiB;
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Report channel-vs-free and channel-vs-free-default-ahead from the harness's samples. */
export function reportChannelVsFree(samples: ReadonlyMap<Variant, Sample[]>, sizeBytes: number): void {
  const free = samples.get('free')!;
  const freeMbps = median(free.map((s) => s.mbps));
  const perGiB = GiB / sizeBytes;
  const mbps = (v: Variant): number => r2(median(samples.get(v)!.map((s) => s.mbps)));
  const prepaidTxPerGiB = (v: Variant): number => r2(median(samples.get(v)!.map((s) => s.payments)) * perGiB);
  // What prepaid puts on chain for the same data, for comparison (both risk caps).
  const prepaid = {
    prepaid_256MiB_risk_mbps: mbps('paid'), prepaid_256MiB_risk_ratio: r2(mbps('paid') / freeMbps), prepaid_256MiB_risk_tx_per_GiB: prepaidTxPerGiB('paid'),
    prepaid_default_risk_mbps: mbps('paid-default-risk'), prepaid_default_risk_ratio: r2(mbps('paid-default-risk') / freeMbps), prepaid_default_risk_tx_per_GiB: prepaidTxPerGiB('paid-default-risk'),
  };
  const scaled = sizeBytes < GiB ? ', scaled linearly from this size (overstates the channel\'s fixed open and close)' : '';
  const one = (name: string, v: Variant, ahead: string): void => {
    const ch = samples.get(v)!;
    report(makeCase({
      bench: 'transfer', case: name, unit: 'MB/s', ours: ch.map((s) => s.mbps), baseline: free.map((s) => s.mbps),
      baselineName: 'seedpay→seedpay free (same run)',
      extra: {
        size: `${sizeBytes / MiB}MiB`,
        goal_ratio: 0.99,
        ahead,
        channel_opens: median(ch.map((s) => s.opens)),
        channel_claims: median(ch.map((s) => s.claims)),
        channel_vouchers: median(ch.map((s) => s.vouchers)),
        channel_tx_per_GiB: r2(median(ch.map((s) => s.opens + s.claims)) * perGiB),
        channel_open_ms: r2(median(ch.map((s) => s.openMs))),
        ...prepaid,
        what: 'connect to all pieces verified, both peers in one process, local ledger with the escrow program; claims past 1 USDC vouchered '
          + 'and claim+close at the seller\'s shutdown (counted, not timed); tx per GiB: channel open + claims, prepaid payments' + scaled,
      },
    }));
  };
  one('channel-vs-free', 'channel', '256 MiB worth (the risk paid-vs-free takes)');
  one('channel-vs-free-default-ahead', 'channel-default-ahead', 'the default: earned, from 1 MiB worth to a quarter of the verified data, topped up at half');
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
