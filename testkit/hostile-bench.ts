/**
 * Hostile peers vs honest speed and seeder memory (issue 6 item 2: "honest peers on
 * the same seeder keep their speed, the seeder's memory stays bounded").
 *
 *   node dist/bench/hostile.js [--quick] [--json] [--runs N] [--only a,b,…] [--loops N] [--no-throttle]
 *
 * For each attack of testkit/hostile-attacks.ts: one seeder (testkit/hostile-seeder.ts,
 * a process of its own, so its peak RSS and CPU are its alone), one honest leecher
 * (testkit/our-peer.ts, another process) downloading a 256 MiB torrent (64 MiB with
 * --quick) from it, and the attack sustained from this process during the whole
 * honest transfer (every attack loop reconnects and attacks again as soon as the
 * seeder closed it; several loops at once; `--loops N` sets every attack's number of
 * loops, to see how a cost scales with concurrent attackers). The same transfer without any attack
 * is the baseline; attack and no-attack alternate, `--runs` each (default 3), medians.
 * The attackers connect from 127.0.0.1 and the honest leecher from another loopback
 * address, so the seeder's violation throttle (lib/net/violation-throttle.ts) refuses the
 * attackers' reconnections and not the honest peer; `--no-throttle` turns it off in
 * the seeder, to measure what it saves (extra field `seeder_throttle`).
 *
 * Case `hostile/honest-under-<attack>`: MB/s of the honest leecher (first payload
 * byte → every piece verified, as bench:transfer) under attack; baseline the same
 * without attack (ratio ≈ 1: the honest peer kept its speed). Extra fields:
 *   seeder_rss_mib / seeder_rss_mib_no_attack   seeder peak RSS (ru_maxrss), medians
 *   seeder_cpu_s / seeder_cpu_s_no_attack       seeder CPU seconds over the run, medians
 *   seeder_cpu_ms_per_hostile_conn              (seeder_cpu_s − seeder_cpu_s_no_attack) / hostile_conns
 *   attacker_cpu_s                              this process's CPU during the attack (it
 *                                               shares the 2 cores with seeder and leecher)
 *   hostile_served_mib                          payload the seeder served besides the honest copy
 *   hostile_conns / hostile_closed_by_seeder / hostile_open_at_end   per run, medians
 *   close_reasons      the seeder's close reasons for the attackers' connections while the
 *                      attack ran (asked before the teardown), totals over all runs
 *                      (REFUSED_AT_PENDING_CAP / REFUSED_THROTTLED: refused at accept,
 *                      before any session; every attack here breaks the protocol, so
 *                      REFUSED_THROTTLED is expected for all of them)
 *   attack_errors      attack rounds that did not go as the tests expect, totals
 *   attack_rounds / refused_rounds   rounds that ran as the tests expect / were refused at
 *                      accept (the throttle or the pending cap), medians per run
 *
 * The honest leecher checks every piece's SHA-1 against the torrent (it only reports
 * complete with every piece verified), so no extra sha256 pass is made here.
 * The payment_proof flood needs the paid seller and the ledger: its case,
 * `honest-under-payment-proof-flood`, is testkit/hostile-proof.ts (a paid transfer of
 * 64 MiB, 16 MiB with --quick; the peak RSS there is the whole scenario's process),
 * with its control `honest-under-paid-session-churn` (hostile paid sessions made
 * ready and dropped without a proof: what the churn alone costs).
 * Case `honest-under-idle-flood-2000` (`--only idle-flood-2000`) is testkit/hostile-idle-case.ts:
 * 2000 silent connections from 200 addresses held against a seeder with its default
 * limits; how fast the honest leecher gets in, and its speed; a top-level `ok`.
 * Exit status 1 when an honest transfer failed or an attack never ran.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTorrent } from '../format/metainfo.js';
import { InteropScope, nextLoopbackAddress, type ManagedProcess } from './clients.js';
import type { Attacker } from './hostile-helpers.js';
import { sleep } from './hostile-helpers.js';
import {
  badBitfield, bitfieldBytes, halfOpenFlood, hostileExtendedHandshake, lengthClaim, outOfRange, requestOverflow,
  slowloris, unknownExtensionId, unrequestedPiece, zeroLengthRequest, type Target,
} from './hostile-attacks.js';
import { REFUSED_LABEL, type SeederResult } from './hostile-seeder.js';
import { PROOF_VARIANTS, proofFloodCase } from './hostile-proof.js';
import { IDLE_FLOOD_NAME, idleFloodCase } from './hostile-idle-case.js';
import { log, makeCase, median, quickMode, report } from './bench-report.js';
import { MiB, ensureBenchData, ourLeecher, type TransferData } from './transfer-clients.js';

const BENCH = 'hostile';
const ATTACK_HOST = '127.0.0.1';
/** The seeder's default reqq (wire/connection.ts CONNECTION_DEFAULTS). */
const SEEDER_REQQ = 250;
/**
 * The seeder's handshake timeout for the attacks that hold handshakes open (the
 * default 30 s would outlast every honest transfer here, so none would be timed out).
 */
const HS_TIMEOUT = quickMode ? 1000 : 2000;

// ------------------------------------------------------------------ the attacks

export interface AttackDef {
  /** Case name suffix. */
  name: string;
  /** The close reasons the tests expect for it. */
  expected: readonly string[];
  /** Seeder handshake timeout (ms) when the default (30 s) would outlast the transfer. */
  handshakeTimeout?: number;
  /** Attack loops running at once. */
  loops: number;
  /** One round of loop `loop`, number `n` (resolves once the seeder has closed it). */
  round(t: Target, loop: number, n: number): Promise<unknown>;
}

/** Wait for every connection of a wave to be closed by the seeder, up to `ms`. */
async function allClosed(atts: readonly Attacker[], ms: number, stop: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!stop() && Date.now() < deadline && atts.some((a) => !a.closed)) await sleep(20);
}

export function attacks(stop: () => boolean): AttackDef[] {
  return [
    {
      name: 'length-claim', expected: ['LENGTH_TOO_LARGE'], loops: 4,
      round: (t, _l, n) => lengthClaim(t, n % 2 === 0 ? {} : { claim: 0x7fffffff, mode: 'burst' }),
    },
    {
      // 24 loops from one address: 16 held (the per-address pending cap, default 64/4), the rest refused and redialled
      name: 'slowloris', expected: ['HANDSHAKE_TIMEOUT', 'REFUSED_AT_PENDING_CAP'], loops: 24, handshakeTimeout: HS_TIMEOUT,
      round: (t) => slowloris(t, { byteMs: 100, closeMs: 10_000 }),
    },
    {
      name: 'reqq-overflow', expected: ['REQUEST_OVERFLOW'], loops: 2,
      round: (t) => requestOverflow(t, 2 * SEEDER_REQQ + 100),
    },
    {
      name: 'out-of-range', expected: ['BAD_PIECE_INDEX', 'BAD_REQUEST'], loops: 2,
      round: (t, _l, n) => (n % 2 === 0 ? outOfRange(t) : zeroLengthRequest(t)),
    },
    { name: 'unrequested-piece', expected: ['UNREQUESTED_PIECE'], loops: 4, round: (t) => unrequestedPiece(t) },
    {
      name: 'bad-bitfield', expected: ['BAD_BITFIELD_LENGTH'], loops: 4,
      round: (t, _l, n) => badBitfield(t, bitfieldBytes(t) + (n % 2 === 0 ? 5 : -1)),
    },
    {
      // waves of 1000 that never finish the handshake; the next wave once the seeder closed this one
      name: 'half-open-flood', expected: ['HANDSHAKE_TIMEOUT', 'REFUSED_AT_PENDING_CAP'], loops: 1, handshakeTimeout: HS_TIMEOUT,
      round: async (t) => allClosed(await halfOpenFlood(t, 1000), 5000, stop),
    },
    { name: 'unknown-extension-id', expected: ['UNKNOWN_EXTENSION_ID'], loops: 4, round: (t) => unknownExtensionId(t) },
    {
      name: 'huge-extended-handshake', expected: ['BAD_EXTENDED_HANDSHAKE', 'LENGTH_TOO_LARGE'], loops: 2,
      round: (t, _l, n) => hostileExtendedHandshake(t, n % 2 === 0 ? 'nested' : 'huge'),
    },
  ];
}

// ------------------------------------------------------------------ one run

export interface RunSample {
  mbps: number;
  seeder: SeederResult;
  /** Only under attack. */
  attack: null | {
    conns: number;
    closedBySeeder: number;
    openAtEnd: number;
    attackerCpuS: number;
    errors: Record<string, number>;
    /** Rounds that completed as the tests expect. */
    rounds: number;
    /** Rounds whose connection the seeder refused at accept (throttled or pending cap full). */
    refusedRounds: number;
    /** The seeder's close reasons for the attackers' connections while the attack ran (before teardown). */
    reasons: Record<string, number>;
  };
}

function seederCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const script = path.join(path.dirname(here), `hostile-seeder${ext}`);
  if (!existsSync(script)) throw new Error(`no ${script}`);
  return ext === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', script] } : { cmd: process.execPath, args: [script] };
}

function seederResult(proc: ManagedProcess): SeederResult {
  const line = proc.lines().find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`hostile seeder printed no RESULT\n${proc.tail()}`);
  return JSON.parse(line.slice('RESULT '.length)) as SeederResult;
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const REFUSED_ROUND = 'refused at accept';

/** Short label of an attack round's failure (messages carry ports and counts). */
function errorLabel(e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  // Refused at accept (throttled or at the pending cap): closed before the seeder's handshake.
  if (/^(socket closed before the seeder handshake|closed before connecting)/.test(msg)) return REFUSED_ROUND;
  return msg.replace(/\d+/g, 'N').slice(0, 60);
}

export interface TorrentShape { infoHash: Uint8Array; pieceLength: number; pieceCount: number; totalLength: number }

/**
 * One honest transfer from a fresh seeder, with `attack` sustained during all of it
 * (null: no attack). Throws when the honest leecher did not complete.
 */
export async function runOnce(data: TransferData, shape: TorrentShape, def: AttackDef, attack: boolean,
  stopFlag: { stop: boolean }, timeoutMs: number, throttle = true): Promise<RunSample> {
  const scope = new InteropScope('hostile');
  const dialed: Attacker[] = [];
  const errors: Record<string, number> = {};
  let rounds = 0;
  let refused = 0;
  stopFlag.stop = false;
  try {
    const { cmd, args } = seederCommand();
    const sargs = [...args, data.torrent.torrentPath, data.dataDir, '--bind', ATTACK_HOST];
    if (def.handshakeTimeout !== undefined) sargs.push('--handshake-timeout', String(def.handshakeTimeout));
    if (!throttle) sargs.push('--no-throttle');
    const seeder = scope.spawn(`seed-${def.name}`, cmd, sargs);
    const ready = JSON.parse((await seeder.waitForLine((l) => l.startsWith('READY '), 60_000, 'READY line')).slice(6)) as { port: number };

    const target: Target = { ...shape, port: ready.port, onDial: (a) => dialed.push(a) };
    const cpu0 = cpuS();
    const loops: Promise<void>[] = [];
    if (attack) {
      for (let l = 0; l < def.loops; l++) {
        loops.push((async () => {
          for (let n = 0; !stopFlag.stop; n++) {
            try {
              await def.round(target, l, n);
              rounds++;
            } catch (e) {
              if (stopFlag.stop) break;
              const k = errorLabel(e);
              if (k === REFUSED_ROUND) refused++; // the seeder's throttle or pending cap: expected
              else errors[k] = (errors[k] ?? 0) + 1;
              await sleep(50); // a failing round must not spin
            }
          }
        })());
      }
      // The attack in full swing before the honest peer arrives: past one handshake
      // timeout when the attack is about those, so held connections are being timed
      // out and replaced while the honest transfer runs.
      await sleep(250 + (def.handshakeTimeout ?? 0));
    }
    const saveDir = await scope.tempDir('leech');
    const out = await ourLeecher('seedpay').run({
      scope, data, saveDir, bind: nextLoopbackAddress(), seeder: { host: ATTACK_HOST, port: ready.port }, timeoutMs,
    });
    // Count before we tear down: what the seeder closed by itself, and why.
    let duringAttack: Record<string, number> = {};
    if (attack) {
      process.kill(seeder.pid, 'SIGUSR1');
      const snap = await seeder.waitForLine((l) => l.startsWith('SNAPSHOT '), 10_000, 'SNAPSHOT line');
      duringAttack = (JSON.parse(snap.slice('SNAPSHOT '.length)) as { closes: SeederResult['closes'] }).closes[ATTACK_HOST] ?? {};
    }
    const closedBySeeder = dialed.filter((a) => a.closed).length;
    stopFlag.stop = true;
    for (const a of dialed) a.destroy();
    await Promise.race([Promise.all(loops), sleep(5000)]);
    const attackerCpuS = cpuS() - cpu0;
    await seeder.stop(10_000);
    return {
      mbps: data.torrent.totalSize / out.firstByteToDoneS / 1e6,
      seeder: seederResult(seeder),
      attack: attack ? { conns: dialed.length, closedBySeeder, reasons: duringAttack, openAtEnd: dialed.length - closedBySeeder, attackerCpuS, errors, rounds, refusedRounds: refused } : null,
    };
  } finally {
    stopFlag.stop = true;
    for (const a of dialed) a.destroy();
    await scope.close();
  }
}

// ------------------------------------------------------------------ driver

function argValue(name: string): string | null {
  const i = process.argv.indexOf(name);
  return i < 0 ? null : process.argv[i + 1] ?? null;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

function addCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

const fmtCounts = (c: Record<string, number>): string =>
  Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(',') || 'none';

/** bench:hostile's body (testkit/hostile-bench.ts runs it): exit status 0 / 1. */
export async function hostileBenchMain(): Promise<number> {
  const runs = Number(argValue('--runs') ?? 3);
  if (!(Number.isSafeInteger(runs) && runs > 0)) throw new Error('--runs needs a positive integer');
  const only = argValue('--only')?.split(',') ?? null;
  const throttle = !process.argv.includes('--no-throttle');
  const sizeMiB = quickMode ? 64 : 256;
  const data = await ensureBenchData(sizeMiB * MiB, 512 * 1024, undefined, log);
  const meta = parseTorrent(await readFile(data.torrent.torrentPath));
  const shape: TorrentShape = { infoHash: meta.infoHash, pieceLength: meta.pieceLength, pieceCount: meta.pieceCount, totalLength: meta.totalLength };
  const stopFlag = { stop: false };
  const loopsArg = argValue('--loops');
  const loops = loopsArg === null ? null : Number(loopsArg);
  if (loops !== null && !(Number.isSafeInteger(loops) && loops > 0)) throw new Error('--loops needs a positive integer');
  const defs = attacks(() => stopFlag.stop).filter((d) => only === null || only.includes(d.name))
    .map((d) => (loops === null ? d : { ...d, loops }));
  const proofNames = PROOF_VARIANTS.map((v) => v.name);
  const withProof = only === null || proofNames.some((n) => only.includes(n));
  const withIdle = only === null || only.includes(IDLE_FLOOD_NAME);
  if (defs.length === 0 && !withProof && !withIdle) throw new Error(`--only matched no attack (have ${[...attacks(() => true).map((d) => d.name), ...proofNames, IDLE_FLOOD_NAME].join(', ')})`);
  log(`[hostile] ${sizeMiB} MiB torrent, ${runs} runs per side, violation throttle ${throttle ? 'on' : 'off'}, attacks: ${[...defs.map((d) => d.name), ...proofNames.filter((n) => only === null || only.includes(n)), ...(withIdle ? [IDLE_FLOOD_NAME] : [])].join(', ')}; load ${loadavg().map((x) => x.toFixed(2)).join('/')}`);

  let failed = 0;
  for (const def of defs) {
    const under: RunSample[] = [];
    const without: RunSample[] = [];
    for (let r = 0; r < runs; r++) {
      // alternate which side goes first
      for (const attack of r % 2 === 0 ? [false, true] : [true, false]) {
        try {
          const s = await runOnce(data, shape, def, attack, stopFlag, quickMode ? 60_000 : 180_000, throttle);
          (attack ? under : without).push(s);
          const a = s.attack;
          log(`[hostile] ${def.name} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${s.mbps.toFixed(1)} MB/s, seeder RSS ${(s.seeder.peak_rss_kib / 1024).toFixed(1)} MiB`
            + (a ? `, ${a.conns} hostile conns (${a.closedBySeeder} closed by seeder), reasons ${fmtCounts(a.reasons)}${Object.keys(a.errors).length > 0 ? `, errors ${fmtCounts(a.errors)}` : ''}` : ''));
        } catch (e) {
          failed++;
          log(`[hostile] FAIL ${def.name} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${(e as Error).message}`);
        }
      }
    }
    if (under.length === 0 || without.length === 0) {
      log(`[hostile] FAIL ${def.name}: no complete honest transfer ${under.length === 0 ? 'under attack' : 'without attack'}`);
      continue;
    }
    const reasons: Record<string, number> = {};
    const errors: Record<string, number> = {};
    for (const s of under) { addCounts(reasons, s.attack?.reasons); addCounts(errors, s.attack?.errors); }
    const unexpected = Object.keys(reasons).filter((k) => !def.expected.includes(k) && k !== 'END' && k !== REFUSED_LABEL.THROTTLED);
    const m = (xs: RunSample[], f: (s: RunSample) => number): number => r2(median(xs.map(f)));
    const rssA = m(under, (s) => s.seeder.peak_rss_kib / 1024);
    const rssB = m(without, (s) => s.seeder.peak_rss_kib / 1024);
    report(makeCase({
      bench: BENCH, case: `honest-under-${def.name}`, unit: 'MB/s',
      ours: under.map((s) => s.mbps), baseline: without.map((s) => s.mbps), baselineName: 'same transfer, no attack',
      extra: {
        torrent_mib: sizeMiB,
        seeder_throttle: throttle ? 'on' : 'off',
        seeder_rss_mib: rssA, seeder_rss_mib_no_attack: rssB, rss_ratio: r2(rssA / rssB),
        seeder_cpu_s: m(under, (s) => s.seeder.cpu_s), seeder_cpu_s_no_attack: m(without, (s) => s.seeder.cpu_s),
        // the seeder's extra CPU per hostile connection: the attack's cost, less noisy than MB/s on a shared machine
        seeder_cpu_ms_per_hostile_conn: r2(1000 * Math.max(0, median(under.map((s) => s.seeder.cpu_s)) - median(without.map((s) => s.seeder.cpu_s)))
          / Math.max(1, median(under.map((s) => s.attack?.conns ?? 0)))),
        attacker_cpu_s: m(under, (s) => s.attack?.attackerCpuS ?? 0),
        // payload the seeder sent besides the honest copy (attacks that get served, e.g. reqq-overflow)
        hostile_served_mib: m(under, (s) => Math.max(0, s.seeder.uploaded - data.torrent.totalSize) / MiB),
        attack_loops: def.loops,
        hostile_conns: m(under, (s) => s.attack?.conns ?? 0),
        hostile_closed_by_seeder: m(under, (s) => s.attack?.closedBySeeder ?? 0),
        hostile_open_at_end: m(under, (s) => s.attack?.openAtEnd ?? 0),
        close_reasons: fmtCounts(reasons),
        expected_reasons: def.expected.join(','),
        unexpected_reasons: unexpected.join(',') || 'none',
        attack_errors: fmtCounts(errors),
        attack_rounds: m(under, (s) => s.attack?.rounds ?? 0),
        refused_rounds: m(under, (s) => s.attack?.refusedRounds ?? 0),
        handshake_timeout_ms: def.handshakeTimeout ?? null,
        loadavg: loadavg().map((x) => x.toFixed(2)).join('/'),
      },
    }));
  }
  if (withIdle) {
    // the seeder keeps its default limits here (throttle included): --no-throttle does not apply
    const { c, failures } = await idleFloodCase(BENCH, data, sizeMiB, runs, quickMode ? 60_000 : 180_000);
    failed += failures;
    if (c !== null) {
      report(c);
      if (!c.ok) log(`[hostile] ${IDLE_FLOOD_NAME}: below the bar (connect < 1000 ms on every run, speed ratio >= 0.9)`);
    } else log(`[hostile] FAIL ${IDLE_FLOOD_NAME}: no complete honest transfer on one side`);
  }
  for (const v of PROOF_VARIANTS) {
    if (only !== null && !only.includes(v.name)) continue;
    const { c, failures } = await proofFloodCase(BENCH, quickMode ? 16 : 64, runs, quickMode ? 60_000 : 180_000, v);
    failed += failures;
    if (c !== null) report(c);
    else log(`[hostile] FAIL ${v.name}: no complete honest transfer on one side`);
  }
  return failed > 0 ? 1 : 0;
}
