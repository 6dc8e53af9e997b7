/**
 * Message order as a widely used client sends it, replayed over real TCP against our
 * seeder and our leecher: after the handshakes its BEP 10 handshake, then have_none,
 * then ten allowed_fast, and later in the same connection a whole bitfield again.
 * Neither side closes the connection for it (a late piece set replaces the earlier
 * one), and the transfer completes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { encodeMessage } from '../../wire/codec.js';
import { RawPeer } from './raw-peer.js';
import { checkFiles, makeFixture, whenDone } from '../../testkit/torrent-helpers.js';

const PL = 65536;
const BLOCK = 16384;

function allBits(n: number, upTo = n): Uint8Array {
  const b = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < upTo; i++) b[i >> 3] |= 0x80 >> (i & 7);
  return b;
}

test('our seeder serves a leecher that sends have_none after its extended handshake, ten allowed_fast, then a whole bitfield mid-transfer', async () => {
  const fx = await makeFixture({ files: [['a.bin', 16 * PL]], pieceLength: PL });
  const seeder = new Client();
  try {
    const port = await seeder.listen(0);
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const n = fx.meta.pieceCount;
    const p = RawPeer.dial(port, { infoHash: fx.meta.infoHash, numPieces: n });
    await p.waitEvent('handshake');
    await p.waitEvent('extended_handshake');
    p.do((c, now) => {
      c.haveNone(now);
      for (let i = 0; i < 10; i++) c.allowedFast(i, now);
      c.interested(now);
    });
    await p.waitEvent('unchoke');
    const fetch = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        p.do((c, now) => { for (let b = 0; b < PL; b += BLOCK) c.request(i, b, BLOCK, now); });
        await p.waitEvent('piece', (e) => e.index === i && e.begin === PL - BLOCK);
      }
    };
    await fetch(0, 4);
    // A whole bitfield again, as that client sends once it has pieces (raw: our own
    // connection object would not send one after other messages).
    p.socket.write(encodeMessage({ type: 'bitfield', bits: allBits(n, 4) }));
    await fetch(4, n);
    assert.equal(p.closed, undefined, 'the seeder kept the connection');
    p.close();
  } finally {
    await seeder.close();
    await fx.cleanup();
  }
});

test('our leecher downloads from a seeder that sends have_none, ten allowed_fast, then later its whole bitfield', async () => {
  const fx = await makeFixture({ files: [['a.bin', 16 * PL + 123]], pieceLength: PL });
  const file = await open(join(fx.seedDir, fx.meta.name, 'a.bin'), 'r');
  const leecher = new Client();
  const raw = await RawPeer.listen({
    numPieces: fx.meta.pieceCount,
    onEvent: (ev, peer) => {
      const now = Date.now();
      if (ev.type === 'handshake') {
        peer.conn.haveNone(now);
        for (let i = 0; i < 10; i++) peer.conn.allowedFast(i, now);
        peer.ps.flush();
        setTimeout(() => {
          peer.socket.write(encodeMessage({ type: 'bitfield', bits: allBits(fx.meta.pieceCount) }));
          peer.do((c, t) => c.unchoke(t));
        }, 100);
      }
      if (ev.type === 'request') {
        const buf = Buffer.alloc(ev.length);
        void file.read(buf, 0, ev.length, ev.index * PL + ev.begin).then(() => peer.do((c, t) => c.sendPiece(ev.index, ev.begin, buf, t)));
      }
    },
  });
  try {
    const t = await leecher.add(fx.torrent, { dir: join(fx.root, 'l'), peers: [`127.0.0.1:${raw.port}`] });
    await whenDone(t, 20_000);
    assert.deepEqual(await checkFiles(fx, join(fx.root, 'l')), []);
  } finally {
    await leecher.close();
    for (const p of raw.peers) p.close();
    raw.server.close();
    await file.close();
    await fx.cleanup();
  }
});
