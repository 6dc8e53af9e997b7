/**
 * A one-line progress display on stderr: on a terminal redrawn in place (at most every
 * 100 ms); to a file or a pipe a line at most every PIPE_LINE_EVERY_MS and only when
 * something changed, so a log is not flooded, and the final line whatever the interval. It shows the peers connected and,
 * for a paid download, what was spent so far (`extra`).
 */
import type { Torrent } from '../engine/torrent.js';

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Off a terminal: at most one progress line this often (plus the final one). */
export const PIPE_LINE_EVERY_MS = 5_000;
/** On a terminal: redraws at most this often. */
const TTY_REDRAW_MS = 100;
const WIDTH = 30;

/** What one progress line shows. */
export interface ProgressFigures {
  readonly bytesHave: number;
  readonly bytesTotal: number;
  /** Payload bytes downloaded, and over how long (for the rate). */
  readonly downloaded: number;
  readonly elapsedMs: number;
  /** Peers connected now. */
  readonly peers: number;
  /** Extra fields, e.g. "spent 0.000301 USDC". */
  readonly extra?: readonly string[];
}

/** "[#####.....]  50.0% 1.0 MiB/2.0 MiB 3.2 MB/s, 2 peers, spent 0.000301 USDC" */
export function progressLine(f: ProgressFigures, label = ''): string {
  const frac = f.bytesTotal === 0 ? 0 : f.bytesHave / f.bytesTotal;
  const fill = Math.round(frac * WIDTH);
  const rate = f.downloaded / Math.max(0.001, f.elapsedMs / 1000) / 1e6;
  const fields = [`${f.peers} peer${f.peers === 1 ? '' : 's'}`, ...(f.extra ?? [])];
  return `${label}[${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${(frac * 100).toFixed(1).padStart(5)}% `
    + `${formatBytes(f.bytesHave)}/${formatBytes(f.bytesTotal)} ${rate.toFixed(1)} MB/s, ${fields.join(', ')}`;
}

export interface ProgressOptions {
  /** Put before the bar (e.g. "T1 "). */
  readonly label?: string;
  /** Off a terminal, the least time between lines (default PIPE_LINE_EVERY_MS). */
  readonly pipeEveryMs?: number;
  /** Extra fields for each line (e.g. USDC spent). */
  readonly extra?: () => readonly string[];
  readonly now?: () => number;
}

export class ProgressBar {
  private readonly tty: boolean;
  private last = -Infinity;
  private readonly started: number;
  private drawn = false;
  private lastKey = '';
  private readonly o: ProgressOptions;
  private readonly now: () => number;

  /** `opts`: a label (as before) or options. */
  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr, opts: string | ProgressOptions = {}) {
    this.tty = out.isTTY === true;
    this.o = typeof opts === 'string' ? { label: opts } : opts;
    this.now = this.o.now ?? Date.now;
    this.started = this.now();
  }

  /** Draw `t`'s progress if the interval allows (always when `force`: the final line). */
  update(t: Torrent, force = false): void {
    const p = t.progress();
    this.draw({ bytesHave: p.bytesHave, bytesTotal: p.bytesTotal, downloaded: p.downloaded, elapsedMs: 0, peers: t.peers().length }, force);
  }

  /** Draw these figures (elapsedMs is filled in) if the interval allows. */
  draw(f: ProgressFigures, force = false): void {
    const now = this.now();
    if (!force && now - this.last < (this.tty ? TTY_REDRAW_MS : this.o.pipeEveryMs ?? PIPE_LINE_EVERY_MS)) return;
    const extra = [...(f.extra ?? []), ...(this.o.extra?.() ?? [])];
    // Off a terminal, a line that says nothing new (no byte, peer or payment since) is
    // not written: a stalled download would fill a log with copies.
    const key = `${f.bytesHave}/${f.bytesTotal} ${f.peers} ${extra.join(',')}`;
    if (!this.tty && !force && key === this.lastKey) return;
    this.lastKey = key;
    this.last = now;
    const line = progressLine({ ...f, elapsedMs: now - this.started, extra }, this.o.label);
    if (this.tty) this.out.write(`\r${line}\x1b[K`);
    else this.out.write(`${line}\n`);
    this.drawn = true;
  }

  /** Before another line goes to the same stream: wipe the bar on a terminal (the next update redraws it). */
  clear(): void {
    if (this.drawn && this.tty) this.out.write('\r\x1b[K');
  }

  /** Write one line above the bar (wiped first on a terminal; the next update redraws it). */
  line(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
    if (this.tty) this.last = -Infinity;
  }

  done(): void {
    if (this.drawn && this.tty) this.out.write('\n');
  }
}
