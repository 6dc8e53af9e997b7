/**
 * Load: one seeder, many concurrent leechers on loopback (ISSUE 6 item 3).
 *
 *   node dist/bench/load.js [--leechers N] [--mib M] [--procs P] [--quick] [--json]
 *
 * The seeder is a child process of its own (this file with `--role seed`) so that its
 * CPU seconds, peak RSS and open file descriptors are its alone; the leechers live in
 * P other children (`--role leech`), each holding N/P Clients, one torrent each.
 * The driver (no --role) counts the seeder's /proc/<pid>/fd before any leecher, at the
 * busiest moment, and after every leecher left; it exits non-zero when a leecher did
 * not complete or the seeder kept descriptors or sessions.
 *
 * Cases (BENCH.md; there is no baseline client for this shape of load):
 *   load/load-500-leechers    MB/s of payload delivered in total, all leechers together
 *   load/load-seeder-peak-rss MiB, better lower
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from '../lib/net/client.js';
import { parseTorrent } from '../format/metainfo.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { log, makeCase, quickMode, report } from '../testkit/bench-report.js';

const MiB = 1024 * 1024;
const SELF = fileURLToPath(import.meta.url);

function argValue(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!(Number.isSafeInteger(v) && v > 0)) throw new Error(`${name} needs a positive integer`);
  return v;
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Open descriptors of a process (Linux /proc). */
function fdCount(pid: number | 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What each open descriptor points at (to name a leak). */
function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const f of readdirSync(`/proc/${pid}/fd`)) {
    try { out.push(readlinkSync(`/proc/${pid}/fd/${f}`)); } catch { /* closed meanwhile */ }
  }
  return out;
}

// ------------------------------------------------------------------ seeder child

/**
 * Serves one torrent to up to `peers` leechers, every one of them unchoked (the default
 * 4 slots would make this a test of the choker's rotation, not of load). Answers a line
 * "stat" on stdin with `STAT {json}`; SIGTERM prints `RESULT {json}` and exits.
 */
async function seedRole(torrentPath: string, dir: string, peers: number): Promise<void> {
  // every leecher dials from 127.0.0.1: the per-address half-open cap must not bite here
  const client = new Client({ hashThreads: 0, maxPendingConnections: peers + 64, maxPendingPerAddress: peers + 64 });
  const port = await client.listen(0, '127.0.0.1');
  const tor: Torrent = await client.add(await readFile(torrentPath), { dir, uploadSlots: peers, maxPeers: peers + 16 });
  if (!tor.isComplete) throw new Error('seeder data incomplete');
  let peakPeers = 0;
  tor.on('peer', () => { peakPeers = Math.max(peakPeers, tor.peers().length); });
  const cpuReady = cpuS();
  process.stdout.write(`READY ${JSON.stringify({ port, pid: process.pid })}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() !== 'stat') return;
    const st = tor.stats();
    process.stdout.write(`STAT ${JSON.stringify({ peers: st.peers, peakPeers, uploaded: st.uploaded })}\n`);
  });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  rl.close();
  const st = tor.stats();
  process.stdout.write(`RESULT ${JSON.stringify({
    peak_rss_kib: process.resourceUsage().maxRSS, cpu_s: cpuS(), cpu_transfer_s: cpuS() - cpuReady,
    uploaded: st.uploaded, peers: st.peers, peakPeers,
  })}\n`);
  await client.close();
}

// ------------------------------------------------------------------ leecher child

interface LeechResult { ok: number; failed: number; bytes: number; t0: number; tEnd: number; errors: string[] }

/** `count` Clients, each downloading the torrent from the seeder, all at once; closes each when done. */
async function leechRole(torrentPath: string, port: number, count: number, root: string, timeoutS: number): Promise<void> {
  const meta = parseTorrent(await readFile(torrentPath));
  const t0 = Date.now();
  let tEnd = t0;
  let ok = 0;
  let bytes = 0;
  const errors: string[] = [];
  const one = async (i: number): Promise<void> => {
    const dir = join(root, String(i));
    // hashThreads 0: a hash worker per Client would be hundreds of threads
    const c = new Client({ hashThreads: 0 });
    try {
      const t = await c.add(meta, { dir, peers: [`127.0.0.1:${port}`] });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout at ${t.progress().have}/${t.progress().total}`)), timeoutS * 1000);
        const done = (): void => { clearTimeout(timer); resolve(); };
        if (t.isComplete) done();
        else t.once('done', done);
      });
      tEnd = Math.max(tEnd, Date.now());
      bytes += t.stats().downloaded;
      ok++;
    } catch (e) {
      if (errors.length < 10) errors.push(`leecher ${i}: ${(e as Error).message}`);
    } finally {
      await c.close();
      await rm(dir, { recursive: true, force: true }); // 500 copies would not fit page cache
    }
  };
  await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  const r: LeechResult = { ok, failed: count - ok, bytes, t0, tEnd, errors };
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
}

// ------------------------------------------------------------------ driver

interface Child { proc: ChildProcess; lines: AsyncIterableIterator<string>; next(prefix: string): Promise<string> }

function child(args: string[]): Child {
  const proc = spawn(process.execPath, [SELF, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const lines = rl[Symbol.asyncIterator]();
  return {
    proc, lines,
    async next(prefix: string): Promise<string> {
      for (;;) {
        const r = await lines.next();
        if (r.done) throw new Error(`child ${args[1]} ended before ${prefix}`);
        if (r.value.startsWith(prefix + ' ')) return r.value.slice(prefix.length + 1);
        log(`[${args[1]}] ${r.value}`);
      }
    },
  };
}

interface SeedStat { peers: number; peakPeers: number; uploaded: number }

async function driver(): Promise<number> {
  const leechers = argValue('--leechers', quickMode ? 50 : 500);
  const mib = argValue('--mib', quickMode ? 2 : 16);
  const procs = Math.min(leechers, argValue('--procs', quickMode ? 2 : 4));
  const root = await mkdtemp(join(tmpdir(), 'seedpay-load-'));
  let seeder: Child | null = null;
  const leechKids: Child[] = [];
  try {
    const data = join(root, 'seed', 'load.bin');
    await mkdir(join(root, 'seed'), { recursive: true });
    await writeFile(data, randomBytes(mib * MiB));
    const { torrent } = await createTorrentFromPath(data, { pieceLength: 256 * 1024 });
    const tfile = join(root, 'load.torrent');
    await writeFile(tfile, torrent);

    seeder = child(['--role', 'seed', tfile, join(root, 'seed'), String(leechers)]);
    const ready = JSON.parse(await seeder.next('READY')) as { port: number; pid: number };
    const sp = seeder;
    let statChain = Promise.resolve<SeedStat | null>(null);
    const stat = (): Promise<SeedStat> => {
      const p = statChain.then(async () => { sp.proc.stdin!.write('stat\n'); return JSON.parse(await sp.next('STAT')) as SeedStat; });
      statChain = p.catch(() => null);
      return p;
    };
    const fdsBefore = fdCount(ready.pid);
    const targetsBefore = fdTargets(ready.pid);
    log(`[load] seeder pid ${ready.pid} port ${ready.port}, fds ${fdsBefore}; ${leechers} leechers of ${mib} MiB in ${procs} processes`);

    const per = Math.ceil(leechers / procs);
    let left = leechers;
    const results: Promise<LeechResult>[] = [];
    for (let p = 0; p < procs; p++) {
      const n = Math.min(per, left);
      left -= n;
      const dir = join(root, `leech${p}`);
      const k = child(['--role', 'leech', tfile, String(ready.port), String(n), dir, String(quickMode ? 120 : 600)]);
      leechKids.push(k);
      results.push(k.next('RESULT').then((s) => JSON.parse(s) as LeechResult));
    }

    // Sample the seeder while the leechers run: fds at the busiest moment, load average.
    let fdsPeak = fdsBefore;
    let load1Peak = 0;
    let running = true;
    const sampler = (async (): Promise<void> => {
      while (running) {
        try { fdsPeak = Math.max(fdsPeak, fdCount(ready.pid)); } catch { /* gone */ }
        load1Peak = Math.max(load1Peak, loadavg()[0]);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const rs = await Promise.all(results);
    running = false;
    await sampler;
    await Promise.all(leechKids.map((k) => new Promise((r) => k.proc.exitCode !== null ? r(null) : k.proc.once('exit', r))));

    // After every leecher left: the seeder notices each close; give it a moment.
    // (counted from here: the seeder's own readdir of /proc/self/fd holds one more)
    const afterNow = async (): Promise<{ fds: number; peers: number }> => ({ peers: (await stat()).peers, fds: fdCount(ready.pid) });
    let after = await afterNow();
    for (let i = 0; i < 50 && (after.fds > fdsBefore || after.peers > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await afterNow();
    }
    const load = loadavg();
    if (after.fds > fdsBefore) {
      const extraFds = fdTargets(ready.pid);
      for (const t of targetsBefore) { const j = extraFds.indexOf(t); if (j >= 0) extraFds.splice(j, 1); }
      log(`[load] fds the seeder opened and kept: ${extraFds.join(', ')}`);
    }
    seeder.proc.kill('SIGTERM');
    const sres = JSON.parse(await seeder.next('RESULT')) as { peak_rss_kib: number; cpu_s: number; cpu_transfer_s: number; uploaded: number; peakPeers: number };

    const ok = rs.reduce((a, r) => a + r.ok, 0);
    const failed = rs.reduce((a, r) => a + r.failed, 0);
    const bytes = rs.reduce((a, r) => a + r.bytes, 0);
    const wall = (Math.max(...rs.map((r) => r.tEnd)) - Math.min(...rs.map((r) => r.t0))) / 1000;
    for (const r of rs) for (const e of r.errors) log(`[load] ${e}`);
    const mbps = bytes / 1e6 / wall;
    const extra = {
      leechers, torrent_mib: mib, completed: ok, failed, wall_s: Math.round(wall * 100) / 100,
      seeder_cpu_s: Math.round(sres.cpu_transfer_s * 100) / 100, seeder_peak_peers: sres.peakPeers,
      fds_before: fdsBefore, fds_peak: fdsPeak, fds_after: after.fds, peers_after: after.peers,
      load1_peak: Math.round(load1Peak * 100) / 100, loadavg: load.map((x) => x.toFixed(2)).join('/'),
    };
    report(makeCase({ bench: 'load', case: `load-${leechers}-leechers`, unit: 'MB/s', ours: [mbps], extra }));
    report(makeCase({
      bench: 'load', case: 'load-seeder-peak-rss', unit: 'MiB', better: 'lower', ours: [sres.peak_rss_kib / 1024],
      extra: { leechers, seeder_cpu_s: extra.seeder_cpu_s },
    }));
    const leak = after.fds > fdsBefore || after.peers > 0;
    if (failed > 0) log(`[load] FAIL: ${failed} leechers did not complete`);
    if (leak) log(`[load] FAIL: seeder kept ${after.fds - fdsBefore} fds / ${after.peers} sessions after every leecher left`);
    return failed > 0 || leak ? 1 : 0;
  } finally {
    for (const k of [seeder, ...leechKids]) if (k !== null && k.proc.exitCode === null) k.proc.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ entry

async function main(): Promise<number> {
  const i = process.argv.indexOf('--role');
  if (i < 0) return driver();
  const [role, a, b, c, d, e] = process.argv.slice(i + 1);
  if (role === 'seed') await seedRole(a, b, Number(c));
  else if (role === 'leech') await leechRole(a, Number(b), Number(c), d, Number(e));
  else throw new Error(`unknown role ${role}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
