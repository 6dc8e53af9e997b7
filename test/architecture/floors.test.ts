/**
 * The dependency rules (.dependency-cruiser.cjs) run before every `npm test`; these
 * tests show they bite: a small tree with one breach of each rule fails the check,
 * and this checkout passes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './repo-root.js';

const ROOT = repoRoot();
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string, dirs: readonly string[]): { status: number | null; out: string } {
  const r = spawnSync(DEPCRUISE, ['--config', CONFIG, ...dirs], { cwd, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('dependency rules: each breach in a sample tree is reported and fails the check', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'floors-'));
  try {
    const file = (rel: string, text: string): void => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    };
    file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
    file('package.json', JSON.stringify({ type: 'module' }));
    file('wire/frame.ts', "import { x } from '../lib/x.js';\nexport const f = x;\n");
    file('format/torrent.ts', "import { e } from '../extensions/ext.js';\nexport const t = e;\n");
    file('discovery/tracker.ts', "import { createSocket } from 'node:dgram';\nimport { p } from '../payment/pay.js';\nexport const d = [createSocket, p];\n");
    file('payment/pay.ts', "import { e } from '../extensions/ext.js';\nexport const p = e;\n");
    file('extensions/ext.ts', "import { readFileSync } from 'node:fs';\nimport { x } from '../lib/x.js';\nexport const e = [x, readFileSync];\n");
    file('lib/x.ts', "import { y } from './y.js';\nexport const x = () => y;\n");
    file('lib/y.ts', "import { x } from './x.js';\nexport const y = () => x;\n");
    file('lib/z.ts', "import { t } from '../test/t.js';\nexport const z = t;\n");
    file('test/t.ts', "import { b } from '../bench/b.js';\nexport const t = b;\n");
    file('bench/b.ts', "import { t } from '../test/t.js';\nexport const b = t;\n");
    const r = cruise(dir, ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib', 'test', 'bench']);
    assert.notEqual(r.status, 0, r.out);
    for (const rule of ['no-circular', 'wire-floor', 'format-floor', 'discovery-floor', 'payment-floor', 'extensions-floor', 'lib-floor', 'test-floor', 'bench-floor', 'sans-io-no-node-modules']) {
      assert.match(r.out, new RegExp(`error ${rule}:`), `${rule} not reported:\n${r.out}`);
    }
    // discovery/ is a protocol floor: a node: module there is a sans-IO breach of its own.
    assert.match(r.out, /sans-io-no-node-modules: discovery\/tracker\.ts/, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dependency rules: this checkout passes them', () => {
  const r = cruise(ROOT, ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib', 'testkit', 'bench', 'fuzz', 'test', 'examples']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /no dependency violations found/);
});
