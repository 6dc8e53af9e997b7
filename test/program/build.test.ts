/**
 * The program build: deterministic, loud without a compiler, and a missing compiler fails
 * the program tests under CI=true instead of skipping them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decideChannelProgram, requireChannelProgram } from '../../testkit/channel-program.js';
import { repoRoot } from '../architecture/repo-root.js';

function copyProgramTree(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'seedpay-prog-'));
  cpSync(path.join(repoRoot(), 'program'), path.join(dir, 'program'), { recursive: true, filter: (src) => !src.includes(`${path.sep}build`) || src.endsWith('build.sh') });
  return dir;
}

test('build.sh fails loudly (exit 1, names clang) when the compiler is missing', () => {
  const dir = copyProgramTree();
  try {
    const r = spawnSync('sh', [path.join(dir, 'program', 'build.sh')], { encoding: 'utf8', env: { ...process.env, CC: 'clang-that-does-not-exist' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /clang-that-does-not-exist not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the build is deterministic: a fresh copy builds the same bytes', (t) => {
  const so = requireChannelProgram(t);
  if (so === null) return;
  const dir = copyProgramTree();
  try {
    const r = spawnSync('sh', [path.join(dir, 'program', 'build.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const h = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    assert.equal(h(path.join(dir, 'program', 'channel', 'build', 'seedpay_channel.so')), h(so));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a built program: skipped locally, a failure with CI=true', () => {
  const skipped: string[] = [];
  const t = { skip: (m?: string) => { skipped.push(m ?? ''); } };
  assert.equal(decideChannelProgram({ error: 'clang not found' }, t, false), null);
  assert.match(skipped[0], /clang not found/);
  assert.throws(() => decideChannelProgram({ error: 'clang not found' }, t, true), /required when CI=true/);
  assert.equal(decideChannelProgram({ so: '/x.so' }, t, true), '/x.so');
});
