/**
 * SlabReader: a dialled socket reads into slab tails. What must hold: every byte
 * arrives once, in order, and a chunk is never overwritten by a later read while its
 * consumer says it holds it (`held`); slabs it has let go of are reused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SlabReader, connectSlabbed } from '../../lib/net/peer-socket.js';

async function transfer(data: Buffer, reader: SlabReader, onChunk: (c: Buffer) => void, held: (b: ArrayBufferLike) => boolean): Promise<void> {
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
  const socket = connectSlabbed({ host: '127.0.0.1', port }, reader);
  reader.attach(onChunk, held);
  socket.on('data', () => assert.fail('a slabbed socket must not emit data'));
  await new Promise<void>((resolve, reject) => {
    socket.on('end', () => resolve());
    socket.on('error', reject);
    socket.resume();
  });
  socket.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

test('SlabReader: bytes arrive in order and views held by the consumer are never overwritten', async () => {
  // Small slab so that many slabs are replaced during the transfer.
  const data = randomBytes(3 * 1024 * 1024 + 12345);
  const reader = new SlabReader(128 * 1024, 16 * 1024);
  const chunks: Buffer[] = [];
  const snapshots: Buffer[] = [];
  // Every chunk is kept: every slab stays held.
  await transfer(data, reader, (c) => { chunks.push(c); snapshots.push(Buffer.from(c)); }, () => true);
  assert.ok(chunks.length > 1);
  assert.ok(chunks.every((c) => c.length <= 128 * 1024));
  assert.ok(Buffer.concat(chunks).equals(data), 'bytes in order');
  for (let i = 0; i < chunks.length; i++) assert.ok(chunks[i].equals(snapshots[i]), `chunk ${i} overwritten`);
});

test('SlabReader: slabs the consumer let go of are read into again (few distinct slabs), bytes still in order', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 777);
  const reader = new SlabReader(128 * 1024, 16 * 1024, 2);
  const copies: Buffer[] = [];
  const slabs = new Set<ArrayBufferLike>();
  // The consumer copies each chunk at once and keeps only the last chunk's view.
  let last: Buffer | null = null;
  await transfer(data, reader, (c) => { copies.push(Buffer.from(c)); slabs.add(c.buffer); last = c; },
    (b) => last !== null && (last as Buffer).buffer === b);
  assert.ok(Buffer.concat(copies).equals(data), 'bytes in order');
  assert.ok(copies.length > 10, `many reads (${copies.length})`);
  // 3 MiB through 128 KiB slabs: without reuse ~24 distinct slabs; with it a handful.
  assert.ok(slabs.size <= 4, `distinct slabs ${slabs.size}`);
});
