/**
 * Drives the idle flood in a child process (testkit/hostile-idle-flood-child.ts) at the
 * lowest CPU priority. In the driver's own process the flood's socket churn competed
 * with the seeder and the honest leecher for the machine's cores, so a run charged the
 * attacker's CPU to the seeder; on a real network that CPU is spent on the attackers'
 * machines. Niced to 19, the flood still runs whenever a core is idle, and its CPU is
 * measured in its own process.
 *
 * start() resolves once every socket is connected (or throws the child's loud failure:
 * a file limit too low, a socket that could not be opened); stats() throws a failure
 * that came later; stop() closes every socket and waits for the child's exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import type { IdleFloodStats } from './hostile-idle-flood.js';
import type { FloodReply, FloodRequest } from './hostile-idle-flood-child.js';
import { nodeScript } from './hostile-idle-script.js';

/** The attacker's niceness: the lowest priority there is. */
export const FLOOD_NICE = 19;
const REPLY_TIMEOUT_MS = 60_000;
const TAIL_LINES = 20;

export interface FloodProcessStats extends IdleFloodStats {
  /** CPU seconds (user + system, every thread) of the flood's process since start. */
  cpuS: number;
}

/** `nice` where there is one: the child is niced before it starts any thread (setPriority after spawn reaches only the main one). */
function niceCommand(): string | null {
  for (const p of ['/usr/bin/nice', '/bin/nice']) if (existsSync(p)) return p;
  return null;
}

export class IdleFloodProcess {
  private child: ChildProcess | null = null;
  private readonly tail: string[] = [];
  private readonly waiters: ((m: FloodReply | null) => void)[] = [];
  private exited = false;
  /** Niceness the child reported for itself (null before ready). */
  nice: number | null = null;

  constructor(private readonly port: number, readonly addresses: number, readonly perAddress: number, private readonly host = '127.0.0.1') {}

  get target(): number { return this.addresses * this.perAddress; }

  get pid(): number | null { return this.child?.pid ?? null; }

  /** Spawn the child, open the flood; resolves with the sockets open once all connected. */
  async start(): Promise<number> {
    if (this.child !== null) throw new Error('idle flood process: started twice');
    const s = nodeScript('hostile-idle-flood-child');
    const nice = niceCommand();
    const [cmd, args] = nice !== null ? [nice, ['-n', String(FLOOD_NICE), s.cmd, ...s.args]] : [s.cmd, s.args];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    if (child.pid === undefined) throw new Error(`idle flood process: spawn ${cmd} failed`);
    // The main thread, where the sockets are served; a no-op when `nice` did it already.
    setPriority(child.pid, FLOOD_NICE);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on('line', (l) => this.keep(l));
    }
    child.on('message', (m: FloodReply) => this.waiters.shift()?.(m));
    child.once('exit', (code, signal) => {
      this.exited = true;
      this.keep(`[exited ${code ?? signal}]`);
      for (const w of this.waiters.splice(0)) w(null);
    });
    child.once('error', (e) => this.keep(`[spawn error] ${e.message}`));
    const r = await this.request({ type: 'start', port: this.port, host: this.host, addresses: this.addresses, perAddress: this.perAddress }, 'ready');
    this.nice = r.nice;
    return r.open;
  }

  /** The flood's counters and CPU; throws a failure to open a socket since start. */
  async stats(): Promise<FloodProcessStats> {
    const r = await this.request({ type: 'stats' }, 'stats');
    if (r.failure !== null) throw new Error(r.failure);
    return { target: r.target, open: r.open, closedBySeeder: r.closedBySeeder, reopened: r.reopened, cpuS: r.cpuS };
  }

  /** Close every socket and end the child (killed if it does not answer). Safe to call twice. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || this.exited) return;
    try {
      await this.request({ type: 'stop' }, 'stopped', 10_000);
    } catch {
      // an unresponsive child: its sockets go with it
    }
    if (!this.exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }

  private keep(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }

  private request<T extends FloodReply['type']>(m: FloodRequest, want: T, timeoutMs = REPLY_TIMEOUT_MS): Promise<Extract<FloodReply, { type: T }>> {
    const child = this.child;
    if (child === null || this.exited) return Promise.reject(new Error(`idle flood process: not running (${m.type})${this.tailText()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(onReply);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`idle flood process: no ${want} after ${timeoutMs} ms${this.tailText()}`));
      }, timeoutMs);
      const onReply = (r: FloodReply | null): void => {
        clearTimeout(timer);
        if (r === null) reject(new Error(`idle flood process: exited before ${want}${this.tailText()}`));
        else if (r.type === 'failed') reject(new Error(r.message));
        else if (r.type !== want) reject(new Error(`idle flood process: ${r.type} where ${want} was expected`));
        else resolve(r as Extract<FloodReply, { type: T }>);
      };
      this.waiters.push(onReply);
      child.send(m);
    });
  }

  private tailText(): string {
    return this.tail.length === 0 ? '' : `\n${this.tail.map((l) => `  | ${l}`).join('\n')}`;
  }
}
