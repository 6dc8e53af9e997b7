/**
 * The seeder of bench/hostile.ts as a process of its own, so that its peak RSS
 * (getrusage ru_maxrss) and CPU seconds are its alone and not the attackers' or
 * the driver's.
 *
 *   node hostile-seeder.js TORRENT DIR --bind HOST [--handshake-timeout MS]
 *
 * Serves TORRENT from DIR (trusted complete: no recheck, the honest leecher verifies
 * every piece), prints `READY {"port":N,"pid":P}`, and on SIGTERM one
 * `RESULT {json}` line (SeederResult) and exits. SIGUSR1 prints `SNAPSHOT {json}`
 * (accepted and closes so far).
 *
 * Every connection's end is counted by source host and typed reason: sessions that
 * reached the torrent through 'peer_closed', sessions that never finished the
 * handshake through the Client's pending set (the only place they are visible),
 * and sockets refused outright at the pending cap as `REFUSED_AT_PENDING_CAP`
 * (accepted by the server, never given a session).
 */
import { readFile } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { Client } from '../lib/client.js';
import type { PeerSession } from '../lib/peer-session.js';

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

export const REFUSED_AT_CAP = 'REFUSED_AT_PENDING_CAP';

function parseArgs(argv: readonly string[]): { torrent: string; dir: string; bind: string; handshakeTimeout?: number } {
  const pos: string[] = [];
  let bind = '127.0.0.1';
  let handshakeTimeout: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--bind') bind = argv[++i];
    else if (x === '--handshake-timeout') handshakeTimeout = Number(argv[++i]);
    else if (x.startsWith('--')) throw new Error(`unknown option ${x}`);
    else pos.push(x);
  }
  if (pos.length !== 2) throw new Error('usage: hostile-seeder TORRENT DIR --bind HOST [--handshake-timeout MS]');
  if (handshakeTimeout !== undefined && !(handshakeTimeout > 0)) throw new Error('--handshake-timeout needs a positive number');
  return { torrent: pos[0], dir: pos[1], bind, ...(handshakeTimeout !== undefined ? { handshakeTimeout } : {}) };
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const client = new Client(a.handshakeTimeout !== undefined ? { handshakeTimeout: a.handshakeTimeout } : {});
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
  const refusedByHost = new Map<string, number>();
  internals.server.on('connection', (sock: Socket) => {
    accepted++;
    // Client's listener ran first: a socket it destroyed got no session.
    if (sock.destroyed) refusedByHost.set(sock.remoteAddress ?? '?', (refusedByHost.get(sock.remoteAddress ?? '?') ?? 0) + 1);
  });

  let peakHeap = 0;
  let peakExt = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakExt = Math.max(peakExt, m.external + m.arrayBuffers);
  }, 50);
  const snapshot = (): Record<string, Record<string, number>> => {
    const out: Record<string, Record<string, number>> = JSON.parse(JSON.stringify(closes)) as Record<string, Record<string, number>>;
    for (const [h, n] of refusedByHost) (out[h] ??= {})[REFUSED_AT_CAP] = n;
    return out;
  };
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

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
