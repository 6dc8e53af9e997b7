/**
 * `npm run bench:transfer` (BENCH.md): loopback transfer of a 1 GiB torrent
 * (512 KiB pieces, TCP, plaintext), medians of 3 runs, every pair alternating in
 * one invocation. `--quick`: 64 MiB. `--json`: one JSON line per case on stdout.
 * `--runs N` overrides the number of runs. `--rss`: also one ours→ours transfer of a
 * torrent 4× larger (4 GiB; 256 MiB with --quick) for the memory case.
 *
 * Cases (issue 4 item 7):
 *   libtorrent-to-libtorrent  reference: both peers python3-libtorrent (not our code)
 *   ours-to-ours              our seeder → our leecher; baseline libtorrent→libtorrent
 *   ours-to-libtorrent        our seeder → libtorrent leecher; same baseline
 *   libtorrent-to-ours        libtorrent seeder → our leecher; same baseline
 *   ours-peak-rss-<size>      MiB, lower is better: our leecher's peak RSS in ours-to-ours;
 *                             baseline the libtorrent leecher's in libtorrent→libtorrent
 *   ours-peak-rss-<4×size>    (--rss) our leecher's peak RSS for the 4× torrent; baseline
 *                             our own leecher at <size> in the same run (≈1 = bounded)
 *   paid-vs-free              our pair with SeedPay metering; baseline our pair free
 *   channel-vs-free           our pair paying through a payment channel (escrow program on
 *                             the local ledger); baseline our pair free; extra: on-chain
 *                             transactions per GiB, prepaid and channel
 *   libtorrent-to-libtorrent-encrypted  reference: both libtorrent with MSE and RC4 forced
 *   ours-to-ours-encrypted    our pair with encryption 'require' (MSE, RC4 both ways);
 *                             baseline libtorrent→libtorrent encrypted
 * `--only a,b` runs just the named cases (and their baselines).
 * Our peers run as separate Node processes (testkit/our-peer.ts), like libtorrent's
 * (lt_peer.py), so CPU seconds and peak RSS are per process.
 * MB/s is measured at the leecher, first payload byte → all pieces verified (see
 * transfer-clients.ts). A case whose implementation does not exist yet is not run
 * and not printed; it is named on stderr and the exit status is 1 (BENCH.md:
 * non-zero when a case could not run).
 */
import { jsonMode, log, makeCase, median, parseRuns, quickMode, report } from '../testkit/bench-report.js';
import {
  MiB, ensureBenchData, libtorrentLeecher, libtorrentSeeder, measureTransfer, ourLeecher, ourSeeder,
  type LeecherImpl, type SeederImpl, type TransferData, type TransferSample,
} from '../testkit/transfer-clients.js';
import { clientStatus } from '../testkit/clients.js';
import { ensureChannelProgramBuilt } from '../payment/channel/program-binary.js';
import { runVariants } from './paid-transfer.js';
import { PAID_VARIANTS, reportPaidVsFree } from './transfer-paid.js';
import { CHANNEL_VARIANTS, reportChannelVsFree } from './transfer-channel.js';
import { rm } from 'node:fs/promises';
import os from 'node:os';

// ---------------------------------------------------------------------------
// Extension point: our peer
// ---------------------------------------------------------------------------

/** A seeder and a leecher that talk to each other (and to libtorrent) over TCP. */
export interface PeerPair {
  seeder: SeederImpl;
  leecher: LeecherImpl;
}

/** What our library provides to this benchmark. */
export interface OurPeer {
  /** Free seeding and downloading. Enables ours-to-ours, ours-to-libtorrent, libtorrent-to-ours. */
  free: PeerPair;
  /** The same with SeedPay metering and payments on the local ledger. Enables paid-vs-free. */
  paid: PeerPair | null;
}

/**
 * Our seeder and leecher: testkit/our-peer.ts in child processes, so their CPU seconds
 * (process.cpuUsage) and peak RSS (process.resourceUsage().maxRSS) are measured
 * apart, as lt_peer.py does for libtorrent. `paid` comes with the SeedPay layer.
 */
function ourPeer(): OurPeer | null {
  return { free: { seeder: ourSeeder('seedpay'), leecher: ourLeecher('seedpay') }, paid: null };
}

/** Our pair with MSE required on both sides: every byte after the handshake RC4-encrypted. */
function ourEncryptedPair(): PeerPair {
  return { seeder: ourSeeder('seedpay-rc4', { encryption: 'require' }), leecher: ourLeecher('seedpay-rc4', { encryption: 'require' }) };
}

/** `--only a,b`: the cases to run (null: all). */
function onlyCases(): Set<string> | null {
  const i = process.argv.indexOf('--only');
  return i < 0 ? null : new Set((process.argv[i + 1] ?? '').split(',').filter((x) => x !== ''));
}

// ---------------------------------------------------------------------------

type CaseName = 'libtorrent-to-libtorrent' | 'ours-to-ours' | 'ours-to-libtorrent' | 'libtorrent-to-ours' | 'paid-vs-free'
  | 'libtorrent-to-libtorrent-encrypted' | 'ours-to-ours-encrypted';

interface CaseDef {
  name: CaseName;
  /** The pair measured as "ours", or null when it cannot run yet. */
  ours: PeerPair | null;
  /** The pair measured as the baseline in the same rounds, or null for none. */
  baseline: PeerPair | null;
  baselineName: string | null;
  /** Why `ours` is null. */
  missing?: string;
}

const BENCH = 'transfer';
/** Cases measured in this process by bench/paid-transfer.ts rather than by peer processes. */
const IN_PROCESS_CASES = ['paid-vs-free', 'channel-vs-free'] as const;
const rssMode = process.argv.includes('--rss');

/**
 * One transfer of a `bytes` torrent for the memory case. Its data (random file and
 * torrent) is created for this run and removed after it: at 4 GiB it is too large to
 * leave in the cache dir of a shared machine.
 */
async function measureBig(pair: PeerPair, bytes: number, timeoutMs: number): Promise<TransferSample> {
  const free = os.freemem();
  log(`bench:transfer: --rss: ${bytes / MiB} MiB torrent (needs ~${(2 * bytes / 2 ** 30).toFixed(0)} GiB of disk; ${(free / 2 ** 30).toFixed(1)} GiB RAM free)`);
  const data = await ensureBenchData(bytes, PIECE_LENGTH, undefined, log);
  try {
    return await measureTransfer(pair.seeder, pair.leecher, data, timeoutMs);
  } finally {
    await rm(data.dataDir, { recursive: true, force: true });
    await rm(data.torrent.torrentPath, { force: true });
    await rm(`${data.torrent.torrentPath}.json`, { force: true });
  }
}
const PIECE_LENGTH = 512 * 1024;

const pairKey = (p: PeerPair): string => `${p.seeder.name}→${p.leecher.name}`;
const sizeName = (bytes: number): string => (bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)}GiB` : `${bytes / MiB}MiB`);
const rssMiB = (kib: number | null): number | null => (kib === null ? null : kib / 1024);
const r2 = (x: number): number => Math.round(x * 100) / 100;
const medianOf = (xs: TransferSample[], f: (s: TransferSample) => number | null): number | null => {
  const v = xs.map(f).filter((x): x is number => x !== null);
  return v.length === 0 ? null : r2(median(v));
};

async function main(): Promise<number> {
  const sizeBytes = (quickMode ? 64 : 1024) * MiB;
  const runs = parseRuns();
  const timeoutMs = quickMode ? 120_000 : 600_000;

  const lt = clientStatus('libtorrent');
  if (!lt.available) {
    log(`bench:transfer: the baseline needs libtorrent: ${lt.detail} (apt-get install python3-libtorrent)`);
    return 1;
  }
  const ltVersion = /libtorrent (\S+)/.exec(lt.detail)?.[1] ?? '?';
  const ltName = `libtorrent-${ltVersion}`;
  const ltPair: PeerPair = { seeder: libtorrentSeeder(ltName), leecher: libtorrentLeecher(ltName) };
  const ltPairName = `${ltName}→${ltName}`;
  const ltEnc: PeerPair = { seeder: libtorrentSeeder(`${ltName}-rc4`, { encryption: 'forced' }), leecher: libtorrentLeecher(`${ltName}-rc4`, { encryption: 'forced' }) };
  const ltEncName = `${ltName}-rc4→${ltName}-rc4`;

  const ours = ourPeer();
  const notYet = 'our peer cannot seed/download over TCP yet (bench/transfer.ts ourPeer() returns null)';
  const cases: CaseDef[] = [
    { name: 'libtorrent-to-libtorrent', ours: ltPair, baseline: null, baselineName: null },
    { name: 'ours-to-ours', ours: ours?.free ?? null, baseline: ltPair, baselineName: ltPairName, missing: notYet },
    { name: 'ours-to-libtorrent', ours: ours ? { seeder: ours.free.seeder, leecher: ltPair.leecher } : null, baseline: ltPair, baselineName: ltPairName, missing: notYet },
    { name: 'libtorrent-to-ours', ours: ours ? { seeder: ltPair.seeder, leecher: ours.free.leecher } : null, baseline: ltPair, baselineName: ltPairName, missing: notYet },
    { name: 'paid-vs-free', ours: ours?.paid ?? null, baseline: ours?.free ?? null, baselineName: ours ? `${pairKey(ours.free)} (free)` : null,
      missing: ours ? 'our paid pair is not plugged in yet (OurPeer.paid is null)' : notYet },
    { name: 'libtorrent-to-libtorrent-encrypted', ours: ltEnc, baseline: null, baselineName: null },
    { name: 'ours-to-ours-encrypted', ours: ourEncryptedPair(), baseline: ltEnc, baselineName: ltEncName },
  ];
  const only = onlyCases();
  if (only !== null) {
    for (const n of only) if (!cases.some((c) => c.name === n) && !(IN_PROCESS_CASES as readonly string[]).includes(n)) log(`bench:transfer: --only: no case ${n}`);
    for (const c of cases) if (!only.has(c.name)) c.ours = null;
  }
  const runnable = cases.filter((c) => c.ours !== null);

  // every distinct pair once per round, rounds alternating between them
  const pairs = new Map<string, PeerPair>();
  for (const c of runnable) {
    for (const p of [c.ours, c.baseline]) if (p) pairs.set(pairKey(p), p);
  }

  const data: TransferData = await ensureBenchData(sizeBytes, PIECE_LENGTH, undefined, log);
  log(`bench:transfer: load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.availableParallelism()} CPU(s)`);
  if (pairs.size > 0) {
    log(`bench:transfer: ${sizeBytes / MiB} MiB, ${PIECE_LENGTH / 1024} KiB pieces (${data.torrent.numPieces}), TCP plaintext, ` +
      `${runs} run(s) of ${[...pairs.keys()].join(', ')}; MB/s = 10^6 B/s at the leecher, first payload byte → all pieces verified`);
  }

  const samples = new Map<string, TransferSample[]>();
  const failed = new Map<string, string>();
  for (let round = 0; round < runs; round++) {
    for (const [key, pair] of pairs) {
      if (failed.has(key)) continue;
      try {
        const s = await measureTransfer(pair.seeder, pair.leecher, data, timeoutMs);
        const list = samples.get(key) ?? [];
        list.push(s);
        samples.set(key, list);
        log(`  run ${round + 1}/${runs} ${key}: ${s.mbps.toFixed(1)} MB/s (${s.firstByteToDoneS.toFixed(2)} s), ` +
          `cpu seeder ${s.seeder.cpuS.toFixed(2)} s, leecher ${s.leecher.cpuS.toFixed(2)} s`);
      } catch (e) {
        failed.set(key, (e as Error).message);
        log(`  run ${round + 1}/${runs} ${key}: FAILED ${(e as Error).message}`);
      }
    }
  }

  let status = 0;
  for (const c of cases) {
    if (c.ours === null) continue;
    const oursKey = pairKey(c.ours);
    const baseKey = c.baseline ? pairKey(c.baseline) : null;
    const o = samples.get(oursKey) ?? [];
    const b = baseKey ? samples.get(baseKey) ?? [] : [];
    if (failed.has(oursKey) || o.length === 0 || (baseKey !== null && (failed.has(baseKey) || b.length === 0))) {
      const why = failed.get(oursKey) ?? (baseKey !== null ? failed.get(baseKey) : undefined) ?? 'no samples';
      log(`bench:transfer: case ${c.name} could not run: ${why}`);
      status = 1;
      continue;
    }
    const extra: Record<string, number | string | null> = {
      size_MiB: sizeBytes / MiB,
      load_avg_1m: r2(os.loadavg()[0]),
      piece_KiB: PIECE_LENGTH / 1024,
      timing: 'leecher first byte → done',
      pair: oursKey,
      seeder_cpu_s: medianOf(o, (s) => s.seeder.cpuS),
      leecher_cpu_s: medianOf(o, (s) => s.leecher.cpuS),
      seeder_peak_rss_MiB: medianOf(o, (s) => (s.seeder.peakRssKiB === null ? null : s.seeder.peakRssKiB / 1024)),
      leecher_peak_rss_MiB: medianOf(o, (s) => (s.leecher.peakRssKiB === null ? null : s.leecher.peakRssKiB / 1024)),
    };
    if (b.length > 0) {
      extra.baseline_seeder_cpu_s = medianOf(b, (s) => s.seeder.cpuS);
      extra.baseline_leecher_cpu_s = medianOf(b, (s) => s.leecher.cpuS);
    }
    report(makeCase({
      bench: BENCH, case: c.name, unit: 'MB/s',
      ours: o.map((s) => s.mbps),
      baseline: b.length > 0 ? b.map((s) => s.mbps) : null,
      baselineName: c.baselineName,
      extra,
    }));
  }

  // Memory: our leecher's peak RSS in ours-to-ours vs libtorrent's in libtorrent→libtorrent.
  const oursFree = only === null || only.has('ours-to-ours') ? ours?.free ?? null : null;
  const oursSamples = oursFree ? samples.get(pairKey(oursFree)) ?? [] : [];
  const ltSamples = samples.get(pairKey(ltPair)) ?? [];
  const oursLeechRss = oursSamples.map((x) => rssMiB(x.leecher.peakRssKiB)).filter((x): x is number => x !== null);
  if (oursFree !== null && oursLeechRss.length > 0) {
    const ltLeechRss = ltSamples.map((x) => rssMiB(x.leecher.peakRssKiB)).filter((x): x is number => x !== null);
    report(makeCase({
      bench: BENCH, case: `ours-peak-rss-${sizeName(sizeBytes)}`, unit: 'MiB', better: 'lower',
      ours: oursLeechRss,
      baseline: ltLeechRss.length > 0 ? ltLeechRss : null,
      baselineName: `${ltName} leecher`,
      extra: {
        size_MiB: sizeBytes / MiB,
        what: 'leecher peak RSS (ru_maxrss) during ours-to-ours / libtorrent-to-libtorrent; libtorrent 2.0 mmaps the files, so its figure counts mapped file pages',
        seeder_peak_rss_MiB: medianOf(oursSamples, (x) => rssMiB(x.seeder.peakRssKiB)),
        baseline_seeder_peak_rss_MiB: medianOf(ltSamples, (x) => rssMiB(x.seeder.peakRssKiB)),
      },
    }));
  } else if (oursFree !== null) {
    log(`bench:transfer: case ours-peak-rss-${sizeName(sizeBytes)} could not run: no ours-to-ours sample`);
    status = 1;
  }

  if (rssMode && oursFree !== null) {
    const big = 4 * sizeBytes;
    const name = `ours-peak-rss-${sizeName(big)}`;
    try {
      const s = await measureBig(oursFree, big, timeoutMs * 4);
      const leech = rssMiB(s.leecher.peakRssKiB);
      if (leech === null) throw new Error('no peak RSS reported');
      log(`  ${name}: ${s.mbps.toFixed(1)} MB/s, leecher peak RSS ${leech.toFixed(1)} MiB, seeder ${(rssMiB(s.seeder.peakRssKiB) ?? NaN).toFixed(1)} MiB`);
      report(makeCase({
        bench: BENCH, case: name, unit: 'MiB', better: 'lower',
        ours: [leech],
        baseline: oursLeechRss.length > 0 ? [median(oursLeechRss)] : null,
        baselineName: `${pairKey(oursFree)} leecher, ${sizeName(sizeBytes)} torrent (same run)`,
        extra: {
          size_MiB: big / MiB,
          what: 'our leecher peak RSS for a 4x larger torrent; ratio ~1 = memory bounded by torrent size',
          seeder_peak_rss_MiB: r2(rssMiB(s.seeder.peakRssKiB) ?? NaN),
          mbps: r2(s.mbps),
          seeder_cpu_s: r2(s.seeder.cpuS),
          leecher_cpu_s: r2(s.leecher.cpuS),
        },
      }));
    } catch (e) {
      log(`bench:transfer: case ${name} could not run: ${(e as Error).message}`);
      status = 1;
    }
  }

  // paid-vs-free and first-paid-byte (issue 5), channel-vs-free: our pair free, prepaid
  // and through a payment channel, both peers and the local ledger in this process
  // (bench/paid-transfer.ts), every variant the requested cases need alternating in one run.
  let paidCases = IN_PROCESS_CASES.filter((n) => only === null || only.has(n));
  if (paidCases.includes('channel-vs-free')) {
    // Without the escrow program (no clang) the channel case fails alone; paid-vs-free still runs.
    try {
      ensureChannelProgramBuilt();
    } catch (e) {
      log(`bench:transfer: case channel-vs-free could not run: the channel program: ${(e as Error).message.split('\n')[0]} (apt-get install clang)`);
      status = 1;
      paidCases = paidCases.filter((n) => n !== 'channel-vs-free');
    }
  }
  if (paidCases.length > 0) try {
    const variants = [...new Set(paidCases.flatMap((n) => (n === 'paid-vs-free' ? PAID_VARIANTS : CHANNEL_VARIANTS)))];
    // At least 9 rounds: each in-process transfer takes ~2 s and one pair varies by ±10%;
    // a ratio near 1 needs the medians of more (0.91–0.96 over 5 pairs, docs/PERFORMANCE.md §4).
    const measured = await runVariants(variants, { sizeBytes, runs: Math.max(runs, 9), timeoutMs });
    if (paidCases.includes('paid-vs-free')) reportPaidVsFree(measured, sizeBytes);
    if (paidCases.includes('channel-vs-free')) reportChannelVsFree(measured, sizeBytes);
  } catch (e) {
    log(`bench:transfer: case(s) ${paidCases.join(', ')} could not run: ${(e as Error).message}`);
    status = 1;
  }
  const missing = cases.filter((c) => c.ours === null && c.name !== 'paid-vs-free' && only === null);
  if (missing.length > 0) {
    log(`bench:transfer: not implemented yet, not measured: ${missing.map((c) => c.name).join(', ')} — ${[...new Set(missing.map((c) => c.missing))].join('; ')}`);
    status = 1;
  }
  if (!jsonMode) log(`bench:transfer: exit ${status}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return status;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`bench:transfer: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
