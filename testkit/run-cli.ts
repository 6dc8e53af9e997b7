/**
 * Running the `seedpay` CLI as a user does, in a child process (CLI tests, attack runs):
 * `startCli` for a long-running command (ledger, seed) the test stops itself,
 * `runCli` for one that must exit by itself, and `assertOneLine` for the project's
 * bad-input rule (one "seedpay: …" line on stderr, a non-zero exit, no stack trace).
 * Under tsx the .ts entry point runs through `--import tsx`; compiled, the .js one.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const fromTs = import.meta.url.endsWith('.ts');
/** lib/cli/main, the `seedpay` entry point, as this test build has it. */
export const MAIN = join(here, '..', 'lib', 'cli', fromTs ? 'main.ts' : 'main.js');

/** How a finished run ended, with everything it printed. */
export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** A command still running. */
export interface Running {
  child: ChildProcess;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (and its output is closed). */
  exited: Promise<Run>;
}

/**
 * Start `seedpay ARGS…` with `env` on top of this process's environment.
 * SEEDPAY_DEBUG is cleared so that an error prints as the user sees it (no stack).
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const nodeArgs = fromTs ? ['--import', 'tsx', MAIN, ...args] : [MAIN, ...args];
  const child = spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SEEDPAY_DEBUG: '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<Run>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/**
 * Run `seedpay ARGS…` to completion. It must exit by itself within `ms`: otherwise it
 * is killed and this rejects, naming the command and what it printed on stderr.
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, ms = 60_000): Promise<Run> {
  const r = startCli(args, env);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), ms);
  const res = await r.exited;
  clearTimeout(timer);
  if (res.signal !== null) throw new Error(`seedpay ${args.join(' ')} did not exit by itself within ${ms} ms (${res.signal}); stderr: ${res.stderr}`);
  return res;
}

/** Node's own warnings, which are not the CLI's output. */
const NODE_NOISE = /^npm warn|ExperimentalWarning|--trace-warnings/;

/**
 * The bad-input rule: a non-zero exit (exactly `opts.code` when given) and exactly one
 * stderr line, "seedpay: …" matching `pattern`, with no stack frames. Lines matching
 * `opts.ignore` (e.g. progress lines printed before the failure) are not counted.
 */
export function assertOneLine(r: Run, pattern: RegExp, opts: { code?: number; ignore?: RegExp } = {}): void {
  assert.notEqual(r.code, 0, `non-zero exit expected; stdout ${r.stdout}; stderr ${r.stderr}`);
  if (opts.code !== undefined) assert.equal(r.code, opts.code);
  const { ignore } = opts;
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !NODE_NOISE.test(l) && !(ignore?.test(l) ?? false));
  assert.equal(lines.length, 1, `one line expected, got:\n${r.stderr}`);
  assert.match(lines[0], /^seedpay: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}
