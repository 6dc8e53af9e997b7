/**
 * The channel escrow binary for tests: built on demand (program/build.sh) when missing or
 * older than its source. Without clang the tests that need it are skipped, except with
 * CI=true, where a missing compiler FAILS them (CI installs clang in .ci/run).
 */
import { ChannelBuildError, ensureChannelProgramBuilt } from '../payment/channel/program-binary.js';
import { isCI, type Skippable } from './clients.js';

type BuildOutcome = { so: string } | { error: string };
let cached: BuildOutcome | null = null;

/** What a test does with a build outcome: the .so path, or null after skipping `t` (CI: throws). */
export function decideChannelProgram(outcome: BuildOutcome, t: Skippable | undefined, ci: boolean): string | null {
  if ('so' in outcome) return outcome.so;
  const msg = `channel program not built: ${outcome.error} (apt-get install clang)`;
  if (ci) throw new Error(`${msg} — required when CI=true`);
  if (t) t.skip(msg);
  else process.stderr.write(`SKIP ${msg}\n`);
  return null;
}

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
  return decideChannelProgram(cached, t, isCI(env));
}
