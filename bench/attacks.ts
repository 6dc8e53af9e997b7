/**
 * What each money attack costs its victim (testkit/money-attacks.ts), one JSON line
 * per attack with `--json`:
 *   {"attack", "victim", "lost_base_units", "bound_base_units", "unpaid_bytes", "outcome"}
 *   node dist/bench/attacks.js [--json] [--only a,b]
 * Exit status 1 when a victim lost more than the bound, or an attack could not run.
 */
import { MONEY_ATTACKS, runAttack } from '../testkit/money-attacks.js';
import { jsonMode, log } from '../testkit/bench-report.js';

async function main(): Promise<number> {
  const i = process.argv.indexOf('--only');
  const only = i > 0 ? process.argv[i + 1]?.split(',') ?? [] : null;
  let status = 0;
  for (const a of MONEY_ATTACKS) {
    if (only !== null && !only.includes(a.name)) continue;
    try {
      const r = await runAttack(a);
      if (r.lost_base_units > r.bound_base_units) status = 1;
      if (jsonMode) process.stdout.write(`${JSON.stringify(r)}\n`);
      else log(`${r.attack.padEnd(28)} ${r.victim.padEnd(6)} lost ${r.lost_base_units} (bound ${r.bound_base_units}), unpaid ${r.unpaid_bytes} B: ${r.outcome}`);
    } catch (e) {
      status = 1;
      log(`${a.name}: could not run: ${(e as Error).stack ?? String(e)}`);
    }
  }
  return status;
}

main().then((code) => process.exit(code), (e: unknown) => { process.stderr.write(`FATAL ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
