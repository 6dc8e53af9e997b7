/**
 * Connection target: a PeerConnection (initiator or acceptor, with or without fast and
 * BEP 10, piece count known or not) receives a valid peer handshake and then the fuzz
 * bytes re-framed as length-prefixed messages (ops.ts), interleaved with our own local
 * commands (unchoke, request, serve, timeouts ...) so that replies, pieces and cancels
 * meet real state. Only events, typed refusals of local commands, and at most one
 * 'error' event with a WireError are allowed (see conn-driver.ts).
 *
 * Input: [c0 flags][c1 split mode][c2 options][ops ...]
 *   c0: bit0 acceptor, bit1 peer fast, bit2 peer extended, bit3 we have no fast,
 *       bit4 we have no BEP 10, bit5 piece count unknown, bits6-7 piece count (1, 8, 13, 100)
 *   c2: bit0 receiveEnd at the end, bit1 ut_metadata hook bound, bit2 16 KiB frame cap,
 *       bits3-4 our reqq (250, 1, 4, 2), bit5 maxBufferedOutbound 64 bytes (parsing pauses until we drain)
 */
import { PeerConnection, type ConnectionEvent } from '../../wire/connection.js';
import { encodeHandshake, makeReserved } from '../../wire/handshake.js';
import { encode } from '../../wire/bencode.js';
import { ExtensionRegistry } from '../../extensions/registry.js';
import { UtMetadata } from '../../extensions/ut-metadata.js';
import { type FuzzTarget, ascii, concat } from '../target.js';
import { ConnDriver } from './conn-driver.js';
import { parseOps, opRecords, rec, act, raw, long } from './ops.js';
import { SMALL_INFO as INFO, SMALL_INFO_HASH as INFO_HASH, PEER_ID, REMOTE_ID } from './fixture.js';
import { frame, u32be } from './wire-seeds.js';
import { realExtendedHandshakes } from './ext-seeds.js';

const PIECES = [1, 8, 13, 100] as const;
const REQQ = [250, 1, 4, 2] as const;
const HEADER = 3;

/** Messages without their length prefix (the op language adds it). */
const body = (id: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array => concat([new Uint8Array([id]), payload]);
const u32s = (...n: number[]): Uint8Array => concat(n.map(u32be));

/** What the last run reached (for seed checks in tests, and debugging). */
export const lastConnRun = { events: [] as string[], error: null as string | null };

function run(input: Uint8Array): void {
  lastConnRun.events = []; lastConnRun.error = null;
  if (input.length < HEADER) return;
  const [c0, c1, c2] = input;
  const acceptor = (c0 & 1) !== 0;
  const numPieces = PIECES[c0 >> 6];
  const deferred = (c0 & 0x20) !== 0;
  const withHook = (c2 & 2) !== 0;
  let now = 1_000;
  const hooks = () => withHook
    ? new ExtensionRegistry([new UtMetadata({ infoHash: INFO_HASH, infoBytes: INFO, now })]).forConnection({ infoHash: INFO_HASH, peer: 'fuzz', role: acceptor ? 'acceptor' : 'initiator' }).hooks
    : [];
  const conn = new PeerConnection({
    role: acceptor ? 'acceptor' : 'initiator', peerId: PEER_ID, now,
    infoHash: acceptor ? undefined : INFO_HASH, numPieces: acceptor ? undefined : deferred ? null : numPieces,
    fast: (c0 & 8) === 0, extended: (c0 & 0x10) === 0, reqq: REQQ[(c2 >> 3) & 3],
    maxMessageLength: (c2 & 4) !== 0 ? 0x4000 + 13 : undefined,
    ...((c2 & 0x20) !== 0 ? { maxBufferedOutbound: 64 } : {}),
    // lib/ runs the wire with borrowed payloads (one reused assembly buffer)
    borrowPayloads: (c2 & 0x40) !== 0,
    extensions: acceptor ? undefined : hooks(),
    clientVersion: 'SeedPay fuzz', listenPort: 6881, yourIp: new Uint8Array([127, 0, 0, 1]),
  });
  const drv: ConnDriver = new ConnDriver(conn, 64 + 8 * input.length, (ev: ConnectionEvent) => {
    if (ev.type === 'handshake_info_hash') drv.local('accept', () => conn.accept({ numPieces: deferred ? null : numPieces, extensions: hooks() }, drv.now));
  });
  if (!acceptor) drv.local('sendHandshake', () => conn.sendHandshake(drv.now));
  const reserved = makeReserved({ fast: (c0 & 2) !== 0, extended: (c0 & 4) !== 0, dht: true });
  const mode = c1 & 0x3f;
  let seed = c1 * 0x01000193;
  let pending: Uint8Array[] = [encodeHandshake({ infoHash: INFO_HASH, peerId: REMOTE_ID, reserved })];
  const flush = (): void => {
    if (pending.length === 0) return;
    drv.deliver(concat(pending), mode, seed++);
    pending = [];
  };
  const pickN = (n: number, a: number): number => (n === 0 ? 0 : a % n);
  for (const op of parseOps(input.subarray(HEADER))) {
    if (drv.dead) break;
    if (op.kind === 'record') { pending.push(u32be(op.bytes.length), op.bytes); continue; }
    if (op.kind === 'raw') { pending.push(op.bytes); continue; }
    flush();
    const { a, b } = op;
    switch (op.code) {
      case 0: drv.local('unchoke', () => conn.unchoke(drv.now)); break;
      case 1: drv.local('choke', () => { conn.choke(drv.now); }); break;
      case 2: drv.local('interested', () => conn.interested(drv.now)); break;
      case 3: drv.local('notInterested', () => conn.notInterested(drv.now)); break;
      case 4: drv.local('request', () => conn.request(pickN(conn.numPieces ?? 0, a), (b >> 4) * 16, 1 + (b & 15), drv.now)); break;
      case 5: drv.local('cancel', () => {
        const r = conn.inFlightRequests()[a & 7];
        if (r !== undefined) conn.cancel(r.index, r.begin, r.length, drv.now);
      }); break;
      case 6: drv.local('sendPiece', () => {
        const r = conn.pendingPeerRequests()[a & 7];
        if (r !== undefined && conn.canSendPiece(r.index, r.begin, r.length)) {
          conn.sendPiece(r.index, r.begin, new Uint8Array(r.length), drv.now);
          drv.servedBytes += r.length + 13;
        }
      }); break;
      case 7: drv.local('rejectRequest', () => {
        const r = conn.pendingPeerRequests()[a & 7];
        if (r !== undefined) conn.rejectRequest(r.index, r.begin, r.length, drv.now);
      }); break;
      case 8: drv.local('allowedFast', () => conn.allowedFast(pickN(conn.numPieces ?? 0, a), drv.now)); break;
      case 9: drv.local('have', () => conn.have(pickN(conn.numPieces ?? 0, a), drv.now)); break;
      case 10: drv.local('announce', () => {
        if ((a & 3) === 0) conn.haveAll(drv.now);
        else if ((a & 3) === 1) conn.haveNone(drv.now);
        else conn.bitfield(new Uint8Array(Math.ceil((conn.numPieces ?? 0) / 8)), drv.now);
      }); break;
      case 11: drv.local('setNumPieces', () => conn.setNumPieces(PIECES[a & 3])); break;
      case 12: drv.advance(((a << 8) | b) * 100); now = drv.now; break;
      case 13: drv.local('sendExtended', () => conn.sendExtended('ut_metadata', ascii('d8:msg_typei0e5:piecei0ee'), drv.now)); break;
      default: drv.local('close', () => conn.close()); break;
    }
  }
  flush();
  if ((c2 & 1) !== 0) drv.local('receiveEnd', () => conn.receiveEnd());
  drv.drain();
  lastConnRun.events = drv.seen.map((e) => e.type);
  const err = drv.seen.find((e) => e.type === 'error');
  lastConnRun.error = err?.type === 'error' ? err.error.message : null;
}

const seedHeaders = [
  // initiator, both fast+ext, 8 pieces, hook, libtorrent-like
  [0x46 | 0x40, 0, 0x02], [0x47 | 0x40, 7, 0x02], [0x06, 1, 0], [0x00, 0, 1], [0x26 | 0x40, 3, 0x02], [0x1e | 0x80, 5, 0x04], [0xc6, 13, 0x18],
];

function seedStreams(): Uint8Array[] {
  const [ltSeed, ltLeech, , tr] = realExtendedHandshakes(INFO.length);
  const ltSeeder = concat([
    rec(body(20, concat([new Uint8Array([0]), ltSeed]))), rec(body(14)), rec(body(1)), act(2), act(4, 3, 0x2f),
    rec(body(7, concat([u32s(3, 32), new Uint8Array(16)]))), rec(body(17, u32be(1))), rec(body(17, u32be(2))), rec(body(0)),
  ]);
  const ltLeecher = concat([
    act(10, 1), act(0), rec(body(20, concat([new Uint8Array([0]), ltLeech]))), rec(body(15)), rec(body(2)),
    rec(body(6, u32s(1, 0, 16384))), rec(body(6, u32s(2, 0, 16384))), act(6), act(7), rec(body(8, u32s(2, 0, 16384))),
    rec(body(20, concat([new Uint8Array([1]), ascii('d8:msg_typei0e5:piecei0ee')]))), act(12, 2, 0),
  ]);
  const transmission = concat([
    rec(body(20, concat([new Uint8Array([0]), tr]))), rec(body(5, new Uint8Array([0xff]))), rec(body(1)), act(2),
    act(4, 1, 0x0f), act(4, 2, 0x1f), act(5, 0), rec(body(16, u32s(1, 0, 16))), rec(body(7, concat([u32s(2, 16), new Uint8Array(16)]))),
    rec(body(0)), act(1), rec(body(4, u32be(7))), rec(body(9, new Uint8Array([0x1a, 0xe1]))), act(12, 0xff, 0xff),
  ]);
  const plain = concat([rec(body(5, new Uint8Array([0xff]))), rec(body(2)), rec(body(3)), rec(new Uint8Array(0)), act(0), rec(body(6, u32s(0, 0, 16384))), act(6)]);
  const hostile = concat([rec(body(1)), raw(concat([u32be(0xffffffff), frame(1)]))]);
  const bigPiece = concat([act(0), act(2), rec(body(1)), act(4, 0, 0), long(concat([new Uint8Array([7]), u32s(0, 0)]), 0x4000, new Uint8Array(0))]);
  const magnet = concat([rec(body(5, new Uint8Array([0xff, 0xff]))), rec(body(4, u32be(40))), act(11, 3), rec(body(4, u32be(99)))]);
  // reject_request for our request, suggest_piece, an unanswered request times out, the peer cancels a request
  const fastPaths = concat([
    rec(body(14)), rec(body(1)), act(4, 2, 0x0f), rec(body(16, u32s(2, 0, 16))), rec(body(13, u32be(3))),
    act(4, 3, 0x0f), act(12, 0x02, 0x58), rec(body(0)),
    act(0), rec(body(6, u32s(4, 0, 16384))), rec(body(8, u32s(4, 0, 16384))),
  ]);
  return [ltSeeder, ltLeecher, transmission, plain, hostile, bigPiece, magnet, fastPaths];
}

export const connectionTarget: FuzzTarget = {
  name: 'connection',
  about: 'wire/connection.ts PeerConnection.receive/pollEvent/pollTransmit after a valid handshake, both roles, fast/BEP 10 on and off',
  maxInputLength: 32 * 1024,
  run,
  seeds() {
    const streams = seedStreams();
    const out: Uint8Array[] = [concat([new Uint8Array([0x46, 0, 0]), streams[streams.length - 1]])];
    streams.forEach((s, i) => {
      out.push(concat([new Uint8Array(seedHeaders[i % seedHeaders.length]), s]));
      out.push(concat([new Uint8Array(seedHeaders[(i + 3) % seedHeaders.length]), s]));
    });
    return out;
  },
  records(input) { return opRecords(input, HEADER); },
  dictionary: [
    rec(body(20, concat([new Uint8Array([0]), encode({ m: { ut_metadata: 2 }, reqq: 1 })]))),
    rec(body(20, concat([new Uint8Array([1]), ascii('d8:msg_typei0e5:piecei1ee')]))),
    rec(body(14)), rec(body(15)), rec(body(1)), rec(body(0)), act(0), act(2), act(4), act(12, 0xff, 0xff),
    u32be(0x7fffffff), u32be(0x100000 + 14),
  ],
};
