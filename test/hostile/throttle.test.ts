/**
 * The per-address violation throttle over real loopback TCP (lib/net/violation-throttle.ts,
 * wired in Client.onIncoming): an address that reconnects and breaks the protocol
 * again and again is refused at accept for a doubling while, an honest leecher from
 * another address completes meanwhile, and connections that end cleanly or are cut
 * never count against their address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RefusedReason } from '../../lib/net/client.js';
import { Attacker, HONEST_ADDRESS, PL, sleep, startArena, type Arena } from '../../testkit/hostile-helpers.js';
import { badBitfield, bitfieldBytes, dial, type Target } from '../../testkit/hostile-attacks.js';

const ATTACKER = '127.0.0.1';

function target(a: Arena): Target {
  return { port: a.port, infoHash: a.torrent.infoHash, pieceLength: PL, pieceCount: a.fx.meta.pieceCount, totalLength: a.fx.meta.totalLength };
}

interface Seen { violations: { host: string; code: string; until: number; at: number }[]; refused: { host: string; reason: RefusedReason }[] }

function watch(a: Arena): Seen {
  const seen: Seen = { violations: [], refused: [] };
  const hostOf = (address: string): string => address.slice(0, address.lastIndexOf(':'));
  a.seeder.on('violation', (address, code, until) => seen.violations.push({ host: hostOf(address), code, until, at: Date.now() }));
  a.seeder.on('refused', (address, reason) => seen.refused.push({ host: hostOf(address), reason }));
  return seen;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const BASE_BAN = 1500;

test('reconnect-and-violate: refused at accept after the allowance, bans double; an honest leecher from another address completes', async () => {
  const a = await startArena({ seeder: { violationThrottle: { allowance: 3, baseBanMs: BASE_BAN, maxBanMs: 60_000, decayMs: 600_000 } } });
  try {
    const seen = watch(a);
    const t = target(a);
    const wrong = bitfieldBytes(t) + 5;
    const honest = a.startHonest();

    // Three violations are free, the fourth bans: each is closed with its own reason.
    for (let i = 0; i < 4; i++) {
      const att = await badBitfield(t, wrong);
      assert.equal(await a.closeOf(att.localPort), 'BAD_BITFIELD_LENGTH');
    }
    await until(() => seen.violations.length === 4, 'four violations counted');
    assert.ok(seen.violations.every((v) => v.host === ATTACKER && v.code === 'BAD_BITFIELD_LENGTH'));
    assert.ok(seen.violations.slice(0, 3).every((v) => v.until <= v.at), 'the allowance: no ban for the first three');
    const ban1 = seen.violations[3];
    assert.ok(ban1.until > ban1.at && ban1.until - ban1.at <= BASE_BAN, `banned for the base time (${ban1.until - ban1.at} ms)`);

    // While banned, a new connection is refused before any byte: no handshake comes back.
    const refusedAtt = dial(t);
    await assert.rejects(refusedAtt.open(t.infoHash), /closed before/);
    assert.equal(refusedAtt.gotHandshake, false);
    await until(() => seen.refused.length > 0, 'the refusal');
    assert.deepEqual(seen.refused, [{ host: ATTACKER, reason: 'THROTTLED' }]);
    assert.equal(a.seeder.throttle?.admits(ATTACKER, Date.now()), false);
    assert.equal(a.seeder.throttle?.admits(HONEST_ADDRESS, Date.now()), true, 'the honest address is not touched');

    // The ban ends; the address is served again; its next violation bans twice as long.
    await sleep(Math.max(0, ban1.until - Date.now()) + 50);
    const again = await badBitfield(t, wrong);
    assert.equal(await a.closeOf(again.localPort), 'BAD_BITFIELD_LENGTH', 'admitted again after the ban');
    await until(() => seen.violations.length === 5, 'the fifth violation');
    const ban2 = seen.violations[4];
    assert.ok(ban2.until - ban2.at > BASE_BAN && ban2.until - ban2.at <= 2 * BASE_BAN, `the second ban doubles (${ban2.until - ban2.at} ms)`);

    await honest; // completed with every file's sha256 right, from 127.0.0.2
    assert.equal(seen.violations.some((v) => v.host === HONEST_ADDRESS), false);
    assert.equal(seen.refused.some((r) => r.host === HONEST_ADDRESS), false);
  } finally {
    await a.close();
  }
});

test('clean ends, resets and cuts mid-message never count: with no allowance at all, none of them bans', async () => {
  const a = await startArena({ seeder: { violationThrottle: { allowance: 0 } } });
  try {
    const seen = watch(a);
    const t = target(a);
    for (let i = 0; i < 12; i++) {
      const att = await (async (): Promise<Attacker> => { const x = dial(t); await x.open(t.infoHash); return x; })();
      if (i % 3 === 0) att.socket.end(); // a clean end (FIN)
      else if (i % 3 === 1) att.socket.resetAndDestroy(); // a reset
      else { att.write(Buffer.from([0, 0, 0, 13, 6, 0])); att.socket.end(); } // cut in the middle of a request
      await sleep(20);
    }
    await a.startHonest();
    const codes = [...new Set(a.closes.filter((c) => c.address.startsWith(`${ATTACKER}:`)).map((c) => c.code))].sort();
    console.log(`[throttle] close codes of the clean/cut connections: ${codes.join(', ')}`);
    assert.deepEqual(codes, ['END', 'SOCKET_ERROR', 'TRUNCATED'], 'each way of leaving was seen');
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(seen.refused, []);
    // And a fresh connection from the same address is still answered.
    const last = dial(t);
    await last.open(t.infoHash);
    last.destroy();
  } finally {
    await a.close();
  }
});

test('violationThrottle: false never refuses, however often an address breaks the protocol', async () => {
  const a = await startArena({ seeder: { violationThrottle: false } });
  try {
    const seen = watch(a);
    const t = target(a);
    assert.equal(a.seeder.throttle, null);
    for (let i = 0; i < 8; i++) {
      const att = await badBitfield(t, bitfieldBytes(t) - 1);
      assert.equal(await a.closeOf(att.localPort), 'BAD_BITFIELD_LENGTH');
    }
    assert.deepEqual(seen.refused, []);
    assert.deepEqual(seen.violations, [], 'nothing counted when disabled');
    // the attacking address is still answered
    const same = dial(t);
    await same.open(t.infoHash);
    same.destroy();
    // and so is a third one
    const other = new Attacker(a.port, '127.0.0.3');
    await other.open(a.torrent.infoHash);
    other.destroy();
  } finally {
    await a.close();
  }
});
