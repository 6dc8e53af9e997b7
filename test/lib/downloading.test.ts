/**
 * Downloading over real loopback TCP against hostile and broken peers: a seeder
 * that sends corrupted blocks is banned and its pieces come from a good seeder; a
 * peer that never answers has its requests timed out and re-requested elsewhere;
 * resume rechecks data on disk and fetches only what is missing; close() leaves no
 * socket, server, timer or file handle behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import type { PeerSession } from '../../lib/engine/peer-session.js';
import { RawPeer } from './raw-peer.js';
import { checkFiles, makeFixture, whenDone, waitEvent } from '../../testkit/torrent-helpers.js';

const PL = 65536;

test('a peer sending corrupted data is banned; its pieces are fetched from the good seeder', async () => {
  const fx = await makeFixture({ files: [['a.bin', 3 * 1024 * 1024 + 77]], pieceLength: PL });
  const good = new Client();
  const leecher = new Client();
  const bad = await RawPeer.listenCorrupt(fx.meta.pieceCount);
  try {
    const gport = await good.listen(0);
    await good.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'l') });
    const banned: string[] = [];
    const verdicts = new Map<string, { ok: number; bad: number }>();
    lt.on('banned', (s) => banned.push(s.address));
    lt.on('peer_piece', (s: PeerSession, _i, ok) => {
      const v = verdicts.get(s.address) ?? { ok: 0, bad: 0 };
      if (ok) v.ok++; else v.bad++;
      verdicts.set(s.address, v);
    });
    const badAddr = `127.0.0.1:${bad.port}`;
    const goodAddr = `127.0.0.1:${gport}`;
    lt.addPeer(badAddr);
    await new Promise((r) => setTimeout(r, 50)); // let the bad peer take the first requests
    lt.addPeer(goodAddr);
    await whenDone(lt);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'l')), []);
    assert.deepEqual(banned, [badAddr]);
    assert.ok(lt.stats().hashFailures >= 1);
    assert.ok((verdicts.get(badAddr)?.bad ?? 0) >= 1, 'the bad peer got a "bad piece" verdict');
    assert.ok((verdicts.get(goodAddr)?.ok ?? 0) >= 1, 'the good peer got "piece ok" verdicts');
    assert.ok(!lt.peers().some((s) => s.address === badAddr), 'the banned peer is disconnected');
  } finally {
    await leecher.close();
    await good.close();
    for (const p of bad.peers) p.close();
    bad.server.close();
    await fx.cleanup();
  }
});

test('requests a silent peer never answers time out and are re-requested from another peer', async () => {
  const fx = await makeFixture({ files: [['a.bin', 1024 * 1024 + 5]], pieceLength: PL });
  const good = new Client();
  const leecher = new Client({ requestTimeout: 300 });
  const silent = await RawPeer.listen({
    numPieces: fx.meta.pieceCount,
    onEvent: (ev, p) => {
      if (ev.type === 'handshake') { p.conn.haveAll(Date.now()); p.conn.unchoke(Date.now()); }
    },
  });
  try {
    const gport = await good.listen(0);
    await good.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.1:${silent.port}`] });
    await new Promise((r) => setTimeout(r, 100)); // the silent peer holds a full pipeline
    const silentSession = lt.peers()[0];
    assert.ok(silentSession.conn.requestsInFlight > 0);
    // After requestTimeout the leecher cancels them (the fast peer's connection answers each with a reject).
    const raw = silent.peers[0];
    await raw.waitEvent('cancel', () => true, 5000);
    lt.addPeer(`127.0.0.1:${gport}`);
    await whenDone(lt, 15_000);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'l')), []);
    assert.equal(silentSession.downloaded, 0);
  } finally {
    await leecher.close();
    await good.close();
    for (const p of silent.peers) p.close();
    silent.server.close();
    await fx.cleanup();
  }
});

test('resume: data on disk is rechecked and only the missing pieces are downloaded', async () => {
  const fx = await makeFixture({ files: [['a.bin', 10 * PL + 500], ['b.bin', 3 * PL]], pieceLength: PL });
  const dir = join(fx.root, 'l');
  await cp(fx.seedDir, dir, { recursive: true });
  const name = fx.meta.name;
  // Damage piece 2 and piece 4 in place, and cut b.bin short (its last piece and a half).
  const fh = await open(join(dir, name, 'a.bin'), 'r+');
  await fh.write(Buffer.from([1, 2, 3]), 0, 3, 2 * PL + 100);
  await fh.write(Buffer.from([9]), 0, 1, 4 * PL + PL - 1);
  await fh.close();
  await truncate(join(dir, name, 'b.bin'), PL + 1000);
  const seeder = new Client();
  const leecher = new Client();
  try {
    const port = await seeder.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir });
    const m = fx.meta;
    // b.bin starts at 10*PL+500: pieces 11 (straddles its byte PL+1000 cut), 12 and 13 are gone.
    const missing = [2, 4, 11, 12, 13];
    const have = lt.progress().have;
    assert.equal(have, m.pieceCount - missing.length);
    const sizes = missing.reduce((n, i) => n + m.fileMap.pieceSize(i), 0);
    const got: number[] = [];
    lt.on('piece', (i) => got.push(i));
    lt.addPeer(`127.0.0.1:${port}`);
    await whenDone(lt);
    assert.deepEqual(got.sort((a, b) => a - b), missing);
    assert.equal(lt.stats().downloaded, sizes);
    assert.deepEqual(await checkFiles(fx, dir), []);
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});

test('close() releases every socket, server, timer and file handle', async () => {
  const watched = new Set(['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'Immediate', 'FileHandle', 'FSReqPromise', 'FSReqCallback']);
  const count = (): Map<string, number> => {
    const m = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) if (watched.has(r)) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };
  const fx = await makeFixture({ files: [['a.bin', 2 * 1024 * 1024]], pieceLength: PL });
  try {
    await new Promise((r) => setTimeout(r, 20));
    const before = count();
    const seeder = new Client();
    const leecher = new Client();
    const port = await seeder.listen(0);
    await leecher.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.1:${port}`] });
    // Close in the middle of the transfer.
    await waitEvent(lt, 'piece');
    await leecher.close();
    await seeder.close();
    let after = count();
    for (let i = 0; i < 100 && JSON.stringify([...after].sort()) !== JSON.stringify([...before].sort()); i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = count();
    }
    assert.deepEqual([...after].sort(), [...before].sort());
  } finally {
    await fx.cleanup();
  }
});

test('sequential option: pieces are requested in index order (rarest-first otherwise)', async () => {
  const fx = await makeFixture({ files: [['a.bin', 40 * 16384]], pieceLength: 16384 });
  const data = await readFile(join(fx.seedDir, ...fx.meta.files[0].path));
  const orders: number[][] = [];
  const seeder = await RawPeer.listen({
    numPieces: fx.meta.pieceCount,
    onEvent: (ev, p) => {
      const now = Date.now();
      if (ev.type === 'handshake') { p.conn.haveAll(now); p.conn.unchoke(now); orders.push([]); }
      if (ev.type === 'request') {
        orders[orders.length - 1].push(ev.index);
        p.conn.sendPiece(ev.index, ev.begin, data.subarray(ev.index * 16384 + ev.begin, ev.index * 16384 + ev.begin + ev.length), now);
      }
    },
  });
  try {
    for (const sequential of [true, false]) {
      const leecher = new Client();
      try {
        const lt = await leecher.add(fx.torrent, { dir: join(fx.root, `l-${sequential}`), sequential, peers: [`127.0.0.1:${seeder.port}`] });
        await whenDone(lt);
        assert.deepEqual(await checkFiles(fx, join(fx.root, `l-${sequential}`)), []);
      } finally {
        await leecher.close();
      }
    }
    const [seq, rarest] = orders;
    assert.deepEqual(seq, [...seq].sort((a, b) => a - b), 'in order');
    assert.notDeepEqual(rarest, [...rarest].sort((a, b) => a - b), 'rarest first breaks ties at random');
  } finally {
    for (const p of seeder.peers) p.close();
    seeder.server.close();
    await fx.cleanup();
  }
});

test('a finished downloader keeps seeding: a second leecher gets the torrent from it alone', async () => {
  const fx = await makeFixture({ files: [['x/a.bin', 500_000], ['x/b.bin', 300_001]], pieceLength: 32768 });
  const seeder = new Client();
  const first = new Client();
  const second = new Client();
  try {
    const sport = await seeder.listen(0);
    const fport = await first.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const t1 = await first.add(fx.torrent, { dir: join(fx.root, 'first'), peers: [`127.0.0.1:${sport}`] });
    await whenDone(t1);
    const seederPeer = t1.peers().find((s) => s.address === `127.0.0.1:${sport}`);
    assert.equal(seederPeer, undefined, 'two seeds do not stay connected');
    await seeder.close();
    const t2 = await second.add(fx.torrent, { dir: join(fx.root, 'second'), peers: [`127.0.0.1:${fport}`] });
    await whenDone(t2);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'second')), []);
    assert.equal(t1.stats().uploaded, fx.meta.totalLength);
  } finally {
    await second.close();
    await first.close();
    await seeder.close();
    await fx.cleanup();
  }
});
