/**
 * CI's short fuzz pass, part 1: every committed corpus input and every input that once
 * failed (fuzz/regressions/<target>/) goes through its target and must pass: parse, or
 * fail with the module's typed error, and keep the target's invariants.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TARGETS, targetByName } from '../../fuzz/targets/index.js';
import { runOne } from '../../fuzz/target.js';
import { corpusDir, loadDir, projectRoot, regressionsDir } from '../../fuzz/corpus.js';

const root = projectRoot();

test('every corpus and regression directory belongs to a target', () => {
  for (const kind of ['corpus', 'regressions']) {
    const dir = join(root, 'fuzz', kind);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) assert.ok(targetByName(name), `fuzz/${kind}/${name} has no target`);
  }
});

for (const t of TARGETS) {
  test(`${t.name}: committed corpus and regressions pass`, () => {
    const corpus = loadDir(corpusDir(root, t.name));
    assert.ok(corpus.length > 0, `fuzz/corpus/${t.name} is empty (run dist/fuzz/seed-corpus.js)`);
    const all = [...corpus, ...loadDir(regressionsDir(root, t.name))];
    for (const { name, bytes } of all) {
      const f = runOne(t, bytes);
      assert.equal(f, null, f === null ? '' : `${t.name}/${name}: ${f.signature}\n${f.stack}`);
    }
  });
}
