/**
 * Two PeerConnections wired back to back in memory (quinn `tests/util.rs` Pair,
 * h11 `ConnectionPair`): `a` dials (initiator), `b` accepts. `drive()` shuttles
 * bytes and pulls events on both sides until nothing moves; time only advances
 * through `advance(ms)`, so timeouts are tested without sleeping.
 *
 * Every event is recorded per side (`eventsA` / `eventsB`); `take(side, type)`
 * removes and returns the recorded events of one type.
 */

import { PeerConnection, type ConnectionEvent, type ConnectionOptions, type ExtensionHook } from '../../wire/connection.js';

export type Side = 'a' | 'b';

export interface PairOptions {
  numPieces?: number;
  infoHash?: Uint8Array;
  /** Options for both sides (role, peerId, now, infoHash, numPieces are set by the pair). */
  common?: Partial<ConnectionOptions>;
  a?: Partial<ConnectionOptions>;
  b?: Partial<ConnectionOptions>;
  /** Extensions b binds in accept(). */
  bExtensions?: readonly ExtensionHook[];
  /** b accepts the info hash automatically (default true); false leaves it to the test. */
  autoAccept?: boolean;
  /** Send a's handshake at construction (default true). */
  start?: boolean;
  /** Split every chunk in transit at these many bytes (to exercise reassembly); 0 = whole. */
  splitAt?: number;
  /** Sees every chunk in transit, in order (a wire tap for protocol-level assertions). */
  onTransit?: (from: Side, chunk: Uint8Array) => void;
}

export function fill(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}

export const INFO_HASH = fill(20, 0xab);
export const PEER_A = new TextEncoder().encode('-SP0001-aaaaaaaaaaaa');
export const PEER_B = new TextEncoder().encode('-SP0001-bbbbbbbbbbbb');

export class Pair {
  now = 0;
  readonly a: PeerConnection;
  readonly b: PeerConnection;
  readonly eventsA: ConnectionEvent[] = [];
  readonly eventsB: ConnectionEvent[] = [];
  /** Bytes carried each way (whole transcript length). */
  bytesAtoB = 0;
  bytesBtoA = 0;
  private readonly numPieces: number;
  private readonly autoAccept: boolean;
  private readonly bExtensions: readonly ExtensionHook[] | undefined;
  private readonly splitAt: number;
  private readonly onTransit: ((from: Side, chunk: Uint8Array) => void) | undefined;

  constructor(o: PairOptions = {}) {
    this.numPieces = o.numPieces ?? 64;
    this.autoAccept = o.autoAccept ?? true;
    this.bExtensions = o.bExtensions;
    this.splitAt = o.splitAt ?? 0;
    this.onTransit = o.onTransit;
    const infoHash = o.infoHash ?? INFO_HASH;
    this.a = new PeerConnection({
      ...o.common, ...o.a, role: 'initiator', peerId: PEER_A, now: this.now, infoHash, numPieces: this.numPieces,
    });
    this.b = new PeerConnection({ ...o.common, ...o.b, role: 'acceptor', peerId: PEER_B, now: this.now });
    if (o.start ?? true) this.a.sendHandshake(this.now);
  }

  conn(side: Side): PeerConnection { return side === 'a' ? this.a : this.b; }
  events(side: Side): ConnectionEvent[] { return side === 'a' ? this.eventsA : this.eventsB; }

  /** Move bytes and events until neither side has anything to do. Returns the number of rounds. */
  drive(maxRounds = 100_000): number {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      moved = this.pump('a') || moved;
      moved = this.pump('b') || moved;
      if (!moved) return round;
    }
    throw new Error('Pair.drive: no quiescence (livelock?)');
  }

  /** Advance the clock by `ms`, fire due timeouts on both sides, then drive. */
  advance(ms: number): void {
    this.now += ms;
    for (const c of [this.a, this.b]) {
      const t = c.nextTimeout();
      if (t !== null && t <= this.now) c.handleTimeout(this.now);
    }
    this.drive();
  }

  /** Deliver raw bytes to one side as if its peer had sent them (for hostile-input tests). */
  inject(to: Side, bytes: Uint8Array): void {
    this.conn(to).receive(bytes, this.now);
    this.drive();
  }

  /** Remove and return the recorded events of one type on one side. */
  take<T extends ConnectionEvent['type']>(side: Side, type: T): Extract<ConnectionEvent, { type: T }>[] {
    const list = this.events(side);
    const out: Extract<ConnectionEvent, { type: T }>[] = [];
    for (let i = 0; i < list.length;) {
      if (list[i].type === type) { out.push(list[i] as Extract<ConnectionEvent, { type: T }>); list.splice(i, 1); } else i++;
    }
    return out;
  }

  /** The recorded event types of one side (for order assertions). */
  types(side: Side): string[] { return this.events(side).map((e) => e.type); }

  /** The error event of one side, if any. */
  errorOf(side: Side): ConnectionEvent & { type: 'error' } | undefined {
    return this.events(side).find((e): e is ConnectionEvent & { type: 'error' } => e.type === 'error');
  }

  private pump(side: Side): boolean {
    const c = this.conn(side);
    const other = side === 'a' ? this.b : this.a;
    let moved = false;
    for (let ev = c.pollEvent(); ev !== null; ev = c.pollEvent()) {
      moved = true;
      this.events(side).push(ev);
      if (ev.type === 'handshake_info_hash' && side === 'b' && this.autoAccept) {
        c.accept({ numPieces: this.numPieces, extensions: this.bExtensions }, this.now);
      }
    }
    for (let chunk = c.pollTransmit(); chunk !== null; chunk = c.pollTransmit()) {
      moved = true;
      if (side === 'a') this.bytesAtoB += chunk.length; else this.bytesBtoA += chunk.length;
      this.onTransit?.(side, chunk);
      if (this.splitAt > 0) {
        for (let i = 0; i < chunk.length; i += this.splitAt) other.receive(chunk.subarray(i, i + this.splitAt), this.now);
      } else {
        other.receive(chunk, this.now);
      }
    }
    return moved;
  }
}

/** A pair that completed both handshakes (and the BEP 10 exchange when on). */
export function openPair(o: PairOptions = {}): Pair {
  const p = new Pair(o);
  p.drive();
  if (p.a.state !== 'open' || p.b.state !== 'open') {
    throw new Error(`pair did not open: a=${p.a.state} b=${p.b.state} ${p.a.error?.message ?? ''} ${p.b.error?.message ?? ''}`);
  }
  return p;
}
