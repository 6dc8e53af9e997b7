/**
 * A scriptable peer for tests: a bare PeerConnection over a real socket, driven by
 * hand (hostile or unusual behaviour the library's own sessions never show).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { PeerConnection, type ConnectionEvent, type ConnectionOptions } from '../../wire/connection.js';
import { WireError } from '../../wire/errors.js';
import { PeerSocket } from '../../lib/net/peer-socket.js';

export type RawOptions = Partial<Omit<ConnectionOptions, 'role' | 'now' | 'peerId'>> & {
  /** Called for each event before it is recorded (answer requests, etc.). */
  onEvent?: (ev: ConnectionEvent, peer: RawPeer) => void;
};

export class RawPeer {
  readonly events: ConnectionEvent[] = [];
  closed: WireError | null | undefined = undefined;
  ps!: PeerSocket;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Socket, readonly conn: PeerConnection, onEvent?: (ev: ConnectionEvent, peer: RawPeer) => void) {
    this.ps = new PeerSocket(socket, conn, {
      onEvent: (ev) => { onEvent?.(ev, this); this.events.push(ev); this.wake(); },
      onClose: (reason) => { this.closed = reason; this.wake(); },
    });
  }

  /** Dial our client as an initiator for `infoHash`. */
  static dial(port: number, o: RawOptions & { infoHash: Uint8Array; numPieces: number }): RawPeer {
    const socket = connect({ host: '127.0.0.1', port });
    const { onEvent, ...copts } = o;
    const conn = new PeerConnection({ ...copts, role: 'initiator', now: Date.now(), peerId: randomBytes(20) });
    conn.sendHandshake(Date.now());
    return new RawPeer(socket, conn, onEvent);
  }

  /** Listen for one connection at a time; each accepted peer serves `numPieces`. */
  static listen(o: RawOptions & { numPieces: number }, onPeer?: (p: RawPeer) => void): Promise<{ server: Server; port: number; peers: RawPeer[] }> {
    const peers: RawPeer[] = [];
    const { onEvent, numPieces, ...copts } = o;
    const server = createServer((socket) => {
      const conn = new PeerConnection({ ...copts, role: 'acceptor', now: Date.now(), peerId: randomBytes(20) });
      const p = new RawPeer(socket, conn, (ev, peer) => {
        if (ev.type === 'handshake_info_hash') peer.conn.accept({ numPieces }, Date.now());
        onEvent?.(ev, peer);
      });
      peers.push(p);
      onPeer?.(p);
    });
    return new Promise((res) => server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      res({ server, port: typeof a === 'object' && a !== null ? a.port : 0, peers });
    }));
  }

  /** A seeder that claims every piece, unchokes at once and answers every request with random bytes. */
  static listenCorrupt(numPieces: number): Promise<{ server: Server; port: number; peers: RawPeer[] }> {
    return RawPeer.listen({
      numPieces,
      onEvent: (ev, p) => {
        const now = Date.now();
        if (ev.type === 'handshake') { p.conn.haveAll(now); p.conn.unchoke(now); }
        if (ev.type === 'request') p.conn.sendPiece(ev.index, ev.begin, randomBytes(ev.length), now);
      },
    });
  }

  /** Resolve with the first recorded event matching `pred` (past or future). */
  async waitEvent<T extends ConnectionEvent['type']>(type: T, pred: (ev: Extract<ConnectionEvent, { type: T }>) => boolean = () => true, ms = 5000): Promise<Extract<ConnectionEvent, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const ev = this.events.find((e) => e.type === type && pred(e as Extract<ConnectionEvent, { type: T }>));
      if (ev !== undefined) return ev as Extract<ConnectionEvent, { type: T }>;
      if (this.closed !== undefined) throw new Error(`closed (${this.closed?.code ?? 'clean'}) before a '${type}' event`);
      if (Date.now() > deadline) throw new Error(`no '${type}' event within ${ms} ms`);
      await this.next(deadline - Date.now());
    }
  }

  /** Resolve when the socket is closed (with the reason). */
  async waitClosed(ms = 5000): Promise<WireError | null> {
    const deadline = Date.now() + ms;
    while (this.closed === undefined) {
      if (Date.now() > deadline) throw new Error(`still open after ${ms} ms`);
      await this.next(deadline - Date.now());
    }
    return this.closed;
  }

  /** Run a command on the connection and write its output. */
  do(f: (conn: PeerConnection, now: number) => void): void {
    f(this.conn, Date.now());
    this.ps.flush();
  }

  close(): void {
    this.ps.destroy(new WireError('SOCKET_ERROR', 'test done', false));
    this.socket.destroy();
  }

  private next(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(res, Math.max(1, ms));
      this.waiters.push(() => { clearTimeout(t); res(); });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
