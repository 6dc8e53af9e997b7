/**
 * A seeded PRNG (mulberry32) for tests and benchmarks: the same seed gives the same
 * tie-breaks, peer sets and shuffles on every run, so a failure can be replayed and
 * ours and the baseline in a benchmark see the same "random" input.
 */

/** Returns a function that yields numbers in [0, 1), determined by `seed`. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
