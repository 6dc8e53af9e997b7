/**
 * Frame caps: 1 MiB + 13 until the piece count is known (a magnet's bitfield may be
 * large), then max(bitfield, largest block, 128 KiB floor), checked at the length prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer } from '../../wire/framer.js';
import { WireError } from '../../wire/errors.js';
import { openPair } from './pair.js';

const prefix = (len: number, id: number): Uint8Array => Uint8Array.from([len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, id]);

test('Framer.lowerMaxMessageLength lowers the cap for later frames and never raises it', () => {
  const f = new Framer({ maxMessageLength: 1000 });
  f.lowerMaxMessageLength(5000);
  assert.equal(f.maxMessageLength, 1000);
  f.lowerMaxMessageLength(100);
  assert.equal(f.maxMessageLength, 100);
  f.feed(prefix(101, 20));
  assert.throws(() => f.next(), (e: unknown) => e instanceof WireError && e.code === 'LENGTH_TOO_LARGE');
});

test('a known torrent caps frames at max(bitfield, block, 128 KiB): a 200 KiB extended message is cut at its prefix', () => {
  const p = openPair({ numPieces: 100 });
  p.b.receive(prefix(200 * 1024, 20), p.now);
  p.drive();
  assert.equal(p.b.state, 'error');
  assert.equal(p.b.error?.code, 'LENGTH_TOO_LARGE');
});

test('a frame up to the 128 KiB floor still passes the cap (here a 100 KiB extended message, refused later as unknown)', () => {
  const p = openPair({ numPieces: 100 });
  p.b.receive(prefix(100 * 1024, 20), p.now);
  p.b.receive(new Uint8Array(100 * 1024 - 1).fill(0x41), p.now); // id 0x41 = 65: never advertised
  p.drive();
  assert.notEqual(p.b.error?.code, 'LENGTH_TOO_LARGE');
});

test('a torrent of 2^21 pieces allows its 256 KiB bitfield', () => {
  const n = 2 ** 21;
  const p = openPair({ numPieces: n });
  const bits = new Uint8Array(n / 8).fill(0xff);
  const frame = new Uint8Array(5 + bits.length);
  frame.set(prefix(1 + bits.length, 5));
  frame.set(bits, 5);
  p.b.receive(frame, p.now);
  p.drive();
  assert.equal(p.b.state, 'open', p.b.error?.message);
  assert.equal(p.b.peerPieces?.hasAll(), true);
});
