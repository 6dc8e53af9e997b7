/**
 * The torrent as one byte stream cut two ways: into pieces (fixed `pieceLength`, the
 * last one shorter) and into files (in metainfo order). This maps a (piece, begin,
 * length) block — or any torrent byte range — to the file segments that hold it.
 *
 * Zero-length files hold no bytes and never appear in a segment. Offsets are JS numbers:
 * exact up to 2^53 bytes (8 PiB), far past any torrent.
 */

export interface FileSegment {
  /** Index into the file list. */
  readonly file: number;
  /** Byte offset inside that file. */
  readonly fileOffset: number;
  /** Bytes in this segment (> 0). */
  readonly length: number;
  /** Offset of this segment inside the requested range (0 for the first segment). */
  readonly rangeOffset: number;
}

export type FileMapErrorCode = 'OUT_OF_RANGE' | 'BAD_GEOMETRY';

export class FileMapError extends Error {
  override readonly name = 'FileMapError';
  constructor(readonly code: FileMapErrorCode, message: string) { super(message); }
}

export class FileMap {
  readonly totalLength: number;
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly fileCount: number;
  /** starts[i] = torrent offset of file i's first byte; starts[fileCount] = totalLength. */
  private readonly starts: Float64Array;
  private readonly lengths: Float64Array;

  constructor(fileLengths: readonly number[], pieceLength: number) {
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
      throw new FileMapError('BAD_GEOMETRY', `piece length ${pieceLength} is not a positive integer`);
    }
    this.fileCount = fileLengths.length;
    this.starts = new Float64Array(fileLengths.length + 1);
    this.lengths = new Float64Array(fileLengths.length);
    let total = 0;
    for (let i = 0; i < fileLengths.length; i++) {
      const len = fileLengths[i];
      if (!Number.isSafeInteger(len) || len < 0) throw new FileMapError('BAD_GEOMETRY', `file ${i} length ${len} is not a non-negative integer`);
      this.starts[i] = total;
      this.lengths[i] = len;
      total += len;
      if (!Number.isSafeInteger(total)) throw new FileMapError('BAD_GEOMETRY', 'total length exceeds 2^53');
    }
    this.starts[fileLengths.length] = total;
    this.totalLength = total;
    this.pieceLength = pieceLength;
    this.pieceCount = Math.ceil(total / pieceLength);
  }

  /** Length of piece `index` (the last piece may be shorter). */
  pieceSize(index: number): number {
    this.checkPiece(index);
    return index === this.pieceCount - 1 ? this.totalLength - index * this.pieceLength : this.pieceLength;
  }

  /** Torrent offset of piece `index`'s first byte. */
  pieceOffset(index: number): number {
    this.checkPiece(index);
    return index * this.pieceLength;
  }

  fileLength(file: number): number { return this.lengths[file]; }
  fileStart(file: number): number { return this.starts[file]; }

  /** Index of the file holding torrent byte `offset` (skips zero-length files). */
  fileAt(offset: number): number {
    if (!(offset >= 0 && offset < this.totalLength)) throw new FileMapError('OUT_OF_RANGE', `offset ${offset} outside [0, ${this.totalLength})`);
    // Last file whose start <= offset; among equal starts (zero-length files) the last one
    // is the non-empty file that actually holds the byte.
    let lo = 0;
    let hi = this.fileCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= offset) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Call `fn` for each file segment of the torrent range [offset, offset + length), in order.
   * No allocation besides the segment objects handed to `fn`.
   */
  forEachSegment(offset: number, length: number, fn: (seg: FileSegment) => void): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.totalLength) {
      throw new FileMapError('OUT_OF_RANGE', `range [${offset}, +${length}) outside [0, ${this.totalLength})`);
    }
    if (length === 0) return;
    let file = this.fileAt(offset);
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const fEnd = this.starts[file] + this.lengths[file];
      if (fEnd > pos) {
        const n = Math.min(fEnd, end) - pos;
        fn({ file, fileOffset: pos - this.starts[file], length: n, rangeOffset: pos - offset });
        pos += n;
      }
      file++;
    }
  }

  /** The file segments of torrent range [offset, offset + length). */
  segments(offset: number, length: number): FileSegment[] {
    const out: FileSegment[] = [];
    this.forEachSegment(offset, length, (s) => out.push(s));
    return out;
  }

  /** Check a (piece, begin, length) block lies inside its piece; returns its torrent offset. */
  blockOffset(piece: number, begin: number, length: number): number {
    const size = this.pieceSize(piece);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(length) || begin < 0 || length < 0 || begin + length > size) {
      throw new FileMapError('OUT_OF_RANGE', `block [${begin}, +${length}) outside piece ${piece} of ${size} bytes`);
    }
    return piece * this.pieceLength + begin;
  }

  /** The file segments of a block inside one piece. */
  blockSegments(piece: number, begin: number, length: number): FileSegment[] {
    return this.segments(this.blockOffset(piece, begin, length), length);
  }

  /** Pieces [first, last] that overlap file `file`; null for a zero-length file. */
  filePieces(file: number): { first: number; last: number } | null {
    if (!(Number.isInteger(file) && file >= 0 && file < this.fileCount)) throw new FileMapError('OUT_OF_RANGE', `file ${file} outside [0, ${this.fileCount})`);
    const len = this.lengths[file];
    if (len === 0) return null;
    const start = this.starts[file];
    return { first: Math.floor(start / this.pieceLength), last: Math.floor((start + len - 1) / this.pieceLength) };
  }

  private checkPiece(index: number): void {
    if (!(Number.isInteger(index) && index >= 0 && index < this.pieceCount)) {
      throw new FileMapError('OUT_OF_RANGE', `piece ${index} outside [0, ${this.pieceCount})`);
    }
  }
}
