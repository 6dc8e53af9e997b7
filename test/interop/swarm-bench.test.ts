/**
 * bench/swarm.ts end to end in its smallest form, so the benchmark cannot rot: the
 * many-seeders case with --quick --json (4 libtorrent seeders, 4 solo leechers of ours,
 * our leecher and libtorrent's, each its own process), checked for the BENCH.md output
 * contract and for every file having passed sha256 — never for speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireClient } from '../../testkit/clients.js';
import { scopeFor } from '../../testkit/ours-helpers.js';

const TIMEOUT_MS = 90_000;

/** bench/swarm next to this build (dist/test/interop → dist/bench), or the .ts source under tsx. */
function benchCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const script = path.resolve(path.dirname(here), '..', '..', 'bench', `swarm${ext}`);
  assert.ok(existsSync(script), `no ${script}`);
  return ext === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', script] } : { cmd: process.execPath, args: [script] };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const { cmd, args: pre } = benchCommand();
  return new Promise((resolve) => {
    execFile(cmd, [...pre, ...args], { env, timeout: TIMEOUT_MS - 10_000, maxBuffer: 4 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

test('bench:swarm --quick --only many-seeders --json: one contract line, every file sha256-checked', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'swarm-bench');
  const env = { ...process.env, SEEDPAY_BENCH_DATA: await s.tempDir('bench-data') };
  const r = await run(['--quick', '--only', 'many-seeders', '--json'], env);
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout holds only the JSON line:\n${r.stdout}`);
  const j = JSON.parse(lines[0]) as Record<string, unknown> & { extra: Record<string, unknown> };
  assert.equal(j.bench, 'swarm');
  assert.equal(j.case, 'many-seeders');
  assert.equal(j.unit, 'MB/s');
  for (const k of ['ours', 'baseline', 'ratio', 'min', 'max']) assert.equal(typeof j[k], 'number', k);
  assert.equal(j.runs, 1);
  assert.match(String(j.baseline_name), /^libtorrent-/);
  assert.ok((j.ours as number) > 0 && (j.baseline as number) > 0);
  const x = j.extra;
  for (const k of ['fraction_of_solo_sum', 'baseline_fraction_of_solo_sum', 'solo_sum_MBps', 'dup_pct', 'baseline_dup_pct',
    'leecher_cpu_s', 'baseline_leecher_cpu_s', 'leecher_peak_rss_MiB', 'baseline_leecher_peak_rss_MiB', 'seeders_cpu_s', 'load_avg_1m']) {
    assert.equal(typeof x[k], 'number', `extra.${k}`);
  }
  assert.ok((x.fraction_of_solo_sum as number) > 0);
  assert.ok((x.leecher_peak_rss_MiB as number) > 10, 'a Node process has a peak RSS above 10 MiB');
  // 4 solo leechers + our leecher + libtorrent's leecher, each file compared by sha256
  assert.equal(x.sha256_ok, 6);
});

test('bench:swarm exits non-zero when asked for a case it does not have', { timeout: TIMEOUT_MS }, async () => {
  const r = await run(['--only', 'no-such-case', '--json'], process.env);
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no case no-such-case/);
});
