/**
 * Shrink a failing input while it fails the same way (same signature): remove chunks of
 * halving size (ddmin's complement pass), then zero single bytes. Bounded by `budget`
 * executions so a slow target cannot stall the run.
 */
import { type FuzzTarget, runOne } from './target.js';

export function minimize(t: FuzzTarget, input: Uint8Array, signature: string, budget = 4000): Uint8Array {
  let best = input;
  let runs = 0;
  const fails = (c: Uint8Array): boolean => {
    runs++;
    const f = runOne(t, c);
    return f !== null && f.signature === signature;
  };
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && runs < budget; chunk >>= 1) {
    for (let i = 0; i < best.length && runs < budget;) {
      const cand = new Uint8Array(best.length - Math.min(chunk, best.length - i));
      cand.set(best.subarray(0, i), 0);
      cand.set(best.subarray(i + chunk), i);
      if (fails(cand)) best = cand; else i += chunk;
    }
  }
  for (let i = 0; i < best.length && runs < budget; i++) {
    if (best[i] === 0) continue;
    const cand = new Uint8Array(best); cand[i] = 0;
    if (fails(cand)) best = cand;
  }
  return best;
}
