/**
 * Fault-test fixtures: a seeded PRNG (so every "random" cut, kill and outage is the
 * same on every run) and a TCP proxy that cuts connections after a chosen number of
 * bytes. The e2e fixtures (ledger, wallets, content, seller, buyer) are reused from
 * testkit/paid-helpers.ts.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** mulberry32: a tiny deterministic PRNG; `next()` in [0, 1). */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]; }
}

/** Where a connection is cut: after `bytes` bytes flowed in `dir` (down = seller→buyer). */
export interface CutPoint { dir: 'down' | 'up'; bytes: number }

/**
 * A loopback TCP proxy in front of `target`. The i-th accepted connection is
 * destroyed (both sides, no FIN handshake: `destroy()`) once `cuts[i]` is reached;
 * connections after the last cut pass everything through.
 */
export class CutProxy {
  readonly cutsDone: { at: CutPoint; conn: number }[] = [];
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  port = 0;

  constructor(private readonly targetPort: number, private readonly cuts: readonly CutPoint[], private readonly onCut: (i: number) => void = () => {}) {
    this.server = createServer((down) => this.accept(down));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  private accept(buyerSide: Socket): void {
    const i = this.accepted++;
    const cut = this.cuts[i];
    const sellerSide = connect(this.targetPort, '127.0.0.1');
    this.sockets.add(buyerSide);
    this.sockets.add(sellerSide);
    let down = 0;
    let up = 0;
    let dead = false;
    const kill = (): void => {
      if (dead) return;
      dead = true;
      buyerSide.destroy();
      sellerSide.destroy();
      this.sockets.delete(buyerSide);
      this.sockets.delete(sellerSide);
    };
    const doCut = (): void => {
      if (dead) return;
      this.cutsDone.push({ at: cut!, conn: i });
      kill();
      this.onCut(this.cutsDone.length);
    };
    const relay = (from: Socket, to: Socket, dir: 'down' | 'up'): void => {
      from.on('data', (d: Buffer) => {
        if (dead) return;
        if (cut !== undefined && cut.dir === dir) {
          const sent = dir === 'down' ? down : up;
          const left = cut.bytes - sent;
          if (d.length >= left) {
            // Forward exactly up to the cut point, then cut mid-message.
            if (left > 0) to.write(d.subarray(0, left));
            if (dir === 'down') down += left; else up += left;
            doCut();
            return;
          }
        }
        if (dir === 'down') down += d.length; else up += d.length;
        if (!to.write(d)) { from.pause(); to.once('drain', () => from.resume()); }
      });
      from.on('close', kill);
      from.on('error', kill);
    };
    relay(sellerSide, buyerSide, 'down');
    relay(buyerSide, sellerSide, 'up');
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
