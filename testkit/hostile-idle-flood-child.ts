/**
 * The idle flood (testkit/hostile-idle-flood.ts) as a process of its own, driven over
 * IPC by testkit/hostile-idle-flood-process.ts. Out of the driver's process, the
 * attacker's CPU (opening and reopening thousands of sockets) can be run at the lowest
 * priority and counted apart: on a real network it is spent on the attackers' machines,
 * not on the seeder's cores.
 *
 * Messages in:  start {port, host, addresses, perAddress} · stats · stop
 * Messages out: ready {open, nice} · stats {…IdleFloodStats, cpuS, failure} ·
 *               stopped · failed {message}
 * A failure to open any socket (or too low a file limit) is sent as `failed`; one
 * after `ready` is reported in the next `stats`. The process exits once stopped, or
 * when its driver goes away (IPC channel closed).
 */
import { getPriority } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IdleFlood, type IdleFloodStats } from './hostile-idle-flood.js';

export type FloodRequest =
  | { type: 'start'; port: number; host: string; addresses: number; perAddress: number }
  | { type: 'stats' }
  | { type: 'stop' };

export type FloodReply =
  | { type: 'ready'; open: number; nice: number }
  | ({ type: 'stats'; cpuS: number; failure: string | null } & IdleFloodStats)
  | { type: 'stopped' }
  | { type: 'failed'; message: string };

function main(): void {
  const send = (m: FloodReply, then?: () => void): void => { process.send?.(m, undefined, undefined, then); };
  let flood: IdleFlood | null = null;
  // CPU from the start request on: node's own start-up is not the attack's.
  let cpu0: NodeJS.CpuUsage | null = null;
  process.on('message', (m: FloodRequest) => {
    if (m.type === 'start') {
      if (flood !== null) return send({ type: 'failed', message: 'idle flood child: started twice' });
      cpu0 = process.cpuUsage();
      const f = new IdleFlood(m.port, m.addresses, m.perAddress, m.host);
      flood = f;
      f.start().then(
        () => send({ type: 'ready', open: f.stats().open, nice: getPriority() }),
        (e: unknown) => { f.stop(); send({ type: 'failed', message: (e as Error).message }); },
      );
    } else if (m.type === 'stats') {
      if (flood === null) return send({ type: 'failed', message: 'idle flood child: stats before start' });
      const cpu = process.cpuUsage(cpu0 ?? undefined);
      let failure: string | null = null;
      try { flood.check(); } catch (e) { failure = (e as Error).message; }
      send({ type: 'stats', ...flood.stats(), cpuS: (cpu.user + cpu.system) / 1e6, failure });
    } else if (m.type === 'stop') {
      flood?.stop();
      flood = null;
      // disconnect once the reply is written: the 'disconnect' handler then exits
      send({ type: 'stopped' }, () => process.disconnect());
    }
  });
  // The driver died or let go: nothing is to be held for anyone.
  process.once('disconnect', () => {
    flood?.stop();
    process.exit(0);
  });
}

// Run only as a program: the controller imports its message types from here.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  if (process.send === undefined) {
    process.stderr.write('hostile-idle-flood-child: start it through hostile-idle-flood-process.ts (it needs an IPC channel)\n');
    process.exit(2);
  }
  main();
}
