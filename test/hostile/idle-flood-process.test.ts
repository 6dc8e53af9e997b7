/**
 * The idle flood driven in a child process (testkit/hostile-idle-flood-process.ts):
 * it runs at the lowest CPU priority, holds every socket it was asked for, opens
 * again at once each one the server closes, reports its counters and CPU over IPC,
 * and fails loudly when a socket cannot be opened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { FLOOD_NICE, IdleFloodProcess } from '../../testkit/hostile-idle-flood-process.js';
import { sleep } from '../../testkit/hostile-helpers.js';

function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
  }));
}

test('the flood process runs niced, holds its crowd, reopens what the server closes and reports it', { timeout: 60_000 }, async () => {
  const held: Socket[] = [];
  let accepted = 0;
  const { server, port } = await listen((s) => { accepted++; held.push(s); });
  const flood = new IdleFloodProcess(port, 3, 4);
  try {
    assert.equal(await flood.start(), 12, 'every socket connected');
    assert.equal(flood.nice, FLOOD_NICE);
    while (accepted < 12) await sleep(10);
    // the server closes five: each is opened again from the same address
    for (const s of held.splice(0, 5)) s.destroy();
    while (accepted < 17) await sleep(10);
    let st = await flood.stats();
    while (st.open < 12) { await sleep(10); st = await flood.stats(); }
    assert.equal(st.target, 12);
    assert.equal(st.closedBySeeder, 5);
    assert.equal(st.reopened, 5);
    assert.ok(st.cpuS > 0, 'the child measures its own CPU');
  } finally {
    await flood.stop();
    await new Promise((r) => server.close(r));
    for (const s of held) s.destroy();
  }
  await flood.stop(); // twice: a no-op
});

test('a socket the flood process cannot open fails its start loudly', { timeout: 60_000 }, async () => {
  // a port nothing listens on: the first connect is refused
  const { server, port } = await listen(() => {});
  await new Promise((r) => server.close(r));
  const flood = new IdleFloodProcess(port, 2, 2);
  try {
    await assert.rejects(flood.start(), /idle flood: cannot open a socket from 127\.77\.0\.\d+: ECONNREFUSED/);
  } finally {
    await flood.stop();
  }
});
