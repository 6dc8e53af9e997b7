/** What the two MSE fuzz targets (mse.ts, mse-initiator.ts) share: seeded randomness and feeding. */
import { MseError, type MseMachine } from '../../wire/mse/index.js';
import { Rng, check } from '../target.js';

/** Random bytes from a seed taken from the input, so a run replays. */
export function randomFrom(seed: number): (n: number) => Uint8Array {
  const r = new Rng(seed + 1);
  return (n) => Uint8Array.from({ length: n }, () => r.below(256));
}

/**
 * Feed chunks until the handshake has a result, appending what `m` sends after each
 * one to `out`. Returns the MseError if one was thrown, once checked to be kept and
 * sticky; anything else propagates to runOne.
 */
export function feedMse(m: MseMachine, chunks: readonly Uint8Array[], out: Uint8Array[]): MseError | null {
  for (const c of chunks) {
    if (m.result !== null) break;
    try {
      m.receive(c, 0);
    } catch (e) {
      if (!(e instanceof MseError)) throw e;
      check(m.error === e, 'error is not kept');
      let again: unknown = null;
      try { m.receive(new Uint8Array(1), 0); } catch (e2) { again = e2; }
      check(again === e, 'MSE error is not sticky');
      return e;
    }
    for (let x = m.pollTransmit(); x !== null; x = m.pollTransmit()) out.push(x);
  }
  return null;
}
