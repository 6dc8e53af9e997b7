/**
 * Hostile peers vs honest speed and seeder memory: see testkit/hostile-bench.ts, which
 * holds the runs (the tests drive single runs of it too).
 *
 *   node dist/bench/hostile.js [--quick] [--json] [--runs N] [--only a,b,…] [--loops N] [--no-throttle]
 */
import { hostileBenchMain } from '../testkit/hostile-bench.js';

hostileBenchMain().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`FATAL ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
