/**
 * The ut_pex message (BEP 11): one bencoded dictionary of compact address strings.
 *
 *   added     IPv4 peers, 6 bytes each (4 address bytes, 2 port bytes, big-endian)
 *   added.f   one flags byte per `added` peer (optional)
 *   added6    IPv6 peers, 18 bytes each;   added6.f  their flags (optional)
 *   dropped   IPv4 peers, 6 bytes each;    dropped6  IPv6 peers, 18 bytes each
 *
 * Decoding is strict about sizes: a compact string that is not a whole number of
 * records, a flags string of the wrong length, a field of the wrong type, more entries
 * than the cap or a payload over MAX_PEX_PAYLOAD are each a PexError with its own
 * reason. It is lenient where nothing is at stake: unknown keys, unsorted keys, a
 * message with no address field at all (nothing to do).
 *
 * Encoding writes all six keys, as libtorrent does: libtorrent reads `added` only
 * together with an `added.f` of the matching length.
 */
import { BencodeError, decode, encode, isBytes, isDict, type BDict } from '../../wire/bencode.js';
import {
  COMPACT_V4, COMPACT_V6, parseIpv4, parseIpv6, readCompactPeer, writeCompactPeer, type CompactRecordSize,
} from '../../format/compact-peers.js';
import type { PeerAddress } from '../../format/magnet.js';
import { ExtensionProtocolError } from '../registry.js';

/** The BEP 10 extension name. */
export const UT_PEX = 'ut_pex';

/** BEP 11 flag bits of an added peer. */
export const PEX_FLAGS = {
  /** Prefers encryption (the `e` key of its extended handshake). */
  ENCRYPTION: 0x01,
  /** A seed, or upload only. */
  SEED: 0x02,
  UTP: 0x04,
  /** Said ut_holepunch in its extended handshake. */
  HOLEPUNCH: 0x08,
  /** We reached it by an outgoing connection: it accepts connections. */
  REACHABLE: 0x10,
} as const;

/**
 * Bigger than any honest message: even at the entry caps (200 added, 200 dropped, all
 * IPv6) a message is under 8 KiB. libtorrent drops the connection over 500 KiB.
 */
export const MAX_PEX_PAYLOAD = 64 * 1024;
/**
 * Entries taken per list (added, or dropped; IPv4 and IPv6 together). BEP 11 asks for
 * at most 50 except in the first message, which may list every connected peer;
 * libtorrent sends up to 100.
 */
export const MAX_PEX_ENTRIES = 200;

export type PexErrorReason =
  /** Over MAX_PEX_PAYLOAD: nothing honest is that big (the connection is closed). */
  | 'TOO_LARGE'
  /** Not bencode, not a dictionary, or an address field that is not a byte string. */
  | 'BAD_PEX_MESSAGE'
  /** A compact string that is not a whole number of 6- (IPv4) or 18-byte (IPv6) records. */
  | 'BAD_COMPACT_LENGTH'
  /** `added.f` / `added6.f` not one byte per added peer. */
  | 'BAD_FLAGS_LENGTH'
  /** More entries in one list than the cap. */
  | 'TOO_MANY_PEERS'
  /** A message sooner than BEP 11's one a minute allows (ignored). */
  | 'TOO_FREQUENT'
  /** Too many ignored messages on one connection (the connection is closed). */
  | 'FLOOD';

export class PexError extends ExtensionProtocolError<PexErrorReason> {
  constructor(reason: PexErrorReason, message: string) {
    super(UT_PEX, reason, message);
    this.name = 'PexError';
  }
}

/** An added peer and its BEP 11 flags (0 when the message had none). */
export interface PexPeer extends PeerAddress {
  readonly flags: number;
}

export interface PexMessage {
  readonly added: readonly PexPeer[];
  readonly dropped: readonly PeerAddress[];
}

/** Bounds for the dictionary: six short strings, room for a few unknown keys. */
const DECODE = { maxBytes: MAX_PEX_PAYLOAD, maxDepth: 4, maxItems: 256, strict: false, maxIntegerDigits: 24 } as const;

function field(d: BDict, key: string): Uint8Array | null {
  const v = d.get(key);
  if (v === undefined) return null;
  if (!isBytes(v)) throw new PexError('BAD_PEX_MESSAGE', `'${key}' is not a byte string`);
  return v;
}

function records(b: Uint8Array | null, size: CompactRecordSize, key: string): number {
  if (b === null) return 0;
  if (b.length % size !== 0) throw new PexError('BAD_COMPACT_LENGTH', `'${key}' of ${b.length} bytes is not a multiple of ${size}`);
  return b.length / size;
}

function flagsOf(f: Uint8Array | null, n: number, key: string): Uint8Array | null {
  if (f !== null && f.length !== n) throw new PexError('BAD_FLAGS_LENGTH', `'${key}' has ${f.length} bytes for ${n} peers`);
  return f;
}

function readAll(b: Uint8Array | null, size: CompactRecordSize, out: PeerAddress[]): void {
  if (b === null) return;
  for (let o = 0; o < b.length; o += size) out.push(readCompactPeer(b, o, size));
}

/** Parse one ut_pex payload. Throws PexError; `maxEntries` caps each list (added, dropped). */
export function decodePex(payload: Uint8Array, maxEntries = MAX_PEX_ENTRIES): PexMessage {
  if (payload.length > MAX_PEX_PAYLOAD) throw new PexError('TOO_LARGE', `message of ${payload.length} bytes (max ${MAX_PEX_PAYLOAD})`);
  let d;
  try {
    d = decode(payload, DECODE);
  } catch (e) {
    throw new PexError('BAD_PEX_MESSAGE', `not valid bencode (${e instanceof BencodeError ? e.code : 'error'})`);
  }
  if (!isDict(d)) throw new PexError('BAD_PEX_MESSAGE', 'message is not a dictionary');
  const a4 = field(d, 'added');
  const a6 = field(d, 'added6');
  const d4 = field(d, 'dropped');
  const d6 = field(d, 'dropped6');
  const n4 = records(a4, COMPACT_V4, 'added');
  const n6 = records(a6, COMPACT_V6, 'added6');
  const f4 = flagsOf(field(d, 'added.f'), n4, 'added.f');
  const f6 = flagsOf(field(d, 'added6.f'), n6, 'added6.f');
  const nd = records(d4, COMPACT_V4, 'dropped') + records(d6, COMPACT_V6, 'dropped6');
  if (n4 + n6 > maxEntries) throw new PexError('TOO_MANY_PEERS', `${n4 + n6} added peers (max ${maxEntries})`);
  if (nd > maxEntries) throw new PexError('TOO_MANY_PEERS', `${nd} dropped peers (max ${maxEntries})`);
  const addresses: PeerAddress[] = [];
  readAll(a4, COMPACT_V4, addresses);
  readAll(a6, COMPACT_V6, addresses);
  const added = addresses.map((p, i) => ({ ...p, flags: (i < n4 ? f4?.[i] : f6?.[i - n4]) ?? 0 }));
  const dropped: PeerAddress[] = [];
  readAll(d4, COMPACT_V4, dropped);
  readAll(d6, COMPACT_V6, dropped);
  return { added, dropped };
}

/** Which compact family an IP literal belongs to (null: neither, it cannot be sent). */
function familyOf(p: PeerAddress): CompactRecordSize | null {
  if (!(Number.isInteger(p.port) && p.port >= 0 && p.port <= 0xffff)) return null;
  if (parseIpv4(p.host) !== null) return COMPACT_V4;
  return parseIpv6(p.host) !== null ? COMPACT_V6 : null;
}

function compact(peers: readonly PeerAddress[], size: CompactRecordSize): Uint8Array {
  const out = new Uint8Array(peers.length * size);
  peers.forEach((p, i) => writeCompactPeer(out, i * size, p, size));
  return out;
}

/**
 * The payload for `msg`. Peers whose host is not an IP literal (a DNS name) have no
 * compact form and are left out; the caller sends only addresses it connected to.
 */
export function encodePex(msg: PexMessage): Uint8Array {
  const added4: PexPeer[] = [];
  const added6: PexPeer[] = [];
  for (const p of msg.added) {
    const fam = familyOf(p);
    if (fam === COMPACT_V4) added4.push(p);
    else if (fam === COMPACT_V6) added6.push(p);
  }
  const dropped4: PeerAddress[] = [];
  const dropped6: PeerAddress[] = [];
  for (const p of msg.dropped) {
    const fam = familyOf(p);
    if (fam === COMPACT_V4) dropped4.push(p);
    else if (fam === COMPACT_V6) dropped6.push(p);
  }
  return encode(new Map<string, Uint8Array>([
    ['added', compact(added4, COMPACT_V4)],
    ['added.f', Uint8Array.from(added4, (p) => p.flags & 0xff)],
    ['added6', compact(added6, COMPACT_V6)],
    ['added6.f', Uint8Array.from(added6, (p) => p.flags & 0xff)],
    ['dropped', compact(dropped4, COMPACT_V4)],
    ['dropped6', compact(dropped6, COMPACT_V6)],
  ]));
}
