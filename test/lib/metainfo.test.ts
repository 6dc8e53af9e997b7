import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { MetainfoError, parseInfo, parseTorrent, pieceHash, type MetainfoErrorCode } from '../../format/metainfo.js';
import { buildTorrent, createTorrent, createTorrentFromPath, defaultPieceLength } from '../../lib/files/create-torrent.js';
import { FileMap, FileMapError } from '../../format/file-map.js';
import { encode, type Encodable } from '../../wire/bencode.js';

const sha1hex = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function codeOf(fn: () => unknown): MetainfoErrorCode | 'none' | 'other' {
  try { fn(); return 'none'; } catch (e) { return e instanceof MetainfoError ? e.code : `other:${(e as Error).message}` as 'other'; }
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x & 0xff; }
  return b;
}

/** Hand-built torrent bytes, written with string concatenation (an independent path from our encoder). */
function handTorrent(info: string, extra = ''): Buffer {
  return latin1(`d8:announce19:http://t.example/an${extra}4:info${info}e`);
}
const PIECES2 = 'A'.repeat(20) + 'B'.repeat(20);

test('info hash is SHA-1 of the exact info bytes of a hand-built torrent (even with unsorted keys)', () => {
  const sortedInfo = `d6:lengthi20000e4:name5:a.txt12:piece lengthi16384e6:pieces40:${PIECES2}e`;
  const unsortedInfo = `d4:name5:a.txt6:lengthi20000e12:piece lengthi16384e6:pieces40:${PIECES2}e`;
  for (const info of [sortedInfo, unsortedInfo]) {
    const m = parseTorrent(handTorrent(info));
    assert.equal(m.infoHashHex, sha1hex(latin1(info)));
    assert.equal(m.infoBytes.toString('latin1'), info);
    assert.equal(m.name, 'a.txt');
    assert.equal(m.totalLength, 20000);
    assert.equal(m.pieceCount, 2);
    assert.equal(m.singleFile, true);
    assert.deepEqual(m.files, [{ path: ['a.txt'], length: 20000, offset: 0, padding: false }]);
    assert.equal(Buffer.from(pieceHash(m, 1)).toString(), 'B'.repeat(20));
    assert.equal(m.announce, 'http://t.example/an');
  }
});

test('multi-file hand-built torrent: paths include the name, offsets accumulate, optional keys read', () => {
  const info = `d5:filesld6:lengthi10e4:pathl3:dir5:a.bineed6:lengthi0e4:pathl5:emptyeed6:lengthi30000e4:pathl5:b.bineee` +
    `4:name4:root12:piece lengthi16384e6:pieces40:${PIECES2}7:privatei1ee`;
  // The top-level dict is written by hand too, keys sorted.
  const torrent = latin1(`d8:announce2:t013:announce-listll3:u1a3:u1bel3:u2aee7:comment2:hi10:created by3:me_13:creation datei1700000000e4:info${info}8:url-listl5:http:ee`);
  const m = parseTorrent(torrent);
  assert.equal(m.infoHashHex, sha1hex(latin1(info)));
  assert.equal(m.singleFile, false);
  assert.equal(m.private, true);
  assert.deepEqual(m.files.map((f) => [f.path.join('/'), f.length, f.offset]), [['root/dir/a.bin', 10, 0], ['root/empty', 0, 10], ['root/b.bin', 30000, 10]]);
  assert.equal(m.totalLength, 30010);
  assert.deepEqual(m.announceList, [['u1a', 'u1b'], ['u2a']]);
  assert.equal(m.comment, 'hi');
  assert.equal(m.createdBy, 'me_');
  assert.equal(m.creationDate, 1700000000);
  assert.deepEqual(m.urlList, ['http:']);
});

test('create → parse: same info hash, fields survive', () => {
  const a = bytes(40_000, 1);
  const b = bytes(5, 2);
  const c = bytes(70_000, 3);
  const { torrent, metainfo } = createTorrent({
    name: 'set', files: [{ path: ['x', 'a'], length: a.length }, { path: ['b'], length: b.length }, { path: ['x', 'c'], length: c.length }],
    pieceLength: 32768, announce: 'http://127.0.0.1:1/announce', comment: 'c', private: true,
  }, [a, b, c]);
  const m = parseTorrent(torrent);
  assert.equal(m.infoHashHex, metainfo.infoHashHex);
  assert.equal(m.infoHashHex, sha1hex(m.infoBytes));
  assert.equal(m.pieceCount, Math.ceil(110_005 / 32768));
  // Piece hashes are those of the concatenated content.
  const all = Buffer.concat([a, b, c]);
  for (let i = 0; i < m.pieceCount; i++) {
    assert.equal(Buffer.from(pieceHash(m, i)).toString('hex'), sha1hex(all.subarray(i * 32768, (i + 1) * 32768)));
  }
  // parseInfo over the info bytes alone (the ut_metadata path) gives the same torrent.
  const again = parseInfo(m.infoBytes, { expectedInfoHash: m.infoHash });
  assert.equal(again.infoHashHex, m.infoHashHex);
  assert.deepEqual(again.files, m.files);
  assert.equal(codeOf(() => parseInfo(m.infoBytes, { expectedInfoHash: Buffer.alloc(20) })), 'INFO_HASH_MISMATCH');
  // Our encoder is canonical: re-encoding the parsed info changes nothing.
  const single = createTorrent({ name: 'one.bin' }, [a]);
  assert.equal(single.metainfo.singleFile, true);
  assert.equal(parseTorrent(single.torrent).infoHashHex, single.metainfo.infoHashHex);
});

test('default piece length: power of two ≥ 16 KiB by size', () => {
  assert.equal(defaultPieceLength(1), 16384);
  assert.equal(defaultPieceLength(2 ** 30), 512 * 1024);
  assert.equal(defaultPieceLength(2 ** 50), 16 * 1024 * 1024);
  for (const size of [1, 1e6, 3e8, 5e9]) {
    const pl = defaultPieceLength(size);
    assert.ok(pl >= 16384 && (pl & (pl - 1)) === 0);
  }
});

test('createTorrentFromPath hashes a directory on disk like the in-memory path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-meta-'));
  try {
    const a = bytes(50_000, 7);
    const b = bytes(1234, 8);
    await mkdir(join(dir, 'pack', 'sub'), { recursive: true });
    await writeFile(join(dir, 'pack', 'sub', 'a'), a);
    await writeFile(join(dir, 'pack', 'b'), b);
    const fromDisk = await createTorrentFromPath(join(dir, 'pack'), { pieceLength: 16384 });
    // readdir order sorted: 'b' < 'sub'
    const mem = createTorrent({ name: 'pack', pieceLength: 16384, files: [{ path: ['b'], length: b.length }, { path: ['sub', 'a'], length: a.length }] }, [b, a]);
    assert.equal(fromDisk.metainfo.infoHashHex, mem.metainfo.infoHashHex);
    const one = await createTorrentFromPath(join(dir, 'pack', 'b'));
    assert.equal(one.metainfo.infoHashHex, createTorrent({ name: 'b' }, [b]).metainfo.infoHashHex);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A valid info dict as an object; tests break one thing at a time. */
function info(over: Record<string, Encodable | undefined> = {}): Record<string, Encodable | undefined> {
  return { name: 'n', 'piece length': 16384, pieces: new Uint8Array(40), length: 20000, ...over };
}
const torrentOf = (i: Encodable): Buffer => encode({ info: i });

test('malformed torrents: each class has its own error code', () => {
  const cases: [string, Encodable | Buffer, MetainfoErrorCode][] = [
    ['not bencode', latin1('d4:infod'), 'BAD_BENCODE'],
    ['not a dict', latin1('i1e'), 'WRONG_TYPE'],
    ['no info', encode({ announce: 'x' }), 'MISSING_KEY'],
    ['info not a dict', encode({ info: 1 }), 'WRONG_TYPE'],
    ['no name', info({ name: undefined }), 'MISSING_KEY'],
    ['no piece length', info({ 'piece length': undefined }), 'MISSING_KEY'],
    ['no pieces', info({ pieces: undefined }), 'MISSING_KEY'],
    ['no length nor files', info({ length: undefined }), 'MISSING_KEY'],
    ['piece length zero', info({ 'piece length': 0 }), 'BAD_PIECE_LENGTH'],
    ['piece length negative', info({ 'piece length': -16384 }), 'BAD_PIECE_LENGTH'],
    ['piece length absurd', info({ 'piece length': 2 ** 40 }), 'BAD_PIECE_LENGTH'],
    ['piece length a string', info({ 'piece length': '16384' }), 'WRONG_TYPE'],
    ['pieces not multiple of 20', info({ pieces: new Uint8Array(39) }), 'BAD_PIECES'],
    ['pieces too few', info({ pieces: new Uint8Array(20) }), 'PIECE_COUNT_MISMATCH'],
    ['pieces too many', info({ pieces: new Uint8Array(60) }), 'PIECE_COUNT_MISMATCH'],
    ['negative length', info({ length: -1 }), 'BAD_LENGTH'],
    ['empty torrent', info({ length: 0, pieces: new Uint8Array(0) }), 'BAD_LENGTH'],
    ['length and files', info({ files: [{ length: 20000, path: ['a'] }] }), 'BAD_LENGTH'],
    ['files empty', info({ length: undefined, files: [] }), 'BAD_LENGTH'],
    ['file negative length', info({ length: undefined, files: [{ length: -5, path: ['a'] }, { length: 20005, path: ['b'] }] }), 'BAD_LENGTH'],
    ['file without length', info({ length: undefined, files: [{ path: ['a'] }] }), 'MISSING_KEY'],
    ['file without path', info({ length: undefined, files: [{ length: 20000 }] }), 'MISSING_KEY'],
    ['sizes do not add up', info({ length: undefined, files: [{ length: 10000, path: ['a'] }, { length: 30000, path: ['b'] }] }), 'PIECE_COUNT_MISMATCH'],
    ['path ..', info({ length: undefined, files: [{ length: 20000, path: ['..', 'etc'] }] }), 'BAD_PATH'],
    ['path .', info({ length: undefined, files: [{ length: 20000, path: ['.'] }] }), 'BAD_PATH'],
    ['absolute path (empty first segment)', info({ length: undefined, files: [{ length: 20000, path: ['', 'etc', 'passwd'] }] }), 'BAD_PATH'],
    ['empty path list', info({ length: undefined, files: [{ length: 20000, path: [] }] }), 'BAD_PATH'],
    ['slash in segment', info({ length: undefined, files: [{ length: 20000, path: ['a/../../b'] }] }), 'BAD_PATH'],
    ['backslash in segment', info({ length: undefined, files: [{ length: 20000, path: ['..\\x'] }] }), 'BAD_PATH'],
    ['NUL in segment', info({ length: undefined, files: [{ length: 20000, path: ['a\0b'] }] }), 'BAD_PATH'],
    ['name ..', info({ name: '..' }), 'BAD_PATH'],
    ['name absolute', info({ name: '/etc/passwd' }), 'BAD_PATH'],
    ['name empty', info({ name: '' }), 'BAD_PATH'],
    ['duplicate path', info({ length: undefined, files: [{ length: 10000, path: ['a'] }, { length: 10000, path: ['a'] }] }), 'DUPLICATE_PATH'],
    ['file is also a dir', info({ length: undefined, files: [{ length: 10000, path: ['a'] }, { length: 10000, path: ['a', 'b'] }] }), 'DUPLICATE_PATH'],
    ['path segment not bytes', info({ length: undefined, files: [{ length: 20000, path: [1] }] }), 'WRONG_TYPE'],
    ['v2 only', { name: 'n', 'piece length': 16384, 'meta version': 2, 'file tree': { a: { '': { length: 20000, 'pieces root': new Uint8Array(32) } } } }, 'V2_ONLY'],
  ];
  for (const [what, t, code] of cases) {
    const buf = Buffer.isBuffer(t) ? t : torrentOf(t);
    assert.equal(codeOf(() => parseTorrent(buf)), code, what);
  }
  // Each malformed torrent is also rejected by the ut_metadata path (parseInfo).
  assert.equal(codeOf(() => parseInfo(encode(info({ pieces: new Uint8Array(39) })))), 'BAD_PIECES');
  assert.equal(codeOf(() => parseTorrent(torrentOf(info()), { maxPieceLength: 8192 })), 'BAD_PIECE_LENGTH');
  assert.equal(codeOf(() => parseTorrent(torrentOf(info({ length: undefined, files: [{ length: 10000, path: ['a'] }, { length: 10000, path: ['b'] }] })), { maxFiles: 1 })), 'TOO_MANY_FILES');
  // The valid base really is valid (so each case above breaks exactly one thing).
  assert.equal(codeOf(() => parseTorrent(torrentOf(info()))), 'none');
});

test('hybrid torrent (BEP 52): v1 parts used, padding files recognised', () => {
  const t = torrentOf(info({
    'meta version': 2, 'file tree': { n: { '': { length: 20000, 'pieces root': new Uint8Array(32) } } },
    length: undefined, files: [
      { length: 10000, path: ['a'] },
      { length: 6384, path: ['.pad', '6384'], attr: 'p' },
      { length: 4000, path: ['b'] },
    ],
    pieces: new Uint8Array(40),
  }));
  const m = parseTorrent(t);
  assert.equal(m.hybrid, true);
  assert.deepEqual(m.files.map((f) => f.padding), [false, true, false]);
  assert.equal(m.totalLength, 20384);
});

test('buildTorrent rejects bad specs with BAD_ARGUMENT', () => {
  assert.equal(codeOf(() => buildTorrent({ name: 'x', length: 100 }, new Uint8Array(19))), 'BAD_ARGUMENT');
  assert.equal(codeOf(() => buildTorrent({ name: '..', length: 100 }, new Uint8Array(20))), 'BAD_ARGUMENT');
  assert.equal(codeOf(() => buildTorrent({ name: 'x', files: [{ path: ['..'], length: 1 }] }, new Uint8Array(20))), 'BAD_ARGUMENT');
  assert.equal(codeOf(() => createTorrent({ name: 'x', files: [{ path: ['a'], length: 2 }] }, [new Uint8Array(1)])), 'BAD_ARGUMENT');
});

// ---------------------------------------------------------------------------------------
// File map

const geometry = fc.record({
  lengths: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 400 })), { minLength: 1, maxLength: 8 }),
  pieceLength: fc.integer({ min: 1, max: 64 }),
}).filter((g) => g.lengths.reduce((a, b) => a + b, 0) > 0);

test('file map property: every torrent byte maps to exactly one (file, offset)', () => {
  fc.assert(fc.property(geometry, ({ lengths, pieceLength }) => {
    const fm = new FileMap(lengths, pieceLength);
    const total = lengths.reduce((a, b) => a + b, 0);
    assert.equal(fm.totalLength, total);
    assert.equal(fm.pieceCount, Math.ceil(total / pieceLength));
    // Reference: the byte → (file, offset) table built naively.
    const ref: [number, number][] = [];
    lengths.forEach((len, f) => { for (let o = 0; o < len; o++) ref.push([f, o]); });
    // Walk all pieces block by block; each byte must be seen exactly once, at the ref position.
    const seen = new Uint8Array(total);
    let sizes = 0;
    for (let p = 0; p < fm.pieceCount; p++) {
      const size = fm.pieceSize(p);
      sizes += size;
      for (const s of fm.blockSegments(p, 0, size)) {
        assert.ok(s.length > 0 && lengths[s.file] > 0);
        for (let k = 0; k < s.length; k++) {
          const t = p * pieceLength + s.rangeOffset + k;
          assert.deepEqual([s.file, s.fileOffset + k], ref[t]);
          seen[t]++;
        }
      }
    }
    assert.equal(sizes, total);
    assert.ok(seen.every((x) => x === 1));
    for (let t = 0; t < total; t++) assert.equal(fm.fileAt(t), ref[t][0]);
  }), { numRuns: 300 });
});

test('file map property: any block splits into contiguous segments at file boundaries', () => {
  fc.assert(fc.property(geometry, fc.nat(), fc.nat(), fc.nat(), ({ lengths, pieceLength }, pr, br, lr) => {
    const fm = new FileMap(lengths, pieceLength);
    const piece = pr % fm.pieceCount;
    const size = fm.pieceSize(piece);
    const begin = br % size;
    const length = 1 + (lr % (size - begin));
    const segs = fm.blockSegments(piece, begin, length);
    let expectOff = 0;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      assert.equal(s.rangeOffset, expectOff);
      expectOff += s.length;
      assert.ok(s.fileOffset + s.length <= lengths[s.file]);
      if (i < segs.length - 1) {
        assert.equal(s.fileOffset + s.length, lengths[s.file], 'a non-final segment runs to its file end');
        assert.equal(segs[i + 1].fileOffset, 0, 'the next segment starts its file');
        assert.ok(segs[i + 1].file > s.file);
      }
    }
    assert.equal(expectOff, length);
    // filePieces agrees with the segments.
    for (const s of segs) {
      const r = fm.filePieces(s.file)!;
      assert.ok(r.first <= piece && piece <= r.last);
    }
  }), { numRuns: 500 });
});

test('file map rejects out-of-range blocks with a typed error', () => {
  const fm = new FileMap([10, 0, 5], 4);
  assert.equal(fm.pieceCount, 4);
  assert.equal(fm.pieceSize(3), 3);
  assert.equal(fm.filePieces(1), null);
  assert.deepEqual(fm.filePieces(2), { first: 2, last: 3 });
  for (const f of [() => fm.pieceSize(4), () => fm.blockSegments(3, 0, 4), () => fm.blockSegments(0, -1, 1), () => fm.blockSegments(0, 0.5, 1), () => fm.fileAt(15)]) {
    assert.throws(f, (e: unknown) => e instanceof FileMapError && e.code === 'OUT_OF_RANGE');
  }
  assert.throws(() => new FileMap([1], 0), (e: unknown) => e instanceof FileMapError && e.code === 'BAD_GEOMETRY');
});

// ---------------------------------------------------------------------------------------
// Torrents made by libtorrent 2.0.8 (python3-libtorrent, create_torrent + set_piece_hashes,
// piece length 16 KiB) over: fx/b = "hello", fx/d/a = 40000 bytes (i*7+3) % 251.
// Info hashes as reported by libtorrent's torrent_info.

const LT_V1 = 'ZDEzOmNyZWF0aW9uIGRhdGVpMTc5NTQ4MzUwM2U0OmluZm9kNTpmaWxlc2xkNjpsZW5ndGhpNWU0OnBhdGhsMTpiZWVkNjpsZW5ndGhpNDAwMDBlNDpwYXRobDE6ZDE6YWVlZTQ6bmFtZTI6ZngxMjpwaWVjZSBsZW5ndGhpMTYzODRlNjpwaWVjZXM2MDoRNitewLT36hKLaAXyuCwqdr4zvA9RuCFBbRMnVS0gcoVFjyzb/28jnkuAJEKOJrQCZYcReOijKiaxUR1lZQ==';
const LT_HYBRID = 'ZDEzOmNyZWF0aW9uIGRhdGVpMTc5NTQ4MzUwM2U0OmluZm9kOTpmaWxlIHRyZWVkMTpiZDA6ZDY6bGVuZ3RoaTVlMTE6cGllY2VzIHJvb3QzMjos8k26X7CjDiboOyrFueKeGxYeXB+nQl5zBDNik4uYJGVlMTpkZDE6YWQwOmQ2Omxlbmd0aGk0MDAwMGUxMTpwaWVjZXMgcm9vdDMyOn2fAboJHPs6hupzGbUxXMnqYudPZOzU+x1tA6RfzHw3ZWVlZTU6ZmlsZXNsZDY6bGVuZ3RoaTVlNDpwYXRobDE6YmVlZDQ6YXR0cjE6cDY6bGVuZ3RoaTE2Mzc5ZTQ6cGF0aGw0Oi5wYWQ1OjE2Mzc5ZWVkNjpsZW5ndGhpNDAwMDBlNDpwYXRobDE6ZDE6YWVlZDQ6YXR0cjE6cDY6bGVuZ3RoaTkxNTJlNDpwYXRobDQ6LnBhZDQ6OTE1MmVlZTEyOm1ldGEgdmVyc2lvbmkyZTQ6bmFtZTI6ZngxMjpwaWVjZSBsZW5ndGhpMTYzODRlNjpwaWVjZXM4MDr0tcojRHvcl/HxgoeObhxWxTyR7YLHNdS6AxVIfKmJljE4148zeMlGzKlPC7WhAk49LL4ZaLn5XOksYRX63hwfgBHXluXIR/6yEtqVYQMxT2UxMjpwaWVjZSBsYXllcnNkMzI6fZ8Bugkc+zqG6nMZtTFcyepi509k7NT7HW0DpF/MfDc5NjqQuDRma9mYBKrV8NMSqIYvkYcuY1/WBj1C/nh8Th2E7mYCwZHWy1Ni+R9E7EFWORXuGYRd9+ohhrKIzit1keUEDzVxi8dx5zVM9YdmaWin8f+FedhIIBA3JyVO7qyCLuNlZQ==';
const fxA = Buffer.from(Array.from({ length: 40000 }, (_, i) => (i * 7 + 3) % 251));
const fxB = Buffer.from('hello');

test('libtorrent-made v1 torrent: same info hash, files, and our createTorrent reproduces it', () => {
  const m = parseTorrent(Buffer.from(LT_V1, 'base64'));
  assert.equal(m.infoHashHex, '2d2f24be58774e650d9386dab3fa523dd59a4e7a');
  assert.deepEqual(m.files.map((f) => [f.path.join('/'), f.length]), [['fx/b', 5], ['fx/d/a', 40000]]);
  assert.equal(m.creationDate, 1795483503);
  const ours = createTorrent({ name: 'fx', pieceLength: 16384, files: [{ path: ['b'], length: 5 }, { path: ['d', 'a'], length: 40000 }] }, [fxB, fxA]);
  assert.equal(ours.metainfo.infoHashHex, m.infoHashHex);
});

test('libtorrent-made hybrid torrent: v1 info hash, padding files, piece hashes over zero padding', () => {
  const m = parseTorrent(Buffer.from(LT_HYBRID, 'base64'));
  assert.equal(m.infoHashHex, '5ec352c513a992752292cdbb668cf7145e7628f0');
  assert.equal(m.hybrid, true);
  assert.deepEqual(m.files.map((f) => [f.path.join('/'), f.length, f.padding]),
    [['fx/b', 5, false], ['fx/.pad/16379', 16379, true], ['fx/d/a', 40000, false], ['fx/.pad/9152', 9152, true]]);
  const content = Buffer.concat([fxB, Buffer.alloc(16379), fxA, Buffer.alloc(9152)]);
  for (let i = 0; i < m.pieceCount; i++) {
    assert.equal(Buffer.from(pieceHash(m, i)).toString('hex'), sha1hex(content.subarray(i * 16384, (i + 1) * 16384)));
  }
});
