/**
 * Close reasons in a user's words (lib/cli/peer-words.ts): socket errors by errno
 * (refused, unreachable), hang-ups told apart before and after the handshake, wrong
 * torrent, encryption, protocol breaches by code; and the client a peer id names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientName, peerCloseWords } from '../../lib/cli/peer-words.js';
import type { PeerCloseReason } from '../../lib/engine/peer-session.js';
import { WireError } from '../../wire/errors.js';

const sock = (msg: string): PeerCloseReason => ({ code: 'SOCKET_ERROR', error: new WireError('SOCKET_ERROR', msg) });
const code = (c: PeerCloseReason['code'], msg?: string): PeerCloseReason => ({ code: c, error: msg === undefined ? null : new WireError(c as never, msg) });

test('socket errors: refused, unreachable, reset, by errno', () => {
  assert.deepEqual(peerCloseWords(sock('connect ECONNREFUSED 127.0.0.1:1'), false), { kind: 'refused', text: 'refused (nothing listens there)' });
  assert.deepEqual(peerCloseWords(sock('connect EHOSTUNREACH 10.0.0.1:6881'), false), { kind: 'unreachable', text: 'unreachable (EHOSTUNREACH)' });
  assert.equal(peerCloseWords(sock('connect ENETUNREACH 10.0.0.1:6881'), false).kind, 'unreachable');
  assert.equal(peerCloseWords(sock('connect ETIMEDOUT 10.0.0.1:6881'), false).text, 'unreachable (connect timed out)');
  assert.equal(peerCloseWords(sock('read ECONNRESET'), true).text, 'reset the connection');
  assert.equal(peerCloseWords(sock('read ECONNRESET'), false).text, 'reset the connection during the handshake');
  assert.equal(peerCloseWords(sock('socket closed'), false).text, 'hung up during the handshake');
});

test('hang-ups before and after the handshake; silence; wrong torrent; not BitTorrent', () => {
  assert.deepEqual(peerCloseWords(code('END'), false), { kind: 'hung up', text: 'hung up during the handshake' });
  assert.deepEqual(peerCloseWords(code('END'), true), { kind: 'hung up', text: 'closed the connection' });
  assert.equal(peerCloseWords(code('TRUNCATED'), false).kind, 'hung up');
  assert.equal(peerCloseWords(code('HANDSHAKE_TIMEOUT', 'no complete handshake in time'), false).kind, 'timed out');
  assert.equal(peerCloseWords(code('KEEPALIVE_TIMEOUT'), true).text, 'went silent');
  assert.equal(peerCloseWords(code('INFO_HASH_MISMATCH', 'x'), false).text, 'does not have this torrent (wrong info hash)');
  assert.equal(peerCloseWords(code('BAD_HANDSHAKE', 'x'), false).kind, 'not bittorrent');
});

test('encryption, protocol breaches and our own closes', () => {
  const mse = peerCloseWords(code('MSE_REFUSED', 'plaintext offered under require'), false);
  assert.equal(mse.kind, 'encryption');
  assert.match(mse.text, /^encryption mismatch \(plaintext offered under require; see --encryption\)$/);
  assert.equal(peerCloseWords(code('MSE_FAILED', 'no sync'), false).kind, 'encryption');
  assert.deepEqual(peerCloseWords(code('REQUEST_OVERFLOW', 'x'), true), { kind: 'protocol', text: 'broke the protocol (REQUEST_OVERFLOW)' });
  assert.equal(peerCloseWords(code('BANNED'), true).kind, 'protocol');
  for (const c of ['CLOSED', 'NOT_NEEDED', 'DUPLICATE', 'SELF'] as const) assert.equal(peerCloseWords(code(c), true).kind, 'ours', c);
});

test('client names from Azureus-style peer ids; anything else is unknown', () => {
  const id = (prefix: string): Uint8Array => Buffer.concat([Buffer.from(prefix, 'latin1'), Buffer.alloc(20 - prefix.length, 0x41)]);
  assert.equal(clientName(id('-qB4630-')), 'qBittorrent 4.6.3');
  assert.equal(clientName(id('-TR3000-')), 'Transmission 3');
  assert.equal(clientName(id('-lt20A0-')), 'libtorrent 2.0.10');
  assert.equal(clientName(id('-SY0100-')), 'SeedPay 0.1');
  assert.equal(clientName(id('-ZZ1000-')), null, 'unknown client');
  assert.equal(clientName(id('M7-2-0--')), null, 'not Azureus-style');
  assert.equal(clientName(null), null);
  assert.equal(clientName(new Uint8Array(8)), null);
});
