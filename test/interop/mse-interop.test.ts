/**
 * MSE/PE (protocol encryption) against real clients, each forced to encrypt:
 * libtorrent (out/in_enc_policy forced, allowed_enc_level rc4), Transmission 3.00
 * (encryption 2, required) and qBittorrent (Encryption=1, require); our client under
 * 'require' (RC4 only, plain refused), both directions each, plus a magnet fetch
 * (ut_metadata, then data) from a forced-encryption libtorrent. Neither side accepts a
 * plain connection, so a completed, sha256-checked transfer was encrypted; both sides
 * report RC4 where they can. One case checks the default: libtorrent dialling MSE
 * first to our 'prefer' listener gets an obfuscated handshake and a plaintext stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildMagnet } from '../../format/magnet.js';
import { assertSameBytes, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete, waitMetadata } from '../../testkit/ours-helpers.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 60_000;

test('MSE: our seeder (require) → libtorrent leecher (forced) dialling us', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'mse-ours-lt');
  const f = await makeFixture(s, SIZE);
  const ours = await OurPeer.start(t, { encryption: 'require' });
  await ours.add(f.info.torrentPath, f.dir);
  const out = await s.tempDir('lt-dl');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.info.torrentPath, saveDir: out, connect: [ours.endpoint], encryption: 'forced' });
  const r = await leecher.result(TIMEOUT_MS);
  assert.equal(r.complete, true);
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  assert.equal(r.peers[0].rc4, true, 'libtorrent saw RC4');
  assert.equal(r.peers[0].outgoing, true);
  const p = ours.peerMatching(/libtorrent/);
  assert.equal(p.role, 'acceptor');
  assert.equal(p.mse, 'rc4');
});

test('MSE: libtorrent seeder (forced) → our leecher (require) dialling it', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'mse-lt-ours');
  const f = await makeFixture(s, SIZE);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir, encryption: 'forced' });
  const ours = await OurPeer.start(t, { encryption: 'require' });
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [seeder.endpoint] });
  await waitComplete(tor, TIMEOUT_MS - 10_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(tor.stats().hashFailures, 0);
  const p = ours.peerMatching(/libtorrent/);
  assert.equal(p.role, 'initiator');
  assert.equal(p.mse, 'rc4');
  const sr = await seeder.stop();
  assert.ok(sr !== null && sr.payload_up >= SIZE);
  assert.equal(sr.peers[0].rc4, true, 'libtorrent saw RC4');
});

test('MSE: magnet link → metadata and data from a libtorrent seeder (forced), our leecher requiring RC4', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'mse-magnet-lt');
  const f = await makeFixture(s, SIZE, 16 * 1024);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir, encryption: 'forced' });
  const ours = await OurPeer.start(t, { encryption: 'require' });
  const out = await s.tempDir('ours-dl');
  const magnet = buildMagnet({ infoHash: Buffer.from(f.info.infoHash, 'hex'), name: f.info.name, peers: [seeder.endpoint] });
  const tor = await ours.add(magnet, out);
  assert.equal(tor.metainfo, null);
  await waitMetadata(tor, 30_000);
  assert.equal(tor.metainfo!.infoHashHex, f.info.infoHash);
  await waitComplete(tor, TIMEOUT_MS - 20_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(ours.peerMatching(/libtorrent/).mse, 'rc4');
});

test("MSE default: libtorrent dialling MSE first (its default) → our 'prefer' listener: obfuscated handshake, plaintext stream", { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'mse-lt-prefer');
  const f = await makeFixture(s, SIZE);
  const ours = await OurPeer.start(t);
  await ours.add(f.info.torrentPath, f.dir);
  const out = await s.tempDir('lt-dl');
  // dialFlags 1: pex_encryption, i.e. try MSE first (TCP only: uTP is off).
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.info.torrentPath, saveDir: out, connect: [ours.endpoint], dialFlags: 1 });
  const r = await leecher.result(TIMEOUT_MS);
  assert.equal(r.complete, true);
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  const p = ours.peerMatching(/libtorrent/);
  assert.equal(p.mse, 'plaintext', 'MSE handshake, plaintext picked (libtorrent offered both)');
  assert.equal(r.peers[0].rc4, false);
  assert.equal(r.peers[0].mse_plaintext, true, 'libtorrent saw the MSE handshake with plaintext selected');
});

test('MSE: our seeder (require) → Transmission leecher (encryption required), we dial', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('transmission', t)) return;
  const s = scopeFor(t, 'mse-ours-tr');
  const f = await makeFixture(s, SIZE);
  const tr = await s.startTransmission({ encryption: 2 });
  const id = await tr.addTorrent(f.info.torrentPath);
  await tr.waitActive(id);
  const ours = await OurPeer.start(t, { encryption: 'require' });
  await ours.add(f.info.torrentPath, f.dir, { dial: [tr.peerEndpoint] });
  const done = await tr.waitComplete(id, TIMEOUT_MS - 10_000);
  assert.equal(done.totalSize, SIZE);
  await assertSameBytes(path.join(tr.downloadDir, f.info.name), f.sha256);
  const p = ours.peerMatching(/Transmission/);
  assert.equal(p.role, 'initiator');
  assert.equal(p.mse, 'rc4');
});

test('MSE: Transmission seeder (encryption required) → our leecher (require), we dial', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('transmission', t)) return;
  const s = scopeFor(t, 'mse-tr-ours');
  const f = await makeFixture(s, SIZE);
  const tr = await s.startTransmission({ encryption: 2 });
  const id = await tr.addTorrent(f.info.torrentPath, f.dir);
  assert.equal((await tr.waitActive(id)).percentDone, 1);
  const ours = await OurPeer.start(t, { encryption: 'require' });
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [tr.peerEndpoint] });
  await waitComplete(tor, TIMEOUT_MS - 10_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(ours.peerMatching(/Transmission/).mse, 'rc4');
});

test('MSE: our seeder (require) → qBittorrent leecher (encryption required) dialling us', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'mse-ours-qbt');
  const f = await makeFixture(s, SIZE);
  const ours = await OurPeer.start(t, { encryption: 'require' });
  await ours.add(f.info.torrentPath, f.dir);
  const qbt = await s.startQbittorrent({ encryption: 1 });
  const out = await s.tempDir('qbt-dl');
  await qbt.addTorrent(f.info.torrentPath, out);
  await qbt.waitDownloading(f.info.infoHash);
  await qbt.addPeers(f.info.infoHash, [ours.endpoint]);
  const done = await qbt.waitComplete(f.info.infoHash, TIMEOUT_MS - 15_000);
  assert.equal(done.size, SIZE);
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  const p = ours.peerMatching(/qBittorrent|libtorrent/);
  assert.equal(p.role, 'acceptor');
  assert.equal(p.mse, 'rc4');
});

test('MSE: qBittorrent seeder (encryption required) → our leecher (require), we dial', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'mse-qbt-ours');
  const f = await makeFixture(s, SIZE);
  const qbt = await s.startQbittorrent({ encryption: 1 });
  await qbt.addTorrent(f.info.torrentPath, f.dir);
  await qbt.waitSeeding(f.info.infoHash);
  const ours = await OurPeer.start(t, { encryption: 'require' });
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [qbt.peerEndpoint] });
  await waitComplete(tor, TIMEOUT_MS - 15_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(ours.peerMatching(/qBittorrent/).mse, 'rc4');
});

test("MSE default: our 'prefer' leecher reaches a libtorrent seeder that forces encryption (plain hung up on, MSE at once)", { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'mse-lt-prefer');
  const f = await makeFixture(s, SIZE);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir, encryption: 'forced' });
  const ours = await OurPeer.start(t); // the default: 'prefer'
  const dials: boolean[] = [];
  const dial = ours.client.dial.bind(ours.client);
  ours.client.dial = (tor, addr, mse) => { dials.push(mse); return dial(tor, addr, mse); };
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [seeder.endpoint] });
  await waitComplete(tor, TIMEOUT_MS - 10_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.deepEqual(dials.slice(0, 2), [false, true], 'plain first, then MSE at once');
  assert.equal(ours.peerMatching(/libtorrent/).mse, 'rc4');
});

test("MSE default: our 'prefer' leecher reaches a Transmission seeder that requires encryption", { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('transmission', t)) return;
  const s = scopeFor(t, 'mse-tr-prefer');
  const f = await makeFixture(s, SIZE);
  const tr = await s.startTransmission({ encryption: 2 });
  const id = await tr.addTorrent(f.info.torrentPath, f.dir);
  assert.equal((await tr.waitActive(id)).percentDone, 1);
  const ours = await OurPeer.start(t);
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [tr.peerEndpoint] });
  await waitComplete(tor, TIMEOUT_MS - 10_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(ours.peerMatching(/Transmission/).mse, 'rc4');
});
