/**
 * Metainfo target: parseTorrent and parseInfo on any bytes give a Metainfo or a
 * MetainfoError. A parsed torrent must be self-consistent: the info hash is the SHA-1
 * of the info bytes, pieces hold pieceCount hashes covering totalLength, files tile the
 * torrent in order, and no path segment could escape the download directory.
 */
import { MetainfoError, parseInfo, parseTorrent, type Metainfo } from '../../format/metainfo.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { sha1 } from '../../lib/files/sha1.js';
import { encode } from '../../wire/bencode.js';
import { type FuzzTarget, ascii, bytesEqual, check, expectTyped } from '../target.js';

const OPTS = { maxFiles: 2_000, maxBytes: 1 << 20 };

function consistent(m: Metainfo): void {
  check(bytesEqual(sha1(m.infoBytes), m.infoHash), 'infoHash is not the SHA-1 of infoBytes');
  check(m.pieces.length === 20 * m.pieceCount, 'pieces length');
  check(m.pieceCount === Math.ceil(m.totalLength / m.pieceLength), 'piece count does not cover the total length');
  let off = 0;
  for (const f of m.files) {
    check(f.offset === off, `file offset ${f.offset} != ${off}`);
    off += f.length;
    for (const seg of f.path) check(seg.length > 0 && seg !== '.' && seg !== '..' && !/[/\\\0]/.test(seg), `unsafe path segment ${JSON.stringify(seg)}`);
  }
  check(off === m.totalLength, 'files do not add up to totalLength');
  check(m.totalLength > 0, 'empty torrent accepted');
}

const typed = (e: unknown): boolean => e instanceof MetainfoError;

export const metainfoTarget: FuzzTarget = {
  name: 'metainfo',
  about: 'format/metainfo.ts parseTorrent and parseInfo (the same bytes through both)',
  maxInputLength: 32 * 1024,
  run(input) {
    const t = expectTyped('parseTorrent', () => parseTorrent(input, OPTS), typed);
    if (t !== undefined) {
      consistent(t);
      const again = expectTyped('parseInfo(torrent.infoBytes)', () => parseInfo(t.infoBytes, { ...OPTS, expectedInfoHash: t.infoHash }), () => false)!;
      check(again.totalLength === t.totalLength && again.pieceCount === t.pieceCount, 'parseInfo disagrees with parseTorrent');
    }
    const i = expectTyped('parseInfo', () => parseInfo(input, OPTS), typed);
    if (i !== undefined) consistent(i);
  },
  seeds() {
    const data = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
    const single = createTorrent({ name: 'a.bin', pieceLength: 16384, announce: 'http://127.0.0.1:6969/announce', comment: 'seed' }, [data(40000, 1)]).torrent;
    const multi = createTorrent({
      name: 'dir', pieceLength: 16384, files: [{ path: ['x', 'y.txt'], length: 10 }, { path: ['z'], length: 20000 }],
      announceList: [['http://a/announce'], ['udp://b:1/announce']], urlList: ['http://w/'], private: true,
    }, [data(10, 2), data(20000, 3)]).torrent;
    const tiny = createTorrent({ name: 'one' }, [data(1, 9)]).torrent;
    const info = createTorrent({ name: 'i' }, [data(5, 0)]).metainfo.infoBytes;
    const unsorted = ascii('d4:infod6:lengthi1e4:name1:n6:pieces20:aaaaaaaaaaaaaaaaaaaa12:piece lengthi16384eee');
    const padded = encode({ info: { files: [{ length: 3, path: ['a'] }, { attr: 'p', length: 16381, path: ['.pad', '16381'] }, { length: 1, path: ['b'] }], name: 'p', 'piece length': 16384, pieces: new Uint8Array(40) } });
    return [single, multi, tiny, info, unsorted, padded].map((b) => new Uint8Array(b));
  },
  dictionary: ['4:info', '6:lengthi', '4:name', '12:piece lengthi', '6:pieces', '5:files', '4:path', '2:..', '1:/', '0:', '4:attr1:p', '12:meta versioni2e', '9:file tree', '10:name.utf-8', 'i9007199254740992e'].map(ascii),
};
