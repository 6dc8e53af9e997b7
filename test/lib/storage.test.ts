import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, unlink, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { type Metainfo } from '../../format/metainfo.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { PieceStore, StorageError, type StorageErrorCode } from '../../lib/files/piece-store.js';
import { encode } from '../../wire/bencode.js';
import { parseTorrent } from '../../format/metainfo.js';
import { sha1 } from '../../lib/files/sha1.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

async function codeOf(fn: () => Promise<unknown>): Promise<StorageErrorCode | 'none' | 'other'> {
  try { await fn(); return 'none'; } catch (e) { return e instanceof StorageError ? e.code : 'other'; }
}

const bitsOf = (bf: Uint8Array, n: number): boolean[] => Array.from({ length: n }, (_, i) => (bf[i >> 3] & (0x80 >> (i & 7))) !== 0);

const PL = 16384;
// Files chosen so pieces straddle boundaries, a file sits entirely inside one piece, and a zero-length file exists.
const FILES: [string[], number][] = [
  [['a.bin'], 20000],
  [['d', 'tiny'], 100],
  [['d', 'empty'], 0],
  [['d', 'e', 'b.bin'], 40000],
  [['c.bin'], 5],
  [['last.bin'], 9000],
];

function makeTorrent(): { meta: Metainfo; data: Buffer[]; all: Buffer } {
  const data = FILES.map(([, len], i) => bytes(len, i + 11));
  const { metainfo } = createTorrent({ name: 'multi', pieceLength: PL, files: FILES.map(([path, length]) => ({ path, length })) }, data);
  return { meta: metainfo, data, all: Buffer.concat(data) };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-store-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

async function writeAll(store: PieceStore, meta: Metainfo, all: Buffer): Promise<void> {
  for (let i = 0; i < meta.pieceCount; i++) {
    const piece = all.subarray(i * PL, i * PL + meta.fileMap.pieceSize(i));
    assert.ok(store.verifyPiece(i, piece));
    await store.writePiece(i, piece);
  }
}

for (const syncReads of [false, true]) test(`write pieces of a multi-file torrent, then files on disk equal the sources and blocks read back across boundaries (syncReads ${syncReads})`, async () => {
  const { meta, data, all } = makeTorrent();
  assert.equal(meta.pieceCount, Math.ceil(all.length / PL));
  await withDir(async (dir) => {
    const store = new PieceStore(meta, dir, { maxOpenFiles: 2, syncReads }); // tiny LRU: exercise eviction
    // Write in a scrambled order: sparse files fill in.
    const order = [...Array(meta.pieceCount).keys()].reverse();
    for (const i of order) await store.writePiece(i, all.subarray(i * PL, i * PL + meta.fileMap.pieceSize(i)));
    for (let f = 0; f < FILES.length; f++) {
      const onDisk = await readFile(join(dir, 'multi', ...FILES[f][0]));
      assert.ok(onDisk.equals(data[f]), `file ${FILES[f][0].join('/')}`);
    }
    // Random blocks, some into a reused buffer, compared with the source bytes.
    const reused = Buffer.alloc(PL);
    await fc.assert(fc.asyncProperty(fc.nat(), fc.nat(), fc.nat(), fc.boolean(), async (pr, br, lr, reuse) => {
      const piece = pr % meta.pieceCount;
      const size = meta.fileMap.pieceSize(piece);
      const begin = br % size;
      const length = 1 + (lr % (size - begin));
      const got = await store.readBlock(piece, begin, length, reuse ? reused : undefined);
      if (reuse) assert.equal(got.buffer, reused.buffer, 'the caller buffer is used, not a new one');
      assert.ok(got.equals(all.subarray(piece * PL + begin, piece * PL + begin + length)));
    }), { numRuns: 300 });
    // A block that spans three files (a.bin end, tiny, empty, b.bin start).
    const span = await store.readBlock(1, 20000 - PL - 10, 200);
    assert.ok(span.equals(all.subarray(20000 - 10, 20190)));
    // Concurrent reads through the small LRU.
    const many = await Promise.all([...Array(40).keys()].map((k) => store.readBlock(k % meta.pieceCount, 0, 100)));
    many.forEach((b, k) => assert.ok(b.equals(all.subarray((k % meta.pieceCount) * PL, (k % meta.pieceCount) * PL + 100))));
    await store.close();
    assert.equal(await codeOf(() => store.readBlock(0, 0, 1)), 'CLOSED');
  });
});

test('bad arguments give typed errors', async () => {
  const { meta, all } = makeTorrent();
  await withDir(async (dir) => {
    const store = new PieceStore(meta, dir);
    assert.equal(await codeOf(() => store.readBlock(meta.pieceCount, 0, 1)), 'OUT_OF_RANGE');
    assert.equal(await codeOf(() => store.readBlock(0, PL - 1, 2)), 'OUT_OF_RANGE');
    assert.equal(await codeOf(() => store.readBlock(0, 0, 100, Buffer.alloc(99))), 'BAD_LENGTH');
    assert.equal(await codeOf(() => store.readBlock(0, 0, 100)), 'MISSING_DATA'); // nothing written yet
    assert.equal(await codeOf(() => store.writePiece(0, all.subarray(0, PL - 1))), 'BAD_LENGTH');
    assert.equal(await codeOf(() => store.writePiece(-1, all.subarray(0, PL))), 'OUT_OF_RANGE');
    assert.equal(store.verifyPiece(0, Buffer.alloc(PL)), false);
    assert.equal(store.verifyPiece(99, Buffer.alloc(PL)), false);
    await store.close();
    const ro = new PieceStore(meta, dir, { readOnly: true });
    assert.equal(await codeOf(() => ro.writePiece(0, all.subarray(0, PL))), 'READ_ONLY');
    await ro.close();
  });
  // A layout whose path escapes the root is refused even if it did not come from our parser.
  assert.throws(() => new PieceStore({ ...meta, files: [{ path: ['..', 'x'], length: all.length }] }, '/tmp/nowhere'),
    (e: unknown) => e instanceof StorageError && e.code === 'BAD_PATH');
});

test('recheck reports exactly the pieces whose data is intact', async () => {
  const { meta, all } = makeTorrent();
  const n = meta.pieceCount;
  await withDir(async (dir) => {
    const empty = new PieceStore(meta, dir);
    assert.deepEqual(bitsOf(await empty.recheck(), n), Array(n).fill(false));
    await empty.close();

    const store = new PieceStore(meta, dir);
    await writeAll(store, meta, all);
    const full = await store.recheck();
    assert.deepEqual(bitsOf(full, n), Array(n).fill(true));
    assert.equal(full.length, Math.ceil(n / 8));
    assert.equal(full[full.length - 1] & (0xff >> (n % 8 || 8)), 0, 'spare bits are zero');
    assert.ok((await stat(join(dir, 'multi', 'd', 'empty'))).isFile(), 'zero-length files are created');
    await store.close();

    // Pieces touching a file, from the map: delete b.bin → exactly those are missing.
    const expectMissing = (files: number[]): boolean[] => {
      const miss = Array(n).fill(false);
      for (const f of files) { const r = meta.fileMap.filePieces(f)!; for (let p = r.first; p <= r.last; p++) miss[p] = true; }
      return miss.map((m) => !m);
    };
    await unlink(join(dir, 'multi', 'd', 'e', 'b.bin'));
    const s2 = new PieceStore(meta, dir);
    assert.deepEqual(bitsOf(await s2.recheck(), n), expectMissing([3]));
    await s2.close();

    // Corrupt one byte of a.bin at offset 17000 (piece 1); truncate last.bin (last pieces).
    const s3 = new PieceStore(meta, dir);
    await writeAll(s3, meta, all);
    await s3.close();
    const aPath = join(dir, 'multi', 'a.bin');
    const a = await readFile(aPath);
    a[17000] ^= 0xff;
    await writeFile(aPath, a);
    await truncate(join(dir, 'multi', 'last.bin'), 8999);
    const s4 = new PieceStore(meta, dir);
    const got = bitsOf(await s4.recheck(), n);
    const want = Array(n).fill(true);
    want[1] = false;
    want[meta.fileMap.fileAt(all.length - 1) === 5 ? n - 1 : -1] = false; // only the piece holding the lost last byte
    assert.ok(meta.fileMap.filePieces(5)!.first < n - 1, 'last.bin also spans an earlier piece, which must stay intact');
    assert.deepEqual(got, want);
    // Verify-then-write repairs it.
    await s4.writePiece(1, all.subarray(PL, 2 * PL));
    assert.equal(bitsOf(await s4.recheck(), n)[1], true);
    await s4.close();
  });
});

test('single-file torrent and padding files (never written, read as zeros)', async () => {
  await withDir(async (dir) => {
    const data = bytes(50_000, 99);
    const { metainfo } = createTorrent({ name: 'one.bin', pieceLength: PL }, [data]);
    const store = new PieceStore(metainfo, dir);
    await writeAll(store, metainfo, data);
    assert.ok((await readFile(join(dir, 'one.bin'))).equals(data));
    assert.ok((await store.readBlock(3, 0, 50_000 - 3 * PL)).equals(data.subarray(3 * PL)));
    await store.close();

    // Hand-made hybrid-style layout: a, padding to the piece boundary, b.
    const a = bytes(10_000, 1);
    const b = bytes(3000, 2);
    const content = Buffer.concat([a, Buffer.alloc(PL - a.length), b]);
    const pieces = Buffer.concat([sha1(content.subarray(0, PL)), sha1(content.subarray(PL))]);
    const t = encode({ info: { name: 'pad', 'piece length': PL, pieces, files: [
      { length: a.length, path: ['a'] }, { length: PL - a.length, path: ['.pad', '0'], attr: 'p' }, { length: b.length, path: ['b'] },
    ] } });
    const m = parseTorrent(t);
    const ps = new PieceStore(m, dir);
    await writeAll(ps, m, content);
    await assert.rejects(stat(join(dir, 'pad', '.pad', '0')), 'padding file not created');
    assert.ok((await ps.readBlock(0, 9990, 20)).equals(content.subarray(9990, 10010)));
    assert.deepEqual(bitsOf(await ps.recheck(), 2), [true, true]);
    await ps.close();
  });
});
