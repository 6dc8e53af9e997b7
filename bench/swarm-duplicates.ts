/**
 * `npm run bench:duplicates`: how much a swarm of our peers downloads twice, and how long a
 * leecher sits at ≥ 99 % (testkit/swarm.ts; each peer in a process of its own).
 *
 * Cases:
 *   1-seeder-4-leechers   one seeder, four leechers given only the seeder (PEX wires them)
 *   1-seeder-4-leechers-wired  the same, each leecher also given the others' addresses
 *   1-seeder-4-leechers-split  the seeder serves each leecher a quarter: they must trade
 *   4-seeders-1-leecher   four seeders, one leecher given all four
 * `--mib N` torrent size (default 64), `--only a,b`, `--in-process` (one event loop).
 * Prints one line per leecher: bytes received twice (% of the torrent), time to 99 %,
 * time to complete, and the time between.
 */
import { duplicatePercent, formatReport, startSwarm, type SwarmOptions } from '../testkit/swarm.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const mib = Number(opt('--mib') ?? 64);
const only = opt('--only')?.split(',');
const processes = !args.includes('--in-process');

const cases: [string, Omit<SwarmOptions, 'bytes' | 'processes'>][] = [
  ['1-seeder-4-leechers', { seeders: 1, leechers: 4 }],
  ['1-seeder-4-leechers-wired', { seeders: 1, leechers: 4, wiring: 'all' }],
  ['1-seeder-4-leechers-split', { seeders: 1, leechers: 4, split: true }],
  ['4-seeders-1-leecher', { seeders: 4, leechers: 1 }],
];

async function main(): Promise<void> {
  for (const [name, o] of cases) {
    if (only !== undefined && !only.includes(name)) continue;
    const swarm = await startSwarm({ ...o, bytes: mib * 1024 * 1024, processes });
    try {
      const reports = await swarm.waitComplete(300_000);
      const bad = await swarm.badLeechers();
      const worst = Math.max(...reports.map(duplicatePercent));
      console.log(`${name} (${mib} MiB, ${processes ? 'processes' : 'one process'}): worst ${worst.toFixed(2)} % twice${bad.length > 0 ? `, BAD DATA at ${bad.join(' ')}` : ''}`);
      for (const r of reports) console.log(`  ${formatReport(r)}`);
    } finally {
      await swarm.close();
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
