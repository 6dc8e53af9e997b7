/**
 * Queries admitted per source address in a fixed window, like libtorrent's DHT rate
 * limit (an IP that sends too many packets is ignored for a while): one host cannot
 * make us answer without bound, and a forged source cannot use us to send a victim
 * more than `max` answers per window. Memory is bounded too: past `maxSources`
 * addresses the oldest entry is forgotten (a forgotten flooder starts a fresh window,
 * which costs at most one more window of answers).
 */
export interface SourceRateOptions {
  /** Queries admitted per address per window. */
  readonly max: number;
  readonly windowMs: number;
  /** Addresses remembered at once. Default 4096. */
  readonly maxSources?: number;
}

interface Window { start: number; count: number }

export class SourceRate {
  private readonly windows = new Map<string, Window>();
  private readonly maxSources: number;

  constructor(private readonly opts: SourceRateOptions) {
    this.maxSources = opts.maxSources ?? 4096;
  }

  /** Whether a query from `source` at `now` is answered (and counted). */
  admit(source: string, now: number): boolean {
    let w = this.windows.get(source);
    if (w === undefined || now - w.start >= this.opts.windowMs || now < w.start) {
      if (w === undefined && this.windows.size >= this.maxSources) {
        this.windows.delete(this.windows.keys().next().value as string);
      }
      this.windows.delete(source); // re-inserted last: Map order is then oldest window first
      w = { start: now, count: 0 };
      this.windows.set(source, w);
    }
    if (w.count >= this.opts.max) return false;
    w.count++;
    return true;
  }

  get size(): number { return this.windows.size; }
}
