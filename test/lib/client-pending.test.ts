/**
 * Half-open connections are capped per source address as well as in total, so one
 * host that opens sockets and never handshakes cannot lock every other peer out
 * for a whole handshake timeout (the hole test/hostile's flood could only show
 * from a single address).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '../../lib/net/client.js';
import { parseTorrent } from '../../format/metainfo.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { encodeHandshake, HANDSHAKE_LENGTH, makeReserved } from '../../wire/handshake.js';

function openFrom(localAddress: string, port: number): Promise<{ sock: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress });
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.on('error', () => { /* a refused slot shows as a reset: expected */ });
    sock.once('connect', () => resolve({ sock, closed }));
    sock.once('error', reject);
  });
}

/** Resolves true if the socket is closed by the other side within `ms`. */
function closedWithin(c: Promise<void>, ms: number): Promise<boolean> {
  return Promise.race([c.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

test('one address holds at most maxPendingPerAddress half-open slots; another address still gets its handshake answered', { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seedpay-pending-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(64 * 1024);
  await writeFile(path.join(dir, 'x.bin'), data);
  const torrent = createTorrent({ name: 'x.bin', pieceLength: 16 * 1024 }, [data]).torrent;
  const info = parseTorrent(torrent);

  const seeder = new Client({ maxPendingConnections: 8, maxPendingPerAddress: 2, handshakeTimeout: 15_000 });
  const sockets: net.Socket[] = [];
  t.after(async () => { for (const s of sockets) s.destroy(); await seeder.close(); });
  const port = await seeder.listen(0, '127.0.0.1');
  await seeder.add(torrent, { dir });

  // 127.0.0.2 opens 5 sockets and says nothing: 2 are held, 3 are closed at once.
  const flood = [];
  for (let i = 0; i < 5; i++) {
    const c = await openFrom('127.0.0.2', port);
    sockets.push(c.sock);
    flood.push(c.closed);
  }
  const closedNow = await Promise.all(flood.map((c) => closedWithin(c, 1500)));
  assert.equal(closedNow.filter((x) => x).length, 3, 'excess half-open sockets from one address are closed');

  // 127.0.0.3 handshakes and is answered although 127.0.0.2 keeps its slots.
  const honest = await openFrom('127.0.0.3', port);
  sockets.push(honest.sock);
  const answer = new Promise<Buffer>((resolve, reject) => {
    let got = Buffer.alloc(0);
    honest.sock.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= HANDSHAKE_LENGTH) resolve(got.subarray(0, HANDSHAKE_LENGTH));
    });
    honest.sock.once('close', () => reject(new Error('closed before the handshake answer')));
  });
  honest.sock.write(encodeHandshake({ infoHash: info.infoHash, peerId: randomBytes(20), reserved: makeReserved({ extended: true, fast: true, dht: false }) }));
  const hs = await answer;
  assert.deepEqual(hs.subarray(28, 48), Buffer.from(info.infoHash), 'the seeder answered with our torrent');
});
