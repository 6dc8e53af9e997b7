/**
 * The interop harness proven with real clients alone (our own peer comes later):
 * each transfer moves a random file between two real clients over loopback and
 * compares sha256 of source and result. Also covers the harness's own contracts:
 * a missing client fails under CI=true and skips otherwise; close() leaves no
 * process and no temp dir behind.
 *
 * Directions follow INTEROP.md: Transmission never dials loopback peers, so
 * libtorrent dials it (both to feed it and to download from it); qBittorrent is
 * made to dial with addPeers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  InteropError, InteropScope, createTorrent, decideClient, requireClient, sha256File,
  type ClientStatus, type LibtorrentResult,
} from '../../testkit/clients.js';

const MiB = 1 << 20;
const SIZE = 8 * MiB;
const PIECE = 256 * 1024;
const TRANSFER_TIMEOUT_MS = 60_000;

/** A scope closed after the test, whatever happens in it. */
function scopeFor(t: { after(fn: () => Promise<void>): void }, label: string): InteropScope {
  const s = new InteropScope(label);
  t.after(() => s.close());
  return s;
}

/** A random SIZE-byte file and its v1 torrent, in the scope's temp dirs. */
async function fixture(s: InteropScope): Promise<{ file: string; dir: string; sha256: string; torrent: string; infoHash: string; name: string }> {
  const src = await s.randomFile(SIZE);
  const tdir = await s.tempDir('torrent');
  const info = await createTorrent(src.path, path.join(tdir, 'payload.torrent'), { pieceLength: PIECE });
  assert.equal(info.totalSize, SIZE);
  assert.equal(info.numPieces, SIZE / PIECE);
  return { file: src.path, dir: src.dir, sha256: src.sha256, torrent: info.torrentPath, infoHash: info.infoHash, name: info.name };
}

function assertPlainTcp(r: LibtorrentResult): void {
  assert.ok(r.peers.length >= 1, 'libtorrent saw a peer');
  assert.equal(r.peers[0].utp, false, 'TCP, not uTP (INTEROP.md rule 2)');
  assert.equal(r.peers[0].rc4, false, 'not RC4-encrypted');
}

test('sha256File hashes the bytes of a file', async (t) => {
  const s = scopeFor(t, 'sha');
  const dir = await s.tempDir();
  const bytes = Buffer.from('seedpay interop\n'.repeat(100_000));
  const p = path.join(dir, 'x');
  await writeFile(p, bytes);
  assert.equal(await sha256File(p), createHash('sha256').update(bytes).digest('hex'));
});

test('a missing client throws under CI=true and skips otherwise', () => {
  const missing: ClientStatus = { name: 'qbittorrent', available: false, detail: 'qbittorrent-nox not on PATH' };
  assert.throws(() => decideClient(missing, undefined, true), (e: unknown) => e instanceof InteropError && e.code === 'CLIENT_MISSING');
  const skipped: string[] = [];
  assert.equal(decideClient(missing, { skip: (m?: string) => skipped.push(m ?? '') }, false), false);
  assert.match(skipped[0], /qbittorrent-nox/);
  assert.equal(decideClient({ ...missing, available: true }, undefined, true), true);
});

test('close() kills the client process group and removes temp dirs', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'close');
  const f = await fixture(s);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.torrent, saveDir: f.dir });
  assert.equal(seeder.proc.alive, true);
  await s.close();
  assert.equal(seeder.proc.alive, false);
  assert.throws(() => process.kill(seeder.pid, 0), /ESRCH/);
  assert.equal(existsSync(f.dir), false);
});

test('libtorrent seeder → libtorrent leecher (leecher dials, TCP plaintext)', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'lt-lt');
  const f = await fixture(s);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.torrent, saveDir: f.dir });
  const out = await s.tempDir('leech');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.torrent, saveDir: out, connect: [seeder.endpoint] });
  assert.notEqual(leecher.endpoint.host, seeder.endpoint.host, 'distinct loopback addresses');
  const r = await leecher.result(TRANSFER_TIMEOUT_MS);
  assert.equal(r.complete, true);
  assert.equal(r.total_bytes, SIZE);
  assertPlainTcp(r);
  assert.equal(r.peers[0].outgoing, true);
  assert.equal(await sha256File(path.join(out, f.name)), f.sha256);
  const sr = await seeder.stop();
  assert.ok(sr !== null && sr.payload_up >= SIZE, 'the seeder uploaded the whole file');
});

test('qBittorrent seeder → libtorrent leecher (libtorrent dials qBittorrent)', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t) || !requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'qbt-lt');
  const f = await fixture(s);
  const qbt = await s.startQbittorrent();
  await qbt.addTorrent(f.torrent, f.dir);
  await qbt.waitSeeding(f.infoHash);
  const out = await s.tempDir('leech');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.torrent, saveDir: out, connect: [qbt.peerEndpoint] });
  const r = await leecher.result(TRANSFER_TIMEOUT_MS);
  assert.equal(r.complete, true);
  assertPlainTcp(r);
  assert.match(r.peers[0].client, /qBittorrent/);
  assert.equal(await sha256File(path.join(out, f.name)), f.sha256);
});

test('libtorrent seeder → qBittorrent leecher (qBittorrent dials via addPeers)', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t) || !requireClient('qbittorrent', t)) return;
  const s = scopeFor(t, 'lt-qbt');
  const f = await fixture(s);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.torrent, saveDir: f.dir });
  const qbt = await s.startQbittorrent();
  const out = await s.tempDir('qbt-dl');
  await qbt.addTorrent(f.torrent, out);
  await qbt.waitDownloading(f.infoHash);
  await qbt.addPeers(f.infoHash, [seeder.endpoint]);
  const done = await qbt.waitComplete(f.infoHash, TRANSFER_TIMEOUT_MS);
  assert.equal(done.size, SIZE);
  assert.equal(await sha256File(path.join(out, f.name)), f.sha256);
  const sr = await seeder.stop();
  assert.ok(sr !== null && sr.payload_up >= SIZE);
  assert.equal(sr.peers[0].outgoing, false, 'qBittorrent dialled the seeder');
});

test('libtorrent seeder → Transmission leecher (libtorrent dials Transmission)', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t) || !requireClient('transmission', t)) return;
  const s = scopeFor(t, 'lt-tr');
  const f = await fixture(s);
  const tr = await s.startTransmission();
  const id = await tr.addTorrent(f.torrent);
  await tr.waitActive(id);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.torrent, saveDir: f.dir, connect: [tr.peerEndpoint] });
  const done = await tr.waitComplete(id, TRANSFER_TIMEOUT_MS);
  assert.equal(done.totalSize, SIZE);
  assert.equal(await sha256File(path.join(tr.downloadDir, f.name)), f.sha256);
  const sr = await seeder.stop();
  assert.ok(sr !== null && sr.payload_up >= SIZE);
  assert.match(sr.peers[0].client, /Transmission/);
  assertPlainTcp(sr);
});

test('Transmission seeder → libtorrent leecher (libtorrent dials; Transmission rechokes within ~10 s)', { timeout: TRANSFER_TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t) || !requireClient('transmission', t)) return;
  const s = scopeFor(t, 'tr-lt');
  const f = await fixture(s);
  const tr = await s.startTransmission();
  const id = await tr.addTorrent(f.torrent, f.dir); // data present: Transmission verifies it, then seeds
  const seeding = await tr.waitActive(id);
  assert.equal(seeding.percentDone, 1);
  const out = await s.tempDir('leech');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.torrent, saveDir: out, connect: [tr.peerEndpoint] });
  const r = await leecher.result(TRANSFER_TIMEOUT_MS);
  assert.equal(r.complete, true);
  assertPlainTcp(r);
  assert.match(r.peers[0].client, /Transmission/);
  assert.equal(await sha256File(path.join(out, f.name)), f.sha256);
});
