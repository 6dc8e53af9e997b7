/**
 * File-backed piece store over a torrent's file map.
 *
 * - `readBlock` reads any block, across file boundaries, into a caller-provided buffer
 *   (buffer-level piece serving: the seeder reuses its buffers, nothing is allocated per
 *   block in steady state) with positioned reads.
 * - `writePiece` writes a verified piece across its files, creating directories and files
 *   on demand (files are sparse until filled).
 * - `recheck` rebuilds the have-bitfield from disk for resume, one piece buffer at a time.
 *
 * Memory is bounded whatever the torrent size: at most one piece buffer (recheck) plus a
 * small LRU of open file handles; no file is ever buffered whole.
 * BEP 47 padding files are never touched on disk: they read as zeros.
 */
import { constants, type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { readSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { FileMap } from '../../format/file-map.js';
import type { DirectWriteGate } from './flush-gate.js';
import { createSha1, sha1, SHA1_LENGTH } from './sha1.js';

export type StorageErrorCode =
  | 'OUT_OF_RANGE'   // piece / block outside the torrent
  | 'BAD_LENGTH'     // writePiece data not the piece size, into-buffer too small
  | 'MISSING_DATA'   // file absent or shorter than the block
  | 'READ_ONLY'      // write on a read-only store
  | 'BAD_PATH'       // a file path escapes the root directory
  | 'CLOSED'
  | 'IO';            // any other file system error (cause attached)

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(readonly code: StorageErrorCode, message: string, options?: { cause?: unknown }) { super(message, options); }
}

/** The part of a Metainfo a store needs (format/metainfo.ts `Metainfo` fits). */
export interface StorageLayout {
  readonly files: readonly { readonly path: readonly string[]; readonly length: number; readonly padding?: boolean }[];
  readonly pieceLength: number;
  readonly pieceCount: number;
  /** Concatenated 20-byte piece hashes. */
  readonly pieces: Uint8Array;
  readonly fileMap: FileMap;
}

export interface StorageOptions {
  /** Open file handles kept (LRU). Default 16. */
  maxOpenFiles?: number;
  /** Refuse writes and never create files. Default false. */
  readOnly?: boolean;
  /**
   * Read with fs.readSync on the open descriptor instead of the libuv thread pool.
   * Several times faster when the data is in the page cache (a hot seed), but a cold
   * disk read then blocks the event loop. Default false.
   */
  syncReads?: boolean;
  /**
   * Write pieces whose buffer is page-aligned (writePiece's `aligned`) with O_DIRECT,
   * straight from that buffer to the device, skipping the copy into the page cache.
   * On a VM whose fresh page-cache pages are expensive to touch the copy cost 2.1 CPU s
   * per GiB against 0.2 s direct (bench:transfer, issue 4). Unaligned parts (a file
   * boundary inside a 4 KiB block, the tail of the last piece) are written buffered; a
   * file system that refuses O_DIRECT (EINVAL, e.g. tmpfs) turns it off for the store.
   * Linux only. Default false.
   */
  directWrites?: boolean;
  /**
   * While `flushing` says a flush of the disk cache is on its way (flush-gate.ts), pieces
   * go through the page cache instead of O_DIRECT, and direct writes are reported to it so
   * the flush can wait for them. Default: none (direct whenever possible).
   */
  flushGate?: DirectWriteGate;
}

interface Handle {
  readonly file: number;
  readonly writable: boolean;
  readonly ready: Promise<FileHandle>;
  /** Set once `ready` resolves, so hot reads skip an await. */
  fh: FileHandle | null;
  /** A second descriptor with O_DIRECT, opened on the first aligned write. */
  direct: Promise<FileHandle> | null;
  refs: number;
  closed: boolean;
}

const RW_CREATE = constants.O_RDWR | constants.O_CREAT;
/** Memory, file offset and length alignment O_DIRECT needs on every file system we meet (logical block ≤ 4 KiB). */
export const DIRECT_IO_ALIGN = 4096;

export class PieceStore {
  readonly root: string;
  private readonly paths: string[];
  private readonly maxOpen: number;
  private readonly readOnly: boolean;
  private readonly syncReads: boolean;
  /** O_DIRECT still worth trying (option on, flag known, not refused by the file system). */
  private direct: boolean;
  private readonly gate: DirectWriteGate | null;
  private directBytes = 0;
  private bufferedBytes = 0;
  /** Insertion order = recency (re-inserted on use). */
  private readonly handles = new Map<number, Handle>();
  private readonly madeDirs = new Set<string>();
  private closedStore = false;
  private emptyFilesMade = false;

  constructor(readonly layout: StorageLayout, root: string, opts?: StorageOptions) {
    this.root = resolve(root);
    this.maxOpen = Math.max(1, opts?.maxOpenFiles ?? 16);
    this.readOnly = opts?.readOnly ?? false;
    this.syncReads = opts?.syncReads ?? false;
    this.direct = (opts?.directWrites ?? false) && typeof constants.O_DIRECT === 'number' && constants.O_DIRECT !== 0;
    this.gate = opts?.flushGate ?? null;
    // Paths were validated by the metainfo parser; check again that none escapes the root,
    // because a layout may come from elsewhere.
    const prefix = this.root.endsWith(sep) ? this.root : this.root + sep;
    this.paths = layout.files.map((f, i) => {
      const p = resolve(this.root, ...f.path);
      if (f.path.length === 0 || !p.startsWith(prefix)) throw new StorageError('BAD_PATH', `file ${i} path escapes ${this.root}`);
      return p;
    });
    if (layout.pieces.length !== layout.pieceCount * SHA1_LENGTH || layout.fileMap.pieceCount !== layout.pieceCount) {
      throw new StorageError('BAD_LENGTH', 'layout pieces do not match its piece count');
    }
  }

  /** File system path of file `i`. */
  filePath(i: number): string { return this.paths[i]; }

  get pieceCount(): number { return this.layout.pieceCount; }
  pieceSize(index: number): number { return this.map(() => this.layout.fileMap.pieceSize(index)); }

  /**
   * Read block [begin, begin+length) of piece `index` into `into` (or a new buffer) and
   * return the filled view. Throws StorageError MISSING_DATA if the data is not on disk.
   */
  async readBlock(index: number, begin: number, length: number, into?: Buffer): Promise<Buffer> {
    this.checkOpen();
    const fm = this.layout.fileMap;
    const offset = this.map(() => fm.blockOffset(index, begin, length));
    if (into !== undefined && into.length < length) throw new StorageError('BAD_LENGTH', `buffer of ${into.length} bytes for a ${length}-byte block`);
    const out = into === undefined ? Buffer.allocUnsafe(length) : into.subarray(0, length);
    await this.readRange(offset, length, out);
    return out;
  }

  /** O_DIRECT writes are on (directWrites asked for and not refused by the file system so far). */
  get directWrites(): boolean { return this.direct; }

  /** Piece bytes written so far with O_DIRECT / through the page cache. */
  get bytesWritten(): { direct: number; buffered: number } {
    return { direct: this.directBytes, buffered: this.bufferedBytes };
  }

  /**
   * Write a whole (already verified) piece. `aligned`: `data` starts on a 4 KiB boundary
   * of memory (download-assembly.ts slab), so its aligned parts may go out with O_DIRECT.
   */
  async writePiece(index: number, data: Uint8Array, aligned = false): Promise<void> {
    this.checkOpen();
    if (this.readOnly) throw new StorageError('READ_ONLY', 'store is read-only');
    const fm = this.layout.fileMap;
    const size = this.pieceSize(index);
    if (data.length !== size) throw new StorageError('BAD_LENGTH', `piece ${index} is ${size} bytes, got ${data.length}`);
    if (!this.emptyFilesMade) await this.createEmptyFiles();
    const segs = fm.segments(fm.pieceOffset(index), size);
    for (const s of segs) {
      if (this.layout.files[s.file].padding) continue;
      const h = this.acquire(s.file, true);
      try {
        let done = 0;
        // The aligned head of the segment goes direct when memory and file offsets are
        // both on a block boundary; the rest (if any) is written through the page cache.
        // Not while a flush of the disk cache is on its way: a direct write would wait for it.
        if (aligned && this.direct && this.gate?.flushing !== true && s.rangeOffset % DIRECT_IO_ALIGN === 0 && s.fileOffset % DIRECT_IO_ALIGN === 0) {
          const len = s.length - (s.length % DIRECT_IO_ALIGN);
          done = this.gate === null
            ? await this.writeDirect(h, data, s.rangeOffset, len, s.fileOffset)
            : await this.gate.direct(() => this.writeDirect(h, data, s.rangeOffset, len, s.fileOffset));
          this.directBytes += done;
        }
        const fh = await h.ready;
        while (done < s.length) {
          const { bytesWritten } = await fh.write(data, s.rangeOffset + done, s.length - done, s.fileOffset + done);
          done += bytesWritten;
          this.bufferedBytes += bytesWritten;
        }
      } catch (e) {
        throw this.ioError(e, s.file, 'write');
      } finally {
        this.release(h);
      }
    }
  }

  /**
   * Write `length` bytes (a multiple of DIRECT_IO_ALIGN) with O_DIRECT; returns how many
   * went out. 0 when the file system refuses O_DIRECT (then it is off for this store and
   * the caller writes them buffered); other errors are real I/O errors and thrown.
   */
  private async writeDirect(h: Handle, data: Uint8Array, from: number, length: number, fileOffset: number): Promise<number> {
    if (length === 0) return 0;
    let done = 0;
    try {
      if (h.direct === null) {
        const path = this.paths[h.file];
        h.direct = h.ready.then(() => open(path, constants.O_RDWR | constants.O_DIRECT));
      }
      const dfh = await h.direct;
      while (done < length) {
        const { bytesWritten } = await dfh.write(data, from + done, length - done, fileOffset + done);
        // A short direct write (rare: a signal, a full disk) may leave `done` unaligned;
        // the buffered loop finishes the segment from there.
        if (bytesWritten === 0 || bytesWritten % DIRECT_IO_ALIGN !== 0) return done + bytesWritten;
        done += bytesWritten;
      }
      return done;
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code !== 'EINVAL') throw e;
      this.direct = false;
      return done;
    }
  }

  /** Create the torrent's zero-length files (no piece ever covers them). Done on the first write. */
  async createEmptyFiles(): Promise<void> {
    this.emptyFilesMade = true;
    if (this.readOnly) return;
    for (let i = 0; i < this.paths.length; i++) {
      if (this.layout.files[i].length !== 0 || this.layout.files[i].padding) continue;
      try {
        await (await this.openForWrite(this.paths[i])).close();
      } catch (e) {
        throw this.ioError(e, i, 'create');
      }
    }
  }

  /** True when `data` is the whole piece `index` and its SHA-1 matches the metainfo. */
  verifyPiece(index: number, data: Uint8Array): boolean {
    if (!(Number.isInteger(index) && index >= 0 && index < this.layout.pieceCount)) return false;
    if (data.length !== this.layout.fileMap.pieceSize(index)) return false;
    return sha1(data).equals(this.layout.pieces.subarray(index * SHA1_LENGTH, (index + 1) * SHA1_LENGTH));
  }

  /**
   * Check every piece on disk; returns a packed bitfield (BEP 3: high bit of byte 0 =
   * piece 0, spare bits zero). Missing or short files make their pieces missing without
   * reading. Memory: one piece buffer.
   */
  async recheck(onProgress?: (checked: number, total: number) => void): Promise<Uint8Array> {
    this.checkOpen();
    const { fileMap: fm, files, pieceCount } = this.layout;
    const bits = new Uint8Array(Math.ceil(pieceCount / 8));
    const sizes = await Promise.all(this.paths.map(async (p, i) => {
      if (files[i].padding) return Infinity;
      try {
        const st = await stat(p);
        return st.isFile() ? st.size : -1;
      } catch {
        return -1;
      }
    }));
    const buf = Buffer.allocUnsafe(Math.min(this.layout.pieceLength, fm.totalLength));
    for (let i = 0; i < pieceCount; i++) {
      const size = fm.pieceSize(i);
      const offset = fm.pieceOffset(i);
      let present = true;
      fm.forEachSegment(offset, size, (s) => { if (sizes[s.file] < s.fileOffset + s.length) present = false; });
      if (present) {
        const piece = buf.subarray(0, size);
        try {
          await this.readRange(offset, size, piece);
          if (this.verifyPiece(i, piece)) bits[i >> 3] |= 0x80 >> (i & 7);
        } catch (e) {
          if (!(e instanceof StorageError && e.code === 'MISSING_DATA')) throw e;
        }
      }
      onProgress?.(i + 1, pieceCount);
    }
    return bits;
  }

  /** SHA-1 of piece `index` as stored on disk, reading through `scratch` (≥ 1 byte). */
  async hashPieceOnDisk(index: number, scratch: Buffer): Promise<Buffer> {
    const fm = this.layout.fileMap;
    const size = this.pieceSize(index);
    const h = createSha1();
    for (let done = 0; done < size;) {
      const n = Math.min(scratch.length, size - done);
      await this.readRange(fm.pieceOffset(index) + done, n, scratch.subarray(0, n));
      h.update(scratch.subarray(0, n));
      done += n;
    }
    return h.digest();
  }

  /** Close every file handle; the store is unusable afterwards. */
  async close(): Promise<void> {
    this.closedStore = true;
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map((h) => this.closeHandle(h)));
  }

  // -------------------------------------------------------------------------------------

  /** Fill `out` with torrent bytes [offset, offset + out.length); walks files without allocating. */
  private async readRange(offset: number, length: number, out: Buffer): Promise<void> {
    const fm = this.layout.fileMap;
    if (length === 0) return;
    let file = this.map(() => fm.fileAt(offset));
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const fStart = fm.fileStart(file);
      const fEnd = fStart + fm.fileLength(file);
      if (fEnd <= pos) { file++; continue; } // zero-length file
      const n = Math.min(fEnd, end) - pos;
      const outOff = pos - offset;
      const fileOff = pos - fStart;
      if (this.layout.files[file].padding) out.fill(0, outOff, outOff + n);
      else await this.readFile(file, out, outOff, n, fileOff);
      pos += n;
      file++;
    }
  }

  private async readFile(file: number, out: Buffer, outOff: number, n: number, fileOff: number): Promise<void> {
    const h = this.acquire(file, false);
    try {
      const fh = h.fh ?? await h.ready;
      let done = 0;
      while (done < n) {
        const bytesRead = this.syncReads
          ? readSync(fh.fd, out, outOff + done, n - done, fileOff + done)
          : (await fh.read(out, outOff + done, n - done, fileOff + done)).bytesRead;
        if (bytesRead === 0) throw new StorageError('MISSING_DATA', `file ${this.paths[file]} ends before byte ${fileOff + n}`);
        done += bytesRead;
      }
    } catch (e) {
      throw this.ioError(e, file, 'read');
    } finally {
      this.release(h);
    }
  }

  private map<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw new StorageError('OUT_OF_RANGE', (e as Error).message, { cause: e });
    }
  }

  private checkOpen(): void {
    if (this.closedStore) throw new StorageError('CLOSED', 'store is closed');
  }

  private ioError(e: unknown, file: number, op: string): StorageError {
    if (e instanceof StorageError) return e;
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      return new StorageError('MISSING_DATA', `${op} ${this.paths[file]}: ${code}`, { cause: e });
    }
    return new StorageError('IO', `${op} ${this.paths[file]}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }

  /** Get (or open) the handle for `file`; a read-only handle is replaced when writing. */
  private acquire(file: number, write: boolean): Handle {
    let h = this.handles.get(file);
    if (h !== undefined && write && !h.writable) {
      this.handles.delete(file);
      if (h.refs === 0) void this.closeHandle(h);
      else h.closed = true; // closed by its last release
      h = undefined;
    }
    if (h === undefined) {
      const path = this.paths[file];
      const ready = write ? this.openForWrite(path) : open(path, 'r');
      const nh: Handle = { file, writable: write, ready, fh: null, direct: null, refs: 0, closed: false };
      ready.then((fh) => { nh.fh = fh; }, () => { if (this.handles.get(file) === nh) this.handles.delete(file); });
      h = nh;
      this.handles.set(file, h);
    } else {
      this.handles.delete(file); // move to most recent
      this.handles.set(file, h);
    }
    h.refs++;
    this.evict();
    return h;
  }

  private async openForWrite(path: string): Promise<FileHandle> {
    const dir = dirname(path);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    return open(path, RW_CREATE, 0o644);
  }

  private release(h: Handle): void {
    h.refs--;
    if (h.refs === 0 && (h.closed || this.handles.get(h.file) !== h)) void this.closeHandle(h);
    else this.evict();
  }

  /** Close least recently used idle handles beyond the cap (busy ones are skipped). */
  private evict(): void {
    if (this.handles.size <= this.maxOpen) return;
    for (const [file, h] of this.handles) {
      if (this.handles.size <= this.maxOpen) break;
      if (h.refs > 0) continue;
      this.handles.delete(file);
      void this.closeHandle(h);
    }
  }

  private async closeHandle(h: Handle): Promise<void> {
    h.closed = true;
    for (const p of [h.ready, h.direct]) {
      if (p === null) continue;
      try {
        await (await p).close();
      } catch {
        // open failed (already reported to its caller, or O_DIRECT refused) or already closed
      }
    }
  }
}

