/**
 * `npm run fuzz -- --seconds N`: fuzz every target for a share of N seconds (coverage
 * guided unless --no-coverage), print executions and rates per target, corpus growth
 * and failures; exit 1 if anything failed.
 *
 *   --seconds N        total time (default 60), split evenly between the targets
 *   --target a,b       only these targets
 *   --no-coverage      plain fast-check generation (to compare rates)
 *   --batch N          inputs per coverage take (default: adaptive, takes ≈ 1/5 of exec time)
 *   --seed N           fast-check seed (default: from the clock; printed, so a run can be repeated)
 *   --save             write inputs that reached new coverage to fuzz/corpus/<target>/
 *   --no-save-failures do not write failing inputs to fuzz/regressions/<target>/
 *   --hang-seconds N   an execution running this long is a hang: saved, printed, process killed (default 20)
 *   --verbose          also print each target's slowest input
 *   --list             list the targets and exit
 */
import { pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzTarget } from './target.js';
import { Coverage } from './coverage.js';
import { Watchdog } from './watchdog.js';
import { fuzzTarget, type TargetReport } from './engine.js';
import { corpusDir, loadDir, projectRoot, regressionsDir, saveInput, inputName } from './corpus.js';
import { bytesEqual } from './target.js';

interface Args {
  seconds: number; targets: string[] | null; coverage: boolean; batch: number | undefined; seed: number;
  save: boolean; saveFailures: boolean; list: boolean; verbose: boolean; hangSeconds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 60, targets: null, coverage: true, batch: undefined, seed: Date.now() % 0x7fffffff, save: false, saveFailures: true, list: false, verbose: false, hangSeconds: 20 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    switch (k) {
      case '--seconds': a.seconds = Number(val()); break;
      case '--target': case '--targets': a.targets = val().split(',').filter(Boolean); break;
      case '--no-coverage': a.coverage = false; break;
      case '--batch': a.batch = Number(val()); break;
      case '--seed': a.seed = Number(val()); break;
      case '--save': a.save = true; break;
      case '--no-save-failures': a.saveFailures = false; break;
      case '--list': a.list = true; break;
      case '--verbose': a.verbose = true; break;
      case '--hang-seconds': a.hangSeconds = Number(val()); break;
      default: throw new Error(`unknown argument ${k}`);
    }
  }
  if (!(a.seconds > 0)) throw new Error('--seconds must be positive');
  if (!(a.hangSeconds > 0)) throw new Error('--hang-seconds must be positive');
  if (a.batch !== undefined && !(Number.isInteger(a.batch) && a.batch >= 1)) throw new Error('--batch must be a positive integer');
  return a;
}

function hex(b: Uint8Array, max = 96): string {
  const h = Buffer.from(b.subarray(0, max)).toString('hex');
  return b.length > max ? `${h}… (${b.length} bytes)` : `${h} (${b.length} bytes)`;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const root = projectRoot();
  // Coverage counts only the project's compiled modules, not the fuzz harness or node_modules.
  const distRoot = pathToFileURL(dirname(dirname(fileURLToPath(import.meta.url)))).href + '/';
  const cov = args.coverage && !args.list
    ? new Coverage((url) => url.startsWith(distRoot) && !url.includes('/fuzz/') && !url.includes('/node_modules/') && !url.includes('/test/'))
    : null;
  // Start coverage BEFORE the modules under test are loaded: V8 gives block counters only
  // to functions compiled after that (earlier ones report whole-function counts).
  cov?.start();
  const { TARGETS } = await import('./targets/index.js') as { TARGETS: readonly FuzzTarget[] };
  if (args.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(14)} ${t.about}`);
    return 0;
  }
  const targets = args.targets === null ? TARGETS : args.targets.map((n) => {
    const t = TARGETS.find((x) => x.name === n);
    if (t === undefined) throw new Error(`no target '${n}' (have: ${TARGETS.map((x) => x.name).join(', ')})`);
    return t;
  });
  console.log(`fuzz: ${targets.length} targets, ${args.seconds} s, coverage ${cov ? `on (batch ${args.batch ?? 'adaptive'})` : 'off'}, seed ${args.seed}, corpus ${join(root, 'fuzz', 'corpus')}`);
  const share = (args.seconds * 1000) / targets.length;
  const watchdog = new Watchdog(args.hangSeconds * 1000, root, targets.map((t) => t.name));
  const reports: TargetReport[] = [];
  for (const [i, t] of targets.entries()) {
    const corpus: Uint8Array[] = [];
    const push = (b: Uint8Array): void => { if (!corpus.some((c) => bytesEqual(c, b))) corpus.push(b); };
    for (const s of t.seeds()) push(s);
    for (const f of loadDir(corpusDir(root, t.name))) push(f.bytes);
    for (const f of loadDir(regressionsDir(root, t.name))) push(f.bytes);
    watchdog.setTarget(t.name);
    const rep = fuzzTarget(t, corpus, { ms: share, seed: args.seed + i, coverage: cov, beforeExec: (x) => watchdog.beat(x), ...(args.batch !== undefined ? { batch: args.batch } : {}) });
    reports.push(rep);
    const rate = rep.execs / (rep.ms / 1000);
    const replays = cov ? ` (+${rep.replays} replays)` : '';
    console.log(`${t.name.padEnd(14)} ${String(rep.execs).padStart(9)} execs ${rate.toFixed(0).padStart(7)}/s${replays}  corpus ${rep.corpusStart} → ${rep.corpusEnd} (+${rep.added.length})`
      + `${cov ? `  features ${rep.features} batch ${rep.batch}` : ''}  slowest ${rep.slowestMs.toFixed(1)} ms  rss ${(rep.peakRss / 2 ** 20).toFixed(0)} MiB  failures ${rep.failures.length}`);
    if (args.verbose && rep.slowestInput !== null) console.log(`  slowest input ${hex(rep.slowestInput)}`);
    if (args.save) for (const b of rep.added) saveInput(corpusDir(root, t.name), b);
    for (const f of rep.failures) {
      console.log(`  FAIL ${f.signature}\n    ${f.message.split('\n')[0]}\n    input ${hex(f.input)}`);
      const top = f.stack.split('\n').filter((l) => l.trim().startsWith('at ')).slice(0, 4);
      for (const l of top) console.log(`    ${l.trim()}`);
      if (args.saveFailures) console.log(`    saved ${saveInput(regressionsDir(root, t.name), f.input)}`);
      else console.log(`    (not saved: ${inputName(f.input)})`);
    }
  }
  cov?.stop();
  await watchdog.stop();
  const total = reports.reduce((a, r) => a + r.execs, 0);
  const failures = reports.reduce((a, r) => a + r.failures.length, 0);
  const added = reports.reduce((a, r) => a + r.added.length, 0);
  console.log(`total ${total} execs, ${added} corpus additions${args.save ? ' (saved)' : ''}, ${failures} failures`);
  return failures > 0 ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
});
