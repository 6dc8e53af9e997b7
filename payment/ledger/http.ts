/**
 * The ledger's HTTP front: JSON-RPC 2.0 over POST on 127.0.0.1, with a bounded
 * body, and a fault switch so tests can make the RPC look down.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RPC_PARSE_ERROR } from './errors.js';
import type { LedgerEngine } from './engine.js';
import { handleJsonRpc } from './rpc.js';
import { LedgerPubSub } from './ws.js';

const MAX_BODY_BYTES = 1 << 20;

/** false: healthy; 'http503': answer 503 Service Unavailable; 'close': drop every connection. */
export type FaultMode = false | 'http503' | 'close';

export interface ListenResult {
  url: string;
  /** PubSub websocket on the same port (pass as `wsEndpoint` to web3.js). */
  wsUrl: string;
  /** True when web3.js's default websocket URL (HTTP port + 1) is served too. */
  wsOnNextPort: boolean;
}

export class LedgerHttpServer {
  private server: http.Server;
  /** web3.js derives its websocket URL as HTTP port + 1 (agave's convention). */
  private wsServer: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly upgraded = new Set<Socket>();
  private readonly pubsub: LedgerPubSub;
  private fault: FaultMode = false;

  constructor(private readonly engine: LedgerEngine) {
    this.pubsub = new LedgerPubSub(engine);
    this.server = this.makeServer(true);
  }

  private makeServer(rpc: boolean): http.Server {
    const srv = http.createServer((req, res) => {
      if (rpc) this.onRequest(req, res);
      else res.writeHead(426, { connection: 'close' }).end();
    });
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    srv.on('upgrade', (req, socket) => {
      if (this.fault !== false) {
        socket.destroy();
        return;
      }
      // Upgraded sockets are closed by the pubsub (normally), not cut with the HTTP ones.
      this.sockets.delete(socket as Socket);
      this.upgraded.add(socket as Socket);
      socket.on('close', () => this.upgraded.delete(socket as Socket));
      this.pubsub.upgrade(req, socket);
    });
    srv.keepAliveTimeout = 5000;
    srv.requestTimeout = 10_000;
    return srv;
  }

  private static listenOn(srv: http.Server, port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const fail = (e: Error): void => reject(e);
      srv.once('error', fail);
      srv.listen(port, host, () => {
        srv.off('error', fail);
        resolve((srv.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Listen for JSON-RPC on `port` (0: any free port) and, when free, for PubSub on
   * port + 1 so that `new Connection(url)` finds its websocket where it looks.
   */
  async listen(port: number, host: string): Promise<ListenResult> {
    for (let attempt = 0; ; attempt++) {
      const p = await LedgerHttpServer.listenOn(this.server, port, host);
      const ws = this.makeServer(false);
      try {
        await LedgerHttpServer.listenOn(ws, p + 1, host);
        this.wsServer = ws;
      } catch {
        if (port === 0 && attempt < 8) {
          // Try another random port whose neighbour is free.
          await new Promise<void>((r) => this.server.close(() => r()));
          this.server = this.makeServer(true);
          continue;
        }
      }
      return { url: `http://${host}:${p}`, wsUrl: `ws://${host}:${p}`, wsOnNextPort: this.wsServer !== null };
    }
  }

  get subscriptionCount(): number {
    return this.pubsub.subscriptionCount;
  }

  setFault(mode: FaultMode): void {
    this.fault = mode;
    if (mode === 'close') for (const s of [...this.sockets, ...this.upgraded]) s.destroy();
  }

  close(): Promise<void> {
    this.pubsub.closeAll();
    const servers = [this.server, this.wsServer].filter((x): x is http.Server => x !== null);
    const done = Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    for (const s of this.sockets) s.destroy();
    return done.then(() => undefined);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.fault === 'close') {
      req.socket.destroy();
      return;
    }
    if (this.fault === 'http503') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('Service Unavailable');
      return;
    }
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooBig = true;
        res.writeHead(413, { connection: 'close' }).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => { /* client went away; nothing to answer */ });
    req.on('end', () => {
      if (tooBig) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        this.send(res, { jsonrpc: '2.0', id: null, error: { code: RPC_PARSE_ERROR, message: 'Parse error' } });
        return;
      }
      this.send(res, handleJsonRpc(this.engine, body));
    });
  }

  private send(res: http.ServerResponse, payload: unknown): void {
    const text = JSON.stringify(payload);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }
}
