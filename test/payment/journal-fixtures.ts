/** Fixtures the journal tests share: random keys and signatures, a fixed clock, temp files. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bs58 from 'bs58';
import { JournalError, type JournalOpenOptions } from '../../payment/journal.js';

export const sig = (): string => bs58.encode(crypto.randomBytes(64));
export const key = (): string => bs58.encode(crypto.randomBytes(32));
export const hex = (n: number): string => crypto.randomBytes(n).toString('hex');

export const DAY = 24 * 60 * 60_000;
/** The tests' clock: records "now" are near NOW, old ones days before. */
export const NOW = 1_795_000_000_000;

/** A journal path in a fresh temp folder, and its removal. */
export async function tmpJournal(prefix: string): Promise<{ dir: string; path: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, path: join(dir, 'journal'), done: () => rm(dir, { recursive: true, force: true }) };
}

/** No lock (tests abandon handles), the fixed clock, compaction only when asked. */
export const testOpts = (o: JournalOpenOptions = {}): JournalOpenOptions => ({ noLock: true, now: () => NOW, compactAfterBytes: 0, ...o });

export async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof JournalError && e.code === code);
}
