/**
 * A TCP relay on loopback that records every byte it passes in both directions: what
 * an observer on the path sees (tests of what crosses the wire in the clear).
 */
import { connect, createServer, type Server } from 'node:net';

export interface TcpTap {
  /** Dial this port instead of the target's. */
  port: number;
  /** Every byte relayed so far, both directions, in arrival order. */
  seen(): Buffer;
  server: Server;
}

/** A relay to 127.0.0.1:`port`. Close `server` after the test. */
export async function tcpTap(port: number): Promise<TcpTap> {
  const chunks: Buffer[] = [];
  const server = createServer((down) => {
    const up = connect(port, '127.0.0.1');
    down.on('data', (c: Buffer) => { chunks.push(Buffer.from(c)); up.write(c); });
    up.on('data', (c: Buffer) => { chunks.push(Buffer.from(c)); down.write(c); });
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, seen: () => Buffer.concat(chunks), server };
}
