/**
 * The cross-dial rule (lib/engine/cross-dial.ts): both ends of a pair that dialled each
 * other close the same connection, and nothing else counts as a cross-dial.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossDial, type DialEnd } from '../../lib/engine/cross-dial.js';

const id = (b: number): Uint8Array => new Uint8Array(20).fill(b);
const end = (role: DialEnd['role'], address: string, peerId: Uint8Array | null, more: Partial<DialEnd> = {}): DialEnd =>
  ({ role, address, peerId, registered: true, isClosed: false, ...more });

test('both ends keep the connection dialled by the lower peer id', () => {
  const A = id(1);
  const B = id(2);
  // A's view: its dial to B (127.0.0.3:7000), and B's dial to it (from B's ephemeral port).
  const aOut = end('initiator', '127.0.0.3:7000', B);
  const aIn = end('acceptor', '127.0.0.3:51000', B);
  // B's view of the same two connections.
  const bIn = end('acceptor', '127.0.0.2:52000', A);
  const bOut = end('initiator', '127.0.0.2:6881', A);
  assert.deepEqual(crossDial(aIn, [aOut, aIn], A), { winner: aOut, loser: aIn }, 'A (lower id) keeps its own dial');
  assert.deepEqual(crossDial(aOut, [aIn, aOut], A), { winner: aOut, loser: aIn }, 'whichever registers second');
  assert.deepEqual(crossDial(bOut, [bIn], B), { winner: bIn, loser: bOut }, 'B keeps the connection A dialled');
  assert.deepEqual(crossDial(bIn, [bOut], B), { winner: bIn, loser: bOut });
});

test('not a cross-dial: another IP, another peer id, the same direction, a closed or unregistered one', () => {
  const us = id(9);
  const P = id(5);
  const s = end('acceptor', '10.0.0.5:40000', P);
  assert.equal(crossDial(s, [end('initiator', '10.0.0.6:6881', P)], us), null, 'a stranger borrowing the peer id');
  assert.equal(crossDial(s, [end('initiator', '10.0.0.5:6881', id(6))], us), null);
  assert.equal(crossDial(s, [end('acceptor', '10.0.0.5:40001', P)], us), null, 'a reconnect while the old socket lingers');
  assert.equal(crossDial(s, [end('initiator', '10.0.0.5:6881', P, { isClosed: true })], us), null);
  assert.equal(crossDial(s, [end('initiator', '10.0.0.5:6881', P, { registered: false })], us), null);
  assert.equal(crossDial(end('acceptor', '::1:40000', P), [end('initiator', '[::1]:6881', P)], us)?.loser.role, 'initiator', 'IPv6 labels of both kinds');
});
