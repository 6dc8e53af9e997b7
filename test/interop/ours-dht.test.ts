/**
 * The mainline DHT (BEP 5) with libtorrent: loopback DHTs mixing libtorrent nodes
 * (scripts/lt_dht_node.py, IP restrictions off) and ours, each on its own 127.0.0.x.
 * Peers are found through the DHT alone: magnet links carry only the info hash (no
 * tr=, no x.pe=) and nobody is told a peer address.
 *   - our magnet fetch finds a libtorrent seeder, gets the metadata and the data;
 *   - a libtorrent magnet fetch finds our seeder (libtorrent says it learnt the peer
 *     from the DHT), and downloads from it.
 * sha256 of every download is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildMagnet, formatPeerAddress } from '../../format/magnet.js';
import type { DhtEvent } from '../../lib/discovery/client-dht.js';
import { assertSameBytes, endpointString, requireClient } from '../../testkit/clients.js';
import { startLtDhtNode } from '../../testkit/lt-dht.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete, waitMetadata } from '../../testkit/ours-helpers.js';
import { until } from '../../testkit/paid-helpers.js';

const FAST = { retryBaseMs: 500, retryMaxMs: 2_000 };

test('our magnet fetch finds a libtorrent seeder through the DHT alone', { timeout: 30_000 }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'dht-lt-seed');
  const f = await makeFixture(s, 2 * MiB, 64 * 1024);
  const lt1 = await startLtDhtNode(s, { bind: '127.0.0.61' });
  const lt2 = await startLtDhtNode(s, { bind: '127.0.0.62', bootstrap: [lt1.dht] });
  const boot = [endpointString(lt1.dht)];
  const ourNode = await OurPeer.start(t, { bind: '127.0.0.63', dht: { bootstrap: boot, ...FAST } });
  assert.ok(ourNode.client.dhtAddress !== null);
  const seeder = await startLtDhtNode(s, { bind: '127.0.0.64', bootstrap: [lt1.dht, lt2.dht], seed: { torrentPath: f.info.torrentPath, dir: f.dir } });
  await seeder.waitEvent('seeding', 15_000);

  const events: DhtEvent[] = [];
  const ours = await OurPeer.start(t, { bind: '127.0.0.65', dht: { bootstrap: boot, ...FAST } });
  ours.client.on('dht', (_t, e) => events.push(e));
  const out = await s.tempDir('ours-dl');
  const magnet = buildMagnet({ infoHash: Buffer.from(f.info.infoHash, 'hex') });
  const tor = await ours.add(magnet, out);
  await waitMetadata(tor, 20_000);
  assert.equal(tor.metainfo!.infoHashHex, f.info.infoHash);
  await waitComplete(tor, 20_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  const p = ours.peerMatching(/libtorrent/);
  assert.equal(p.address, endpointString(seeder.peer), 'the libtorrent seeder, dialled at the address the DHT gave');
  assert.ok(events.some((e) => e.type === 'walk' && e.newPeers >= 1), `a DHT walk found it: ${JSON.stringify(events)}`);
});

test('libtorrent finds our seeder through the DHT alone', { timeout: 30_000 }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'dht-lt-magnet');
  const f = await makeFixture(s, 2 * MiB, 64 * 1024);
  const first = await OurPeer.start(t, { bind: '127.0.0.71', dht: { bootstrap: [], ...FAST } });
  const boot = first.client.dhtAddress!;
  const lt1 = await startLtDhtNode(s, { bind: '127.0.0.72', bootstrap: [boot] });
  const seedEvents: DhtEvent[] = [];
  const seeder = await OurPeer.start(t, { bind: '127.0.0.73', dht: { bootstrap: [formatPeerAddress(boot)], ...FAST } });
  seeder.client.on('dht', (_t, e) => seedEvents.push(e));
  await seeder.add(f.info.torrentPath, f.dir, { assumeComplete: true });
  // Announced before libtorrent starts looking (a complete torrent re-announces only
  // after the interval, so this waits for the first announce, however many nodes it reached).
  await until(() => seedEvents.some((e) => e.type === 'walk' && e.walk === 'announce' && e.nodes >= 1), 15_000, 'our seeder announced');

  const save = await s.tempDir('lt-dl');
  const magnet = buildMagnet({ infoHash: Buffer.from(f.info.infoHash, 'hex') });
  const leech = await startLtDhtNode(s, { bind: '127.0.0.74', bootstrap: [boot, lt1.dht], magnet: { uri: magnet, saveDir: save }, timeoutS: 25 });
  const done = await leech.waitEvent('done', 25_000);
  assert.equal(done.ok, true, JSON.stringify(done));
  const peers = done.peers as Record<string, string>;
  const us = endpointString(seeder.endpoint);
  assert.match(peers[us] ?? '', /\bdht\b/, `libtorrent learnt our seeder ${us} from the DHT: ${JSON.stringify(peers)}`);
  await assertSameBytes(path.join(save, f.info.name), f.sha256);
});
