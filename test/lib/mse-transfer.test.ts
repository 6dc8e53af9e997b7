/**
 * MSE/PE over real loopback TCP, ours ↔ ours: a download under 'require' (checked
 * byte-exact, and through a tap that proves no plaintext crossed the wire), the policy
 * pairs, and the listener's answers to raw MSE and plain peers (plaintext picked when
 * offered under 'prefer', a plain handshake refused under 'require', MSE refused under
 * 'off', an MSE info hash that the BitTorrent handshake contradicts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { Client, ClientError, type ClientOptions } from '../../lib/net/client.js';
import { encodeHandshake } from '../../wire/handshake.js';
import { MseInitiator, MseError, type MseResult } from '../../wire/mse/index.js';
import { assertDownloaded, makeFixture, type Fixture } from '../../testkit/torrent-helpers.js';
import { tcpTap } from '../../testkit/tcp-tap.js';

async function transferThroughTap(fx: Fixture, seedOpts: ClientOptions, leechOpts: ClientOptions, dir: string): Promise<Buffer> {
  const seeder = new Client(seedOpts);
  const leecher = new Client(leechOpts);
  const port = await seeder.listen(0);
  const relay = await tcpTap(port);
  try {
    await seeder.add(fx.torrent, { dir: fx.seedDir });
    const lt = await leecher.add(fx.torrent, { dir, peers: [`127.0.0.1:${relay.port}`] });
    await assertDownloaded(lt, fx, dir);
    return relay.seen();
  } finally {
    await leecher.close();
    await seeder.close();
    relay.server.close();
  }
}

async function firstFileSample(fx: Fixture): Promise<Buffer> {
  const data = await readFile(join(fx.seedDir, ...fx.meta.files[0].path));
  return data.subarray(1000, 1064);
}

test("'require' on both sides: byte-exact download, nothing in the clear on the wire", async () => {
  const fx = await makeFixture();
  try {
    const wire = await transferThroughTap(fx, { encryption: 'require' }, { encryption: 'require' }, join(fx.root, 'l'));
    const sample = await firstFileSample(fx);
    assert.ok(wire.length > fx.meta.totalLength, 'the payload crossed the tap');
    assert.equal(wire.indexOf('BitTorrent protocol'), -1, 'no plain handshake');
    assert.equal(wire.indexOf(sample), -1, 'no plain file bytes');
  } finally {
    await fx.cleanup();
  }
});

test("a 'require' dialer and a 'prefer' listener agree on RC4; the default pair stays plain", async () => {
  const fx = await makeFixture({ files: [['a.bin', 300_000]], pieceLength: 32768 });
  try {
    const wire = await transferThroughTap(fx, {}, { encryption: 'require' }, join(fx.root, 'l1'));
    assert.equal(wire.indexOf('BitTorrent protocol'), -1);
    assert.equal(wire.indexOf(await firstFileSample(fx)), -1);
    const plain = await transferThroughTap(fx, {}, {}, join(fx.root, 'l2'));
    assert.notEqual(plain.indexOf('BitTorrent protocol'), -1, "'prefer' dials plain");
  } finally {
    await fx.cleanup();
  }
});

/** Dial `port`, run an MSE initiator with our BT handshake as IA; resolve with its result and the bytes that follow. */
function rawMse(port: number, infoHash: Uint8Array, mode: 'require' | 'prefer', ia: Uint8Array, want = Infinity): Promise<{ result: MseResult | null; error: MseError | null; after: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1');
    const hs = new MseInitiator({ infoHash, mode, now: Date.now(), random: (n) => randomBytes(n), initialPayload: ia });
    const after: Buffer[] = [];
    let error: MseError | null = null;
    const send = (): void => { for (let c = hs.pollTransmit(); c !== null; c = hs.pollTransmit()) sock.write(c); };
    send();
    const result = (): MseResult | null => hs.result;
    sock.on('data', (c: Buffer) => {
      const before = result();
      if (before !== null) { before.decrypt?.process(c); after.push(c); return; }
      try { hs.receive(c, Date.now()); } catch (e) { error = e as MseError; sock.destroy(); return; }
      send();
      const r = result();
      if (r !== null) after.push(Buffer.from(r.initialPayload));
    });
    // Enough of the stream seen: hang up instead of waiting for the peer's keep-alive.
    sock.on('data', () => { if (after.reduce((n, b) => n + b.length, 0) >= want) sock.destroy(); });
    const done = (closed: boolean): void => resolve({ result: hs.result, error, after: Buffer.concat(after), closed });
    sock.on('error', () => {});
    sock.on('close', () => done(true));
    setTimeout(() => { sock.destroy(); }, 3000).unref();
  });
}

test("the listener picks plaintext for an MSE peer offering both under 'prefer', RC4 under 'require'", async () => {
  const fx = await makeFixture({ files: [['b.bin', 100_000]], pieceLength: 32768 });
  const ih = fx.meta.infoHash;
  const ours = encodeHandshake({ infoHash: ih, peerId: new Uint8Array(20).fill(7) });
  for (const [mode, want] of [['prefer', 'plaintext'], ['require', 'rc4']] as const) {
    const seeder = new Client({ encryption: mode });
    try {
      const port = await seeder.listen(0);
      await seeder.add(fx.torrent, { dir: fx.seedDir });
      const r = await rawMse(port, ih, 'prefer', ours, 68);
      assert.equal(r.error, null);
      assert.equal(r.result?.method, want);
      // The seeder's BitTorrent handshake follows, readable with the agreed method.
      assert.equal(r.after.subarray(1, 20).toString(), 'BitTorrent protocol');
      assert.deepEqual(new Uint8Array(r.after.subarray(28, 48)), new Uint8Array(ih));
    } finally {
      await seeder.close();
    }
  }
  await fx.cleanup();
});

test("refusals: plain under 'require', MSE under 'off', unknown or contradicted info hash", async () => {
  const fx = await makeFixture({ files: [['c.bin', 50_000]], pieceLength: 32768 });
  const other = await makeFixture({ files: [['d.bin', 50_000]], pieceLength: 32768, name: 'other' });
  const ih = fx.meta.infoHash;
  const hs = (h: Uint8Array): Uint8Array => encodeHandshake({ infoHash: h, peerId: new Uint8Array(20).fill(9) });
  const req = new Client({ encryption: 'require' });
  const off = new Client({ encryption: 'off' });
  const pref = new Client();
  try {
    const [pReq, pOff, pPref] = await Promise.all([req.listen(0), off.listen(0), pref.listen(0)]);
    for (const c of [req, off, pref]) await c.add(fx.torrent, { dir: fx.seedDir });
    await pref.add(other.torrent, { dir: other.seedDir });

    // A plain handshake to 'require': closed, nothing answered.
    const plain = await new Promise<Buffer>((resolve) => {
      const got: Buffer[] = [];
      const s = connect(pReq, '127.0.0.1', () => s.write(hs(ih)));
      s.on('data', (c: Buffer) => got.push(c));
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(got)));
    });
    assert.equal(plain.length, 0, 'no byte answered to a plain peer under require');

    // MSE to 'off': the listener reads it as a bad BitTorrent handshake and closes.
    const toOff = await rawMse(pOff, ih, 'require', hs(ih));
    assert.equal(toOff.result, null);
    assert.ok(toOff.closed);

    // MSE naming a torrent the listener does not serve.
    const unknown = await rawMse(pPref, new Uint8Array(20).fill(1), 'require', hs(ih));
    assert.equal(unknown.result, null);
    assert.ok(unknown.closed);

    // MSE for one torrent, BitTorrent handshake for another (both served): refused.
    const mixed = await rawMse(pPref, ih, 'require', hs(other.meta.infoHash));
    assert.equal(mixed.result?.method, 'rc4');
    assert.equal(mixed.after.length, 0, 'no BitTorrent handshake answered');
    assert.ok(mixed.closed);
  } finally {
    await Promise.all([req.close(), off.close(), pref.close()]);
    await fx.cleanup();
    await other.cleanup();
  }
});

test('a broken MSE handshake counts as a violation for the address throttle; a policy mismatch does not', async () => {
  const fx = await makeFixture({ files: [['f.bin', 50_000]], pieceLength: 32768 });
  const c = new Client({ encryption: 'require' });
  const seen: string[] = [];
  c.on('violation', (_addr, code) => seen.push(code));
  try {
    const port = await c.listen(0);
    await c.add(fx.torrent, { dir: fx.seedDir });
    const sendAndWait = (bytes: Uint8Array): Promise<void> => new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(bytes));
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('close', () => resolve());
    });
    // A key, then more than 512 bytes without HASH('req1', S): no sync.
    await sendAndWait(new Uint8Array(96 + 600).fill(0x55));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['MSE_FAILED']);
    // A plain handshake under 'require' is refused, but it is not an attack.
    await sendAndWait(encodeHandshake({ infoHash: fx.meta.infoHash, peerId: new Uint8Array(20).fill(5) }));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, ['MSE_FAILED']);
  } finally {
    await c.close();
    await fx.cleanup();
  }
});

test('an MSE peer that goes silent mid-handshake is closed at the handshake timeout', async () => {
  const c = new Client({ encryption: 'require', handshakeTimeout: 300 });
  const codes: string[] = [];
  c.on('violation', (_addr, code) => codes.push(code));
  try {
    const port = await c.listen(0);
    const t0 = Date.now();
    const answered = await new Promise<number>((resolve) => {
      let n = 0;
      const s = connect(port, '127.0.0.1', () => s.write(new Uint8Array(96).fill(0x42))); // Ya, then nothing
      s.on('data', (d: Buffer) => { n += d.length; });
      s.on('error', () => {});
      s.on('close', () => resolve(n));
    });
    const waited = Date.now() - t0;
    assert.ok(answered >= 96, 'Yb was sent');
    assert.ok(waited >= 250 && waited < 5000, `closed after ${waited} ms`);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(codes, ['HANDSHAKE_TIMEOUT']);
  } finally {
    await c.close();
  }
});

test('a bad encryption option is refused', () => {
  assert.throws(() => new Client({ encryption: 'maybe' as never }), (e) => e instanceof ClientError && e.code === 'BAD_OPTION');
});
