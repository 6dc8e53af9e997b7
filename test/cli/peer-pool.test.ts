/**
 * PeerPool (lib/cli/peer-pool.ts), the bookkeeping behind `seedpay get` with several
 * --peer: a dropped peer is reported once while others remain; "no usable peer left"
 * fires exactly once, only when every candidate is dropped and no other connection is
 * open, and names every peer with its reason. (Giving up on a peer that never connects
 * is the peer report's: test/cli/peer-report.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeerPool } from '../../lib/cli/peer-pool.js';

function recorder(): { dropped: string[]; exhausted: string[]; events: { dropped(p: string, w: string): void; exhausted(s: string): void } } {
  const dropped: string[] = [];
  const exhausted: string[] = [];
  return { dropped, exhausted, events: { dropped: (p, w) => dropped.push(`${p} ${w}`), exhausted: (s) => exhausted.push(s) } };
}

test('PeerPool: one refusal drops that peer only; the last one is the one failure line naming all', () => {
  const r = recorder();
  const pool = new PeerPool(['127.0.0.1:1', '127.0.0.1:2'], r.events);
  assert.equal(pool.drop('127.0.0.1:1', 'asks too much'), true);
  assert.deepEqual(r.dropped, ['127.0.0.1:1 asks too much']);
  assert.deepEqual(r.exhausted, []);
  assert.equal(pool.drop('127.0.0.1:1', 'again'), false, 'reported once');
  assert.equal(pool.isDropped('127.0.0.1:1'), true);
  assert.equal(pool.isDropped('127.0.0.1:2'), false);
  pool.drop('127.0.0.1:2', 'bad signature');
  assert.deepEqual(r.dropped, ['127.0.0.1:1 asks too much'], 'the last drop is not a separate line');
  assert.deepEqual(r.exhausted, ['no usable peer left: 127.0.0.1:1 asks too much; 127.0.0.1:2 bad signature']);
  pool.recheck();
  pool.drop('127.0.0.1:3', 'late');
  assert.equal(r.exhausted.length, 1, 'once');
});

test('PeerPool: another open connection keeps the download alive until it closes', () => {
  const r = recorder();
  let open = 1;
  const pool = new PeerPool(['127.0.0.1:1'], r.events, () => open);
  pool.drop('127.0.0.1:1', 'refused');
  assert.deepEqual(r.exhausted, []);
  assert.equal(r.dropped.length, 1);
  open = 0;
  pool.recheck();
  assert.deepEqual(r.exhausted, ['no usable peer left: 127.0.0.1:1 refused']);
});

test('PeerPool property: exhausted fires exactly once, iff every candidate is dropped; every other drop is one line', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 5 }),
    fc.array(fc.record({ peer: fc.integer({ min: 0, max: 6 }), kind: fc.constantFrom('drop', 'recheck') }), { maxLength: 40 }),
    (n, ops) => {
      const r = recorder();
      const cands = Array.from({ length: n }, (_, i) => `127.0.0.1:${1000 + i}`);
      const pool = new PeerPool(cands, r.events);
      for (const o of ops) {
        const addr = `127.0.0.1:${1000 + o.peer}`;
        if (o.kind === 'drop') pool.drop(addr, 'no');
        else pool.recheck();
      }
      const allDropped = cands.every((c) => pool.isDropped(c));
      assert.equal(r.exhausted.length, allDropped ? 1 : 0);
      // Before the end every drop is its own line; the last one goes into the failure line.
      if (!allDropped) assert.equal(r.dropped.length, pool.droppedPeers().length);
      else assert.ok(r.dropped.length < pool.droppedPeers().length);
      assert.equal(new Set(r.dropped).size, r.dropped.length, 'no repeated line');
    },
  ));
});
