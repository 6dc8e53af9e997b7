/**
 * Hang watchdog. Targets run synchronously, so a hang (an unbounded loop on some input)
 * would freeze the run with nothing reported. Before each execution the fuzz loop copies
 * the input into shared memory and bumps a counter; a watchdog thread that sees the
 * counter stand still for `timeoutMs` saves that input to fuzz/regressions/<target>/,
 * prints it and kills the process (a worker's process.exit ends only the worker).
 */
import { Worker } from 'node:worker_threads';

const HEADER_INTS = 4; // [counter, input length, target index, unused]
const MAX_INPUT = 256 * 1024;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { mkdirSync, writeFileSync, writeSync } = require('node:fs');
const { join } = require('node:path');
const { sab, timeoutMs, root, names } = workerData;
const head = new Int32Array(sab, 0, ${HEADER_INTS});
const data = new Uint8Array(sab, ${HEADER_INTS * 4});
let last = Atomics.load(head, 0);
let since = Date.now();
setInterval(() => {
  const now = Atomics.load(head, 0);
  if (now !== last) { last = now; since = Date.now(); return; }
  if (last === 0 || Date.now() - since < timeoutMs) return;
  const len = Atomics.load(head, 1);
  const input = Buffer.from(data.subarray(0, len));
  const target = names[Atomics.load(head, 2)] || 'unknown';
  const dir = join(root, 'fuzz', 'regressions', target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, createHash('sha1').update(input).digest('hex').slice(0, 16) + '.bin');
  writeFileSync(file, input);
  // fd 1 directly: a worker's process.stdout goes through the (blocked) main thread.
  writeSync(1, '\\nHANG ' + target + ': one execution has run for over ' + timeoutMs + ' ms\\n    input ' + input.subarray(0, 96).toString('hex') + ' (' + len + ' bytes)\\n    saved ' + file + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, Math.min(500, timeoutMs / 2));
`;

export class Watchdog {
  private readonly sab = new SharedArrayBuffer(HEADER_INTS * 4 + MAX_INPUT);
  private readonly head = new Int32Array(this.sab, 0, HEADER_INTS);
  private readonly data = new Uint8Array(this.sab, HEADER_INTS * 4);
  private readonly worker: Worker;
  private target = 0;

  constructor(timeoutMs: number, root: string, private readonly names: readonly string[]) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab: this.sab, timeoutMs, root, names } });
    this.worker.unref();
  }

  /** The target whose executions follow. */
  setTarget(name: string): void { this.target = Math.max(0, this.names.indexOf(name)); }

  /** Called before each execution. */
  beat(input: Uint8Array): void {
    const n = Math.min(input.length, MAX_INPUT);
    this.data.set(n === input.length ? input : input.subarray(0, n), 0);
    Atomics.store(this.head, 1, n);
    Atomics.store(this.head, 2, this.target);
    Atomics.add(this.head, 0, 1);
  }

  stop(): Promise<number> { return this.worker.terminate(); }
}
