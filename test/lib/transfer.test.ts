/**
 * Ours → ours over real loopback TCP: a multi-file torrent whose pieces straddle
 * files, every file checked by sha256; fast extension on / off on either side; two
 * seeders at once; one listener serving two torrents; a magnet link (ut_metadata).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, type ClientOptions } from '../../lib/net/client.js';
import { buildMagnet } from '../../format/magnet.js';
import { assertDownloaded, makeFixture, type Fixture } from '../../testkit/torrent-helpers.js';

async function transfer(fx: Fixture, seedOpts: ClientOptions, leechOpts: ClientOptions, leechDir: string): Promise<{ fastSeen: boolean }> {
  const seeder = new Client(seedOpts);
  const leecher = new Client(leechOpts);
  try {
    const port = await seeder.listen(0);
    const st = await seeder.add(fx.torrent, { dir: fx.seedDir });
    assert.equal(st.isComplete, true, 'the seeder rechecked its data as complete');
    const lt = await leecher.add(fx.torrent, { dir: leechDir, peers: [`127.0.0.1:${port}`] });
    let fastSeen = false;
    lt.on('peer', (p) => { fastSeen = p.conn.fastEnabled; });
    await assertDownloaded(lt, fx, leechDir);
    const ls = lt.stats();
    assert.equal(ls.downloaded - ls.wasted, fx.meta.totalLength);
    assert.equal(ls.hashFailures, 0);
    assert.ok(ls.protocolDownloaded > 0 && ls.protocolUploaded > 0);
    return { fastSeen };
  } finally {
    await leecher.close();
    await seeder.close();
  }
}

test('multi-file torrent, pieces across file boundaries, fast on both sides', async () => {
  const fx = await makeFixture();
  try {
    const r = await transfer(fx, {}, {}, join(fx.root, 'l1'));
    assert.equal(r.fastSeen, true);
  } finally {
    await fx.cleanup();
  }
});

test('fast extension off on both sides, then on one side only (each way)', async () => {
  const fx = await makeFixture({ pieceLength: 32768 });
  try {
    assert.equal((await transfer(fx, { fast: false }, { fast: false }, join(fx.root, 'none'))).fastSeen, false);
    assert.equal((await transfer(fx, { fast: false }, {}, join(fx.root, 'seedoff'))).fastSeen, false);
    assert.equal((await transfer(fx, {}, { fast: false }, join(fx.root, 'leechoff'))).fastSeen, false);
  } finally {
    await fx.cleanup();
  }
});

test('a downloader uses two seeders at once', async () => {
  const fx = await makeFixture({ files: [['x.bin', 6 * 1024 * 1024 + 123]], pieceLength: 65536 });
  const s1 = new Client();
  const s2 = new Client();
  const leecher = new Client();
  try {
    const p1 = await s1.listen(0);
    const p2 = await s2.listen(0);
    const t1 = await s1.add(fx.torrent, { dir: fx.seedDir });
    const t2 = await s2.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'leech'), peers: [`127.0.0.1:${p1}`, `127.0.0.1:${p2}`] });
    await assertDownloaded(lt, fx, join(fx.root, 'leech'));
    assert.ok(t1.stats().uploaded > 0, 'seeder 1 served some blocks');
    assert.ok(t2.stats().uploaded > 0, 'seeder 2 served some blocks');
    assert.equal(t1.stats().uploaded + t2.stats().uploaded, lt.stats().downloaded);
  } finally {
    await leecher.close();
    await s1.close();
    await s2.close();
    await fx.cleanup();
  }
});

test('one listener serves two torrents: the handshake info hash picks the torrent', async () => {
  const a = await makeFixture({ name: 'alpha', files: [['a.bin', 300_001]], pieceLength: 16384 });
  const b = await makeFixture({ name: 'beta', files: [['b.bin', 500_002], ['c.bin', 7]], pieceLength: 32768 });
  const seeder = new Client();
  const leecher = new Client();
  try {
    const port = await seeder.listen(0);
    await seeder.add(a.torrent, { dir: a.seedDir });
    await seeder.add(b.torrent, { dir: b.seedDir });
    assert.equal(seeder.list().length, 2);
    const la = await leecher.add(a.torrent, { dir: join(a.root, 'l'), peers: [`127.0.0.1:${port}`] });
    const lb = await leecher.add(b.torrent, { dir: join(b.root, 'l'), peers: [`127.0.0.1:${port}`] });
    await Promise.all([assertDownloaded(la, a, join(a.root, 'l')), assertDownloaded(lb, b, join(b.root, 'l'))]);
  } finally {
    await leecher.close();
    await seeder.close();
    await a.cleanup();
    await b.cleanup();
  }
});

test('magnet link: metadata over ut_metadata from the seeder, then the download', async () => {
  const fx = await makeFixture({ files: [['m/one.bin', 400_000], ['m/two.bin', 123_457]], pieceLength: 16384 });
  const seeder = new Client();
  const leecher = new Client();
  try {
    const port = await seeder.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const magnet = buildMagnet({ infoHash: fx.meta.infoHash, name: fx.meta.name, peers: [{ host: '127.0.0.1', port }] });
    const lt = await leecher.add(magnet, { dir: join(fx.root, 'l') });
    assert.equal(lt.metainfo, null);
    const gotMeta = new Promise((res) => lt.once('metadata', res));
    await gotMeta;
    assert.equal(lt.metainfo!.infoHashHex, fx.meta.infoHashHex);
    await assertDownloaded(lt, fx, join(fx.root, 'l'));
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});
