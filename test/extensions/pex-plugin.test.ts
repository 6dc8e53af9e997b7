/**
 * PexPlugin over fake connections (the hooks are real; the engine is a few maps):
 * which listen address and flags each peer is listed with, who hears what, what
 * goes to the dial queue and what does not (us, connected peers, known addresses,
 * seeds while we seed, past the cap), hostile peers closed, private torrents left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode } from '../../wire/bencode.js';
import { parseExtendedHandshake, type ExtensionHook } from '../../wire/extension-hooks.js';
import { PeerCommandQueue } from '../../wire/peer-control.js';
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { PluginPeer } from '../../extensions/plugin.js';
import { MAX_PEX_PAYLOAD, PEX_FLAGS, UT_PEX, decodePex, encodePex, type PexMessage, type PexPeer } from '../../extensions/pex/codec.js';
import { PexHook } from '../../extensions/pex/hook.js';
import { PexPlugin, type PexHost } from '../../extensions/pex/plugin.js';

class FakeHost implements PexHost {
  readonly dialled: string[] = [];
  readonly known = new Set<string>();
  complete = false;
  private = false;
  self: string | null = null;
  addPeer(a: PeerAddress): void { this.dialled.push(formatPeerAddress(a)); this.known.add(formatPeerAddress(a)); }
  knowsPeer(a: PeerAddress): boolean { return this.known.has(formatPeerAddress(a)); }
  isSelf(a: PeerAddress): boolean { return formatPeerAddress(a) === this.self; }
  isComplete(): boolean { return this.complete; }
  isPrivate(): boolean { return this.private; }
}

let nextId = 1;
let clock = 0;

/** One connection: its hook (attached), what it sent, and its PluginPeer. */
class Conn implements PluginPeer {
  readonly id = nextId++;
  readonly control = new PeerCommandQueue(() => clock);
  readonly sent: PexMessage[] = [];
  isSeed = false;
  remoteId: number | null = null;
  readonly hookObj: PexHook;

  constructor(plugin: PexPlugin, readonly address: string, readonly role: 'initiator' | 'acceptor') {
    const h = plugin.create({ infoHash: new Uint8Array(20), peer: address, role });
    assert.ok(h !== null);
    this.hookObj = h;
    const self = this;
    h.attach({
      localId: 1,
      get remoteId() { return self.remoteId; },
      send: (payload) => { self.sent.push(decodePex(payload)); },
      control: this.control,
    });
  }

  hook(name: string): ExtensionHook | null { return name === UT_PEX ? this.hookObj : null; }

  /** The peer's extended handshake (it speaks ut_pex unless `pex` is false). */
  handshake(keys: { [k: string]: number } = {}, pex = true): this {
    this.remoteId = pex ? 3 : null;
    this.hookObj.onPeerHandshake(parseExtendedHandshake(encode({ m: pex ? { ut_pex: 3 } : {}, ...keys })));
    return this;
  }

  tell(peers: PexPeer[]): void { this.hookObj.onMessage(encodePex({ added: peers, dropped: [] })); }
}

function setup(): { host: FakeHost; plugin: PexPlugin; learnt: string[] } {
  const host = new FakeHost();
  const learnt: string[] = [];
  const plugin = new PexPlugin(host, { onLearn: (p, from) => learnt.push(`${formatPeerAddress(p)} from ${from}`) });
  return { host, plugin, learnt };
}

function connect(plugin: PexPlugin, address: string, role: 'initiator' | 'acceptor'): Conn {
  const c = new Conn(plugin, address, role);
  plugin.onPeerAdded(c);
  return c;
}

test('each peer hears of the others by listen address: dialled address, or IP + `p`; never a source port', () => {
  const { plugin } = setup();
  const out = connect(plugin, '1.1.1.1:6881', 'initiator').handshake({ e: 1 });
  const inWithPort = connect(plugin, '2.2.2.2:50123', 'acceptor').handshake({ p: 7000, upload_only: 1 });
  const inNoPort = connect(plugin, '3.3.3.3:50999', 'acceptor').handshake();
  const silent = connect(plugin, '4.4.4.4:6881', 'initiator').handshake({}, false);
  silent.isSeed = true;
  plugin.tick(clock);
  assert.deepEqual(out.sent, [{ added: [
    { host: '2.2.2.2', port: 7000, flags: PEX_FLAGS.SEED },
    { host: '4.4.4.4', port: 6881, flags: PEX_FLAGS.SEED | PEX_FLAGS.REACHABLE },
  ], dropped: [] }]);
  assert.deepEqual(inWithPort.sent[0].added.map(formatPeerAddress), ['1.1.1.1:6881', '4.4.4.4:6881']);
  assert.equal(inWithPort.sent[0].added[0].flags, PEX_FLAGS.ENCRYPTION | PEX_FLAGS.REACHABLE);
  assert.equal(inNoPort.sent.length, 1, 'it hears of the others though nobody can hear of it');
  assert.deepEqual(silent.sent, [], 'a peer without ut_pex gets nothing');
  // A minute later: 3.3.3.3 gave its port in a new handshake, 4.4.4.4 left.
  inNoPort.handshake({ p: 6889 });
  plugin.onPeerRemoved(silent);
  clock += 30_000;
  plugin.tick(clock);
  assert.equal(out.sent.length, 1, 'one message a minute');
  clock += 30_000;
  plugin.tick(clock);
  assert.deepEqual(out.sent[1], { added: [{ host: '3.3.3.3', port: 6889, flags: 0 }], dropped: [{ host: '4.4.4.4', port: 6881 }] });
  assert.deepEqual(plugin.stats().sent, 6);
});

test('learnt peers go to the dial queue once, unless they are us, connected, known, or seeds while we seed', () => {
  const { host, plugin, learnt } = setup();
  const a = connect(plugin, '1.1.1.1:6881', 'initiator').handshake();
  connect(plugin, '2.2.2.2:50000', 'acceptor').handshake({ p: 7000 });
  host.self = '9.9.9.9:6881';
  host.known.add('8.8.8.8:1');
  a.tell([
    { host: '5.5.5.5', port: 5, flags: 0 },
    { host: '9.9.9.9', port: 6881, flags: 0 }, // us
    { host: '2.2.2.2', port: 7000, flags: 0 }, // connected (it dialled us)
    { host: '8.8.8.8', port: 1, flags: 0 }, // already known
    { host: '6.6.6.6', port: 6, flags: PEX_FLAGS.SEED },
  ]);
  assert.deepEqual(host.dialled, ['5.5.5.5:5', '6.6.6.6:6']);
  assert.deepEqual(learnt, ['5.5.5.5:5 from 1.1.1.1:6881', '6.6.6.6:6 from 1.1.1.1:6881']);
  host.complete = true;
  const b = connect(plugin, '3.3.3.3:6881', 'initiator').handshake();
  b.tell([{ host: '7.7.7.7', port: 7, flags: PEX_FLAGS.SEED }, { host: '7.7.7.8', port: 7, flags: 0 }, { host: '5.5.5.5', port: 5, flags: 0 }]);
  assert.deepEqual(host.dialled, ['5.5.5.5:5', '6.6.6.6:6', '7.7.7.8:7'], 'a seed does not dial a seed; nothing twice');
  assert.equal(plugin.stats().added, 3);
});

test('at most maxCandidates addresses come from PEX over the torrent\'s life', () => {
  const host = new FakeHost();
  const plugin = new PexPlugin(host, { maxCandidates: 3, limits: { minReceiveIntervalMs: 0 } });
  const peers = (base: number): PexPeer[] => [0, 1].map((i) => ({ host: `5.5.5.${base + i}`, port: 1, flags: 0 }));
  connect(plugin, '1.1.1.1:6881', 'initiator').handshake().tell(peers(0));
  connect(plugin, '2.2.2.2:6881', 'initiator').handshake().tell(peers(10));
  assert.deepEqual(host.dialled, ['5.5.5.0:1', '5.5.5.1:1', '5.5.5.10:1']);
});

test('a hostile peer is closed with EXTENSION_VIOLATION; a merely malformed message is ignored', () => {
  const { plugin } = setup();
  const c = connect(plugin, '1.1.1.1:6881', 'initiator').handshake();
  c.hookObj.onMessage(new Uint8Array([0x78]));
  assert.equal(c.control.size, 0);
  assert.equal(c.hookObj.lastReceived?.kind, 'ignored');
  c.hookObj.onMessage(new Uint8Array(MAX_PEX_PAYLOAD + 1));
  const cmds = c.control.drain();
  assert.equal(cmds.length, 1);
  assert.ok(cmds[0].type === 'close' && cmds[0].code === 'EXTENSION_VIOLATION');
});

test('private torrents: no hook at all; a magnet that turns out private stops at once', () => {
  const { host, plugin } = setup();
  const c = connect(plugin, '1.1.1.1:6881', 'initiator').handshake();
  connect(plugin, '2.2.2.2:6881', 'initiator').handshake();
  host.private = true;
  assert.equal(plugin.create({ infoHash: new Uint8Array(20), peer: '3.3.3.3:1', role: 'initiator' }), null);
  plugin.tick(clock += 120_000);
  assert.deepEqual(c.sent, []);
  c.tell([{ host: '5.5.5.5', port: 5, flags: 0 }]);
  assert.deepEqual(host.dialled, []);
});
