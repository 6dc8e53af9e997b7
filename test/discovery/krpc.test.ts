import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KrpcError, capOutgoing, encodeKrpc, parseKrpc, sanitizeKrpc, type KrpcErrorCode, type KrpcMessage } from '../../discovery/krpc.js';
import { encode, type Encodable } from '../../wire/bencode.js';

const ID = Buffer.alloc(20, 0x11);
const IH = Buffer.alloc(20, 0x22);
const T = Buffer.from('aa');

function q(method: string, a: { [k: string]: Encodable }): Uint8Array {
  return encode({ t: T, y: 'q', q: method, a: { id: ID, ...a } });
}
function r(fields: { [k: string]: Encodable }): Uint8Array {
  return encode({ t: T, y: 'r', r: { id: ID, ...fields } });
}
function codeOf(b: Uint8Array, allowLocalAddresses = false): KrpcErrorCode | 'ok' {
  try { parseKrpc(b, { allowLocalAddresses }); return 'ok'; } catch (e) { if (e instanceof KrpcError) return e.code; throw e; }
}
const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'none' : Buffer.from(b).toString('hex'));
const compact = (ip: number[], port: number): Buffer => Buffer.from([...ip, port >> 8, port & 0xff]);

test('the four BEP 5 queries parse to their fields alone', () => {
  assert.deepEqual(parseKrpc(q('ping', { v: 'LT20' })), { y: 'q', t: T, q: 'ping', id: ID });
  assert.deepEqual(parseKrpc(q('find_node', { target: IH, want: ['n4'] })), { y: 'q', t: T, q: 'find_node', id: ID, target: IH });
  assert.deepEqual(parseKrpc(q('get_peers', { info_hash: IH, noseed: 1 })), { y: 'q', t: T, q: 'get_peers', id: ID, infoHash: IH });
  const ann = parseKrpc(q('announce_peer', { info_hash: IH, port: 6881, token: Buffer.from('tok'), name: 'x', seed: 1 }));
  assert.deepEqual(ann, { y: 'q', t: T, q: 'announce_peer', id: ID, infoHash: IH, port: 6881, token: Buffer.from('tok'), impliedPort: false });
  // implied_port: the source port is used, `port` may be anything
  const implied = parseKrpc(q('announce_peer', { info_hash: IH, port: 0, implied_port: 1, token: Buffer.from('tok') }));
  assert.equal(implied.y === 'q' && implied.impliedPort, true);
  // the re-encoding carries nothing but those fields
  assert.equal(Buffer.from(encodeKrpc(ann)).toString('latin1'),
    `d1:ad2:id20:${ID.toString('latin1')}12:implied_porti0e9:info_hash20:${IH.toString('latin1')}4:porti6881e5:token3:toke1:q13:announce_peer1:t2:aa1:y1:qe`);
});

test('the datagrams that crash bittorrent-dht unguarded are refused with a typed error', () => {
  // Each of these, sent once to an unguarded bittorrent-dht 11.0.12 node, throws in its socket handler.
  assert.equal(codeOf(q('get_peers', { info_hash: 5 })), 'BAD_FIELD'); // toString('hex') on a number
  assert.equal(codeOf(q('find_node', { target: 5 })), 'BAD_FIELD'); // k-bucket: id is not a Uint8Array
  assert.equal(codeOf(q('announce_peer', { info_hash: IH, port: 5, token: 5 })), 'BAD_FIELD'); // token.equals
  assert.equal(codeOf(encode({ t: T, y: 'r', r: { id: 5 } })), 'BAD_FIELD'); // peer.id.equals(rid)
});

test('hostile shapes: each refused with its code', () => {
  const cases: [Uint8Array, KrpcErrorCode][] = [
    [Buffer.from('not bencode'), 'BAD_BENCODE'],
    [Buffer.from('li1ee'), 'NOT_A_DICT'],
    [encode({ t: T, y: 'x' }), 'BAD_TYPE'],
    [encode({ y: 'q', q: 'ping', a: { id: ID } }), 'BAD_TRANSACTION'],
    [encode({ t: Buffer.alloc(33), y: 'q', q: 'ping', a: { id: ID } }), 'BAD_TRANSACTION'],
    [encode({ t: 7, y: 'q', q: 'ping', a: { id: ID } }), 'BAD_TRANSACTION'],
    [q('put', { v: 'x', token: Buffer.from('t') }), 'UNKNOWN_METHOD'],
    [q('get', { target: IH }), 'UNKNOWN_METHOD'],
    [encode({ t: T, y: 'q', q: 'ping' }), 'BAD_FIELD'],
    [encode({ t: T, y: 'q', q: 'ping', a: { id: Buffer.alloc(19) } }), 'BAD_FIELD'],
    [q('announce_peer', { info_hash: IH, port: 0, token: Buffer.from('t') }), 'BAD_FIELD'],
    [q('announce_peer', { info_hash: IH, port: 70000, token: Buffer.from('t') }), 'BAD_FIELD'],
    [q('announce_peer', { info_hash: IH, port: 1, token: Buffer.alloc(65) }), 'BAD_FIELD'],
    [q('announce_peer', { info_hash: IH, port: 1, token: Buffer.from('t'), implied_port: 'yes' }), 'BAD_FIELD'],
    [r({ nodes: 5 }), 'BAD_FIELD'],
    [r({ values: Buffer.alloc(6) }), 'BAD_FIELD'],
    [r({ token: [] }), 'BAD_FIELD'],
    [encode({ t: T, y: 'e', e: 'oops' }), 'BAD_FIELD'],
    [encode({ t: T, y: 'e', e: [-1, 'x'] }), 'BAD_FIELD'],
    [Buffer.from(`d1:rd2:id20:${ID.toString('latin1')}6:valueslllleeeee1:t2:aa1:y1:re`, 'latin1'), 'BAD_BENCODE'], // too deep
    [Buffer.concat([Buffer.from('d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:'), ID, Buffer.from('1:x5000:'), Buffer.alloc(5000), Buffer.from('ee')]), 'BAD_BENCODE'], // too large
  ];
  for (const [b, code] of cases) assert.equal(codeOf(b), code, Buffer.from(b).toString('latin1').slice(0, 80));
});

test('responses keep whole node entries and IPv4 peers only; local addresses only when allowed', () => {
  const nodeA = Buffer.concat([Buffer.alloc(20, 1), compact([8, 8, 8, 8], 6881)]);
  const nodeLocal = Buffer.concat([Buffer.alloc(20, 2), compact([127, 0, 0, 5], 6881)]);
  const nodeNoPort = Buffer.concat([Buffer.alloc(20, 3), compact([9, 9, 9, 9], 0)]);
  const msg = r({
    nodes: Buffer.concat([nodeA, nodeLocal, nodeNoPort, Buffer.alloc(7)]),
    values: [compact([1, 2, 3, 4], 80), compact([127, 0, 0, 1], 80), Buffer.alloc(18, 1), compact([224, 0, 0, 1], 80), 5],
    token: Buffer.from('tok'), ip: compact([1, 1, 1, 1], 1), v: 'LT',
  });
  const pub = parseKrpc(msg);
  assert.ok(pub.y === 'r');
  assert.deepEqual(hex(pub.nodes), hex(nodeA));
  assert.deepEqual(pub.values?.map(hex), [hex(compact([1, 2, 3, 4], 80))]);
  assert.deepEqual(pub.token, Buffer.from('tok'));
  const loop = parseKrpc(msg, { allowLocalAddresses: true });
  assert.ok(loop.y === 'r');
  assert.deepEqual(hex(loop.nodes), hex(Buffer.concat([nodeA, nodeLocal])));
  assert.deepEqual(loop.values?.map(hex), [compact([1, 2, 3, 4], 80), compact([127, 0, 0, 1], 80), compact([224, 0, 0, 1], 80)].map(hex));
  // caps
  const many = r({ values: Array.from({ length: 300 }, (_, i) => compact([1, 2, i >> 8, i & 0xff], 80)) });
  const capped = parseKrpc(many, { maxValues: 10 });
  assert.equal(capped.y === 'r' && capped.values?.length, 10);
});

test('errors keep [code, message]', () => {
  const e = parseKrpc(encode({ t: T, y: 'e', e: [201, 'A Generic Error'] }));
  assert.deepEqual(e, { y: 'e', t: T, code: 201, message: Buffer.from('A Generic Error') });
  assert.deepEqual(parseKrpc(encodeKrpc(e)), e);
});

test('property: any bytes parse to a message or a KrpcError, and a message survives encode → parse', () => {
  const bencodeish = fc.letrec<{ v: Encodable }>((tie) => ({
    v: fc.oneof({ depthSize: 'small' },
      fc.integer(), fc.uint8Array({ maxLength: 30 }), fc.constantFrom<Encodable>(ID, IH, T, 'q', 'r', 'e', 'ping', 'get_peers', 'find_node', 'announce_peer'),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.constantFrom('t', 'y', 'q', 'a', 'r', 'e', 'id', 'target', 'info_hash', 'token', 'port', 'implied_port', 'nodes', 'values'), tie('v'), { maxKeys: 6 })),
  })).v;
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), bencodeish.map((v) => { try { return encode(v); } catch { return new Uint8Array(0); } })), (b) => {
    const s = sanitizeKrpc(b, { allowLocalAddresses: true });
    if ('error' in s) { assert.ok(s.error instanceof KrpcError); return; }
    const back: KrpcMessage = parseKrpc(s.ok, { allowLocalAddresses: true });
    assert.deepEqual(Buffer.from(encodeKrpc(back)), Buffer.from(s.ok));
  }), { numRuns: 3000 });
});

test('our own get_peers answers are capped; anything else leaves as it is', () => {
  const values = Array.from({ length: 120 }, (_, i) => compact([1, 2, 3, i], 80));
  const big = r({ token: Buffer.from('tok'), values });
  const out = parseKrpc(capOutgoing(big, 50));
  assert.ok(out.y === 'r');
  assert.deepEqual(out.values?.map(hex), values.slice(0, 50).map(hex));
  assert.deepEqual(hex(out.token), hex(Buffer.from('tok')));
  for (const b of [r({ values: values.slice(0, 50) }), q('ping', {}), Buffer.from('junk')]) assert.equal(capOutgoing(b, 50), b);
});
