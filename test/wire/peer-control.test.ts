/**
 * The hooks' handle on a connection, sans-IO: PeerCommandQueue records commands in
 * order and wakes the adapter once per batch; the connection hands it to every hook
 * in its context, and tells hooks when the peer rejects one of our requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeerCommandQueue } from '../../wire/peer-control.js';
import type { ExtensionContext, ExtensionHook } from '../../wire/extension-hooks.js';
import { Pair } from './pair.js';

test('command queue: commands in order, one wake per batch, drain empties it, flush alone wakes too', () => {
  let now = 5;
  let wakes = 0;
  const q = new PeerCommandQueue(() => now, () => { wakes++; });
  assert.equal(q.now(), 5);
  now = 9;
  assert.equal(q.now(), 9, 'the clock is read, not copied');
  q.choke(); q.reject(1, 0, 16384); q.allowFast(3); q.refill(); q.unchoke(); q.close('EXTENSION_VIOLATION', new Error('bad'));
  assert.equal(wakes, 1);
  assert.equal(q.pending, true);
  const cmds = q.drain();
  assert.deepEqual(cmds.map((c) => c.type), ['choke', 'reject', 'allow_fast', 'refill', 'unchoke', 'close']);
  assert.deepEqual(cmds[1], { type: 'reject', index: 1, begin: 0, length: 16384 });
  const close = cmds[5];
  assert.ok(close.type === 'close' && close.code === 'EXTENSION_VIOLATION' && close.error?.message === 'bad');
  assert.equal(q.pending, false);
  assert.deepEqual(q.drain(), []);
  q.flush(); q.flush(); q.choke();
  assert.equal(wakes, 2, 'a flush request starts a batch like a command');
  assert.deepEqual(q.drain().map((c) => c.type), ['choke']);
  assert.equal(q.pending, false);
});

test('command queue property: any sequence is drained in order; a runaway hook is bounded to one close', () => {
  fc.assert(fc.property(fc.array(fc.constantFrom('choke', 'unchoke', 'refill', 'flush'), { maxLength: 6000 }), (ops) => {
    let wakes = 0;
    const q = new PeerCommandQueue(() => 0, () => { wakes++; });
    for (const op of ops) q[op as 'choke' | 'unchoke' | 'refill' | 'flush']();
    const expected = ops.filter((o) => o !== 'flush');
    const got = q.drain();
    assert.ok(q.size === 0 && !q.pending);
    assert.equal(wakes, ops.length > 0 ? 1 : 0);
    if (expected.length <= 4096) {
      assert.deepEqual(got.map((c) => c.type), expected);
    } else {
      // Past the cap the queue collapses to one close plus what came after it.
      assert.equal(got[0].type, 'close');
      assert.ok(got.length <= 4096);
    }
  }), { numRuns: 60 });
});

test('the connection gives each hook the control it was built with, and reports rejected requests to hooks', () => {
  const control = new PeerCommandQueue(() => 0);
  const seen: { ctx: ExtensionContext | null; rejected: string[] } = { ctx: null, rejected: [] };
  const hook: ExtensionHook = {
    name: 'x_probe',
    attach: (ctx) => { seen.ctx = ctx; },
    onRequestRejected: (i, b, l) => { seen.rejected.push(`${i}:${b}:${l}`); },
  };
  const p = new Pair({ numPieces: 4, a: { extensions: [hook], control } });
  p.drive();
  assert.equal(seen.ctx?.control, control);
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.a.interested(p.now); p.drive();
  p.a.request(1, 0, 16384, p.now); p.drive();
  p.b.rejectRequest(1, 0, 16384, p.now); p.drive();
  assert.deepEqual(seen.rejected, ['1:0:16384']);
  // The reject that answers our own cancel is not a refusal: hooks are not told.
  p.a.request(2, 0, 16384, p.now); p.drive();
  p.a.cancel(2, 0, 16384, p.now); p.drive();
  assert.deepEqual(seen.rejected, ['1:0:16384']);
});
