/**
 * A `--max-prepay` too small for the torrent's pieces: a piece passes its hash check only
 * once all of it is paid for, so a seller whose price makes one piece cost more than the
 * cap can never be paid enough to deliver anything that verifies. The download then
 * waits forever on it; `get` says so up front (pure: the caller prints).
 */
import { MIB } from '../../payment/amount.js';

/**
 * The warning for `maxPrepay` with pieces of `pieceLength` bytes under `maxPrice` per MiB,
 * or null when every seller `get` would pay can get a piece verified. `format` writes an
 * amount in the paid token.
 */
export function prepayWarning(maxPrepay: bigint, pieceLength: number, maxPrice: bigint, format: (units: bigint) => string): string | null {
  if (!(pieceLength > 0)) return null;
  // Dearest price at which one piece still fits: floor(maxPrepay × 2^20 / pieceLength).
  const highest = (maxPrepay * MIB) / BigInt(pieceLength);
  if (highest >= maxPrice) return null;
  const mib = (pieceLength / 2 ** 20).toFixed(pieceLength % 2 ** 20 === 0 ? 0 : 2);
  return `warning: --max-prepay ${format(maxPrepay)} pays for less than one ${mib} MiB piece at --max-price ${format(maxPrice)}: `
    + `a seller asking more than ${format(highest)} per MiB can never deliver a piece that verifies (raise --max-prepay, or leave it out)`;
}
