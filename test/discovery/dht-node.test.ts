/**
 * Our DHT node (bittorrent-dht behind discovery/krpc.ts) over real loopback UDP: the
 * datagrams that crash the library unguarded are dropped and counted while the node
 * keeps answering; queries past the per-address rate are not answered; one host that
 * announces many ports does not make our get_peers answers large.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { DhtNode } from '../../lib/discovery/dht-node.js';
import { MAX_VALUES_OUT } from '../../lib/discovery/guarded-udp.js';
import { decode, encode, isBytes, isDict, isList, type BDict, type Encodable } from '../../wire/bencode.js';

const ID = Buffer.alloc(20, 0x33);

function query(method: string, a: { [k: string]: Encodable }, t = 'aa'): Buffer {
  return encode({ t, y: 'q', q: method, a: { id: ID, ...a } });
}

async function client(host: string): Promise<{ s: Socket; replies: Buffer[] }> {
  const s = createSocket('udp4');
  const replies: Buffer[] = [];
  s.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return { s, replies };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('datagrams that crash bittorrent-dht unguarded are dropped; the node still answers', { timeout: 10_000 }, async (t) => {
  const node = await DhtNode.start({ host: '127.0.0.80', port: 0, bootstrap: [] });
  const { s, replies } = await client('127.0.0.81');
  t.after(async () => { s.close(); await node.close(); });
  const at = node.address();
  assert.equal(at.host, '127.0.0.80');
  const send = (b: Uint8Array): void => s.send(b, at.port, at.host);
  send(query('get_peers', { info_hash: 5 }));
  send(query('find_node', { target: 5 }));
  send(query('announce_peer', { info_hash: ID, port: 1, token: 5 }));
  send(Buffer.from('d1:ad2:id20:'));
  send(query('put', { v: 'x', token: Buffer.from('t') }));
  await until(() => node.guardStats.received >= 5, 5_000, 'five datagrams received');
  assert.equal(node.guardStats.dropped.get('BAD_FIELD'), 3);
  assert.equal(node.guardStats.dropped.get('BAD_BENCODE'), 1);
  assert.equal(node.guardStats.dropped.get('UNKNOWN_METHOD'), 1);
  assert.equal(replies.length, 0, 'nothing answered');
  send(query('ping', {}, 'pp'));
  await until(() => replies.length === 1, 5_000, 'a ping answer');
  const r = decode(replies[0]);
  assert.ok(isDict(r));
  const body = r.get('r');
  assert.ok(isDict(body));
  const id = body.get('id');
  assert.ok(isBytes(id) && Buffer.from(id).equals(node.nodeId), 'answered with its node id');
});

test('queries past the per-address rate go unanswered', { timeout: 10_000 }, async (t) => {
  const node = await DhtNode.start({ host: '127.0.0.82', port: 0, bootstrap: [], queryRate: { max: 3, windowMs: 60_000 } });
  const { s, replies } = await client('127.0.0.83');
  t.after(async () => { s.close(); await node.close(); });
  const at = node.address();
  for (let i = 0; i < 6; i++) s.send(query('ping', {}, `p${i}`), at.port, at.host);
  await until(() => node.guardStats.received >= 6, 5_000, 'six pings received');
  await until(() => replies.length >= 3, 5_000, 'three answers');
  assert.equal(node.guardStats.dropped.get('RATE_LIMITED'), 3);
  const other = await client('127.0.0.84');
  t.after(() => other.s.close());
  other.s.send(query('ping', {}), at.port, at.host);
  await until(() => other.replies.length === 1, 5_000, 'another address is answered');
  assert.equal(replies.length, 3);
});

test('the node binds the port asked for, or any port when it is taken', async (t) => {
  const a = await DhtNode.start({ host: '127.0.0.85', port: 0, bootstrap: [] });
  t.after(() => a.close());
  const b = await DhtNode.start({ host: '127.0.0.85', port: a.address().port, bootstrap: [] });
  t.after(() => b.close());
  assert.notEqual(b.address().port, a.address().port);
  await assert.rejects(DhtNode.start({ host: '127.0.0.300', port: 0, bootstrap: [] }));
});

test('one host announcing many ports: our get_peers answers stay capped', { timeout: 15_000 }, async (t) => {
  const node = await DhtNode.start({ host: '127.0.0.86', port: 0, bootstrap: [], queryRate: false });
  const { s, replies } = await client('127.0.0.87');
  t.after(async () => { s.close(); await node.close(); });
  const at = node.address();
  const IH = Buffer.alloc(20, 0x44);
  /** The `r` of the answer to transaction `tid` (the node also sends us queries of its own). */
  const answer = (tid: string): { r: BDict; bytes: number } | null => {
    for (const m of replies) {
      const d = decode(m);
      const tv = isDict(d) ? d.get('t') : undefined;
      if (isDict(d) && isBytes(tv) && Buffer.from(tv).toString() === tid && isDict(d.get('r'))) return { r: d.get('r') as BDict, bytes: m.length };
    }
    return null;
  };
  s.send(query('get_peers', { info_hash: IH }, 'g0'), at.port, at.host);
  await until(() => answer('g0') !== null, 5_000, 'a token');
  const token = answer('g0')!.r.get('token');
  assert.ok(isBytes(token));
  const N = 300;
  // In batches: a burst of hundreds of datagrams overflows the loopback receive buffer.
  for (let from = 1; from <= N; from += 50) {
    const batch = Array.from({ length: 50 }, (_, i) => from + i);
    for (const p of batch) s.send(query('announce_peer', { info_hash: IH, port: 10_000 + p, token }, `a${p}`), at.port, at.host);
    await until(() => batch.every((p) => answer(`a${p}`) !== null), 5_000, `announces ${from}..${from + 49} answered`);
  }
  s.send(query('get_peers', { info_hash: IH }, 'g1'), at.port, at.host);
  await until(() => answer('g1') !== null, 5_000, 'the peers');
  const { r, bytes } = answer('g1')!;
  const values = r.get('values');
  assert.ok(isList(values));
  assert.equal(values.length, MAX_VALUES_OUT, `${N} peers stored, ${MAX_VALUES_OUT} sent`);
  assert.ok(bytes < 600, `answer of ${bytes} bytes`);
});
