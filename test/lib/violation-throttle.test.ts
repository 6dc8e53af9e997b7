/**
 * The per-address violation throttle on its own (sans-IO, clock passed in): the
 * allowance, the doubling ban and its cap, decay, bounded memory, address keys.
 * Over real TCP it is test/hostile/throttle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ViolationThrottle, addressKey, isViolation } from '../../lib/net/violation-throttle.js';

test('the first `allowance` violations are free; then bans of base × 2^k up to the cap', () => {
  const t = new ViolationThrottle({ allowance: 3, baseBanMs: 1000, maxBanMs: 8000, decayMs: 1e9 });
  let now = 0;
  for (let i = 0; i < 3; i++) {
    assert.ok(t.record('1.2.3.4', now) <= now, `violation ${i + 1} is within the allowance`);
    assert.equal(t.admits('1.2.3.4', now), true);
  }
  const bans: number[] = [];
  for (let i = 0; i < 6; i++) {
    const until = t.record('1.2.3.4', now);
    bans.push(until - now);
    assert.equal(t.admits('1.2.3.4', now), false);
    assert.equal(t.admits('1.2.3.4', until - 1), false);
    assert.equal(t.admits('1.2.3.4', until), true, 'admitted again when the ban ends');
    now = until; // the attacker comes back the moment it may
  }
  assert.deepEqual(bans, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(t.admits('5.6.7.8', now), true, 'other addresses are untouched');
});

test('strikes decay by one per decayMs; an address that behaves is forgotten', () => {
  const t = new ViolationThrottle({ allowance: 2, baseBanMs: 100, maxBanMs: 100_000, decayMs: 1000 });
  for (let i = 0; i < 4; i++) t.record('h', 0);
  assert.deepEqual(t.state('h', 0), { strikes: 4, bannedUntil: 200 });
  assert.equal(t.state('h', 2999).strikes, 2);
  assert.equal(t.state('h', 3000).strikes, 1);
  // one more violation at 3000: 2 strikes, still within the allowance
  assert.ok(t.record('h', 3000) <= 3000);
  assert.equal(t.admits('h', 3000), true);
  assert.equal(t.state('h', 5000).strikes, 0);
  assert.equal(t.size, 0, 'nothing kept for an address with no strikes and no ban');
});

test('a long ban outlives the decay of its strikes', () => {
  const t = new ViolationThrottle({ allowance: 0, baseBanMs: 10_000, maxBanMs: 10_000, decayMs: 100 });
  const until = t.record('h', 0);
  assert.equal(until, 10_000);
  assert.equal(t.admits('h', 5000), false, 'strikes are gone but the ban holds');
  assert.equal(t.admits('h', 10_000), true);
});

test('bad options are refused', () => {
  for (const o of [{ allowance: -1 }, { baseBanMs: 0 }, { baseBanMs: 10, maxBanMs: 5 }, { decayMs: 0 }, { maxAddresses: 0 }, { allowance: 1.5 }]) {
    assert.throws(() => new ViolationThrottle(o), RangeError, JSON.stringify(o));
  }
});

test('property: bounded memory, admits ⇔ ban over, bans never exceed the cap, clean addresses always admitted', () => {
  const op = fc.record({
    host: fc.integer({ min: 0, max: 40 }),
    dt: fc.integer({ min: 0, max: 5000 }),
    kind: fc.constantFrom('record', 'admits'),
  });
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 20 }),
    fc.array(op, { maxLength: 300 }),
    (allowance, baseBanMs, capFactor, maxAddresses, ops) => {
      const maxBanMs = baseBanMs * capFactor;
      const t = new ViolationThrottle({ allowance, baseBanMs, maxBanMs, decayMs: 3000, maxAddresses });
      let now = 0;
      for (const o of ops) {
        now += o.dt;
        const host = `10.0.0.${o.host}`;
        if (o.kind === 'record') {
          const until = t.record(host, now);
          assert.ok(until - now <= maxBanMs, 'a ban is at most maxBanMs from now');
          assert.equal(t.admits(host, now), until <= now);
        } else {
          const s = t.state(host, now);
          assert.equal(t.admits(host, now), s.bannedUntil <= now);
        }
        assert.ok(t.size <= maxAddresses, `${t.size} addresses remembered (max ${maxAddresses})`);
        assert.equal(t.admits('192.168.0.1', now), true, 'an address that never violated is admitted');
      }
    },
  ), { numRuns: 300 });
});

test('property: with no allowance every violation bans, and a ban never shortens', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 50 }), (gaps) => {
    const t = new ViolationThrottle({ allowance: 0, baseBanMs: 500, maxBanMs: 60_000, decayMs: 2000 });
    let now = 0;
    let last = 0;
    for (const g of gaps) {
      now += g;
      const until = t.record('h', now);
      assert.ok(until > now, 'banned');
      assert.ok(until >= last, 'the ban end never moves back');
      last = until;
    }
  }));
});

test('address keys: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
  assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2::99'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff::1'), '2001:db8:1:2::/64', 'leading zeros do not make another key');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::1.2.3.4'), '64:ff9b:0:0::/64');
  assert.equal(addressKey('?'), '?');
  // one /64 is one key, whatever the interface id
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), (iid) => {
    const ip = `2001:db8:aa:bb:${iid.map((g) => g.toString(16)).join(':')}`;
    assert.equal(addressKey(ip), '2001:db8:aa:bb::/64');
  }));
});

test('which closes count: protocol breaches and hash failures, not clean ends, cuts or local decisions', () => {
  for (const c of ['BAD_BITFIELD_LENGTH', 'LENGTH_TOO_LARGE', 'UNREQUESTED_PIECE', 'REQUEST_OVERFLOW', 'HANDSHAKE_TIMEOUT', 'BANNED', 'UNKNOWN_EXTENSION_ID', 'EXTENSION_VIOLATION'] as const) {
    assert.equal(isViolation(c), true, c);
  }
  for (const c of ['END', 'CLOSED', 'SOCKET_ERROR', 'TRUNCATED', 'NOT_NEEDED', 'SELF', 'UNKNOWN_TORRENT', 'INFO_HASH_MISMATCH', 'STORAGE', 'KEEPALIVE_TIMEOUT', 'REQUEST_TIMEOUT', 'TORRENT_REJECTED', 'INVALID_ARGUMENT', 'EXTENSION_ERROR'] as const) {
    assert.equal(isViolation(c), false, c);
  }
});
