/**
 * Our peer against qBittorrent 4.5 (qbittorrent-nox, libtorrent 2.0 inside) on
 * loopback: qBittorrent leeches from our seeder after `addPeers` makes it dial us;
 * our leecher dials a qBittorrent seeder. Each test has a fresh profile and daemon.
 * qBittorrent resets connections for ~1 s after its WebUI first says stalledUP:
 * `waitSeeding` / `waitDownloading` probe with a handshake first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertSameBytes, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete } from '../../testkit/ours-helpers.js';

const SIZE = 16 * MiB;
const TIMEOUT_MS = 60_000;

test('our seeder → qBittorrent leecher (qBittorrent dials us via addPeers)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'ours-qbt');
  const f = await makeFixture(s, SIZE);
  const ours = await OurPeer.start(t);
  const seed = await ours.add(f.info.torrentPath, f.dir);
  const qbt = await s.startQbittorrent();
  const out = await s.tempDir('qbt-dl');
  await qbt.addTorrent(f.info.torrentPath, out);
  await qbt.waitDownloading(f.info.infoHash);
  await qbt.addPeers(f.info.infoHash, [ours.endpoint]);
  const done = await qbt.waitComplete(f.info.infoHash, TIMEOUT_MS - 15_000);
  assert.equal(done.size, SIZE);
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  const p = ours.peerMatching(/qBittorrent|libtorrent/);
  assert.equal(p.role, 'acceptor', 'qBittorrent dialled us');
  assert.equal(p.fast, true);
  assert.ok(seed.stats().uploaded >= SIZE);
});

test('qBittorrent seeder → our leecher (we dial qBittorrent)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'qbt-ours');
  const f = await makeFixture(s, SIZE);
  const qbt = await s.startQbittorrent();
  await qbt.addTorrent(f.info.torrentPath, f.dir);
  await qbt.waitSeeding(f.info.infoHash);
  const ours = await OurPeer.start(t);
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [qbt.peerEndpoint] });
  await waitComplete(tor, TIMEOUT_MS - 15_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  const st = tor.stats();
  assert.equal(st.hashFailures, 0);
  assert.equal(st.downloaded - st.wasted, SIZE);
  const p = ours.peerMatching(/qBittorrent/);
  assert.equal(p.role, 'initiator');
  assert.equal(p.fast, true);
});
