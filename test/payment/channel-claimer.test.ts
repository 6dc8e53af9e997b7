/** When a seller claims (payment/channel/claimer.ts): near expiry, past a threshold, at start, at shutdown. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dueClaims, type ClaimableChannel } from '../../payment/channel/claimer.js';

const NOW = 1_800_000_000n;
const policy = { threshold: 1_000n, expiryMarginSeconds: 600n };
const ch = (over: Partial<ClaimableChannel>): ClaimableChannel => ({ channel: 'C', voucher: 500n, claimed: 0n, expiry: NOW + 86_400n, live: true, closed: false, ...over });

test('run: near expiry claims and closes; past the threshold claims and keeps open; otherwise nothing', () => {
  assert.deepEqual(dueClaims([ch({ expiry: NOW + 600n })], NOW, policy, 'run'), [{ channel: 'C', amount: 500n, close: true, reason: 'expiry' }]);
  assert.deepEqual(dueClaims([ch({ voucher: 1_500n, claimed: 500n })], NOW, policy, 'run'), [{ channel: 'C', amount: 1_500n, close: false, reason: 'threshold' }]);
  assert.deepEqual(dueClaims([ch({ voucher: 1_499n, claimed: 500n })], NOW, policy, 'run'), [], 'below the threshold');
  assert.deepEqual(dueClaims([ch({})], NOW, policy, 'run'), []);
});

test('start claims what a crashed run left (kept open); shutdown closes where the buyer is gone', () => {
  assert.deepEqual(dueClaims([ch({})], NOW, policy, 'start'), [{ channel: 'C', amount: 500n, close: false, reason: 'start' }]);
  assert.deepEqual(dueClaims([ch({ live: false })], NOW, policy, 'shutdown'), [{ channel: 'C', amount: 500n, close: true, reason: 'shutdown' }]);
  assert.deepEqual(dueClaims([ch({ live: true })], NOW, policy, 'shutdown'), [{ channel: 'C', amount: 500n, close: false, reason: 'shutdown' }]);
  assert.deepEqual(dueClaims([ch({ live: false })], NOW, { ...policy, closeOnShutdown: false }, 'shutdown')[0].close, false);
});

test('never: a closed channel, nothing unclaimed, or past expiry (the program refuses a late claim)', () => {
  for (const moment of ['run', 'start', 'shutdown'] as const) {
    assert.deepEqual(dueClaims([ch({ closed: true, expiry: NOW + 1n }), ch({ voucher: 500n, claimed: 500n, expiry: NOW + 1n }), ch({ expiry: NOW })], NOW, policy, moment), [], moment);
  }
});

test('shutdown closes a fully claimed channel whose buyer is gone (its deposit refunded now, not at expiry); not one still live', () => {
  const claimedAll = ch({ voucher: 1_500n, claimed: 1_500n, live: false });
  assert.deepEqual(dueClaims([claimedAll], NOW, policy, 'shutdown'), [{ channel: 'C', amount: 1_500n, close: true, reason: 'shutdown' }]);
  assert.deepEqual(dueClaims([{ ...claimedAll, live: true }], NOW, policy, 'shutdown'), []);
  assert.deepEqual(dueClaims([claimedAll], NOW, { ...policy, closeOnShutdown: false }, 'shutdown'), []);
  for (const moment of ['run', 'start'] as const) assert.deepEqual(dueClaims([claimedAll], NOW, policy, moment), [], moment);
});
