/**
 * A sustained crowd of idle TCP connections: `perAddress` sockets from each of
 * `addresses` distinct loopback source addresses (Linux routes all of 127/8 to lo),
 * none of which ever sends a byte. Every socket the seeder closes (evicted from its
 * pending-handshake table, or timed out) is opened again at once from the same
 * address, so the seeder faces `addresses × perAddress` would-be peers for as long as
 * the flood runs — a crowd spread thin enough that each address stays within the
 * seeder's per-address share, which is what makes it hard to refuse.
 *
 * Opening fails loudly: a socket that cannot be opened (EMFILE, EADDRNOTAVAIL, …)
 * is an error of the whole flood, so a run never quietly measures a smaller crowd.
 */
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

export interface IdleFloodStats {
  /** Sockets the flood is meant to hold. */
  target: number;
  /** Sockets connected and not closed right now. */
  open: number;
  /** Sockets the seeder closed (each was opened again, unless the flood was stopping). */
  closedBySeeder: number;
  /** Sockets opened again after the seeder closed them. */
  reopened: number;
}

/** Source address number `i` (0-based): 127.77.x.y, away from the 127.0.0.x the other peers use. */
export function floodAddress(i: number): string {
  return `127.77.${(i >> 8) & 255}.${(i & 255) + 1}`;
}

/** The process's soft limit on open files (Linux /proc; null where unknown). */
export function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return null;
    return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}

export class IdleFlood {
  private readonly sockets = new Set<Socket>();
  private stopping = false;
  private failure: Error | null = null;
  private openCount = 0;
  private closedBySeeder = 0;
  private reopened = 0;

  constructor(private readonly port: number, readonly addresses: number, readonly perAddress: number, private readonly host = '127.0.0.1') {}

  get target(): number { return this.addresses * this.perAddress; }

  /**
   * Open every socket and resolve once all are connected. Throws (and closes them
   * all) when the file limit cannot hold them or any socket fails to open.
   */
  async start(): Promise<void> {
    const limit = openFileLimit();
    // Headroom for the process's own descriptors (stdio, pipes to children, files).
    if (limit !== null && limit < this.target + 200) {
      throw new Error(`idle flood: ${this.target} sockets need a limit on open files of at least ${this.target + 200}, this process has ${limit} (raise ulimit -n)`);
    }
    const first: Promise<void>[] = [];
    for (let a = 0; a < this.addresses; a++) {
      for (let i = 0; i < this.perAddress; i++) first.push(this.open(floodAddress(a), false));
      // let the seeder's accept loop keep up with the opening burst
      if (a % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(first);
    this.check();
  }

  /** Throws the first failure to open a socket, if any. */
  check(): void {
    if (this.failure !== null) throw this.failure;
  }

  stats(): IdleFloodStats {
    return { target: this.target, open: this.openCount, closedBySeeder: this.closedBySeeder, reopened: this.reopened };
  }

  /** Close every socket; none is opened again. */
  stop(): void {
    this.stopping = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** One idle socket from `localAddress`; resolves once connected, rejects on a failure to connect. */
  private open(localAddress: string, reopen: boolean): Promise<void> {
    if (reopen) this.reopened++;
    return new Promise((resolve, reject) => {
      const s = connect({ host: this.host, port: this.port, localAddress });
      this.sockets.add(s);
      let connected = false;
      s.once('connect', () => {
        connected = true;
        this.openCount++;
        resolve();
      });
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (connected || this.stopping) return; // the seeder resetting an idle socket is its close
        const err = new Error(`idle flood: cannot open a socket from ${localAddress}: ${e.code ?? e.message}`, { cause: e });
        this.failure ??= err;
        reject(err);
      });
      s.once('close', () => {
        this.sockets.delete(s);
        if (!connected) return;
        this.openCount--;
        if (this.stopping) return;
        this.closedBySeeder++;
        this.open(localAddress, true).catch(() => { /* kept in `failure`, thrown by check() */ });
      });
    });
  }
}
