/**
 * One run of each `bench:swarm` case (bench/swarm.ts drives the rounds and reports).
 * Every peer is a process of its own on its own loopback address (testkit/swarm-peers.ts,
 * qBittorrent and Transmission through testkit/clients.ts); every downloaded file that
 * a result depends on is checked by sha256, and a mismatch fails the run.
 *
 * Rates are torrent bytes (10^6 per MB) over seconds from first payload byte to complete,
 * as in bench:transfer: process start-up and a seeder's hash check are not timed.
 * CPU seconds of a process that outlives a phase are its /proc delta over that phase;
 * a leecher that exits when done reports its own (READY → RESULT).
 */
import {
  InteropError, InteropScope, nextLoopbackAddress, procCpuSeconds, procPeakRssKiB, sha256File,
  type QbittorrentDaemon, type TransmissionDaemon,
} from '../testkit/clients.js';
import { StartBarrier, startSwarmPeer, type SwarmImpl, type SwarmPeer, type SwarmPeerResult } from '../testkit/swarm-peers.js';
import type { TransferData } from '../testkit/transfer-clients.js';

/** What one process used during a phase. */
export interface ProcUse {
  cpuS: number;
  peakRssKiB: number | null;
}

/** One leecher's outcome. */
export interface LeechUse extends ProcUse {
  mbps: number;
  /** Payload received twice, % of the torrent. */
  dupPct: number;
  /** Payload in pieces that failed the hash check, % of the torrent. */
  failedPct: number;
}

export interface CaseEnv {
  data: TransferData;
  /** Per-process deadline of one phase. */
  timeoutMs: number;
  log: (m: string) => void;
}

const pct = (bytes: number, total: number): number => (100 * bytes) / total;

/** Throw HASH_MISMATCH unless the peer's file is the source's; returns 1 (one file checked). */
async function checkBytes(p: SwarmPeer, env: CaseEnv): Promise<number> {
  const got = await sha256File(p.file);
  if (got !== env.data.sha256) throw new InteropError('HASH_MISMATCH', `${p.proc.label}: sha256 ${got}, expected ${env.data.sha256}`);
  return 1;
}
const sumOf = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function leechUse(r: SwarmPeerResult, env: CaseEnv, label: string): LeechUse {
  if (!r.complete || r.firstByteToDoneS === null || r.firstByteToDoneS <= 0) {
    throw new InteropError('TIMEOUT', `${label} did not complete: ${JSON.stringify(r)}`);
  }
  const total = env.data.torrent.totalSize;
  return {
    mbps: total / r.firstByteToDoneS / 1e6, dupPct: pct(r.duplicateBytes, total), failedPct: pct(r.failedBytes, total),
    cpuS: r.cpuS, peakRssKiB: r.peakRssKiB,
  };
}

/** CPU of live processes from now on: `end()` gives each one's delta and peak RSS so far. */
function cpuMeter(peers: readonly { label: string; cpuNow(): number | null; peakRssNow(): number | null }[]): { end(): ProcUse[] } {
  const start = peers.map((p) => p.cpuNow());
  return {
    end: () => peers.map((p, i) => {
      const a = start[i];
      const b = p.cpuNow();
      if (a === null || b === null) throw new InteropError('PROCESS_EXIT', `${p.label} exited during the measurement`);
      return { cpuS: b - a, peakRssKiB: p.peakRssNow() };
    }),
  };
}

const asMetered = (p: SwarmPeer): { label: string; cpuNow(): number | null; peakRssNow(): number | null } =>
  ({ label: p.proc.label, cpuNow: () => p.cpuNow(), peakRssNow: () => p.peakRssNow() });

// ---------------------------------------------------------------------------
// many-seeders
// ---------------------------------------------------------------------------

export interface ManySeedersRun {
  /** Each capped seeder alone → one leecher of ours, the four at once; MB/s each. */
  solo: number[];
  soloSum: number;
  /** The 4 → 1 download per leecher implementation. */
  leech: Map<SwarmImpl, LeechUse & { fraction: number; seeders: ProcUse[] }>;
  /** Downloaded files found identical to the source by sha256. */
  sha256Ok: number;
}

/**
 * `seeders` libtorrent seeders, each capped at `upLimit` bytes/s (per-torrent limit),
 * started once for the run. First the solo phase: one leecher of ours per seeder, each
 * knowing only its seeder, all four at once (so the machine carries the same total
 * rate as in the 4 → 1 phase). Then, for each implementation in `order`, one leecher
 * that dials all the seeders.
 */
export async function manySeedersRun(env: CaseEnv, seeders: number, upLimit: number, order: readonly SwarmImpl[]): Promise<ManySeedersRun> {
  const { data } = env;
  const scope = new InteropScope('swarm-many');
  const timeoutS = Math.ceil(env.timeoutMs / 1000);
  const common = { torrentPath: data.torrent.torrentPath, timeoutS: timeoutS * 4, pieceLength: data.torrent.pieceLength };
  try {
    const seeds = await Promise.all(Array.from({ length: seeders }, () => startSwarmPeer(scope, {
      ...common, impl: 'libtorrent', mode: 'seed', dir: data.dataDir, bind: nextLoopbackAddress(), upLimit,
    }, data.torrent.name, 600_000)));

    // solo: every seeder alone with one leecher, started together
    const barrier = await StartBarrier.create(scope);
    const solos = await Promise.all(seeds.map(async (s) => startSwarmPeer(scope, {
      ...common, timeoutS, impl: 'ours', mode: 'leech', dir: await scope.tempDir('solo'), bind: nextLoopbackAddress(),
      connect: [s.endpoint], startFile: barrier.path,
    }, data.torrent.name)));
    await barrier.open();
    const soloRes = await Promise.all(solos.map((p) => p.result(env.timeoutMs + 30_000)));
    let sha256Ok = sumOf(await Promise.all(solos.map((p) => checkBytes(p, env))));
    const solo = soloRes.map((r, i) => leechUse(r, env, solos[i].proc.label).mbps);
    const soloSum = solo.reduce((a, b) => a + b, 0);
    env.log(`    solo ${solo.map((x) => x.toFixed(2)).join(' + ')} = ${soloSum.toFixed(2)} MB/s`);

    const leech = new Map<SwarmImpl, LeechUse & { fraction: number; seeders: ProcUse[] }>();
    for (const impl of order) {
      const meter = cpuMeter(seeds.map(asMetered));
      const p = await startSwarmPeer(scope, {
        ...common, timeoutS, impl, mode: 'leech', dir: await scope.tempDir(`many-${impl}`), bind: nextLoopbackAddress(),
        connect: seeds.map((s) => s.endpoint),
      }, data.torrent.name);
      const r = await p.result(env.timeoutMs + 30_000);
      const seedUse = meter.end();
      sha256Ok += await checkBytes(p, env);
      const u = leechUse(r, env, p.proc.label);
      leech.set(impl, { ...u, fraction: u.mbps / soloSum, seeders: seedUse });
      env.log(`    ${seeders} → 1 ${impl}: ${u.mbps.toFixed(2)} MB/s = ${(u.mbps / soloSum).toFixed(3)} of the solo sum, dup ${u.dupPct.toFixed(2)} %`);
    }
    return { solo, soloSum, leech, sha256Ok };
  } finally {
    await scope.close();
  }
}

// ---------------------------------------------------------------------------
// flash-crowd
// ---------------------------------------------------------------------------

export interface FlashCrowdRun {
  /** leechers × torrent size / (last complete − first payload byte of any), MB/s. */
  mbps: number;
  spanS: number;
  seeder: ProcUse;
  /** The seeder's payload upload / (leechers × size): below 1 when leechers traded. */
  seederShare: number;
  leechers: LeechUse[];
  sha256Ok: number;
}

/**
 * One seeder (upload capped at `upLimit`) and `n` leechers of the same implementation,
 * each given only the seeder; they find each other by PEX. The leechers start together
 * (start barrier) and keep serving once complete until every one is.
 */
export async function flashCrowdRun(env: CaseEnv, impl: SwarmImpl, n: number, upLimit: number): Promise<FlashCrowdRun> {
  const { data } = env;
  const scope = new InteropScope(`swarm-flash-${impl}`);
  const timeoutS = Math.ceil(env.timeoutMs / 1000);
  const common = { impl, torrentPath: data.torrent.torrentPath, timeoutS: timeoutS * 2, pieceLength: data.torrent.pieceLength };
  try {
    const seed = await startSwarmPeer(scope, { ...common, mode: 'seed', dir: data.dataDir, bind: nextLoopbackAddress(), upLimit }, data.torrent.name, 600_000);
    const barrier = await StartBarrier.create(scope);
    const leechers = await Promise.all(Array.from({ length: n }, async () => startSwarmPeer(scope, {
      ...common, mode: 'leech', dir: await scope.tempDir('flash'), bind: nextLoopbackAddress(),
      connect: [seed.endpoint], keepSeeding: true, startFile: barrier.path,
    }, data.torrent.name)));
    const all = [seed, ...leechers];
    const meter = cpuMeter(all.map(asMetered));
    await barrier.open();
    await Promise.all(leechers.map((p) => p.waitComplete(env.timeoutMs)));
    const use = meter.end();
    const results = await Promise.all(leechers.map((p) => p.stop()));
    const seedRes = await seed.stop();
    const sha256Ok = sumOf(await Promise.all(leechers.map((p) => checkBytes(p, env))));
    const firsts = results.map((r) => r.firstByteAtMs);
    const dones = results.map((r) => r.completeAtMs);
    if (firsts.some((x) => x === null) || dones.some((x) => x === null)) {
      throw new InteropError('BAD_OUTPUT', `flash-crowd ${impl}: a leecher reported no first-byte / complete time`);
    }
    const spanS = (Math.max(...(dones as number[])) - Math.min(...(firsts as number[]))) / 1000;
    const total = data.torrent.totalSize;
    const leechUses = results.map((r, i) => ({ ...leechUse(r, env, leechers[i].proc.label), cpuS: use[i + 1].cpuS, peakRssKiB: use[i + 1].peakRssKiB ?? r.peakRssKiB }));
    return { mbps: (n * total) / spanS / 1e6, spanS, seeder: use[0], seederShare: seedRes.payloadUp / (n * total), leechers: leechUses, sha256Ok };
  } finally {
    await scope.close();
  }
}

// ---------------------------------------------------------------------------
// mixed
// ---------------------------------------------------------------------------

export interface MixedRun {
  leecher: LeechUse;
  seeder: ProcUse;
  qbittorrent: ProcUse;
  transmission: ProcUse;
  /** How far qBittorrent and Transmission had got when the measured leecher completed (0–1). */
  qbtProgress: number;
  trProgress: number;
  sha256Ok: number;
}

/**
 * A swarm of real clients: a libtorrent seeder capped at `upLimit`, a qBittorrent leecher,
 * a Transmission leecher, and the measured leecher (`impl`), started together. The
 * measured leecher dials the other three; qBittorrent is told the seeder and
 * Transmission; the seeder dials Transmission (which never dials a 127.x peer,
 * INTEROP.md rule 1). Transmission listens on an address of its own (qBittorrent is on
 * 127.0.0.1 and never connected to it there). Fresh daemons each run (Transmission
 * never unchokes an address again once a leecher there completed).
 */
export async function mixedRun(env: CaseEnv, impl: SwarmImpl, upLimit: number): Promise<MixedRun> {
  const { data } = env;
  const scope = new InteropScope(`swarm-mixed-${impl}`);
  const timeoutS = Math.ceil(env.timeoutMs / 1000);
  const ih = data.torrent.infoHash;
  try {
    const [tr, qbt] = await Promise.all([scope.startTransmission({ bind: nextLoopbackAddress() }), scope.startQbittorrent()]);
    const qbtSave = await scope.tempDir('qbt-leech');
    const [trId] = await Promise.all([tr.addTorrent(data.torrent.torrentPath), qbt.addTorrent(data.torrent.torrentPath, qbtSave)]);
    await Promise.all([tr.waitActive(trId), qbt.waitDownloading(ih)]);

    const barrier = await StartBarrier.create(scope);
    const common = { torrentPath: data.torrent.torrentPath, timeoutS: timeoutS * 2, pieceLength: data.torrent.pieceLength, startFile: barrier.path };
    const seed = await startSwarmPeer(scope, {
      ...common, impl: 'libtorrent', mode: 'seed', dir: data.dataDir, bind: nextLoopbackAddress(), upLimit, connect: [tr.peerEndpoint],
    }, data.torrent.name, 600_000);
    const leech = await startSwarmPeer(scope, {
      ...common, timeoutS, impl, mode: 'leech', dir: await scope.tempDir('mixed'), bind: nextLoopbackAddress(),
      connect: [seed.endpoint, qbt.peerEndpoint, tr.peerEndpoint],
    }, data.torrent.name);
    const meter = cpuMeter([asMetered(seed), daemonMetered('qbittorrent', qbt), daemonMetered('transmission', tr)]);
    await barrier.open();
    await qbt.addPeers(ih, [seed.endpoint, tr.peerEndpoint]);
    const r = await leech.result(env.timeoutMs + 30_000);
    const [seedUse, qbtUse, trUse] = meter.end();
    const [qi, ti] = await Promise.all([qbt.info(ih), tr.torrent(trId)]);
    const sha256Ok = await checkBytes(leech, env);
    return {
      leecher: leechUse(r, env, leech.proc.label), seeder: seedUse, qbittorrent: qbtUse, transmission: trUse,
      qbtProgress: qi?.progress ?? 0, trProgress: ti.percentDone, sha256Ok,
    };
  } finally {
    await scope.close();
  }
}

function daemonMetered(label: string, d: QbittorrentDaemon | TransmissionDaemon): { label: string; cpuNow(): number | null; peakRssNow(): number | null } {
  return { label, cpuNow: () => procCpuSeconds(d.pid), peakRssNow: () => procPeakRssKiB(d.pid) };
}
