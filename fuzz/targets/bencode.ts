/**
 * Bencode target: strict decode of any bytes gives a value or a BencodeError. When
 * strict decode succeeds the input was canonical, so encode(decode(x)) must be x.
 * Lenient decode (unsorted keys allowed) must agree with strict decode wherever strict
 * succeeds, and what it accepts must re-encode to something strict decode accepts.
 * Tight limits must fail with a typed error, never by running out of stack.
 */
import { BencodeError, decode, decodeWithSpans, encode } from '../../wire/bencode.js';
import { type FuzzTarget, ascii, bytesEqual, check, expectTyped } from '../target.js';

const isBencodeError = (e: unknown): boolean => e instanceof BencodeError;

export const bencodeTarget: FuzzTarget = {
  name: 'bencode',
  about: 'wire/bencode.ts decode (strict and lenient, tight limits) and encode round trip',
  maxInputLength: 16 * 1024,
  run(input) {
    const strict = expectTyped('decode(strict)', () => decode(input), isBencodeError);
    if (strict !== undefined) {
      const re = expectTyped('encode(decode(x))', () => encode(strict), () => false)!;
      check(bytesEqual(re, input), 'encode(decode(x)) !== x for a strictly decoded x');
      const ws = decodeWithSpans(input);
      const span = ws.spanOf(ws.value);
      check(typeof ws.value !== 'object' || (span !== undefined && span.start === 0 && span.end === input.length), 'span of the top value is not the whole input');
    }
    const lenient = expectTyped('decode(lenient)', () => decode(input, { strict: false }), isBencodeError);
    if (strict !== undefined) check(lenient !== undefined, 'lenient decode refused what strict decode accepted');
    if (lenient !== undefined) {
      const re = expectTyped('encode(lenient value)', () => encode(lenient), () => false)!;
      const back = expectTyped('decode(encode(lenient value))', () => decode(re), () => false)!;
      check(bytesEqual(encode(back), re), 'canonical re-encoding is not stable');
    }
    expectTyped('decode(tight limits)', () => decode(input, { maxDepth: 3, maxItems: 16, maxBytes: 256, maxIntegerDigits: 4 }), isBencodeError);
  },
  seeds() {
    return [
      'i0e', 'i-42e', 'i123456789012345678901234567890e', '0:', '4:spam', 'le', 'de', 'l4:spami42ee',
      'd3:bar4:spam3:fooi42ee', 'd1:md11:ut_metadatai1e6:ut_pexi2ee1:v17:libtorrent/2.0.8.0e',
      'lllleeee', 'd1:ad1:bd1:cleeee', 'd8:msg_typei1e5:piecei0e10:total_sizei3ee',
    ].map(ascii);
  },
  dictionary: ['i', 'e', 'l', 'd', '0:', '1:', ':', '-', 'i-0e', 'i01e', '99999999999:', 'd1:m', 'e', '4:spam'].map(ascii),
};
