/**
 * The kernel's accept queue of a listening Client must hold a crowd of idle
 * connections and still take an honest peer's: while the seeder's process is not
 * accepting (stopped with SIGSTOP here; under an idle flood, busy evicting the
 * crowd, which reconnects as fast as it is evicted), every connection waits in that
 * queue. With Node's default backlog (511) the 512th and later SYNs were dropped, so
 * an honest peer arriving behind the crowd got in only after the kernel's SYN retry,
 * a second or more later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { InteropScope } from '../../testkit/clients.js';
import { IdleFlood } from '../../testkit/hostile-idle-flood.js';
import { nodeScript } from '../../testkit/hostile-idle-case.js';
import { makeFixture, whenDone } from '../../testkit/torrent-helpers.js';
import { sleep } from '../../testkit/hostile-helpers.js';

const ADDRESSES = 60;
const PER_ADDRESS = 10; // 600 in all: more than Node's default backlog

test('a seeder that is not accepting still queues 600 idle connections and an honest one after them; the honest peer then downloads on its first dial', { timeout: 90_000 }, async () => {
  const fx = await makeFixture({ files: [['a.bin', 1024 * 1024 + 17]], pieceLength: 65536 });
  const scope = new InteropScope('accept-backlog');
  const leecher = new Client({ localAddress: '127.0.6.1' });
  let seederPid = 0;
  let flood: IdleFlood | null = null;
  try {
    const torrentPath = join(fx.root, 'a.torrent');
    await writeFile(torrentPath, fx.torrent);
    const s = nodeScript('hostile-seeder');
    const seeder = scope.spawn('seeder', s.cmd, [...s.args, torrentPath, fx.seedDir, '--bind', '127.0.0.1']);
    const ready = JSON.parse((await seeder.waitForLine((l) => l.startsWith('READY '), 30_000, 'READY line')).slice(6)) as { port: number; pid: number };
    seederPid = ready.pid;
    process.kill(seederPid, 'SIGSTOP');

    // Each connection completes its TCP handshake in the kernel or not at all (a dropped
    // SYN is retried only after a second, into a queue that stays full while stopped).
    flood = new IdleFlood(ready.port, ADDRESSES, PER_ADDRESS);
    const opened = flood.start();
    const dials: boolean[] = [];
    const dial = leecher.dial.bind(leecher);
    leecher.dial = (t, addr, mse) => {
      const session = dial(t, addr, mse);
      const i = dials.push(false) - 1;
      session.socket.once('connect', () => { dials[i] = true; });
      return session;
    };
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'leech'), peers: [`127.0.0.1:${ready.port}`] });
    // Wait until everything is connected, or nothing more connects for 3 s.
    let last = -1;
    for (let quiet = 0; quiet < 30 && !(flood.stats().open === ADDRESSES * PER_ADDRESS && dials[0] === true); quiet++) {
      const now = flood.stats().open + (dials[0] === true ? 1 : 0);
      if (now !== last) { quiet = 0; last = now; }
      await sleep(100);
    }
    assert.equal(flood.stats().open, ADDRESSES * PER_ADDRESS, 'every idle connection waits in the accept queue');
    assert.equal(dials[0], true, 'the honest connection behind them waits in it too');

    process.kill(seederPid, 'SIGCONT');
    await opened;
    await whenDone(t, 60_000);
    assert.equal(dials.length, 1, `the honest peer got in on its first dial (${dials.length} dials)`);
  } finally {
    if (seederPid > 0) { try { process.kill(seederPid, 'SIGCONT'); } catch { /* gone */ } }
    flood?.stop();
    await leecher.close();
    await scope.close();
    await fx.cleanup();
  }
});
