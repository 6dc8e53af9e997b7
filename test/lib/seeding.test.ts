/**
 * Seeding over real loopback TCP, probed by a hand-driven peer (raw-peer.ts):
 * initial piece messages, reqq, bounds on requests (missing piece, out of range,
 * too long), the choker's slots, a seeder dialling a leecher, and the extension
 * gate (refusal → reject under fast, choke otherwise; resume() lifts it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type ClientOptions } from '../../lib/net/client.js';
import type { ExtensionFactory } from '../../extensions/registry.js';
import type { PeerSession } from '../../lib/engine/peer-session.js';
import type { TorrentOptions } from '../../lib/engine/torrent.js';
import { RawPeer, type RawOptions } from './raw-peer.js';
import { assertDownloaded, makeFixture, type Fixture } from '../../testkit/torrent-helpers.js';

const PL = 32768;

async function withSeeder(
  fx: Fixture, copts: ClientOptions, topts: Partial<TorrentOptions>,
  body: (port: number, c: Client) => Promise<void>,
): Promise<void> {
  const c = new Client(copts);
  try {
    const port = await c.listen(0);
    await c.add(fx.torrent, { dir: fx.seedDir, ...topts });
    await body(port, c);
  } finally {
    await c.close();
  }
}

function dial(port: number, fx: Fixture, o: RawOptions = {}): RawPeer {
  return RawPeer.dial(port, { maxRequestLength: 1024 * 1024, ...o, infoHash: fx.meta.infoHash, numPieces: fx.meta.pieceCount });
}

/** Interested, then wait for the seeder's unchoke. */
async function getUnchoked(p: RawPeer): Promise<void> {
  await p.waitEvent('handshake');
  p.do((c, now) => c.interested(now));
  await p.waitEvent('unchoke');
}

/** Overwrite one byte of the torrent's data at `offset` (the first file holds it). */
async function corruptByte(fx: Fixture, offset: number): Promise<void> {
  const path = join(fx.seedDir, ...fx.meta.files[0].path);
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}

test('complete seeder: have_all to a fast peer, a full bitfield otherwise; reqq advertised', async () => {
  const fx = await makeFixture({ files: [['a.bin', 5 * PL + 100]], pieceLength: PL });
  try {
    await withSeeder(fx, { reqq: 123 }, {}, async (port) => {
      const fast = dial(port, fx);
      const bf = await fast.waitEvent('bitfield');
      assert.equal(bf.source, 'have_all');
      const hs = await fast.waitEvent('extended_handshake');
      assert.equal(hs.handshake.reqq, 123);
      assert.match(hs.handshake.v ?? '', /SeedPay/);
      fast.close();
      const slow = dial(port, fx, { fast: false });
      const bf2 = await slow.waitEvent('bitfield');
      assert.equal(bf2.source, 'bitfield');
      assert.equal(bf2.pieces.count, fx.meta.pieceCount);
      slow.close();
    });
  } finally {
    await fx.cleanup();
  }
});

test('a piece missing on disk: rejected under fast, the connection ends without fast; present blocks are served', async () => {
  const fx = await makeFixture({ files: [['a.bin', 6 * PL]], pieceLength: PL });
  try {
    await corruptByte(fx, 2 * PL + 5); // piece 2 fails the recheck
    await withSeeder(fx, {}, {}, async (port, c) => {
      const closes: string[] = [];
      c.list()[0].on('peer_closed', (_s, r) => closes.push(r.code));
      const p = dial(port, fx);
      const bf = await p.waitEvent('bitfield');
      assert.equal(bf.source, 'bitfield');
      assert.deepEqual([...bf.pieces], [0, 1, 3, 4, 5]);
      await getUnchoked(p);
      // The raw peer's own connection refuses to request what the seeder lacks: pretend it has it.
      p.conn.peerPieces!.set(2);
      p.do((c, now) => { c.request(2, 0, 16384, now); c.request(3, 16384, 16384, now); });
      const rej = await p.waitEvent('reject');
      assert.deepEqual([rej.index, rej.begin, rej.length], [2, 0, 16384]);
      const got = await p.waitEvent('piece', (e) => e.index === 3);
      assert.equal(got.begin, 16384);
      assert.equal(got.block.length, 16384);
      p.close();

      const q = dial(port, fx, { fast: false });
      await getUnchoked(q);
      q.conn.peerPieces!.set(2);
      q.do((cn, now) => cn.request(2, 0, 16384, now));
      await q.waitClosed();
      await new Promise((r) => setImmediate(r));
      assert.equal(closes[closes.length - 1], 'BAD_REQUEST');
    });
  } finally {
    await fx.cleanup();
  }
});

test('out-of-range and over-long requests are rejected; beyond the 128 KiB hard cap ends the connection', async () => {
  const fx = await makeFixture({ files: [['a.bin', 4 * PL + 1000]], pieceLength: PL });
  try {
    await withSeeder(fx, {}, {}, async (port, cl) => {
      const closes: string[] = [];
      cl.list()[0].on('peer_closed', (_s, r) => closes.push(r.code));
      const p = dial(port, fx);
      await getUnchoked(p);
      const last = fx.meta.pieceCount - 1; // 1000 bytes long
      p.do((c, now) => {
        c.request(0, PL - 8, 16384, now); // runs past the end of the piece
        c.request(last, 0, 16384, now); // past the short last piece
        c.request(1, 0, 32768, now); // longer than the 16 KiB we serve
        c.request(last, 0, 1000, now); // fine
      });
      const rejects = new Set<string>();
      for (const [i, b, l] of [[0, PL - 8, 16384], [last, 0, 16384], [1, 0, 32768]]) {
        const r = await p.waitEvent('reject', (e) => e.index === i && e.begin === b && e.length === l);
        rejects.add(`${r.index}:${r.begin}:${r.length}`);
      }
      assert.equal(rejects.size, 3);
      const ok = await p.waitEvent('piece', (e) => e.index === last);
      assert.equal(ok.block.length, 1000);
      p.do((c, now) => c.request(1, 0, 256 * 1024, now));
      await p.waitClosed();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(closes, ['BAD_REQUEST'], 'the wire ends a connection asking beyond the hard cap');
    });
    // A configured larger block size is served.
    await withSeeder(fx, { maxBlockLength: 32768 }, {}, async (port) => {
      const p = dial(port, fx);
      await getUnchoked(p);
      p.do((c, now) => c.request(1, 0, 32768, now));
      const got = await p.waitEvent('piece', (e) => e.index === 1);
      assert.equal(got.block.length, 32768);
      p.close();
    });
  } finally {
    await fx.cleanup();
  }
});

test('unchoke slots: with one regular slot, at most two of three interested peers are unchoked', async () => {
  const fx = await makeFixture({ files: [['a.bin', 4 * PL]], pieceLength: PL });
  try {
    await withSeeder(fx, {}, { uploadSlots: 1 }, async (port) => {
      const peers = [dial(port, fx), dial(port, fx), dial(port, fx)];
      for (const p of peers) await p.waitEvent('handshake');
      for (const p of peers) p.do((c, now) => c.interested(now));
      await Promise.race(peers.map((p) => p.waitEvent('unchoke')));
      await new Promise((r) => setTimeout(r, 300));
      const unchoked = peers.filter((p) => !p.conn.peerChoking).length;
      assert.ok(unchoked >= 1 && unchoked <= 2, `${unchoked} unchoked`);
      for (const p of peers) p.close();
    });
  } finally {
    await fx.cleanup();
  }
});

test('a seeder can dial a leecher (which never dials)', async () => {
  const fx = await makeFixture({ files: [['a.bin', 700_001]], pieceLength: PL });
  const seeder = new Client();
  const leecher = new Client();
  try {
    const lport = await leecher.listen(0);
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'l') });
    await seeder.add(fx.torrent, { dir: fx.seedDir, peers: [`127.0.0.1:${lport}`] });
    await assertDownloaded(lt, fx, join(fx.root, 'l'));
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});

/** A test extension whose gate is a switch. */
function gateExtension(state: { open: boolean }): ExtensionFactory {
  return {
    name: 'test_gate',
    create: () => ({ name: 'test_gate', canSendPiece: () => state.open }),
  };
}

test('an extension refusing a block: reject_request under fast; choke without fast until resume()', async () => {
  const fx = await makeFixture({ files: [['a.bin', 4 * PL]], pieceLength: PL });
  try {
    const gate = { open: false };
    const sessions: PeerSession[] = [];
    const refused: number[] = [];
    await withSeeder(fx, {}, { extensions: [gateExtension(gate)] }, async (port, c) => {
      const t = c.list()[0];
      t.on('peer', (s) => sessions.push(s));
      t.on('refused', (_s, index) => refused.push(index));

      const p = dial(port, fx);
      await getUnchoked(p);
      p.do((cn, now) => cn.request(1, 0, 16384, now));
      const r = await p.waitEvent('reject');
      assert.equal(r.index, 1);
      assert.deepEqual(refused, [1]);
      gate.open = true;
      p.do((cn, now) => cn.request(1, 0, 16384, now));
      await p.waitEvent('piece', (e) => e.index === 1);
      p.close();

      gate.open = false;
      const q = dial(port, fx, { fast: false });
      await getUnchoked(q);
      q.do((cn, now) => cn.request(2, 0, 16384, now));
      await q.waitEvent('choke');
      const s = sessions[sessions.length - 1];
      assert.equal(s.gateHeld, true);
      gate.open = true;
      s.resume();
      const n = q.events.filter((e) => e.type === 'unchoke').length;
      await q.waitEvent('unchoke', () => q.events.filter((e) => e.type === 'unchoke').length > n);
      q.do((cn, now) => cn.request(2, 0, 16384, now));
      const got = await q.waitEvent('piece', (e) => e.index === 2);
      assert.equal(got.block.length, 16384);
      q.close();
    });
  } finally {
    await fx.cleanup();
  }
});

test('chokeFilter (paid-only policy): a filtered peer is never unchoked', async () => {
  const fx = await makeFixture({ files: [['a.bin', 2 * PL]], pieceLength: PL });
  try {
    await withSeeder(fx, {}, { chokeFilter: () => false }, async (port) => {
      const p = dial(port, fx);
      await p.waitEvent('handshake');
      p.do((c, now) => c.interested(now));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(p.events.some((e) => e.type === 'unchoke'), false);
      assert.equal(p.conn.peerChoking, true);
      p.close();
    });
  } finally {
    await fx.cleanup();
  }
});

test('a tiny read-buffer pool (2 slabs, 1 per peer) still serves three leechers at once, correctly', async () => {
  const fx = await makeFixture({ files: [['a.bin', 1_500_000], ['b.bin', 700_003]], pieceLength: PL });
  const seeder = new Client({ maxSlabs: 2, maxSlabsPerPeer: 1, slabSize: 65536 });
  const leechers = [new Client(), new Client(), new Client()];
  try {
    const port = await seeder.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir, uploadSlots: 3 });
    let maxInUse = 0;
    const ts = await Promise.all(leechers.map((c, i) => c.add(fx.torrent, { dir: join(fx.root, `l${i}`), peers: [`127.0.0.1:${port}`] })));
    for (const t of ts) t.on('piece', () => { maxInUse = Math.max(maxInUse, seeder.slabPool.inUse); });
    await Promise.all(ts.map((t, i) => assertDownloaded(t, fx, join(fx.root, `l${i}`))));
    assert.ok(maxInUse <= 2);
  } finally {
    for (const c of leechers) await c.close();
    await seeder.close();
    await fx.cleanup();
  }
});
