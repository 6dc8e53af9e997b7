/**
 * The seeder of testkit/hostile-bench.ts as a process of its own, so that its peak RSS
 * (getrusage ru_maxrss) and CPU seconds are its alone and not the attackers' or
 * the driver's.
 *
 *   node hostile-seeder.js TORRENT DIR --bind HOST [--handshake-timeout MS] [--no-throttle]
 *
 * Serves TORRENT from DIR (trusted complete: no recheck, the honest leecher verifies
 * every piece), prints `READY {"port":N,"pid":P}`, and on SIGTERM one
 * `RESULT {json}` line (SeederResult) and exits. SIGUSR1 prints `SNAPSHOT {json}`
 * (accepted and closes so far).
 *
 * Every connection's end is counted by source host and typed reason: sessions that
 * reached the torrent through 'peer_closed', sessions that never finished the
 * handshake through the Client's pending set (the only place they are visible),
 * and sockets refused outright at accept through the Client's 'refused' event:
 * `REFUSED_AT_PENDING_CAP` (the pending cap was full) and `REFUSED_THROTTLED` (the
 * address is banned for its violations; `--no-throttle` turns the throttle off, to
 * measure what it saves).
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, type ClientOptions, type RefusedReason } from '../lib/net/client.js';
import type { PeerSession } from '../lib/engine/peer-session.js';

export interface SeederResult {
  /** Peak resident set of the process, KiB (getrusage ru_maxrss). */
  peak_rss_kib: number;
  /** Peak V8 heap + external/arrayBuffers seen by a 50 ms sampler, KiB. */
  peak_heap_kib: number;
  peak_external_kib: number;
  /** CPU seconds (user + system) from READY to SIGTERM. */
  cpu_s: number;
  /** Payload bytes served. */
  uploaded: number;
  /** TCP connections the server accepted. */
  accepted: number;
  /** host → close reason code → count. */
  closes: Record<string, Record<string, number>>;
}

/** The close-reason label of each kind of refusal at accept. */
export const REFUSED_LABEL: Record<RefusedReason, string> = {
  PENDING_CAP: 'REFUSED_AT_PENDING_CAP', THROTTLED: 'REFUSED_THROTTLED', CLOSED: 'REFUSED_CLOSING', EVICTED: 'EVICTED_FROM_PENDING',
};

function parseArgs(argv: readonly string[]): { torrent: string; dir: string; bind: string; throttle: boolean; handshakeTimeout?: number } {
  const pos: string[] = [];
  let bind = '127.0.0.1';
  let throttle = true;
  let handshakeTimeout: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--bind') bind = argv[++i];
    else if (x === '--no-throttle') throttle = false;
    else if (x === '--handshake-timeout') handshakeTimeout = Number(argv[++i]);
    else if (x.startsWith('--')) throw new Error(`unknown option ${x}`);
    else pos.push(x);
  }
  if (pos.length !== 2) throw new Error('usage: hostile-seeder TORRENT DIR --bind HOST [--handshake-timeout MS] [--no-throttle]');
  if (handshakeTimeout !== undefined && !(handshakeTimeout > 0)) throw new Error('--handshake-timeout needs a positive number');
  return { torrent: pos[0], dir: pos[1], bind, throttle, ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {}) };
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const opts: ClientOptions = a.throttle ? {} : { violationThrottle: false };
  if (a.handshakeTimeout !== undefined) opts.handshakeTimeout = a.handshakeTimeout;
  const client = new Client(opts);
  const port = await client.listen(0, a.bind);
  const tor = await client.add(await readFile(a.torrent), { dir: a.dir, assumeComplete: true });

  const closes: Record<string, Record<string, number>> = {};
  const count = (host: string, code: string): void => {
    const byCode = (closes[host] ??= {});
    byCode[code] = (byCode[code] ?? 0) + 1;
  };
  const hostOf = (address: string): string => address.slice(0, address.lastIndexOf(':'));
  tor.on('peer_closed', (s, r) => count(hostOf(s.address), r.code));

  // Internals (read-only): the pending set and the server. A session that leaves the
  // pending set unregistered and closed ended before its handshake completed.
  const internals = client as unknown as { pending: Set<PeerSession>; server: Server };
  const pending = internals.pending;
  const add = pending.add.bind(pending);
  pending.add = (s: PeerSession): Set<PeerSession> => {
    s.socket.once('close', () => setImmediate(() => { if (!s.registered) count(hostOf(s.address), s.reason?.code ?? 'END'); }));
    return add(s);
  };
  let accepted = 0;
  internals.server.on('connection', () => { accepted++; });
  client.on('refused', (address, reason) => count(hostOf(address), REFUSED_LABEL[reason]));

  let peakHeap = 0;
  let peakExt = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExt = Math.max(peakExt, m.external + m.arrayBuffers);
  }, 50);
  const snapshot = (): Record<string, Record<string, number>> => JSON.parse(JSON.stringify(closes)) as Record<string, Record<string, number>>;
  // SIGUSR1: the closes so far (the driver asks before it tears its attackers down,
  // so that what the seeder closed by itself is told apart from the teardown).
  process.on('SIGUSR1', () => process.stdout.write(`SNAPSHOT ${JSON.stringify({ accepted, closes: snapshot() })}\n`));
  const cpu0 = cpuS();
  process.stdout.write(`READY ${JSON.stringify({ port, pid: process.pid })}\n`);
  await new Promise<void>((resolve) => { process.once('SIGTERM', resolve); process.once('SIGINT', resolve); });
  clearInterval(sampler);
  const res: SeederResult = {
    peak_rss_kib: process.resourceUsage().maxRSS,
    peak_heap_kib: Math.round(peakHeap / 1024),
    peak_external_kib: Math.round(peakExt / 1024),
    cpu_s: Math.round((cpuS() - cpu0) * 1000) / 1000,
    uploaded: tor.stats().uploaded,
    accepted,
    closes: snapshot(),
  };
  process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  await client.close();
}

// Run only as a program: testkit/hostile-bench.ts imports REFUSED_LABEL from here.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
