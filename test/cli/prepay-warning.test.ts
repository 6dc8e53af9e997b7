/** `get --max-prepay` below one piece's worth: the warning and its threshold, to the base unit. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chargeFor } from '../../payment/amount.js';
import { prepayWarning } from '../../lib/cli/prepay-warning.js';

const fmt = (u: bigint): string => `${u}u`;

test('a --max-prepay that pays for a 16 MiB piece only below the max price is named, with the dearest price that still works', () => {
  // 0.008 USDC (8000 units) at 0.001/MiB pays for 8 MiB: a 16 MiB piece fits only at 500 units/MiB or less.
  const w = prepayWarning(8000n, 16 * 1024 * 1024, 1000n, fmt);
  assert.match(w ?? '', /--max-prepay 8000u pays for less than one 16 MiB piece at --max-price 1000u: a seller asking more than 500u per MiB/);
  assert.equal(prepayWarning(16_000n, 16 * 1024 * 1024, 1000n, fmt), null, 'one whole piece at the max price: no warning');
  assert.equal(prepayWarning(8000n, 256 * 1024, 1000n, fmt), null, 'small pieces: no warning');
});

test('property: warned exactly when some price up to --max-price makes one piece cost more than --max-prepay', () => {
  fc.assert(fc.property(fc.bigInt(0n, 1n << 40n), fc.integer({ min: 1, max: 1 << 28 }), fc.bigInt(1n, 1n << 30n), (maxPrepay, piece, maxPrice) => {
    const warned = prepayWarning(maxPrepay, piece, maxPrice, fmt) !== null;
    assert.equal(warned, chargeFor(BigInt(piece), maxPrice) > maxPrepay);
  }), { numRuns: 2000 });
});
