/**
 * The DHT walker of a torrent (lib/discovery/dht-announcer.ts) with a scripted node and
 * a stand-in torrent: what it hands to `addPeer`, when it walks, announce vs lookup,
 * and BEP 27 (a magnet whose metadata is private forgets its DHT peers and stops).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DhtAnnouncer, type DhtReport } from '../../lib/discovery/dht-announcer.js';
import type { WalkResult } from '../../lib/discovery/dht-node.js';
import type { Torrent } from '../../lib/engine/torrent.js';
import type { PeerAddress } from '../../format/magnet.js';
import type { Metainfo } from '../../format/metainfo.js';

class FakeTorrent {
  readonly infoHash = new Uint8Array(20).fill(7);
  isClosed = false;
  isComplete = false;
  metainfo: { private: boolean } | null = null;
  readonly added: string[] = [];
  readonly forgotten: string[] = [];
  private onMetadata: ((m: Metainfo) => void) | null = null;
  once(event: string, fn: (m: Metainfo) => void): this { if (event === 'metadata') this.onMetadata = fn; return this; }
  addPeer(p: PeerAddress): void { this.added.push(`${p.host}:${p.port}`); }
  forgetPeer(k: string): void { this.forgotten.push(k); }
  metadata(priv: boolean): void { this.metainfo = { private: priv }; this.onMetadata?.({ private: priv } as Metainfo); }
}

interface Walk { port: number | null; onPeer: (p: PeerAddress) => void; end: (r: WalkResult) => void }

function setup(opts: { port?: number | null; self?: string } = {}) {
  let now = 0;
  const walks: Walk[] = [];
  const reports: DhtReport[] = [];
  const node = {
    walk: (_ih: Uint8Array, port: number | null, onPeer: (p: PeerAddress) => void) =>
      new Promise<WalkResult>((end) => walks.push({ port, onPeer, end })),
  };
  let nodeUp = true;
  const a = new DhtAnnouncer({
    port: () => (opts.port === undefined ? 6881 : opts.port),
    now: () => now,
    isSelf: (p) => `${p.host}:${p.port}` === opts.self,
    node: () => (nodeUp ? node : null),
  }, { retryBaseMs: 1000, intervalMs: 60_000, maxPeers: 3, onReport: (r) => reports.push(r) });
  const t = new FakeTorrent();
  return {
    a, t, walks, reports,
    start: () => a.start(t as unknown as Torrent),
    at: (ms: number) => { now = ms; a.tick(); },
    setNode: (up: boolean) => { nodeUp = up; },
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('announces our port and feeds each new peer once, never ourselves, up to the cap', async () => {
  const s = setup({ self: '10.0.0.1:6881' });
  s.start();
  assert.equal(s.walks.length, 1);
  assert.equal(s.walks[0].port, 6881, 'announce with our listen port');
  for (const p of ['1.1.1.1:1', '1.1.1.1:1', '10.0.0.1:6881', '2.2.2.2:2', '3.3.3.3:0', '4.4.4.4:4', '5.5.5.5:5']) {
    const [host, port] = p.split(':');
    s.walks[0].onPeer({ host, port: Number(port) });
  }
  assert.deepEqual(s.t.added, ['1.1.1.1:1', '2.2.2.2:2', '4.4.4.4:4'], 'deduplicated, self and port 0 dropped, capped at 3');
  s.walks[0].end({ nodes: 8 });
  await flush();
  assert.deepEqual(s.reports, [{ walk: 'announce', nodes: 8, newPeers: 3, error: undefined }]);
  s.at(59_999);
  assert.equal(s.walks.length, 1, 'no walk before the interval');
  s.at(60_000);
  assert.equal(s.walks.length, 2);
});

test('without a port it only looks up; without a node it waits; a fruitless walk is retried soon', async () => {
  const s = setup({ port: null });
  s.setNode(false);
  s.start();
  assert.equal(s.walks.length, 0, 'no node yet');
  s.setNode(true);
  s.at(0);
  assert.equal(s.walks[0].port, null, 'lookup: get_peers only');
  s.walks[0].end({ nodes: 0, error: new Error('No nodes to query') });
  await flush();
  s.at(999);
  assert.equal(s.walks.length, 1);
  s.at(1000);
  assert.equal(s.walks.length, 2, 'retried after retryBaseMs');
});

test('a seed dials nobody from the DHT (leechers find it)', () => {
  const s = setup();
  s.t.isComplete = true;
  s.start();
  s.walks[0].onPeer({ host: '1.1.1.1', port: 1 });
  assert.deepEqual(s.t.added, []);
});

test('BEP 27: a private torrent is never walked; a magnet that turns out private forgets its DHT peers and stops', async () => {
  const p = setup();
  p.t.metainfo = { private: true };
  p.start();
  assert.equal(p.walks.length, 0);
  assert.equal(p.a.stopped, true);

  const m = setup();
  m.start();
  m.walks[0].onPeer({ host: '1.1.1.1', port: 1 });
  m.t.metadata(true);
  assert.deepEqual(m.t.forgotten, ['1.1.1.1:1']);
  m.walks[0].onPeer({ host: '2.2.2.2', port: 2 });
  assert.deepEqual(m.t.added, ['1.1.1.1:1'], 'no peer taken after that');
  m.walks[0].end({ nodes: 3 });
  await flush();
  m.at(1e9);
  assert.equal(m.walks.length, 1, 'no walk after that');
});

test('a closed torrent stops walking', async () => {
  const s = setup();
  s.start();
  s.a.onTorrentClosed();
  s.t.isClosed = true;
  s.walks[0].end({ nodes: 3 });
  await flush();
  s.at(1e9);
  assert.equal(s.walks.length, 1);
});
