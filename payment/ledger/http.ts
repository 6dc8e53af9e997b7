/**
 * The ledger's HTTP front: JSON-RPC 2.0 over POST on 127.0.0.1, with a bounded
 * body, and a fault switch so tests can make the RPC look down.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RPC_PARSE_ERROR } from './errors.js';
import type { LedgerEngine } from './engine.js';
import { handleJsonRpc } from './rpc.js';

const MAX_BODY_BYTES = 1 << 20;

/** false: healthy; 'http503': answer 503 Service Unavailable; 'close': drop every connection. */
export type FaultMode = false | 'http503' | 'close';

export class LedgerHttpServer {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private fault: FaultMode = false;

  constructor(private readonly engine: LedgerEngine) {
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.keepAliveTimeout = 5000;
    this.server.requestTimeout = 10_000;
  }

  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        resolve(`http://${a.address}:${a.port}`);
      });
    });
  }

  setFault(mode: FaultMode): void {
    this.fault = mode;
    if (mode === 'close') for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
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
