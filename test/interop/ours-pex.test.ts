/**
 * Peer exchange (BEP 11) with libtorrent 2.0: our seeder, a libtorrent leecher and our
 * leecher, each on its own 127.0.0.x, each leecher given only the seeder. The seeder
 * gives each leecher only half the pieces (testkit/split-seeder.ts), so both finish
 * only if they find each other — and only the seeder's ut_pex messages can tell them.
 * Checked: our leecher learnt libtorrent's listen address from the seeder by PEX;
 * libtorrent parsed the seeder's PEX message (its peer log) and learnt ours; the two
 * traded pieces; both files match the source by sha256.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { formatPeerAddress } from '../../format/magnet.js';
import { assertSameBytes, nextLoopbackAddress, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor, singleFilePath, waitComplete } from '../../testkit/ours-helpers.js';
import { splitSeeder } from '../../testkit/split-seeder.js';

const SIZE = 4 * MiB;
const PIECE = 256 * 1024;
const TIMEOUT_MS = 60_000;

test('our leecher and a libtorrent leecher, given only our seeder, find each other by PEX and trade halves', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'pex-lt');
  const f = await makeFixture(s, SIZE, PIECE);
  const ltHost = nextLoopbackAddress();
  const seeder = await OurPeer.start(t);
  const ours = await OurPeer.start(t);
  const learnt: string[] = [];
  ours.client.on('pex', (_t, p, from) => learnt.push(`${formatPeerAddress(p)} from ${from.slice(0, from.lastIndexOf(':'))}`));
  const seed = await seeder.add(f.info.torrentPath, f.dir, { extensions: [splitSeeder(SIZE / PIECE, [ours.endpoint.host, ltHost])] });
  assert.equal(seed.isComplete, true);

  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [seeder.endpoint] });
  const ltOut = await s.tempDir('lt-dl');
  const peerLog = path.join(await s.tempDir('lt-log'), 'peer.log');
  // It keeps seeding once complete: whichever leecher finishes first still owes the other its half.
  const lt = await s.startLibtorrent({
    mode: 'leech', torrentPath: f.info.torrentPath, saveDir: ltOut, bind: ltHost, connect: [seeder.endpoint], peerLog, keepSeeding: true,
  });

  await waitComplete(tor, 40_000);
  await assertSameBytes(singleFilePath(out, f.info), f.sha256);
  await lt.untilDone(10_000);
  const r = await lt.stop();
  assert.equal(r?.complete, true);
  await assertSameBytes(path.join(ltOut, f.info.name), f.sha256);

  assert.deepEqual(learnt, [`${ltHost}:${lt.endpoint.port} from ${seeder.endpoint.host}`], 'we learnt libtorrent\'s listen address from our seeder');
  const p = ours.peerMatching(/libtorrent/);
  assert.ok(p.address.startsWith(`${ltHost}:`));
  assert.ok(p.downloaded >= SIZE / 2 - PIECE, `we got libtorrent's half from it (${p.downloaded} B)`);
  assert.ok(p.uploaded >= SIZE / 2 - PIECE, `libtorrent got our half from us (${p.uploaded} B)`);
  // libtorrent logs each ut_pex message it takes, e.g. "[127.0.0.3:6881] <== PEX [ dropped: 0 added: 1 ]".
  const log = await readFile(peerLog, 'utf8');
  const from = `[${seeder.endpoint.host}:${seeder.endpoint.port}]`.replace(/[.[\]]/g, '\\$&');
  assert.match(log, new RegExp(`${from} <== PEX \\[ dropped: \\d+ added: [1-9]`), 'libtorrent parsed a ut_pex message from our seeder that named a peer');
  assert.doesNotMatch(log, /invalid_pex_message|too_frequent_pex|pex_message_too_large|invalid pex|too frequent pex/i);
});
