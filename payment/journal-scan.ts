/**
 * Reading a journal: frames in file order, decoded and checked against the file's
 * structure, from a whole buffer (`scanJournal`, pure) or streamed from an open file
 * with a bounded buffer (`scanFile`).
 *
 * Scan rules: a frame cut short by the end of file (header or body), a last frame whose
 * body fails its CRC, or a tail of zero bytes (a file extended but not written before a
 * crash) is a TORN TAIL: ignored, and the adapter truncates it away. Anything wrong that
 * is followed by more data — or a frame whose CRC is right but whose body is not a valid
 * record — is CORRUPTION: a hard JournalError, never skipped. In a compacted file the
 * snapshot must be complete: a torn tail that starts inside it is CORRUPTION too (the
 * snapshot is only ever renamed into place complete and fsync'd, so a short one is
 * damage, and reading it as a smaller journal would forget money).
 */
import type { FileHandle } from 'node:fs/promises';
import {
  JournalError, MAGIC, MAX_RECORD_BODY, allZero, checkRecord, frameAt, magicVersion, type JournalRecord,
} from './journal-format.js';
import {
  SNAPSHOT_KINDS, checkSnapshotFrame, snapshotCorrupt, type SnapshotHeader, type SnapshotItem,
} from './journal-snapshot.js';

export type JournalEntry =
  | { type: 'record'; record: JournalRecord }
  | { type: 'snapshot'; header: SnapshotHeader }
  | { type: 'items'; items: SnapshotItem[] }
  | { type: 'snapshot-end' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseBody(body: Uint8Array, offset: number): Record<string, unknown> {
  try {
    const o: unknown = JSON.parse(utf8.decode(body));
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object');
    return o as Record<string, unknown>;
  } catch (e) {
    throw invalid(e, offset);
  }
}

function invalid(e: unknown, offset: number): JournalError {
  const why = e instanceof Error ? e.message : String(e);
  // The CRC matched, so these are the bytes that were written: not a torn write.
  return new JournalError('CORRUPT', `journal record at offset ${offset} is invalid: ${why}`, offset);
}

/**
 * Decodes frame bodies in file order and enforces where each kind may stand: in a
 * compacted file (version 2) the header, chunks numbered 0, 1, 2, ... and the end
 * frame come first, records after; a plain file (version 1) holds records only.
 */
export class EntryDecoder {
  private phase: 'records' | 'header' | 'chunks';
  private chunks = 0;
  private items = 0;
  /** Offset just past the snapshot's end frame (0: no snapshot). */
  snapshotEnd = 0;

  constructor(version: 1 | 2) {
    this.phase = version === 1 ? 'records' : 'header';
  }

  decode(body: Uint8Array, offset: number, next: number): JournalEntry {
    const o = parseBody(body, offset);
    if (typeof o.kind === 'string' && SNAPSHOT_KINDS.has(o.kind)) return this.snapshot(o, offset, next);
    if (this.phase !== 'records') throw snapshotCorrupt('a record where the snapshot should be', offset);
    if (body.length > MAX_RECORD_BODY) throw invalid(new Error(`record body of ${body.length} bytes`), offset);
    try {
      return { type: 'record', record: checkRecord(o) };
    } catch (e) {
      throw invalid(e, offset);
    }
  }

  /** The scan ended at `offset` (end of file or a torn tail): a snapshot must be complete by then. */
  finish(offset: number): void {
    if (this.phase !== 'records') throw snapshotCorrupt('the file ends before the snapshot does', offset);
  }

  private snapshot(o: Record<string, unknown>, offset: number, next: number): JournalEntry {
    let f;
    try {
      f = checkSnapshotFrame(o);
    } catch (e) {
      throw invalid(e, offset);
    }
    if (f.kind === 'snapshot') {
      if (this.phase !== 'header') throw snapshotCorrupt('a snapshot header out of place', offset);
      this.phase = 'chunks';
      return { type: 'snapshot', header: f.header };
    }
    if (this.phase !== 'chunks') throw snapshotCorrupt(`a ${f.kind} frame out of place`, offset);
    if (f.kind === 'snapshot-chunk') {
      if (f.seq !== this.chunks) throw snapshotCorrupt(`chunk ${f.seq} where ${this.chunks} should be`, offset);
      this.chunks++;
      this.items += f.items.length;
      return { type: 'items', items: f.items };
    }
    if (f.chunks !== this.chunks || f.items !== this.items) {
      throw snapshotCorrupt(`end frame counts ${f.chunks} chunks / ${f.items} items, the file has ${this.chunks} / ${this.items}`, offset);
    }
    this.phase = 'records';
    this.snapshotEnd = next;
    return { type: 'snapshot-end' };
  }
}

type WindowStop =
  | { stop: 'need'; pos: number; bytes: number }
  | { stop: 'end' | 'torn' | 'bad-header'; pos: number };

export type EntrySink = (e: JournalEntry, start: number, next: number) => void;

/** Decode every whole frame of `win` (the file's bytes from `winPos`) from `pos` on. */
function scanWindow(win: Uint8Array, winPos: number, pos: number, size: number, dec: EntryDecoder, sink: EntrySink): WindowStop {
  while (pos < size) {
    const step = frameAt(win, winPos, pos, size);
    if (step.kind === 'frame') {
      sink(dec.decode(step.body, pos, step.next), pos, step.next);
      pos = step.next;
    } else if (step.kind === 'need') {
      return { stop: 'need', pos, bytes: step.bytes };
    } else {
      return { stop: step.kind, pos };
    }
  }
  return { stop: 'end', pos };
}

function damagedHeader(pos: number): JournalError {
  return new JournalError('CORRUPT', `journal frame header at offset ${pos} is damaged`, pos);
}

export interface ScanResult {
  /** Records after the snapshot (all records of a journal never compacted), in file order. */
  records: JournalRecord[];
  /** The snapshot a compacted journal starts with (null: none). */
  snapshot: { header: SnapshotHeader; items: SnapshotItem[] } | null;
  /** Offset just past the last good frame: where the next append goes. */
  goodEnd: number;
  /** Bytes of torn tail after goodEnd (0 for a clean file). */
  tornBytes: number;
}

/**
 * Scan a whole journal file held in memory. A file that is empty or a strict prefix of
 * MAGIC (a crash while creating it) scans as empty with goodEnd 0; the adapter writes MAGIC.
 */
export function scanJournal(file: Uint8Array): ScanResult {
  const v = magicVersion(file.subarray(0, MAGIC.length));
  if (v === 'empty') return { records: [], snapshot: null, goodEnd: 0, tornBytes: file.length };
  const records: JournalRecord[] = [];
  let snapshot: ScanResult['snapshot'] = null;
  const dec = new EntryDecoder(v);
  const r = scanWindow(file, 0, MAGIC.length, file.length, dec, (e) => {
    if (e.type === 'record') records.push(e.record);
    else if (e.type === 'snapshot') snapshot = { header: e.header, items: [] };
    else if (e.type === 'items') snapshot!.items.push(...e.items);
  });
  if (r.stop === 'bad-header' && !allZero(file.subarray(r.pos))) throw damagedHeader(r.pos);
  dec.finish(r.pos);
  return { records, snapshot, goodEnd: r.pos, tornBytes: file.length - r.pos };
}

export interface FileScan {
  /** 0: empty or a prefix of MAGIC (start it again). */
  version: 0 | 1 | 2;
  goodEnd: number;
  tornBytes: number;
  /** Where the records after the snapshot start (MAGIC's length without a snapshot). */
  tailStart: number;
  bytesRead: number;
  frames: number;
}

/** Bytes read per call: the buffer never holds more than this plus one frame. */
const READ_CHUNK = 1 << 20;

/** Read up to `len` bytes at `position` (fewer only at the end of the file). */
async function readAt(fh: FileHandle, position: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === len ? buf : buf.subarray(0, got);
}

/**
 * Stream a journal from an open file of `size` bytes: every entry goes to `sink` in
 * file order, and memory stays bounded by the read chunk and one frame, however big
 * the file. Same rules and errors as scanJournal.
 */
export async function scanFile(fh: FileHandle, size: number, sink: EntrySink): Promise<FileScan> {
  const head = await readAt(fh, 0, Math.min(size, MAGIC.length));
  let bytesRead = head.length;
  const v = magicVersion(head);
  if (v === 'empty') return { version: 0, goodEnd: 0, tornBytes: size, tailStart: 0, bytesRead, frames: 0 };
  const dec = new EntryDecoder(v);
  let frames = 0;
  const count: EntrySink = (e, start, next) => { frames++; sink(e, start, next); };
  let pos = MAGIC.length;
  let winPos = pos;
  let win = new Uint8Array(0);
  for (;;) {
    const r = scanWindow(win, winPos, pos, size, dec, count);
    pos = r.pos;
    if (r.stop === 'need') {
      // Keep what is left of the window (the start of the frame) and read on.
      const keep = win.subarray(pos - winPos);
      const more = await readAt(fh, winPos + win.length, Math.max(READ_CHUNK, r.bytes - keep.length));
      bytesRead += more.length;
      if (more.length === 0) size = winPos + win.length; // the file shrank under us: it ends here
      const next = new Uint8Array(keep.length + more.length);
      next.set(keep);
      next.set(more, keep.length);
      win = next;
      winPos = pos;
      continue;
    }
    if (r.stop === 'bad-header') {
      const zeros = await zeroFrom(fh, pos, size);
      bytesRead += zeros.read;
      if (!zeros.all) throw damagedHeader(pos);
    }
    dec.finish(pos);
    return { version: v, goodEnd: pos, tornBytes: size - pos, tailStart: dec.snapshotEnd || MAGIC.length, bytesRead, frames };
  }
}

/** Whether every byte from `pos` to `size` is zero (read in chunks). */
async function zeroFrom(fh: FileHandle, pos: number, size: number): Promise<{ all: boolean; read: number }> {
  let read = 0;
  for (let p = pos; p < size;) {
    const b = await readAt(fh, p, Math.min(READ_CHUNK, size - p));
    read += b.length;
    if (b.length === 0) break;
    if (!allZero(b)) return { all: false, read };
    p += b.length;
  }
  return { all: true, read };
}
