/**
 * PexPeerState, time driven by hand: the diffs it sends (added since, dropped since,
 * 50 + 50 a message, one message a minute, none when nothing changed), and what it
 * takes (one message per 45 s acted on, the rest counted; malformed messages ignored;
 * a flood or an oversized payload hostile; 200 addresses per connection; one port per
 * IP; unicast only). A fast-check property checks that a receiver applying the
 * messages always holds a correct view and converges on ours.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import { MAX_PEX_PAYLOAD, decodePex, encodePex, type PexMessage } from '../../extensions/pex/codec.js';
import { PexPeerState, type PexCandidate } from '../../extensions/pex/peer-state.js';

const MIN = 60_000;

function candidate(host: string, port = 6881, flags = 0): PexCandidate {
  const address = { host, port };
  return { key: formatPeerAddress(address), address, flags };
}

function set(...cs: PexCandidate[]): Map<string, PexCandidate> {
  return new Map(cs.map((c) => [c.key, c]));
}

/** n distinct global IPv4 candidates 1.0.x.y. */
function many(n: number, base = 0): PexCandidate[] {
  return Array.from({ length: n }, (_, i) => candidate(`1.0.${(base + i) >> 8}.${(base + i) & 0xff}`));
}

const keys = (xs: readonly PeerAddress[]): string[] => xs.map(formatPeerAddress).sort();

function sent(s: PexPeerState, now: number, current: Map<string, PexCandidate>, self: string | null = null): PexMessage | null {
  const m = s.nextMessage(now, current, self);
  return m === null ? null : decodePex(m);
}

test('send: the first message at once, then only the diff, at most once a minute', () => {
  const s = new PexPeerState();
  const a = candidate('1.1.1.1', 1, 2);
  const b = candidate('2.2.2.2', 2, 0x10);
  const me = candidate('9.9.9.9');
  const first = sent(s, 0, set(a, b, me), me.key);
  assert.deepEqual(first, { added: [{ host: '1.1.1.1', port: 1, flags: 2 }, { host: '2.2.2.2', port: 2, flags: 0x10 }], dropped: [] }, 'never itself');
  const c = candidate('3.3.3.3', 3);
  assert.equal(s.nextMessage(MIN - 1, set(a, c), null), null, 'a minute between messages');
  assert.equal(s.canSend(MIN - 1), false);
  assert.deepEqual(sent(s, MIN, set(a, c)), { added: [{ host: '3.3.3.3', port: 3, flags: 0 }], dropped: [{ host: '2.2.2.2', port: 2 }] });
  assert.equal(s.nextMessage(3 * MIN, set(a, c), null), null, 'nothing changed: nothing sent');
  assert.equal(s.canSend(3 * MIN), true);
  // b came back and left again between two messages: elided
  assert.equal(s.nextMessage(4 * MIN, set(a, c), null), null);
  assert.equal(s.stats.sent, 2);
});

test('send: nothing to say at first keeps the first message free to go as soon as there is', () => {
  const s = new PexPeerState();
  assert.equal(s.nextMessage(0, set(), null), null);
  const me = candidate('9.9.9.9');
  assert.equal(s.nextMessage(1_000, set(me), me.key), null, 'only the peer itself');
  assert.ok(sent(s, 2_000, set(me, candidate('1.1.1.1')), me.key), 'first message 2 s in, not a minute');
});

test('send: 50 added and 50 dropped a message; the rest follows a minute later', () => {
  const s = new PexPeerState();
  const all = many(120);
  const sizes: number[] = [];
  for (let i = 0; i < 3; i++) sizes.push(sent(s, i * MIN, set(...all))!.added.length);
  assert.deepEqual(sizes, [50, 50, 20]);
  const d1 = sent(s, 3 * MIN, set())!;
  const d2 = sent(s, 4 * MIN, set())!;
  const d3 = sent(s, 5 * MIN, set())!;
  assert.deepEqual([d1.dropped.length, d2.dropped.length, d3.dropped.length], [50, 50, 20]);
  assert.deepEqual(keys([...d1.dropped, ...d2.dropped, ...d3.dropped]), keys(all.map((c) => c.address)));
  assert.equal(s.nextMessage(6 * MIN, set(), null), null);
});

test('receive: one message acted on per 45 s; sooner ones are counted, not acted on', () => {
  const s = new PexPeerState();
  const msg = (host: string): Uint8Array => encodePex({ added: [{ host, port: 6881, flags: 0 }], dropped: [] });
  const r1 = s.receive(msg('1.1.1.1'), 0, 'global');
  assert.equal(r1.kind, 'peers');
  const r2 = s.receive(msg('2.2.2.2'), 10_000, 'global');
  assert.equal(r2.kind, 'ignored');
  assert.equal(r2.kind === 'ignored' && r2.error.reason, 'TOO_FREQUENT');
  const r3 = s.receive(msg('3.3.3.3'), 45_000, 'global');
  assert.deepEqual(r3.kind === 'peers' && r3.added, [{ host: '3.3.3.3', port: 6881, flags: 0 }]);
  assert.deepEqual(s.stats, { sent: 0, received: 3, accepted: 2, tooFrequent: 1, malformed: 0, learned: 2, refused: 0 });
});

test('receive: malformed messages are ignored; a flood of ignored ones, or an oversized payload, is hostile', () => {
  const s = new PexPeerState({ maxStrikes: 4 });
  assert.equal(s.receive(new Uint8Array([1, 2, 3]), 0, 'global').kind, 'ignored');
  assert.equal(s.receive(encodePex({ added: [], dropped: [] }), 1, 'global').kind, 'peers', 'a good one repays a strike');
  for (let i = 0; i < 3; i++) assert.equal(s.receive(new Uint8Array([0x64]), 2 + i, 'global').kind, 'ignored');
  const r = s.receive(new Uint8Array([0x64]), 10, 'global');
  assert.equal(r.kind, 'hostile');
  assert.equal(r.kind === 'hostile' && r.error.reason, 'FLOOD');
  const big = new PexPeerState().receive(new Uint8Array(MAX_PEX_PAYLOAD + 1), 0, 'global');
  assert.equal(big.kind === 'hostile' && big.error.reason, 'TOO_LARGE');
});

test('receive: at most 200 addresses over a connection\'s life, one port per IP, unicast only, local only from local', () => {
  const s = new PexPeerState({ minReceiveIntervalMs: 0 });
  const batch = (base: number): Uint8Array => encodePex({ added: many(90, base).map((c) => ({ ...c.address, flags: 0 })), dropped: [] });
  const learned: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = s.receive(batch(i * 90), i, 'global');
    learned.push(r.kind === 'peers' ? r.added.length : -1);
  }
  assert.deepEqual(learned, [90, 90, 20, 0]);
  assert.equal(s.stats.learned, 200);

  const t = new PexPeerState({ minReceiveIntervalMs: 0 });
  const r = t.receive(encodePex({
    added: [
      { host: '5.5.5.5', port: 1, flags: 0 }, { host: '5.5.5.5', port: 2, flags: 0 }, // same IP, another port
      { host: '6.6.6.6', port: 0, flags: 0 }, { host: '224.0.0.1', port: 1, flags: 0 }, { host: '0.0.0.0', port: 1, flags: 0 },
      { host: '192.168.0.9', port: 1, flags: 0 }, { host: '::1', port: 1, flags: 0 },
    ],
    dropped: [{ host: '7.7.7.7', port: 7 }],
  }), 0, 'global');
  assert.deepEqual(r.kind === 'peers' && r.added, [{ host: '5.5.5.5', port: 1, flags: 0 }]);
  assert.deepEqual(r.kind === 'peers' && r.dropped, [{ host: '7.7.7.7', port: 7 }]);
  const again = t.receive(encodePex({ added: [{ host: '5.5.5.5', port: 3, flags: 0 }], dropped: [] }), 1, 'global');
  assert.deepEqual(again.kind === 'peers' && again.added, [], 'an IP it gave before');
  const local = new PexPeerState().receive(encodePex({ added: [{ host: '127.0.0.3', port: 9, flags: 2 }], dropped: [] }), 0, 'local');
  assert.deepEqual(local.kind === 'peers' && local.added, [{ host: '127.0.0.3', port: 9, flags: 2 }], 'loopback from a loopback peer');
});

test('property: a receiver applying the messages never sees a duplicate or a bad drop, and converges on our peers', () => {
  const pool = many(130);
  const step = fc.record({ keep: fc.uniqueArray(fc.nat(pool.length - 1), { maxLength: 130 }), advance: fc.integer({ min: 0, max: 3 * MIN }) });
  fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), fc.nat(pool.length - 1), (steps, selfIx) => {
    const s = new PexPeerState();
    const self = pool[selfIx].key;
    const view = new Set<string>();
    let now = 0;
    let current = set();
    const deliver = (m: PexMessage): void => {
      assert.ok(m.added.length <= 50 && m.dropped.length <= 50);
      const add = keys(m.added);
      const drop = keys(m.dropped);
      assert.equal(new Set(add).size, add.length, 'an address twice in added');
      assert.equal(new Set(drop).size, drop.length, 'an address twice in dropped');
      for (const k of add) { assert.ok(!view.has(k), `re-added ${k}`); assert.notEqual(k, self); view.add(k); }
      for (const k of drop) { assert.ok(view.has(k), `dropped unknown ${k}`); assert.ok(!add.includes(k)); view.delete(k); }
    };
    for (const st of steps) {
      now += st.advance;
      current = set(...st.keep.map((i) => pool[i]));
      const m = sent(s, now, current, self);
      if (m !== null) deliver(m);
    }
    // No more changes: within ceil(130 / 50) more minutes the receiver holds exactly our peers.
    for (let i = 0; i < 4; i++) {
      now += MIN;
      const m = sent(s, now, current, self);
      if (m !== null) deliver(m);
    }
    assert.deepEqual([...view].sort(), [...current.keys()].filter((k) => k !== self).sort());
  }), { numRuns: 300 });
});
