/**
 * Handshake target: HandshakeDecoder fed in chunks cut by the input's first byte.
 * It must take exactly min(68, n) bytes, refuse a wrong pstrlen/pstr with
 * BAD_HANDSHAKE at its first wrong byte, agree with decodeHandshake on whole input,
 * and hand back fields that are exact slices of what arrived.
 *
 * Input: [split mode][handshake bytes ...].
 */
import { HandshakeDecoder, HANDSHAKE_LENGTH, PROTOCOL_STRING, decodeHandshake, encodeHandshake } from '../../wire/handshake.js';
import { WireError } from '../../wire/errors.js';
import { type FuzzTarget, ascii, bytesEqual, check, concat, expectTyped, split } from '../target.js';
import { RESERVED_LIBTORRENT, RESERVED_NONE, RESERVED_TRANSMISSION } from './wire-seeds.js';

const PSTR = ascii(PROTOCOL_STRING);

/** Index of the first byte that is not a valid pstrlen/pstr byte, or -1. */
function firstBad(b: Uint8Array): number {
  const n = Math.min(b.length, 20);
  for (let i = 0; i < n; i++) if (b[i] !== (i === 0 ? 19 : PSTR[i - 1])) return i;
  return -1;
}

export const handshakeTarget: FuzzTarget = {
  name: 'handshake',
  about: 'wire/handshake.ts HandshakeDecoder.feed/end and decodeHandshake',
  maxInputLength: 512,
  run(input) {
    if (input.length < 1) return;
    const body = input.subarray(1);
    const dec = new HandshakeDecoder();
    let used = 0;
    let err: WireError | null = null;
    for (const c of split(body, input[0] & 0x1f, input[0])) {
      try {
        const n = dec.feed(c);
        check(n === Math.min(c.length, HANDSHAKE_LENGTH - used), `feed took ${n} of ${c.length} at ${used}`);
        used += n;
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        err = e;
        break;
      }
    }
    const bad = firstBad(body);
    if (err !== null) {
      check(err.code === 'BAD_HANDSHAKE', `feed threw ${err.code}`);
      check(bad >= 0, 'a valid protocol string was refused');
      let again: unknown = null;
      try { dec.feed(new Uint8Array(1)); } catch (e) { again = e; }
      check(again === err, 'handshake error is not sticky');
      return;
    }
    check(bad < 0 || bad >= body.length, `bad byte ${bad} was accepted`);
    check(dec.received === Math.min(body.length, HANDSHAKE_LENGTH), `received ${dec.received} of ${body.length}`);
    let endErr: unknown = null;
    try { dec.end(); } catch (e) { endErr = e; }
    if (dec.done) {
      check(endErr === null, 'end() threw after a complete handshake');
      const h = dec.handshake!;
      check(bytesEqual(h.reserved, body.subarray(20, 28)) && bytesEqual(h.infoHash, body.subarray(28, 48)) && bytesEqual(h.peerId, body.subarray(48, 68)), 'fields are not the received bytes');
      const again = decodeHandshake(body.subarray(0, HANDSHAKE_LENGTH));
      check(bytesEqual(encodeHandshake(again), body.subarray(0, HANDSHAKE_LENGTH)), 'decodeHandshake → encodeHandshake is not the input');
    } else {
      check(endErr instanceof WireError && endErr.code === 'TRUNCATED', 'end() before 68 bytes is not TRUNCATED');
      expectTyped('decodeHandshake', () => decodeHandshake(body), (e) => e instanceof WireError);
    }
  },
  seeds() {
    const ih = new Uint8Array(20).fill(0xab);
    const out: Uint8Array[] = [];
    const peers = ['-LT2080-abcdefghijkl', '-qB4520-abcdefghijkl', '-TR3000-abcdefghijkl'];
    [RESERVED_LIBTORRENT, RESERVED_TRANSMISSION, RESERVED_NONE].forEach((r, i) => {
      out.push(concat([new Uint8Array([i * 7]), encodeHandshake({ infoHash: ih, peerId: ascii(peers[i]), reserved: r })]));
    });
    out.push(concat([new Uint8Array([1]), encodeHandshake({ infoHash: ih, peerId: ascii(peers[0]) }).subarray(0, 47)]));
    out.push(concat([new Uint8Array([0]), ascii('GET / HTTP/1.1\r\n')]));
    return out;
  },
  dictionary: [new Uint8Array([19]), PSTR, RESERVED_LIBTORRENT, RESERVED_TRANSMISSION],
};
