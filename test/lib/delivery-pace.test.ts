/**
 * DeliveryPace (lib/engine/delivery-pace.ts): the estimate endgame uses to decide
 * whether the blocks a peer owes us are worth asking someone else for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryPace } from '../../lib/engine/delivery-pace.js';

test('a peer that owes nothing drains at once; one never asked is not slow', () => {
  const p = new DeliveryPace();
  assert.equal(p.drainMs(0, 0), 0);
  assert.equal(p.drainMs(10, 5_000), 0, 'never asked: no clock running');
});

test('a peer that has not delivered yet is as slow as the time it has kept us waiting', () => {
  const p = new DeliveryPace();
  p.requested(1_000);
  p.requested(1_500); // the clock starts at the first request
  assert.equal(p.drainMs(5, 1_200), 200);
  assert.equal(p.drainMs(5, 3_000), 2_000);
});

test('a fast peer drains its queue well within a second; once it stops, its estimate grows past any bound', () => {
  const p = new DeliveryPace();
  p.requested(0);
  // 2000 blocks/s for 3 s: one block every 0.5 ms.
  let t = 0;
  for (let i = 0; i < 6_000; i++) { t += 0.5; p.delivered(t); }
  const busy = p.drainMs(250, t);
  assert.ok(busy > 100 && busy < 200, `250 blocks at ~2000/s: ${busy} ms`);
  // Silent from now on: the estimate of the same queue grows every second.
  const after1 = p.drainMs(250, t + 1_000);
  const after3 = p.drainMs(250, t + 3_000);
  assert.ok(after1 > busy * 2 && after3 > after1 * 5, `${busy} → ${after1} → ${after3}`);
  assert.ok(after3 > 1_000);
  assert.equal(p.drainMs(250, t + 10_000_000), Infinity, 'the rate decays to nothing: never drains');
});

test('a slow but steady peer: its queue takes seconds to drain, a short one does not', () => {
  const p = new DeliveryPace();
  p.requested(0);
  for (let t = 100; t <= 10_000; t += 100) p.delivered(t); // 10 blocks/s
  const long = p.drainMs(250, 10_000);
  const short = p.drainMs(5, 10_000);
  assert.ok(long > 20_000 && long < 30_000, `250 blocks at 10/s: ${long} ms`);
  assert.ok(short < 1_000, `5 blocks at 10/s: ${short} ms`);
});
