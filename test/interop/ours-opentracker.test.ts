/**
 * Finding peers through a real tracker: opentracker (Debian's package) started on
 * loopback by each test, over HTTP and over UDP. No peer is given by hand: the .torrent
 * names the tracker, and each side learns the other only from it. Every transfer is
 * checked by sha256.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import type { Client } from '../../lib/net/client.js';
import type { Torrent } from '../../lib/engine/torrent.js';
import type { AnnounceReport } from '../../lib/discovery/announcer.js';
import { TrackerClient } from '../../lib/discovery/tracker-client.js';
import { assertSameBytes, freePort, opentrackerUrl, requireClient, waitFor, type InteropScope, type Opentracker } from '../../testkit/clients.js';
import { MiB, OurPeer, scopeFor, waitComplete } from '../../testkit/ours-helpers.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 60_000;

interface TrackedFixture { file: string; dir: string; sha256: string; torrentPath: string; name: string; infoHash: Buffer }

/** A random file and a .torrent for it whose only peer source is `announce`. */
async function trackedFixture(s: InteropScope, announce: string, bytes = SIZE): Promise<TrackedFixture> {
  const src = await s.randomFile(bytes);
  const { torrent, metainfo } = await createTorrentFromPath(src.path, { announce, pieceLength: 256 * 1024 });
  const torrentPath = path.join(await s.tempDir('torrent'), 'payload.torrent');
  await writeFile(torrentPath, torrent);
  return { file: src.path, dir: src.dir, sha256: src.sha256, torrentPath, name: metainfo.name, infoHash: metainfo.infoHash };
}

/** The first successful announce of `event` for torrent `t` (rejects on the first failure). */
function announced(client: Client, t: Torrent | null, event: AnnounceReport['event'], timeoutMs = 15_000): Promise<AnnounceReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { client.off('tracker', on); reject(new Error(`no ${event} announce within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (tor: Torrent, r: AnnounceReport): void => {
      if ((t !== null && tor !== t) || r.event !== event) return;
      clearTimeout(timer);
      client.off('tracker', on);
      if (r.error !== undefined) reject(r.error); else resolve(r);
    };
    client.on('tracker', on);
  });
}

/** Wait until the tracker counts `seeders` seeders for the torrent (asked by scrape). */
async function trackerSees(url: string, infoHash: Buffer, seeders: number, timeoutMs = 20_000): Promise<void> {
  const tc = new TrackerClient({ now: Date.now });
  try {
    await waitFor(async () => (await tc.scrape(url, [infoHash]))[0].complete >= seeders, timeoutMs, `${seeders} seeder(s) counted by the tracker`);
  } finally {
    tc.close();
  }
}

/**
 * A tracker for a fresh fixture: the tracker URL goes into the .torrent and Debian's
 * opentracker serves only whitelisted info hashes, so the port is chosen first, then the
 * .torrent made, then the tracker started on that port with its hash.
 */
async function trackerAndFixture(s: InteropScope, proto: 'http' | 'udp'): Promise<{ tracker: Opentracker; f: TrackedFixture; url: string }> {
  const port = await freePort('127.0.0.1');
  const url = opentrackerUrl(proto, '127.0.0.1', port);
  const f = await trackedFixture(s, url);
  const tracker = await s.startOpentracker([f.infoHash.toString('hex')], { port });
  return { tracker, f, url };
}

for (const proto of ['http', 'udp'] as const) {
  test(`our seeder and our leecher find each other through opentracker alone (${proto})`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('opentracker', t)) return;
    const s = scopeFor(t, `ot-ours-${proto}`);
    const { f } = await trackerAndFixture(s, proto);

    const seeder = await OurPeer.start(t);
    const seedStarted = announced(seeder.client, null, 'started');
    const seed = await seeder.add(f.torrentPath, f.dir);
    assert.equal(seed.isComplete, true);
    await seedStarted;
    // Client.scrape: the tracker now counts our seeder.
    const counts = await seeder.client.scrape(seed);
    assert.equal(counts.length, 1);
    const c = counts[0];
    assert.ok(c.error === undefined, `scrape answered: ${c.error?.message}`);
    assert.equal(c.complete, 1, 'one seeder counted');
    assert.equal(c.incomplete, 0);
    const leecher = await OurPeer.start(t);
    const leechStarted = announced(leecher.client, null, 'started');
    const out = await s.tempDir('ours-dl');
    const tor = await leecher.add(f.torrentPath, out);
    const r = await leechStarted;
    assert.equal(r.newPeers, 1, 'the tracker named the seeder (and not ourselves)');
    const completed = announced(leecher.client, tor, 'completed');
    await waitComplete(tor, TIMEOUT_MS);
    await assertSameBytes(path.join(out, f.name), f.sha256);
    await completed;
    assert.ok(seed.stats().uploaded >= SIZE, 'the seeder uploaded the file');
    assert.equal(leecher.peerMatching(/SeedPay/).role, 'initiator', 'the leecher dialled the seeder the tracker named');
    // Both leave while the tracker runs: each `stopped` is answered (not timed out).
    for (const [peer, tt] of [[leecher, tor], [seeder, seed]] as const) {
      const stopped = announced(peer.client, tt, 'stopped');
      await peer.client.close();
      await stopped;
    }
  });
}

test('a libtorrent leecher finds our seeder through opentracker (http)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('opentracker', t) || !requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'ot-lt-leech');
  const { f } = await trackerAndFixture(s, 'http');
  const seeder = await OurPeer.start(t);
  const started = announced(seeder.client, null, 'started');
  const seed = await seeder.add(f.torrentPath, f.dir);
  await started;
  const out = await s.tempDir('lt-dl');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.torrentPath, saveDir: out });
  const r = await leecher.result(TIMEOUT_MS);
  assert.equal(r.complete, true);
  await assertSameBytes(path.join(out, f.name), f.sha256);
  // From us (the only seed), seen on our side: lt_peer.py's own peer snapshot is taken by a
  // 50 ms poll and can miss a download that short.
  assert.ok(seed.stats().uploaded >= r.total_bytes, `we uploaded it (${seed.stats().uploaded} of ${r.total_bytes})`);
  assert.ok(seeder.peerMatching(/libtorrent/), 'libtorrent connected to us');
  // Closed while the tracker still runs (the scope stops it first otherwise).
  await seeder.client.close();
});

test('our leecher finds a libtorrent seeder through opentracker (udp)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('opentracker', t) || !requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'ot-lt-seed');
  const { tracker: tr, f } = await trackerAndFixture(s, 'udp');
  await s.startLibtorrent({ mode: 'seed', torrentPath: f.torrentPath, saveDir: f.dir, seedMode: true });
  await trackerSees(tr.httpUrl, f.infoHash, 1);
  const leecher = await OurPeer.start(t);
  const out = await s.tempDir('ours-dl');
  const started = announced(leecher.client, null, 'started');
  const tor = await leecher.add(f.torrentPath, out);
  assert.equal((await started).newPeers, 1, 'the tracker named the libtorrent seeder');
  await waitComplete(tor, TIMEOUT_MS);
  await assertSameBytes(path.join(out, f.name), f.sha256);
  assert.ok(leecher.peerMatching(/libtorrent/));
  await leecher.client.close();
});
