/**
 * Hostile peers over real loopback TCP, one attack per test, each while an honest
 * leecher downloads from the same seeder. Every test checks outcomes only (no clock):
 * the typed reason the seeder closed the hostile connection with (or its answers),
 * the honest download's sha256, and a bound on the process's peak memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attacker, ID, MemProbe, MiB, PL, fmtMem, startArena, type Arena, type ArenaOptions,
} from '../../testkit/hostile-helpers.js';
import {
  badBitfield, bitfieldBytes, hostileExtendedHandshake, lengthClaim, manyRequests, outOfRange, requestOverflow,
  slowloris, unchoked, unknownExtensionId, unrequestedPiece, zeroLengthRequest, type Target,
} from '../../testkit/hostile-attacks.js';

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

/** The arena's seeder as an attack target (testkit/hostile-attacks.ts). */
function target(a: Arena): Target {
  return { port: a.port, infoHash: a.torrent.infoHash, pieceLength: PL, pieceCount: a.fx.meta.pieceCount, totalLength: a.fx.meta.totalLength };
}

test('a 4 GiB length claim ends that connection with LENGTH_TOO_LARGE; nothing is buffered for it', async () => {
  await scenario('4 GiB length claim', {}, async (a) => {
    const att = await lengthClaim(target(a));
    assert.equal(await a.closeOf(att.localPort), 'LENGTH_TOO_LARGE');
    // Just under 2^31 is above the frame cap all the same.
    const att2 = await lengthClaim(target(a), { claim: 0x7fffffff, mode: 'burst' });
    assert.equal(await a.closeOf(att2.localPort), 'LENGTH_TOO_LARGE');
  });
});

test('slowloris (one handshake byte per 100 ms) is ended by the handshake timeout', async () => {
  await scenario('slowloris', { handshakeTimeout: 3000 }, async (a) => {
    let session: ReturnType<Arena['pendingSessions']> extends Set<infer S> ? S | undefined : never;
    const { sent } = await slowloris(target(a), {
      onByte: (att) => { session ??= [...a.pendingSessions()].find((s) => s.address.endsWith(`:${att.localPort}`)); },
    });
    assert.ok(session !== undefined, 'the seeder held the connection as pending');
    assert.equal(session.reason?.code, 'HANDSHAKE_TIMEOUT');
    assert.ok(sent < Attacker.handshake(a.torrent.infoHash).length, 'the handshake never completed');
    assert.equal(a.pendingSessions().has(session), false, 'no longer held');
  });
});

test('requests beyond reqq: reject_request answers under fast; REQUEST_OVERFLOW without fast', async () => {
  await scenario('requests beyond reqq', { seeder: { reqq: 8 } }, async (a) => {
    const t = target(a);
    const fast = await unchoked(t);
    const n = 64;
    fast.write(manyRequests(n, t.pieceLength, t.pieceCount));
    await fast.until(() => fast.count(ID.piece) + fast.count(ID.reject) === n, 'an answer to every request');
    assert.ok(fast.count(ID.reject) > 0, 'the excess was rejected');
    assert.ok(fast.count(ID.piece) >= 8, `${fast.count(ID.piece)} served`);
    assert.equal(fast.closed, false, 'a fast peer is pushed back, not dropped');
    fast.destroy();

    const slow = await requestOverflow(t, 300);
    assert.equal(await a.closeOf(slow.localPort), 'REQUEST_OVERFLOW');
    assert.ok(slow.count(ID.piece) <= 16, `at most 2 × reqq served (${slow.count(ID.piece)})`);
  });
});

test('requests out of range: rejected under fast; a piece index past the end ends it (BAD_PIECE_INDEX); length 0 is BAD_REQUEST', async () => {
  await scenario('requests out of range', {}, async (a) => {
    const att = await outOfRange(target(a));
    assert.equal(att.count(ID.reject), 3);
    assert.equal(att.count(ID.piece), 0);
    assert.equal(await a.closeOf(att.localPort), 'BAD_PIECE_INDEX');

    const zero = await zeroLengthRequest(target(a));
    assert.equal(await a.closeOf(zero.localPort), 'BAD_REQUEST');
  });
});

test('a piece never requested ends the connection with UNREQUESTED_PIECE', async () => {
  await scenario('unrequested piece', {}, async (a) => {
    const att = await unrequestedPiece(target(a));
    assert.equal(await a.closeOf(att.localPort), 'UNREQUESTED_PIECE');
  });
});

test('a bitfield of the wrong size ends the connection with BAD_BITFIELD_LENGTH', async () => {
  await scenario('bad bitfield', {}, async (a) => {
    const right = bitfieldBytes(target(a));
    for (const len of [right + 5, right - 1]) {
      const att = await badBitfield(target(a), len);
      assert.equal(await a.closeOf(att.localPort), 'BAD_BITFIELD_LENGTH', `length ${len}`);
    }
  });
});

test('an extended message with an id we never advertised ends it with UNKNOWN_EXTENSION_ID', async () => {
  await scenario('unknown extension id', {}, async (a) => {
    const att = await unknownExtensionId(target(a));
    assert.equal(await a.closeOf(att.localPort), 'UNKNOWN_EXTENSION_ID');
  });
});

test('a 60k-deep bencoded extended handshake ends it with BAD_EXTENDED_HANDSHAKE (no stack overflow); a ~1 MiB one is cut at its length prefix (LENGTH_TOO_LARGE)', async () => {
  await scenario('nested / huge extended handshake', {}, async (a) => {
    // Once the torrent is known no frame may exceed max(bitfield, 128 KiB block): the
    // 1 MiB handshake is refused before a byte of it is buffered.
    const expected = { nested: 'BAD_EXTENDED_HANDSHAKE', huge: 'LENGTH_TOO_LARGE' } as const;
    for (const what of ['nested', 'huge'] as const) {
      const att = await hostileExtendedHandshake(target(a), what);
      assert.equal(await a.closeOf(att.localPort), expected[what], what);
    }
  });
});
