/**
 * Which handshake a known peer is dialled with: under 'prefer' plain first, MSE at once
 * after a plain handshake was hung up on (and back), the method that connected kept;
 * 'require' and 'off' never switch; unreachable hosts switch nothing. And over loopback
 * TCP: a 'prefer' leecher reaches a seeder that requires encryption, and one that
 * refuses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DialMethod } from '../../lib/engine/dial-method.js';
import { Client } from '../../lib/net/client.js';
import { WireError } from '../../wire/errors.js';
import type { PeerCloseReason } from '../../lib/engine/peer-session.js';
import { assertDownloaded, makeFixture } from '../../testkit/torrent-helpers.js';

const hungUp: PeerCloseReason = { code: 'END', error: null };
const refused: PeerCloseReason = { code: 'SOCKET_ERROR', error: new WireError('SOCKET_ERROR', 'connect ECONNREFUSED 127.0.0.1:1') };

test("'prefer': plain first, MSE at once after a hang-up, back after another; the method that connected stays", () => {
  const m = new DialMethod('prefer');
  assert.equal(m.mse, false, 'plain first');
  assert.equal(m.failed(hungUp), true, 'the other method, at once');
  assert.equal(m.mse, true);
  assert.equal(m.failed(hungUp), false, 'a second failure in the streak waits the back-off');
  assert.equal(m.mse, false, 'but still alternates');
  assert.equal(m.failed(hungUp), false);
  assert.equal(m.mse, true);
  m.connected();
  assert.equal(m.mse, true, 'MSE connected: kept');
  assert.equal(m.failed(refused), false, 'an unreachable host switches nothing');
  assert.equal(m.mse, true);
  assert.equal(m.failed(hungUp), true, 'a new streak: at once again');
  assert.equal(m.mse, false);
});

test("'require' and 'off' never switch", () => {
  const r = new DialMethod('require');
  const o = new DialMethod('off');
  for (let i = 0; i < 3; i++) {
    assert.equal(r.failed(hungUp), false);
    assert.equal(o.failed(hungUp), false);
  }
  assert.equal(r.mse, true);
  assert.equal(o.mse, false);
});

for (const seederMode of ['require', 'off'] as const) {
  test(`a 'prefer' leecher downloads from a seeder with encryption '${seederMode}'`, { timeout: 30_000 }, async () => {
    const fx = await makeFixture({ files: [['a.bin', 700_000]], pieceLength: 65536 });
    const seeder = new Client({ encryption: seederMode });
    const leecher = new Client();
    const dials: boolean[] = [];
    const dial = leecher.dial.bind(leecher);
    leecher.dial = (t, addr, mse) => { dials.push(mse); return dial(t, addr, mse); };
    try {
      const port = await seeder.listen(0, '127.0.0.1');
      await seeder.add(fx.torrent, { dir: fx.seedDir });
      const dir = join(fx.root, 'l');
      const t = await leecher.add(fx.torrent, { dir, peers: [`127.0.0.1:${port}`] });
      await assertDownloaded(t, fx, dir);
      if (seederMode === 'require') assert.deepEqual(dials, [false, true], 'plain hung up on, MSE at once');
      else assert.deepEqual(dials, [false], 'plain, first time');
    } finally {
      await leecher.close();
      await seeder.close();
      await fx.cleanup();
    }
  });
}
