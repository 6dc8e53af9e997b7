/**
 * `--encryption` on the CLI: a seeder and a downloader both under 'require' complete a
 * download (each refuses plain connections, so this only works encrypted); a bad value
 * is one usage line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { assertOneLine, runCli, startCli } from '../../testkit/run-cli.js';
import { checkFiles, makeFixture } from '../../testkit/torrent-helpers.js';

test("seed and get with --encryption require: the download completes", async () => {
  const fx = await makeFixture({ files: [['e.bin', 400_000]], pieceLength: 32768 });
  const torrent = join(fx.root, 'e.torrent');
  await writeFile(torrent, fx.torrent);
  const seed = startCli(['seed', torrent, '--dir', fx.seedDir, '--port', '0', '--host', '127.0.0.1', '--encryption', 'require']);
  try {
    let port = 0;
    for (let i = 0; i < 200 && port === 0; i++) {
      const m = /on 127\.0\.0\.1:(\d+)/.exec(seed.stderr());
      if (m !== null) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(port > 0, `seeder did not start: ${seed.stderr()}`);
    const dir = join(fx.root, 'got');
    const got = await runCli(['get', torrent, '--peer', `127.0.0.1:${port}`, '--dir', dir, '--encryption', 'require', '--no-dht'], {}, 30_000);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(await checkFiles(fx, dir), []);
  } finally {
    seed.child.kill('SIGTERM');
    await seed.exited;
    await fx.cleanup();
  }
});

test('a bad --encryption value is a usage error', async () => {
  const r = await runCli(['get', 'x.torrent', '--peer', '127.0.0.1:1', '--encryption', 'maybe']);
  assertOneLine(r, /bad --encryption 'maybe' \(one of require, prefer, off\)/, { code: 2 });
});

test('--host / --bind: get dials from the address it names, seed listens on its own', async () => {
  const fx = await makeFixture({ files: [['b.bin', 300_000]], pieceLength: 32768 });
  const torrent = join(fx.root, 'b.torrent');
  await writeFile(torrent, fx.torrent);
  const seed = startCli(['seed', torrent, '--dir', fx.seedDir, '--port', '0', '--host', '127.0.0.71', '--no-dht']);
  try {
    let port = 0;
    for (let i = 0; i < 200 && port === 0; i++) {
      const m = /on 127\.0\.0\.71:(\d+)/.exec(seed.stderr());
      if (m !== null) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(port > 0, `seeder did not start: ${seed.stderr()}`);
    const dir = join(fx.root, 'got');
    const got = await runCli(['get', torrent, '--peer', `127.0.0.71:${port}`, '--dir', dir, '--bind', '127.0.0.72', '--no-dht', '--no-trackers'], {}, 30_000);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(await checkFiles(fx, dir), []);
    assert.match(seed.stderr(), /peer 127\.0\.0\.72:\d+ connected/, 'the seeder saw the download come from the bound address');
    // The leecher's exit is told in words, not as a close code.
    for (let i = 0; i < 100 && !/disconnected/.test(seed.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(seed.stderr(), /peer 127\.0\.0\.72:\d+ disconnected \([a-z][a-z ]+/, seed.stderr());
    assert.doesNotMatch(seed.stderr(), /\([A-Z][A-Z_]+\)/, 'no raw close code');
  } finally {
    seed.child.kill('SIGTERM');
    await seed.exited;
    await fx.cleanup();
  }
});

test('--host and --bind disagreeing, or not an address, are usage errors', async () => {
  assertOneLine(await runCli(['get', 'x.torrent', '--peer', '127.0.0.1:1', '--host', '127.0.0.2', '--bind', '127.0.0.3']), /--host and --bind name the same thing/, { code: 2 });
  assertOneLine(await runCli(['get', 'x.torrent', '--peer', '127.0.0.1:1', '--bind', 'example']), /bad --host 'example'/, { code: 2 });
});
