/**
 * Our peer as a process of its own for `bench:transfer`, the counterpart of
 * test/interop/scripts/lt_peer.py: seed or leech one torrent over TCP on loopback,
 * so that CPU seconds and peak RSS are this process's alone (an in-process peer
 * would share both with the benchmark driver and with the other side).
 *
 *   node our-peer.js seed|leech TORRENT DIR --bind 127.0.0.x [--connect HOST:PORT]…
 *        [--no-fast] [--encryption require|prefer|off] [--up-limit B] [--down-limit B] [--timeout S] [--quiet]
 *        [--keep-seeding] [--start-file PATH]
 *
 * --up-limit / --down-limit: the client's rate limits in bytes/s (benches cap our seeders with them).
 * --keep-seeding: a leecher prints `DONE first_byte_at_ms=… complete_at_ms=…` when complete and
 *   goes on seeding until SIGTERM (a swarm's leechers serve each other until all are done).
 * --start-file PATH: after READY, dial the --connect peers only once PATH exists, so that a
 *   benchmark can start many peers together (as lt_peer.py's --start-file).
 *
 * Prints `READY port=N pid=P cpu_s=C` once listening with the data checked (a seeder
 * rechecks DIR first; that is start-up, not transfer), progress lines, and one
 * `RESULT {json}` line (fields below) — a leecher when it holds every verified piece,
 * a seeder when SIGTERM/SIGINT stops it. Exit status 0, or 2 when a leecher timed out.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseTorrent } from '../format/metainfo.js';
import type { PeerSession } from '../lib/engine/peer-session.js';
import type { PeerProcessResult } from './clients.js';
import { boundClient } from './ours-helpers.js';
import { isEncryptionMode, type EncryptionMode } from '../wire/mse/policy.js';

/** The RESULT line: the fields lt_peer.py prints that the benchmark reads (same names), and ours. */
export interface OurPeerResult extends PeerProcessResult {
  wasted: number;
  hash_failures: number;
  /** Peer client names (extended handshake `v`). */
  peers: string[];
  /** cpu_transfer_s split into user and system (kernel: socket and page-cache copies). */
  cpu_transfer_user_s: number;
  cpu_transfer_sys_s: number;
  /** Peak V8 heap used and external (Buffer) memory seen by the 1 s sampler, KiB. */
  peak_heap_kib: number;
  peak_external_kib: number;
  /** Epoch ms of the first payload byte and of holding every piece (one clock for many processes). */
  first_byte_at_ms: number | null;
  complete_at_ms: number | null;
}

interface Args {
  mode: 'seed' | 'leech';
  torrent: string;
  dir: string;
  bind: string;
  connect: string[];
  fast: boolean;
  encryption: EncryptionMode;
  uploadLimit: number;
  downloadLimit: number;
  timeoutS: number;
  quiet: boolean;
  keepSeeding: boolean;
  startFile: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const pos: string[] = [];
  const a: Omit<Args, 'mode' | 'torrent' | 'dir'> = { bind: '127.0.0.1', connect: [], fast: true, encryption: 'prefer', uploadLimit: 0, downloadLimit: 0, timeoutS: 600, quiet: false, keepSeeding: false, startFile: null };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--bind') a.bind = argv[++i];
    else if (x === '--connect') a.connect.push(argv[++i]);
    else if (x === '--no-fast') a.fast = false;
    else if (x === '--encryption') {
      const m = argv[++i];
      if (!isEncryptionMode(m)) throw new Error(`--encryption must be require, prefer or off (got ${m})`);
      a.encryption = m;
    }
    else if (x === '--up-limit') a.uploadLimit = Number(argv[++i]);
    else if (x === '--down-limit') a.downloadLimit = Number(argv[++i]);
    else if (x === '--timeout') a.timeoutS = Number(argv[++i]);
    else if (x === '--quiet') a.quiet = true;
    else if (x === '--keep-seeding') a.keepSeeding = true;
    else if (x === '--start-file') a.startFile = argv[++i];
    else if (x.startsWith('--')) throw new Error(`unknown option ${x}`);
    else pos.push(x);
  }
  if (pos.length !== 3 || (pos[0] !== 'seed' && pos[0] !== 'leech')) {
    throw new Error('usage: our-peer seed|leech TORRENT DIR --bind HOST [--connect HOST:PORT]... [--no-fast] [--encryption MODE] [--up-limit B] [--down-limit B] [--timeout S] [--quiet] [--keep-seeding] [--start-file PATH]');
  }
  if (!(a.timeoutS > 0)) throw new Error('--timeout needs a positive number of seconds');
  if (!(a.uploadLimit >= 0 && a.downloadLimit >= 0)) throw new Error('--up-limit / --down-limit need bytes/s ≥ 0');
  return { mode: pos[0], torrent: pos[1], dir: pos[2], ...a };
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
/** performance.now() as epoch ms: lt_peer.py stamps with time.time(), the same clock. */
const epochMs = (t: number | null): number | null => (t === null ? null : Math.round(performance.timeOrigin + t));

/** Resolve once `file` exists (polled every 5 ms: a start barrier, not a hot path). */
async function waitForFile(file: string): Promise<void> {
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 5));
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const meta = parseTorrent(await readFile(a.torrent));
  const client = boundClient({ fast: a.fast, encryption: a.encryption, uploadLimit: a.uploadLimit, downloadLimit: a.downloadLimit }, a.bind);
  const port = await client.listen(0, a.bind);

  let firstByte: number | null = null;
  let firstPeer: number | null = null;
  let tDone: number | null = null;
  const peers: PeerSession[] = [];
  const tor = await client.add(meta, {
    dir: a.dir,
    peers: a.mode === 'leech' && a.startFile === null ? a.connect : [],
    onPeerEvent: (_s, ev) => {
      if (firstByte === null && ev.type === 'piece') firstByte = performance.now();
    },
  });
  tor.on('peer', (s) => {
    if (firstPeer === null) firstPeer = performance.now();
    peers.push(s);
  });
  tor.on('error', (e) => process.stdout.write(`ERROR ${e.message}\n`));
  if (a.mode === 'seed' && !tor.isComplete) process.stdout.write(`WARN seeder is not complete (${tor.progress().have}/${tor.progress().total}) - wrong dir?\n`);

  let peakHeap = 0;
  let peakExt = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExt = Math.max(peakExt, m.external + m.arrayBuffers);
  };
  const tReady = performance.now();
  const cpuReady = cpuS();
  const usageReady = process.cpuUsage();
  process.stdout.write(`READY port=${port} pid=${process.pid} cpu_s=${r3(cpuReady)} complete=${tor.isComplete}\n`);
  if (a.startFile !== null) await waitForFile(a.startFile);
  // a seeder dials here; a leecher too when it waited for the start file
  if (a.mode === 'seed' || a.startFile !== null) for (const c of a.connect) tor.addPeer(c);

  const sampler = setInterval(() => {
    sample();
    if (a.quiet) return;
    const p = tor.progress();
    const st = tor.stats();
    process.stdout.write(`t=${((performance.now() - tReady) / 1000).toFixed(1)}s have=${p.have}/${p.total} down=${st.downloaded} up=${st.uploaded} peers=${st.peers}\n`);
  }, 1000);

  const outcome = await new Promise<'done' | 'stopped' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), a.timeoutS * 1000);
    const stop = (): void => { clearTimeout(timer); resolve('stopped'); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (a.mode === 'leech') {
      const done = (): void => {
        tDone = performance.now();
        if (!a.keepSeeding) {
          clearTimeout(timer);
          resolve('done');
          return;
        }
        process.stdout.write(`DONE first_byte_at_ms=${epochMs(firstByte ?? tDone)} complete_at_ms=${epochMs(tDone)}\n`);
      };
      if (tor.isComplete) done();
      else tor.once('done', done);
    }
  });
  const tEnd = tDone ?? performance.now();
  sample();
  clearInterval(sampler);
  const st = tor.stats();
  const res: OurPeerResult = {
    mode: a.mode,
    complete: tor.isComplete,
    total_bytes: meta.totalLength,
    wall_s: r3((tEnd - tReady) / 1000),
    peer_to_done_s: firstPeer === null ? null : r3((tEnd - firstPeer) / 1000),
    first_byte_to_done_s: firstByte === null ? null : r3((tEnd - firstByte) / 1000),
    payload_down: st.downloaded,
    payload_up: st.uploaded,
    wasted: st.wasted,
    hash_failures: st.hashFailures,
    peers: peers.map((s) => s.conn.peerExtendedHandshake?.v ?? '?'),
    cpu_s: r3(cpuS()),
    cpu_transfer_s: r3(cpuS() - cpuReady),
    cpu_transfer_user_s: r3(process.cpuUsage(usageReady).user / 1e6),
    cpu_transfer_sys_s: r3(process.cpuUsage(usageReady).system / 1e6),
    peak_rss_kib: process.resourceUsage().maxRSS,
    peak_heap_kib: Math.round(peakHeap / 1024),
    peak_external_kib: Math.round(peakExt / 1024),
    first_byte_at_ms: epochMs(firstByte),
    complete_at_ms: epochMs(tDone),
  };
  // RESULT before close: the data is on disk already (a piece is 'have' once written)
  process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  if (outcome === 'timeout') process.stdout.write('TIMEOUT\n');
  await client.close();
  return outcome === 'timeout' ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
