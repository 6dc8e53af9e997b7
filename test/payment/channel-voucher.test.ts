import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { signVoucher, verifyVoucher, voucherMessage, VOUCHER_MESSAGE_LENGTH } from '../../payment/channel/voucher.js';
import { walletFromSeed } from '../../payment/session.js';

const seed = new Uint8Array(32).fill(7);
const key = walletFromSeed(seed);
const programId = new Uint8Array(32).fill(1);
const channel = new Uint8Array(32).fill(2);

test('voucher message: domain, program, channel, amount little-endian (the program reads it so)', () => {
  const m = voucherMessage({ programId, channel, amount: 0x0102030405060708n });
  assert.equal(m.length, VOUCHER_MESSAGE_LENGTH);
  assert.equal(new TextDecoder().decode(m.subarray(0, 18)), 'seedpay-channel-v1');
  assert.deepEqual(m.subarray(18, 50), programId);
  assert.deepEqual(m.subarray(50, 82), channel);
  assert.deepEqual([...m.subarray(82)], [8, 7, 6, 5, 4, 3, 2, 1]);
});

test('a voucher verifies only for its own program, channel and amount', () => {
  fc.assert(fc.property(fc.bigUint64Array({ minLength: 2, maxLength: 2 }), fc.integer({ min: 0, max: 31 }), ([a, b], i) => {
    const m = voucherMessage({ programId, channel, amount: a });
    const sig = signVoucher(seed, m);
    assert.equal(verifyVoucher(key.publicKey, m, sig), true);
    if (a !== b) assert.equal(verifyVoucher(key.publicKey, voucherMessage({ programId, channel, amount: b }), sig), false);
    const other = channel.slice(); other[i] ^= 1;
    assert.equal(verifyVoucher(key.publicKey, voucherMessage({ programId, channel: other, amount: a }), sig), false);
    const otherProg = programId.slice(); otherProg[i] ^= 1;
    assert.equal(verifyVoucher(key.publicKey, voucherMessage({ programId: otherProg, channel, amount: a }), sig), false);
  }), { numRuns: 50 });
});

test('hostile inputs: bad lengths throw when building, never when verifying', () => {
  assert.throws(() => voucherMessage({ programId: new Uint8Array(31), channel, amount: 1n }), RangeError);
  assert.throws(() => voucherMessage({ programId, channel, amount: -1n }), RangeError);
  assert.throws(() => voucherMessage({ programId, channel, amount: 1n << 64n }), RangeError);
  const m = voucherMessage({ programId, channel, amount: 5n });
  assert.equal(verifyVoucher(key.publicKey, m, new Uint8Array(63)), false);
  assert.equal(verifyVoucher(new Uint8Array(32), m, new Uint8Array(64)), false);
});
