/**
 * Extended handshake target: parseExtendedHandshake on any payload gives a parsed
 * handshake or WireError('BAD_EXTENDED_HANDSHAKE'); parsed fields respect their
 * documented ranges (ids 1..255, disabled names not in `m`, `p` a port, ...).
 */
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { WireError } from '../../wire/errors.js';
import { type FuzzTarget, ascii, check, expectTyped } from '../target.js';
import { realExtendedHandshakes } from './ext-seeds.js';

export const extHandshakeTarget: FuzzTarget = {
  name: 'ext-handshake',
  about: 'wire/extension-hooks.ts parseExtendedHandshake (BEP 10 id 0 payload)',
  maxInputLength: 16 * 1024,
  run(input) {
    const hs = expectTyped('parseExtendedHandshake', () => parseExtendedHandshake(input),
      (e) => e instanceof WireError && e.code === 'BAD_EXTENDED_HANDSHAKE');
    if (hs === undefined) return;
    for (const [name, id] of hs.m) {
      check(Number.isInteger(id) && id >= 1 && id <= 255, `m[${name}] = ${id}`);
      check(!hs.disabled.has(name), `${name} both enabled and disabled`);
    }
    check(hs.p === undefined || (Number.isInteger(hs.p) && hs.p >= 1 && hs.p <= 65535), `p = ${hs.p}`);
    check(hs.reqq === undefined || (Number.isSafeInteger(hs.reqq) && hs.reqq >= 1), `reqq = ${hs.reqq}`);
    check(hs.metadataSize === undefined || (Number.isSafeInteger(hs.metadataSize) && hs.metadataSize >= 1), `metadata_size = ${hs.metadataSize}`);
    check(hs.yourip === undefined || hs.yourip.length === 4 || hs.yourip.length === 16, 'yourip length');
    check(hs.v === undefined || typeof hs.v === 'string', 'v type');
  },
  seeds() { return realExtendedHandshakes(); },
  dictionary: ['d1:md', 'ee', '11:ut_metadata', '6:ut_pex', '13:metadata_size', '4:reqq', '1:v', '1:p', '6:yourip', '11:upload_only', 'i0e', 'i256e', 'i-1e', 'i9007199254740993e'].map(ascii),
};
