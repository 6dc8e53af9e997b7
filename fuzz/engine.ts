/**
 * The fuzz loop for one target: fast-check generates inputs (inputArbitrary) until the
 * time or run budget is spent; every input goes through `runOne`. Failures are
 * deduplicated by signature and minimized; the loop goes on after a failure, so one run
 * reports every distinct bug it met.
 *
 * Coverage guidance, batched: a coverage take costs far more than one execution, so it
 * is done once per `batch` inputs; only when a batch reached something new is each of
 * its inputs replayed with a take of its own, to find which ones to keep. Inputs that
 * reached new blocks join the in-memory corpus (and are returned, for --save).
 */
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { type Failure, type FuzzTarget, runOne } from './target.js';
import { inputArbitrary } from './arbitrary.js';
import type { Coverage } from './coverage.js';
import { minimize } from './minimize.js';

export interface EngineOptions {
  /** Time budget (ms). */
  readonly ms: number;
  readonly seed: number;
  readonly coverage?: Coverage | null;
  /**
   * Inputs per coverage take. Default: adaptive, so that takes cost about a fifth of the
   * time spent executing (a take costs ~1-3 ms; an execution 10 µs to 1 ms by target).
   */
  readonly batch?: number;
  readonly maxRuns?: number;
  /** An execution slower than this is reported as a failure (a hang in the making). */
  readonly hangMs?: number;
  /** Called with each input before it runs (the hang watchdog's heartbeat). */
  readonly beforeExec?: (input: Uint8Array) => void;
}

export interface TargetReport {
  readonly target: string;
  /** Fresh inputs executed. */
  execs: number;
  /** Re-executions to find which input of a batch reached new coverage. */
  replays: number;
  ms: number;
  readonly corpusStart: number;
  corpusEnd: number;
  /** Inputs that reached new coverage during this run. */
  readonly added: Uint8Array[];
  readonly failures: Failure[];
  features: number;
  slowestMs: number;
  slowestInput: Uint8Array | null;
  peakRss: number;
  /** Coverage batch size at the end (adaptive). */
  batch: number;
}

export function fuzzTarget(t: FuzzTarget, corpus: Uint8Array[], o: EngineOptions): TargetReport {
  const cov = o.coverage ?? null;
  let batchSize = o.batch ?? 64;
  const adaptive = o.batch === undefined;
  let execMs = 0;
  let takeMs = 0;
  let takes = 0;
  const hangMs = o.hangMs ?? 2_000;
  const rep: TargetReport = {
    target: t.name, execs: 0, replays: 0, ms: 0, corpusStart: corpus.length, corpusEnd: corpus.length,
    added: [], failures: [], features: 0, slowestMs: 0, slowestInput: null, peakRss: process.memoryUsage.rss(), batch: batchSize,
  };
  const signatures = new Set<string>();
  const t0 = performance.now();

  const before = o.beforeExec;
  const exec = (input: Uint8Array): void => {
    if (before !== undefined) before(input);
    const s = performance.now();
    const f = runOne(t, input);
    const took = performance.now() - s;
    execMs += took;
    rep.execs++;
    if (took > rep.slowestMs) { rep.slowestMs = took; rep.slowestInput = input; }
    if (f !== null) {
      if (signatures.has(f.signature)) return;
      signatures.add(f.signature);
      rep.failures.push({ ...f, input: minimize(t, f.input, f.signature) });
    } else if (took > hangMs && !signatures.has('slow')) {
      signatures.add('slow');
      rep.failures.push({ target: t.name, signature: 'slow', message: `one execution took ${took.toFixed(0)} ms`, stack: '', input: new Uint8Array(input) });
    }
  };

  // Seed the coverage map with the corpus itself.
  if (cov !== null) {
    cov.clearSeen();
    cov.reset();
    for (const c of corpus) { exec(c); cov.add(cov.fresh()); }
  } else {
    for (const c of corpus) exec(c);
  }

  let batch: Uint8Array[] = [];
  /**
   * Which inputs of a batch reached new blocks: replay halves, each followed by a take,
   * and descend only into halves that reach something new (O(k log n) takes for k new
   * inputs in a batch of n, instead of n).
   */
  const attribute = (inputs: Uint8Array[]): void => {
    const mid = inputs.length >> 1;
    const halves = inputs.length === 1 ? [inputs] : [inputs.slice(0, mid), inputs.slice(mid)];
    for (const half of halves) {
      for (const x of half) { runOne(t, x); rep.replays++; }
      const f = cov!.fresh();
      if (f.length === 0) continue;
      if (half.length === 1) {
        cov!.add(f);
        corpus.push(half[0]);
        rep.added.push(half[0]);
      } else {
        attribute(half);
      }
    }
  };
  const endBatch = (): void => {
    if (cov === null || batch.length === 0) return;
    const ts = performance.now();
    const fresh = cov.fresh();
    takeMs += performance.now() - ts;
    takes++;
    if (fresh.length > 0) {
      attribute(batch);
      cov.add(fresh); // whatever no single input reproduced (timing-dependent paths) is not new any more
    }
    batch = [];
    if (adaptive && rep.execs > 0) {
      const perTake = takeMs / takes;
      const perExec = execMs / rep.execs;
      batchSize = Math.max(16, Math.min(1024, Math.round((5 * perTake) / Math.max(perExec, 1e-3))));
    }
    rep.batch = batchSize;
    const rss = process.memoryUsage.rss();
    if (rss > rep.peakRss) rep.peakRss = rss;
  };

  const remaining = Math.max(0, o.ms - (performance.now() - t0));
  const arb = inputArbitrary(t, () => corpus);
  fc.check(fc.property(arb, (input) => {
    exec(input);
    if (cov !== null) {
      batch.push(input);
      if (batch.length >= batchSize) endBatch();
    } else if ((rep.execs & 1023) === 0) {
      const rss = process.memoryUsage.rss();
      if (rss > rep.peakRss) rep.peakRss = rss;
    }
    return true;
  }), {
    seed: o.seed, numRuns: o.maxRuns ?? 0x7fffffff, interruptAfterTimeLimit: Math.max(1, Math.floor(remaining)),
    markInterruptAsFailure: false, endOnFailure: true,
  });
  endBatch();
  rep.ms = performance.now() - t0;
  rep.corpusEnd = corpus.length;
  rep.features = cov?.size ?? 0;
  return rep;
}
