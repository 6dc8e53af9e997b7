/**
 * Our peer against Transmission 3.00 (transmission-daemon) on loopback. Transmission
 * never dials a 127.x peer (INTEROP.md rule 1), so our client dials it in both
 * directions. Each test starts a fresh daemon (fresh config dir: Transmission never
 * unchokes an IP again once a leecher there completed). It rechokes every ~10 s and
 * uploads at ~12–15 MB/s here, so the files are small (4 MiB).
 * Fast extension: Transmission always advertises it; one direction runs with ours off
 * (plain BEP 3: bitfield, choke/unchoke, no reject_request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertSameBytes, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete } from '../../testkit/ours-helpers.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 60_000;

test('our seeder → Transmission leecher (we dial Transmission)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('transmission', t)) return;
  const s = scopeFor(t, 'ours-tr');
  const f = await makeFixture(s, SIZE);
  const tr = await s.startTransmission();
  const id = await tr.addTorrent(f.info.torrentPath);
  await tr.waitActive(id);
  const ours = await OurPeer.start(t);
  const seed = await ours.add(f.info.torrentPath, f.dir, { dial: [tr.peerEndpoint] });
  assert.equal(seed.isComplete, true);
  const done = await tr.waitComplete(id, TIMEOUT_MS - 10_000);
  assert.equal(done.totalSize, SIZE);
  await assertSameBytes(path.join(tr.downloadDir, f.info.name), f.sha256);
  const p = ours.peerMatching(/Transmission/);
  assert.equal(p.role, 'initiator');
  assert.equal(p.fast, true, 'fast extension negotiated');
  assert.ok(seed.stats().uploaded >= SIZE);
});

for (const fast of [true, false]) {
  test(`Transmission seeder → our leecher (we dial; our fast extension ${fast ? 'on' : 'off'})`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('transmission', t)) return;
    const s = scopeFor(t, 'tr-ours');
    const f = await makeFixture(s, SIZE);
    const tr = await s.startTransmission();
    const id = await tr.addTorrent(f.info.torrentPath, f.dir); // data present: verified, then seeding
    const seeding = await tr.waitActive(id);
    assert.equal(seeding.percentDone, 1);
    const ours = await OurPeer.start(t, { fast });
    const out = await s.tempDir('ours-dl');
    const tor = await ours.add(f.info.torrentPath, out, { dial: [tr.peerEndpoint] });
    await waitComplete(tor, TIMEOUT_MS - 10_000);
    await assertSameBytes(singleFilePath(out, f.info), f.sha256);
    const st = tor.stats();
    assert.equal(st.hashFailures, 0);
    assert.equal(st.downloaded - st.wasted, SIZE);
    const p = ours.peerMatching(/Transmission/);
    assert.equal(p.role, 'initiator');
    assert.equal(p.peerAdvertisedFast, true, 'Transmission advertises fast');
    assert.equal(p.fast, fast);
  });
}
