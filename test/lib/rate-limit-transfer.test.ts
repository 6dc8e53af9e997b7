/**
 * Rate limits over real loopback TCP, ours → ours: a seeder's upload limit (its own
 * torrent's, and the client's shared by two torrents), a leecher's download limit
 * (on a socket it dialled and on one it accepted), and limits changed while bytes flow.
 *
 * No speed is asserted (that is bench/rate-limit.ts); what is asserted holds however
 * loaded the machine is: every transfer completes with its bytes verified, and the
 * limit is never exceeded —
 *  - where the limit acts (the seeder's piece sends, the leecher's piece events, both
 *    stamped in the same event-loop turn as the grant): bytes in any window ≤ limit ×
 *    window + the bucket's depth, plus what was granted but not yet stamped when the
 *    process stalled (at most one more depth and a block or read chunk: after a stall
 *    the bucket is full again, and those sends land next to the new grants);
 *  - at the leecher, by any time t: bytes ≤ limit × (t − t0) + depth, t0 taken before
 *    the first byte could be granted (bytes cannot arrive before they are sent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, ClientError } from '../../lib/net/client.js';
import { depthFor } from '../../lib/net/token-bucket.js';
import { assertDownloaded, makeFixture } from '../../testkit/torrent-helpers.js';
import { between, cumulativeExcess, sendLogger, worstWindow, type Sample } from '../../testkit/rate-samples.js';

const KiB = 1024;
const MiB = 1024 * 1024;
/** Largest read a limited socket makes in one go (an accepted socket: Node's chunk). */
const READ_CHUNK = 64 * KiB;
/** A 16 KiB block with its piece header. */
const BLOCK = 16 * KiB + 13;

/**
 * Every client here, its limits included, and every stamp the tests take read this
 * clock: monotonic and finer than a millisecond, so a change of limit and the sends
 * around it are ordered as they happened.
 */
const clock = (): number => performance.now();

const sum = (xs: readonly Sample[]): number => xs.reduce((a, s) => a + s.n, 0);

function assertWithin(samples: readonly Sample[], rate: number, slack: number, what: string): void {
  const w = worstWindow(samples, rate);
  assert.ok(w.excess <= slack, `${what}: ${Math.round(w.excess)} bytes above ${rate} B/s in [${w.from}, ${w.to}] ms (allowed ${Math.round(slack)})`);
}

test('upload limit: the seeder never sends above it in any window; the leecher gets every byte', async () => {
  const fx = await makeFixture({ files: [['a.bin', 3 * MiB + 77]], pieceLength: 64 * KiB });
  const cap = 2 * MiB;
  const depth = depthFor(cap);
  const seeder = new Client({ uploadLimit: cap, now: clock });
  const leecher = new Client({ now: clock });
  const sends: Sample[] = [];
  const got: Sample[] = [];
  try {
    const port = await seeder.listen(0);
    const t0 = clock();
    await seeder.add(fx.torrent, { dir: fx.seedDir, extensions: [sendLogger(sends, clock)] });
    const dir = join(fx.root, 'l');
    const lt = await leecher.add(fx.torrent, {
      dir, peers: [`127.0.0.1:${port}`],
      onPeerEvent: (_s, ev) => { if (ev.type === 'piece') got.push({ t: clock(), n: ev.block.length }); },
    });
    await assertDownloaded(lt, fx, dir, 60_000);
    assert.equal(seeder.uploadLimit, cap);
    assert.ok(sum(sends) >= fx.meta.totalLength, 'every block was sent through the limit');
    assertWithin(sends, cap, 2 * depth + 2 * BLOCK, 'seeder sends');
    const early = cumulativeExcess(got, cap, t0);
    assert.ok(early <= depth, `the leecher had ${Math.round(early)} bytes beyond limit × elapsed (allowed a bucket, ${depth})`);
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});

test('a client upload limit is shared by its torrents, and both are served while both transfer', async () => {
  const a = await makeFixture({ name: 'alpha', files: [['a.bin', 2 * MiB + 1]], pieceLength: 64 * KiB });
  const b = await makeFixture({ name: 'beta', files: [['b.bin', 2 * MiB + 2]], pieceLength: 64 * KiB });
  const cap = 2 * MiB;
  const depth = depthFor(cap);
  const seeder = new Client({ uploadLimit: cap, now: clock });
  const leecher = new Client({ now: clock });
  const sendsA: Sample[] = [];
  const sendsB: Sample[] = [];
  const got: Sample[] = [];
  const onPeerEvent = (_s: unknown, ev: { type: string; block?: Uint8Array }): void => {
    if (ev.type === 'piece') got.push({ t: clock(), n: ev.block!.length });
  };
  try {
    const port = await seeder.listen(0);
    const t0 = clock();
    await seeder.add(a.torrent, { dir: a.seedDir, extensions: [sendLogger(sendsA, clock)] });
    await seeder.add(b.torrent, { dir: b.seedDir, extensions: [sendLogger(sendsB, clock)] });
    const la = await leecher.add(a.torrent, { dir: join(a.root, 'l'), peers: [`127.0.0.1:${port}`], onPeerEvent });
    const lb = await leecher.add(b.torrent, { dir: join(b.root, 'l'), peers: [`127.0.0.1:${port}`], onPeerEvent });
    await Promise.all([assertDownloaded(la, a, join(a.root, 'l'), 60_000), assertDownloaded(lb, b, join(b.root, 'l'), 60_000)]);
    const all = [...sendsA, ...sendsB].sort((x, y) => x.t - y.t);
    assertWithin(all, cap, 2 * depth + 2 * BLOCK, 'both torrents together');
    assert.ok(cumulativeExcess(got.sort((x, y) => x.t - y.t), cap, t0) <= depth, 'the leecher never got more than the shared limit allows');
    // While both transfer, the client's limit is shared block by block: neither is starved.
    const from = Math.max(sendsA[0].t, sendsB[0].t);
    const to = Math.min(sendsA[sendsA.length - 1].t, sendsB[sendsB.length - 1].t);
    assert.ok(to > from, 'the two transfers overlapped');
    const inA = sum(between(sendsA, from, to));
    const inB = sum(between(sendsB, from, to));
    const share = Math.min(inA, inB) / (inA + inB);
    assert.ok(share >= 0.2, `each torrent got at least a fifth while both transferred (${inA} vs ${inB} bytes)`);
  } finally {
    await leecher.close();
    await seeder.close();
    await a.cleanup();
    await b.cleanup();
  }
});

test('download limit: the leecher reads no faster than its limit from a peer it dialled and one that dialled it; lifting it lets the rest through', async () => {
  const fx = await makeFixture({ files: [['a.bin', 3 * MiB + 5]], pieceLength: 64 * KiB });
  const cap = 1.5 * MiB;
  const depth = depthFor(cap);
  const s1 = new Client({ now: clock });
  const s2 = new Client({ now: clock });
  const leecher = new Client({ downloadLimit: cap, now: clock });
  const got: Sample[] = [];
  let lifted = Infinity;
  try {
    const p1 = await s1.listen(0);
    await s2.listen(0);
    const lport = await leecher.listen(0);
    await s1.add(fx.torrent, { dir: fx.seedDir });
    const t0 = clock();
    const dir = join(fx.root, 'l');
    const lt = await leecher.add(fx.torrent, {
      dir, peers: [`127.0.0.1:${p1}`],
      onPeerEvent: (_s, ev) => {
        if (ev.type !== 'piece') return;
        got.push({ t: clock(), n: ev.block.length });
        // Two thirds in, the limit goes: the sockets paused for it must resume.
        if (lifted === Infinity && sum(got) >= 2 * MiB) { lifted = clock(); leecher.setDownloadLimit(0); }
      },
    });
    // The second seeder dials the leecher: its socket is an accepted one (Node's 64 KiB reads).
    const t2 = await s2.add(fx.torrent, { dir: fx.seedDir, peers: [`127.0.0.1:${lport}`] });
    await assertDownloaded(lt, fx, dir, 60_000);
    assert.ok(lifted < Infinity, 'the limit was lifted during the transfer');
    assert.equal(leecher.downloadLimit, 0);
    assert.ok(t2.stats().uploaded > 0, 'the peer that dialled the leecher sent some of it');
    const limited = got.filter((s) => s.t < lifted);
    assertWithin(limited, cap, 2 * depth + 2 * READ_CHUNK, 'leecher reads under the limit');
    const early = cumulativeExcess(limited, cap, t0);
    assert.ok(early <= depth + 2 * READ_CHUNK, `${Math.round(early)} bytes beyond limit × elapsed`);
  } finally {
    await leecher.close();
    await s1.close();
    await s2.close();
    await fx.cleanup();
  }
});

test('a torrent limit changed while it uploads holds from then on; set to 0 it lets waiting peers go', async () => {
  const fx = await makeFixture({ files: [['a.bin', 3 * MiB + 3]], pieceLength: 64 * KiB });
  const fast = 4 * MiB;
  const slow = 1 * MiB;
  const seeder = new Client({ now: clock });
  const leecher = new Client({ now: clock });
  const sends: Sample[] = [];
  let slowedAt = Infinity;
  let liftedAt = Infinity;
  try {
    const port = await seeder.listen(0);
    const st = await seeder.add(fx.torrent, { dir: fx.seedDir, uploadLimit: fast, extensions: [sendLogger(sends, clock)] });
    assert.equal(st.uploadLimit, fast);
    let got = 0;
    const dir = join(fx.root, 'l');
    const lt = await leecher.add(fx.torrent, {
      dir, peers: [`127.0.0.1:${port}`],
      onPeerEvent: (_s, ev) => {
        if (ev.type !== 'piece') return;
        got += ev.block.length;
        if (slowedAt === Infinity && got >= 1 * MiB) { slowedAt = clock(); st.setUploadLimit(slow); }
        if (liftedAt === Infinity && got >= 2 * MiB) { liftedAt = clock(); st.setUploadLimit(0); }
      },
    });
    await assertDownloaded(lt, fx, dir, 60_000);
    assert.ok(slowedAt < liftedAt && liftedAt < Infinity);
    assert.equal(st.uploadLimit, 0);
    // Stamped just before each change: a send at or after a stamp came after the change.
    assertWithin(sends.filter((x) => x.t < slowedAt), fast, 2 * depthFor(fast) + 2 * BLOCK, 'before the change');
    assertWithin(sends.filter((x) => x.t >= slowedAt && x.t < liftedAt), slow, 2 * depthFor(slow) + 2 * BLOCK, 'after the change');
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});

test('limits: bytes/s ≥ 0 (0: none); anything else is BAD_OPTION (client) or RangeError (torrent)', async () => {
  for (const bad of [-1, NaN, Infinity]) {
    assert.throws(() => new Client({ uploadLimit: bad }), (e: unknown) => e instanceof ClientError && e.code === 'BAD_OPTION');
    assert.throws(() => new Client({ downloadLimit: bad }), (e: unknown) => e instanceof ClientError && e.code === 'BAD_OPTION');
  }
  const fx = await makeFixture({ files: [['a.bin', 1000]], pieceLength: 16 * KiB });
  const c = new Client({ uploadLimit: 1000, downloadLimit: 2000 });
  try {
    assert.equal(c.uploadLimit, 1000);
    assert.equal(c.downloadLimit, 2000);
    c.setUploadLimit(0);
    c.setDownloadLimit(5 * MiB);
    assert.equal(c.uploadLimit, 0);
    assert.equal(c.downloadLimit, 5 * MiB);
    assert.throws(() => c.setUploadLimit(-5), (e: unknown) => e instanceof ClientError && e.code === 'BAD_OPTION');
    await assert.rejects(c.add(fx.torrent, { dir: fx.seedDir, downloadLimit: -1 }), (e: unknown) => e instanceof ClientError && e.code === 'BAD_OPTION');
    const t = await c.add(fx.torrent, { dir: fx.seedDir, uploadLimit: 300 });
    assert.equal(t.uploadLimit, 300);
    assert.equal(t.downloadLimit, 0);
    assert.throws(() => t.setDownloadLimit(NaN), RangeError);
  } finally {
    await c.close();
    await fx.cleanup();
  }
});
