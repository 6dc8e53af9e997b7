/**
 * SlabReader: a dialled socket reads into slab tails. What must hold: every byte
 * arrives once, in order, and a chunk already delivered is never overwritten by a
 * later read (consumers keep views: the zero-copy contract of 'data' chunks).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SlabReader, connectSlabbed } from '../../lib/peer-socket.js';

test('SlabReader: bytes arrive in order and delivered views are never overwritten', async () => {
  // Small slab so that many slabs are replaced during the transfer.
  const data = randomBytes(3 * 1024 * 1024 + 12345);
  const server = createServer((s) => {
    let off = 0;
    const step = (): void => {
      while (off < data.length) {
        const n = 1 + ((off * 7919) % 70000);
        const ok = s.write(data.subarray(off, off + n));
        off += n;
        if (!ok) { s.once('drain', step); return; }
      }
      s.end();
    };
    step();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const reader = new SlabReader(128 * 1024, 16 * 1024);
  const socket = connectSlabbed({ host: '127.0.0.1', port }, reader);
  const chunks: Buffer[] = [];
  const snapshots: Buffer[] = [];
  reader.attach((c) => { chunks.push(c); snapshots.push(Buffer.from(c)); });
  socket.on('data', () => assert.fail('a slabbed socket must not emit data'));
  await new Promise<void>((resolve, reject) => {
    socket.on('end', () => resolve());
    socket.on('error', reject);
    socket.resume();
  });
  socket.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  assert.ok(chunks.length > 1);
  assert.ok(chunks.every((c) => c.length <= 128 * 1024));
  assert.ok(Buffer.concat(chunks).equals(data), 'bytes in order');
  for (let i = 0; i < chunks.length; i++) assert.ok(chunks[i].equals(snapshots[i]), `chunk ${i} overwritten`);
});
