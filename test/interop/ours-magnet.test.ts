/**
 * Magnet links: our leecher starts from `magnet:?xt=urn:btih:…&x.pe=host:port` alone,
 * fetches the info dictionary from a real client with ut_metadata (BEP 9), checks
 * it against the info hash, then downloads the data; sha256 of the result checked.
 * libtorrent (metadata in one 16 KiB piece here) and Transmission (which must be
 * dialled, INTEROP.md rule 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMagnet } from '../../format/magnet.js';
import { assertSameBytes, requireClient, type Endpoint } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete, waitMetadata } from '../../testkit/ours-helpers.js';

const TIMEOUT_MS = 60_000;

function magnetFor(infoHash: string, name: string, peer: Endpoint): string {
  const uri = buildMagnet({ infoHash: Buffer.from(infoHash, 'hex'), name, peers: [peer] });
  assert.match(uri, /^magnet:\?xt=urn:btih:/);
  return uri;
}

test('magnet link → metadata (ut_metadata) and data from a libtorrent seeder', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'magnet-lt');
  // many small pieces: an info dict of ~20 KiB, i.e. two ut_metadata pieces
  const f = await makeFixture(s, 16 * MiB, 16 * 1024);
  assert.ok(f.info.numPieces * 20 > 16 * 1024, 'metadata spans more than one ut_metadata piece');
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir });
  const ours = await OurPeer.start(t);
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(magnetFor(f.info.infoHash, f.info.name, seeder.endpoint), out);
  assert.equal(tor.metainfo, null, 'no metadata before ut_metadata');
  await waitMetadata(tor, 30_000);
  assert.equal(tor.metainfo!.infoHashHex, f.info.infoHash);
  assert.equal(tor.metainfo!.pieceCount, f.info.numPieces);
  await waitComplete(tor, TIMEOUT_MS - 20_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  assert.equal(tor.stats().hashFailures, 0);
  const p = ours.peerMatching(/libtorrent/);
  assert.equal(p.role, 'initiator');
});

test('magnet link → metadata and data from a Transmission seeder (we dial)', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('transmission', t)) return;
  const s = scopeFor(t, 'magnet-tr');
  const f = await makeFixture(s, 4 * MiB, 32 * 1024);
  const tr = await s.startTransmission();
  const id = await tr.addTorrent(f.info.torrentPath, f.dir);
  assert.equal((await tr.waitActive(id)).percentDone, 1);
  const ours = await OurPeer.start(t);
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(magnetFor(f.info.infoHash, f.info.name, tr.peerEndpoint), out);
  await waitMetadata(tor, 30_000);
  assert.equal(tor.metainfo!.infoHashHex, f.info.infoHash);
  await waitComplete(tor, TIMEOUT_MS - 15_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  const p = ours.peerMatching(/Transmission/);
  assert.equal(p.role, 'initiator');
});
