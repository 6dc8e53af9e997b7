/**
 * `npm run bench:rate-limit`: how closely our rate limits hold, seen from the receiving
 * end. The limited side's target is "within 5 % of the limit over any one-second window
 * after the first second".
 *
 * Our seeder runs as a process of its own (testkit/our-peer.ts, as in bench:transfer)
 * with `--up-limit`; the leecher runs in this process and stamps every block it
 * receives (block + 13-byte header: what an upload limit counts). The rate it saw is
 * measured over windows of 1 s sliding by 100 ms, from 1 s after the first byte to the
 * last byte.
 *
 * Cases (one JSON line each with --json):
 *   upload-1MiB, upload-5MiB, upload-20MiB   seeder --up-limit; one leecher
 *   upload-5MiB-2-peers                      two leechers share one seeder's limit (their
 *                                            sum; extra: the smaller one's share)
 *   download-5MiB                            the leecher's downloadLimit; seeder unlimited
 * ours = the windows' median rate (MiB/s), min / max over the windows; baseline = the
 * limit, so ratio = median / limit. extra: worst_pct (largest |window / limit − 1|, %),
 * windows, mean_ratio (all bytes after the first second / time / limit).
 * `--seconds S`: transfer length per case (default 8; `--quick`: 4).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../lib/net/client.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import { depthFor } from '../lib/net/token-bucket.js';
import { jsonMode, log, makeCase, quickMode, report } from '../testkit/bench-report.js';
import { InteropScope, nextLoopbackAddress, sha256File } from '../testkit/clients.js';
import { ourSeeder, MiB, type TransferData } from '../testkit/transfer-clients.js';
import { PIECE_HEADER, windowRates, type Sample } from '../testkit/rate-samples.js';

function seconds(): number {
  const i = process.argv.indexOf('--seconds');
  if (i < 0) return quickMode ? 4 : 8;
  const s = Number(process.argv[i + 1]);
  if (!(s >= 2)) throw new Error('--seconds needs a number ≥ 2');
  return s;
}

/** A random file of `bytes` and its torrent, in the scope's temp dir. */
async function makeData(scope: InteropScope, bytes: number): Promise<TransferData> {
  const f = await scope.randomFile(bytes, 'rate.bin');
  const { torrent, metainfo: m } = await createTorrentFromPath(f.path, { pieceLength: 256 * 1024 });
  const torrentPath = join(f.dir, 'rate.torrent');
  await writeFile(torrentPath, torrent);
  return {
    dataPath: f.path, dataDir: f.dir, sha256: f.sha256,
    torrent: { torrentPath, name: m.name, infoHash: m.infoHashHex, pieceLength: m.pieceLength, numPieces: m.pieceCount, totalSize: m.totalLength },
  };
}

interface Run {
  /** Per leecher, what it received (ms, bytes), in time order. */
  leechers: Sample[][];
}

/** One transfer: our seeder process (upload limit `up`), `n` leechers here (download limit `down`). */
async function transfer(scope: InteropScope, data: TransferData, up: number, down: number, n: number, timeoutMs: number): Promise<Run> {
  const seed = await ourSeeder('seedpay', up > 0 ? { uploadLimit: up } : {}).start({ scope, data, bind: nextLoopbackAddress() });
  const clients: Client[] = [];
  try {
    const runs = await Promise.all(Array.from({ length: n }, async () => {
      const bind = nextLoopbackAddress();
      const c = new Client({ localAddress: bind, downloadLimit: down });
      clients.push(c);
      const got: Sample[] = [];
      const dir = await scope.tempDir('leech');
      const t = await c.add(data.torrent.torrentPath, {
        dir, peers: [`${seed.endpoint.host}:${seed.endpoint.port}`],
        onPeerEvent: (_s, ev) => { if (ev.type === 'piece') got.push({ t: performance.now(), n: ev.block.length + PIECE_HEADER }); },
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`leecher did not finish in ${timeoutMs} ms (${t.progress().have}/${t.progress().total})`)), timeoutMs);
        const done = (): void => { clearTimeout(timer); resolve(); };
        if (t.isComplete) done(); else t.once('done', done);
      });
      const sha = await sha256File(join(dir, data.torrent.name));
      if (sha !== data.sha256) throw new Error(`leecher's file differs from the source (sha256 ${sha})`);
      return got;
    }));
    return { leechers: runs };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await seed.stop();
  }
}

interface CaseSpec {
  name: string;
  up: number;
  down: number;
  leechers: number;
}

async function runCase(spec: CaseSpec, secs: number): Promise<void> {
  const limit = spec.up > 0 ? spec.up : spec.down;
  // One bucket of head start, then `secs` at the limit.
  const bytes = Math.round(limit * secs + depthFor(limit));
  const scope = new InteropScope('bench-rate');
  try {
    const data = await makeData(scope, bytes);
    log(`${spec.name}: ${(bytes / MiB).toFixed(1)} MiB at ${(limit / MiB).toFixed(1)} MiB/s, ${spec.leechers} leecher(s)`);
    const r = await transfer(scope, data, spec.up, spec.down, spec.leechers, (secs * 4 + 60) * 1000);
    const all = r.leechers.flat().sort((a, b) => a.t - b.t);
    const first = all[0].t;
    const last = all[all.length - 1].t;
    const from = first + 1000;
    const rates = windowRates(all, 1000, 100, from, last);
    if (rates.length === 0) throw new Error(`${spec.name}: the transfer lasted ${((last - first) / 1000).toFixed(2)} s, no window after the first second`);
    const after = all.filter((s) => s.t >= from).reduce((a, s) => a + s.n, 0);
    const worst = Math.max(...rates.map((x) => Math.abs(x / limit - 1)));
    const extra: Record<string, number> = {
      worst_pct: Math.round(worst * 10_000) / 100,
      windows: rates.length,
      mean_ratio: Math.round((after / ((last - from) / 1000) / limit) * 10_000) / 10_000,
      seconds: Math.round((last - first) / 10) / 100,
    };
    if (r.leechers.length > 1) {
      const shares = r.leechers.map((g) => g.filter((s) => s.t >= from).reduce((a, s) => a + s.n, 0) / after);
      extra.min_share = Math.round(Math.min(...shares) * 1000) / 1000;
    }
    report(makeCase({
      bench: 'rate-limit', case: spec.name, unit: 'MiB/s',
      ours: rates.map((x) => x / MiB), baseline: [limit / MiB], baselineName: 'limit', extra,
    }));
  } finally {
    await scope.close();
  }
}

async function main(): Promise<number> {
  const secs = seconds();
  const cases: CaseSpec[] = [
    { name: 'upload-1MiB', up: 1 * MiB, down: 0, leechers: 1 },
    { name: 'upload-5MiB', up: 5 * MiB, down: 0, leechers: 1 },
    { name: 'upload-20MiB', up: 20 * MiB, down: 0, leechers: 1 },
    { name: 'upload-5MiB-2-peers', up: 5 * MiB, down: 0, leechers: 2 },
    { name: 'download-5MiB', up: 0, down: 5 * MiB, leechers: 1 },
  ];
  const only = process.argv.indexOf('--only');
  const wanted = only < 0 ? null : new Set((process.argv[only + 1] ?? '').split(','));
  let failed = 0;
  for (const c of cases) {
    if (wanted !== null && !wanted.has(c.name)) continue;
    try {
      await runCase(c, secs);
    } catch (e) {
      failed++;
      log(`${c.name}: FAILED ${(e as Error).message}`);
    }
  }
  if (!jsonMode) log(`(ratio = median 1 s window / limit; target: every window within 5 %)`);
  return failed === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => { log(String((e as Error).stack ?? e)); process.exitCode = 1; });
