/**
 * What `seedpay get` tells its user about peers, as a user runs it (a child process,
 * stderr to a pipe), all on loopback:
 * - only --peer sources, nothing listening: exit 1 after GIVE_UP_AFTER refused dials per
 *   peer, a "refused" line per peer, one final line naming each peer;
 * - a seeder that starts after the first refusal: the retry finds it, the download
 *   completes, and the user saw both;
 * - --timeout with only a DHT that finds nobody: exit 1 with the timeout line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { buildMagnet } from '../../format/magnet.js';
import { GIVE_UP_AFTER } from '../../lib/cli/peer-report.js';
import { Client } from '../../lib/net/client.js';
import { freePort } from '../../testkit/clients.js';
import { until } from '../../testkit/paid-helpers.js';
import { runCli, startCli } from '../../testkit/run-cli.js';
import { checkFiles, makeFixture } from '../../testkit/torrent-helpers.js';

const NOISE = /^npm warn|ExperimentalWarning|--trace-warnings/;
const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '' && !NOISE.test(l));

test('get with only --peer, nobody listening: exit 1, a refused line per peer, one final line naming each', { timeout: 60_000 }, async () => {
  const fx = await makeFixture({ files: [['x.bin', 100_000]], pieceLength: 16384 });
  try {
    const torrent = join(fx.root, 'x.torrent');
    await writeFile(torrent, fx.torrent);
    const [p1, p2] = [await freePort(), await freePort()];
    const one = runCli(['get', torrent, '--peer', `127.0.0.1:${p1}`, '--no-dht', '--no-trackers', '--dir', join(fx.root, 'a')]);
    const two = runCli(['get', torrent, '--peer', `127.0.0.1:${p1}`, '--peer', `127.0.0.1:${p2}`, '--no-dht', '--dir', join(fx.root, 'b')]);
    const [r1, r2] = await Promise.all([one, two]);

    assert.equal(r1.code, 1, r1.stderr);
    const l1 = lines(r1.stderr);
    assert.equal(l1[0], `peer sources: --peer 127.0.0.1:${p1}, peer exchange (trackers are off, the DHT is off)`);
    const refused = l1.filter((l) => l.startsWith(`peer 127.0.0.1:${p1} refused (nothing listens there), retrying in `));
    assert.ok(refused.length >= 1 && refused.length < GIVE_UP_AFTER, l1.join('\n'));
    const last = l1[l1.length - 1];
    assert.equal(last, `seedpay: no usable peer left: 127.0.0.1:${p1} refused (nothing listens there), ${GIVE_UP_AFTER} attempts in a row (trackers are off, the DHT is off)`);
    assert.equal(l1.filter((l) => l.startsWith('seedpay: ')).length, 1);
    for (const l of l1.slice(1, -1)) assert.match(l, /^peer 127\.0\.0\.1:\d+ refused |^\[[#.]+\]/, l);
    assert.equal(r1.stdout, '');

    assert.equal(r2.code, 1, r2.stderr);
    const l2 = lines(r2.stderr);
    for (const p of [p1, p2]) assert.ok(l2.some((l) => l.startsWith(`peer 127.0.0.1:${p} refused (nothing listens there), retrying in `)), `a refused line for ${p}:\n${r2.stderr}`);
    const fin = l2[l2.length - 1];
    assert.match(fin, /^seedpay: no usable peer left: /);
    for (const p of [p1, p2]) assert.match(fin, new RegExp(`127\\.0\\.0\\.1:${p} refused \\(nothing listens there\\), ${GIVE_UP_AFTER} attempts in a row`));
    assert.match(fin, /\(the torrent names no usable tracker, the DHT is off\)$/);
    assert.doesNotMatch(r2.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    await fx.cleanup();
  }
});

test('get --peer to a seeder that starts after the first refusal: the retry finds it and the download completes', { timeout: 60_000 }, async (t) => {
  const fx = await makeFixture({ files: [['late.bin', 300_000]], pieceLength: 16384 });
  const seeder = new Client({ dht: false, trackers: false });
  t.after(async () => { await seeder.close(); await fx.cleanup(); });
  const torrent = join(fx.root, 'late.torrent');
  await writeFile(torrent, fx.torrent);
  const port = await freePort();
  const dir = join(fx.root, 'got');
  const get = startCli(['get', torrent, '--peer', `127.0.0.1:${port}`, '--no-dht', '--no-trackers', '--dir', dir]);
  t.after(() => { get.child.kill('SIGKILL'); });
  await until(() => get.stderr().includes(`peer 127.0.0.1:${port} refused`) || get.child.exitCode !== null, 20_000, 'the first refusal');
  await seeder.listen(port, '127.0.0.1');
  await seeder.add(fx.torrent, { dir: fx.seedDir, assumeComplete: true });
  const r = await get.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^peer 127\\.0\\.0\\.1:${port} refused \\(nothing listens there\\), retrying in \\d+ s$`, 'm'));
  assert.match(r.stderr, new RegExp(`^peer 127\\.0\\.0\\.1:${port} connected \\(SeedPay 0\\.1\\)$`, 'm'));
  assert.match(r.stderr, /^\[#{30}\] 100\.0% /m, 'the final progress line');
  assert.match(r.stdout, /^content: 293\.0 KiB complete in /);
  assert.deepEqual(await checkFiles(fx, dir), []);
});

test('get --timeout 2 with only a DHT that finds nobody: exit 1 with the timeout line', { timeout: 30_000 }, async (t) => {
  const fx = await makeFixture({ files: [['t.bin', 100_000]], pieceLength: 16384 });
  // A bootstrap "node" that never answers: the DHT runs (on loopback it needs one) and finds nobody.
  const mute = createSocket('udp4');
  await new Promise<void>((res) => mute.bind(0, '127.0.0.1', res));
  t.after(async () => { mute.close(); await fx.cleanup(); });
  const boot = `127.0.0.1:${mute.address().port}`;
  const r = await runCli(['get', buildMagnet({ infoHash: fx.meta.infoHash }), '--no-trackers', '--dht-bootstrap', boot, '--host', '127.0.0.1', '--timeout', '2', '--dir', join(fx.root, 'm')], {}, 20_000);
  assert.equal(r.code, 1, r.stderr);
  const l = lines(r.stderr);
  assert.ok(l.includes('peer sources: DHT, peer exchange (trackers are off)'), r.stderr);
  assert.equal(l[l.length - 1], 'seedpay: not complete after --timeout 2 s: the metadata (magnet) not received yet, none found yet');
  assert.equal(l.filter((x) => x.startsWith('seedpay: ')).length, 1);
});

test('--timeout misuse is one usage line', async () => {
  const r = await runCli(['get', 'x.torrent', '--peer', '127.0.0.1:1', '--timeout', 'soon']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^seedpay: bad --timeout 'soon' \(seconds, more than 0\)\n$/);
});
