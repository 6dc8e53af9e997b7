/**
 * Bytes over time, as the rate-limit tests and bench/rate-limit.ts see them: samples
 * of (time ms, bytes) in time order, the worst window against a limit, the rates of
 * sliding windows, and an extension that logs what a torrent sends (its `onPieceSent`
 * runs as each piece message is queued on the socket).
 */
import type { ExtensionFactory } from '../extensions/registry.js';

export interface Sample {
  /** ms, the clock of whoever recorded it. */
  readonly t: number;
  readonly n: number;
}

/** The 13-byte header of a piece message: upload limits count it with the block. */
export const PIECE_HEADER = 13;

/**
 * The largest excess over `rate` (bytes/s) of any window [t_i, t_j]: max of
 * bytes(i..j) − rate·(t_j − t_i). One pass: the worst window ending at j starts where
 * S(i−1) − rate·t_i is least (S: bytes so far). Also where that window lies.
 */
export function worstWindow(samples: readonly Sample[], rate: number): { excess: number; from: number; to: number } {
  let before = 0;
  let best = Infinity;
  let bestAt = 0;
  let worst = { excess: -Infinity, from: 0, to: 0 };
  for (const s of samples) {
    const start = before - (rate * s.t) / 1000;
    if (start < best) { best = start; bestAt = s.t; }
    before += s.n;
    const excess = before - (rate * s.t) / 1000 - best;
    if (excess > worst.excess) worst = { excess, from: bestAt, to: s.t };
  }
  return worst;
}

/**
 * The most bytes that arrived by any time t beyond rate·(t − t0): the excess of the
 * cumulative count over a limit that started (with a full bucket) at t0.
 */
export function cumulativeExcess(samples: readonly Sample[], rate: number, t0: number): number {
  let total = 0;
  let worst = -Infinity;
  for (const s of samples) {
    total += s.n;
    worst = Math.max(worst, total - (rate * Math.max(0, s.t - t0)) / 1000);
  }
  return worst;
}

/** Samples within [from, to]. */
export function between(samples: readonly Sample[], from: number, to: number): Sample[] {
  return samples.filter((s) => s.t >= from && s.t <= to);
}

/**
 * Rates (bytes/s) of the windows [a, a + windowMs] for a = from, from + stepMs, … while
 * a + windowMs ≤ to.
 */
export function windowRates(samples: readonly Sample[], windowMs: number, stepMs: number, from: number, to: number): number[] {
  const out: number[] = [];
  let lo = 0;
  let hi = 0;
  let sum = 0;
  for (let a = from; a + windowMs <= to; a += stepMs) {
    const b = a + windowMs;
    while (hi < samples.length && samples[hi].t < b) { sum += samples[hi].n; hi++; }
    while (lo < hi && samples[lo].t < a) { sum -= samples[lo].n; lo++; }
    out.push((sum * 1000) / windowMs);
  }
  return out;
}

/**
 * An extension that logs each piece message the torrent queues for any peer: (clock(),
 * block + header bytes) pushed to `into`. It is active on every connection (a peer
 * need not know it: the log needs no message).
 */
export function sendLogger(into: Sample[], clock: () => number = Date.now): ExtensionFactory {
  return {
    name: 'x_send_log',
    create: () => ({
      name: 'x_send_log',
      onPieceSent: (_index: number, _begin: number, length: number) => { into.push({ t: clock(), n: length + PIECE_HEADER }); },
    }),
  };
}
