/**
 * Two PeerSocket adapters over a real 127.0.0.1 TCP connection: a seeder serves
 * 100 MiB of 16 KiB piece messages to a leecher that keeps its request pipeline
 * full; the leecher checks the content hash. Also: read backpressure from a slow
 * handler, and a hostile client refused with a typed error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { PeerConnection, type ConnectionEvent } from '../../wire/connection.js';
import { PeerSocket } from '../../lib/net/peer-socket.js';
import type { WireError } from '../../wire/errors.js';
import { INFO_HASH, PEER_A, PEER_B, openPair, fill } from './pair.js';

const BLOCK = 16 * 1024;
const PIECE = 256 * 1024;
const BLOCKS_PER_PIECE = PIECE / BLOCK;

/** Deterministic block contents: views into a random pool (no copy, as a disk cache would hand out). */
function makeSource(): (index: number, begin: number) => Uint8Array {
  const pool = randomBytes(4 * 1024 * 1024 + BLOCK);
  return (index, begin) => {
    const n = index * BLOCKS_PER_PIECE + begin / BLOCK;
    const off = ((n * 7919) % 256) * BLOCK + (n % 13);
    return pool.subarray(off, off + BLOCK);
  };
}

interface Transfer {
  bytes: number;
  hash: string;
  expected: string;
  seederDrains: number;
  leecherPaused: boolean;
  seederStats: PeerConnection['stats'];
  leecherStats: PeerConnection['stats'];
  closeReasons: (WireError | null)[];
}

async function transfer(totalBytes: number, opts: { slowLeecher?: boolean; readHighWaterMark?: number } = {}): Promise<Transfer> {
  const numPieces = totalBytes / PIECE;
  const totalBlocks = numPieces * BLOCKS_PER_PIECE;
  const source = makeSource();
  const expectedHash = createHash('sha256');
  for (let i = 0; i < numPieces; i++) for (let b = 0; b < PIECE; b += BLOCK) expectedHash.update(source(i, b));
  const closeReasons: (WireError | null)[] = [];
  let seederDrains = 0;
  let seeder: PeerSocket | null = null;

  const server = net.createServer((sock) => {
    const conn = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: Date.now() });
    seeder = new PeerSocket(sock, conn, {
      onEvent(ev: ConnectionEvent, peer): void {
        const c = peer.conn;
        switch (ev.type) {
          case 'handshake_info_hash': c.accept({ numPieces }, Date.now()); break;
          case 'handshake': c.haveAll(Date.now()); break;
          case 'interested': c.unchoke(Date.now()); break;
          case 'request': c.sendPiece(ev.index, ev.begin, source(ev.index, ev.begin).subarray(0, ev.length), Date.now()); break;
          default: break;
        }
      },
      onDrain(): void { seederDrains++; },
      onClose(reason): void { closeReasons.push(reason); },
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;

  const hash = createHash('sha256');
  let received = 0;
  let nextBlock = 0;
  let expectNext = 0;
  let leecherPaused = false;
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const conn = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: Date.now(), infoHash: INFO_HASH, numPieces });
  conn.sendHandshake(Date.now());
  const done = new Promise<void>((resolve, reject) => {
    const fillPipeline = (c: PeerConnection): void => {
      while (nextBlock < totalBlocks && c.canRequest(Math.floor(nextBlock / BLOCKS_PER_PIECE))) {
        c.request(Math.floor(nextBlock / BLOCKS_PER_PIECE), (nextBlock % BLOCKS_PER_PIECE) * BLOCK, BLOCK, Date.now());
        nextBlock++;
      }
    };
    const leecher = new PeerSocket(sock, conn, {
      readHighWaterMark: opts.readHighWaterMark,
      onEvent(ev, peer): void | Promise<void> {
        const c = peer.conn;
        if (peer.readPausedNow) leecherPaused = true;
        switch (ev.type) {
          case 'bitfield': c.interested(Date.now()); break;
          case 'unchoke': fillPipeline(c); break;
          case 'piece': {
            const n = ev.index * BLOCKS_PER_PIECE + ev.begin / BLOCK;
            if (n !== expectNext) { reject(new Error(`block ${n} arrived, expected ${expectNext}`)); return; }
            expectNext++;
            hash.update(ev.block);
            received += ev.block.length;
            if (received === totalBytes) { peer.close(); resolve(); return; }
            fillPipeline(c);
            // A slow consumer every 64 blocks: the adapter stops pulling and pauses reading.
            if (opts.slowLeecher && n % 64 === 0) return new Promise((r) => setTimeout(r, 5));
            break;
          }
          case 'error': reject(ev.error); break;
          default: break;
        }
      },
      onClose(reason): void {
        closeReasons.push(reason);
        if (reason !== null) reject(reason);
      },
    });
    void leecher;
  });
  try {
    await done;
    // Let the seeder see the end of the stream.
    while (closeReasons.length < 2) await new Promise((r) => setTimeout(r, 5));
  } finally {
    sock.destroy();
    server.close();
  }
  const s = seeder as PeerSocket | null;
  assert.ok(s);
  return {
    bytes: received, hash: hash.digest('hex'), expected: expectedHash.digest('hex'),
    seederDrains, leecherPaused, seederStats: s.conn.stats, leecherStats: conn.stats, closeReasons,
  };
}

test('loopback TCP: 100 MiB of piece messages between two adapters, content hash verified', async () => {
  const t = await transfer(100 * 1024 * 1024);
  assert.equal(t.bytes, 100 * 1024 * 1024);
  assert.equal(t.hash, t.expected);
  assert.equal(t.seederStats.payloadBytesOut, 100 * 1024 * 1024);
  assert.equal(t.leecherStats.payloadBytesIn, 100 * 1024 * 1024);
  // 6400 piece headers of 13 bytes plus handshakes, extended handshake, have_all, unchoke.
  assert.ok(t.seederStats.protocolBytesOut >= 6400 * 13 + 68);
  assert.equal(t.leecherStats.protocolBytesIn, t.seederStats.protocolBytesOut);
  assert.ok(t.seederDrains > 0, 'the seeder hit write backpressure and resumed on drain');
  assert.deepEqual(t.closeReasons, [null, null], 'both sides closed cleanly');
});

test('loopback TCP: a slow handler pauses reading and the transfer still completes intact', async () => {
  const t = await transfer(8 * 1024 * 1024, { slowLeecher: true, readHighWaterMark: 256 * 1024 });
  assert.equal(t.hash, t.expected);
  assert.equal(t.leecherPaused, true);
});

test('loopback TCP: a non-BitTorrent client is dropped with a typed error', async () => {
  let reason: WireError | null = null;
  const closed = new Promise<void>((resolve) => {
    const server = net.createServer((sock) => {
      const conn = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: Date.now() });
      new PeerSocket(sock, conn, {
        onEvent(): void {},
        onClose(r): void { reason = r; server.close(); resolve(); },
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
  });
  await closed;
  assert.equal((reason as WireError | null)?.code, 'BAD_HANDSHAKE');
});

test('loopback TCP: a peer that goes silent is timed out by the adapter timer (KEEPALIVE_TIMEOUT)', async () => {
  let reason: WireError | null = null;
  const server = net.createServer((sock) => {
    const conn = new PeerConnection({ role: 'acceptor', peerId: PEER_B, now: Date.now(), idleTimeout: 150 });
    new PeerSocket(sock, conn, {
      onEvent(ev, peer): void { if (ev.type === 'handshake_info_hash') peer.conn.accept({ numPieces: 4 }, Date.now()); },
      onClose(r): void { reason = r; },
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const conn = new PeerConnection({ role: 'initiator', peerId: PEER_A, now: Date.now(), infoHash: INFO_HASH, numPieces: 4 });
  conn.sendHandshake(Date.now());
  const events: string[] = [];
  const closed = new Promise<WireError | null>((resolve) => {
    new PeerSocket(sock, conn, { onEvent(ev): void { events.push(ev.type); }, onClose(r): void { resolve(r); } });
  });
  const clientReason = await closed; // the server hangs up on us after ~150 ms of silence
  server.close();
  assert.equal((reason as WireError | null)?.code, 'KEEPALIVE_TIMEOUT');
  assert.ok(events.includes('handshake'));
  // To the client it is the peer closing cleanly at a message boundary.
  assert.equal(clientReason, null);
  assert.equal(events.at(-1), 'end');
});

// ------------------------------------------------------------------ adapter against a scripted socket

/** Just enough of net.Socket to watch what the adapter does with it. */
class FakeSocket extends EventEmitter {
  writes: Uint8Array[] = [];
  corked = 0;
  maxCorked = 0;
  writeReturns = true;
  paused = false;
  ended = false;
  destroyed = false;
  writableLength = 0;
  setNoDelay(): this { return this; }
  cork(): void { this.corked++; this.maxCorked = Math.max(this.maxCorked, this.corked); }
  uncork(): void { this.corked--; }
  write(c: Uint8Array): boolean { this.writes.push(c); return this.writeReturns; }
  pause(): this { this.paused = true; return this; }
  resume(): this { this.paused = false; return this; }
  end(): this { this.ended = true; return this; }
  destroy(): this { this.destroyed = true; return this; }
}

test('adapter: a piece is written as header then the very block object, under cork; write backpressure holds the rest until drain', () => {
  const p = openPair();
  p.b.haveAll(p.now); p.b.unchoke(p.now); p.drive();
  const fake = new FakeSocket();
  const blocks = new Map<number, Uint8Array>();
  let drains = 0;
  const peer = new PeerSocket(fake as unknown as net.Socket, p.b, {
    onEvent(ev, ps): void {
      if (ev.type === 'request') {
        const block = fill(ev.length, ev.begin / 1024);
        blocks.set(ev.begin, block);
        ps.conn.sendPiece(ev.index, ev.begin, block, p.now);
      }
    },
    onDrain(): void { drains++; },
  });
  for (let i = 0; i < 3; i++) p.a.request(0, i * 1024, 1024, p.now);
  fake.writeReturns = false; // the kernel buffer is "full" after the first write
  for (let c = p.a.pollTransmit(); c; c = p.a.pollTransmit()) fake.emit('data', Buffer.from(c));
  assert.equal(fake.writes.length, 1, 'stopped at the first write that returned false');
  assert.equal(fake.writes[0].length, 13);
  assert.equal(peer.writeBlockedNow, true);
  assert.ok(p.b.bufferedOutbound > 0);
  assert.equal(fake.corked, 0, 'cork/uncork balanced');
  fake.writeReturns = true;
  fake.emit('drain');
  assert.equal(drains, 1);
  assert.equal(p.b.bufferedOutbound, 0);
  assert.equal(fake.writes.length, 6);
  for (let i = 0; i < 3; i++) {
    assert.equal(fake.writes[2 * i].length, 13, 'header');
    assert.equal(fake.writes[2 * i + 1], blocks.get(i * 1024), 'the block itself, not a copy');
  }
});

test('adapter: a pending handler promise stops event delivery; reading pauses at the high-water mark and resumes', async () => {
  const p = openPair();
  const fake = new FakeSocket();
  let release: () => void = () => {};
  const seen: string[] = [];
  new PeerSocket(fake as unknown as net.Socket, p.b, {
    readHighWaterMark: 40,
    onEvent(ev): void | Promise<void> {
      seen.push(ev.type);
      if (ev.type === 'have' && ev.index === 0) return new Promise<void>((r) => { release = r; });
    },
  });
  for (let i = 0; i < 10; i++) fake.emit('data', Buffer.from(encodeHave(i)));
  assert.deepEqual(seen, ['have'], 'the handler is busy: nothing more is pulled');
  assert.equal(fake.paused, true, '81 bytes buffered ≥ 40');
  release();
  await new Promise((r) => setImmediate(r));
  assert.equal(seen.length, 10);
  assert.equal(fake.paused, false);
  assert.equal(p.b.bufferedInbound, 0);
});

test('adapter: a protocol error destroys the socket and reports the typed reason once', () => {
  const p = openPair();
  const fake = new FakeSocket();
  const reasons: (WireError | null)[] = [];
  const seen: string[] = [];
  new PeerSocket(fake as unknown as net.Socket, p.b, {
    onEvent(ev): void { seen.push(ev.type); },
    onClose(r): void { reasons.push(r); },
  });
  fake.emit('data', Buffer.from([0, 0, 0, 5, 4, 0, 0, 0, 99])); // have 99 of 64 pieces
  fake.emit('close');
  assert.equal(fake.destroyed, true);
  assert.deepEqual(seen, ['error']);
  assert.equal(reasons.length, 1);
  assert.equal(reasons[0]?.code, 'BAD_PIECE_INDEX');
});

function encodeHave(i: number): Uint8Array {
  return Uint8Array.from([0, 0, 0, 5, 4, 0, 0, 0, i]);
}
