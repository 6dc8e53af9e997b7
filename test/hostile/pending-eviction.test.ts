/**
 * A crowd of idle connections from many addresses, each within its per-address share
 * of the pending-handshake slots, fills every slot: a peer connecting from a fresh
 * address must still get in (the oldest pending connection makes room), and one
 * address still cannot hold more than its share.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { makeFixture, whenDone } from '../../testkit/torrent-helpers.js';

const MAX_PENDING = 16;

function idle(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('every pending slot held by idle connections from many addresses: a newcomer from a fresh address still connects and downloads', { timeout: 60_000 }, async () => {
  const fx = await makeFixture({ files: [['a.bin', 2 * 1024 * 1024]], pieceLength: 65536 });
  // Idle connections would be held for the whole handshake timeout (30 s) before.
  const seeder = new Client({ maxPendingConnections: MAX_PENDING, handshakeTimeout: 30_000 });
  const leecher = new Client({ localAddress: '127.0.5.1' });
  const sockets: Socket[] = [];
  const refused: string[] = [];
  seeder.on('refused', (_a, reason) => refused.push(reason));
  try {
    const port = await seeder.listen(0, '127.0.0.1');
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    // 12 addresses × 4 (each address's share is 16 / 4): 48 idle connections for 16 slots.
    for (let a = 0; a < 12; a++) for (let i = 0; i < 4; i++) sockets.push(await idle(port, `127.0.4.${a + 1}`));
    // Five from one more address: the newest four take its share, the fifth is refused at accept.
    for (let i = 0; i < 5; i++) sockets.push(await idle(port, '127.0.4.200'));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(refused.includes('PENDING_CAP'), `the fifth from one address is refused (${refused.join(',')})`);
    assert.ok(refused.filter((r) => r === 'EVICTED').length >= 52 - MAX_PENDING, `older idle ones made room (${refused.length} refusals)`);
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.1:${port}`] });
    await whenDone(t, 20_000);
  } finally {
    for (const s of sockets) s.destroy();
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});

test('an address whose idle connections keep being evicted is refused at accept for a while (a strike per eviction)', { timeout: 30_000 }, async () => {
  const seeder = new Client({ maxPendingConnections: 4, maxPendingPerAddress: 4, handshakeTimeout: 30_000 });
  const refused: { address: string; reason: string }[] = [];
  seeder.on('refused', (address, reason) => refused.push({ address, reason }));
  const sockets: Socket[] = [];
  try {
    const port = await seeder.listen(0, '127.0.0.1');
    // Four idle from one address fill the table; four from another evict them one by one.
    for (let i = 0; i < 4; i++) sockets.push(await idle(port, '127.0.6.1'));
    for (let i = 0; i < 4; i++) sockets.push(await idle(port, '127.0.6.2'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(refused.filter((r) => r.reason === 'EVICTED' && r.address.startsWith('127.0.6.1:')).length, 4);
    // Four strikes, one over the allowance: its next connection is refused before any session.
    const again = await idle(port, '127.0.6.1');
    sockets.push(again);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(refused.some((r) => r.reason === 'THROTTLED' && r.address.startsWith('127.0.6.1:')), `refusals: ${JSON.stringify(refused)}`);
    // The evicting address did nothing wrong: it is not throttled.
    assert.ok(!refused.some((r) => r.reason === 'THROTTLED' && r.address.startsWith('127.0.6.2:')));
    // Refused, it is held silent rather than closed (nothing to reconnect), until it speaks.
    let closed = false;
    again.on('close', () => { closed = true; });
    again.on('error', () => {});
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(closed, false, 'held while silent');
    again.write('x');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(closed, true, 'closed at its first byte');
  } finally {
    for (const s of sockets) s.destroy();
    await seeder.close();
  }
});
