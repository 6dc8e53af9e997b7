/**
 * What the interop tests need from lib/net/client.ts, pinned against plain loopback
 * sockets (no real client needed):
 *
 * 1. Outgoing connections choose their source address (ClientOptions.localAddress). Real clients accept
 *    one connection per IP (INTEROP.md rule 3) and the harness probes them from
 *    127.0.0.1, so our dials must leave from our own 127.0.0.x.
 * 2. A complete seeder keeps redialling, with back-off, a leecher whose connection
 *    failed (not ready yet, or Transmission refusing a quick reconnect): Transmission
 *    never dials us back (rule 1), so one failure must not end the service.
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

/** A complete single-file seed of 64 KiB in a temp dir. */
async function seedFixture(t: { after(fn: () => Promise<void>): void }): Promise<{ dir: string; torrent: Buffer }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seedpay-gaps-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(64 * 1024);
  await writeFile(path.join(dir, 'x.bin'), data);
  return { dir, torrent: createTorrent({ name: 'x.bin', pieceLength: 16 * 1024 }, [data]).torrent };
}

/** A listener on 127.0.0.1 that records each connection's source address; `onConn` decides its fate. */
async function recorder(t: { after(fn: () => Promise<void>): void }, onConn: (s: net.Socket, n: number) => void): Promise<{ port: number; sources: string[]; next(ms: number): Promise<string | null> }> {
  const sources: string[] = [];
  const waiters: ((a: string) => void)[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    sources.push(sock.remoteAddress ?? '?');
    onConn(sock, sources.length);
    for (const w of waiters.splice(0)) w(sock.remoteAddress ?? '?');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  // server.close waits for open connections: end ours first (the client may be closed later)
  t.after(() => new Promise<void>((r) => { for (const s of open) s.destroy(); server.close(() => r()); }));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    port,
    sources,
    next: (ms) => new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      waiters.push((addr) => { clearTimeout(timer); resolve(addr); });
    }),
  };
}

test('ClientOptions.localAddress: our dials leave from the address we listen on', {
  timeout: 10_000,
}, async (t) => {
  const fx = await seedFixture(t);
  const rec = await recorder(t, (s) => s.destroy());
  const client = new Client({ localAddress: '127.0.0.9' });
  t.after(() => client.close());
  const first = rec.next(5000);
  await client.add(fx.torrent, { dir: fx.dir, peers: [`127.0.0.1:${rec.port}`] });
  assert.equal(await first, '127.0.0.9');
});

test('a complete seeder redials a leecher whose first connection failed', {
  timeout: 15_000,
}, async (t) => {
  const fx = await seedFixture(t);
  // the first connection is reset at once, as a client that is not ready does
  const rec = await recorder(t, (s, n) => { if (n === 1) s.destroy(); });
  const client = new Client();
  t.after(() => client.close());
  const first = rec.next(5000);
  const tor = await client.add(fx.torrent, { dir: fx.dir, peers: [`127.0.0.1:${rec.port}`] });
  assert.equal(tor.isComplete, true);
  assert.notEqual(await first, null, 'the seeder dialled once');
  // its back-off after one failure is 2 s: allow a few times that
  assert.notEqual(await rec.next(8000), null, 'the seeder dialled the leecher again');
});

test('forgetPeer: a peer the caller dropped is closed and never redialled', {
  timeout: 15_000,
}, async (t) => {
  const fx = await seedFixture(t);
  // Every connection is reset at once: without forgetPeer the seeder redials after 2 s.
  const rec = await recorder(t, (s) => { s.destroy(); });
  const client = new Client();
  t.after(() => client.close());
  const first = rec.next(5000);
  const tor = await client.add(fx.torrent, { dir: fx.dir, peers: [`127.0.0.1:${rec.port}`] });
  assert.notEqual(await first, null, 'the seeder dialled once');
  tor.forgetPeer(`127.0.0.1:${rec.port}`);
  tor.forgetPeer('127.0.0.1:1'); // unknown: no-op
  assert.equal(await rec.next(5000), null, 'not redialled within 2.5x the back-off');
});
