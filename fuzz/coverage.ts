/**
 * Coverage guidance from V8's own block coverage (jazzer.js does not load here): an
 * in-process inspector session with precise, detailed (block-level), binary coverage.
 * In binary mode every `Profiler.takePreciseCoverage` reports only the functions that
 * ran since the previous take and resets the flags, so "what did this input (or batch)
 * reach" is one take. A feature is (script, block start, block end, hit or skipped);
 * an input that produces a feature never seen joins the corpus.
 *
 * The in-process session answers synchronously (the callback has run when `post`
 * returns), so the fuzz loop stays synchronous.
 */
import { Session } from 'node:inspector';

interface Range { startOffset: number; endOffset: number; count: number }
interface FunctionCoverage { functionName: string; ranges: Range[] }
interface ScriptCoverage { scriptId: string; url: string; functions: FunctionCoverage[] }

export class Coverage {
  private readonly session = new Session();
  private readonly seen = new Set<string>();
  private readonly urlIds = new Map<string, number>();
  private started = false;
  /** Takes done (each costs roughly 0.1-1 ms, by how much code ran). */
  takes = 0;

  /** `include(url)`: which scripts count (the project's own compiled files). */
  constructor(private readonly include: (url: string) => boolean) {}

  start(): void {
    if (this.started) return;
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: false, detailed: true });
    this.started = true;
    this.reset();
  }

  stop(): void {
    if (!this.started) return;
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.session.disconnect();
    this.started = false;
  }

  /** Distinct features seen so far. */
  get size(): number { return this.seen.size; }

  /** Forget what ran since the last take. */
  reset(): void { this.take(); }

  /** Features reached since the last take that were never seen (not yet recorded). */
  fresh(): string[] {
    const out: string[] = [];
    for (const s of this.take()) {
      if (!this.include(s.url)) continue;
      let id = this.urlIds.get(s.url);
      if (id === undefined) { id = this.urlIds.size; this.urlIds.set(s.url, id); }
      for (const f of s.functions) {
        for (const r of f.ranges) {
          const k = `${id}:${r.startOffset}:${r.endOffset}:${r.count > 0 ? 1 : 0}`;
          if (!this.seen.has(k)) out.push(k);
        }
      }
    }
    return out;
  }

  /** Start a fresh feature map (one per target: each target has its own corpus). */
  clearSeen(): void { this.seen.clear(); }

  /** Record features as seen. */
  add(features: readonly string[]): void { for (const k of features) this.seen.add(k); }

  private take(): ScriptCoverage[] {
    this.takes++;
    return (this.post('Profiler.takePreciseCoverage') as { result: ScriptCoverage[] }).result;
  }

  private post(method: string, params?: object): unknown {
    let out: unknown;
    let error: Error | null = null;
    let done = false;
    this.session.post(method, params ?? {}, (err, res) => { error = err; out = res; done = true; });
    if (!done) throw new Error(`inspector ${method} did not answer synchronously`);
    if (error !== null) throw error;
    return out;
  }
}
