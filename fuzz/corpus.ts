/**
 * Corpus and regression files: fuzz/corpus/<target>/<sha1-16>.bin (inputs worth
 * mutating: the committed seeds and what coverage guidance saved) and
 * fuzz/regressions/<target>/<sha1-16>.bin (inputs that once failed, kept forever and
 * replayed by test/fuzz/regressions.test.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest parent holding package.json, else the working directory. */
export function projectRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'fuzz'))) return d;
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  return process.cwd();
}

export const corpusDir = (root: string, target: string): string => join(root, 'fuzz', 'corpus', target);
export const regressionsDir = (root: string, target: string): string => join(root, 'fuzz', 'regressions', target);

export function inputName(b: Uint8Array): string {
  return createHash('sha1').update(b).digest('hex').slice(0, 16) + '.bin';
}

/** Files of a directory (sorted by name), or none if it does not exist. */
export function loadDir(dir: string): { name: string; bytes: Uint8Array }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.bin')).sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

/** Write an input under its content name; returns the path (unchanged if already there). */
export function saveInput(dir: string, b: Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, inputName(b));
  if (!existsSync(p)) writeFileSync(p, b);
  return p;
}
