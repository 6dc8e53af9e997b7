/** Shared helpers for the loopback seeding / downloading tests (real TCP on 127.0.0.1). */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Metainfo } from '../format/metainfo.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import type { Torrent, TorrentEvents } from '../lib/engine/torrent.js';

export interface Fixture {
  root: string;
  seedDir: string;
  torrent: Buffer;
  meta: Metainfo;
  /** sha256 hex per file path (relative, joined with '/'), torrent name first. */
  hashes: Map<string, string>;
  cleanup(): Promise<void>;
}

/** Files with lengths that do not align with pieces (one shorter than a piece, an empty one). */
export const DEFAULT_FILES: [string, number][] = [
  ['a.bin', 1_000_003],
  ['sub/b.bin', 2_500_017],
  ['sub/empty', 0],
  ['sub/deep/c.bin', 7_001],
  ['d.bin', 1_700_000],
];

export async function makeFixture(opts: { files?: [string, number][]; pieceLength?: number; name?: string } = {}): Promise<Fixture> {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-t-'));
  const name = opts.name ?? 'content';
  const seedDir = join(root, 'seed');
  const hashes = new Map<string, string>();
  for (const [rel, len] of opts.files ?? DEFAULT_FILES) {
    const p = join(seedDir, name, rel);
    await mkdir(dirname(p), { recursive: true });
    const data = randomBytes(len);
    await writeFile(p, data);
    hashes.set(`${name}/${rel}`, createHash('sha256').update(data).digest('hex'));
  }
  const { torrent, metainfo } = await createTorrentFromPath(join(seedDir, name), { pieceLength: opts.pieceLength ?? 65536 });
  return { root, seedDir, torrent, meta: metainfo, hashes, cleanup: () => rm(root, { recursive: true, force: true }) };
}

export async function sha256File(p: string): Promise<string> {
  return createHash('sha256').update(await readFile(p)).digest('hex');
}

/** Every file of the fixture under `dir` matches its sha256. */
export async function checkFiles(fx: Fixture, dir: string): Promise<string[]> {
  const bad: string[] = [];
  for (const [rel, h] of fx.hashes) {
    let got: string;
    try { got = await sha256File(join(dir, rel)); } catch { got = 'missing'; }
    if (got !== h) bad.push(rel);
  }
  return bad;
}

/** Resolve on `event`, reject after `ms` (names the event) or on the torrent's 'error'. */
export function waitEvent<K extends keyof TorrentEvents>(t: Torrent, event: K, ms = 20_000): Promise<TorrentEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for '${String(event)}' (${t.progress().have}/${t.progress().total} pieces)`)), ms);
    t.once(event, (...args: TorrentEvents[K]) => { clearTimeout(timer); resolve(args); });
  });
}

/** Resolves when the torrent has all pieces (at once if it already has). */
export function whenDone(t: Torrent, ms = 20_000): Promise<void> {
  if (t.isComplete) return Promise.resolve();
  return waitEvent(t, 'done', ms).then(() => undefined);
}

/** `t` gets every piece (within `ms`) and every fixture file under `dir` matches its sha256. */
export async function assertDownloaded(t: Torrent, fx: Fixture, dir: string, ms = 20_000): Promise<void> {
  await whenDone(t, ms);
  assert.deepEqual(await checkFiles(fx, dir), [], `every file under ${dir} matches its sha256`);
}
