/**
 * One bounded HTTP(S) GET for a tracker: a deadline for the whole exchange, a cap on
 * the body (checked against Content-Length before reading and while reading), no
 * redirects, and an optional source address (a tracker records the address an announce
 * comes from, so a client on 127.0.0.9 must announce from there).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { TrackerError } from '../../discovery/errors.js';

export interface HttpGetOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly localAddress?: string;
  readonly userAgent?: string;
}

export function httpGet(url: string, opts: HttpGetOptions): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try { u = new URL(url); } catch { reject(new TrackerError('BAD_URL', `not a URL: ${url.slice(0, 80)}`)); return; }
    const get = u.protocol === 'https:' ? httpsRequest : u.protocol === 'http:' ? httpRequest : null;
    if (get === null) { reject(new TrackerError('BAD_URL', `not http(s): ${u.protocol}`)); return; }
    let settled = false;
    let req: ClientRequest | null = null;
    const finish = (err: TrackerError | null, body?: Uint8Array): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      if (err !== null) reject(err); else resolve(body!);
    };
    const timer = setTimeout(() => finish(new TrackerError('TIMEOUT', `no answer from ${u.host} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const options: RequestOptions = {
      method: 'GET',
      // A fresh connection each time: an announce is one request every many minutes.
      agent: false,
      headers: { 'user-agent': opts.userAgent ?? 'SeedPay', 'accept-encoding': 'identity', connection: 'close' },
    };
    if (opts.localAddress !== undefined) options.localAddress = opts.localAddress;
    try {
      req = get(u, options, (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          finish(new TrackerError('HTTP_STATUS', `HTTP ${res.statusCode ?? '?'} from ${u.host}`));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > opts.maxBytes) {
          finish(new TrackerError('TOO_LARGE', `a ${declared}-byte answer from ${u.host} (cap ${opts.maxBytes})`));
          return;
        }
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > opts.maxBytes) finish(new TrackerError('TOO_LARGE', `answer from ${u.host} over ${opts.maxBytes} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => finish(null, Buffer.concat(chunks, n)));
        res.on('error', (e) => finish(new TrackerError('NETWORK', `${u.host}: ${e.message}`, { cause: e })));
      });
    } catch (e) {
      finish(new TrackerError('NETWORK', `${u.host}: ${(e as Error).message}`, { cause: e }));
      return;
    }
    req.on('error', (e) => finish(new TrackerError('NETWORK', `${u.host}: ${e.message}`, { cause: e })));
    req.end();
  });
}
