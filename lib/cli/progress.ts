/** A one-line progress bar on stderr (redrawn in place on a terminal, a line per second otherwise). */
import type { Torrent } from '../engine/torrent.js';

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export class ProgressBar {
  private readonly tty: boolean;
  private last = 0;
  private readonly started = Date.now();
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly label = '') {
    this.tty = out.isTTY === true;
  }

  update(t: Torrent, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 100 : 1000)) return;
    this.last = now;
    const p = t.progress();
    const frac = p.bytesTotal === 0 ? 0 : p.bytesHave / p.bytesTotal;
    const width = 30;
    const fill = Math.round(frac * width);
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const rate = p.downloaded / secs / 1e6;
    const line = `${this.label}[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(1).padStart(5)}% `
      + `${formatBytes(p.bytesHave)}/${formatBytes(p.bytesTotal)} ${rate.toFixed(1)} MB/s, ${t.stats().peers} peer(s)`;
    if (this.tty) this.out.write(`\r${line}\x1b[K`);
    else this.out.write(`${line}\n`);
    this.drawn = true;
  }

  /** Before another line goes to the same stream: wipe the bar on a terminal (the next update redraws it). */
  clear(): void {
    if (this.drawn && this.tty) this.out.write('\r\x1b[K');
  }

  done(): void {
    if (this.drawn && this.tty) this.out.write('\n');
  }
}
