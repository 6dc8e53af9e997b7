/**
 * SHA-1 of completed pieces off the event loop, like libtorrent's hashing in its disk
 * threads: the download's main thread keeps parsing and copying blocks while pieces
 * are hashed in parallel. Piece buffers live in SharedArrayBuffers (see
 * download-assembly.ts), so a piece is hashed in place: only its offset and length
 * cross the thread boundary, and the 20-byte digest comes back.
 *
 * A buffer not backed by shared memory, a hasher with no workers, or a failed worker
 * falls back to hashing on the calling thread (node:crypto), so results never depend
 * on the workers.
 */
import { Worker } from 'node:worker_threads';
import { sha1 } from '../files/sha1.js';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  const d = createHash('sha1').update(new Uint8Array(m.sab, m.off, m.len)).digest();
  parentPort.postMessage({ id: m.id, digest: d });
});
`;

interface Job { resolve: (d: Buffer) => void; buf: Buffer }

export class PieceHasher {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closed = false;

  /** `threads`: worker threads (0: hash on the calling thread). */
  constructor(private readonly threads: number) {}

  /** SHA-1 of `buf`. */
  hash(buf: Buffer): Promise<Buffer> {
    if (this.closed || this.threads <= 0 || !(buf.buffer instanceof SharedArrayBuffer)) return Promise.resolve(sha1(buf));
    if (this.workers.length < this.threads) this.spawn();
    // The least busy worker.
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i] < this.busy[w]) w = i;
    const id = this.nextId++;
    return new Promise<Buffer>((resolve) => {
      this.jobs.set(id, { resolve, buf });
      this.busy[w]++;
      this.workers[w].postMessage({ id, sab: buf.buffer, off: buf.byteOffset, len: buf.length });
    });
  }

  /** Stop the workers; pending jobs are finished on the calling thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ws = this.workers.splice(0);
    this.drain();
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private spawn(): void {
    const idx = this.workers.length;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref(); // hashing never keeps a process alive on its own
    w.on('message', (m: { id: number; digest: Uint8Array }) => {
      const job = this.jobs.get(m.id);
      if (job === undefined) return;
      this.jobs.delete(m.id);
      this.busy[idx]--;
      job.resolve(Buffer.from(m.digest.buffer, m.digest.byteOffset, m.digest.length));
    });
    w.on('error', () => this.fail(w));
    w.on('exit', () => this.fail(w));
    this.workers.push(w);
    this.busy.push(0);
  }

  /** A worker died: hash everything it had (and everything pending) here, stop using workers. */
  private fail(w: Worker): void {
    if (this.closed) return;
    this.closed = true;
    for (const x of this.workers.splice(0)) if (x !== w) void x.terminate();
    this.drain();
  }

  private drain(): void {
    for (const [id, job] of this.jobs) {
      this.jobs.delete(id);
      job.resolve(sha1(job.buf));
    }
  }
}
