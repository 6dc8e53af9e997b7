/**
 * ut_metadata target (BEP 9): a connection with the real UtMetadata hook bound, either
 * serving the fixture's info dict or fetching it (magnet), after the peer's extended
 * handshake; the fuzz records become ut_metadata payloads sent with our id, so requests,
 * data, rejects and junk reach the hook, the shared fetcher, its verification and its
 * timers. Allowed: events, UtMetadataError / WireError endings; fetched metadata is
 * reported complete only if it hashes to the info hash. The bare codec
 * (decodeUtMetadata) is checked on every record too.
 *
 * Input: [c0][c1 split mode][ops ...]
 *   c0: bit0 we serve (have the info), bits1-3 advertised metadata_size variant,
 *       bit4 peer's id for ut_metadata 3 (else 1), bit5 piece count unknown
 */
import { PeerConnection } from '../../wire/connection.js';
import { WireError } from '../../wire/errors.js';
import { encodeHandshake, makeReserved } from '../../wire/handshake.js';
import { encode } from '../../wire/bencode.js';
import { ExtensionRegistry } from '../../extensions/registry.js';
import { UtMetadata } from '../../extensions/ut-metadata.js';
import { decodeUtMetadata, encodeMetadataData, METADATA_PIECE_LENGTH } from '../../extensions/ut-metadata-codec.js';
import { type FuzzTarget, ascii, bytesEqual, check, concat, expectTyped } from '../target.js';
import { ConnDriver } from './conn-driver.js';
import { parseOps, opRecords, rec, act, raw } from './ops.js';
import { INFO, INFO_HASH, PEER_ID, REMOTE_ID, dataOp } from './fixture.js';
import { u32be } from './wire-seeds.js';

const HEADER = 2;
const SIZES = [INFO.length, 0, INFO.length + 1, 1, METADATA_PIECE_LENGTH + 1, 2 ** 40, 100, 16 * 1024 * 1024 + 1] as const;

const extMsg = (id: number, payload: Uint8Array): Uint8Array => concat([new Uint8Array([20, id]), payload]);
const framed = (b: Uint8Array): Uint8Array => concat([u32be(b.length), b]);

function peerHandshake(remoteUtId: number, size: number): Uint8Array {
  const d: { [k: string]: number | string | { [k: string]: number } } = { m: { ut_metadata: remoteUtId, ut_pex: 1 }, reqq: 2000, v: 'libtorrent/2.0.8.0' };
  if (size > 0) d.metadata_size = size;
  return encode(d);
}

/** What the last run reached (for seed checks in tests, and debugging). */
export const lastUtRun = { complete: false, error: null as string | null, events: [] as string[] };

function run(input: Uint8Array): void {
  lastUtRun.complete = false; lastUtRun.error = null; lastUtRun.events = [];
  if (input.length < HEADER) return;
  const [c0, c1] = input;
  const serving = (c0 & 1) !== 0;
  const size = SIZES[(c0 >> 1) & 7];
  const remoteUtId = (c0 & 0x10) !== 0 ? 3 : 1;
  const deferred = (c0 & 0x20) !== 0;
  const ut = new UtMetadata({ infoHash: INFO_HASH, now: 1_000, ...(serving ? { infoBytes: INFO } : {}) });
  const ext = new ExtensionRegistry([ut]).forConnection({ infoHash: INFO_HASH, peer: 'fuzz', role: 'initiator' });
  const conn = new PeerConnection({
    role: 'initiator', peerId: PEER_ID, now: 1_000, infoHash: INFO_HASH,
    numPieces: deferred ? null : 1, extensions: ext.hooks,
  });
  const drv = new ConnDriver(conn, 64 + 8 * input.length, () => {});
  let utEvents = 0;
  const drainUt = (): void => {
    for (;;) {
      const ev = expectTyped('UtMetadata.pollEvent', () => ut.pollEvent(), () => false);
      if (ev === null || ev === undefined) return;
      check(++utEvents <= 64 + input.length, 'too many ut_metadata events');
      lastUtRun.events.push(ev.type);
      if (ev.type === 'complete') {
        lastUtRun.complete = true;
        check(bytesEqual(ev.metainfo.infoHash, INFO_HASH), 'complete metadata with another info hash');
        check(bytesEqual(ev.metainfo.infoBytes, INFO), 'complete metadata differs from the info dict');
        if (deferred) drv.local('setNumPieces', () => conn.setNumPieces(ev.metainfo.pieceCount));
      }
    }
  };
  drv.local('sendHandshake', () => conn.sendHandshake(drv.now));
  const mode = c1 & 0x3f;
  let seed = c1 * 0x01000193;
  let pending: Uint8Array[] = [
    encodeHandshake({ infoHash: INFO_HASH, peerId: REMOTE_ID, reserved: makeReserved({ fast: true, extended: true }) }),
    framed(extMsg(0, peerHandshake(remoteUtId, size))),
  ];
  const flush = (): void => {
    if (pending.length > 0) drv.deliver(concat(pending), mode, seed++);
    pending = [];
    drainUt();
  };
  for (const op of parseOps(input.subarray(HEADER))) {
    if (drv.dead) break;
    if (op.kind === 'record') {
      expectTyped('decodeUtMetadata', () => decodeUtMetadata(op.bytes), (e) => e instanceof WireError);
      pending.push(framed(extMsg(1, op.bytes)));
      continue;
    }
    if (op.kind === 'raw') { pending.push(op.bytes); continue; }
    flush();
    switch (op.code) {
      case 1: pending.push(framed(extMsg(0, encode({ m: { ut_metadata: 0 } })))); break;
      case 2: pending.push(framed(extMsg(0, peerHandshake(remoteUtId, (op.a << 8) | op.b)))); break;
      case 3: pending.push(framed(extMsg(op.a, ascii('de')))); break;
      case 4: drv.local('close', () => { conn.close(); ext.close(); }); break;
      default:
        drv.advance(((op.a << 8) | op.b) * 100);
        expectTyped('UtMetadata.handleTimeout', () => ut.handleTimeout(drv.now), () => false);
        break;
    }
  }
  flush();
  drv.drain();
  drainUt();
  const err = drv.seen.find((e) => e.type === 'error');
  lastUtRun.error = err?.type === 'error' ? err.error.message : null;
  expectTyped('ConnectionExtensions.close', () => ext.close(), () => false);
}

export const utMetadataTarget: FuzzTarget = {
  name: 'ut-metadata',
  about: 'extensions/ut-metadata.ts hook + fetcher over a PeerConnection, and ut-metadata-codec decodeUtMetadata',
  maxInputLength: 48 * 1024,
  run,
  seeds() {
    const req = (p: number): Uint8Array => rec(ascii(`d8:msg_typei0e5:piecei${p}ee`));
    const rej = (p: number): Uint8Array => rec(ascii(`d8:msg_typei2e5:piecei${p}ee`));
    return [
      // fetch both pieces and complete (metadata_size exact)
      concat([new Uint8Array([0x00, 0]), dataOp(0), dataOp(1)]),
      concat([new Uint8Array([0x20, 9]), dataOp(1), dataOp(0)]),
      // a reject, a timeout, then the data
      concat([new Uint8Array([0x10, 3]), rej(0), act(0, 0x01, 0x00), dataOp(0), dataOp(1)]),
      // serving: requests in and out of range, over budget
      concat([new Uint8Array([0x01, 0]), req(0), req(1), req(2), req(0), req(1), req(0), req(1), rec(ascii('d8:msg_typei7ee'))]),
      // wrong sizes and unrequested data
      concat([new Uint8Array([0x04, 0]), rec(encodeMetadataData(0, 5, ascii('hello')))]),
      concat([new Uint8Array([0x01, 1]), rec(encodeMetadataData(0, 5, ascii('hello'))), act(1), req(0)]),
      concat([new Uint8Array([0x00, 0]), dataOp(0), act(2, 0x4e, 0x40), act(3, 9), raw(framed(extMsg(1, ascii('d8:msg_typei1ee'))))]),
    ];
  },
  records(input) { return opRecords(input, HEADER); },
  dictionary: ['d8:msg_typei', '5:piecei', '10:total_sizei', 'ee', 'i0e', 'i1e', 'i2e', `i${INFO.length}e`, 'i-1e', 'i2147483648e'].map(ascii),
};
