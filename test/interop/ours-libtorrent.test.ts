/**
 * Our peer against libtorrent 2.0 (python3-libtorrent, scripts/lt_peer.py) on
 * loopback, both directions, with the fast extension on and off on our side
 * (libtorrent always advertises it). Each test has its own libtorrent process and
 * its own Client on distinct 127.0.0.x addresses; every transfer is checked by sha256.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertSameBytes, requireClient, type LibtorrentResult } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete } from '../../testkit/ours-helpers.js';

const SIZE = 8 * MiB;
const TIMEOUT_MS = 60_000;

function assertPlainTcp(r: LibtorrentResult): void {
  assert.ok(r.peers.length >= 1, 'libtorrent saw a peer');
  assert.equal(r.peers[0].utp, false, 'TCP, not uTP');
  assert.equal(r.peers[0].rc4, false, 'plaintext');
  // libtorrent names a peer from its extended handshake `v` ("SeedPay 0.1.0") once that
  // arrived, before that from the peer id "-SY0100-" (a code no client in libtorrent's
  // Azureus-style table uses, so it prints "SY 0.1.0").
  assert.match(r.peers[0].client, /SeedPay|SY 0\.1\.0/, 'libtorrent saw our client');
}

for (const fast of [true, false]) {
  test(`our seeder → libtorrent leecher (libtorrent dials us; our fast extension ${fast ? 'on' : 'off'})`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('libtorrent', t)) return;
    const s = scopeFor(t, 'ours-lt');
    const f = await makeFixture(s, SIZE);
    const ours = await OurPeer.start(t, { fast });
    const seed = await ours.add(f.info.torrentPath, f.dir);
    assert.equal(seed.isComplete, true, 'our seeder rechecked its data as complete');
    const out = await s.tempDir('lt-dl');
    const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.info.torrentPath, saveDir: out, connect: [ours.endpoint] });
    assert.notEqual(leecher.endpoint.host, ours.endpoint.host, 'distinct loopback addresses');
    const r = await leecher.result(TIMEOUT_MS);
    assert.equal(r.complete, true);
    assert.equal(r.payload_down >= SIZE, true);
    assertPlainTcp(r);
    assert.equal(r.peers[0].outgoing, true, 'libtorrent dialled');
    await assertSameBytes(path.join(out, f.info.name), f.sha256);
    const p = ours.peerMatching(/libtorrent/);
    assert.equal(p.role, 'acceptor');
    assert.equal(p.fast, fast, `fast extension ${fast ? 'negotiated' : 'off'}`);
    assert.equal(p.peerAdvertisedFast, true, 'libtorrent always advertises fast');
    assert.ok(seed.stats().uploaded >= SIZE, 'we uploaded the whole file');
  });

  test(`libtorrent seeder → our leecher (we dial; our fast extension ${fast ? 'on' : 'off'})`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('libtorrent', t)) return;
    const s = scopeFor(t, 'lt-ours');
    const f = await makeFixture(s, SIZE);
    const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir });
    const ours = await OurPeer.start(t, { fast });
    const out = await s.tempDir('ours-dl');
    const tor = await ours.add(f.info.torrentPath, out, { dial: [seeder.endpoint] });
    await waitComplete(tor, TIMEOUT_MS);
    await assertSameBytes(singleFilePath(out, f.info), f.sha256);
    const st = tor.stats();
    assert.equal(st.hashFailures, 0);
    assert.equal(st.downloaded - st.wasted, SIZE);
    const p = ours.peerMatching(/libtorrent/);
    assert.equal(p.role, 'initiator');
    assert.equal(p.fast, fast);
    assert.equal(p.extended, true);
    const sr = await seeder.stop();
    assert.ok(sr !== null && sr.payload_up >= SIZE, 'libtorrent uploaded the whole file');
    assertPlainTcp(sr);
    assert.equal(sr.peers[0].outgoing, false, 'we dialled libtorrent');
  });
}
