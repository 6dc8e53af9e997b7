/**
 * Hostile peers over real loopback TCP, one attack per test, each while an honest
 * leecher downloads from the same seeder. Every test checks outcomes only (no clock):
 * the typed reason the seeder closed the hostile connection with (or its answers),
 * the honest download's sha256, and a bound on the process's peak memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attacker, ID, MemProbe, MiB, PL, fmtMem, frame, requestFrame, sleep, startArena, type Arena, type ArenaOptions,
} from './helpers.js';

/** Generous: a leak or a buffer sized by the peer's claim would be 1:1 with a 4 GiB lie. */
const MEM_BOUND = 200 * MiB;

async function scenario(label: string, o: ArenaOptions, attack: (a: Arena) => Promise<void>): Promise<void> {
  const a = await startArena(o);
  const probe = new MemProbe();
  let ok = false;
  try {
    await Promise.all([a.startHonest(), attack(a)]);
    ok = true;
  } finally {
    const p = probe.stop();
    console.log(fmtMem(label, p));
    await a.close();
    if (ok) assert.ok(p.rssPeak - p.rssBase < MEM_BOUND, `${label}: RSS grew by ${p.rssPeak - p.rssBase} bytes`);
  }
}

test('a 4 GiB length claim ends that connection with LENGTH_TOO_LARGE; nothing is buffered for it', async () => {
  await scenario('4 GiB length claim', {}, async (a) => {
    const att = new Attacker(a.port);
    await att.open(a.torrent.infoHash);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(0xfffffff0, 0);
    att.write(prefix);
    for (let i = 0; i < 20 && !att.closed; i++) { att.write(Buffer.from([7])); await sleep(25); }
    await att.waitClosed();
    assert.equal(await a.closeOf(att.localPort), 'LENGTH_TOO_LARGE');
    // Just under 2^31 is above the frame cap all the same.
    const att2 = new Attacker(a.port);
    await att2.open(a.torrent.infoHash);
    prefix.writeUInt32BE(0x7fffffff, 0);
    att2.write(Buffer.concat([prefix, Buffer.alloc(64 * 1024, 7)]));
    await att2.waitClosed();
    assert.equal(await a.closeOf(att2.localPort), 'LENGTH_TOO_LARGE');
  });
});

test('slowloris (one handshake byte per 100 ms) is ended by the handshake timeout', async () => {
  await scenario('slowloris', { handshakeTimeout: 3000 }, async (a) => {
    const att = new Attacker(a.port);
    await att.ready();
    const hs = Attacker.handshake(a.torrent.infoHash);
    const port = att.localPort;
    let session: ReturnType<Arena['pendingSessions']> extends Set<infer S> ? S | undefined : never;
    let sent = 0;
    // At most 67 of the 68 bytes: whatever the scheduling, the handshake never completes.
    while (sent < hs.length - 1 && !att.closed) {
      att.write(hs.subarray(sent, sent + 1));
      sent++;
      session ??= [...a.pendingSessions()].find((s) => s.address.endsWith(`:${port}`));
      await sleep(100);
    }
    await att.waitClosed(30_000);
    assert.ok(session !== undefined, 'the seeder held the connection as pending');
    assert.equal(session.reason?.code, 'HANDSHAKE_TIMEOUT');
    assert.ok(sent < hs.length, 'the handshake never completed');
    assert.equal(a.pendingSessions().has(session), false, 'no longer held');
  });
});

/** Open, declare interest and wait for the seeder's unchoke. */
async function unchoked(a: Arena, flags: { fast?: boolean } = {}): Promise<Attacker> {
  const att = new Attacker(a.port);
  await att.open(a.torrent.infoHash, flags);
  att.write(frame(ID.interested));
  await att.until(() => att.count(ID.unchoke) > 0, 'unchoke');
  return att;
}

/** `n` distinct in-range 16 KiB requests, in one write. */
function manyRequests(n: number): Buffer {
  const per = PL / 16384;
  return Buffer.concat(Array.from({ length: n }, (_, i) => requestFrame(Math.floor(i / per), (i % per) * 16384, 16384)));
}

test('requests beyond reqq: reject_request answers under fast; REQUEST_OVERFLOW without fast', async () => {
  await scenario('requests beyond reqq', { seeder: { reqq: 8 } }, async (a) => {
    const fast = await unchoked(a);
    const n = 64;
    fast.write(manyRequests(n));
    await fast.until(() => fast.count(ID.piece) + fast.count(ID.reject) === n, 'an answer to every request');
    assert.ok(fast.count(ID.reject) > 0, 'the excess was rejected');
    assert.ok(fast.count(ID.piece) >= 8, `${fast.count(ID.piece)} served`);
    assert.equal(fast.closed, false, 'a fast peer is pushed back, not dropped');
    fast.destroy();

    const slow = await unchoked(a, { fast: false });
    slow.write(manyRequests(300));
    await slow.waitClosed();
    assert.equal(await a.closeOf(slow.localPort), 'REQUEST_OVERFLOW');
    assert.ok(slow.count(ID.piece) <= 16, `at most 2 × reqq served (${slow.count(ID.piece)})`);
  });
});

test('requests out of range: rejected under fast; a piece index past the end ends it (BAD_PIECE_INDEX); length 0 is BAD_REQUEST', async () => {
  await scenario('requests out of range', {}, async (a) => {
    const n = a.fx.meta.pieceCount;
    const att = await unchoked(a);
    att.write(Buffer.concat([
      requestFrame(0, PL - 8, 16384), // runs past the end of the piece
      requestFrame(1, 0xffffff00, 16384), // begin far outside (begin + length overflows 2^32)
      requestFrame(n - 1, PL - 16384, 16384), // past the short last piece
    ]));
    await att.until(() => att.count(ID.reject) === 3, 'three rejects');
    assert.equal(att.count(ID.piece), 0);
    att.write(requestFrame(n + 5, 0, 16384));
    await att.waitClosed();
    assert.equal(await a.closeOf(att.localPort), 'BAD_PIECE_INDEX');

    const zero = await unchoked(a);
    zero.write(requestFrame(0, 0, 0));
    await zero.waitClosed();
    assert.equal(await a.closeOf(zero.localPort), 'BAD_REQUEST');
  });
});

test('a piece never requested ends the connection with UNREQUESTED_PIECE', async () => {
  await scenario('unrequested piece', {}, async (a) => {
    const att = new Attacker(a.port);
    await att.open(a.torrent.infoHash);
    const p = Buffer.alloc(8 + 16384, 1);
    p.writeUInt32BE(0, 0);
    p.writeUInt32BE(0, 4);
    att.write(frame(ID.piece, p));
    await att.waitClosed();
    assert.equal(await a.closeOf(att.localPort), 'UNREQUESTED_PIECE');
  });
});

test('a bitfield of the wrong size ends the connection with BAD_BITFIELD_LENGTH', async () => {
  await scenario('bad bitfield', {}, async (a) => {
    const right = Math.ceil(a.fx.meta.pieceCount / 8);
    for (const len of [right + 5, right - 1]) {
      const att = new Attacker(a.port);
      await att.open(a.torrent.infoHash);
      att.write(frame(ID.bitfield, Buffer.alloc(len, 0xff)));
      await att.waitClosed();
      assert.equal(await a.closeOf(att.localPort), 'BAD_BITFIELD_LENGTH', `length ${len}`);
    }
  });
});

test('an extended message with an id we never advertised ends it with UNKNOWN_EXTENSION_ID', async () => {
  await scenario('unknown extension id', {}, async (a) => {
    const att = new Attacker(a.port);
    await att.open(a.torrent.infoHash);
    att.write(frame(ID.extended, Buffer.from([0, ...Buffer.from('d1:md11:ut_metadatai3eee')])));
    att.write(frame(ID.extended, Buffer.from([200, 1, 2, 3])));
    await att.waitClosed();
    assert.equal(await a.closeOf(att.localPort), 'UNKNOWN_EXTENSION_ID');
  });
});

test('a 100k-deep or a ~1 MiB bencoded extended handshake ends it with BAD_EXTENDED_HANDSHAKE (no stack overflow)', async () => {
  await scenario('nested / huge extended handshake', {}, async (a) => {
    const depth = 100_000;
    const nested = Buffer.concat([Buffer.from([0]), Buffer.from('l'.repeat(depth) + 'e'.repeat(depth))]);
    // 'd1:xl' + i0e × 349k + 'ee': just under the 1 MiB + 13 frame cap, far beyond any sane item count.
    const huge = Buffer.concat([Buffer.from([0]), Buffer.from('d1:xl' + 'i0e'.repeat(349_000) + 'ee')]);
    for (const [what, payload] of [['nested', nested], ['huge', huge]] as const) {
      const att = new Attacker(a.port);
      await att.open(a.torrent.infoHash);
      att.write(frame(ID.extended, payload));
      await att.waitClosed();
      assert.equal(await a.closeOf(att.localPort), 'BAD_EXTENDED_HANDSHAKE', what);
    }
  });
});
