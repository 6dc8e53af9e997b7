/**
 * The BEP 10 registry over the in-memory pair: per-connection hooks from factories,
 * name↔id maps both ways (ours and the peer's), a declining extension detached,
 * handshake keys (hooks cannot override the connection's), close() reaching hooks once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Pair, fill } from '../wire/pair.js';
import { encode, decode, isDict, type Encodable } from '../../wire/bencode.js';
import { WireError } from '../../wire/errors.js';
import type { ExtensionContext, HookCloseReason, PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import {
  ExtensionRegistry, ExtensionProtocolError, type ClosableExtensionHook, type ExtensionConnectionInfo, type ExtensionFactory,
} from '../../extensions/registry.js';

const INFO = fill(20, 0x11);
const te = new TextEncoder();
const td = new TextDecoder();

class Probe implements ClosableExtensionHook {
  ctx: ExtensionContext | null = null;
  got: string[] = [];
  handshakes = 0;
  closes = 0;
  piecesSent = 0;
  constructor(readonly name: string, readonly keep = true, readonly keys: Record<string, Encodable> = {}) {}
  attach(ctx: ExtensionContext): void { this.ctx = ctx; }
  addHandshakeKeys(d: Map<string, Encodable>): void { for (const [k, v] of Object.entries(this.keys)) d.set(k, v); }
  onPeerHandshake(_hs: PeerExtendedHandshake): boolean { this.handshakes++; return this.keep; }
  onMessage(p: Uint8Array): void { this.got.push(td.decode(p)); }
  onPieceSent(): void { this.piecesSent++; }
  reasons: string[] = [];
  ticks: number[] = [];
  onClose(r: HookCloseReason): void { this.closes++; this.reasons.push(r.code); }
  tick(now: number): void { this.ticks.push(now); }
}

/** A factory that records the hooks it made and the info it was given. */
function factory(name: string, o: { keep?: boolean; keys?: Record<string, Encodable>; skip?: boolean } = {}): ExtensionFactory & { made: Probe[]; infos: ExtensionConnectionInfo[] } {
  const made: Probe[] = [];
  const infos: ExtensionConnectionInfo[] = [];
  return {
    name, made, infos,
    create(info) {
      infos.push(info);
      if (o.skip) return null;
      const h = new Probe(name, o.keep ?? true, o.keys ?? {});
      made.push(h);
      return h;
    },
  };
}

function link(aReg: ExtensionRegistry, bReg: ExtensionRegistry, aOpts = {}) {
  const extA = aReg.forConnection({ infoHash: INFO, peer: 'b', role: 'initiator' });
  const extB = bReg.forConnection({ infoHash: INFO, peer: 'a', role: 'acceptor' });
  const p = new Pair({ infoHash: INFO, a: { extensions: extA.hooks, ...aOpts }, bExtensions: extB.hooks });
  p.drive();
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
  return { p, extA, extB };
}

test('registry: ids both ways with several extensions in different orders', () => {
  const a1 = factory('x_one'); const a2 = factory('x_two'); const a3 = factory('x_three');
  const b3 = factory('x_three'); const b1 = factory('x_one'); const bOnly = factory('x_bonly');
  const { p, extA, extB } = link(new ExtensionRegistry([a1, a2, a3]), new ExtensionRegistry([b3, b1, bOnly]));

  // Ours: list order, as the connection numbered them.
  assert.deepEqual(extA.names, ['x_one', 'x_two', 'x_three']);
  assert.equal(extA.localId('x_one'), 1);
  assert.equal(extA.localId('x_three'), 3);
  assert.equal(extA.localName(2), 'x_two');
  assert.equal(extA.localId('nope'), null);
  assert.equal(extA.localName(9), null);
  assert.equal(a3.made[0].ctx!.localId, 3);
  // The peer's: from its `m`.
  assert.equal(extA.remoteId('x_three'), 1);
  assert.equal(extA.remoteId('x_one'), 2);
  assert.equal(extA.remoteId('x_bonly'), 3);
  assert.equal(extA.remoteId('x_two'), null);
  assert.equal(extA.remoteName(1), 'x_three');
  assert.equal(extA.remoteName(200), null);
  assert.deepEqual([...extB.remoteIds].sort(), [['x_one', 1], ['x_three', 3], ['x_two', 2]]);
  // The maps agree with the connection's own view.
  for (const n of ['x_one', 'x_two', 'x_three', 'x_bonly']) assert.equal(extA.remoteId(n), p.a.remoteExtensionId(n));
  assert.ok(extA.peerHandshake !== null);
  // Factories learnt who the connection is for.
  assert.equal(a1.infos[0].peer, 'b');
  assert.equal(b1.infos[0].role, 'acceptor');

  // Messages reach the right hook on the other side, each way.
  a3.made[0].ctx!.send(te.encode('to three'));
  a1.made[0].ctx!.send(te.encode('to one'));
  b1.made[0].ctx!.send(te.encode('back to one'));
  p.drive();
  assert.deepEqual(b3.made[0].got, ['to three']);
  assert.deepEqual(b1.made[0].got, ['to one']);
  assert.deepEqual(a1.made[0].got, ['back to one']);
  // a has no id from b for x_two: sending is a local error.
  assert.throws(() => a2.made[0].ctx!.send(te.encode('x')), (e: unknown) => e instanceof WireError && e.remote === false);
  // b sending x_bonly: a never advertised it, so b cannot.
  assert.throws(() => bOnly.made[0].ctx!.send(te.encode('x')), (e: unknown) => e instanceof WireError && e.code === 'EXTENSION_NOT_NEGOTIATED');
  assert.equal(p.a.state, 'open');
  assert.equal(p.b.state, 'open');
});

test('registry: a declining extension is detached (no messages, no piece callbacks), close() once per hook', () => {
  const aKeep = factory('x_keep'); const aDecl = factory('x_decline', { keep: false });
  const bKeep = factory('x_keep'); const bDecl = factory('x_decline');
  const { p, extA, extB } = link(new ExtensionRegistry([aKeep, aDecl]), new ExtensionRegistry([bKeep, bDecl]));
  assert.equal(extA.isActive('x_keep'), true);
  assert.equal(extA.isActive('x_decline'), false);
  assert.deepEqual(extA.declined(), ['x_decline']);
  assert.equal(aDecl.made[0].closes, 1, 'a declining hook is released at once');
  assert.deepEqual(aDecl.made[0].reasons, ['DECLINED']);
  // tick reaches active hooks only.
  extA.tick(5);
  assert.deepEqual(aKeep.made[0].ticks, [5]);
  assert.deepEqual(aDecl.made[0].ticks, []);
  // b still advertises and may send on it; a's detached hook never sees it.
  bDecl.made[0].ctx!.send(te.encode('ignored'));
  bKeep.made[0].ctx!.send(te.encode('seen'));
  p.drive();
  assert.deepEqual(aDecl.made[0].got, []);
  assert.deepEqual(aKeep.made[0].got, ['seen']);
  assert.equal(p.a.state, 'open');
  // Its own sends are refused locally.
  assert.throws(() => aDecl.made[0].ctx!.send(te.encode('x')), (e: unknown) => e instanceof WireError && e.remote === false);
  // Piece observers: only the active hook.
  p.a.haveAll(p.now); p.b.interested(p.now); p.a.unchoke(p.now); p.drive();
  p.b.request(0, 0, 16, p.now); p.drive();
  p.a.sendPiece(0, 0, fill(16, 1), p.now); p.drive();
  assert.equal(aKeep.made[0].piecesSent, 1);
  assert.equal(aDecl.made[0].piecesSent, 0);
  // close(reason): each active hook once, with the reason; the declined one is not told again.
  extA.close({ code: 'END', error: null }); extA.close();
  assert.equal(aKeep.made[0].closes, 1);
  assert.deepEqual(aKeep.made[0].reasons, ['END']);
  extA.tick(6);
  assert.deepEqual(aKeep.made[0].ticks, [5], 'no tick after close');
  assert.equal(aDecl.made[0].closes, 1);
  assert.equal(extA.isActive('x_keep'), false);
  extB.close();
  assert.equal(bKeep.made[0].closes, 1);
});

test('registry: a factory may skip a connection; handshake keys from hooks, never over the connection\'s own', () => {
  const skip = factory('x_skip', { skip: true });
  const keys = factory('x_keys', { keys: { metadata_size: 1234, m: 'evil', reqq: 1, v: 'fake', p: 1, yourip: 'zz', x_custom: 'yes' } });
  const plain = factory('x_plain');
  const reg = new ExtensionRegistry([skip, keys]);
  let seen: Uint8Array | null = null;
  const extA = reg.forConnection({ infoHash: INFO, peer: 'b', role: 'initiator' });
  const extB = new ExtensionRegistry([plain]).forConnection({ infoHash: INFO, peer: 'a', role: 'acceptor' });
  assert.deepEqual(extA.names, ['x_keys']);
  assert.equal(skip.infos.length, 1, 'the factory was asked');
  assert.equal(extA.hook('x_skip'), null);
  assert.equal(extA.hook('x_keys'), keys.made[0]);
  const p = new Pair({
    infoHash: INFO, a: { extensions: extA.hooks, clientVersion: 'SeedPay/0.1', listenPort: 7000 }, bExtensions: extB.hooks,
    onTransit: (from, chunk) => { if (from === 'a' && seen === null && chunk.length > 6 && chunk[4] === 20 && chunk[5] === 0) seen = chunk.slice(6); },
  });
  p.drive();
  assert.ok(seen !== null, 'a sent its extended handshake');
  const d = decode(seen!);
  assert.ok(isDict(d));
  assert.equal(d.get('metadata_size'), 1234n);
  assert.equal(td.decode(d.get('x_custom') as Uint8Array), 'yes');
  assert.equal(td.decode(d.get('v') as Uint8Array), 'SeedPay/0.1');
  assert.equal(d.get('p'), 7000n);
  assert.equal(d.get('reqq'), BigInt(p.a.reqq));
  assert.equal(d.has('yourip'), false, 'a hook cannot set yourip');
  const m = d.get('m');
  assert.ok(isDict(m));
  assert.deepEqual([...m.keys()], ['x_keys']);
  const hs = p.b.peerExtendedHandshake!;
  assert.equal(hs.metadataSize, 1234);
  assert.equal(extB.peerHandshake?.metadataSize, 1234);
});

test('registry: a later handshake that disables a name updates the peer map', () => {
  const a = factory('x_one'); const b = factory('x_one'); const b2 = factory('x_two');
  const { p, extA } = link(new ExtensionRegistry([a, factory('x_two')]), new ExtensionRegistry([b, b2]));
  assert.equal(extA.remoteId('x_one'), 1);
  // b re-sends its handshake with x_one disabled (BEP 10: id 0).
  p.b.sendExtended('x_two', new Uint8Array(0), p.now); // any traffic; then a raw handshake
  p.inject('a', frameExtended(0, encode({ m: { x_one: 0, x_two: 7 } })));
  assert.equal(extA.remoteId('x_one'), null);
  assert.equal(extA.remoteId('x_two'), 7);
  assert.equal(p.a.state, 'open');
});

function frameExtended(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(6 + payload.length);
  new DataView(out.buffer).setUint32(0, 2 + payload.length);
  out[4] = 20; out[5] = id;
  out.set(payload, 6);
  return out;
}

test('registry: bad names, duplicates and too many are refused', () => {
  const reg = new ExtensionRegistry([factory('x_one')]);
  const local = (e: unknown) => e instanceof WireError && e.code === 'INVALID_ARGUMENT' && e.remote === false;
  assert.throws(() => reg.add(factory('x_one')), local);
  assert.throws(() => reg.add(factory('')), local);
  assert.throws(() => reg.add(factory('has space')), local);
  assert.throws(() => reg.add(factory('x'.repeat(65))), local);
  const wrong: ExtensionFactory = { name: 'x_wrong', create: () => new Probe('x_other') };
  reg.add(wrong);
  assert.throws(() => reg.forConnection({ infoHash: INFO, peer: 'p', role: 'initiator' }), local);
  const many = new ExtensionRegistry();
  for (let i = 0; i < 254; i++) many.add(factory(`x${i}`));
  assert.throws(() => many.add(factory('x254')), local);
  assert.equal(many.names.length, 254);
});

test('registry: ExtensionProtocolError is a remote WireError the connection ends with', () => {
  const err = new ExtensionProtocolError('x_one', 'BAD_THING', 'nope');
  assert.ok(err instanceof WireError);
  assert.equal(err.code, 'EXTENSION_ERROR');
  assert.equal(err.remote, true);
  assert.equal(err.reason, 'BAD_THING');
  const thrower: ExtensionFactory = { name: 'x_one', create: () => ({ name: 'x_one', onMessage() { throw err; } }) };
  const sender = factory('x_one');
  const { p } = link(new ExtensionRegistry([thrower]), new ExtensionRegistry([sender]));
  sender.made[0].ctx!.send(te.encode('boom'));
  p.drive();
  assert.equal(p.a.state, 'error');
  assert.equal(p.a.error, err);
});

test('registry property: any set of names on both sides gives consistent maps', () => {
  const names = fc.uniqueArray(fc.constantFrom('ut_metadata', 'ut_pex', 'seedpay', 'lt_donthave', 'x_a', 'x_b', 'x_c'), { maxLength: 7 });
  fc.assert(fc.property(names, names, fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }), (na, nb, keepA) => {
    const fa = na.map((n, i) => factory(n, { keep: keepA[i] }));
    const fb = nb.map((n) => factory(n));
    const { p, extA, extB } = link(new ExtensionRegistry(fa), new ExtensionRegistry(fb));
    // With no active hook nothing observes the handshake: the session feeds the event.
    for (const ev of p.take('a', 'extended_handshake')) extA.observeHandshake(ev.handshake);
    for (const ev of p.take('b', 'extended_handshake')) extB.observeHandshake(ev.handshake);
    na.forEach((n, i) => {
      assert.equal(extA.localId(n), i + 1);
      assert.equal(extB.remoteId(n), i + 1);
      assert.equal(extA.isActive(n), keepA[i]);
    });
    nb.forEach((n, i) => assert.equal(extA.remoteId(n), i + 1));
    // A message from b reaches a's hook exactly when a kept it and b knows a's id.
    for (const f of fb) if ((na as string[]).includes(f.name)) f.made[0].ctx!.send(te.encode(f.name));
    p.drive();
    na.forEach((n, i) => {
      const expect = keepA[i] && nb.includes(n) ? [n] : [];
      assert.deepEqual(fa[i].made[0].got, expect);
    });
    assert.equal(p.a.state, 'open');
  }), { numRuns: 60 });
});
