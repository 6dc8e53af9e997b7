/**
 * The plumbing of `bench:transfer` for our peer, on a small torrent: testkit/our-peer.ts
 * runs as a child process (node for the build, tsx for the sources), seeds or leeches,
 * and reports CPU seconds and peak RSS; measureTransfer checks the bytes by sha256.
 * Guards the benchmark against rot (it is not run by the test suite otherwise).
 * No speed is asserted here: speed is measured only by the benchmark.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureBenchData, libtorrentLeecher, libtorrentSeeder, measureTransfer, ourLeecher, ourSeeder, ourPeerCommand } from '../../testkit/transfer-clients.js';
import { requireClient, type Endpoint } from '../../testkit/clients.js';
import { MiB, scopeFor } from '../../testkit/ours-helpers.js';

const TIMEOUT_MS = 60_000;

test('bench: our seeder → our leecher as two processes; sha256, CPU and peak RSS reported per process', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return; // mktorrent.py makes the torrent
  const s = scopeFor(t, 'bench-ours');
  const data = await ensureBenchData(4 * MiB, 256 * 1024, await s.tempDir('bench-data'));
  const cmd = ourPeerCommand();
  assert.match(cmd.args[cmd.args.length - 1], /our-peer\.(js|ts)$/);
  const r = await measureTransfer(ourSeeder(), ourLeecher(), data, 30_000);
  assert.ok(r.mbps > 0 && r.firstByteToDoneS > 0);
  for (const side of [r.seeder, r.leecher]) {
    assert.ok(side.cpuS > 0, 'CPU seconds measured');
    assert.ok(side.peakRssKiB !== null && side.peakRssKiB > 10 * 1024, 'peak RSS of a Node process');
  }
});

test('bench: mixed pairs (ours ↔ libtorrent) through the same interfaces', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'bench-mixed');
  const data = await ensureBenchData(4 * MiB, 256 * 1024, await s.tempDir('bench-data'));
  const a = await measureTransfer(ourSeeder(), libtorrentLeecher(), data, 30_000);
  const b = await measureTransfer(libtorrentSeeder(), ourLeecher(), data, 30_000);
  for (const r of [a, b]) assert.ok(r.mbps > 0 && r.seeder.cpuS >= 0 && r.leecher.cpuS > 0);
});

test('bench: our leecher fails with a clear error when nobody serves the torrent', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'bench-fail');
  const data = await ensureBenchData(1 * MiB, 256 * 1024, await s.tempDir('bench-data'));
  const nobody: Endpoint = { host: '127.0.0.1', port: 9 }; // discard port: connection refused
  const out = await s.tempDir('leech');
  await assert.rejects(
    ourLeecher().run({ scope: s, data, saveDir: out, bind: '127.0.0.3', seeder: nobody, timeoutMs: 1000 }),
    /did not complete/,
  );
});
