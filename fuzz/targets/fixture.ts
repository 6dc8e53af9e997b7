/**
 * A fixed torrent for the connection and ut_metadata targets: its info dict is a short
 * header, 20000 zero bytes (an `x-pad` key) and a closing 'e', so its two 16 KiB metadata
 * pieces can be written in the op language as head + zeros + tail (see ops.ts).
 */
import { encode } from '../../wire/bencode.js';
import { sha1 } from '../../lib/files/sha1.js';
import { METADATA_PIECE_LENGTH } from '../../extensions/ut-metadata-codec.js';
import { ascii, concat } from '../target.js';
import { long } from './ops.js';

export const INFO: Uint8Array = new Uint8Array(encode({
  length: 1, name: 'fuzz', 'piece length': 16384, pieces: new Uint8Array(20), 'x-pad': new Uint8Array(20000),
}));
export const INFO_HASH: Uint8Array = new Uint8Array(sha1(INFO));
/** A one-piece info dict for connections that only need a ut_metadata hook bound. */
export const SMALL_INFO: Uint8Array = new Uint8Array(encode({ length: 1, name: 'small', 'piece length': 16384, pieces: new Uint8Array(20) }));
export const SMALL_INFO_HASH: Uint8Array = new Uint8Array(sha1(SMALL_INFO));
export const PEER_ID = ascii('-SP0001-fuzzfuzzfuzz');
export const REMOTE_ID = ascii('-LT2080-abcdefghijkl');

/** Piece `piece` of INFO as head + the longest run of zeros + tail. */
function splitInfo(piece: number): { head: Uint8Array; zeros: number; tail: Uint8Array } {
  const start = piece * METADATA_PIECE_LENGTH;
  const bytes = INFO.subarray(start, Math.min(INFO.length, start + METADATA_PIECE_LENGTH));
  let best = 0; let bestLen = 0;
  for (let i = 0; i < bytes.length;) {
    if (bytes[i] !== 0) { i++; continue; }
    let j = i;
    while (j < bytes.length && bytes[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  return { head: bytes.subarray(0, best), zeros: bestLen, tail: bytes.subarray(best + bestLen) };
}

/** A long op carrying the ut_metadata data message for metadata piece `piece` of INFO. */
export function dataOp(piece: number, totalSize = INFO.length): Uint8Array {
  const { head, zeros, tail } = splitInfo(piece);
  const dict = ascii(`d8:msg_typei1e5:piecei${piece}e10:total_sizei${totalSize}ee`);
  return long(concat([dict, head]), zeros, tail);
}
