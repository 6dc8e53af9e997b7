/**
 * Money arithmetic for SeedPay: token base units as `bigint`, never a float.
 *
 * USDC has 6 decimals (1 USDC = 1_000_000 base units). A price is base units per
 * MiB (2^20 bytes) of piece data, and the seller charges cumulatively at send time:
 * `charged = ceil(bytes_sent * price / 2^20)` (SEEDPAY.md §5). Charging the running
 * total (not each block rounded up on its own) keeps the overcharge below one base
 * unit over the whole session, however small the blocks.
 */

/** One MiB in bytes, the unit prices are quoted per. */
export const MIB = 1n << 20n;

/** Largest SPL token amount (u64); every on-chain amount fits in it. */
export const U64_MAX = (1n << 64n) - 1n;

/** Longest amount string accepted from a user (u64 has 20 digits; room for a decimal point and zeros). */
const MAX_AMOUNT_TEXT = 64;

export type AmountErrorCode =
  | 'AMOUNT_EMPTY'
  | 'AMOUNT_WHITESPACE'
  | 'AMOUNT_NEGATIVE'
  | 'AMOUNT_EXPONENT'
  | 'AMOUNT_NOT_A_NUMBER'
  | 'AMOUNT_TOO_MANY_DECIMALS'
  | 'AMOUNT_OVERFLOW'
  | 'AMOUNT_TOO_LONG'
  | 'AMOUNT_BAD_DECIMALS'
  | 'AMOUNT_BAD_ARGUMENT';

/** A malformed or out-of-range amount; `code` says which rule it broke. */
export class AmountError extends Error {
  readonly code: AmountErrorCode;
  constructor(code: AmountErrorCode, message: string) {
    super(message);
    this.name = 'AmountError';
    this.code = code;
  }
}

function checkDecimals(decimals: number): void {
  // 0..18 covers every SPL mint (u8 decimals, in practice <= 9) without huge powers of ten.
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18) {
    throw new AmountError('AMOUNT_BAD_DECIMALS', `decimals must be an integer in 0..18, got ${decimals}`);
  }
}

/**
 * Cumulative charge in base units for `bytes` of piece data at `pricePerMiB`:
 * ceil(bytes * price / 2^20), exact in bigint.
 */
export function chargeFor(bytes: bigint, pricePerMiB: bigint): bigint {
  if (bytes < 0n) throw new AmountError('AMOUNT_BAD_ARGUMENT', `bytes must be >= 0, got ${bytes}`);
  if (pricePerMiB < 0n) throw new AmountError('AMOUNT_NEGATIVE', `price must be >= 0, got ${pricePerMiB}`);
  return (bytes * pricePerMiB + MIB - 1n) / MIB;
}

/**
 * The most bytes that `units` base units pay for at `pricePerMiB`, i.e. the largest
 * `b` with chargeFor(b, price) <= units. With price 0 everything is free: returns null
 * (unbounded). Used for gating: a block is served only if it fits under this.
 */
export function bytesCoveredBy(units: bigint, pricePerMiB: bigint): bigint | null {
  if (pricePerMiB < 0n) throw new AmountError('AMOUNT_NEGATIVE', `price must be >= 0, got ${pricePerMiB}`);
  if (pricePerMiB === 0n) return null;
  if (units <= 0n) return 0n;
  // ceil(b*p/M) <= u  <=>  b*p <= u*M  <=>  b <= floor(u*M/p)
  return (units * MIB) / pricePerMiB;
}

const DIGITS = /^[0-9]+$/;

/**
 * Parse a decimal amount typed by a user (e.g. "0.0001" USDC) into base units, exactly.
 * Accepted: digits, optionally "." and digits. Rejected with a typed AmountError:
 * empty, surrounding or inner whitespace, a sign, exponent notation, more significant
 * decimals than the token has, anything else that is not a plain decimal, and values
 * above u64. Trailing zeros beyond `decimals` lose nothing and are accepted ("1.0000000").
 */
export function parseAmount(text: string, decimals = 6): bigint {
  checkDecimals(decimals);
  if (typeof text !== 'string') throw new AmountError('AMOUNT_NOT_A_NUMBER', 'amount must be a string');
  if (text.length === 0) throw new AmountError('AMOUNT_EMPTY', 'amount is empty');
  if (text.length > MAX_AMOUNT_TEXT) {
    throw new AmountError('AMOUNT_TOO_LONG', `amount longer than ${MAX_AMOUNT_TEXT} characters`);
  }
  if (/\s/.test(text)) throw new AmountError('AMOUNT_WHITESPACE', `amount contains whitespace: ${JSON.stringify(text)}`);
  if (text.startsWith('-')) throw new AmountError('AMOUNT_NEGATIVE', `amount is negative: ${text}`);
  if (/^[+]?[0-9]*\.?[0-9]*[eE]/.test(text)) {
    throw new AmountError('AMOUNT_EXPONENT', `exponent notation is not accepted: ${text}`);
  }
  const dot = text.indexOf('.');
  const intPart = dot === -1 ? text : text.slice(0, dot);
  const fracPart = dot === -1 ? '' : text.slice(dot + 1);
  // Require digits on both sides of a dot: "1." and ".5" are typos more often than intent.
  if (!DIGITS.test(intPart) || (dot !== -1 && !DIGITS.test(fracPart))) {
    throw new AmountError('AMOUNT_NOT_A_NUMBER', `not a decimal number: ${JSON.stringify(text)}`);
  }
  let frac = fracPart;
  if (frac.length > decimals) {
    const excess = frac.slice(decimals);
    if (!/^0+$/.test(excess)) {
      throw new AmountError('AMOUNT_TOO_MANY_DECIMALS', `more than ${decimals} decimals: ${text}`);
    }
    frac = frac.slice(0, decimals);
  }
  const units = BigInt(intPart) * 10n ** BigInt(decimals) + (frac.length === 0 ? 0n : BigInt(frac.padEnd(decimals, '0')));
  if (units > U64_MAX) throw new AmountError('AMOUNT_OVERFLOW', `amount exceeds u64: ${text}`);
  return units;
}

/**
 * Format base units as a decimal string: no float, trailing fractional zeros trimmed,
 * no dot for whole amounts (100n -> "0.0001", 1_500_000n -> "1.5", 2_000_000n -> "2").
 * Negative values (a balance shown in a report) get a leading "-".
 */
export function formatAmount(units: bigint, decimals = 6): string {
  checkDecimals(decimals);
  if (typeof units !== 'bigint') throw new AmountError('AMOUNT_BAD_ARGUMENT', 'units must be a bigint');
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const scale = 10n ** BigInt(decimals);
  const whole = (abs / scale).toString();
  const frac = decimals === 0 ? '' : (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '');
  return (neg ? '-' : '') + whole + (frac.length > 0 ? '.' + frac : '');
}
