/**
 * The `seedpay` CLI as a user runs it (a child process): bad input gets one line on
 * stderr and a non-zero status, never a stack trace; `create` writes a torrent;
 * `demo` runs a loopback transfer, prints a verified receipt, and the process exits
 * by itself (no handle left open).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTorrent } from '../../format/metainfo.js';
import { assertOneLine, runCli } from '../../testkit/run-cli.js';

test('bad input: one clear line and a non-zero exit', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-cli-'));
  try {
    await writeFile(join(dir, 'junk.torrent'), 'not bencode');
    const cases: [string[], RegExp][] = [
      [['get', join(dir, 'nope.torrent'), '--peer', '127.0.0.1:1'], /cannot read torrent .*nope\.torrent/],
      [['seed', join(dir, 'junk.torrent'), '--dir', dir], /not a valid torrent/],
      [['seed', join(dir, 'junk.torrent')], /--dir/],
      [['get', join(dir, 'junk.torrent')], /not a valid torrent/],
      [['get', 'x.torrent', '--peer', 'nohost'], /^seedpay: bad --peer 'nohost': peer "nohost" is not host:port$/],
      [['create'], /path/],
      [['create', join(dir, 'missing-dir')], /cannot read/],
      [['frobnicate'], /unknown command/],
      [['demo', '--size', 'huge'], /bad size/],
      [['get', 'magnet:?xt=urn:btih:zz', '--peer', '127.0.0.1:1'], /magnet/],
    ];
    // Two at a time: process start-up dominates.
    for (let i = 0; i < cases.length; i += 2) {
      const batch = cases.slice(i, i + 2);
      const results = await Promise.all(batch.map(([args]) => runCli(args)));
      results.forEach((r, j) => assertOneLine(r, batch[j][1]));
    }
    const usage = await runCli([]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage:/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('create writes a torrent that parses', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-cli-'));
  try {
    await writeFile(join(dir, 'hello.txt'), 'hello world\n'.repeat(1000));
    const out = join(dir, 'hello.torrent');
    const r = await runCli(['create', join(dir, 'hello.txt'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const m = parseTorrent(await readFile(out));
    assert.equal(m.name, 'hello.txt');
    assert.equal(m.totalLength, 12000);
    assert.match(r.stdout, new RegExp(m.infoHashHex));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('demo --free: a loopback transfer with a verified receipt, and the process exits by itself', async () => {
  const r = await runCli(['demo', '--free', '--size', '4M']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^receipt$/m);
  assert.match(r.stdout, /bytes\s+4194304 payload/);
  assert.match(r.stdout, /speed\s+[\d.]+ MB\/s/);
  assert.match(r.stdout, /sha256\s+[0-9a-f]{64}/);
  assert.match(r.stdout, /verified\s+yes/);
  assert.match(r.stderr, /100\.0%/, 'the progress bar reached 100%');
});
