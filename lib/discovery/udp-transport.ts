/**
 * The UDP tracker transport: one datagram socket per address family for the whole
 * client, shared by every torrent's exchanges (discovery/udp-exchange.ts holds the
 * protocol; this file owns the socket, the clock, the timers and DNS). A datagram is
 * handed only to the exchanges waiting on the address and port it came from, and each
 * of those ignores it unless it carries its transaction id. Connection ids are kept per
 * tracker for their minute.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { TrackerError } from '../../discovery/errors.js';
import { UdpExchange, type UdpConnection, type UdpQuery, type UdpResult, type UdpStep } from '../../discovery/udp-exchange.js';

export interface UdpTransportOptions {
  readonly now: () => number;
  /** Source address for our datagrams (the tracker records it as our address). */
  readonly localAddress?: string;
  /** Retransmissions per exchange (BEP 15 allows 8; the announcer falls over to the next tracker sooner). */
  readonly maxRetransmits?: number;
  /** Exchanges in flight at once over the whole client. Default 256. */
  readonly maxExchanges?: number;
  /** Largest datagram accepted (bigger ones are dropped unread). Default 16 KiB. */
  readonly maxDatagram?: number;
  readonly maxPeers?: number;
}

interface Pending {
  readonly key: string;
  readonly exchange: UdpExchange;
  readonly resolve: (r: UdpResult) => void;
  readonly reject: (e: TrackerError) => void;
  send: (packet: Uint8Array) => void;
  timer: NodeJS.Timeout | null;
}

export class UdpTransport {
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly pending = new Set<Pending>();
  private readonly connections = new Map<string, UdpConnection>();
  private closed = false;

  constructor(private readonly opts: UdpTransportOptions) {}

  async request(host: string, port: number, query: UdpQuery): Promise<UdpResult> {
    if (this.closed) throw new TrackerError('CLOSED', 'UDP tracker transport closed');
    if (this.pending.size >= (this.opts.maxExchanges ?? 256)) throw new TrackerError('BAD_ARGUMENT', 'too many UDP tracker exchanges at once');
    let address: string;
    let family: 4 | 6;
    try {
      const r = await lookup(host, this.opts.localAddress !== undefined ? { family: this.opts.localAddress.includes(':') ? 6 : 4 } : {});
      address = r.address;
      family = r.family === 6 ? 6 : 4;
    } catch (e) {
      throw new TrackerError('NETWORK', `cannot resolve ${host}: ${(e as Error).message}`, { cause: e });
    }
    const socket = await this.socket(family);
    const key = `${address}|${port}`;
    const exchange = new UdpExchange(query, {
      transactionId: () => randomBytes(4).readUInt32BE(0),
      connection: this.connections.get(key) ?? null,
      maxRetransmits: this.opts.maxRetransmits,
      peerRecord: family === 6 ? 18 : 6,
      maxPeers: this.opts.maxPeers,
    });
    return new Promise<UdpResult>((resolve, reject) => {
      const p: Pending = { key, exchange, resolve, reject, send: () => {}, timer: null };
      p.send = (packet) => {
        const fail = (err: Error): void => this.end(p, new TrackerError('NETWORK', `send to ${host}:${port}: ${err.message}`, { cause: err }));
        try {
          socket.send(packet, port, address, (err) => { if (err) fail(err); });
        } catch (e) { // the socket was closed under us
          fail(e as Error);
        }
      };
      this.pending.add(p);
      p.send(exchange.start(this.opts.now()));
      this.arm(p);
    });
  }

  /** Close the sockets; every exchange in flight fails with CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending]) this.end(p, new TrackerError('CLOSED', 'UDP tracker transport closed'));
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private arm(p: Pending): void {
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    const due = p.exchange.nextTimeout();
    if (due === null) return;
    p.timer = setTimeout(() => {
      p.timer = null;
      this.step(p, p.exchange.handleTimeout(this.opts.now()));
    }, Math.max(0, due - this.opts.now()));
    p.timer.unref();
  }

  private step(p: Pending, s: UdpStep): void {
    if (s.type === 'send') p.send(s.packet);
    else if (s.type === 'failed') { this.end(p, s.error); return; } else if (s.type === 'done') {
      if (p.exchange.connection !== null) this.connections.set(p.key, p.exchange.connection);
      this.end(p, null, s.result);
      return;
    }
    this.arm(p);
  }

  private end(p: Pending, err: TrackerError | null, result?: UdpResult): void {
    if (!this.pending.delete(p)) return;
    if (p.timer !== null) clearTimeout(p.timer);
    if (err !== null) {
      // A tracker that failed us may have forgotten our id as well: start over next time.
      this.connections.delete(p.key);
      p.reject(err);
    } else p.resolve(result!);
  }

  private async socket(family: 4 | 6): Promise<Socket> {
    const have = this.sockets.get(family);
    if (have !== undefined) return have;
    const s = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    this.sockets.set(family, s);
    s.on('message', (msg, rinfo) => {
      if (msg.length > (this.opts.maxDatagram ?? 16 * 1024)) return;
      const key = `${rinfo.address}|${rinfo.port}`;
      const now = this.opts.now();
      for (const p of [...this.pending]) {
        if (p.key === key) this.step(p, p.exchange.handleDatagram(msg, now));
      }
    });
    // A socket error (e.g. ICMP unreachable surfaced by the OS) is not fatal: exchanges time out.
    s.on('error', () => { /* exchanges end by their own timeouts */ });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ port: 0, address: this.opts.localAddress, exclusive: true }, () => { s.off('error', reject); resolve(); });
    }).catch((e: Error) => {
      this.sockets.delete(family);
      s.close();
      throw new TrackerError('NETWORK', `cannot open a UDP socket: ${e.message}`, { cause: e });
    });
    s.unref();
    return s;
  }
}
