import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MagnetError, base32Decode, base32Encode, buildMagnet, parseMagnet, parsePeerAddress, type MagnetErrorCode,
} from '../../format/magnet.js';

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';

function codeOf(fn: () => unknown): MagnetErrorCode | 'none' | 'other' {
  try { fn(); return 'none'; } catch (e) { return e instanceof MagnetError ? e.code : 'other'; }
}

test('parses hex btih, dn, repeated tr and x.pe', () => {
  const m = parseMagnet(`magnet:?xt=urn:btih:${HEX.toUpperCase()}&dn=My+File%20%C3%A9.iso` +
    '&tr=udp%3A%2F%2Ftracker.example%3A80&tr=http%3A%2F%2Fb.example%2Fannounce&tr.1=udp%3A%2F%2Fc%3A1' +
    '&x.pe=127.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A51413&x.pe=localhost:1');
  assert.equal(m.infoHashHex, HEX);
  assert.equal(m.infoHash.length, 20);
  assert.equal(m.name, 'My File é.iso');
  assert.deepEqual(m.trackers, ['udp://tracker.example:80', 'http://b.example/announce', 'udp://c:1']);
  assert.deepEqual(m.peers, [{ host: '127.0.0.1', port: 6881 }, { host: '::1', port: 51413 }, { host: 'localhost', port: 1 }]);
});

test('base32 btih (32 chars) decodes to the same hash as hex', () => {
  const b32 = base32Encode(Buffer.from(HEX, 'hex'));
  assert.equal(b32.length, 32);
  // Known vector: RFC 4648 "foobar" → MZXW6YTBOI
  assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.equal(Buffer.from(base32Decode('MZXW6YTBOI')!).toString(), 'foobar');
  assert.equal(parseMagnet(`magnet:?xt=urn:btih:${b32}`).infoHashHex, HEX);
  assert.equal(parseMagnet(`magnet:?xt=urn:btih:${b32.toLowerCase()}`).infoHashHex, HEX);
  fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (h) => {
    const s = base32Encode(h);
    assert.equal(s.length, 32);
    assert.ok(Buffer.from(base32Decode(s)!).equals(Buffer.from(h)));
    assert.ok(parseMagnet(`magnet:?xt=urn:btih:${s}`).infoHash.equals(Buffer.from(h)));
  }), { numRuns: 200 });
});

test('build → parse round trip', () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 20, maxLength: 20 }),
    fc.option(fc.string({ unit: 'grapheme', maxLength: 30 }), { nil: undefined }),
    fc.uniqueArray(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((p) => `udp://t.example:80/${p}`), { maxLength: 3 }),
    fc.array(fc.record({ host: fc.oneof(fc.ipV4(), fc.constant('::1'), fc.domain()), port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 3 }),
    (infoHash, name, trackers, peers) => {
      const uri = buildMagnet({ infoHash, name, trackers, peers });
      const m = parseMagnet(uri);
      assert.ok(m.infoHash.equals(Buffer.from(infoHash)));
      assert.equal(m.name, name);
      assert.deepEqual(m.trackers, trackers);
      assert.deepEqual(m.peers, peers.map((p) => ({ host: p.host, port: p.port })));
    }), { numRuns: 200 });
  assert.equal(buildMagnet({ infoHash: Buffer.from(HEX, 'hex'), peers: [{ host: '127.0.0.1', port: 6881 }] }),
    `magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1:6881`);
});

test('malformed magnets get typed errors', () => {
  const cases: [string, MagnetErrorCode][] = [
    ['http://x', 'NOT_MAGNET'],
    ['magnet:?dn=x', 'MISSING_XT'],
    ['magnet:?xt=urn:sha1:abc', 'MISSING_XT'],
    [`magnet:?xt=urn:btih:${HEX.slice(1)}`, 'BAD_INFO_HASH'],
    [`magnet:?xt=urn:btih:${HEX.slice(0, 39)}g`, 'BAD_INFO_HASH'],
    ['magnet:?xt=urn:btih:' + '1'.repeat(32), 'BAD_INFO_HASH'], // '1' is not base32
    ['magnet:?xt=urn:btmh:1220' + 'a'.repeat(64), 'V2_ONLY'],
    [`magnet:?xt=urn:btih:${HEX}&dn=%E0%A4%A`, 'BAD_ENCODING'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1`, 'BAD_PEER'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1:0`, 'BAD_PEER'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1:70000`, 'BAD_PEER'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=::1:80`, 'BAD_PEER'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=a b:80`, 'BAD_PEER'],
    [`magnet:?xt=urn:btih:${HEX}` + '&tr=x'.repeat(1) + '&x.pe=1.1.1.1:1'.repeat(300), 'TOO_LARGE'],
    ['magnet:?' + 'a'.repeat(70_000), 'TOO_LARGE'],
  ];
  for (const [uri, code] of cases) assert.equal(codeOf(() => parseMagnet(uri)), code, uri.slice(0, 80));
  // A hybrid magnet (btih + btmh) is fine: we take the v1 hash.
  assert.equal(parseMagnet(`magnet:?xt=urn:btmh:1220${'a'.repeat(64)}&xt=urn:btih:${HEX}`).infoHashHex, HEX);
  assert.deepEqual(parsePeerAddress('[fe80::1]:80'), { host: 'fe80::1', port: 80 });
  assert.equal(codeOf(() => buildMagnet({ infoHash: new Uint8Array(19) })), 'BAD_INFO_HASH');
});

test('property: arbitrary strings never throw anything but MagnetError', () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    for (const u of [s, 'magnet:?' + s, `magnet:?xt=urn:btih:${HEX}&` + s]) {
      try { parseMagnet(u); } catch (e) { if (!(e instanceof MagnetError)) throw e; }
    }
  }), { numRuns: 1000 });
});

test('a magnet made by libtorrent 2.0.8 make_magnet_uri (lower-case %-escapes)', () => {
  const m = parseMagnet('magnet:?xt=urn:btih:4e4d7f0135f8d335ae754413c1c3a24d7f00596b&dn=pack&tr=http%3a%2f%2f127.0.0.1%3a1%2fannounce');
  assert.equal(m.infoHashHex, '4e4d7f0135f8d335ae754413c1c3a24d7f00596b');
  assert.equal(m.name, 'pack');
  assert.deepEqual(m.trackers, ['http://127.0.0.1:1/announce']);
  assert.deepEqual(m.peers, []);
});
