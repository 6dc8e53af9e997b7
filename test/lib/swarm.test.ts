/**
 * Many of our peers at once over real loopback TCP (testkit/swarm.ts: each a Client on
 * its own 127.0.0.x, here all in this process): every leecher finishes with the right
 * bytes, and no leecher downloads more than 1 % of the torrent twice — a block is asked
 * of one peer at a time, except in endgame for what a slow or silent peer still holds
 * (piece-picker.ts, delivery-pace.ts). And peers that go away or go silent mid-transfer
 * do not stall the others.
 *
 * The 1 % bound is about correctness (how many requests went to two peers), not speed:
 * before endgame asked only for what the holder could not deliver soon, these swarms
 * received 8–14 % twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicatePercent, formatReport, startSwarm, type Swarm, type SwarmMember } from '../../testkit/swarm.js';
import type { Torrent } from '../../lib/engine/torrent.js';
import type { PeerSession } from '../../lib/engine/peer-session.js';

const MiB = 1024 * 1024;

function assertFewDuplicates(reports: Awaited<ReturnType<Swarm['waitComplete']>>): void {
  for (const r of reports) {
    assert.equal(r.complete, true, formatReport(r));
    assert.ok(duplicatePercent(r) <= 1, `at most 1 % received twice: ${formatReport(r)}`);
    assert.ok(r.downloaded - r.wasted === r.totalLength, `every byte needed was received once: ${formatReport(r)}`);
  }
}

/** The leecher's torrent (in-process swarm). */
function torrentOf(m: SwarmMember): Torrent {
  assert.ok(m.local !== null);
  return m.local.torrent;
}

/**
 * The leecher's connection to `seeder`, once it has received `bytes` over it. Counted in
 * bytes received, not pieces verified: on loopback the download runs ahead of hashing and
 * writing, and by the time a quarter of the pieces is verified every block may be asked.
 */
async function receivedFrom(t: Torrent, seeder: SwarmMember, bytes: number): Promise<PeerSession> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = t.peers().find((x) => x.address === seeder.address);
    if (s !== undefined && s.downloaded >= bytes) return s;
    if (Date.now() > deadline) throw new Error(`no ${bytes} B from ${seeder.address}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('1 seeder, 4 leechers given only the seeder (PEX finds the rest) that must trade: all complete, each receives ≤ 1 % twice', { timeout: 60_000 }, async () => {
  // The seeder gives each leecher only a quarter of the pieces: each must fetch the other
  // three quarters from the other leechers, which it learns of only by PEX.
  const swarm = await startSwarm({ seeders: 1, leechers: 4, bytes: 32 * MiB, firstHost: 170, split: true });
  try {
    const reports = await swarm.waitComplete(45_000);
    assert.deepEqual(await swarm.badLeechers(), [], 'every leecher\'s file matches its sha256');
    assertFewDuplicates(reports);
    for (const r of reports) assert.ok(r.sources >= 4, `fetched from the seeder and the three others: ${formatReport(r)}`);
  } finally {
    await swarm.close();
  }
});

test('4 seeders, 1 leecher: ≤ 1 % received twice', { timeout: 60_000 }, async () => {
  const swarm = await startSwarm({ seeders: 4, leechers: 1, bytes: 32 * MiB, firstHost: 180 });
  try {
    const reports = await swarm.waitComplete(30_000);
    assert.deepEqual(await swarm.badLeechers(), []);
    assertFewDuplicates(reports);
    assert.ok(reports[0].sources >= 2, `downloaded from several seeders: ${formatReport(reports[0])}`);
  } finally {
    await swarm.close();
  }
});

test('a seeder that goes away mid-transfer does not stall the leecher', { timeout: 60_000 }, async () => {
  const swarm = await startSwarm({ seeders: 3, leechers: 1, bytes: 32 * MiB, firstHost: 190 });
  try {
    const t = torrentOf(swarm.leechers[0]);
    const gone = swarm.seeders[0];
    const session = await receivedFrom(t, gone, 2 * MiB);
    assert.ok(t.picker!.outstanding(session.id) > 0, 'the leecher had requests at that seeder');
    await gone.close();
    const reports = await swarm.waitComplete(30_000);
    assert.deepEqual(await swarm.badLeechers(), []);
    assertFewDuplicates(reports);
  } finally {
    await swarm.close();
  }
});

test('a seeder that goes silent mid-transfer (connections open, nothing sent): endgame takes over what it held', { timeout: 60_000 }, async () => {
  // Requests never time out here: only endgame can fetch what the silent seeder holds.
  const swarm = await startSwarm({ seeders: 3, leechers: 1, bytes: 32 * MiB, firstHost: 200, client: { requestTimeout: 600_000 } });
  try {
    const t = torrentOf(swarm.leechers[0]);
    const silent = swarm.seeders[0];
    const session = await receivedFrom(t, silent, 2 * MiB);
    silent.local!.silence();
    // What it delivers from now on was already in the socket buffers; what it is asked
    // from now on it never answers. Each of those blocks that another seeder delivers
    // instead gets a cancel sent to the silent one (endgame taking over).
    let takenOver = 0;
    const cancel = session.cancelRequest.bind(session);
    session.cancelRequest = (index, begin, length): void => { takenOver++; cancel(index, begin, length); };
    const reports = await swarm.waitComplete(40_000);
    assert.deepEqual(await swarm.badLeechers(), []);
    assertFewDuplicates(reports);
    assert.ok(takenOver > 0, 'blocks the silent seeder held came from the others');
    assert.equal(session.reason?.code, 'NOT_NEEDED', 'the silent seeder was not dropped: its blocks came from the others (it is closed at completion, as every seed)');
  } finally {
    await swarm.close();
  }
});
