/** Compact peer encodings and address text (BEP 7, BEP 23). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { TrackerError } from '../../discovery/errors.js';
import { decodeCompactPeers, encodeCompactPeers, formatIpv6, isPeerHost, parseIpv4, parseIpv6 } from '../../discovery/peers.js';

test('IPv6 text: RFC 5952 form, parsed back to the same bytes', () => {
  assert.equal(formatIpv6(parseIpv6('::')!), '::');
  assert.equal(formatIpv6(parseIpv6('::1')!), '::1');
  assert.equal(formatIpv6(parseIpv6('2001:DB8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
  assert.equal(formatIpv6(parseIpv6('2001:db8:0:1:1:1:1:1')!), '2001:db8:0:1:1:1:1:1');
  assert.equal(formatIpv6(parseIpv6('::ffff:1.2.3.4')!), '::ffff:102:304');
  for (const bad of ['1::2::3', ':::', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1.2.3.4', '']) assert.equal(parseIpv6(bad), null, bad);
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
    const s = formatIpv6(b);
    assert.equal(isIP(s), 6, s);
    assert.deepEqual(parseIpv6(s), b);
  }));
  fc.assert(fc.property(fc.ipV6(), (s) => {
    const b = parseIpv6(s);
    assert.ok(b !== null, s);
    assert.deepEqual(parseIpv6(formatIpv6(b)), b);
  }));
});

test('IPv4 text: dotted quads only, no leading zeros', () => {
  assert.deepEqual(parseIpv4('127.0.0.1'), new Uint8Array([127, 0, 0, 1]));
  for (const bad of ['256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', ' 1.2.3.4']) assert.equal(parseIpv4(bad), null, bad);
});

test('compact: exact multiples only, capped, round trip', () => {
  assert.throws(() => decodeCompactPeers(new Uint8Array(13), 6, 10), (e: unknown) => e instanceof TrackerError && e.code === 'BAD_COMPACT_LENGTH');
  assert.throws(() => decodeCompactPeers(new Uint8Array(36), 18, 1), (e: unknown) => e instanceof TrackerError && e.code === 'TOO_MANY_PEERS');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 18 * 20 }), (b) => {
    const size = b.length % 18 === 0 ? 18 : 6;
    try {
      const ps = decodeCompactPeers(b, size, 1000);
      assert.equal(ps.length * size, b.length);
      assert.deepEqual(encodeCompactPeers(ps, size), b);
    } catch (e) {
      assert.ok(e instanceof TrackerError && e.code === 'BAD_COMPACT_LENGTH');
      assert.notEqual(b.length % size, 0);
    }
  }));
});

test('dictionary peer hosts: addresses and DNS names, nothing else', () => {
  for (const ok of ['1.2.3.4', '::1', 'a.example', 'x-1.y']) assert.ok(isPeerHost(ok), ok);
  for (const bad of ['', 'a b', 'a/b', '-a', 'a..b', 'x'.repeat(300), '[::1]']) assert.ok(!isPeerHost(bad), bad);
});
