/**
 * bench:hostile case `honest-under-idle-flood-2000` (select it with `--only idle-flood-2000`):
 * a seeder with its default limits (testkit/hostile-seeder.ts, a process of its own) faces
 * 2000 idle connections from 200 loopback addresses, 10 each — within the per-address
 * share of its pending-handshake table, so no address can simply be refused — held
 * for the whole run (testkit/hostile-idle-flood.ts opens again every one the seeder
 * closes, at once), from a process of its own at the lowest CPU priority
 * (testkit/hostile-idle-flood-process.ts): on a real network the attackers' CPU is
 * theirs, not taken from the seeder's cores. An honest leecher (testkit/hostile-idle-leecher.ts, another process) then
 * dials from a fresh address and downloads the torrent. Baseline: the same transfer
 * with no flood; the two alternate, `runs` each, medians.
 *
 * The bar: the honest leecher's handshake completes within a second of its first dial
 * (on every attacked run: a dial lost to the crowd is redialled only seconds later),
 * and it keeps at least 0.9 of its speed. Extra fields:
 *   connect_ms / connect_ms_max / connect_ms_no_attack   first dial → handshake done
 *   attempts_max          most dials any attacked run needed (1: got in at once)
 *   speed_ratio           attacked MB/s ÷ baseline MB/s (medians; = ratio)
 *   idle_open             idle sockets open when the honest transfer ended (median)
 *   evicted               idle connections the seeder evicted from its pending table (median per run)
 *   reopened              idle sockets the flood opened again after the seeder closed them (median per run)
 *   seeder_cpu_s / attacker_cpu_s   CPU seconds of the seeder / of the flood's process, medians
 *   attacker_nice         the niceness the flood's process runs at
 *   ok (top level)        connect_ms_max < 1000 and speed_ratio ≥ 0.9
 * The fd limit is checked (in the flood's process) before the flood opens: too low a limit fails the case with
 * a message instead of measuring a smaller crowd.
 */
import { loadavg } from 'node:os';
import { InteropScope, nextLoopbackAddress } from './clients.js';
import { IdleFloodProcess } from './hostile-idle-flood-process.js';
import { nodeScript } from './hostile-idle-script.js';
import type { IdleLeecherResult } from './hostile-idle-leecher.js';
import { REFUSED_LABEL, type SeederResult } from './hostile-seeder.js';
import { log, makeCase, median, type BenchCase } from './bench-report.js';
import type { TransferData } from './transfer-clients.js';

export const IDLE_FLOOD_NAME = 'idle-flood-2000';
const ADDRESSES = 200;
const PER_ADDRESS = 10;
const SEEDER_HOST = '127.0.0.1';
/** The flood's churn settles (evictions, reopenings) before the honest peer dials. */
const SETTLE_MS = 500;

export interface IdleRun {
  mbps: number;
  leecher: IdleLeecherResult;
  seeder: SeederResult;
  /** Only under the flood. */
  flood: null | { open: number; evicted: number; reopened: number; closedBySeeder: number; attackerCpuS: number; nice: number | null };
}

export { nodeScript };

function resultOf<T>(lines: readonly string[], who: string, tail: string): T {
  const line = lines.find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`${who} printed no RESULT\n${tail}`);
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

/** Idle connections the seeder evicted, over every flood address. */
function evictedOf(closes: SeederResult['closes'], honestHost: string): number {
  let n = 0;
  for (const [host, byCode] of Object.entries(closes)) if (host !== honestHost) n += byCode[REFUSED_LABEL.EVICTED] ?? 0;
  return n;
}

/** One honest transfer from a fresh seeder, under the idle flood or not. Throws when it did not complete. */
export async function idleRun(data: TransferData, attack: boolean, timeoutMs: number,
  shape: { addresses: number; perAddress: number } = { addresses: ADDRESSES, perAddress: PER_ADDRESS }): Promise<IdleRun> {
  const scope = new InteropScope('hostile-idle');
  let flood: IdleFloodProcess | null = null;
  try {
    const s = nodeScript('hostile-seeder');
    const seeder = scope.spawn('seed-idle', s.cmd, [...s.args, data.torrent.torrentPath, data.dataDir, '--bind', SEEDER_HOST]);
    const ready = JSON.parse((await seeder.waitForLine((l) => l.startsWith('READY '), 60_000, 'READY line')).slice(6)) as { port: number };
    if (attack) {
      flood = new IdleFloodProcess(ready.port, shape.addresses, shape.perAddress, SEEDER_HOST);
      await flood.start();
      await new Promise((r) => setTimeout(r, SETTLE_MS));
    }
    const bind = nextLoopbackAddress();
    const l = nodeScript('hostile-idle-leecher');
    const leecher = scope.spawn(`idle-leech@${bind}`, l.cmd, [...l.args, data.torrent.torrentPath, await scope.tempDir('leech'),
      '--bind', bind, '--connect', `${SEEDER_HOST}:${ready.port}`, '--timeout', String(Math.ceil(timeoutMs / 1000))]);
    await leecher.waitForLine((x) => x.startsWith('RESULT ') || x.startsWith('FATAL '), timeoutMs + 30_000, 'RESULT line');
    const res = resultOf<IdleLeecherResult>(leecher.lines(), 'honest leecher', leecher.tail());
    if (!res.complete || res.first_byte_to_done_s === null || !(res.first_byte_to_done_s > 0)) {
      throw new Error(`honest leecher did not complete: ${JSON.stringify(res)}`);
    }
    // Count before the teardown: what the flood looked like while the honest peer ran.
    let floodStats: IdleRun['flood'] = null;
    if (flood !== null) {
      const st = await flood.stats(); // throws a socket that could not be reopened
      process.kill(seeder.pid, 'SIGUSR1');
      const snap = await seeder.waitForLine((x) => x.startsWith('SNAPSHOT '), 10_000, 'SNAPSHOT line');
      const closes = (JSON.parse(snap.slice('SNAPSHOT '.length)) as { closes: SeederResult['closes'] }).closes;
      floodStats = { open: st.open, evicted: evictedOf(closes, bind), reopened: st.reopened, closedBySeeder: st.closedBySeeder, attackerCpuS: st.cpuS, nice: flood.nice };
      await flood.stop();
    }
    await seeder.stop(10_000);
    return {
      mbps: res.total_bytes / res.first_byte_to_done_s / 1e6,
      leecher: res,
      seeder: resultOf<SeederResult>(seeder.lines(), 'hostile seeder', seeder.tail()),
      flood: floodStats,
    };
  } finally {
    await flood?.stop();
    await scope.close();
  }
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

/** The case: `runs` attacked and `runs` baseline transfers, alternating; null when a side never completed. */
export async function idleFloodCase(bench: string, data: TransferData, sizeMiB: number, runs: number, timeoutMs: number): Promise<{ c: (BenchCase & { ok: boolean }) | null; failures: number }> {
  const under: IdleRun[] = [];
  const without: IdleRun[] = [];
  let failures = 0;
  for (let r = 0; r < runs; r++) {
    for (const attack of r % 2 === 0 ? [false, true] : [true, false]) {
      try {
        const s = await idleRun(data, attack, timeoutMs);
        (attack ? under : without).push(s);
        const f = s.flood;
        log(`[hostile] ${IDLE_FLOOD_NAME} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${s.mbps.toFixed(1)} MB/s, connect ${s.leecher.connect_ms} ms in ${s.leecher.attempts} dial(s)`
          + (f ? `, idle open ${f.open}/${ADDRESSES * PER_ADDRESS}, evicted ${f.evicted}, reopened ${f.reopened}` : '') + `, seeder CPU ${s.seeder.cpu_s} s`);
      } catch (e) {
        failures++;
        log(`[hostile] FAIL ${IDLE_FLOOD_NAME} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${(e as Error).message}`);
      }
    }
  }
  if (under.length === 0 || without.length === 0) return { c: null, failures };
  const m = (xs: IdleRun[], f: (s: IdleRun) => number): number => r2(median(xs.map(f)));
  const connect = (s: IdleRun): number => s.leecher.connect_ms ?? Infinity;
  const connectMax = Math.max(...under.map(connect));
  const c = makeCase({
    bench, case: `honest-under-${IDLE_FLOOD_NAME}`, unit: 'MB/s',
    ours: under.map((s) => s.mbps), baseline: without.map((s) => s.mbps), baselineName: 'same transfer, no idle flood',
    extra: {
      torrent_mib: sizeMiB,
      idle_target: ADDRESSES * PER_ADDRESS, idle_addresses: ADDRESSES, idle_per_address: PER_ADDRESS,
      connect_ms: m(under, connect), connect_ms_max: r2(connectMax), connect_ms_no_attack: m(without, connect),
      connect_ms_runs: under.map((s) => r2(connect(s))).join(','),
      attempts_max: Math.max(...under.map((s) => s.leecher.attempts)),
      speed_ratio: null, // set below from the medians
      mbps_runs: under.map((s) => r2(s.mbps)).join(','), mbps_no_attack_runs: without.map((s) => r2(s.mbps)).join(','),
      idle_open: m(under, (s) => s.flood?.open ?? 0),
      evicted: m(under, (s) => s.flood?.evicted ?? 0),
      reopened: m(under, (s) => s.flood?.reopened ?? 0),
      seeder_cpu_s: m(under, (s) => s.seeder.cpu_s), seeder_cpu_s_no_attack: m(without, (s) => s.seeder.cpu_s),
      // the flood's own process (niced): what opening and reopening the crowd cost the attacker
      attacker_cpu_s: m(under, (s) => s.flood?.attackerCpuS ?? 0),
      attacker_nice: under[0].flood?.nice ?? null,
      seeder_rss_mib: m(under, (s) => s.seeder.peak_rss_kib / 1024), seeder_rss_mib_no_attack: m(without, (s) => s.seeder.peak_rss_kib / 1024),
      loadavg: loadavg().map((x) => x.toFixed(2)).join('/'),
    },
  });
  const ratio = c.ratio ?? 0;
  c.extra!.speed_ratio = ratio;
  return { c: { ...c, ok: connectMax < 1000 && ratio >= 0.9 }, failures };
}
