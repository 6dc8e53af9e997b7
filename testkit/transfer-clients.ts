/**
 * Building blocks of `bench:transfer`: the cached data file and torrent, the
 * seeder/leecher interfaces every implementation plugs into (libtorrent now, our
 * peer later), the libtorrent implementations, and one measured transfer.
 *
 * What is measured, and how:
 * - MB/s = torrent size (10^6 bytes per MB) / seconds from the leecher's first
 *   payload byte to the leecher holding every verified piece. Start-up (the
 *   seeder's hash check, process start) and connection set-up are excluded.
 * - CPU seconds of each side during the transfer: user + system, all threads,
 *   from the seeder being ready to it being stopped after the leecher finished
 *   (libtorrent: getrusage in lt_peer.py between READY and RESULT).
 * - Every transfer's result is compared by sha256 with the source.
 */
import { existsSync, statSync } from 'node:fs';
import type { OurPeerResult } from './our-peer.js';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InteropError, InteropScope, createTorrent, endpointString, makeRandomFile, nextLoopbackAddress, sha256File,
  type Endpoint, type LibtorrentEncryption, type ManagedProcess, type TorrentInfo,
} from './clients.js';
import type { EncryptionMode } from '../wire/mse/policy.js';

export const MiB = 1 << 20;

// ---------------------------------------------------------------------------
// The data: one random file and its v1 torrent, created once and reused
// ---------------------------------------------------------------------------

export interface TransferData {
  /** The source file (seeders serve it in place; nobody writes to it). */
  dataPath: string;
  /** Its directory: a seeder's save path. */
  dataDir: string;
  torrent: TorrentInfo;
  /** Hex sha256 of the file, to check every leecher's result. */
  sha256: string;
}

/**
 * The repository root: the nearest directory with a package.json above this module
 * (dist/bench/ → the checkout), else above the working directory (a build emitted
 * outside the checkout, e.g. `tsc --outDir /tmp/x`).
 */
export function repoRoot(): string {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      if (existsSync(path.join(dir, 'package.json'))) return dir;
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new Error(`no package.json above ${fileURLToPath(import.meta.url)} or ${process.cwd()}`);
}

/** `.bench-data/` at the repository root (gitignored), or $SEEDPAY_BENCH_DATA. */
export function benchDataDir(): string {
  return process.env.SEEDPAY_BENCH_DATA ?? path.join(repoRoot(), '.bench-data');
}

/**
 * The random file of `sizeBytes` and its torrent with `pieceLength` pieces, from the
 * cache dir when a previous run left them there, created otherwise (written under a
 * temporary name and renamed, so an interrupted run leaves no half file behind).
 */
export async function ensureBenchData(sizeBytes: number, pieceLength: number, cacheDir: string = benchDataDir(),
  log: (m: string) => void = () => {}): Promise<TransferData> {
  const base = `transfer-${sizeBytes / MiB}MiB`;
  const dataDir = path.join(cacheDir, base);
  const dataPath = path.join(dataDir, `${base}.bin`);
  const torrentPath = path.join(cacheDir, `${base}-${pieceLength / 1024}KiB.torrent`);
  const metaPath = `${torrentPath}.json`;
  await mkdir(dataDir, { recursive: true });

  let sha256: string | null = null;
  const shaPath = `${dataPath}.sha256`;
  if (existsSync(dataPath) && statSync(dataPath).size === sizeBytes && existsSync(shaPath)) {
    sha256 = (await readFile(shaPath, 'utf8')).trim();
  } else {
    log(`creating ${sizeBytes / MiB} MiB of random data in ${dataPath}`);
    await rm(shaPath, { force: true });
    const tmp = `${dataPath}.partial-${process.pid}`;
    await makeRandomFile(tmp, sizeBytes);
    await rename(tmp, dataPath);
    await rm(metaPath, { force: true }); // an old torrent does not describe the new bytes
    sha256 = await sha256File(dataPath);
    await writeFile(shaPath, sha256 + '\n');
  }

  let torrent: TorrentInfo | null = null;
  if (existsSync(metaPath) && existsSync(torrentPath)) {
    const m = JSON.parse(await readFile(metaPath, 'utf8')) as TorrentInfo;
    if (m.totalSize === sizeBytes && m.pieceLength === pieceLength) torrent = { ...m, torrentPath };
  }
  if (torrent === null) {
    log(`creating ${path.basename(torrentPath)} (${pieceLength / 1024} KiB pieces)`);
    const tmp = `${torrentPath}.partial-${process.pid}`;
    const info = await createTorrent(dataPath, tmp, { pieceLength });
    await rename(tmp, torrentPath);
    torrent = { ...info, torrentPath };
    await writeFile(metaPath, JSON.stringify(torrent) + '\n');
  }
  return { dataPath, dataDir, torrent, sha256 };
}

// ---------------------------------------------------------------------------
// The extension point: what a seeder and a leecher implementation provide
// ---------------------------------------------------------------------------

/** Resource use of one side during one transfer. */
export interface PeerStats {
  /** User + system CPU seconds, all threads, during the transfer. */
  cpuS: number;
  /** Peak resident set in KiB, or null when unknown. */
  peakRssKiB: number | null;
}

export interface SeedContext {
  /** Owns processes and temp dirs of this transfer; closed after it. */
  scope: InteropScope;
  data: TransferData;
  /** Loopback address to listen on (a fresh 127.0.0.x per transfer). */
  bind: string;
}

export interface RunningSeeder {
  /** Where the leecher dials. */
  endpoint: Endpoint;
  /** Stop serving (the leecher has finished) and report this side's use. */
  stop(): Promise<PeerStats>;
}

/** A seeder implementation: serve `ctx.data` from `ctx.data.dataDir` (read-only). */
export interface SeederImpl {
  /** Short name for reports, e.g. "libtorrent-2.0.8" or "seedpay". */
  readonly name: string;
  /** Resolves once it listens and has the data ready to serve (checks excluded from timing). */
  start(ctx: SeedContext): Promise<RunningSeeder>;
}

export interface LeechContext {
  scope: InteropScope;
  data: TransferData;
  /** Empty directory to download into (removed after the transfer). */
  saveDir: string;
  /** Source address for the connection to the seeder. */
  bind: string;
  /** The seeder to dial. */
  seeder: Endpoint;
  timeoutMs: number;
}

export interface LeechOutcome extends PeerStats {
  /** The downloaded file, to be compared by sha256 with the source. */
  outputPath: string;
  /** Seconds from the first payload byte received to every piece verified. */
  firstByteToDoneS: number;
  /** Seconds from the connection being established to done, when known. */
  peerToDoneS: number | null;
}

/** A leecher implementation: dial `ctx.seeder`, download everything, verify, stop. */
export interface LeecherImpl {
  readonly name: string;
  run(ctx: LeechContext): Promise<LeechOutcome>;
}

// ---------------------------------------------------------------------------
// libtorrent implementations (scripts/lt_peer.py: TCP only, plaintext first)
// ---------------------------------------------------------------------------

/** libtorrent's MSE setting for a bench peer: its default, or MSE with RC4 forced both ways. */
export interface LibtorrentPeerSettings {
  encryption?: LibtorrentEncryption;
}

export function libtorrentSeeder(name = 'libtorrent', o: LibtorrentPeerSettings = {}): SeederImpl {
  return {
    name,
    async start(ctx) {
      // no seed_mode: the full hash check runs before READY, so the transfer is pure serving
      const peer = await ctx.scope.startLibtorrent({
        mode: 'seed', torrentPath: ctx.data.torrent.torrentPath, saveDir: ctx.data.dataDir, bind: ctx.bind,
        timeoutS: 3600, readyTimeoutMs: 600_000, ...(o.encryption !== undefined ? { encryption: o.encryption } : {}),
      });
      return {
        endpoint: peer.endpoint,
        async stop() {
          const r = await peer.stop();
          if (r === null) throw new InteropError('BAD_OUTPUT', `libtorrent seeder printed no RESULT\n${peer.proc.tail()}`);
          return { cpuS: r.cpu_transfer_s, peakRssKiB: r.peak_rss_kib };
        },
      };
    },
  };
}

export function libtorrentLeecher(name = 'libtorrent', o: LibtorrentPeerSettings = {}): LeecherImpl {
  return {
    name,
    async run(ctx) {
      const peer = await ctx.scope.startLibtorrent({
        mode: 'leech', torrentPath: ctx.data.torrent.torrentPath, saveDir: ctx.saveDir, bind: ctx.bind,
        connect: [ctx.seeder], timeoutS: Math.ceil(ctx.timeoutMs / 1000) + 5, ...(o.encryption !== undefined ? { encryption: o.encryption } : {}),
      });
      const r = await peer.result(ctx.timeoutMs + 30_000);
      if (!r.complete || r.first_byte_to_done_s === null || r.first_byte_to_done_s < 0) {
        throw new InteropError('TIMEOUT', `libtorrent leecher did not complete: ${JSON.stringify(r)}`);
      }
      return {
        outputPath: path.join(ctx.saveDir, ctx.data.torrent.name),
        // lt_peer.py polls every 50 ms: a small torrent can arrive whole between two
        // polls and read 0 s. Count one poll interval then (MB/s is a lower bound);
        // the benchmark's sizes (64 MiB and up) take many polls.
        firstByteToDoneS: Math.max(r.first_byte_to_done_s, 0.05),
        peerToDoneS: r.peer_to_done_s,
        cpuS: r.cpu_transfer_s,
        peakRssKiB: r.peak_rss_kib,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// Our implementations (testkit/our-peer.ts, one Node process per side)
// ---------------------------------------------------------------------------

/**
 * How to run bench/our-peer next to this module: the compiled .js with node, or the
 * .ts source through tsx (when the benchmark itself runs under tsx).
 */
export function ourPeerCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const script = path.join(path.dirname(here), `our-peer${ext}`);
  if (!existsSync(script)) throw new InteropError('CLIENT_MISSING', `no ${script}`);
  return ext === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', script] } : { cmd: process.execPath, args: [script] };
}

export interface OurPeerSettings {
  /** Advertise the fast extension (default true). */
  fast?: boolean;
  /** MSE/PE policy (default the Client's: prefer). */
  encryption?: EncryptionMode;
  /** The client's rate limits, bytes/s (default none). */
  uploadLimit?: number;
  downloadLimit?: number;
}

function ourPeerArgs(mode: 'seed' | 'leech', torrent: string, dir: string, bind: string, connect: readonly Endpoint[], timeoutS: number, o: OurPeerSettings): string[] {
  const args = [mode, torrent, dir, '--bind', bind, '--timeout', String(timeoutS)];
  for (const c of connect) args.push('--connect', endpointString(c));
  if (o.fast === false) args.push('--no-fast');
  if (o.encryption !== undefined) args.push('--encryption', o.encryption);
  if (o.uploadLimit !== undefined) args.push('--up-limit', String(o.uploadLimit));
  if (o.downloadLimit !== undefined) args.push('--down-limit', String(o.downloadLimit));
  return args;
}

function ourResult(proc: ManagedProcess): OurPeerResult | null {
  const line = proc.lines().find((l) => l.startsWith('RESULT '));
  if (line === undefined) return null;
  try {
    return JSON.parse(line.slice('RESULT '.length)) as OurPeerResult;
  } catch (e) {
    throw new InteropError('BAD_OUTPUT', `unparsable ${line}: ${(e as Error).message}`);
  }
}

async function startOurPeer(scope: InteropScope, label: string, args: string[], readyTimeoutMs: number): Promise<{ proc: ManagedProcess; port: number }> {
  const { cmd, args: pre } = ourPeerCommand();
  const proc = scope.spawn(label, cmd, [...pre, ...args]);
  const ready = await proc.waitForLine((l) => l.startsWith('READY '), readyTimeoutMs, 'READY line');
  const port = Number(/port=(\d+)/.exec(ready)?.[1] ?? 0);
  if (!(port > 0)) throw new InteropError('BAD_OUTPUT', `our-peer did not listen: ${ready}\n${proc.tail()}`);
  return { proc, port };
}

export function ourSeeder(name = 'seedpay', o: OurPeerSettings = {}): SeederImpl {
  return {
    name,
    async start(ctx) {
      // our seeder rechecks the data before READY, like the libtorrent seeder
      const { proc, port } = await startOurPeer(ctx.scope, `ours-seed@${ctx.bind}`,
        ourPeerArgs('seed', ctx.data.torrent.torrentPath, ctx.data.dataDir, ctx.bind, [], 3600, o), 600_000);
      if (proc.lines().some((l) => l.startsWith('WARN seeder is not complete'))) {
        throw new InteropError('BAD_OUTPUT', `our seeder does not have the data in ${ctx.data.dataDir}\n${proc.tail()}`);
      }
      return {
        endpoint: { host: ctx.bind, port },
        async stop() {
          await proc.stop(10_000);
          const r = ourResult(proc);
          if (r === null) throw new InteropError('BAD_OUTPUT', `our seeder printed no RESULT\n${proc.tail()}`);
          return { cpuS: r.cpu_transfer_s, peakRssKiB: r.peak_rss_kib };
        },
      };
    },
  };
}

export function ourLeecher(name = 'seedpay', o: OurPeerSettings = {}): LeecherImpl {
  return {
    name,
    async run(ctx) {
      const { proc } = await startOurPeer(ctx.scope, `ours-leech@${ctx.bind}`,
        ourPeerArgs('leech', ctx.data.torrent.torrentPath, ctx.saveDir, ctx.bind, [ctx.seeder], Math.ceil(ctx.timeoutMs / 1000) + 2, o), 120_000);
      await proc.waitForLine((l) => l.startsWith('RESULT '), ctx.timeoutMs + 30_000, 'RESULT line');
      await proc.waitExit(30_000);
      const r = ourResult(proc)!;
      if (!r.complete || r.first_byte_to_done_s === null || r.first_byte_to_done_s <= 0) {
        throw new InteropError('TIMEOUT', `our leecher did not complete: ${JSON.stringify(r)}\n${proc.tail()}`);
      }
      return {
        outputPath: path.join(ctx.saveDir, ctx.data.torrent.name),
        firstByteToDoneS: r.first_byte_to_done_s,
        peerToDoneS: r.peer_to_done_s,
        cpuS: r.cpu_transfer_s,
        peakRssKiB: r.peak_rss_kib,
      };
    },
  };
}

// ---------------------------------------------------------------------------
// One measured transfer
// ---------------------------------------------------------------------------

export interface TransferSample {
  /** Torrent bytes / leecher's first-byte-to-done seconds, in 10^6 bytes per second. */
  mbps: number;
  firstByteToDoneS: number;
  peerToDoneS: number | null;
  seeder: PeerStats;
  leecher: PeerStats;
}

/**
 * Seed with `seeder`, download with `leecher` (which dials the seeder from another
 * loopback address), check the bytes, and clean up everything (processes, the
 * downloaded copy). Throws on any failure, including a sha256 mismatch.
 */
export async function measureTransfer(seeder: SeederImpl, leecher: LeecherImpl, data: TransferData, timeoutMs: number): Promise<TransferSample> {
  const scope = new InteropScope('bench');
  try {
    const running = await seeder.start({ scope, data, bind: nextLoopbackAddress() });
    const saveDir = await scope.tempDir('leech');
    const out = await leecher.run({ scope, data, saveDir, bind: nextLoopbackAddress(), seeder: running.endpoint, timeoutMs });
    const seederStats = await running.stop();
    const got = await sha256File(out.outputPath);
    if (got !== data.sha256) throw new InteropError('HASH_MISMATCH', `${seeder.name}→${leecher.name}: sha256 ${got}, expected ${data.sha256}`);
    return {
      mbps: data.torrent.totalSize / out.firstByteToDoneS / 1e6,
      firstByteToDoneS: out.firstByteToDoneS,
      peerToDoneS: out.peerToDoneS,
      seeder: seederStats,
      leecher: { cpuS: out.cpuS, peakRssKiB: out.peakRssKiB },
    };
  } finally {
    await scope.close();
  }
}
