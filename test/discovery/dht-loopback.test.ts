/**
 * A loopback DHT of our own nodes (lib/discovery/dht-node.ts over real UDP): three
 * plain nodes, a seeder that announces its torrent, and a leecher given only
 * `magnet:?xt=urn:btih:…` (no tracker, no peer) that finds the seeder through the DHT,
 * fetches the metadata (ut_metadata) and the data; sha256 checked. Each client on its
 * own 127.0.0.x. Also: a private torrent is never announced, and a client on loopback
 * with no bootstrap nodes runs no DHT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildMagnet, formatPeerAddress } from '../../format/magnet.js';
import { Client } from '../../lib/net/client.js';
import type { DhtEvent } from '../../lib/discovery/client-dht.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { assertDownloaded, makeFixture, waitEvent } from '../../testkit/torrent-helpers.js';
import { until } from '../../testkit/paid-helpers.js';

const FAST = { retryBaseMs: 300, retryMaxMs: 1_000 };

async function dhtClient(host: string, bootstrap: readonly string[], events?: DhtEvent[]): Promise<Client> {
  const c = new Client({ localAddress: host, dht: { bootstrap, ...FAST } });
  if (events !== undefined) c.on('dht', (_t, e) => events.push(e));
  await c.listen(0, host);
  assert.ok(c.dhtAddress !== null, `the DHT runs on ${host}`);
  assert.equal(c.dhtAddress.host, host, 'bound to the listen address');
  return c;
}

test('our magnet fetch finds our seeder through a loopback DHT of our nodes alone', { timeout: 30_000 }, async (t) => {
  const fx = await makeFixture({ files: [['x.bin', 3_000_017]], pieceLength: 32 * 1024, name: 'dht' });
  const clients: Client[] = [];
  t.after(async () => { await Promise.all(clients.map((c) => c.close())); await fx.cleanup(); });
  const first = await dhtClient('127.0.0.40', []);
  clients.push(first);
  const boot = [formatPeerAddress(first.dhtAddress!)];
  for (const h of ['127.0.0.41', '127.0.0.42']) clients.push(await dhtClient(h, boot));
  const seedEvents: DhtEvent[] = [];
  const seeder = await dhtClient('127.0.0.43', boot, seedEvents);
  clients.push(seeder);
  await seeder.add(fx.meta, { dir: fx.seedDir, assumeComplete: true });
  // The seeder's announce reached nodes before the leecher starts looking.
  await until(() => seedEvents.some((e) => e.type === 'walk' && e.walk === 'announce' && e.nodes >= 3), 15_000, 'the seeder announced to 3 nodes');

  const leechEvents: DhtEvent[] = [];
  const leecher = await dhtClient('127.0.0.44', boot, leechEvents);
  clients.push(leecher);
  const out = join(fx.root, 'out');
  const magnet = buildMagnet({ infoHash: fx.meta.infoHash });
  assert.doesNotMatch(magnet, /tr=|x\.pe=/, 'no tracker, no peer in the magnet');
  const tor = await leecher.add(magnet, { dir: out });
  const met: string[] = [];
  tor.on('peer', (s) => met.push(s.address));
  assert.equal(tor.metainfo, null);
  await waitEvent(tor, 'metadata', 20_000);
  await assertDownloaded(tor, fx, out, 20_000);
  const found = leechEvents.filter((e) => e.type === 'walk').map((e) => (e.type === 'walk' ? e.newPeers : 0));
  assert.ok(found.some((n) => n >= 1), `the DHT gave the leecher the seeder (walks: ${JSON.stringify(leechEvents)})`);
  assert.ok(met.includes(`127.0.0.43:${seeder.port}`), `connected to the seeder it found: ${met.join(', ')}`);
});

test('a private torrent (BEP 27) is never walked or announced', { timeout: 20_000 }, async (t) => {
  const fx = await makeFixture({ files: [['p.bin', 70_000]], name: 'priv' });
  const { metainfo } = await createTorrentFromPath(join(fx.seedDir, 'priv'), { private: true });
  assert.equal(metainfo.private, true);
  const events: DhtEvent[] = [];
  const a = await dhtClient('127.0.0.45', []);
  const b = await dhtClient('127.0.0.46', [formatPeerAddress(a.dhtAddress!)], events);
  t.after(async () => { await b.close(); await a.close(); await fx.cleanup(); });
  const pub = await b.add(fx.meta, { dir: fx.seedDir, assumeComplete: true });
  const priv = await b.add(metainfo, { dir: fx.seedDir, assumeComplete: true });
  const walked = new Set<string>();
  b.on('dht', (tor) => { if (tor !== null) walked.add(tor.infoHashHex); });
  await until(() => walked.has(pub.infoHashHex), 10_000, 'the public torrent walked');
  assert.equal(walked.has(priv.infoHashHex), false, 'the private one did not');
});

test('a client on loopback without bootstrap nodes runs no DHT; dht: false none at all', async () => {
  const events: DhtEvent[] = [];
  const c = new Client();
  c.on('dht', (_t, e) => events.push(e));
  await c.listen(0, '127.0.0.1');
  assert.equal(c.dhtAddress, null);
  assert.equal(events[0]?.type, 'off');
  await c.close();
  const off = new Client({ dht: false });
  off.on('dht', () => assert.fail('no DHT event with dht: false'));
  await off.listen(0, '127.0.0.1');
  assert.equal(off.dhtAddress, null);
  await off.close();
});
