/**
 * The peer report of `seedpay get` (lib/cli/peer-report.ts), as bookkeeping: a repeated
 * failure of one peer is reported the 1st, 2nd, 4th, 8th… time and a new kind at once;
 * a given peer that never connects is given up after GIVE_UP_AFTER failed dials (only
 * when the command has no other source); one that connected once never is; discovered
 * peers' failed dials are counted, not lines; "no peer connected now" once per loss;
 * "still looking" every LOOKING_EVERY_MS while nobody is connected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GIVE_UP_AFTER, LOOKING_EVERY_MS, PeerReport } from '../../lib/cli/peer-report.js';
import type { PeerCloseReason } from '../../lib/engine/peer-session.js';
import { WireError } from '../../wire/errors.js';

const refused: PeerCloseReason = { code: 'SOCKET_ERROR', error: new WireError('SOCKET_ERROR', 'connect ECONNREFUSED 127.0.0.1:1') };
const hungUp: PeerCloseReason = { code: 'END', error: null };
const silent: PeerCloseReason = { code: 'KEEPALIVE_TIMEOUT', error: null };

function make(o: { given?: string[]; via?: string[]; giveUp?: boolean } = {}): { r: PeerReport; lines: string[]; gaveUp: string[]; clock: { now: number } } {
  const lines: string[] = [];
  const gaveUp: string[] = [];
  const clock = { now: 0 };
  const r = new PeerReport({
    given: o.given ?? ['127.0.0.1:1'], line: (l) => lines.push(l), lookingVia: o.via ?? [], now: () => clock.now,
    ...(o.giveUp === true ? { gaveUp: (p: string, why: string) => gaveUp.push(`${p} ${why}`) } : {}),
  });
  return { r, lines, gaveUp, clock };
}

test('a given peer: connected, refused, dropped — one line each, with the retry delay', () => {
  const { r, lines } = make();
  r.dialFailed('127.0.0.1:1', refused, 2000);
  r.connected('127.0.0.1:1', 'qBittorrent 4.6.3');
  r.dropped('127.0.0.1:1', silent, 1000);
  r.dialFailed('127.0.0.1:1', hungUp, 0);
  assert.deepEqual(lines, [
    'peer 127.0.0.1:1 refused (nothing listens there), retrying in 2 s',
    'peer 127.0.0.1:1 connected (qBittorrent 4.6.3)',
    'peer 127.0.0.1:1 dropped (went silent), retrying in 1 s',
    'peer 127.0.0.1:1 hung up during the handshake, retrying now',
  ]);
});

test('growing silence: the same failure is a line the 1st, 2nd, 4th, 8th… time; a new kind at once', () => {
  const { r, lines } = make();
  for (let i = 0; i < 20; i++) r.dialFailed('127.0.0.1:1', refused, 30_000);
  assert.equal(lines.length, 5, lines.join('\n'));
  assert.match(lines[4], /refused .*retrying in 30 s \(16 times so far\)$/);
  r.dialFailed('127.0.0.1:1', hungUp, 30_000);
  assert.equal(lines.length, 6, 'a new kind of failure is reported');
  fc.assert(fc.property(fc.integer({ min: 1, max: 2000 }), (n) => {
    const m = make();
    for (let i = 0; i < n; i++) m.r.dialFailed('127.0.0.1:1', refused, 1000);
    assert.equal(m.lines.length, Math.floor(Math.log2(n)) + 1);
  }));
});

test('give up: only with gaveUp, only a peer that never connected, after GIVE_UP_AFTER failures in a row', () => {
  const a = make({ giveUp: true });
  for (let i = 0; i < GIVE_UP_AFTER; i++) a.r.dialFailed('127.0.0.1:1', refused, 2000);
  assert.deepEqual(a.gaveUp, [`127.0.0.1:1 refused (nothing listens there), ${GIVE_UP_AFTER} attempts in a row`]);
  assert.equal(a.lines.length, GIVE_UP_AFTER - 1, 'the last failure is the give-up, not another line');
  a.r.dialFailed('127.0.0.1:1', refused, 2000);
  assert.equal(a.gaveUp.length, 1, 'once');

  const b = make({ giveUp: true });
  b.r.connected('127.0.0.1:1', null);
  b.r.dropped('127.0.0.1:1', hungUp, 1000);
  for (let i = 0; i < 10 * GIVE_UP_AFTER; i++) b.r.dialFailed('127.0.0.1:1', refused, 2000);
  assert.deepEqual(b.gaveUp, [], 'a peer that connected once is retried (a seed restarting)');

  const c = make();
  for (let i = 0; i < 10 * GIVE_UP_AFTER; i++) c.r.dialFailed('127.0.0.1:1', refused, 2000);
  assert.deepEqual(c.gaveUp, [], 'other sources: never given up');
});

test('discovered peers: failed dials are counted in the summary, not lines; connections are lines', () => {
  const { r, lines, clock } = make({ given: [], via: ['DHT'] });
  for (let p = 2; p < 50; p++) r.dialFailed(`10.0.0.1:${p}`, p % 3 === 0 ? hungUp : refused, 2000);
  assert.deepEqual(lines, []);
  clock.now = LOOKING_EVERY_MS - 1;
  r.tick(0);
  assert.deepEqual(lines, []);
  clock.now = LOOKING_EVERY_MS;
  r.tick(0);
  assert.deepEqual(lines, ['still looking for peers via DHT (nobody connected; 48 peers tried: 32 refused, 16 hung up)']);
  r.connected('10.0.0.1:3', null);
  assert.equal(lines[1], 'peer 10.0.0.1:3 connected');
  clock.now += 10 * LOOKING_EVERY_MS;
  r.tick(1);
  assert.equal(lines.length, 2, 'not while someone is connected');
});

test('no peer connected now: once per loss, naming what is retried', () => {
  const { r, lines } = make({ via: ['tracker http://t/announce'] });
  r.allGone();
  assert.deepEqual(lines, [], 'never connected: nothing was lost');
  r.connected('127.0.0.1:1', null);
  r.allGone();
  r.allGone();
  assert.deepEqual(lines.slice(1), ['no peer connected now; retrying 127.0.0.1:1 (connected before); still looking via tracker http://t/announce']);

  // Given peers dropped on purpose are not retried; with nothing left, no line.
  const dropped = new Set<string>();
  const out: string[] = [];
  const r2 = new PeerReport({ given: ['127.0.0.1:1', '127.0.0.1:2'], line: (l) => out.push(l), ignore: (p) => dropped.has(p) });
  r2.connected('127.0.0.1:1', null);
  dropped.add('127.0.0.1:1');
  r2.allGone();
  assert.deepEqual(out.slice(1), ['no peer connected now; retrying 127.0.0.1:2']);
  r2.connected('127.0.0.1:2', null);
  dropped.add('127.0.0.1:2');
  r2.allGone();
  assert.equal(out.length, 3, 'every given peer dropped, nowhere else to look: the command ends, no line');
});

test('drops we caused are not news; a peer that dialled us is "disconnected"', () => {
  const { r, lines } = make();
  r.dropped('127.0.0.1:1', { code: 'CLOSED', error: null }, 1000);
  r.dropped('127.0.0.1:1', { code: 'NOT_NEEDED', error: null }, 1000);
  assert.deepEqual(lines, []);
  r.dropped('127.0.0.9:51000', hungUp, null);
  assert.deepEqual(lines, ['peer 127.0.0.9:51000 disconnected (closed the connection)']);
});
