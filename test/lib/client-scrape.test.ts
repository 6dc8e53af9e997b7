/**
 * Client.scrape without a tracker to answer: each tracker's failure is a report, not a
 * throw, and a client with trackers off (or a torrent that names none) reports nothing.
 * (A real tracker's counts: test/interop/ours-opentracker.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '../../lib/net/client.js';
import { createTorrent } from '../../lib/files/create-torrent.js';

/** A loopback TCP port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof a === 'object' && a !== null ? a.port : 1;
}

async function fixture(t: { after(fn: () => Promise<void>): void }, announce?: string): Promise<{ dir: string; torrent: Buffer }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seedpay-scrape-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(32 * 1024);
  await writeFile(path.join(dir, 'x.bin'), data);
  return { dir, torrent: createTorrent({ name: 'x.bin', pieceLength: 16 * 1024, announce }, [data]).torrent };
}

test('scrape: a tracker that is not there is reported with its error, per tracker', { timeout: 20_000 }, async (t) => {
  const url = `http://127.0.0.1:${await closedPort()}/announce`;
  const fx = await fixture(t, url);
  const client = new Client({ dht: false, pex: false });
  t.after(() => client.close());
  const tor = await client.add(fx.torrent, { dir: fx.dir });
  const r = await client.scrape(tor);
  assert.equal(r.length, 1);
  assert.equal(r[0].url, url);
  assert.ok(r[0].error instanceof Error, 'the failure is reported');
});

test('scrape: nothing to ask with trackers off, or a torrent that names no tracker', async (t) => {
  const named = await fixture(t, 'http://127.0.0.1:1/announce');
  const off = new Client({ trackers: false, dht: false });
  t.after(() => off.close());
  assert.deepEqual(await off.scrape(await off.add(named.torrent, { dir: named.dir })), []);
  const none = await fixture(t);
  const on = new Client({ dht: false });
  t.after(() => on.close());
  assert.deepEqual(await on.scrape(await on.add(none.torrent, { dir: none.dir })), []);
});
