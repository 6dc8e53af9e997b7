/**
 * A swarm peer (swarm-peer.ts) in a process of its own, forked with an IPC channel by
 * testkit/swarm.ts: `node swarm-child.js '<json SwarmPeerConfig>'`. It sends
 * `{ type: 'ready', port }` once listening, answers `{ type: 'report' }` with
 * `{ type: 'report', report }`, and closes its client on `{ type: 'close' }` (or when
 * the parent goes). No test in this file: it is only forked.
 */
import { SwarmPeer, type SwarmPeerConfig } from './swarm-peer.js';

type Request = { type: 'report' } | { type: 'close' };

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined || process.send === undefined) return; // loaded by the test runner as a file: nothing to do
  const config = JSON.parse(raw) as SwarmPeerConfig;
  const peer = await SwarmPeer.start(config);
  const send = (m: object): void => { process.send?.(m); };
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    void peer.close().finally(() => process.exit(0));
  };
  process.on('message', (m: Request) => {
    if (m.type === 'report') send({ type: 'report', report: peer.report() });
    else if (m.type === 'close') close();
  });
  process.on('disconnect', close);
  send({ type: 'ready', port: peer.port });
}

main().catch((e: unknown) => {
  process.stderr.write(`swarm-child: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
