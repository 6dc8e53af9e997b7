/**
 * A minimal Solana PubSub websocket (RFC 6455 by hand, no dependency) with the one
 * subscription web3.js needs to confirm transactions: `signatureSubscribe`. With it,
 * `Connection.confirmTransaction` and `sendAndConfirmTransaction` run unchanged
 * against the local ledger. SeedPay's own payer polls instead (works on any RPC).
 *
 * Bounded: 128 sockets, text frames up to 64 KiB, no fragmentation, 256 subscriptions per socket.
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LedgerEngine, TxRecord } from './engine.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_FRAME = 64 * 1024;
const MAX_SUBS_PER_SOCKET = 256;
const MAX_CONNECTIONS = 128;

interface Sub { id: number; signature: string; socket: WsConn }

class WsConn {
  private buf: Buffer = Buffer.alloc(0);
  readonly subs = new Set<number>();
  closed = false;

  constructor(readonly socket: Duplex, private readonly onText: (c: WsConn, text: string) => void, private readonly onClose: (c: WsConn) => void) {
    socket.on('data', (d: Buffer) => this.feed(d));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  sendText(text: string): void {
    if (this.closed) return;
    const payload = Buffer.from(text, 'utf8');
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x81, n])
      : n < 65536 ? Buffer.from([0x81, 126, n >> 8, n & 0xff])
        : Buffer.concat([Buffer.from([0x81, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
    this.socket.write(Buffer.concat([head, payload]));
  }

  /**
   * Close with status 1000 (normal): web3.js's websocket client reconnects forever
   * after any other close, which would keep a finished test process alive.
   */
  closeNormally(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end(Buffer.from([0x88, 2, 0x03, 0xe8]));
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.onClose(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this);
  }

  private control(opcode: number, payload: Buffer): void {
    if (this.closed) return;
    this.socket.write(Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]));
  }

  private feed(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (!this.closed) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(MAX_FRAME)) return this.close();
        len = Number(big);
        off = 10;
      }
      // Clients must mask; frames are capped before buffering them.
      if (!masked || len > MAX_FRAME || !fin) return this.close();
      if (b.length < off + 4 + len) return;
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      this.buf = b.subarray(off + 4 + len);
      if (opcode === 0x1) this.onText(this, payload.toString('utf8'));
      else if (opcode === 0x9) this.control(0xa, payload.subarray(0, 125));
      else if (opcode === 0x8) {
        // Echo the status (RFC 6455 §5.5.1): a client that hears no status sees 1005 and
        // web3.js's client then reconnects forever.
        this.control(0x8, payload.length >= 2 ? payload.subarray(0, 2) : Buffer.from([0x03, 0xe8]));
        this.closeNormally();
      }
      else if (opcode !== 0xa) this.close(); // binary or continuation: not spoken here
    }
  }
}

export class LedgerPubSub {
  private readonly subs = new Map<number, Sub>();
  private readonly bySignature = new Map<string, Set<number>>();
  private readonly conns = new Set<WsConn>();
  private nextId = 1;

  constructor(private readonly engine: LedgerEngine) {
    engine.onRecorded((rec) => this.notify(rec));
  }

  /** Handle an HTTP upgrade request (any path). */
  upgrade(req: IncomingMessage, socket: Duplex): void {
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    if (this.conns.size >= MAX_CONNECTIONS) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const c = new WsConn(socket, (conn, text) => this.onText(conn, text), (conn) => this.drop(conn));
    this.conns.add(c);
  }

  /** Live signature subscriptions (diagnostics; tests wait for clients to settle). */
  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** Close every websocket normally (ledger stopping). */
  closeAll(): void {
    for (const c of [...this.conns]) c.closeNormally();
  }

  private drop(c: WsConn): void {
    this.conns.delete(c);
    for (const id of c.subs) this.unsubscribe(id);
  }

  private unsubscribe(id: number): boolean {
    const s = this.subs.get(id);
    if (!s) return false;
    this.subs.delete(id);
    s.socket.subs.delete(id);
    const set = this.bySignature.get(s.signature);
    set?.delete(id);
    if (set && set.size === 0) this.bySignature.delete(s.signature);
    return true;
  }

  private onText(c: WsConn, text: string): void {
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      c.sendText(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
      return;
    }
    if (msg === null || typeof msg !== 'object' || msg.id === undefined || msg.id === null) return; // notifications (web3.js 'ping')
    const reply = (body: Record<string, unknown>): void => c.sendText(JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...body }));
    const params = Array.isArray(msg.params) ? msg.params : [];
    if (msg.method === 'signatureSubscribe') {
      const sig = params[0];
      if (typeof sig !== 'string' || sig.length > 88) return reply({ error: { code: -32602, message: 'Invalid params' } });
      if (c.subs.size >= MAX_SUBS_PER_SOCKET) return reply({ error: { code: -32603, message: 'too many subscriptions' } });
      const id = this.nextId++;
      this.subs.set(id, { id, signature: sig, socket: c });
      c.subs.add(id);
      let set = this.bySignature.get(sig);
      if (!set) this.bySignature.set(sig, (set = new Set()));
      set.add(id);
      // Only transactions recorded from now on are notified. web3.js checks the status
      // of an already-final one itself once subscribed; notifying it here as well races
      // that check and leaves a request in flight after confirmTransaction returns.
      reply({ result: id });
      return;
    }
    if (msg.method === 'signatureUnsubscribe') {
      const id = params[0];
      return reply({ result: typeof id === 'number' && c.subs.has(id) ? this.unsubscribe(id) : false });
    }
    reply({ error: { code: -32601, message: 'Method not found' } });
  }

  private notify(rec: TxRecord): void {
    const ids = this.bySignature.get(rec.signature);
    if (!ids) return;
    for (const id of [...ids]) {
      const s = this.subs.get(id);
      if (!s) continue;
      s.socket.sendText(JSON.stringify({
        jsonrpc: '2.0', method: 'signatureNotification',
        params: { result: { context: { slot: rec.slot }, value: { err: rec.err } }, subscription: id },
      }));
      this.unsubscribe(id); // signature subscriptions are one-shot
    }
  }
}
