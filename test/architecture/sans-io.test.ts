/**
 * Protocol floors are sans-IO: time comes in as `now`, and nothing schedules work.
 * The dependency rules keep node: modules out of wire/, format/, discovery/ and extensions/;
 * timers and clocks are globals a dependency graph cannot see, so they are looked
 * for here, in the sources (comments aside).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './repo-root.js';

const FORBIDDEN = /\b(setTimeout|setInterval|setImmediate|queueMicrotask|Date\.now|performance\.now|process\.hrtime)\b/;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (n.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The source without comments (string contents are kept: they are code to this check). */
export function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function timerUses(src: string): string[] {
  return stripComments(src).split('\n').filter((l) => FORBIDDEN.test(l)).map((l) => l.trim());
}

test('sans-io check: finds a timer or a clock in code, not in comments', () => {
  assert.deepEqual(timerUses('const t = setTimeout(f, 1);'), ['const t = setTimeout(f, 1);']);
  assert.deepEqual(timerUses('x = Date.now() + 1'), ['x = Date.now() + 1']);
  assert.deepEqual(timerUses('// setTimeout here is prose\n/* Date.now() */ const a = 1;'), []);
});

for (const floor of ['wire', 'format', 'discovery', 'extensions']) {
  test(`sans-io: no timer or clock in ${floor}/`, () => {
    const found: string[] = [];
    for (const f of tsFiles(path.join(repoRoot(), floor))) {
      for (const line of timerUses(readFileSync(f, 'utf8'))) found.push(`${path.relative(repoRoot(), f)}: ${line}`);
    }
    assert.deepEqual(found, []);
  });
}
