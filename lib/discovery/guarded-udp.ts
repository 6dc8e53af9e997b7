/**
 * The DHT's UDP socket, as bittorrent-dht (through k-rpc-socket's `opts.socket`) sees
 * it: a bound dgram socket whose incoming datagrams pass discovery/krpc.ts first (only
 * the BEP 5 shapes, re-encoded from their checked fields) and, for queries, a per-address
 * rate limit (discovery/source-rate.ts). What is dropped is counted, never thrown.
 * Outgoing get_peers answers carry at most `MAX_VALUES_OUT` peers (krpc.ts capOutgoing).
 *
 * The real socket is bound before the library gets it, so the node is on the address
 * the client chose from its first packet; the library's own `bind` call only hears
 * 'listening'.
 */
import { EventEmitter } from 'node:events';
import type { Socket, RemoteInfo } from 'node:dgram';
import type { KrpcUdpSocket } from 'bittorrent-dht';
import { capOutgoing, sanitizeKrpc, type KrpcErrorCode, type KrpcLimits } from '../../discovery/krpc.js';
import { SourceRate, type SourceRateOptions } from '../../discovery/source-rate.js';

export interface GuardStats {
  received: number;
  passed: number;
  /** Dropped datagrams by reason (KRPC error codes, or RATE_LIMITED). */
  readonly dropped: Map<KrpcErrorCode | 'RATE_LIMITED', number>;
}

/** Peers in one get_peers answer of ours (50 × 6 bytes: the answer stays well under an MTU). */
export const MAX_VALUES_OUT = 50;

export class GuardedUdpSocket extends EventEmitter implements KrpcUdpSocket {
  readonly stats: GuardStats = { received: 0, passed: 0, dropped: new Map() };
  private readonly rate: SourceRate | null;
  private closed = false;

  constructor(private readonly socket: Socket, private readonly limits: KrpcLimits, rate: SourceRateOptions | null, private readonly now: () => number) {
    super();
    this.rate = rate === null ? null : new SourceRate(rate);
    socket.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
    // Send errors (an unreachable node) arrive here: the library reports them as warnings.
    socket.on('error', (e) => this.emit('error', e));
    socket.on('close', () => this.emit('close'));
  }

  private onMessage(buf: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) return;
    this.stats.received++;
    const r = sanitizeKrpc(buf, this.limits);
    if ('error' in r) { this.drop(r.error.code); return; }
    if (r.message.y === 'q' && this.rate !== null && !this.rate.admit(rinfo.address, this.now())) { this.drop('RATE_LIMITED'); return; }
    this.stats.passed++;
    this.emit('message', Buffer.from(r.ok.buffer, r.ok.byteOffset, r.ok.byteLength), rinfo);
  }

  private drop(code: KrpcErrorCode | 'RATE_LIMITED'): void {
    this.stats.dropped.set(code, (this.stats.dropped.get(code) ?? 0) + 1);
  }

  send(buf: Uint8Array, offset: number, length: number, port: number, host: string, cb?: (err: Error | null) => void): void {
    if (this.closed) { cb?.(new Error('socket closed')); return; }
    const out = capOutgoing(buf.subarray(offset, offset + length), MAX_VALUES_OUT);
    this.socket.send(out, 0, out.length, port, host, (err) => cb?.(err ?? null));
  }

  /** Already bound: tell the library (and run its callback) as dgram would. */
  bind(...args: unknown[]): void {
    const cb = args.find((a): a is () => void => typeof a === 'function');
    process.nextTick(() => {
      if (this.closed) return;
      this.emit('listening');
      cb?.();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  address(): { address: string; family: string; port: number } { return this.socket.address(); }
}
