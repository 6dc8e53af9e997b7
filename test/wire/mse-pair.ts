/**
 * Two MSE machines wired back to back in memory (ARCHITECTURE.md habit 10): each
 * one's output is cut into chunks by `cut` and fed to the other until both are done,
 * one fails, or nothing moves.
 */
import { MseInitiator, MseResponder, MseError, req2Hash, type MseResult } from '../../wire/mse/index.js';
import { rng } from '../../testkit/seeded-rng.js';

export const INFO_HASH = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);

/** Deterministic random bytes (tests must replay). */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  const r = rng(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/** A responder lookup over a list of info hashes. */
export function lookupOf(hashes: readonly Uint8Array[]): (req2: Uint8Array) => Uint8Array | null {
  const table = hashes.map((ih) => ({ ih, h: Buffer.from(req2Hash(ih)).toString('hex') }));
  return (req2) => table.find((e) => e.h === Buffer.from(req2).toString('hex'))?.ih ?? null;
}

export interface PairOutcome {
  initiator: MseResult | MseError;
  responder: MseResult | MseError;
}

type Machine = MseInitiator | MseResponder;

export function drain(m: Machine): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let c = m.pollTransmit(); c !== null; c = m.pollTransmit()) parts.push(c);
  return Buffer.concat(parts);
}

/** Random chunk sizes in [1, max] from a seed. */
export function randomCuts(seed: number, max: number): (n: number) => number[] {
  const r = rng(seed);
  return (n) => {
    const out: number[] = [];
    for (let left = n; left > 0;) {
      const k = Math.min(left, 1 + Math.floor(r() * max));
      out.push(k);
      left -= k;
    }
    return out;
  };
}

/**
 * Run both sides to the end. Bytes a side sends after the other finished are kept as
 * that other side's "late" stream bytes (they belong to the BitTorrent stream).
 */
export function runPair(a: MseInitiator, b: MseResponder, cut: (n: number) => number[]): PairOutcome & { lateToA: Uint8Array; lateToB: Uint8Array } {
  const lateToA: Uint8Array[] = [];
  const lateToB: Uint8Array[] = [];
  let errA: MseError | null = null;
  let errB: MseError | null = null;
  for (let round = 0; round < 20; round++) {
    const toB = drain(a);
    const toA = drain(b);
    if (toB.length === 0 && toA.length === 0) break;
    if (errB === null) {
      if (b.result !== null) lateToB.push(toB);
      else errB = deliver(b, toB, cut, lateToB);
    }
    if (errA === null) {
      if (a.result !== null) lateToA.push(toA);
      else errA = deliver(a, toA, cut, lateToA);
    }
    if (errA !== null || errB !== null) break;
  }
  return {
    initiator: errA ?? a.result ?? new MseError('TRUNCATED', 'initiator stalled'),
    responder: errB ?? b.result ?? new MseError('TRUNCATED', 'responder stalled'),
    lateToA: Buffer.concat(lateToA),
    lateToB: Buffer.concat(lateToB),
  };
}

/** Feed chunk by chunk; once done, the remaining bytes go to `late`. */
function deliver(m: Machine, bytes: Uint8Array, cut: (n: number) => number[], late: Uint8Array[]): MseError | null {
  let o = 0;
  for (const len of cut(bytes.length)) {
    if (m.result !== null) { late.push(bytes.subarray(o)); return null; }
    try {
      m.receive(bytes.subarray(o, o + len), 0);
    } catch (e) {
      if (e instanceof MseError) return e;
      throw e;
    }
    o += len;
  }
  return null;
}
