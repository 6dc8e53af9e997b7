/**
 * .torrent metainfo (BEP 3), v1 and the v1 half of hybrid torrents (BEP 52).
 *
 * The info hash is the SHA-1 of the exact bytes of `info` as received (a raw span
 * from the decoder), never of a re-encoding: torrents from the wild sometimes have
 * unsorted keys or other quirks, and re-encoding would change their identity.
 *
 * Everything is validated before use because a .torrent (or an info dict fetched
 * from peers by ut_metadata) is hostile input: file paths become file system paths.
 */
import {
  BencodeError, decode, decodeWithSpans, encode, getBytes, getDict, getList, isBytes, isDict, isList,
  optBytes, optInt, type BDict, type Encodable,
} from '../wire/bencode.js';
import { FileMap } from './file-map.js';
import { infoSha1 as sha1, SHA1_LENGTH } from './info-hash.js';

export { SHA1_LENGTH } from './info-hash.js';

export type MetainfoErrorCode =
  | 'BAD_BENCODE'           // not decodable (cause holds the BencodeError)
  | 'MISSING_KEY'           // a required key is absent
  | 'WRONG_TYPE'            // a key holds the wrong bencode type
  | 'BAD_PIECE_LENGTH'      // not a positive integer, or absurd
  | 'BAD_PIECES'            // `pieces` not a multiple of 20 bytes
  | 'PIECE_COUNT_MISMATCH'  // `pieces` does not hold ceil(total / pieceLength) hashes
  | 'BAD_LENGTH'            // negative / non-safe file length, empty torrent, both or neither of length/files
  | 'BAD_PATH'              // absolute, empty, '.', '..', '/', '\\' or NUL in a path or the name
  | 'DUPLICATE_PATH'        // two files at the same path, or a file used as a directory
  | 'TOO_MANY_FILES'
  | 'V2_ONLY'               // BEP 52 v2-only torrent: we speak v1
  | 'INFO_HASH_MISMATCH'    // info bytes do not hash to the expected info hash
  | 'BAD_ARGUMENT';         // createTorrent misuse

export class MetainfoError extends Error {
  override readonly name = 'MetainfoError';
  constructor(readonly code: MetainfoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TorrentFile {
  /** Relative path segments INCLUDING the torrent name: single-file [name], multi-file [name, ...path]. */
  readonly path: readonly string[];
  readonly length: number;
  /** Torrent offset of the file's first byte. */
  readonly offset: number;
  /** BEP 47 padding file (attr contains 'p'): zeros, never written to disk. */
  readonly padding: boolean;
}

export interface Metainfo {
  /** SHA-1 of the exact `info` bytes (20 bytes). */
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  /** The exact bencoded `info` dictionary (what ut_metadata serves). */
  readonly infoBytes: Buffer;
  readonly name: string;
  readonly pieceLength: number;
  readonly pieceCount: number;
  /** Concatenated 20-byte SHA-1 piece hashes (a view of infoBytes). */
  readonly pieces: Uint8Array;
  readonly files: readonly TorrentFile[];
  readonly totalLength: number;
  /** true when `info` has `length` (one file) rather than `files`. */
  readonly singleFile: boolean;
  readonly private: boolean;
  /** true for a BEP 52 hybrid torrent (we use its v1 parts). */
  readonly hybrid: boolean;
  readonly fileMap: FileMap;
  readonly announce?: string;
  /** BEP 12 tiers. */
  readonly announceList?: readonly (readonly string[])[];
  readonly comment?: string;
  readonly createdBy?: string;
  /** Seconds since the epoch. */
  readonly creationDate?: number;
  /** BEP 19 web seeds. */
  readonly urlList?: readonly string[];
}

export interface ParseOptions {
  /** Largest piece length accepted. Default 256 MiB. */
  maxPieceLength?: number;
  /** Most files accepted. Default 1_000_000. */
  maxFiles?: number;
  /** Largest .torrent accepted. Default 64 MiB. */
  maxBytes?: number;
}

export const DEFAULT_MAX_PIECE_LENGTH = 256 * 1024 * 1024;
const DEFAULT_MAX_FILES = 1_000_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** Pieces hash of piece i (a 20-byte view). */
export function pieceHash(m: Metainfo, index: number): Uint8Array {
  if (!(Number.isInteger(index) && index >= 0 && index < m.pieceCount)) throw new MetainfoError('BAD_ARGUMENT', `piece ${index} outside [0, ${m.pieceCount})`);
  return m.pieces.subarray(index * SHA1_LENGTH, (index + 1) * SHA1_LENGTH);
}

// ---------------------------------------------------------------------------------------
// Parsing

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BencodeError) {
      const code: MetainfoErrorCode = e.code === 'MISSING_KEY' ? 'MISSING_KEY'
        : e.code === 'WRONG_TYPE' ? 'WRONG_TYPE'
        : e.code === 'OUT_OF_RANGE' || e.code === 'BAD_UTF8' ? 'WRONG_TYPE' : 'BAD_BENCODE';
      throw new MetainfoError(code, e.message, { cause: e });
    }
    throw e;
  }
}

const utf8Lossy = new TextDecoder('utf-8');
const text = (b: Uint8Array): string => utf8Lossy.decode(b);

/** Prefer the `<key>.utf-8` variant some clients add beside a legacy-encoded key. */
function textKey(d: BDict, key: string, required: true): string;
function textKey(d: BDict, key: string, required: false): string | undefined;
function textKey(d: BDict, key: string, required: boolean): string | undefined {
  const alt = d.get(key + '.utf-8');
  if (isBytes(alt)) return text(alt);
  const b = required ? getBytes(d, key) : optBytes(d, key);
  return b === undefined ? undefined : text(b);
}

/** One path segment (or the torrent name) must be a plain, non-special name. */
export function checkSegment(seg: string, what: string): void {
  if (seg.length === 0) throw new MetainfoError('BAD_PATH', `${what}: empty path segment (an absolute or malformed path)`);
  if (seg === '.' || seg === '..') throw new MetainfoError('BAD_PATH', `${what}: path segment '${seg}' is not allowed`);
  if (/[/\\\0]/.test(seg)) throw new MetainfoError('BAD_PATH', `${what}: path segment ${JSON.stringify(seg)} contains '/', '\\' or NUL`);
}

function lengthOf(d: BDict, what: string): number {
  const v = d.get('length');
  if (v === undefined) throw new MetainfoError('MISSING_KEY', `${what}: missing key "length"`);
  if (typeof v !== 'bigint') throw new MetainfoError('WRONG_TYPE', `${what}: "length" is not an integer`);
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MetainfoError('BAD_LENGTH', `${what}: length ${v} is negative or too large`);
  return Number(v);
}

/**
 * Parse and validate an `info` dictionary given as its exact bytes (from a .torrent or
 * from ut_metadata). With `expectedInfoHash`, also check the bytes hash to it.
 */
export function parseInfo(infoBytes: Uint8Array, opts?: ParseOptions & { expectedInfoHash?: Uint8Array }): Metainfo {
  const copy = Buffer.from(infoBytes); // own the bytes: views below outlive the caller's buffer
  const infoHash = sha1(copy);
  if (opts?.expectedInfoHash !== undefined && !infoHash.equals(opts.expectedInfoHash)) {
    throw new MetainfoError('INFO_HASH_MISMATCH', `info hash ${infoHash.toString('hex')} does not match ${Buffer.from(opts.expectedInfoHash).toString('hex')}`);
  }
  const value = wrap(() => decode(copy, { strict: false, maxItems: decodeItems(opts) }));
  if (!isDict(value)) throw new MetainfoError('WRONG_TYPE', 'info is not a dictionary');
  return buildFromInfo(value, copy, infoHash, undefined, opts);
}

function decodeItems(opts?: ParseOptions): number {
  return 16 + 8 * (opts?.maxFiles ?? DEFAULT_MAX_FILES) + 100_000;
}

/** Parse and validate a whole .torrent file. */
export function parseTorrent(torrent: Uint8Array, opts?: ParseOptions): Metainfo {
  const maxBytes = opts?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (torrent.length > maxBytes) throw new MetainfoError('BAD_BENCODE', `torrent of ${torrent.length} bytes exceeds ${maxBytes}`);
  // One copy, so every view (pieces, infoBytes, ...) belongs to us, not the caller's buffer.
  const copy = Buffer.from(torrent);
  // strict: false — unsorted keys occur in the wild; the info hash uses the raw bytes anyway.
  const { value, spanOf } = wrap(() => decodeWithSpans(copy, { strict: false, maxItems: decodeItems(opts) }));
  if (!isDict(value)) throw new MetainfoError('WRONG_TYPE', 'torrent is not a dictionary');
  const info = wrap(() => getDict(value, 'info'));
  const span = spanOf(info)!;
  const infoBytes = copy.subarray(span.start, span.end);
  const infoHash = sha1(infoBytes);
  return buildFromInfo(info, infoBytes, infoHash, value, opts);
}

function buildFromInfo(info: BDict, infoBytes: Buffer, infoHash: Buffer, top: BDict | undefined, opts?: ParseOptions): Metainfo {
  return wrap(() => {
    const maxPieceLength = opts?.maxPieceLength ?? DEFAULT_MAX_PIECE_LENGTH;
    const maxFiles = opts?.maxFiles ?? DEFAULT_MAX_FILES;

    const metaVersion = optInt(info, 'meta version');
    const hasV1 = info.has('pieces') || info.has('files') || info.has('length');
    if (!hasV1 && ((metaVersion !== undefined && metaVersion >= 2n) || info.has('file tree'))) {
      throw new MetainfoError('V2_ONLY', 'v2-only torrent (BEP 52): no v1 "pieces"/"files"/"length"; only v1 and hybrid torrents are supported');
    }
    const hybrid = metaVersion !== undefined && metaVersion >= 2n && info.has('file tree');

    const name = textKey(info, 'name', true);
    checkSegment(name, 'name');

    const plRaw = info.get('piece length');
    if (plRaw === undefined) throw new MetainfoError('MISSING_KEY', 'missing key "piece length"');
    if (typeof plRaw !== 'bigint') throw new MetainfoError('WRONG_TYPE', '"piece length" is not an integer');
    if (plRaw <= 0n || plRaw > BigInt(maxPieceLength)) {
      throw new MetainfoError('BAD_PIECE_LENGTH', `piece length ${plRaw} outside [1, ${maxPieceLength}]`);
    }
    const pieceLength = Number(plRaw);

    const pieces = getBytes(info, 'pieces');
    if (pieces.length % SHA1_LENGTH !== 0) throw new MetainfoError('BAD_PIECES', `pieces is ${pieces.length} bytes, not a multiple of 20`);

    const hasLength = info.has('length');
    const filesVal = info.get('files');
    if (hasLength && filesVal !== undefined) throw new MetainfoError('BAD_LENGTH', 'info has both "length" and "files"');
    const files: TorrentFile[] = [];
    let total = 0;
    if (filesVal === undefined) {
      if (!hasLength) throw new MetainfoError('MISSING_KEY', 'info has neither "length" nor "files"');
      total = lengthOf(info, 'info');
      files.push({ path: [name], length: total, offset: 0, padding: false });
    } else {
      if (!isList(filesVal)) throw new MetainfoError('WRONG_TYPE', '"files" is not a list');
      if (filesVal.length === 0) throw new MetainfoError('BAD_LENGTH', '"files" is empty');
      if (filesVal.length > maxFiles) throw new MetainfoError('TOO_MANY_FILES', `${filesVal.length} files exceeds ${maxFiles}`);
      const seenFiles = new Set<string>();
      const seenDirs = new Set<string>();
      for (let i = 0; i < filesVal.length; i++) {
        const f = filesVal[i];
        const what = `files[${i}]`;
        if (!isDict(f)) throw new MetainfoError('WRONG_TYPE', `${what} is not a dictionary`);
        const length = lengthOf(f, what);
        const pathAlt = f.get('path.utf-8');
        const pathList = isList(pathAlt) ? pathAlt : getList(f, 'path');
        if (pathList.length === 0) throw new MetainfoError('BAD_PATH', `${what}: empty path`);
        const segs: string[] = [name];
        for (const s of pathList) {
          if (!isBytes(s)) throw new MetainfoError('WRONG_TYPE', `${what}: path segment is not a byte string`);
          const seg = text(s);
          checkSegment(seg, what);
          segs.push(seg);
        }
        const attr = optBytes(f, 'attr');
        const padding = attr !== undefined && attr.includes(0x70 /* 'p' */);
        if (!padding) {
          // A path can be neither a repeat nor both a file and a directory.
          const key = segs.join('/');
          if (seenFiles.has(key) || seenDirs.has(key)) throw new MetainfoError('DUPLICATE_PATH', `${what}: path ${JSON.stringify(key)} appears twice or is also a directory`);
          seenFiles.add(key);
          for (let k = 1; k < segs.length; k++) {
            const dir = segs.slice(0, k).join('/');
            if (seenFiles.has(dir)) throw new MetainfoError('DUPLICATE_PATH', `${what}: directory ${JSON.stringify(dir)} is also a file`);
            seenDirs.add(dir);
          }
        }
        files.push({ path: segs, length, offset: total, padding });
        total += length;
        if (!Number.isSafeInteger(total)) throw new MetainfoError('BAD_LENGTH', 'total length exceeds 2^53');
      }
    }
    if (total === 0) throw new MetainfoError('BAD_LENGTH', 'torrent holds no bytes');

    const pieceCount = pieces.length / SHA1_LENGTH;
    const expected = Math.ceil(total / pieceLength);
    if (pieceCount !== expected) {
      throw new MetainfoError('PIECE_COUNT_MISMATCH', `pieces holds ${pieceCount} hashes but ${total} bytes at piece length ${pieceLength} need ${expected}`);
    }

    const privRaw = optInt(info, 'private');
    const m: {
      -readonly [K in keyof Metainfo]: Metainfo[K];
    } = {
      infoHash, infoHashHex: infoHash.toString('hex'), infoBytes, name, pieceLength, pieceCount, pieces, files,
      totalLength: total, singleFile: filesVal === undefined, private: privRaw === 1n, hybrid,
      fileMap: new FileMap(files.map((f) => f.length), pieceLength),
    };
    if (top !== undefined) readTopLevel(top, m);
    return m;
  });
}

/** Optional top-level keys: lenient (a malformed optional key is ignored, not fatal). */
function readTopLevel(top: BDict, m: { -readonly [K in keyof Metainfo]: Metainfo[K] }): void {
  const announce = optBytesLenient(top, 'announce');
  if (announce !== undefined) m.announce = text(announce);
  const al = top.get('announce-list');
  if (isList(al)) {
    const tiers: string[][] = [];
    for (const tier of al) {
      if (!isList(tier)) continue;
      const urls = tier.filter(isBytes).map(text).filter((u) => u.length > 0);
      if (urls.length > 0) tiers.push(urls);
    }
    if (tiers.length > 0) m.announceList = tiers;
  }
  const comment = textKeyLenient(top, 'comment');
  if (comment !== undefined) m.comment = comment;
  const createdBy = textKeyLenient(top, 'created by');
  if (createdBy !== undefined) m.createdBy = createdBy;
  const cd = top.get('creation date');
  if (typeof cd === 'bigint' && cd >= 0n && cd <= BigInt(Number.MAX_SAFE_INTEGER)) m.creationDate = Number(cd);
  const ul = top.get('url-list');
  if (isBytes(ul) && ul.length > 0) m.urlList = [text(ul)];
  else if (isList(ul)) {
    const urls = ul.filter(isBytes).map(text).filter((u) => u.length > 0);
    if (urls.length > 0) m.urlList = urls;
  }
}

function optBytesLenient(d: BDict, key: string): Uint8Array | undefined {
  const v = d.get(key);
  return isBytes(v) ? v : undefined;
}
function textKeyLenient(d: BDict, key: string): string | undefined {
  const v = d.get(key + '.utf-8') ?? d.get(key);
  return isBytes(v) ? text(v) : undefined;
}
