/**
 * ut_pex target (BEP 11): a PexPlugin with three connections (real hooks, a fake
 * torrent), fed hostile ut_pex payloads on any of them while time passes and the
 * plugin ticks. Allowed outcomes: messages acted on or ignored, a connection closed
 * with EXTENSION_VIOLATION and a PexError. Checked: decodePex gives a result or a
 * PexError, and a decoded message survives encode → decode; the dial queue never gets
 * an address twice, an invalid or port-0 address, or more than the cap; no connection
 * teaches more than its bound; every message we send decodes, holds at most 50 added
 * and 50 dropped, and never names its recipient.
 *
 * Input: [c0][ops ...] (ops.ts)
 *   c0: bit0 the peers are local (loopback) rather than global, bit1 we are a seed,
 *       bit2 connection 0 dialled us
 *   records: a payload on the current connection
 *   actions: 0 time passes (a·256+b)·100 ms and the plugin ticks; 1 current connection
 *            a%3; 2 its peer's extended handshake (p = a·256+b, ut_pex unless b=0);
 *            3 it goes and comes back (a fresh hook)
 */
import { encode } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { PeerCommandQueue } from '../../wire/peer-control.js';
import { formatPeerAddress, type PeerAddress } from '../../format/magnet.js';
import type { PluginPeer } from '../../extensions/plugin.js';
import { PexError, decodePex, encodePex, PEX_FLAGS, type PexMessage } from '../../extensions/pex/codec.js';
import { addressScope } from '../../extensions/pex/address.js';
import { PexHook } from '../../extensions/pex/hook.js';
import { PexPlugin } from '../../extensions/pex/plugin.js';
import { type FuzzTarget, ascii, check, concat, expectTyped } from '../target.js';
import { act, long, opRecords, parseOps, rec } from './ops.js';

const HEADER = 1;
const MAX_CANDIDATES = 64;
const MAX_LEARNED = 40;
const typed = (e: unknown): boolean => e instanceof PexError;

interface Conn extends PluginPeer {
  readonly control: PeerCommandQueue;
  hookObj: PexHook;
  remoteId: number | null;
  sent: PexMessage[];
}

/** What the last run reached (seed checks). */
export const lastPexRun = { dialled: 0, sent: 0, closed: 0 };

function run(input: Uint8Array): void {
  lastPexRun.dialled = 0; lastPexRun.sent = 0; lastPexRun.closed = 0;
  if (input.length < HEADER) return;
  const c0 = input[0];
  const base = (c0 & 1) !== 0 ? '127.0.0.' : '8.8.8.';
  const dialled = new Set<string>();
  let now = 0;
  const plugin = new PexPlugin({
    addPeer: (a: PeerAddress) => {
      const k = formatPeerAddress(a);
      check(!dialled.has(k), `${k} dialled twice`);
      check(a.port > 0 && addressScope(a.host) !== 'invalid', `dialled ${k}`);
      dialled.add(k);
    },
    knowsPeer: (a) => dialled.has(formatPeerAddress(a)),
    isSelf: (a) => a.host === `${base}99`,
    isComplete: () => (c0 & 2) !== 0,
    isPrivate: () => false,
  }, { maxCandidates: MAX_CANDIDATES, limits: { maxLearned: MAX_LEARNED } });

  let ids = 1;
  const open = (i: number): Conn => {
    const role = i === 0 && (c0 & 4) !== 0 ? 'acceptor' : 'initiator';
    const address = `${base}${i + 1}:${role === 'acceptor' ? 50_000 + i : 6881}`;
    const hookObj = plugin.create({ infoHash: new Uint8Array(20), peer: address, role });
    check(hookObj !== null, 'no hook for a public torrent');
    const control = new PeerCommandQueue(() => now);
    const conn: Conn = {
      id: ids++, address, role, control, isSeed: i === 2, hookObj, remoteId: null, sent: [],
      hook: (name) => (name === hookObj.name ? hookObj : null),
    };
    hookObj.attach({
      localId: 1,
      get remoteId() { return conn.remoteId; },
      send: (payload) => {
        const m = expectTyped('decodePex(our message)', () => decodePex(payload), () => false)!;
        check(m.added.length <= 50 && m.dropped.length <= 50, 'a message over 50 + 50');
        const own = hookObj.listenKey();
        check(own === null || !m.added.some((p) => formatPeerAddress(p) === own), 'told a peer about itself');
        conn.sent.push(m);
      },
      control,
    });
    plugin.onPeerAdded(conn);
    return conn;
  };
  const conns = [open(0), open(1), open(2)];
  let cur = 0;
  for (const op of parseOps(input.subarray(HEADER))) {
    const c = conns[cur];
    if (op.kind === 'record' || op.kind === 'raw') {
      const m = expectTyped('decodePex', () => decodePex(op.bytes), typed);
      if (m !== undefined) {
        const back = expectTyped('decodePex(encodePex(m))', () => decodePex(encodePex(m)), () => false)!;
        check(JSON.stringify(back) === JSON.stringify(m), 'a decoded message does not survive encode → decode');
      }
      expectTyped('PexHook.onMessage', () => c.hookObj.onMessage(op.bytes), () => false);
      for (const cmd of c.control.drain()) {
        check(cmd.type === 'close' && cmd.code === 'EXTENSION_VIOLATION' && cmd.error instanceof PexError, `unexpected command ${cmd.type}`);
        lastPexRun.closed++;
      }
      check(c.hookObj.state.stats.learned <= MAX_LEARNED, 'a connection taught more than its bound');
      continue;
    }
    switch (op.code) {
      case 0:
        now += ((op.a << 8) | op.b) * 100;
        expectTyped('PexPlugin.tick', () => plugin.tick(now), () => false);
        break;
      case 1: cur = op.a % conns.length; break;
      case 2: {
        const p = (op.a << 8) | op.b;
        c.remoteId = op.b === 0 ? null : 1;
        const hs = encode({ m: op.b === 0 ? {} : { ut_pex: 1, ut_holepunch: 2 }, p, e: op.a & 1 });
        expectTyped('PexHook.onPeerHandshake', () => c.hookObj.onPeerHandshake(parseExtendedHandshake(hs)), () => false);
        break;
      }
      case 3:
        plugin.onPeerRemoved(c);
        conns[cur] = open(cur);
        break;
      default: break;
    }
  }
  check(dialled.size <= MAX_CANDIDATES, 'more addresses from PEX than the cap');
  lastPexRun.dialled = dialled.size;
  lastPexRun.sent = conns.reduce((n, c) => n + c.sent.length, 0);
  plugin.onTorrentClosed();
}

export const pexTarget: FuzzTarget = {
  name: 'pex',
  about: 'extensions/pex: decodePex, PexPeerState and PexPlugin over three fake connections, time and ticks',
  maxInputLength: 16 * 1024,
  run,
  seeds() {
    const msg = (m: PexMessage): Uint8Array => rec(encodePex(m));
    const peer = (host: string, port = 6881, flags = 0): { host: string; port: number; flags: number } => ({ host, port, flags });
    const hs = (conn: number, port: number): Uint8Array => concat([act(1, conn), act(2, port >> 8, port & 0xff || 1)]);
    return [
      // global peers: handshakes, two messages a minute apart, ticks in between
      concat([new Uint8Array([0x00]), hs(0, 6881), hs(1, 7000), hs(2, 7001), act(0, 0, 10),
        msg({ added: [peer('1.2.3.4'), peer('1.2.3.5', 1, PEX_FLAGS.SEED), peer('10.0.0.1')], dropped: [] }),
        act(0, 2, 100), msg({ added: [peer('2001:db8::1', 9)], dropped: [peer('1.2.3.4')] })]),
      // loopback, we seed, connection 0 dialled us; a flood of quick messages then junk
      concat([new Uint8Array([0x07]), hs(0, 6889), act(0, 0, 5), msg({ added: [peer('127.0.0.7'), peer('127.0.0.8', 1, 2)], dropped: [] }),
        msg({ added: [peer('127.0.0.9')], dropped: [] }), rec(ascii('d5:added7:1234567e')), rec(ascii('d7:added.f1:\x01e')),
        act(3), act(0, 3, 0)]),
      // many entries, malformed lengths, a second handshake taking ut_pex back
      concat([new Uint8Array([0x01]), hs(1, 6881), act(1, 1),
        rec(ascii(`d5:added${36}:${'\x7f\x00\x00\x05\x1a\xe1'.repeat(6)}e`)), act(2, 0, 0), act(0, 9, 0)]),
      // hostile: an oversized payload on one connection, a flood of junk on another
      concat([new Uint8Array([0x00]), hs(0, 6881), long(ascii('d'), 0xffff, ascii('e')), act(1, 1),
        ...Array.from({ length: 10 }, () => rec(ascii('x')))]),
    ];
  },
  records(input) { return opRecords(input, HEADER); },
  dictionary: ['d5:added', '7:added.f', '6:added6', '8:added6.f', '7:dropped', '8:dropped6', 'e', '0:', '6:', '18:', '\x7f\x00\x00\x01', '\x1a\xe1', '\x00\x00'].map(ascii),
};
