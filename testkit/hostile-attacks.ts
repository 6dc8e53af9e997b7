/**
 * The hostile-peer attacks as functions of their own, shared by the tests in this
 * folder (one attack, then asserts on the seeder's typed close reason) and by
 * testkit/hostile-bench.ts (the same attack in a loop against a seeder in another process,
 * while an honest leecher's speed and the seeder's peak RSS are measured).
 *
 * Each attack only needs where the seeder listens and the torrent's shape; it
 * returns the Attacker sockets it used once the seeder has closed them (or has
 * answered, for the attacks a fast peer is pushed back from without a close).
 */
import { Attacker, ID, frame, requestFrame, sleep } from './hostile-helpers.js';

export interface Target {
  port: number;
  infoHash: Uint8Array;
  pieceLength: number;
  pieceCount: number;
  /** Total bytes of the torrent (locates the short last piece). */
  totalLength: number;
  /** Called with every connection an attack opens (the bench counts and finally destroys them). */
  onDial?: (a: Attacker) => void;
  /** How long to wait for each answer or close (ms). Default 10 s. */
  waitMs?: number;
  /** Source address of the attack's connections (default 127.0.0.1). */
  localAddress?: string;
}

/** A new attacker socket to the target, announced to `onDial`. */
export function dial(t: Target): Attacker {
  const a = new Attacker(t.port, t.localAddress);
  t.onDial?.(a);
  return a;
}

const waitOf = (t: Target): number => t.waitMs ?? 10_000;

/** Open, declare interest and wait for the seeder's unchoke. */
export async function unchoked(t: Target, flags: { fast?: boolean } = {}): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash, flags);
  att.write(frame(ID.interested));
  await att.until(() => att.count(ID.unchoke) > 0, 'unchoke', waitOf(t));
  return att;
}

/** `n` distinct in-range 16 KiB requests, in one write. */
export function manyRequests(n: number, pieceLength: number, pieceCount: number): Buffer {
  const per = Math.max(1, Math.floor(pieceLength / 16384));
  return Buffer.concat(Array.from({ length: n }, (_, i) => requestFrame(Math.floor(i / per) % Math.max(1, pieceCount - 1), (i % per) * 16384, 16384)));
}

/**
 * A length prefix the size of `claim` (default just under 4 GiB) after the handshake.
 * 'dribble': then one body byte per 25 ms until closed; 'burst': 64 KiB of body at once.
 * Expected: LENGTH_TOO_LARGE, nothing buffered for the claim.
 */
export async function lengthClaim(t: Target, o: { claim?: number; mode?: 'dribble' | 'burst' } = {}): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(o.claim ?? 0xfffffff0, 0);
  if (o.mode === 'burst') {
    att.write(Buffer.concat([prefix, Buffer.alloc(64 * 1024, 7)]));
  } else {
    att.write(prefix);
    for (let i = 0; i < 20 && !att.closed; i++) { att.write(Buffer.from([7])); await sleep(25); }
  }
  await att.waitClosed(waitOf(t));
  return att;
}

/**
 * Slowloris: the 68-byte handshake one byte per `byteMs`, never the last byte, then
 * wait for the seeder to close. Expected: HANDSHAKE_TIMEOUT (or refused at once when
 * the seeder's pending cap is full). `onByte` runs after each byte (tests look up
 * the seeder's pending session there).
 */
export async function slowloris(t: Target, o: { byteMs?: number; closeMs?: number; onByte?: (att: Attacker) => void } = {}): Promise<{ att: Attacker; sent: number }> {
  const att = dial(t);
  await att.ready();
  const hs = Attacker.handshake(t.infoHash);
  let sent = 0;
  // At most 67 of the 68 bytes: whatever the scheduling, the handshake never completes.
  while (sent < hs.length - 1 && !att.closed) {
    att.write(hs.subarray(sent, sent + 1));
    sent++;
    o.onByte?.(att);
    await sleep(o.byteMs ?? 100);
  }
  await att.waitClosed(o.closeMs ?? 30_000);
  return { att, sent };
}

/**
 * Without the fast extension, far more requests than the seeder's `reqq` in one
 * write. Expected: REQUEST_OVERFLOW after at most 2 × reqq served.
 */
export async function requestOverflow(t: Target, requests: number): Promise<Attacker> {
  const att = await unchoked(t, { fast: false });
  att.write(manyRequests(requests, t.pieceLength, t.pieceCount));
  await att.waitClosed(waitOf(t));
  return att;
}

/** Length of the last piece (it may be short). */
function lastPieceLength(t: Target): number {
  return t.totalLength - (t.pieceCount - 1) * t.pieceLength;
}

/**
 * Under fast: three out-of-range requests (past the end of a piece, begin + length
 * past 2^32, past the end of the last piece) — each rejected, nothing served — then
 * a piece index past the end. Expected: three reject_request, then BAD_PIECE_INDEX.
 */
export async function outOfRange(t: Target): Promise<Attacker> {
  const n = t.pieceCount;
  const att = await unchoked(t);
  att.write(Buffer.concat([
    requestFrame(0, t.pieceLength - 8, 16384), // runs past the end of the piece
    requestFrame(Math.min(1, n - 1), 0xffffff00, 16384), // begin far outside (begin + length overflows 2^32)
    requestFrame(n - 1, Math.max(0, lastPieceLength(t) - 8), 16384), // runs past the end of the last piece
  ]));
  await att.until(() => att.count(ID.reject) === 3, 'three rejects', waitOf(t));
  att.write(requestFrame(n + 5, 0, 16384));
  await att.waitClosed(waitOf(t));
  return att;
}

/** A request of length 0. Expected: BAD_REQUEST. */
export async function zeroLengthRequest(t: Target): Promise<Attacker> {
  const att = await unchoked(t);
  att.write(requestFrame(0, 0, 0));
  await att.waitClosed(waitOf(t));
  return att;
}

/** A 16 KiB piece nobody asked for. Expected: UNREQUESTED_PIECE. */
export async function unrequestedPiece(t: Target): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash);
  const p = Buffer.alloc(8 + 16384, 1);
  p.writeUInt32BE(0, 0);
  p.writeUInt32BE(0, 4);
  att.write(frame(ID.piece, p));
  await att.waitClosed(waitOf(t));
  return att;
}

/** The right bitfield length for the target, in bytes. */
export function bitfieldBytes(t: Target): number {
  return Math.ceil(t.pieceCount / 8);
}

/** A bitfield of `len` bytes (all ones). Expected for a wrong length: BAD_BITFIELD_LENGTH. */
export async function badBitfield(t: Target, len: number): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash);
  att.write(frame(ID.bitfield, Buffer.alloc(len, 0xff)));
  await att.waitClosed(waitOf(t));
  return att;
}

/** An extended handshake, then an extended message with id 200 (never advertised). Expected: UNKNOWN_EXTENSION_ID. */
export async function unknownExtensionId(t: Target): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash);
  att.write(frame(ID.extended, Buffer.from([0, ...Buffer.from('d1:md11:ut_metadatai3eee')])));
  att.write(frame(ID.extended, Buffer.from([200, 1, 2, 3])));
  await att.waitClosed(waitOf(t));
  return att;
}

let payloads: { nested: Buffer; huge: Buffer } | null = null;

/** The two hostile extended-handshake payloads (built once: the huge one is ~1 MiB). */
export function extendedHandshakePayloads(): { nested: Buffer; huge: Buffer } {
  if (payloads === null) {
    // 60k deep: 120 KB, under the 128 KiB frame cap of a known torrent, so it reaches the
    // bencode parser (a recursive one overflows its stack at ~10k).
    const depth = 60_000;
    payloads = {
      nested: Buffer.concat([Buffer.from([0]), Buffer.from('l'.repeat(depth) + 'e'.repeat(depth))]),
      // 'd1:xl' + i0e × 349k + 'ee': just under the 1 MiB + 13 frame cap, far beyond any sane item count.
      huge: Buffer.concat([Buffer.from([0]), Buffer.from('d1:xl' + 'i0e'.repeat(349_000) + 'ee')]),
    };
  }
  return payloads;
}

/**
 * A 60k-deep or a ~1 MiB bencoded extended handshake. Expected: BAD_EXTENDED_HANDSHAKE
 * (no stack overflow) for the deep one; LENGTH_TOO_LARGE for the huge one (frames are
 * capped once the torrent is known: PeerConnection.capFrames).
 */
export async function hostileExtendedHandshake(t: Target, what: 'nested' | 'huge'): Promise<Attacker> {
  const att = dial(t);
  await att.open(t.infoHash);
  att.write(frame(ID.extended, extendedHandshakePayloads()[what]));
  await att.waitClosed(waitOf(t));
  return att;
}

/**
 * `n` connections that never finish the handshake: half say nothing, half stop after
 * 30 bytes of it. Resolves once every one is connected (or refused); the seeder is
 * expected to close the excess over its pending cap at once and the rest by its
 * handshake timeout.
 */
export async function halfOpenFlood(t: Target, n: number): Promise<Attacker[]> {
  const hs = Attacker.handshake(t.infoHash);
  const atts: Attacker[] = [];
  for (let i = 0; i < n; i++) {
    const att = dial(t);
    atts.push(att);
    if (i % 2 === 1) void att.ready().then(() => att.write(hs.subarray(0, 30)), () => {});
    if (i % 100 === 99) await sleep(1); // let the accept loop breathe
  }
  await Promise.allSettled(atts.map((a) => a.ready()));
  return atts;
}
