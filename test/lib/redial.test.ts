/**
 * The redial policy (lib/engine/redial.ts): the usual back-off, and the prompt redial of
 * a peer that closed on us benignly while it is the only source we could have.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STARVING_REDIAL_MS, backoffMs, endedBenignly, redialDue } from '../../lib/engine/redial.js';
import { WireError } from '../../wire/errors.js';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { assertDownloaded, makeFixture } from '../../testkit/torrent-helpers.js';

test('back-off: 1 s after a connection that worked, 2 s doubling per failure, at most 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map(backoffMs), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('benign ends: the peer hung up, reset, or had nothing to trade; not an absent host, a protocol breach or a silent handshake', () => {
  const r = (code: string, msg?: string) => ({ code, error: msg === undefined ? null : new WireError('SOCKET_ERROR', msg) }) as Parameters<typeof endedBenignly>[0];
  assert.equal(endedBenignly(r('END')), true);
  assert.equal(endedBenignly(r('NOT_NEEDED')), true);
  assert.equal(endedBenignly(r('TRUNCATED')), true);
  assert.equal(endedBenignly(r('SOCKET_ERROR', 'read ECONNRESET')), true);
  assert.equal(endedBenignly(r('SOCKET_ERROR', 'connect ECONNREFUSED 127.0.0.9:1')), false);
  assert.equal(endedBenignly(r('SOCKET_ERROR', 'connect ETIMEDOUT')), false);
  assert.equal(endedBenignly(r('HANDSHAKE_TIMEOUT')), false);
  assert.equal(endedBenignly(r('BAD_HANDSHAKE')), false);
  assert.equal(endedBenignly(r('BANNED')), false);
  assert.equal(endedBenignly(null), false);
});

test('a benign end is redialled after 2 s while we starve, else after the usual back-off', () => {
  const endedAt = 10_000;
  const p = { endedAt, nextAt: endedAt + backoffMs(4), benign: true };
  assert.equal(redialDue(p, endedAt + STARVING_REDIAL_MS - 1, true), false);
  assert.equal(redialDue(p, endedAt + STARVING_REDIAL_MS, true), true);
  assert.equal(redialDue(p, endedAt + STARVING_REDIAL_MS, false), false, 'another peer feeds us: the usual back-off');
  assert.equal(redialDue(p, endedAt + 16_000, false), true);
  const refused = { ...p, benign: false };
  assert.equal(redialDue(refused, endedAt + 15_999, true), false, 'a host that is not there keeps the back-off');
  assert.equal(redialDue({ endedAt: -Infinity, nextAt: 0, benign: false }, 0, false), true, 'a peer never dialled: at once');
});

/**
 * Over loopback: the leecher's only peer hangs up on its first three connections right
 * after our handshake (as a client that takes one connection per IP does while it still
 * holds an old one), then serves. With the usual back-off the fourth dial would come
 * 2 + 4 + 8 s after the first refusal; the only source is redialled every ~2 s instead
 * (the tick is 1 s, so each gap is 2–3 s; the bound below is 6 s, under the 8 s the
 * back-off would take for the third).
 */
test('the only source, hanging up on us three times, is redialled every ~2 s and the download completes', { timeout: 60_000 }, async () => {
  const fx = await makeFixture({ files: [['r.bin', 1024 * 1024]], pieceLength: 64 * 1024 });
  const seeder = new Client({ localAddress: '127.0.0.214' });
  const leecher = new Client({ localAddress: '127.0.0.215', encryption: 'off' });
  const sockets: Socket[] = [];
  const dials: number[] = [];
  const refusedAt: number[] = [];
  const proxy = createServer((sock) => {
    sockets.push(sock);
    dials.push(Date.now());
    sock.on('error', () => undefined);
    if (dials.length <= 3) {
      sock.once('data', () => { refusedAt.push(Date.now()); sock.destroy(); });
      return;
    }
    const up = connect({ host: '127.0.0.214', port: seederPort, localAddress: '127.0.0.213' });
    sockets.push(up);
    up.on('error', () => sock.destroy());
    sock.pipe(up).pipe(sock);
  });
  let seederPort = 0;
  try {
    seederPort = await seeder.listen(0, '127.0.0.214');
    await seeder.add(fx.torrent, { dir: fx.seedDir, assumeComplete: true });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.213', resolve));
    const port = (proxy.address() as AddressInfo).port;
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.213:${port}`] });
    await assertDownloaded(t, fx, join(fx.root, 'l'), 45_000);
    assert.ok(dials.length >= 4, `${dials.length} dials`);
    const gaps = refusedAt.map((at, i) => dials[i + 1] - at);
    for (const g of gaps) assert.ok(g < 6_000, `redialled ${gaps.join(', ')} ms after each hang-up`);
  } finally {
    for (const s of sockets) s.destroy();
    proxy.close();
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});
