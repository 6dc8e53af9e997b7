/**
 * fast-check arbitraries for fuzz inputs: raw bytes, soups of dictionary tokens, and
 * (mostly) stacked structure-aware mutations of a corpus entry. The corpus is read
 * when a value is generated, so entries added by coverage guidance are used at once.
 */
import fc from 'fast-check';
import { type FuzzTarget, Rng, concat } from './target.js';
import { mutate } from './mutate.js';

export function inputArbitrary(t: FuzzTarget, corpus: () => readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const parts: { arbitrary: fc.Arbitrary<Uint8Array>; weight: number }[] = [
    { arbitrary: fc.uint8Array({ maxLength: 256 }), weight: 1 },
    {
      weight: 10,
      arbitrary: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 1, max: 8 }))
        .map(([pick, seed, rounds]) => {
          const c = corpus();
          if (c.length === 0) return new Uint8Array(0);
          return mutate(c[pick % c.length], { rng: new Rng(seed), corpus: c, target: t }, rounds);
        }),
    },
  ];
  const d = t.dictionary;
  if (d !== undefined && d.length > 0) {
    parts.push({
      weight: 1,
      arbitrary: fc.array(fc.oneof(fc.constantFrom(...d), fc.uint8Array({ maxLength: 4 })), { maxLength: 24 }).map(concat),
    });
  }
  return fc.oneof(...parts);
}
