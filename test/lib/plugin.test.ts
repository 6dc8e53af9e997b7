/**
 * The extension API v2 over real loopback TCP: a torrent plugin hears peers come and
 * go, pieces pass and fail with the peers that sent them, and time pass; each
 * connection's hook hears its close with the reason; through a peer's `control` a
 * plugin keeps a peer choked (`canUnchoke`), holds it choked (its requests are
 * rejected), unchokes it, sends allowed_fast and closes it with a typed reason the engine reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import type { PluginPeer, TorrentPlugin } from '../../extensions/plugin.js';
import { RawPeer } from './raw-peer.js';
import { checkFiles, makeFixture, whenDone } from '../../testkit/torrent-helpers.js';

const PL = 65536;

test('torrent plugin: peers added and removed, pieces passed / failed with their contributors, ticks, hook onClose reasons', async () => {
  const fx = await makeFixture({ files: [['a.bin', 2 * 1024 * 1024 + 77]], pieceLength: PL });
  const good = new Client();
  const leecher = new Client();
  const bad = await RawPeer.listenCorrupt(fx.meta.pieceCount);
  const log = {
    added: [] as string[], removed: [] as string[], passed: new Map<string, number>(), failed: new Map<string, number>(),
    ticks: 0, hookCloses: [] as string[],
  };
  const count = (m: Map<string, number>, peers: readonly PluginPeer[]): void => { for (const p of peers) m.set(p.address, (m.get(p.address) ?? 0) + 1); };
  const probe: TorrentPlugin = {
    name: 'x_probe',
    create: () => ({ name: 'x_probe', onClose: (r) => { log.hookCloses.push(r.code); } }),
    onPeerAdded: (p) => { log.added.push(p.address); assert.ok(p.hook('x_probe') !== null, 'its hook is bound by then'); },
    onPeerRemoved: (p, r) => { log.removed.push(`${p.address} ${r.code}`); },
    onPiecePassed: (_i, peers) => count(log.passed, peers),
    onPieceFailed: (_i, peers) => count(log.failed, peers),
    tick: () => { log.ticks++; },
  };
  try {
    const gport = await good.listen(0);
    await good.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), extensions: [probe] });
    const badAddr = `127.0.0.1:${bad.port}`;
    const goodAddr = `127.0.0.1:${gport}`;
    lt.addPeer(badAddr);
    await new Promise((r) => setTimeout(r, 50)); // the bad peer takes the first requests
    lt.addPeer(goodAddr);
    await whenDone(lt);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'l')), []);
    await new Promise((r) => setTimeout(r, 1200)); // at least one tick
    assert.deepEqual(new Set(log.added), new Set([badAddr, goodAddr]));
    assert.ok((log.failed.get(badAddr) ?? 0) >= 1, 'the corrupting peer is named in a failed piece');
    assert.equal(log.failed.get(goodAddr), undefined, 'the good peer never is');
    assert.ok((log.passed.get(goodAddr) ?? 0) >= 1);
    assert.equal(log.passed.get(badAddr), undefined);
    assert.ok(log.removed.includes(`${badAddr} BANNED`), log.removed.join(', '));
    assert.ok(log.hookCloses.includes('BANNED'));
    assert.ok(log.ticks >= 1, `ticks ${log.ticks}`);
  } finally {
    await leecher.close();
    await good.close();
    for (const p of bad.peers) p.close();
    bad.server.close();
    await fx.cleanup();
  }
});

test('PeerControl: canUnchoke keeps a peer choked; a plugin unchokes, holds, allows fast and closes with a typed reason', async () => {
  const fx = await makeFixture({ files: [['a.bin', 8 * PL]], pieceLength: PL });
  const seeder = new Client();
  const state = { allow: false };
  const peers: PluginPeer[] = [];
  let hookTicks = 0;
  const plugin: TorrentPlugin = {
    name: 'x_gate',
    create: () => ({ name: 'x_gate', tick: () => { hookTicks++; } }),
    onPeerAdded: (p) => { peers.push(p); },
    canUnchoke: () => state.allow,
  };
  try {
    const port = await seeder.listen(0);
    const t = await seeder.add(fx.torrent, { dir: fx.seedDir, extensions: [plugin] });
    const closed: string[] = [];
    t.on('peer_closed', (_s, r) => closed.push(r.code));
    const violations: string[] = [];
    seeder.on('violation', (_addr, code) => violations.push(code));
    const raw = RawPeer.dial(port, { infoHash: fx.meta.infoHash, numPieces: fx.meta.pieceCount });
    await raw.waitEvent('handshake');
    raw.do((c, now) => c.interested(now));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(raw.events.some((e) => e.type === 'unchoke'), false, 'canUnchoke false: never unchoked');
    const p = peers[0];
    assert.ok(p !== undefined);

    state.allow = true;
    p.control.unchoke();
    await raw.waitEvent('unchoke');

    p.control.allowFast(5);
    await raw.waitEvent('allowed_fast', (e) => e.index === 5);

    p.control.choke();
    await raw.waitEvent('choke');
    // Held: the choker cannot unchoke it (interest changes make it look again); the plugin's unchoke does.
    const n = raw.events.filter((e) => e.type === 'unchoke').length;
    raw.do((c, now) => { c.notInterested(now); c.interested(now); });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(raw.events.filter((e) => e.type === 'unchoke').length, n, 'held choked');
    p.control.unchoke();
    await raw.waitEvent('unchoke', () => raw.events.filter((e) => e.type === 'unchoke').length > n);
    raw.do((c, now) => c.request(3, 0, 16384, now));
    await raw.waitEvent('piece', (e) => e.index === 3);

    for (let i = 0; i < 30 && hookTicks === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(hookTicks >= 1, 'the hook hears the torrent\'s tick');

    p.control.close('EXTENSION_VIOLATION', new Error('x_gate says no'));
    await raw.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(closed, ['EXTENSION_VIOLATION']);
    assert.deepEqual(violations, ['EXTENSION_VIOLATION'], 'counted against the peer\'s address');
  } finally {
    await seeder.close();
    await fx.cleanup();
  }
});

test('PeerControl.limitRequests: a peer limited to 0 is asked for nothing (the other serves all); lifting the limit lets it serve again; at most the limit in flight', async () => {
  const fx = await makeFixture({ files: [['a.bin', 48 * PL]], pieceLength: PL });
  const a = new Client();
  const b = new Client({ uploadLimit: 256 * 1024 });
  const leecher = new Client();
  const byAddr = new Map<string, PluginPeer>();
  const limits = new Map<string, number | null>();
  let maxInFlightAtA = 0;
  const plugin: TorrentPlugin = {
    name: 'x_allowance',
    onPeerAdded: (p) => {
      byAddr.set(p.address, p);
      const l = limits.get(p.address);
      if (l !== undefined) p.control.limitRequests(l);
    },
  };
  try {
    const pa = await a.listen(0);
    const pb = await b.listen(0);
    await a.add(fx.torrent, { dir: fx.seedDir });
    await b.add(fx.torrent, { dir: fx.seedDir });
    const aAddr = `127.0.0.1:${pa}`;
    const bAddr = `127.0.0.1:${pb}`;
    limits.set(aAddr, 0);
    const lt = await leecher.add(fx.torrent, {
      dir: join(fx.root, 'l'), extensions: [plugin],
      onPeerEvent: (s) => { if (s.address === aAddr) maxInFlightAtA = Math.max(maxInFlightAtA, s.conn.requestsInFlight); },
    });
    lt.addPeer(aAddr);
    lt.addPeer(bAddr);
    // b is slow (256 KiB/s): after a while it has served some, a (limited to 0) nothing.
    for (let i = 0; i < 100 && lt.stats().downloaded < 8 * PL; i++) await new Promise((r) => setTimeout(r, 50));
    const sa = lt.peers().find((s) => s.address === aAddr);
    assert.ok(sa !== undefined && byAddr.has(aAddr), 'a is connected');
    assert.equal(sa.downloaded, 0, 'nothing asked of a peer limited to 0');
    assert.ok(lt.stats().downloaded > 0, 'the other peer serves');
    // Lift to 2: a serves the rest, never more than 2 requests in flight.
    byAddr.get(aAddr)!.control.limitRequests(2);
    byAddr.get(aAddr)!.control.flush();
    await whenDone(lt);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'l')), []);
    assert.ok(sa.downloaded > 0, 'a served once its limit was lifted');
    assert.ok(maxInFlightAtA <= 2, `at most 2 in flight at a (saw ${maxInFlightAtA})`);
    assert.throws(() => byAddr.get(aAddr)!.control.limitRequests(-1), RangeError);
  } finally {
    await leecher.close();
    await a.close();
    await b.close();
    await fx.cleanup();
  }
});
