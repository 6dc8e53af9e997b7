/**
 * Write every target's built-in seeds to fuzz/corpus/<target>/ (content-named, so
 * re-running adds nothing twice). `node dist/fuzz/seed-corpus.js`
 */
import { TARGETS } from './targets/index.js';
import { corpusDir, projectRoot, saveInput } from './corpus.js';

const root = projectRoot();
for (const t of TARGETS) {
  const seeds = t.seeds();
  for (const s of seeds) saveInput(corpusDir(root, t.name), s);
  console.log(`${t.name}: ${seeds.length} seeds → ${corpusDir(root, t.name)}`);
}
