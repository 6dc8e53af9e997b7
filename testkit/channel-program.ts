/**
 * The channel escrow binary for tests: built on demand (program/build.sh) when missing or
 * older than its source. Without clang the tests that need it are skipped, except with
 * CI=true, where a missing compiler FAILS them (CI installs clang in .ci/run).
 */
import { ChannelBuildError, ensureChannelProgramBuilt } from '../payment/channel/program-binary.js';
import { isCI, type Skippable } from './clients.js';

let cached: { so: string } | { error: string } | null = null;

/** The .so path, or null after marking `t` skipped (never null with CI=true: it throws). */
export function requireChannelProgram(t?: Skippable, env: NodeJS.ProcessEnv = process.env): string | null {
  if (cached === null) {
    try {
      cached = { so: ensureChannelProgramBuilt() };
    } catch (e) {
      if (!(e instanceof ChannelBuildError)) throw e;
      cached = { error: e.message };
    }
  }
  if ('so' in cached) return cached.so;
  const msg = `channel program not built: ${cached.error} (apt-get install clang)`;
  if (isCI(env)) throw new Error(`${msg} — required when CI=true`);
  if (t) t.skip(msg);
  else process.stderr.write(`SKIP ${msg}\n`);
  return null;
}
