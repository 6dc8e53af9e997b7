/**
 * Start and watch the seller child process (seller-child.ts) that the restart and
 * SIGKILL tests kill and restart: it prints `READY <port>` once listening and
 * `CREDITED <signature>` for each payment it journaled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromTs = import.meta.url.endsWith('.ts');
const CHILD = join(here, fromTs ? 'seller-child.ts' : 'seller-child.js');

export interface SellerChild { proc: ChildProcess; port: number; credited: string[] }

export function startSellerChild(config: object): Promise<SellerChild> {
  const args = fromTs ? ['--import', 'tsx', CHILD, JSON.stringify(config)] : [CHILD, JSON.stringify(config)];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const credited: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`seller child not ready: ${stderr}`)); }, 30_000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`seller child exited ${code}: ${stderr}`)); });
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('CREDITED ')) credited.push(l.slice(9));
      if (l.startsWith('READY ')) { clearTimeout(timer); resolve({ proc, port: Number(l.slice(6)), credited }); }
    });
  });
}

/** Resolves once the process has exited (at once if it already has). */
export function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}
