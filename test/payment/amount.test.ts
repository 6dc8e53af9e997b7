import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { AmountError, MIB, U64_MAX, bytesCoveredBy, chargeFor, formatAmount, parseAmount } from '../../payment/amount.js';

interface PriceExample { bytes: number; price: number; charge: number }
// Next to this file when run from source (tsx); when run compiled from dist/test/payment,
// tsc has not copied the JSON, so read the source copy at <repo>/test/payment.
function vectorsText(): string {
  for (const rel of ['./seedpay-vectors.json', '../../../test/payment/seedpay-vectors.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return readFileSync(url, 'utf8');
  }
  throw new Error('seedpay-vectors.json not found next to the test or in <repo>/test/payment');
}

const vectors = JSON.parse(vectorsText()) as { price_examples: PriceExample[] };

const u64 = fc.bigInt({ min: 0n, max: U64_MAX });

test('chargeFor reproduces the vectors price_examples', () => {
  assert.ok(vectors.price_examples.length >= 6);
  for (const e of vectors.price_examples) {
    assert.equal(chargeFor(BigInt(e.bytes), BigInt(e.price)), BigInt(e.charge), JSON.stringify(e));
  }
});

test('chargeFor: MiB constant, exact multiples, tiny remainders and huge values', () => {
  assert.equal(MIB, 1_048_576n);
  assert.equal(chargeFor(MIB, 1n), 1n);
  assert.equal(chargeFor(MIB + 1n, 1n), 2n);
  assert.equal(chargeFor(1n, 1n), 1n);
  assert.equal(chargeFor(123n, 0n), 0n);
  // 16 EiB at the max u64 price: no overflow, no precision loss.
  assert.equal(chargeFor(1n << 64n, U64_MAX), U64_MAX << 44n);
  assert.throws(() => chargeFor(-1n, 1n), (e: unknown) => e instanceof AmountError);
  assert.throws(() => chargeFor(1n, -1n), (e: unknown) => e instanceof AmountError && e.code === 'AMOUNT_NEGATIVE');
});

test('parseAmount: exact decimal to base units', () => {
  const cases: [string, bigint][] = [
    ['0.0001', 100n], ['1', 1_000_000n], ['1.5', 1_500_000n], ['0.000001', 1n], ['0', 0n], ['000.10', 100_000n],
    ['18446744073709.551615', U64_MAX], ['1.0000000', 1_000_000n], ['12345678.9', 12_345_678_900_000n],
  ];
  for (const [s, v] of cases) assert.equal(parseAmount(s), v, s);
  assert.equal(parseAmount('7', 0), 7n);
  assert.equal(parseAmount('0.123456789', 9), 123_456_789n);
  assert.equal(parseAmount('18446744073709551615', 0), U64_MAX);
});

test('parseAmount: typed errors for malformed input', () => {
  const bad: [string, string][] = [
    ['', 'AMOUNT_EMPTY'], [' 1', 'AMOUNT_WHITESPACE'], ['1 ', 'AMOUNT_WHITESPACE'], ['1\n', 'AMOUNT_WHITESPACE'], ['1 000', 'AMOUNT_WHITESPACE'],
    ['-1', 'AMOUNT_NEGATIVE'], ['-0.5', 'AMOUNT_NEGATIVE'], ['1e3', 'AMOUNT_EXPONENT'], ['1.5E-3', 'AMOUNT_EXPONENT'], ['e5', 'AMOUNT_EXPONENT'],
    ['0.0000001', 'AMOUNT_TOO_MANY_DECIMALS'], ['1.0000005', 'AMOUNT_TOO_MANY_DECIMALS'],
    ['abc', 'AMOUNT_NOT_A_NUMBER'], ['1.', 'AMOUNT_NOT_A_NUMBER'], ['.5', 'AMOUNT_NOT_A_NUMBER'], ['1.2.3', 'AMOUNT_NOT_A_NUMBER'],
    ['+1', 'AMOUNT_NOT_A_NUMBER'], ['0x10', 'AMOUNT_NOT_A_NUMBER'], ['Infinity', 'AMOUNT_NOT_A_NUMBER'], ['NaN', 'AMOUNT_NOT_A_NUMBER'],
    ['1,5', 'AMOUNT_NOT_A_NUMBER'], ['١', 'AMOUNT_NOT_A_NUMBER'], ['1_000', 'AMOUNT_NOT_A_NUMBER'],
    ['18446744073709.551616', 'AMOUNT_OVERFLOW'], ['99999999999999999999', 'AMOUNT_OVERFLOW'],
    ['1'.repeat(65), 'AMOUNT_TOO_LONG'],
  ];
  for (const [s, code] of bad) {
    assert.throws(() => parseAmount(s), (e: unknown) => e instanceof AmountError && e.code === code, `${JSON.stringify(s)} -> ${code}`);
  }
  assert.throws(() => parseAmount('1', 1.5), (e: unknown) => e instanceof AmountError && e.code === 'AMOUNT_BAD_DECIMALS');
  assert.throws(() => parseAmount('1', -1), (e: unknown) => e instanceof AmountError && e.code === 'AMOUNT_BAD_DECIMALS');
});

test('formatAmount: canonical text, trailing zeros trimmed', () => {
  assert.equal(formatAmount(100n), '0.0001');
  assert.equal(formatAmount(0n), '0');
  assert.equal(formatAmount(1n), '0.000001');
  assert.equal(formatAmount(1_000_000n), '1');
  assert.equal(formatAmount(1_500_000n), '1.5');
  assert.equal(formatAmount(U64_MAX), '18446744073709.551615');
  assert.equal(formatAmount(-2_500_000n), '-2.5');
  assert.equal(formatAmount(7n, 0), '7');
  assert.equal(formatAmount(10n, 1), '1');
});

test('property: parseAmount(formatAmount(x)) = x for every u64 and decimals', () => {
  fc.assert(fc.property(u64, fc.integer({ min: 0, max: 18 }), (x, d) => {
    assert.equal(parseAmount(formatAmount(x, d), d), x);
  }), { numRuns: 500 });
});

test('property: formatAmount(parseAmount(s)) is the canonical form of s', () => {
  const digits = (min: number, max: number) => fc.array(fc.constantFrom(...'0123456789'.split('')), { minLength: min, maxLength: max }).map((a) => a.join(''));
  fc.assert(fc.property(digits(1, 8), fc.option(digits(1, 6), { nil: undefined }), (int, frac) => {
    const s = frac === undefined ? int : `${int}.${frac}`;
    const out = formatAmount(parseAmount(s));
    // canonical: no leading zeros (except "0"), no trailing fractional zeros, no bare dot
    assert.match(out, /^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/);
    // same value: compare as exact scaled integers
    const scaled = (t: string): bigint => {
      const [i, f = ''] = t.split('.');
      return BigInt(i) * 1_000_000n + BigInt(f.padEnd(6, '0'));
    };
    assert.equal(scaled(out), scaled(s));
    // idempotent
    assert.equal(formatAmount(parseAmount(out)), out);
  }), { numRuns: 500 });
});

test('property: cumulative charge never decreases as bytes grow', () => {
  fc.assert(fc.property(u64, fc.bigInt({ min: 0n, max: 1n << 50n }), fc.bigInt({ min: 0n, max: 1n << 40n }), (price, a, delta) => {
    assert.ok(chargeFor(a + delta, price) >= chargeFor(a, price));
  }), { numRuns: 500 });
});

test('property: charge exceeds the exact cost by less than one base unit (exact rational check)', () => {
  fc.assert(fc.property(u64, fc.bigInt({ min: 0n, max: 1n << 50n }), (price, bytes) => {
    const c = chargeFor(bytes, price);
    // exact cost = bytes*price / 2^20; 0 <= c - cost < 1  <=>  0 <= c*2^20 - bytes*price < 2^20
    const diff = c * MIB - bytes * price;
    assert.ok(diff >= 0n && diff < MIB, `bytes ${bytes} price ${price} charge ${c}`);
  }), { numRuns: 1000 });
});

test('property: per-block charges taken cumulatively sum to chargeFor(total)', () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 1_000_000_000n }),
    fc.array(fc.bigInt({ min: 0n, max: 1n << 24n }), { maxLength: 200 }),
    (price, blocks) => {
      let sent = 0n;
      let charged = 0n;
      let sum = 0n;
      for (const b of blocks) {
        sent += b;
        const now = chargeFor(sent, price);
        const inc = now - charged; // what this block adds to the bill
        assert.ok(inc >= 0n);
        sum += inc;
        charged = now;
      }
      assert.equal(sum, chargeFor(sent, price));
      // and never more than rounding each block up on its own
      const naive = blocks.reduce((acc, b) => acc + chargeFor(b, price), 0n);
      assert.ok(sum <= naive);
    },
  ), { numRuns: 300 });
});

test('property: bytesCoveredBy is the exact inverse bound of chargeFor', () => {
  fc.assert(fc.property(fc.bigInt({ min: 1n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (price, units) => {
    const b = bytesCoveredBy(units, price);
    assert.ok(b !== null);
    assert.ok(chargeFor(b, price) <= units);
    assert.ok(chargeFor(b + 1n, price) > units);
  }), { numRuns: 500 });
  assert.equal(bytesCoveredBy(5n, 0n), null);
});
