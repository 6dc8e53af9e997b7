/**
 * O_DIRECT piece writes (storage.ts `directWrites`) from the page-aligned slab of
 * download-assembly.ts: the bytes on disk are exactly the pieces whatever mix of
 * direct and buffered writes a layout needs, and a refusal (EINVAL) falls back to
 * buffered writes without losing a byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type Metainfo } from '../../format/metainfo.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { PieceStore, DIRECT_IO_ALIGN } from '../../lib/files/piece-store.js';
import { PieceAssembly } from '../../lib/engine/piece-assembly.js';
import { directWorksIn } from './direct-io-probe.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-direct-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}


/** Write every piece through a shared PieceAssembly (as the torrent does), then compare the files. */
async function roundTrip(meta: Metainfo, data: Buffer[], dir: string, opts: { misalign?: boolean } = {}): Promise<PieceStore> {
  const all = Buffer.concat(data);
  const store = new PieceStore(meta, dir, { directWrites: true, maxOpenFiles: 2 });
  const asm = new PieceAssembly(meta.pieceLength, 4, true);
  // Out of order, as a swarm delivers them.
  const order = Array.from({ length: meta.pieceCount }, (_, i) => i).sort((x, y) => ((x * 7919) % 13) - ((y * 7919) % 13));
  for (const i of order) {
    const size = meta.fileMap.pieceSize(i);
    const piece = all.subarray(i * meta.pieceLength, i * meta.pieceLength + size);
    assert.ok(asm.openPiece(i));
    assert.ok(asm.write(i, 0, piece));
    const buf = asm.take(i, size)!;
    // misalign: claim alignment for a buffer that is not aligned (the fallback path)
    const out = opts.misalign === true ? Buffer.concat([Buffer.alloc(16), buf]).subarray(16) : buf;
    await store.writePiece(i, out, asm.aligned || opts.misalign === true);
    asm.release(buf);
  }
  for (let f = 0; f < data.length; f++) {
    const got = data[f].length === 0 ? Buffer.alloc(0) : await readFile(store.filePath(f));
    assert.ok(got.equals(data[f]), `file ${f} differs`);
  }
  for (let i = 0; i < meta.pieceCount; i++) {
    const size = meta.fileMap.pieceSize(i);
    assert.ok((await store.readBlock(i, 0, size)).equals(all.subarray(i * meta.pieceLength, i * meta.pieceLength + size)));
  }
  await store.close();
  return store;
}

test('the assembly hands out page-aligned slots only when shared with a 4 KiB multiple piece length', () => {
  assert.equal(new PieceAssembly(64 * 1024, 4, true).aligned, true);
  assert.equal(new PieceAssembly(64 * 1024, 4, false).aligned, false);
  assert.equal(new PieceAssembly(64 * 1024 + 512, 4, true).aligned, false);
  const a = new PieceAssembly(16 * 1024, 3, true);
  const seen = new Set<number>();
  for (let i = 0; i < 3; i++) {
    assert.ok(a.openPiece(i));
    const b = a.take(i, 16 * 1024)!;
    assert.ok(b.buffer instanceof SharedArrayBuffer);
    assert.equal(b.byteOffset % DIRECT_IO_ALIGN, 0);
    seen.add(b.byteOffset);
  }
  assert.equal(seen.size, 3, 'three distinct slots');
  assert.equal(a.openPiece(3), false, 'cap reached while all three are out');
});

test('a single-file torrent written direct reads back exactly (last piece not a block multiple)', async () => {
  const pl = 64 * 1024;
  const data = [bytes(pl * 5 + 1234, 7)];
  const { metainfo } = createTorrent({ name: 'one.bin', pieceLength: pl }, data);
  await withDir(async (dir) => {
    const canDirect = directWorksIn(dir);
    const store = await roundTrip(metainfo, data, dir);
    // On a file system that takes O_DIRECT the store must still be using it afterwards.
    assert.equal(store.directWrites, canDirect);
  });
});

test('multi-file torrents with file boundaries anywhere read back exactly (direct and buffered parts mixed)', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 5 }),
    fc.constantFrom(16 * 1024, 32 * 1024),
    async (lengths, pl) => {
      if (lengths.reduce((x, y) => x + y, 0) === 0) lengths[0] = 1;
      const data = lengths.map((n, i) => bytes(n, i + 3));
      const { metainfo } = createTorrent({ name: 'multi', pieceLength: pl, files: lengths.map((length, i) => ({ path: [`f${i}.bin`], length })) }, data);
      await withDir(async (dir) => { await roundTrip(metainfo, data, dir); });
    },
  ), { numRuns: 12 });
});

test('a buffer wrongly claimed aligned is refused by O_DIRECT (EINVAL): the store falls back to buffered writes, nothing lost', async () => {
  const pl = 32 * 1024;
  const data = [bytes(pl * 3, 99)];
  const { metainfo } = createTorrent({ name: 'fallback.bin', pieceLength: pl }, data);
  await withDir(async (dir) => {
    const canDirect = directWorksIn(dir);
    const store = await roundTrip(metainfo, data, dir, { misalign: true });
    assert.equal(store.directWrites, false, canDirect ? 'EINVAL turned direct writes off' : 'never on here');
  });
});
