/**
 * The CLI with a tracker: `seedpay seed` announces, `seedpay get` with no --peer finds
 * the seeder through the torrent's tracker (a real opentracker on loopback), and `get`
 * with neither a tracker nor a peer says so and exits 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { assertSameBytes, freePort, opentrackerUrl, requireClient } from '../../testkit/clients.js';
import { MiB, scopeFor } from '../../testkit/ours-helpers.js';
import { runCli, startCli } from '../../testkit/run-cli.js';

test('seedpay seed announces; seedpay get finds it through the tracker alone; --no-trackers turns that off', { timeout: 90_000 }, async (t) => {
  if (!requireClient('opentracker', t)) return;
  const s = scopeFor(t, 'cli-ot');
  const src = await s.randomFile(2 * MiB);
  const trackerPort = await freePort('127.0.0.1');
  const { torrent, metainfo } = await createTorrentFromPath(src.path, { announce: opentrackerUrl('http', '127.0.0.1', trackerPort) });
  const torrentPath = path.join(await s.tempDir('t'), 'x.torrent');
  await writeFile(torrentPath, torrent);
  await s.startOpentracker([metainfo.infoHashHex], { port: trackerPort });
  const seedPort = await freePort('127.0.0.1');
  const seed = startCli(['seed', torrentPath, '--dir', src.dir, '--port', String(seedPort), '--host', '127.0.0.1']);
  t.after(async () => { seed.child.kill('SIGTERM'); await seed.exited; });
  const deadline = Date.now() + 20_000;
  while (!/tracker \S+: started ok/.test(seed.stderr())) {
    assert.ok(Date.now() < deadline && seed.child.exitCode === null, `seeder did not announce:\n${seed.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = await s.tempDir('get');
  const off = await runCli(['get', torrentPath, '--dir', out, '--no-trackers', '--no-dht'], {}, 20_000);
  assert.equal(off.code, 2);
  assert.match(off.stderr, /get needs --peer host:port \(trackers are off/);
  const r = await runCli(['get', torrentPath, '--dir', out, '--no-dht'], {}, 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /peer sources: tracker http:\/\/127\.0\.0\.1:\d+\/announce/);
  assert.match(r.stderr, /started ok, 1 new peer/);
  await assertSameBytes(path.join(out, metainfo.name), src.sha256);
});
