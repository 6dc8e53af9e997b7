/**
 * 1000 connections that never finish the handshake, against a seeder on loopback while
 * an honest leecher downloads: the seeder holds at most maxPendingConnections of them,
 * closes the rest at once, times the held ones out, and keeps no socket of theirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { Attacker, MemProbe, MiB, fmtMem, sleep, startArena } from '../../testkit/hostile-helpers.js';
import { halfOpenFlood } from '../../testkit/hostile-attacks.js';

const FLOOD = 1000;
const MAX_PENDING = 32;

/** Sockets of this process whose local port is `port` (the seeder's accepted sockets). */
function acceptedSockets(port: number): Socket[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter((h): h is Socket => h instanceof Socket && h.localPort === port && !h.destroyed);
}

test(`${FLOOD} connections that never finish the handshake: capped, timed out, none left behind; the honest leecher completes`, async () => {
  const a = await startArena({ seeder: { maxPendingConnections: MAX_PENDING }, handshakeTimeout: 2000 });
  const probe = new MemProbe();
  const atts: Attacker[] = [];
  let maxPending = 0;
  const watch = setInterval(() => { maxPending = Math.max(maxPending, a.pendingSessions().size); }, 5);
  try {
    const target = { port: a.port, infoHash: a.torrent.infoHash, pieceLength: a.fx.meta.pieceLength,
      pieceCount: a.fx.meta.pieceCount, totalLength: a.fx.meta.totalLength, onDial: (t: Attacker) => atts.push(t) };
    const flood = halfOpenFlood(target, FLOOD);
    const honest = a.startHonest();
    await flood;
    // Every flood socket is closed by the seeder: the excess at once, the held ones by the timeout.
    await honest;
    for (const t of atts) await t.waitClosed(30_000);
    assert.ok(maxPending <= MAX_PENDING, `at most ${MAX_PENDING} held (saw ${maxPending})`);
    assert.equal(a.pendingSessions().size, 0, 'nothing pending');
    const ours = new Set(atts.map((t) => t.localPort));
    // Wait for the seeder's side of the last sockets to be released (its close runs after ours).
    for (let i = 0; i < 200 && acceptedSockets(a.port).some((s) => ours.has(s.remotePort ?? -1)); i++) await sleep(10);
    const left = acceptedSockets(a.port).filter((s) => ours.has(s.remotePort ?? -1));
    assert.equal(left.length, 0, `${left.length} flood sockets left on the seeder`);
  } finally {
    clearInterval(watch);
    const p = probe.stop();
    console.log(fmtMem(`${FLOOD} half-open connections (max ${maxPending} pending held)`, p));
    for (const t of atts) t.destroy();
    await a.close();
    assert.ok(p.rssPeak - p.rssBase < 200 * MiB, `RSS grew by ${p.rssPeak - p.rssBase} bytes`);
  }
});
