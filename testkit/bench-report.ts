/**
 * The benchmark output contract of BENCH.md: ours and a baseline measured in the
 * same run, alternating, several times; medians, extremes and their ratio.
 * With `--json` each case is one JSON line on stdout and nothing else goes there.
 */

export type Better = 'higher' | 'lower';

export interface BenchCase {
  bench: string;
  case: string;
  unit: string;
  ours: number;
  baseline: number | null;
  baseline_name: string | null;
  ratio: number | null;
  runs: number;
  min: number;
  max: number;
  better?: 'lower';
  /** Free-form extra figures (e.g. CPU seconds, peak RSS) that belong to this case. */
  extra?: Record<string, number | string | null>;
}

export const jsonMode: boolean = process.argv.includes('--json');
export const quickMode: boolean = process.argv.includes('--quick');

/** `--runs N`: how many alternating runs of ours and the baseline (`fallback` when absent). */
export function parseRuns(fallback = 3): number {
  const i = process.argv.indexOf('--runs');
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error('--runs needs a positive integer');
  return n;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** Build a case from raw per-run samples of ours and (optionally) the baseline. */
export function makeCase(args: {
  bench: string; case: string; unit: string; ours: readonly number[];
  baseline?: readonly number[] | null; baselineName?: string | null; better?: Better;
  extra?: Record<string, number | string | null>;
}): BenchCase {
  const ours = median(args.ours);
  const base = args.baseline && args.baseline.length > 0 ? median(args.baseline) : null;
  const c: BenchCase = {
    bench: args.bench,
    case: args.case,
    unit: args.unit,
    ours: round(ours),
    baseline: base === null ? null : round(base),
    baseline_name: base === null ? null : (args.baselineName ?? null),
    ratio: base === null || base === 0 ? null : round(ours / base),
    runs: args.ours.length,
    min: round(Math.min(...args.ours)),
    max: round(Math.max(...args.ours)),
  };
  if (args.better === 'lower') c.better = 'lower';
  if (args.extra) c.extra = args.extra;
  return c;
}

/** Print one case: a JSON line with --json, a readable line otherwise. */
export function report(c: BenchCase): void {
  if (jsonMode) {
    process.stdout.write(JSON.stringify(c) + '\n');
    return;
  }
  const base = c.baseline === null ? 'no baseline' : `${c.baseline_name}: ${c.baseline} ${c.unit}`;
  const ratio = c.ratio === null ? '' : `  ratio ${c.ratio}x${c.better === 'lower' ? ' (lower is better)' : ''}`;
  const extra = c.extra ? '  ' + Object.entries(c.extra).map(([k, v]) => `${k}=${v}`).join(' ') : '';
  process.stdout.write(`${c.bench}/${c.case}: ours ${c.ours} ${c.unit} [${c.min}..${c.max}, ${c.runs} runs]  ${base}${ratio}${extra}\n`);
}

/** Progress and commentary go to stderr so `--json` stdout stays clean. */
export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}
