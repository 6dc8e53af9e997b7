/**
 * --up-limit / --down-limit on the CLI: how rates are read (bytes/s, K/M/G powers of
 * 1024, 0 for none), a bad one is one usage line (free and paid commands), and a
 * `seed --up-limit` really limits what `get` receives: with one bucket of head start,
 * the download cannot take less than (size − depth) / limit, however fast the machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { CliError, formatRate, parseRate } from '../../lib/cli/args.js';
import { depthFor } from '../../lib/net/token-bucket.js';
import { assertOneLine, runCli, startCli } from '../../testkit/run-cli.js';
import { checkFiles, makeFixture } from '../../testkit/torrent-helpers.js';

const KiB = 1024;
const MiB = 1024 * 1024;

test('rates: bytes/s with K/M/G as powers of 1024, optional B, iB and /s; 0 is no limit', () => {
  const cases: [string, number][] = [
    ['1048576', MiB], ['500K', 500 * KiB], ['500k', 500 * KiB], ['20M', 20 * MiB], ['1.5MiB/s', 1.5 * MiB],
    ['20MB', 20 * MiB], ['2G', 2 * 1024 * MiB], ['64KiB', 64 * KiB], ['100/s', 100], [' 3M ', 3 * MiB], ['0', 0],
  ];
  for (const [s, n] of cases) assert.equal(parseRate('--up-limit', s), n, s);
  assert.equal(parseRate('--up-limit', undefined), undefined);
  for (const bad of ['', '-1', 'fast', '1T', '1.2.3', 'M', '5 MB/h', '1e3']) {
    assert.throws(() => parseRate('--down-limit', bad), (e: unknown) => e instanceof CliError && e.exitCode === 2 && /bad --down-limit/.test(e.message), bad);
  }
  assert.equal(formatRate(0), 'none');
  assert.equal(formatRate(20 * MiB), '20.0 MiB/s');
  assert.equal(formatRate(500 * KiB), '500.0 KiB/s');
  assert.equal(formatRate(100), '100 B/s');
});

test('a bad --up-limit / --down-limit is one usage line, free or paid', async () => {
  const [free, paid] = await Promise.all([
    runCli(['get', 'x.torrent', '--peer', '127.0.0.1:1', '--down-limit', 'fast']),
    runCli(['seed', 'x.torrent', '--wallet', 'nope.json', '--price', '0.001', '--up-limit', '-3']),
  ]);
  assertOneLine(free, /bad --down-limit 'fast'/, { code: 2 });
  assertOneLine(paid, /bad --up-limit '-3'/, { code: 2 });
});

test('seed --up-limit caps what get receives; the limits are reported', async () => {
  const size = 1536 * KiB;
  const cap = 1 * MiB;
  const fx = await makeFixture({ files: [['r.bin', size]], pieceLength: 64 * KiB });
  const torrent = join(fx.root, 'r.torrent');
  await writeFile(torrent, fx.torrent);
  const seed = startCli(['seed', torrent, '--dir', fx.seedDir, '--port', '0', '--host', '127.0.0.1', '--no-trackers', '--up-limit', '1M']);
  try {
    let port = 0;
    for (let i = 0; i < 200 && port === 0; i++) {
      const m = /on 127\.0\.0\.1:(\d+)/.exec(seed.stderr());
      if (m !== null) port = Number(m[1]);
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(port > 0, `seeder did not start: ${seed.stderr()}`);
    assert.match(seed.stderr(), /rate limits: upload 1\.0 MiB\/s, download none/);
    const dir = join(fx.root, 'got');
    const got = await runCli(['get', torrent, '--peer', `127.0.0.1:${port}`, '--dir', dir, '--no-trackers', '--down-limit', '64M'], {}, 60_000);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stderr, /rate limits: upload none, download 64\.0 MiB\/s/);
    assert.deepEqual(await checkFiles(fx, dir), []);
    const secs = Number(/downloaded in ([\d.]+) s/.exec(got.stdout)?.[1]);
    const least = (size - depthFor(cap)) / cap;
    assert.ok(secs >= least - 0.01, `${size} bytes under a ${cap} B/s limit took ${secs} s (at least ${least.toFixed(2)} s)`);
  } finally {
    seed.child.kill('SIGTERM');
    await seed.exited;
    await fx.cleanup();
  }
});
