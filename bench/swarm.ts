/**
 * `npm run bench:swarm` (BENCH.md): swarms on loopback, ours against libtorrent 2.0.8 in
 * the same invocation, alternating (which goes first flips every round). Every peer is a
 * process of its own on its own 127.0.0.x address; every downloaded file a figure rests
 * on is checked by sha256. Medians of `--runs N` rounds (default 3; `--quick`: 1 round of
 * a 16 MiB torrent). `--only a,b` runs just those cases. `--json`: one line per case.
 *
 * Cases (MB/s = 10^6 bytes/s, higher is better, ratio = ours / libtorrent):
 *   many-seeders  4 libtorrent seeders, each capped at 4 MB/s with libtorrent's per-torrent
 *                 upload limit (its session-wide limits exempt loopback peers), → 1 leecher
 *                 dialling all four. ours = our leecher's rate, baseline = libtorrent's
 *                 leecher on the same seeders in the same round. extra.fraction_of_solo_sum:
 *                 our rate / the sum of the four seeders' solo rates (each seeder alone →
 *                 one leecher of ours, the four pairs at once, same round); goal ≥ 0.95.
 *   flash-crowd   1 seeder capped at 10 MB/s + 8 leechers started together, each given only
 *                 the seeder (they meet by PEX, on by default in both). ours = our seeder and
 *                 8 of our leechers; baseline = the same with libtorrent (per-torrent cap).
 *                 MB/s = 8 × size / (last leecher complete − first payload byte in the swarm);
 *                 leechers serve each other until all are done.
 *   mixed         our leecher in a swarm of a libtorrent seeder capped at 5 MB/s, a qBittorrent
 *                 leecher and a Transmission leecher, started together; ours = our leecher's
 *                 rate, baseline = a libtorrent leecher in the same position.
 *   paid-swarm    (ours only) 2 free seeders of ours capped low + 3 paid sellers of ours at
 *                 different prices (their own caps), 1 PaidBuyer of ours as fast as possible
 *                 within its max price; the local ledger in this process. ours = USDC the
 *                 buyer spent (prepaid credit left unused included), baseline = the cheapest
 *                 schedule that meets the same time (each source's solo rate and price;
 *                 lower is better, ratio ≥ 1). extra: time, MB/s, per-source bytes and
 *                 paid, the free bytes, the optimal split.
 *   paid-swarm-channel  the same swarm and round, a second buyer paying by payment
 *                 channels (sellers offer both modes): USDC = its voucher total, checked
 *                 on chain once the sellers closed their channels.
 * Per case (the first three), extra: CPU seconds and peak RSS per process, and bytes received twice per
 * leecher as % of the torrent (ours: the engine's `wasted` counter; libtorrent:
 * total_redundant_bytes), goal ≤ 1 %.
 * Exit status 1 when a case could not run (a missing client included).
 */
import os from 'node:os';
import { jsonMode, log, makeCase, median, parseRuns, quickMode, report } from '../testkit/bench-report.js';
import { clientStatus, type ClientName } from '../testkit/clients.js';
import { MiB, ensureBenchData } from '../testkit/transfer-clients.js';
import type { SwarmImpl } from '../testkit/swarm-peers.js';
import { flashCrowdRun, manySeedersRun, mixedRun, type CaseEnv, type FlashCrowdRun, type LeechUse, type ManySeedersRun, type MixedRun, type ProcUse } from './swarm-cases.js';
import { paidSwarmRun, type PaidSwarmConfig, type PaidSwarmRun } from './swarm-paid.js';

const BENCH = 'swarm';
const CASES = ['many-seeders', 'flash-crowd', 'mixed', 'paid-swarm'] as const;
type CaseName = (typeof CASES)[number];

/** Sizes and caps: the defaults keep a full run (3 rounds) near 4–5 minutes here. */
const CONFIG = {
  sizeMiB: quickMode ? 16 : 64,
  pieceKiB: 256,
  seeders: 4,
  seederCap: 4e6,
  crowd: 8,
  crowdCap: 10e6,
  mixedCap: 5e6,
  timeoutMs: quickMode ? 60_000 : 180_000,
};

/** paid-swarm: free seeders capped low, sellers at 1×, 2×, 4× a price (base units per MiB of a 6-decimal token). */
const PAID: PaidSwarmConfig = {
  freeCaps: [2e6, 2e6],
  sellers: [{ cap: 4e6, price: 1_000n }, { cap: 4e6, price: 2_000n }, { cap: 4e6, price: 4_000n }],
  maxPrice: 10_000n,
};

const NEEDS: Record<CaseName, ClientName[]> = {
  'many-seeders': ['libtorrent'],
  'flash-crowd': ['libtorrent'],
  mixed: ['libtorrent', 'qbittorrent', 'transmission'],
  'paid-swarm': [],
};

function onlyCases(): CaseName[] {
  const i = process.argv.indexOf('--only');
  if (i < 0) return [...CASES];
  const want = (process.argv[i + 1] ?? '').split(',').filter((x) => x !== '');
  for (const w of want) if (!(CASES as readonly string[]).includes(w)) throw new Error(`--only: no case ${w} (cases: ${CASES.join(', ')})`);
  return CASES.filter((c) => want.includes(c));
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const med = (xs: readonly number[]): number | null => (xs.length === 0 ? null : median(xs));
const medR = (xs: readonly number[], f: (x: number) => number = r2): number | null => {
  const m = med(xs);
  return m === null ? null : f(m);
};
const mib = (kib: number | null): number | null => (kib === null ? null : kib / 1024);
const nums = (xs: readonly (number | null)[]): number[] => xs.filter((x): x is number => x !== null);
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const maxOf = (xs: readonly number[]): number | null => (xs.length === 0 ? null : Math.max(...xs));
const MB = (b: number): number => b / 1e6;

/** Load and size figures every case carries. */
function common(): Record<string, number | string | null> {
  return { size_MiB: CONFIG.sizeMiB, piece_KiB: CONFIG.pieceKiB, load_avg_1m: r2(os.loadavg()[0]), timing: 'first payload byte → complete' };
}

function leechExtra(prefix: string, xs: readonly LeechUse[]): Record<string, number | null> {
  return {
    [`${prefix}leecher_cpu_s`]: medR(xs.map((x) => x.cpuS)),
    [`${prefix}leecher_peak_rss_MiB`]: medR(nums(xs.map((x) => mib(x.peakRssKiB)))),
    [`${prefix}dup_pct`]: medR(xs.map((x) => x.dupPct), r3),
    [`${prefix}dup_pct_max`]: xs.length === 0 ? null : r3(Math.max(...xs.map((x) => x.dupPct))),
    [`${prefix}failed_pct`]: medR(xs.map((x) => x.failedPct), r3),
  };
}

function reportMany(runs: ManySeedersRun[], ltName: string): void {
  const ours = runs.map((r) => r.leech.get('ours')!);
  const lt = runs.map((r) => r.leech.get('libtorrent')!);
  const seedCpu = (xs: readonly { seeders: ProcUse[] }[]): number | null => medR(xs.map((x) => sum(x.seeders.map((s) => s.cpuS))));
  const seedRss = (xs: readonly { seeders: ProcUse[] }[]): number | null => {
    const m = maxOf(nums(xs.flatMap((x) => x.seeders.map((s) => mib(s.peakRssKiB)))));
    return m === null ? null : r2(m);
  };
  report(makeCase({
    bench: BENCH, case: 'many-seeders', unit: 'MB/s',
    ours: ours.map((x) => x.mbps), baseline: lt.map((x) => x.mbps), baselineName: `${ltName} leecher, same seeders`,
    extra: {
      ...common(),
      fraction_of_solo_sum: medR(ours.map((x) => x.fraction), r3),
      baseline_fraction_of_solo_sum: medR(lt.map((x) => x.fraction), r3),
      solo_sum_MBps: medR(runs.map((r) => r.soloSum)),
      solo_min_MBps: r2(Math.min(...runs.flatMap((r) => r.solo))),
      solo_max_MBps: r2(Math.max(...runs.flatMap((r) => r.solo))),
      seeders: `${CONFIG.seeders} × ${ltName}, per-torrent upload limit ${MB(CONFIG.seederCap)} MB/s each; solo: each alone → one leecher of ours, the ${CONFIG.seeders} pairs at once`,
      cap_MBps_per_seeder: MB(CONFIG.seederCap),
      ...leechExtra('', ours),
      ...leechExtra('baseline_', lt),
      seeders_cpu_s: seedCpu(ours),
      baseline_seeders_cpu_s: seedCpu(lt),
      seeder_peak_rss_MiB_max: seedRss([...ours, ...lt]),
      sha256_ok: sum(runs.map((r) => r.sha256Ok)),
    },
  }));
}

function flashExtra(prefix: string, runs: readonly FlashCrowdRun[]): Record<string, number | null> {
  const all = runs.flatMap((r) => r.leechers);
  const rss = maxOf(nums(all.map((x) => mib(x.peakRssKiB))));
  return {
    [`${prefix}span_s`]: medR(runs.map((r) => r.spanS)),
    [`${prefix}seeder_upload_share`]: medR(runs.map((r) => r.seederShare), r3),
    [`${prefix}seeder_cpu_s`]: medR(runs.map((r) => r.seeder.cpuS)),
    [`${prefix}seeder_peak_rss_MiB`]: medR(nums(runs.map((r) => mib(r.seeder.peakRssKiB)))),
    [`${prefix}leecher_cpu_s`]: medR(all.map((x) => x.cpuS)),
    [`${prefix}leecher_cpu_s_max`]: maxOf(all.map((x) => r2(x.cpuS))),
    [`${prefix}cpu_s_total`]: medR(runs.map((r) => r.seeder.cpuS + sum(r.leechers.map((x) => x.cpuS)))),
    [`${prefix}leecher_peak_rss_MiB`]: medR(nums(all.map((x) => mib(x.peakRssKiB)))),
    [`${prefix}leecher_peak_rss_MiB_max`]: rss === null ? null : r2(rss),
    [`${prefix}slowest_leecher_MBps`]: medR(runs.map((r) => Math.min(...r.leechers.map((x) => x.mbps)))),
    [`${prefix}dup_pct`]: medR(all.map((x) => x.dupPct), r3),
    [`${prefix}dup_pct_max`]: maxOf(all.map((x) => r3(x.dupPct))),
    [`${prefix}failed_pct_max`]: maxOf(all.map((x) => r3(x.failedPct))),
  };
}

function reportFlash(ours: FlashCrowdRun[], lt: FlashCrowdRun[], ltName: string): void {
  report(makeCase({
    bench: BENCH, case: 'flash-crowd', unit: 'MB/s',
    ours: ours.map((r) => r.mbps), baseline: lt.map((r) => r.mbps), baselineName: `${ltName} seeder + ${CONFIG.crowd} ${ltName} leechers`,
    extra: {
      ...common(),
      timing: `${CONFIG.crowd} × size / (last leecher complete − first payload byte in the swarm)`,
      leechers: CONFIG.crowd,
      cap_MBps: MB(CONFIG.crowdCap),
      discovery: 'each leecher is given only the seeder; PEX',
      ...flashExtra('', ours),
      ...flashExtra('baseline_', lt),
      sha256_ok: sum([...ours, ...lt].map((r) => r.sha256Ok)),
    },
  }));
}

function mixedExtra(prefix: string, runs: readonly MixedRun[]): Record<string, number | null> {
  const use = (f: (r: MixedRun) => ProcUse): Record<string, number | null> => ({
    cpu: medR(runs.map((r) => f(r).cpuS)),
    rss: medR(nums(runs.map((r) => mib(f(r).peakRssKiB)))),
  });
  const s = use((r) => r.seeder);
  const q = use((r) => r.qbittorrent);
  const t = use((r) => r.transmission);
  return {
    ...leechExtra(prefix, runs.map((r) => r.leecher)),
    [`${prefix}seeder_cpu_s`]: s.cpu, [`${prefix}seeder_peak_rss_MiB`]: s.rss,
    [`${prefix}qbittorrent_cpu_s`]: q.cpu, [`${prefix}qbittorrent_peak_rss_MiB`]: q.rss,
    [`${prefix}transmission_cpu_s`]: t.cpu, [`${prefix}transmission_peak_rss_MiB`]: t.rss,
    [`${prefix}qbittorrent_progress_at_done`]: medR(runs.map((r) => r.qbtProgress), r3),
    [`${prefix}transmission_progress_at_done`]: medR(runs.map((r) => r.trProgress), r3),
  };
}

function reportMixed(ours: MixedRun[], lt: MixedRun[], ltName: string): void {
  report(makeCase({
    bench: BENCH, case: 'mixed', unit: 'MB/s',
    ours: ours.map((r) => r.leecher.mbps), baseline: lt.map((r) => r.leecher.mbps), baselineName: `${ltName} leecher in the same position`,
    extra: {
      ...common(),
      swarm: `${ltName} seeder (per-torrent upload limit ${MB(CONFIG.mixedCap)} MB/s) + qBittorrent 4.5 leecher + Transmission 3.00 leecher + the measured leecher`,
      cap_MBps: MB(CONFIG.mixedCap),
      ...mixedExtra('', ours),
      ...mixedExtra('baseline_', lt),
      sha256_ok: sum([...ours, ...lt].map((r) => r.sha256Ok)),
    },
  }));
}

const usdc = (units: bigint): number => Number(units) / 1e6;

function reportPaid(runs: PaidSwarmRun[]): void {
  const ok = runs.filter((r) => r.cheapest !== null);
  const per = (f: (r: PaidSwarmRun, i: number) => number): string => PAID.sellers.map((_, i) => r2(med(runs.map((r) => f(r, i)))!)).join(' / ');
  const seller = (r: PaidSwarmRun, i: number): PaidSwarmRun['sources'][number] => r.sources[PAID.freeCaps.length + i];
  report(makeCase({
    bench: BENCH, case: 'paid-swarm', unit: 'USDC', better: 'lower',
    ours: runs.map((r) => usdc(r.spent)), baseline: ok.map((r) => usdc(r.cheapest!)), baselineName: 'cheapest schedule meeting the same time (solo rates × prices)',
    extra: {
      ...common(),
      swarm: `${PAID.freeCaps.length} free seeders of ours (${PAID.freeCaps.map((c) => MB(c)).join(', ')} MB/s) + ${PAID.sellers.length} paid sellers of ours (${PAID.sellers.map((s) => `${MB(s.cap)} MB/s at ${usdc(s.price)} USDC/MiB`).join(', ')}), buyer as fast as possible within ${usdc(PAID.maxPrice)} USDC/MiB; local ledger`,
      time_s: medR(runs.map((r) => r.timeS)),
      MBps: medR(runs.map((r) => r.mbps)),
      payments: medR(runs.map((r) => r.payments)),
      free_MiB: medR(runs.map((r) => r.freeBytes / MiB)),
      seller_MiB: per((r, i) => seller(r, i).bytes / MiB),
      // Bytes × price: what the data the buyer got from sellers cost; spent − this is prepaid credit left unused there (kept for resume).
      consumed_USDC: medR(runs.map((r) => r.sources.reduce((a, x) => a + (x.kind === 'paid' ? (x.bytes / MiB) * usdc(x.price) : 0), 0)), r3),
      seller_paid_USDC: PAID.sellers.map((_, i) => String(med(runs.map((r) => usdc(seller(r, i).paid))))).join(' / '),
      optimal_seller_MiB: ok.length === 0 ? null : per((r, i) => (seller(r, i).optimalBytes ?? 0) / MiB),
      optimal_free_MiB: ok.length === 0 ? null : medR(ok.map((r) => r.sources.slice(0, PAID.freeCaps.length).reduce((a, s) => a + (s.optimalBytes ?? 0), 0) / MiB)),
      solo_MBps: runs[0].sources.map((s) => r2(MB(s.soloBps))).join(' / '),
      schedule_infeasible_runs: runs.length - ok.length,
      sha256_ok: sum(runs.map((r) => r.sha256Ok)),
    },
  }));
  // The same swarm, the buyer paying by payment channels: what it spends is what it got.
  const ch = runs.map((r) => r.channel);
  const okCh = ch.filter((c) => c.cheapest !== null);
  report(makeCase({
    bench: BENCH, case: 'paid-swarm-channel', unit: 'USDC', better: 'lower',
    ours: ch.map((c) => usdc(c.spent)), baseline: okCh.map((c) => usdc(c.cheapest!)), baselineName: 'cheapest schedule meeting the same time (solo rates × prices)',
    extra: {
      ...common(),
      swarm: 'as paid-swarm; the sellers offer payment channels on the escrow program in the local ledger, the buyer (a wallet of its own) pays by vouchers, 1 USDC deposit per seller',
      time_s: medR(ch.map((c) => c.timeS)),
      MBps: medR(ch.map((c) => c.mbps)),
      vouchers: medR(ch.map((c) => c.vouchers)),
      prepaid_payments: medR(ch.map((c) => c.payments)),
      free_MiB: medR(ch.map((c) => c.freeBytes / MiB)),
      seller_MiB: PAID.sellers.map((_, i) => r2(med(ch.map((c) => c.sellerBytes[i] / MiB))!)).join(' / '),
      consumed_USDC: medR(ch.map((c) => c.sellerBytes.reduce((a, b, i) => a + (b / MiB) * usdc(PAID.sellers[i].price), 0)), r3),
      seller_paid_USDC: PAID.sellers.map((_, i) => String(med(ch.map((c) => usdc(c.sellerPaid[i]))))).join(' / '),
      // Once the sellers closed their channels: the buyer's balance drop must be its voucher total.
      onchain_spent_USDC: medR(runs.map((r) => usdc(r.channelOnChainSpent)), (x) => Math.round(x * 1e6) / 1e6),
      onchain_matches_vouchers_runs: runs.filter((r) => r.channelOnChainSpent === r.channel.spent).length,
      schedule_infeasible_runs: ch.length - okCh.length,
    },
  }));
}

async function main(): Promise<number> {
  const sizeI = process.argv.indexOf('--size');
  if (sizeI >= 0) {
    const s = Number(process.argv[sizeI + 1]);
    if (!(Number.isInteger(s) && s > 0)) throw new Error('--size needs MiB (a positive integer)');
    CONFIG.sizeMiB = s;
  }
  const runs = parseRuns(quickMode ? 1 : 3);
  const cases = onlyCases();
  let status = 0;
  const runnable: CaseName[] = [];
  for (const c of cases) {
    const missing = NEEDS[c].map(clientStatus).filter((s) => !s.available);
    if (missing.length > 0) {
      log(`bench:swarm: case ${c} could not run: ${missing.map((m) => `${m.name}: ${m.detail}`).join('; ')}`);
      status = 1;
    } else {
      runnable.push(c);
    }
  }
  if (runnable.length === 0) return status;
  const ltName = `libtorrent-${/libtorrent (\S+)/.exec(clientStatus('libtorrent').detail)?.[1] ?? '?'}`;

  const data = await ensureBenchData(CONFIG.sizeMiB * MiB, CONFIG.pieceKiB * 1024, undefined, log);
  const env: CaseEnv = { data, timeoutMs: CONFIG.timeoutMs, log };
  log(`bench:swarm: load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.availableParallelism()} CPU(s)`);
  log(`bench:swarm: ${CONFIG.sizeMiB} MiB, ${CONFIG.pieceKiB} KiB pieces (${data.torrent.numPieces}), TCP, ${runs} round(s) of ${runnable.join(', ')}`);

  const many: ManySeedersRun[] = [];
  const paid: PaidSwarmRun[] = [];
  const flash = new Map<SwarmImpl, FlashCrowdRun[]>([['ours', []], ['libtorrent', []]]);
  const mixed = new Map<SwarmImpl, MixedRun[]>([['ours', []], ['libtorrent', []]]);
  const failed = new Map<CaseName, string>();
  const t0 = performance.now();
  for (let round = 0; round < runs; round++) {
    // alternate who goes first, so a drift in the machine's load favours neither
    const order: SwarmImpl[] = round % 2 === 0 ? ['ours', 'libtorrent'] : ['libtorrent', 'ours'];
    for (const c of runnable) {
      if (failed.has(c)) continue;
      log(`  round ${round + 1}/${runs} ${c} (${order.join(' first, then ')}) — load ${os.loadavg()[0].toFixed(2)}`);
      try {
        if (c === 'many-seeders') {
          many.push(await manySeedersRun(env, CONFIG.seeders, CONFIG.seederCap, order));
        } else if (c === 'paid-swarm') {
          const r = await paidSwarmRun(env, PAID);
          paid.push(r);
          log(`    ours: ${r.timeS.toFixed(2)} s (${r.mbps.toFixed(1)} MB/s), spent ${usdc(r.spent)} USDC in ${r.payments} payment(s); cheapest in that time ${r.cheapest === null ? 'infeasible' : `${usdc(r.cheapest)} USDC`}`);
        } else if (c === 'flash-crowd') {
          for (const impl of order) {
            const r = await flashCrowdRun(env, impl, CONFIG.crowd, CONFIG.crowdCap);
            flash.get(impl)!.push(r);
            log(`    ${impl}: ${r.mbps.toFixed(1)} MB/s (all ${CONFIG.crowd} done in ${r.spanS.toFixed(2)} s, seeder sent ${(r.seederShare * 100).toFixed(0)} % of it), dup max ${Math.max(...r.leechers.map((x) => x.dupPct)).toFixed(2)} %`);
          }
        } else {
          for (const impl of order) {
            const r = await mixedRun(env, impl, CONFIG.mixedCap);
            mixed.get(impl)!.push(r);
            log(`    ${impl}: ${r.leecher.mbps.toFixed(2)} MB/s, dup ${r.leecher.dupPct.toFixed(2)} %, qBittorrent at ${(r.qbtProgress * 100).toFixed(0)} %, Transmission at ${(r.trProgress * 100).toFixed(0)} %`);
          }
        }
      } catch (e) {
        failed.set(c, (e as Error).message);
        log(`    ${c}: FAILED ${(e as Error).message}`);
      }
    }
  }

  for (const c of runnable) {
    const why = failed.get(c);
    if (why !== undefined) {
      log(`bench:swarm: case ${c} could not run: ${why}`);
      status = 1;
      continue;
    }
    if (c === 'many-seeders') reportMany(many, ltName);
    else if (c === 'paid-swarm') reportPaid(paid);
    else if (c === 'flash-crowd') reportFlash(flash.get('ours')!, flash.get('libtorrent')!, ltName);
    else reportMixed(mixed.get('ours')!, mixed.get('libtorrent')!, ltName);
  }
  log(`bench:swarm: ${((performance.now() - t0) / 1000).toFixed(0)} s; exit ${status}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (!jsonMode) log('(--json: one line per case on stdout)');
  return status;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`bench:swarm: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
