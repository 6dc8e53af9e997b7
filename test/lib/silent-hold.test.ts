/**
 * SilentHold over real loopback sockets: a held connection stays open while silent,
 * is closed at its first byte or when its hold ends (in order, one timer), never
 * beyond `max`, and all go when the listener closes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { SilentHold } from '../../lib/net/silent-hold.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A listener whose accepted sockets go to `onAccept`, and a dialer that reports each client socket's close. */
async function pair(onAccept: (s: Socket) => void): Promise<{ dial: () => Promise<{ sock: Socket; closed: () => boolean }>; close: () => Promise<void> }> {
  const server = createServer(onAccept);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const clients: Socket[] = [];
  return {
    dial: () => new Promise((resolve, reject) => {
      const sock = connect(port, '127.0.0.1');
      clients.push(sock);
      let closed = false;
      sock.on('close', () => { closed = true; });
      sock.on('error', () => {});
      sock.once('connect', () => resolve({ sock, closed: () => closed }));
      sock.once('error', reject);
    }),
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('held while silent, closed at the first byte, closed when the hold ends, bounded by max', { timeout: 20_000 }, async () => {
  const hold = new SilentHold(3, 400, Date.now);
  const refused: Socket[] = [];
  const p = await pair((s) => { if (!hold.hold(s)) { refused.push(s); s.destroy(); } });
  try {
    const a = await p.dial();
    const b = await p.dial();
    const c = await p.dial();
    const d = await p.dial(); // the fourth: no room
    await sleep(100);
    assert.equal(hold.size, 3);
    assert.equal(refused.length, 1);
    assert.equal(d.closed(), true, 'beyond max: closed at once');
    assert.ok(!a.closed() && !b.closed() && !c.closed(), 'silent ones are held open');
    b.sock.write('x'); // a violator speaks: closed at once
    await sleep(100);
    assert.equal(b.closed(), true);
    assert.equal(hold.size, 2);
    await sleep(400); // the holds of a and c end
    assert.equal(a.closed(), true);
    assert.equal(c.closed(), true);
    assert.equal(hold.size, 0);
  } finally {
    hold.closeAll();
    await p.close();
  }
});

test('closeAll closes every held connection', { timeout: 10_000 }, async () => {
  const hold = new SilentHold(10, 60_000, Date.now);
  const p = await pair((s) => { hold.hold(s); });
  try {
    const conns = [await p.dial(), await p.dial()];
    await sleep(100);
    assert.equal(hold.size, 2);
    hold.closeAll();
    await sleep(100);
    assert.ok(conns.every((c) => c.closed()));
    assert.equal(hold.size, 0);
  } finally {
    await p.close();
  }
});
