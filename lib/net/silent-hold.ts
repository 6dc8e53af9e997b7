/**
 * Where a refused connection from a banned address waits instead of being closed at
 * once: held open and read from, closed the moment it sends a byte (a protocol
 * violator hears "closed before the handshake" as before), else when its hold ends.
 *
 * Why: an idle crowd whose connections are evicted and then refused reconnects at
 * once, and each reconnect costs the listener an accept, a socket object and a close
 * (about a third of a seeder's CPU under a 2000-connection crowd), which honest peers
 * pay for. A silent connection held costs an fd and a few hundred bytes; its owner has
 * nothing to reconnect. Bounded: beyond `max` held, a refused connection is closed at
 * once as before; one timer for all (holds end in the order they began).
 */
import type { Socket } from 'node:net';

export class SilentHold {
  /** Held sockets by the time their hold ends, oldest first. */
  private readonly held = new Map<Socket, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly max: number,
    private readonly holdMs: number,
    private readonly clock: () => number,
  ) {}

  get size(): number { return this.held.size; }

  /** Hold `socket` (false: full, the caller closes it). */
  hold(socket: Socket): boolean {
    if (this.held.size >= this.max) return false;
    this.held.set(socket, this.clock() + this.holdMs);
    socket.on('data', () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.once('close', () => { this.held.delete(socket); });
    if (this.timer === null) this.arm();
    return true;
  }

  /** Close every held socket (the listener is closing). */
  closeAll(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    for (const s of [...this.held.keys()]) s.destroy();
    this.held.clear();
  }

  private arm(): void {
    const first = this.held.values().next();
    if (first.done === true) { this.timer = null; return; }
    this.timer = setTimeout(() => this.expire(), Math.max(0, first.value - this.clock()));
    this.timer.unref();
  }

  private expire(): void {
    const now = this.clock();
    for (const [s, until] of this.held) {
      if (until > now) break;
      this.held.delete(s);
      s.destroy();
    }
    this.arm();
  }
}
