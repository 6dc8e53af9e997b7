/**
 * A sustained idle flood: 300 silent connections from 30 addresses (10 each, within
 * the per-address share) against a seeder with 64 pending-handshake slots, each one
 * the seeder evicts opened again at once, for the whole transfer. The honest peer,
 * from a fresh address, must get in on its first dial — a lost dial is redialled
 * only after seconds of back-off — and download, while the seeder holds no more than
 * its cap. (pending-eviction.test.ts: one static crowd, the per-address share.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import type { PeerSession } from '../../lib/engine/peer-session.js';
import { IdleFlood } from '../../testkit/hostile-idle-flood.js';
import { makeFixture, whenDone } from '../../testkit/torrent-helpers.js';

const MAX_PENDING = 64;
const HONEST = '127.0.7.1';

test('300 idle connections held from 30 addresses: the honest peer gets in on its first dial and downloads; the seeder holds at most its cap', { timeout: 90_000 }, async () => {
  const fx = await makeFixture({ files: [['a.bin', 4 * 1024 * 1024 + 5]], pieceLength: 65536 });
  const seeder = new Client({ maxPendingConnections: MAX_PENDING });
  const leecher = new Client({ localAddress: HONEST });
  const pending = (seeder as unknown as { pending: Set<PeerSession> }).pending;
  const refusedHonest: string[] = [];
  let evicted = 0;
  seeder.on('refused', (address, reason) => {
    if (reason === 'EVICTED') evicted++;
    if (address.startsWith(`${HONEST}:`)) refusedHonest.push(reason);
  });
  let maxPending = 0;
  const watch = setInterval(() => { maxPending = Math.max(maxPending, pending.size); }, 5);
  let flood: IdleFlood | null = null;
  try {
    const port = await seeder.listen(0, '127.0.0.1');
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    flood = new IdleFlood(port, 30, 10);
    await flood.start();
    const evictedBefore = evicted;
    let dials = 0;
    const dial = leecher.dial.bind(leecher);
    leecher.dial = (t, addr, mse) => { dials++; return dial(t, addr, mse); };
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'leech'), peers: [`127.0.0.1:${port}`] });
    await whenDone(t, 60_000);
    flood.check();
    assert.ok(evicted > evictedBefore, `the flood kept the slots full during the transfer (${evicted} evicted)`);
    assert.ok(flood.stats().reopened > 0, 'evicted idle connections were opened again');
    assert.deepEqual(refusedHonest, [], 'the honest connection was neither evicted nor refused');
    assert.equal(dials, 1, `the honest peer got in on its first dial (${dials} dials)`);
    assert.ok(maxPending <= MAX_PENDING, `at most ${MAX_PENDING} pending (saw ${maxPending})`);
  } finally {
    clearInterval(watch);
    flood?.stop();
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});
