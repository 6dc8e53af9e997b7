import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout this module belongs to (from the sources or from dist/). */
export function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'wire'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('no checkout above this module');
  }
}
