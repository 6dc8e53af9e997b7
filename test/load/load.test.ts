/**
 * Load, CI-sized (the full 500-leecher run is bench/load.ts): one seeder Client serving
 * 60 concurrent leecher Clients in this process over loopback TCP. Every leecher must
 * finish with the right sha256, and once each has closed the seeder must hold no
 * session and no descriptor more than before the first leecher came.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { checkFiles, makeFixture, whenDone } from '../../testkit/torrent-helpers.js';

const LEECHERS = 60;

/** Descriptors open in this process (the readdir's own directory handle included, every time alike). */
const fds = (): number => readdirSync('/proc/self/fd').length;

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

test(`one seeder serves ${LEECHERS} concurrent leechers; none left behind when they leave`, { timeout: 60_000 }, async () => {
  const fx = await makeFixture({ files: [['load.bin', 1_500_000]], pieceLength: 64 * 1024 });
  // hashThreads 0 everywhere: a hash worker per Client would be 60 threads (and fds) for nothing
  // every leecher dials from 127.0.0.1: the per-address half-open cap must not bite here
  const seeder = new Client({ hashThreads: 0, maxPendingConnections: LEECHERS + 16, maxPendingPerAddress: LEECHERS + 16 });
  const leechers: Client[] = [];
  try {
    const port = await seeder.listen(0, '127.0.0.1');
    // every leecher unchoked at once: this is about load, not the choker's rotation
    const st = await seeder.add(fx.torrent, { dir: fx.seedDir, uploadSlots: LEECHERS, maxPeers: LEECHERS + 8 });
    assert.equal(st.isComplete, true);
    let peakPeers = 0;
    st.on('peer', () => { peakPeers = Math.max(peakPeers, st.peers().length); });
    const closedCodes = new Map<string, number>();
    st.on('peer_closed', (_s, r) => closedCodes.set(r.code, (closedCodes.get(r.code) ?? 0) + 1));

    // Let the seeder settle (listening socket, the data file it rechecked) before the baseline.
    await new Promise((r) => setTimeout(r, 50));
    const fdsBefore = fds();

    let fdsPeak = fdsBefore;
    const sampler = setInterval(() => { fdsPeak = Math.max(fdsPeak, fds()); }, 20);
    const results = await Promise.all(Array.from({ length: LEECHERS }, async (_, i) => {
      const c = new Client({ hashThreads: 0 });
      leechers.push(c);
      const dir = join(fx.root, `leech${i}`);
      const t = await c.add(fx.meta, { dir, peers: [`127.0.0.1:${port}`] });
      await whenDone(t, 45_000);
      const bad = await checkFiles(fx, dir);
      const downloaded = t.stats().downloaded;
      await c.close();
      return { bad, downloaded };
    }));
    clearInterval(sampler);

    for (const [i, r] of results.entries()) {
      assert.deepEqual(r.bad, [], `leecher ${i}: files with a wrong sha256`);
      assert.ok(r.downloaded >= fx.meta.totalLength, `leecher ${i} downloaded ${r.downloaded} bytes`);
    }
    assert.ok(peakPeers > 1, `leechers were served concurrently (peak ${peakPeers} sessions)`);
    assert.ok(st.stats().uploaded >= LEECHERS * fx.meta.totalLength, 'the seeder sent every leecher the whole torrent');
    assert.ok(fdsPeak > fdsBefore, 'the fd probe saw the connections (it can see a leak)');

    // Every leecher closed: the seeder must notice each end and release it.
    const released = await until(() => st.peers().length === 0 && fds() <= fdsBefore, 5_000);
    assert.ok(released, `after every leecher closed: ${st.peers().length} sessions, fds ${fds()} (baseline ${fdsBefore}, peak ${fdsPeak}); closes ${JSON.stringify([...closedCodes])}`);
    assert.equal(st.peers().length, 0);
    assert.ok(fds() <= fdsBefore, `fds ${fds()} > baseline ${fdsBefore}`);
  } finally {
    await Promise.all(leechers.map((c) => c.close()));
    await seeder.close();
    await fx.cleanup();
  }
});
