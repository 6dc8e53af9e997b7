/**
 * Where the channel program's binary lives in a checkout, and how to (re)build it:
 * program/build.sh compiles program/channel/channel.c into
 * program/channel/build/seedpay_channel.so (docs/CHANNEL-PROGRAM.md). The local ledger
 * loads it from there; tests build it when it is missing or older than its source.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHANNEL_PROGRAM_SO = path.join('program', 'channel', 'build', 'seedpay_channel.so');
export const CHANNEL_PROGRAM_SOURCE = path.join('program', 'channel', 'channel.c');
export const CHANNEL_PROGRAM_KEYPAIR = path.join('program', 'channel', 'program-keypair.json');
const BUILD_SCRIPT = path.join('program', 'build.sh');

/** The checkout holding this module (from the sources or from dist/), or null when installed elsewhere. */
export function checkoutRoot(): string | null {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'program', 'channel'))) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

/** The built program in this checkout, or null when it was not built (or there is no checkout). */
export function defaultChannelProgramPath(): string | null {
  const root = checkoutRoot();
  if (root === null) return null;
  const so = path.join(root, CHANNEL_PROGRAM_SO);
  return existsSync(so) ? so : null;
}

export class ChannelBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelBuildError';
  }
}

/**
 * Build the program when the binary is missing or older than channel.c, sol.h or the linker.
 * Returns the .so path; throws ChannelBuildError with the build's output when it fails
 * (clang missing, say).
 */
export function ensureChannelProgramBuilt(root: string | null = checkoutRoot()): string {
  if (root === null) throw new ChannelBuildError('no checkout with program/channel/ above this module');
  const so = path.join(root, CHANNEL_PROGRAM_SO);
  const inputs = [CHANNEL_PROGRAM_SOURCE, path.join('program', 'sol.h'), path.join('program', 'sbflink.py'), BUILD_SCRIPT];
  const built = existsSync(so) ? statSync(so).mtimeMs : -1;
  if (built >= 0 && inputs.every((f) => statSync(path.join(root, f)).mtimeMs <= built)) return so;
  const r = spawnSync('sh', [path.join(root, BUILD_SCRIPT)], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0 || !existsSync(so)) {
    throw new ChannelBuildError(`program/build.sh failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim()}`);
  }
  return so;
}
