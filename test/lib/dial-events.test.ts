/**
 * The fate of a dial to a known peer, as Torrent events: `dial_failed` (the connection
 * ended before its handshake: address as given, reason, the redial delay, failures in a
 * row) and `peer_retry` (a connected peer dropped, redialled in about retryInMs); none
 * for a peer forgotten by a `peer_closed` listener. And redialInMs, the delay they carry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { backoffMs, redialInMs, STARVING_REDIAL_MS } from '../../lib/engine/redial.js';
import { freePort } from '../../testkit/clients.js';
import { makeFixture, waitEvent } from '../../testkit/torrent-helpers.js';

test('redialInMs: the back-off, or the prompt redial of a benign end while starving', () => {
  const p = { endedAt: 1000, nextAt: 1000 + backoffMs(3), benign: true };
  assert.equal(redialInMs(p, 1000, false), backoffMs(3));
  assert.equal(redialInMs(p, 1000, true), STARVING_REDIAL_MS);
  assert.equal(redialInMs({ ...p, benign: false }, 1000, true), backoffMs(3));
  assert.equal(redialInMs(p, 1000 + backoffMs(3) + 5, false), 0, 'overdue: now');
});

test('dial_failed: a refused dial names the address as given, ECONNREFUSED, the 2 s back-off and 1 failure', { timeout: 20_000 }, async () => {
  const fx = await makeFixture({ files: [['a.bin', 100_000]], pieceLength: 16384 });
  const c = new Client({ dht: false, trackers: false });
  try {
    const dead = await freePort();
    const closed: boolean[] = [];
    const t = await c.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.1:${dead}`] });
    t.on('peer_closed', (s) => closed.push(s.registered));
    const [addr, reason, inMs, failures] = await waitEvent(t, 'dial_failed', 10_000);
    assert.equal(addr, `127.0.0.1:${dead}`);
    assert.equal(reason.code, 'SOCKET_ERROR');
    assert.match(reason.error?.message ?? '', /ECONNREFUSED/);
    assert.ok(inMs > backoffMs(1) - 100 && inMs <= backoffMs(1), `retry in ${inMs} ms`);
    assert.equal(failures, 1);
    assert.deepEqual(closed, [false], 'after its peer_closed, of a session that never registered');
  } finally {
    await c.close();
    await fx.cleanup();
  }
});

test('peer_retry: a connected seed that goes away is redialled soon; a forgotten peer gets no event', { timeout: 30_000 }, async () => {
  const fx = await makeFixture({ files: [['b.bin', 4 * 1024 * 1024]], pieceLength: 65536 });
  const seeder = new Client({ dht: false, trackers: false });
  const leecher = new Client({ dht: false, trackers: false, downloadLimit: 64 * 1024 });
  try {
    const port = await seeder.listen(0, '127.0.0.1');
    const st = await seeder.add(fx.torrent, { dir: fx.seedDir, assumeComplete: true });
    const addr = `127.0.0.1:${port}`;
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [addr] });
    await waitEvent(t, 'peer', 10_000);
    const retry = waitEvent(t, 'peer_retry', 10_000);
    await st.close();
    const [a, reason, inMs] = await retry;
    assert.equal(a, addr);
    assert.notEqual(reason.code, 'CLOSED', 'the seed closed it, not us');
    assert.ok(inMs >= 0 && inMs <= STARVING_REDIAL_MS, `retry in ${inMs} ms`);

    // Forgotten in a peer_closed listener: neither event.
    const t2 = await seeder.add(fx.torrent, { dir: fx.seedDir, assumeComplete: true }).catch(() => null);
    assert.ok(t2 !== null);
    await waitEvent(t, 'peer', 10_000);
    let after = 0;
    t.on('peer_retry', () => after++);
    t.on('dial_failed', () => after++);
    t.on('peer_closed', (s) => { if (s.registered) t.forgetPeer(addr); });
    const closedP = waitEvent(t, 'peer_closed', 10_000);
    await t2.close();
    await closedP;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(after, 0);
    assert.equal(t.knowsPeer(addr), false);
  } finally {
    await leecher.close();
    await seeder.close();
    await fx.cleanup();
  }
});
