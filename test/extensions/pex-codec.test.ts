/**
 * The ut_pex codec (BEP 11) and the address rules: exact bytes of a message, each
 * malformed shape with its PexError reason, fast-check round trips, and hostile bytes
 * that never end in anything but a PexError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode } from '../../wire/bencode.js';
import {
  MAX_PEX_ENTRIES, MAX_PEX_PAYLOAD, PEX_FLAGS, PexError, decodePex, encodePex, type PexErrorReason, type PexPeer,
} from '../../extensions/pex/codec.js';
import { acceptableFrom, addressScope, splitAddress } from '../../extensions/pex/address.js';
import { formatIpv6 } from '../../format/compact-peers.js';

const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

function rejects(payload: Uint8Array, reason: PexErrorReason, maxEntries?: number): void {
  assert.throws(() => decodePex(payload, maxEntries), (e: unknown) => e instanceof PexError && e.reason === reason && e.code === 'EXTENSION_ERROR');
}

test('encode: all six keys, compact records in order, one flags byte per added peer', () => {
  const payload = encodePex({
    added: [{ host: '10.0.0.1', port: 6881, flags: PEX_FLAGS.SEED }, { host: '::1', port: 1, flags: 0x11 }],
    dropped: [{ host: '1.2.3.4', port: 0x1ae1 }],
  });
  const expected = encode(new Map<string, Uint8Array>([
    ['added', b(10, 0, 0, 1, 0x1a, 0xe1)],
    ['added.f', b(2)],
    ['added6', b(...new Array<number>(15).fill(0), 1, 0, 1)],
    ['added6.f', b(0x11)],
    ['dropped', b(1, 2, 3, 4, 0x1a, 0xe1)],
    ['dropped6', b()],
  ]));
  assert.deepEqual(Buffer.from(payload), expected);
  assert.deepEqual(decodePex(payload), {
    added: [{ host: '10.0.0.1', port: 6881, flags: 2 }, { host: '::1', port: 1, flags: 0x11 }],
    dropped: [{ host: '1.2.3.4', port: 6881 }],
  });
});

test('encode leaves out what has no compact form (a DNS name, a port out of range)', () => {
  const m = decodePex(encodePex({ added: [{ host: 'example.org', port: 1, flags: 0 }, { host: '1.1.1.1', port: 70000, flags: 0 }], dropped: [{ host: 'x', port: 2 }] }));
  assert.deepEqual(m, { added: [], dropped: [] });
});

test('decode: a libtorrent-shaped message, unknown and unsorted keys, missing flags', () => {
  const lt = Buffer.from('d5:added6:\x7f\x00\x00\x02\x1a\xe17:added.f1:\x026:added60:8:added6.f0:7:dropped0:8:dropped60:e', 'latin1');
  assert.deepEqual(decodePex(lt), { added: [{ host: '127.0.0.2', port: 6881, flags: 2 }], dropped: [] });
  const loose = Buffer.from('d1:zi1e5:added6:\x01\x02\x03\x04\x00\x501:ai0ee', 'latin1');
  assert.deepEqual(decodePex(loose), { added: [{ host: '1.2.3.4', port: 80, flags: 0 }], dropped: [] });
  assert.deepEqual(decodePex(encode({})), { added: [], dropped: [] }, 'no address field: nothing to do');
});

test('decode: every malformed shape is a typed PexError with its reason', () => {
  rejects(Buffer.from('not bencode'), 'BAD_PEX_MESSAGE');
  rejects(encode([1, 2]), 'BAD_PEX_MESSAGE');
  rejects(encode({ added: 5 }), 'BAD_PEX_MESSAGE');
  rejects(encode({ 'added.f': [1] }), 'BAD_PEX_MESSAGE');
  rejects(encode({ added: new Uint8Array(7) }), 'BAD_COMPACT_LENGTH');
  rejects(encode({ added6: new Uint8Array(12) }), 'BAD_COMPACT_LENGTH');
  rejects(encode({ dropped: new Uint8Array(5) }), 'BAD_COMPACT_LENGTH');
  rejects(encode({ dropped6: new Uint8Array(19) }), 'BAD_COMPACT_LENGTH');
  rejects(encode({ added: new Uint8Array(12), 'added.f': new Uint8Array(1) }), 'BAD_FLAGS_LENGTH');
  rejects(encode({ added6: new Uint8Array(18), 'added6.f': new Uint8Array(2) }), 'BAD_FLAGS_LENGTH');
  rejects(encode({ added: new Uint8Array(6 * 3), added6: new Uint8Array(18 * 2) }), 'TOO_MANY_PEERS', 4);
  rejects(encode({ dropped: new Uint8Array(6 * 3), dropped6: new Uint8Array(18 * 2) }), 'TOO_MANY_PEERS', 4);
  rejects(encode({ added: new Uint8Array(6 * (MAX_PEX_ENTRIES + 1)) }), 'TOO_MANY_PEERS');
  rejects(new Uint8Array(MAX_PEX_PAYLOAD + 1), 'TOO_LARGE');
  rejects(encode({ x: [[[[[1]]]]] }), 'BAD_PEX_MESSAGE');
});

test('addresses: unicast only, local only from local, port 0 never', () => {
  for (const h of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.1.1.1', '240.0.0.1', '255.255.255.255', '::', 'ff02::1', 'example.org', '1.2.3', '::ffff:224.0.0.1']) {
    assert.equal(addressScope(h), 'invalid', h);
  }
  for (const h of ['127.0.0.1', '127.9.9.9', '10.1.1.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.1.1', '100.64.0.1', '::1', 'fe80::1', 'fd00::1', '::ffff:192.168.0.1']) {
    assert.equal(addressScope(h), 'local', h);
  }
  for (const h of ['1.2.3.4', '172.32.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8']) assert.equal(addressScope(h), 'global', h);
  assert.equal(acceptableFrom({ host: '1.2.3.4', port: 6881 }, 'global'), true);
  assert.equal(acceptableFrom({ host: '1.2.3.4', port: 0 }, 'global'), false);
  assert.equal(acceptableFrom({ host: '192.168.1.1', port: 6881 }, 'global'), false, 'a stranger cannot make us dial our network');
  assert.equal(acceptableFrom({ host: '192.168.1.1', port: 6881 }, 'local'), true);
  assert.equal(acceptableFrom({ host: '224.0.0.1', port: 6881 }, 'local'), false);
});

test('splitAddress reads every label the engine makes', () => {
  assert.deepEqual(splitAddress('127.0.0.2:6881'), { host: '127.0.0.2', port: 6881 });
  assert.deepEqual(splitAddress('[::1]:6881'), { host: '::1', port: 6881 });
  assert.deepEqual(splitAddress('::1:51234'), { host: '::1', port: 51234 });
  assert.deepEqual(splitAddress('::ffff:10.0.0.1:7000'), { host: '10.0.0.1', port: 7000 });
  assert.equal(splitAddress('nonsense'), null);
  assert.equal(splitAddress('host:port'), null);
});

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((x) => x.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIpv6);
const port = fc.integer({ min: 0, max: 65535 });
// fast-check's records have no prototype; the decoder's are plain objects.
const address = fc.record({ host: fc.oneof(ipv4, ipv6), port }).map((x) => ({ ...x }));
const added = fc.record({ host: fc.oneof(ipv4, ipv6), port, flags: fc.nat(255) }).map((x) => ({ ...x }));

test('property: decode(encode(m)) is m (IPv4 entries first, then IPv6, per list)', () => {
  fc.assert(fc.property(fc.array(added, { maxLength: 60 }), fc.array(address, { maxLength: 60 }), (a, d) => {
    const v4First = <T extends { host: string }>(xs: readonly T[]): T[] => [...xs.filter((p) => !p.host.includes(':')), ...xs.filter((p) => p.host.includes(':'))];
    const got = decodePex(encodePex({ added: a, dropped: d }));
    assert.deepEqual(got.added, v4First(a));
    assert.deepEqual(got.dropped, v4First(d));
  }));
});

test('property: hostile bytes and hostile dictionaries end in a result or a PexError, nothing else', () => {
  const junk = fc.uint8Array({ maxLength: 512 });
  const field = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer(), fc.constant([] as number[]));
  const dict = fc.dictionary(fc.constantFrom('added', 'added.f', 'added6', 'added6.f', 'dropped', 'dropped6', 'x'), field)
    .map((o) => new Uint8Array(encode(o)));
  fc.assert(fc.property(fc.oneof(junk, dict), fc.integer({ min: 0, max: 8 }), (payload, maxEntries) => {
    try {
      const m = decodePex(payload, maxEntries);
      assert.ok(m.added.length <= maxEntries && m.dropped.length <= maxEntries);
      for (const p of [...m.added, ...m.dropped]) assert.ok(p.port >= 0 && p.port <= 65535);
    } catch (e) {
      if (!(e instanceof PexError)) throw e;
    }
  }), { numRuns: 3000 });
});

test('a decoded peer owns its fields (no view of the received frame)', () => {
  const payload = new Uint8Array(encodePex({ added: [{ host: '1.2.3.4', port: 5, flags: 1 }], dropped: [] }));
  const m = decodePex(payload);
  payload.fill(0);
  const p: PexPeer = m.added[0];
  assert.deepEqual(p, { host: '1.2.3.4', port: 5, flags: 1 });
});
