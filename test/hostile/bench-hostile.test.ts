/**
 * testkit/hostile-bench.ts end to end on a tiny torrent, so the benchmark cannot rot: a
 * seeder child (testkit/hostile-seeder.ts), an honest leecher child (testkit/our-peer.ts)
 * and two sustained attacks from this process. Checks outcomes only (no clock): the
 * honest transfer completed, the attacks made connections, and every connection the
 * seeder closed while the attack ran closed with one of the typed reasons the
 * attack is meant to get.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { attacks, runOnce } from '../../testkit/hostile-bench.js';
import type { TransferData } from '../../testkit/transfer-clients.js';
import { REFUSED_LABEL } from '../../testkit/hostile-seeder.js';
import { sha256File } from '../../testkit/clients.js';

test('bench/hostile runOnce: the honest leecher completes under length-claim and half-open-flood; closes carry the expected reasons', async () => {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-bench-hostile-'));
  try {
    const dataDir = join(root, 'seed');
    await mkdir(dataDir);
    const dataPath = join(dataDir, 'tiny.bin');
    await writeFile(dataPath, randomBytes(4 * 1024 * 1024 + 12_345));
    const { torrent, metainfo: meta } = await createTorrentFromPath(dataPath, { pieceLength: 64 * 1024 });
    const torrentPath = join(root, 'tiny.torrent');
    await writeFile(torrentPath, torrent);
    const data: TransferData = {
      dataPath, dataDir, sha256: await sha256File(dataPath),
      torrent: {
        torrentPath, name: 'tiny.bin', infoHash: Buffer.from(meta.infoHash).toString('hex'),
        pieceLength: meta.pieceLength, numPieces: meta.pieceCount, totalSize: meta.totalLength,
      },
    };
    const shape = { infoHash: meta.infoHash, pieceLength: meta.pieceLength, pieceCount: meta.pieceCount, totalLength: meta.totalLength };
    const flag = { stop: false };
    for (const name of ['length-claim', 'half-open-flood']) {
      const def = attacks(() => flag.stop).find((d) => d.name === name);
      assert.ok(def !== undefined, name);
      const s = await runOnce(data, shape, def, true, flag, 60_000);
      assert.ok(s.mbps > 0, `${name}: the honest leecher completed`);
      assert.ok(s.attack !== null && s.attack.conns > 0, `${name}: the attack made connections`);
      assert.deepEqual(s.attack.errors, {}, `${name}: every attack round went as expected`);
      const codes = Object.keys(s.attack.reasons);
      assert.ok(codes.length > 0, `${name}: the seeder closed some`);
      // The attackers' address may also be refused for its violations (the seeder's throttle).
      for (const c of codes) assert.ok(def.expected.includes(c) || c === REFUSED_LABEL.THROTTLED, `${name}: unexpected close reason ${c} (${JSON.stringify(s.attack.reasons)})`);
      console.log(`[bench-hostile] ${name}: ${s.attack.rounds} rounds, ${s.attack.refusedRounds} refused at accept, reasons ${JSON.stringify(s.attack.reasons)}`);
      assert.ok(s.seeder.peak_rss_kib > 0, 'the seeder reported its peak RSS');
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
