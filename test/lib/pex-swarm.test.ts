/**
 * Peer exchange over real loopback TCP, ours only: one seeder and two leechers, each
 * on its own 127.0.0.x with its own listen port, each leecher given only the seeder.
 * The seeder serves each leecher only half the pieces (testkit/split-seeder.ts), so neither leecher can finish unless
 * the two find each other — which only peer exchange can tell them. Checked: each
 * learnt the other's listen address from the seeder by PEX, a connection between them
 * carried pieces both ways (one connection, though both dialled), and both files match
 * the source by sha256.
 *
 * The same swarm with `pex: false` shows the other side: the leechers never meet and
 * stall at their halves; and a private torrent (BEP 27) keeps PEX off with PEX enabled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, type ClientOptions } from '../../lib/net/client.js';
import type { Torrent } from '../../lib/engine/torrent.js';
import type { PeerSession } from '../../lib/engine/peer-session.js';
import type { TorrentPlugin } from '../../extensions/plugin.js';
import { formatPeerAddress } from '../../format/magnet.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import type { PexPeer } from '../../extensions/pex/index.js';
import { assertDownloaded, makeFixture, waitEvent, type Fixture } from '../../testkit/torrent-helpers.js';
import { waitFor } from '../../testkit/clients.js';
import { splitSeeder } from '../../testkit/split-seeder.js';

const SEEDER = '127.0.0.61';
const L1 = '127.0.0.62';
const L2 = '127.0.0.63';

interface Node { client: Client; port: number; torrent: Torrent; learnt: string[]; sessions: PeerSession[] }

async function node(fx: Fixture, ip: string, opts: ClientOptions, dir: string, peers: string[], extensions: TorrentPlugin[] = []): Promise<Node> {
  const client = new Client({ ...opts, localAddress: ip });
  const port = await client.listen(0, ip);
  const learnt: string[] = [];
  client.on('pex', (_t, p: PexPeer, from) => learnt.push(`${formatPeerAddress(p)} from ${from.slice(0, from.lastIndexOf(':'))}`));
  const torrent = await client.add(fx.torrent, { dir, peers, extensions });
  const sessions: PeerSession[] = [];
  torrent.on('peer', (s) => sessions.push(s));
  return { client, port, torrent, learnt, sessions };
}

/** Payload bytes that went between `a` and the node on `ip` (both directions), and over how many connections. */
function between(a: Node, ip: string): { down: number; up: number; connections: number; carried: number } {
  const ss = a.sessions.filter((s) => s.address.startsWith(`${ip}:`));
  return {
    down: ss.reduce((n, s) => n + s.downloaded, 0), up: ss.reduce((n, s) => n + s.uploaded, 0),
    connections: ss.length, carried: ss.filter((s) => s.downloaded + s.uploaded > 0).length,
  };
}

async function swarm(fx: Fixture, opts: ClientOptions): Promise<{ seeder: Node; l1: Node; l2: Node; close(): Promise<void> }> {
  const seeder = await node(fx, SEEDER, opts, fx.seedDir, [], [splitSeeder(fx.meta.pieceCount, [L1, L2])]);
  assert.equal(seeder.torrent.isComplete, true);
  const at = `${SEEDER}:${seeder.port}`;
  const l1 = await node(fx, L1, opts, join(fx.root, 'l1'), [at]);
  const l2 = await node(fx, L2, opts, join(fx.root, 'l2'), [at]);
  return { seeder, l1, l2, close: async () => { for (const n of [l1, l2, seeder]) await n.client.close(); } };
}

test('two leechers given only the seeder find each other by PEX and finish from each other', { timeout: 60_000 }, async () => {
  const fx = await makeFixture({ files: [['payload.bin', 2 * 1024 * 1024 + 4321]], pieceLength: 32 * 1024 });
  const s = await swarm(fx, {});
  try {
    await Promise.all([
      assertDownloaded(s.l1.torrent, fx, join(fx.root, 'l1'), 30_000),
      assertDownloaded(s.l2.torrent, fx, join(fx.root, 'l2'), 30_000),
    ]);
    assert.deepEqual(s.l1.learnt, [`${L2}:${s.l2.port} from ${SEEDER}`], 'L1 learnt L2\'s listen address from the seeder');
    assert.deepEqual(s.l2.learnt, [`${L1}:${s.l1.port} from ${SEEDER}`], 'L2 learnt L1\'s listen address from the seeder');
    const a = between(s.l1, L2);
    const b = between(s.l2, L1);
    assert.ok(a.connections >= 1 && b.connections >= 1, 'a connection between the leechers');
    // Both dialled (each heard of the other in the same tick): one of the two connections
    // is closed by both ends, so the halves are not downloaded twice (cross-dial.ts).
    assert.equal(a.carried, 1, `one connection carried L1's traffic with L2 (${a.connections} made)`);
    assert.equal(b.carried, 1, `one connection carried L2's traffic with L1 (${b.connections} made)`);
    const half = fx.meta.totalLength / 2;
    assert.ok(a.down > half * 0.9 && b.down > half * 0.9, `each got its other half from the other (${a.down}, ${b.down} of ${fx.meta.totalLength})`);
    assert.equal(a.down, b.up, 'what L1 got from L2 is what L2 sent it');
    assert.ok(s.seeder.torrent.stats().uploaded <= fx.meta.totalLength + 2 * 32 * 1024, 'the seeder served about one copy, halves to each');
  } finally {
    await s.close();
    await fx.cleanup();
  }
});

test('with pex: false the same leechers never meet and stall at their halves', { timeout: 30_000 }, async () => {
  const fx = await makeFixture({ files: [['payload.bin', 256 * 1024]], pieceLength: 32 * 1024 });
  const s = await swarm(fx, { pex: false });
  try {
    await waitFor(async () => s.l1.torrent.progress().have === 4 && s.l2.torrent.progress().have === 4, 15_000, 'each leecher holds its half');
    // PEX would have spoken within the seeder's first ticks after both connected.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(s.l1.torrent.progress().have, 4);
    assert.equal(between(s.l1, L2).connections + between(s.l2, L1).connections, 0);
    assert.deepEqual([...s.l1.learnt, ...s.l2.learnt], []);
  } finally {
    await s.close();
    await fx.cleanup();
  }
});

test('a private torrent (BEP 27) does not advertise ut_pex, with PEX on', { timeout: 30_000 }, async () => {
  const fx = await makeFixture({ files: [['p.bin', 100_000]], pieceLength: 32 * 1024 });
  const priv = await createTorrentFromPath(join(fx.seedDir, 'content'), { pieceLength: 32 * 1024, private: true });
  assert.equal(priv.metainfo.private, true);
  const seeder = new Client({ localAddress: SEEDER });
  const leecher = new Client({ localAddress: L1 });
  try {
    const port = await seeder.listen(0, SEEDER);
    await seeder.add(priv.torrent, { dir: fx.seedDir });
    const t = await leecher.add(priv.torrent, { dir: join(fx.root, 'pl'), peers: [`${SEEDER}:${port}`] });
    const [s] = await waitEvent(t, 'peer');
    await waitFor(async () => s.conn.peerExtendedHandshake !== null, 10_000, 'the seeder\'s extended handshake');
    assert.equal(s.conn.peerExtendedHandshake!.m.has('ut_pex'), false);
    assert.equal(s.conn.peerExtendedHandshake!.m.has('ut_metadata'), true);
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});
