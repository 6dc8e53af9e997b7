/**
 * The honest leecher of the idle-flood case (testkit/hostile-idle-case.ts) as a process
 * of its own: our Client dials the seeder from `--bind` and downloads the torrent,
 * timing how long it took to get in as well as how fast it then downloaded — a crowd
 * of idle connections costs an honest peer its way in (a refused or evicted dial is
 * redialled only after a back-off of seconds) more than its speed.
 *
 *   node hostile-idle-leecher.js TORRENT DIR --bind HOST --connect HOST:PORT [--timeout S]
 *
 * Prints one `RESULT {json}` line (IdleLeecherResult) once every piece is verified,
 * or `FATAL …` and exit status 1 (2 when it timed out).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTorrent } from '../format/metainfo.js';
import { Client } from '../lib/net/client.js';

export interface IdleLeecherResult {
  complete: boolean;
  /** First dial → the BitTorrent handshake completed (both sides), ms; null: never. */
  connect_ms: number | null;
  /** Dials made until the handshake completed (1: the first one got in). */
  attempts: number;
  /** First payload byte → every piece verified, s. */
  first_byte_to_done_s: number | null;
  total_bytes: number;
}

function parseArgs(argv: readonly string[]): { torrent: string; dir: string; bind: string; connect: string; timeoutS: number } {
  const pos: string[] = [];
  let bind = '';
  let connect = '';
  let timeoutS = 120;
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--bind') bind = argv[++i];
    else if (x === '--connect') connect = argv[++i];
    else if (x === '--timeout') timeoutS = Number(argv[++i]);
    else if (x.startsWith('--')) throw new Error(`unknown option ${x}`);
    else pos.push(x);
  }
  if (pos.length !== 2 || bind === '' || connect === '' || !(timeoutS > 0)) {
    throw new Error('usage: hostile-idle-leecher TORRENT DIR --bind HOST --connect HOST:PORT [--timeout S]');
  }
  return { torrent: pos[0], dir: pos[1], bind, connect, timeoutS };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const meta = parseTorrent(await readFile(a.torrent));
  const client = new Client({ localAddress: a.bind });
  // Every dial of the seeder, refused/evicted ones included (the torrent redials them).
  const dials: number[] = [];
  const dial = client.dial.bind(client);
  client.dial = (t, addr, mse) => {
    dials.push(performance.now());
    return dial(t, addr, mse);
  };
  let connected: number | null = null;
  let firstByte: number | null = null;
  const tor = await client.add(meta, {
    dir: a.dir,
    peers: [a.connect],
    onPeerEvent: (_s, ev) => { if (firstByte === null && ev.type === 'piece') firstByte = performance.now(); },
  });
  let attempts = 0;
  tor.once('peer', () => {
    connected = performance.now();
    attempts = dials.length;
  });
  const outcome = await new Promise<'done' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), a.timeoutS * 1000);
    const done = (): void => { clearTimeout(timer); resolve('done'); };
    if (tor.isComplete) done();
    else tor.once('done', done);
  });
  const tDone = performance.now();
  const res: IdleLeecherResult = {
    complete: tor.isComplete,
    connect_ms: connected === null || dials.length === 0 ? null : r3(connected - dials[0]),
    attempts: connected === null ? dials.length : attempts,
    first_byte_to_done_s: firstByte === null ? null : r3((tDone - firstByte) / 1000),
    total_bytes: meta.totalLength,
  };
  process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  await client.close();
  return outcome === 'timeout' ? 2 : 0;
}

// Run only as a program: the case imports its result type from here.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
