/**
 * Creating .torrent files: from a spec and piece hashes (buildTorrent), from buffers in
 * memory, or from files and directories on disk. Parsing lives in format/metainfo.ts
 * (no I/O); creating reads files and hashes pieces, so it lives here with the I/O.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { encode, type Encodable } from '../../wire/bencode.js';
import {
  checkSegment, DEFAULT_MAX_PIECE_LENGTH, MetainfoError, parseTorrent, SHA1_LENGTH, type Metainfo,
} from '../../format/metainfo.js';
import { createSha1 } from './sha1.js';

export interface CreateFileSpec {
  /** Path segments inside the torrent directory (multi-file) — without the torrent name. */
  readonly path: readonly string[];
  readonly length: number;
}

export interface CreateOptions {
  readonly name: string;
  /** Multi-file layout; omit for a single file of `length` bytes. */
  readonly files?: readonly CreateFileSpec[];
  readonly length?: number;
  /** Default: chosen by size (see defaultPieceLength). */
  readonly pieceLength?: number;
  readonly announce?: string;
  readonly announceList?: readonly (readonly string[])[];
  readonly comment?: string;
  readonly createdBy?: string;
  /** Seconds since the epoch; omitted when not given (reproducible output). */
  readonly creationDate?: number;
  readonly private?: boolean;
  readonly urlList?: readonly string[];
}

const MIN_PIECE = 16 * 1024;
const MAX_DEFAULT_PIECE = 16 * 1024 * 1024;
const TARGET_PIECES = 2048;

/** Smallest power of two ≥ 16 KiB giving at most ~2048 pieces, capped at 16 MiB (1 GiB → 512 KiB). */
export function defaultPieceLength(totalLength: number): number {
  let pl = MIN_PIECE;
  while (pl < MAX_DEFAULT_PIECE && Math.ceil(totalLength / pl) > TARGET_PIECES) pl *= 2;
  return pl;
}

/** Check a create spec and return the file lengths and the piece length. */
function layout(opts: CreateOptions): { lengths: number[]; total: number; pieceLength: number } {
  try { checkSegment(opts.name, 'name'); } catch (e) { throw new MetainfoError('BAD_ARGUMENT', (e as Error).message); }
  let lengths: number[];
  if (opts.files !== undefined) {
    if (opts.length !== undefined) throw new MetainfoError('BAD_ARGUMENT', 'give either files or length, not both');
    if (opts.files.length === 0) throw new MetainfoError('BAD_ARGUMENT', 'files is empty');
    lengths = opts.files.map((f, i) => {
      if (f.path.length === 0) throw new MetainfoError('BAD_ARGUMENT', `files[${i}]: empty path`);
      for (const s of f.path) {
        try { checkSegment(s, `files[${i}]`); } catch (e) { throw new MetainfoError('BAD_ARGUMENT', (e as Error).message); }
      }
      return f.length;
    });
  } else {
    if (opts.length === undefined) throw new MetainfoError('BAD_ARGUMENT', 'give files or length');
    lengths = [opts.length];
  }
  let total = 0;
  for (const l of lengths) {
    if (!Number.isSafeInteger(l) || l < 0) throw new MetainfoError('BAD_ARGUMENT', `bad file length ${l}`);
    total += l;
  }
  if (total === 0) throw new MetainfoError('BAD_ARGUMENT', 'torrent holds no bytes');
  const pieceLength = opts.pieceLength ?? defaultPieceLength(total);
  if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0 || pieceLength > DEFAULT_MAX_PIECE_LENGTH) {
    throw new MetainfoError('BAD_ARGUMENT', `bad piece length ${pieceLength}`);
  }
  return { lengths, total, pieceLength };
}

/** Build the .torrent bytes from a spec and its concatenated piece hashes. */
export function buildTorrent(opts: CreateOptions, pieces: Uint8Array): { torrent: Buffer; metainfo: Metainfo } {
  const { total, pieceLength } = layout(opts);
  if (pieces.length !== Math.ceil(total / pieceLength) * SHA1_LENGTH) {
    throw new MetainfoError('BAD_ARGUMENT', `pieces is ${pieces.length} bytes, expected ${Math.ceil(total / pieceLength) * SHA1_LENGTH}`);
  }
  const info: Record<string, Encodable | undefined> = {
    name: opts.name,
    'piece length': pieceLength,
    pieces,
    private: opts.private ? 1 : undefined,
  };
  if (opts.files !== undefined) info.files = opts.files.map((f) => ({ length: f.length, path: [...f.path] }));
  else info.length = opts.length!;
  const top: Record<string, Encodable | undefined> = {
    announce: opts.announce,
    'announce-list': opts.announceList?.map((t) => [...t]),
    comment: opts.comment,
    'created by': opts.createdBy,
    'creation date': opts.creationDate,
    'url-list': opts.urlList ? [...opts.urlList] : undefined,
    info,
  };
  const torrent = encode(top);
  return { torrent, metainfo: parseTorrent(torrent) };
}

/** Hash a stream of chunks into piece hashes; memory is one hasher, whatever the size. */
class PieceHashList {
  private readonly out: Uint8Array;
  private h = createSha1();
  private inPiece = 0;
  private count = 0;
  constructor(private readonly pieceLength: number, pieceCount: number) {
    this.out = new Uint8Array(pieceCount * SHA1_LENGTH);
  }
  update(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.pieceLength - this.inPiece, chunk.length - off);
      this.h.update(chunk.subarray(off, off + n));
      this.inPiece += n;
      off += n;
      if (this.inPiece === this.pieceLength) this.flush();
    }
  }
  finish(): Uint8Array {
    if (this.inPiece > 0) this.flush();
    if (this.count * SHA1_LENGTH !== this.out.length) throw new MetainfoError('BAD_ARGUMENT', `hashed ${this.count} pieces, expected ${this.out.length / SHA1_LENGTH}`);
    return this.out;
  }
  private flush(): void {
    if (this.count * SHA1_LENGTH >= this.out.length) throw new MetainfoError('BAD_ARGUMENT', 'more data than the declared lengths');
    this.out.set(this.h.digest(), this.count * SHA1_LENGTH);
    this.count++;
    this.h = createSha1();
    this.inPiece = 0;
  }
}

/**
 * Create a torrent from in-memory contents (tests, small data). `data` is one buffer per
 * file, in the order of `opts.files` (or a single buffer for a single-file torrent).
 */
export function createTorrent(opts: Omit<CreateOptions, 'length'>, data: readonly Uint8Array[]): { torrent: Buffer; metainfo: Metainfo } {
  const spec: CreateOptions = opts.files !== undefined ? opts : { ...opts, length: data[0]?.length ?? 0 };
  if (opts.files !== undefined) {
    if (data.length !== opts.files.length || opts.files.some((f, i) => f.length !== data[i].length)) {
      throw new MetainfoError('BAD_ARGUMENT', 'data buffers do not match the file lengths');
    }
  } else if (data.length !== 1) {
    throw new MetainfoError('BAD_ARGUMENT', 'a single-file torrent takes exactly one data buffer');
  }
  const { total, pieceLength } = layout(spec);
  const hasher = new PieceHashList(pieceLength, Math.ceil(total / pieceLength));
  for (const d of data) hasher.update(d);
  return buildTorrent({ ...spec, pieceLength }, hasher.finish());
}

/**
 * Create a torrent from files on disk. `paths[i]` is the file system path of the content
 * of `opts.files[i]` (or the single file). Reads sequentially through one reused 1 MiB
 * buffer, so memory stays bounded for any size.
 */
export async function createTorrentFromFiles(opts: CreateOptions, paths: readonly string[]): Promise<{ torrent: Buffer; metainfo: Metainfo }> {
  const { lengths, total, pieceLength } = layout(opts);
  if (paths.length !== lengths.length) throw new MetainfoError('BAD_ARGUMENT', `${paths.length} paths for ${lengths.length} files`);
  const hasher = new PieceHashList(pieceLength, Math.ceil(total / pieceLength));
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (let i = 0; i < paths.length; i++) {
    const fh = await open(paths[i], 'r');
    try {
      let pos = 0;
      while (pos < lengths[i]) {
        const want = Math.min(buf.length, lengths[i] - pos);
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) throw new MetainfoError('BAD_ARGUMENT', `${paths[i]} is shorter than ${lengths[i]} bytes`);
        hasher.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return buildTorrent({ ...opts, pieceLength }, hasher.finish());
}


/**
 * Create a torrent from a file or a directory on disk (a directory is walked recursively,
 * files in sorted path order; symlinks are not followed). The name defaults to the basename.
 */
export async function createTorrentFromPath(fsPath: string, opts: Omit<CreateOptions, 'name' | 'files' | 'length'> & { name?: string } = {}): Promise<{ torrent: Buffer; metainfo: Metainfo }> {
  const name = opts.name ?? basename(resolve(fsPath));
  const st = await stat(fsPath);
  if (st.isFile()) return createTorrentFromFiles({ ...opts, name, length: st.size }, [fsPath]);
  if (!st.isDirectory()) throw new MetainfoError('BAD_ARGUMENT', `${fsPath} is neither a file nor a directory`);
  const found: { rel: string[]; abs: string; length: number }[] = [];
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) await walk(abs, [...rel, e.name]);
      else if (e.isFile()) found.push({ rel: [...rel, e.name], abs, length: (await stat(abs)).size });
    }
  };
  await walk(fsPath, []);
  if (found.length === 0) throw new MetainfoError('BAD_ARGUMENT', `${fsPath} holds no files`);
  return createTorrentFromFiles({ ...opts, name, files: found.map((f) => ({ path: f.rel, length: f.length })) }, found.map((f) => f.abs));
}
