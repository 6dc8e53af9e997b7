/**
 * `borrowPayloads` (the mode lib/ runs the wire in): a 'piece' event's block is valid
 * until the next pollEvent, straddling frames share one assembly buffer, and
 * `holdsBuffer` tells a socket adapter when a read buffer may be reused. What must hold:
 * a consumer that copies each block at its event sees exactly the blocks sent, whatever
 * the read splits and even when every read buffer is reused as soon as it is released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeMessage } from '../../wire/codec.js';
import { openPair, fill } from './pair.js';

test('property: borrowed blocks copied at their event equal the blocks sent, with read buffers reused as soon as the connection lets go', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 16384 }), { minLength: 1, maxLength: 10 }),
      // Reads of 100 B to 40 KB (byte-sized reads of 160 KiB made a run take minutes:
      // every unparsed chunk is a held buffer the pool below scans).
      fc.array(fc.integer({ min: 100, max: 40_000 }), { minLength: 1, maxLength: 10 }),
      fc.boolean(),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }),
      (lens, splits, borrow, pollAfter) => {
        const p = openPair({ numPieces: 60, a: { borrowPayloads: borrow } });
        p.b.haveAll(p.now);
        p.a.interested(p.now);
        p.b.unchoke(p.now);
        p.drive();
        p.events('a').length = 0;
        const blocks = lens.map((n, i) => fill(n, (i * 37 + 11) & 0xff).map((x, j) => (x + j) & 0xff));
        for (let i = 0; i < blocks.length; i++) p.a.request(i, 0, blocks[i].length, p.now);
        // b's requests are answered by hand below; drain what a sent.
        for (let c = p.a.pollTransmit(); c !== null; c = p.a.pollTransmit()) { /* requests to b */ }
        const stream = Buffer.concat(blocks.map((block, i) => encodeMessage({ type: 'piece', index: i, begin: 0, block })));
        // A read-buffer pool like SlabReader's: a buffer goes back once a.holdsBuffer says so.
        const free: Buffer[] = [];
        const inUse: Buffer[] = [];
        const got: Buffer[] = [];
        let off = 0;
        let k = 0;
        while (off < stream.length) {
          for (let i = inUse.length - 1; i >= 0; i--) {
            if (!p.a.holdsBuffer(inUse[i].buffer)) { free.push(inUse[i]); inUse.splice(i, 1); }
          }
          const n = Math.min(splits[k++ % splits.length], stream.length - off);
          const buf = free.pop() ?? Buffer.allocUnsafeSlow(40_000);
          buf.fill(0xee, 0, Math.max(n, (buf as Buffer & { used?: number }).used ?? 0)); // a reused buffer is overwritten: stale views would show it
          (buf as Buffer & { used?: number }).used = n;
          stream.copy(buf, 0, off, off + n);
          off += n;
          inUse.push(buf);
          p.a.receive(buf.subarray(0, n), p.now);
          // Sometimes read on before parsing: chunks queue up unparsed in the framer.
          if (!pollAfter[k % pollAfter.length] && off < stream.length) continue;
          for (let ev = p.a.pollEvent(); ev !== null; ev = p.a.pollEvent()) {
            if (ev.type === 'piece') got.push(Buffer.from(ev.block));
            else assert.fail(`unexpected ${ev.type}`);
          }
        }
        assert.equal(got.length, blocks.length);
        for (let i = 0; i < blocks.length; i++) assert.ok(got[i].equals(blocks[i]), `block ${i}`);
      },
    ),
    { numRuns: 150 },
  );
});

test('extended payloads handed to hooks are copies: overwriting the read buffer afterwards changes nothing', () => {
  const seen: Uint8Array[] = [];
  const p = openPair({
    a: { extensions: [{ name: 'x' }] },
    bExtensions: [{ name: 'x', onMessage: (payload: Uint8Array) => { seen.push(payload); } }],
  });
  const read = Buffer.alloc(64);
  const msg = encodeMessage({ type: 'extended', id: 1, payload: Uint8Array.from([1, 2, 3, 4]) });
  msg.forEach((x, i) => { read[i] = x; });
  p.b.receive(read.subarray(0, msg.length), p.now);
  p.drive();
  assert.equal(seen.length, 1);
  read.fill(0);
  assert.deepEqual([...seen[0]], [1, 2, 3, 4]);
});
