/**
 * What protocol encryption costs a transfer: ours → ours over loopback TCP, one
 * torrent, seeder and leecher in this process, with `encryption: 'require'` (MSE,
 * RC4 both ways) against the same transfer plain (`'off'`), alternating, medians
 * (BENCH.md). MB/s from the leecher's first piece to its last.
 *   node dist/bench/mse-transfer.js [--json] [--quick] [--runs N] [--size MiB]
 */
import { join } from 'node:path';
import { Client, type ClientOptions } from '../lib/net/client.js';
import { makeFixture, whenDone, type Fixture } from '../testkit/torrent-helpers.js';
import { makeCase, report, log, parseRuns, quickMode } from '../testkit/bench-report.js';

const sizeArg = process.argv.indexOf('--size');
const MIB = sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : quickMode ? 16 : 128;
if (!(Number.isInteger(MIB) && MIB > 0)) throw new Error('--size needs a positive integer (MiB)');

async function once(fx: Fixture, mode: ClientOptions['encryption'], dir: string): Promise<number> {
  const seeder = new Client({ encryption: mode });
  const leecher = new Client({ encryption: mode });
  try {
    const port = await seeder.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const t = await leecher.add(fx.torrent, { dir, peers: [`127.0.0.1:${port}`] });
    let first = 0;
    t.once('piece', () => { first = performance.now(); });
    await whenDone(t, 300_000);
    const sec = (performance.now() - first) / 1000;
    return (MIB * 1024 * 1024) / 1e6 / sec;
  } finally {
    await leecher.close();
    await seeder.close();
  }
}

const fx = await makeFixture({ files: [['big.bin', MIB * 1024 * 1024]], pieceLength: 512 * 1024 });
try {
  const runs = parseRuns(3);
  const enc: number[] = [];
  const plain: number[] = [];
  for (let r = 0; r < runs; r++) {
    enc.push(await once(fx, 'require', join(fx.root, `enc${r}`)));
    plain.push(await once(fx, 'off', join(fx.root, `plain${r}`)));
    log(`run ${r + 1}/${runs}: rc4 ${enc[r].toFixed(1)} MB/s, plain ${plain[r].toFixed(1)} MB/s`);
  }
  report(makeCase({
    bench: 'mse-transfer', case: `loopback-${MIB}MiB-rc4`, unit: 'MB/s', ours: enc, baseline: plain,
    baselineName: 'same transfer, encryption off',
    extra: { ours_name: "encryption 'require' (RC4 both ways)" },
  }));
} finally {
  await fx.cleanup();
}
