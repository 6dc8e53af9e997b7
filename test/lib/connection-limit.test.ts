/**
 * The client-wide connection limit (ClientOptions.maxConnections): every torrent's
 * connections, handshaking ones included, count against it; a torrent at the limit
 * neither dials nor accepts, and dials again once a connection ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, ClientError } from '../../lib/net/client.js';
import { createTorrent } from '../../lib/files/create-torrent.js';

async function seedFixture(t: { after(fn: () => Promise<void>): void }, name: string): Promise<{ dir: string; torrent: Buffer }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seedpay-limit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(64 * 1024);
  await writeFile(path.join(dir, name), data);
  return { dir, torrent: createTorrent({ name, pieceLength: 16 * 1024 }, [data]).torrent };
}

/** A listener that holds every connection open without a byte (the dialler's session stays handshaking). */
async function holder(t: { after(fn: () => Promise<void>): void }): Promise<{ port: number; open: Set<net.Socket> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.on('error', () => {});
    sock.once('close', () => open.delete(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of open) s.destroy(); server.close(() => r()); }));
  const a = server.address();
  return { port: typeof a === 'object' && a !== null ? a.port : 0, open };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const live = (hs: { open: Set<net.Socket> }[]): number => hs.reduce((n, h) => n + h.open.size, 0);

test('maxConnections bounds the connections of all torrents together; a freed slot is used again', { timeout: 20_000 }, async (t) => {
  const a = await seedFixture(t, 'a.bin');
  const b = await seedFixture(t, 'b.bin');
  const hs = await Promise.all([holder(t), holder(t), holder(t), holder(t)]);
  const client = new Client({ maxConnections: 2, handshakeTimeout: 60_000 });
  t.after(() => client.close());
  await client.add(a.torrent, { dir: a.dir, peers: hs.slice(0, 3).map((h) => `127.0.0.1:${h.port}`) });
  await client.add(b.torrent, { dir: b.dir, peers: [`127.0.0.1:${hs[3].port}`] });
  let most = 0;
  const deadline = Date.now() + 2500;
  while (Date.now() < deadline) { most = Math.max(most, live(hs)); await sleep(20); }
  assert.equal(most, 2, 'two of the four known peers dialled, no more');
  assert.equal(hs[3].open.size + hs[2].open.size <= 1, true);
  // End the held connections: the slots go to the peers that waited.
  for (const h of hs) for (const s of h.open) s.destroy();
  const waited = [hs[2], hs[3]];
  const until = Date.now() + 8000;
  let reached = 0;
  while (Date.now() < until && reached === 0) {
    reached = waited.reduce((n, h) => n + h.open.size, 0);
    most = Math.max(most, live(hs));
    await sleep(20);
  }
  assert.ok(reached >= 1, 'a peer that waited for a slot is dialled once one is free');
  assert.ok(most <= 2, `never more than 2 connections at once (saw ${most})`);
});

test('an incoming connection beyond maxConnections is refused', { timeout: 20_000 }, async (t) => {
  const a = await seedFixture(t, 'a.bin');
  const h = await holder(t);
  const client = new Client({ maxConnections: 1, handshakeTimeout: 60_000 });
  t.after(() => client.close());
  const port = await client.listen(0, '127.0.0.1');
  const tor = await client.add(a.torrent, { dir: a.dir, peers: [`127.0.0.1:${h.port}`] });
  while (h.open.size === 0) await sleep(10); // our one slot: a dial that stays handshaking
  // A leecher dials us: its handshake names the torrent, which has no room left.
  const leecher = new Client();
  t.after(() => leecher.close());
  const lt = await leecher.add(a.torrent, { dir: await mkdtemp(path.join(os.tmpdir(), 'seedpay-limit-l-')), peers: [`127.0.0.1:${port}`] });
  const closed = await new Promise<string>((res) => lt.once('peer_closed', (_s, r) => res(r.code)));
  assert.ok(closed.length > 0);
  assert.equal(tor.peers().length, 0, 'the seeder registered nobody');
  assert.equal(lt.isComplete, false);
});

test('maxConnections must be a positive integer', () => {
  assert.throws(() => new Client({ maxConnections: 0 }), ClientError);
  assert.throws(() => new Client({ maxConnections: 1.5 }), ClientError);
});
