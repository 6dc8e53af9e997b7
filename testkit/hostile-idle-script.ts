/**
 * The programs of the idle-flood case (seeder, leecher, flood) live next to this file:
 * the case and its tests start them as node commands, from sources (tsx) or from the
 * compiled tree alike.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A script next to this one, as a node command (tsx when running from sources). */
export function nodeScript(name: string): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const script = path.join(path.dirname(here), `${name}${ext}`);
  if (!existsSync(script)) throw new Error(`no ${script}`);
  return ext === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', script] } : { cmd: process.execPath, args: [script] };
}
