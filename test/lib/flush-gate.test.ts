/**
 * lib/files/flush-gate.ts: a journal's fsync waits for the direct piece writes in flight, and
 * while it runs the piece store writes through the page cache (the bytes on disk are the
 * same either way); the journal runs every synced append — and only those — through it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlushGate } from '../../lib/files/flush-gate.js';
import { createTorrent } from '../../lib/files/create-torrent.js';
import { PieceAssembly } from '../../lib/engine/piece-assembly.js';
import { directWorksIn } from './direct-io-probe.js';
import { PieceStore } from '../../lib/files/piece-store.js';
import { Journal } from '../../payment/journal.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a flush waits for the direct writes in flight, and says `flushing` from the moment it is asked for', async () => {
  const gate = new FlushGate(10_000);
  const write = deferred();
  const order: string[] = [];
  const w = gate.direct(async () => { await write.promise; order.push('write done'); });
  assert.equal(gate.directWrites, 1);
  const f = gate.flush(async () => { order.push('sync'); return 7; });
  await tick();
  assert.equal(gate.flushing, true, 'new direct writes must step aside now');
  assert.deepEqual(order, [], 'the sync waits for the write in flight');
  write.resolve();
  assert.equal(await f, 7);
  await w;
  assert.deepEqual(order, ['write done', 'sync']);
  assert.equal(gate.flushing, false);
  assert.equal(gate.directWrites, 0);
});

test('a direct write stuck longer than maxWaitMs does not hold the flush (it is only an optimisation)', async () => {
  const gate = new FlushGate(20);
  const stuck = deferred();
  const w = gate.direct(() => stuck.promise);
  let synced = false;
  await gate.flush(async () => { synced = true; });
  assert.equal(synced, true);
  assert.equal(gate.directWrites, 1, 'the stuck write is still counted');
  stuck.resolve();
  await w;
});

test('a failing sync or write still leaves the gate balanced', async () => {
  const gate = new FlushGate();
  await assert.rejects(gate.direct(async () => { throw new Error('EIO'); }), /EIO/);
  await assert.rejects(gate.flush(async () => { throw new Error('EIO'); }), /EIO/);
  assert.equal(gate.flushing, false);
  assert.equal(gate.directWrites, 0);
});


test('while a flush is on its way the store writes aligned pieces through the page cache; the file is exact', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-gate-'));
  try {
    const pl = 64 * 1024;
    const all = Buffer.alloc(pl * 4);
    for (let i = 0; i < all.length; i++) all[i] = (i * 31 + (i >> 9)) & 0xff;
    const { metainfo } = createTorrent({ name: 'gated.bin', pieceLength: pl }, [all]);
    const gate = new FlushGate();
    const store = new PieceStore(metainfo, dir, { directWrites: true, flushGate: gate });
    const asm = new PieceAssembly(pl, 4, true);
    const put = async (i: number): Promise<void> => {
      assert.ok(asm.openPiece(i));
      assert.ok(asm.write(i, 0, all.subarray(i * pl, (i + 1) * pl)));
      const buf = asm.take(i, pl)!;
      await store.writePiece(i, buf, asm.aligned);
      asm.release(buf);
    };
    const direct = directWorksIn(dir);
    await put(0);
    assert.deepEqual(store.bytesWritten, direct ? { direct: pl, buffered: 0 } : { direct: 0, buffered: pl });
    const hold = deferred();
    const flushing = gate.flush(() => hold.promise);
    await put(1);
    await put(2);
    assert.equal(store.bytesWritten.buffered, direct ? 2 * pl : 3 * pl, 'both pieces went through the page cache');
    hold.resolve();
    await flushing;
    await put(3);
    assert.equal(store.bytesWritten.direct, direct ? 2 * pl : 0, 'direct again once the flush is over');
    await store.close();
    assert.ok((await readFile(store.filePath(0))).equals(all));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a journal runs each synced append through its gate, and unsynced ones not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-gate-j-'));
  try {
    let flushes = 0;
    const gate = { flush: <T>(sync: () => Promise<T>): Promise<T> => { flushes++; return sync(); } };
    const j = await Journal.open(join(dir, 'j'), { syncGate: gate });
    const session = 'ab'.repeat(32);
    await j.append({ kind: 'charge', sessionHash: session, infoHash: 'cd'.repeat(20), bytes: 1n, units: 1n, time: 1_795_000_000_000 }, { sync: false });
    assert.equal(flushes, 0);
    await j.append({ kind: 'charge', sessionHash: session, infoHash: 'cd'.repeat(20), bytes: 2n, units: 2n, time: 1_795_000_000_001 });
    assert.equal(flushes, 1);
    await j.close();
    const again = await Journal.open(join(dir, 'j'));
    assert.deepEqual(again.chargedFor(session), { bytes: 2n, units: 2n });
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
