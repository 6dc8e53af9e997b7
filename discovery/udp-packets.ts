/**
 * The UDP tracker protocol's datagrams (BEP 15), big-endian. Requests are built from
 * our numbers; answers are hostile and checked: at least the header, a whole number
 * of peer (6 or 18 bytes, by the address family we asked over) or scrape (12 bytes)
 * records, and the transaction id we chose.
 */
import type { PeerAddress } from '../format/magnet.js';
import {
  checkAnnounceRequest, DEFAULT_MAX_PEERS, MAX_INTERVAL, trackerText, type AnnounceEvent, type AnnounceRequest, type AnnounceResponse, type ScrapeEntry,
} from './announce.js';
import { TrackerError } from './errors.js';
import { COMPACT_V4, COMPACT_V6, decodeCompactPeers } from './peers.js';

export const PROTOCOL_ID = 0x41727101980n;
export const ACTION_CONNECT = 0;
export const ACTION_ANNOUNCE = 1;
export const ACTION_SCRAPE = 2;
export const ACTION_ERROR = 3;
/** At most this many info hashes in one scrape (BEP 15: about 74 fit a 1500-byte path). */
export const MAX_SCRAPE_HASHES = 74;

const EVENT_CODE: Readonly<Record<AnnounceEvent, number>> = { none: 0, completed: 1, started: 2, stopped: 3 };

function view(b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength); }

export function connectRequest(transactionId: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = view(b);
  v.setBigUint64(0, PROTOCOL_ID);
  v.setUint32(8, ACTION_CONNECT);
  v.setUint32(12, transactionId >>> 0);
  return b;
}

export function announceRequest(connectionId: bigint, transactionId: number, r: AnnounceRequest): Uint8Array {
  checkAnnounceRequest(r);
  const b = new Uint8Array(98);
  const v = view(b);
  v.setBigUint64(0, connectionId);
  v.setUint32(8, ACTION_ANNOUNCE);
  v.setUint32(12, transactionId >>> 0);
  b.set(r.infoHash, 16);
  b.set(r.peerId, 36);
  v.setBigUint64(56, BigInt(r.downloaded));
  v.setBigUint64(64, BigInt(r.left));
  v.setBigUint64(72, BigInt(r.uploaded));
  v.setUint32(80, EVENT_CODE[r.event]);
  v.setUint32(84, 0); // IP: 0 = the source address of this datagram
  v.setUint32(88, r.key >>> 0);
  v.setInt32(92, r.numwant);
  v.setUint16(96, r.port);
  return b;
}

export function scrapeRequest(connectionId: bigint, transactionId: number, infoHashes: readonly Uint8Array[]): Uint8Array {
  if (infoHashes.length === 0 || infoHashes.length > MAX_SCRAPE_HASHES) {
    throw new TrackerError('BAD_ARGUMENT', `scrape of ${infoHashes.length} hashes (1..${MAX_SCRAPE_HASHES})`);
  }
  const b = new Uint8Array(16 + 20 * infoHashes.length);
  const v = view(b);
  v.setBigUint64(0, connectionId);
  v.setUint32(8, ACTION_SCRAPE);
  v.setUint32(12, transactionId >>> 0);
  infoHashes.forEach((h, i) => {
    if (h.length !== 20) throw new TrackerError('BAD_ARGUMENT', `info hash of ${h.length} bytes (need 20)`);
    b.set(h, 16 + 20 * i);
  });
  return b;
}

export type UdpResponse =
  | { readonly action: 'connect'; readonly transactionId: number; readonly connectionId: bigint }
  | { readonly action: 'announce'; readonly transactionId: number; readonly response: AnnounceResponse }
  | { readonly action: 'scrape'; readonly transactionId: number; readonly entries: readonly ScrapeEntry[] }
  | { readonly action: 'error'; readonly transactionId: number; readonly message: string };

export interface UdpParseOptions {
  /** Peer record size: 6 when we asked over IPv4, 18 over IPv6 (BEP 15). */
  readonly peerRecord?: typeof COMPACT_V4 | typeof COMPACT_V6;
  readonly maxPeers?: number;
  /** Hashes we asked a scrape for: the answer must hold exactly that many records. */
  readonly scrapeCount?: number;
}

/** Parse one answer datagram (its transaction id is the caller's to match). */
export function parseUdpResponse(b: Uint8Array, opts: UdpParseOptions = {}): UdpResponse {
  if (b.length < 8) throw new TrackerError('BAD_PACKET', `datagram of ${b.length} bytes, shorter than the 8-byte header`);
  const v = view(b);
  const action = v.getUint32(0);
  const transactionId = v.getUint32(4);
  switch (action) {
    case ACTION_CONNECT:
      // "at least 16 bytes" (BEP 15): later extensions may append; nothing defined to read there.
      if (b.length < 16) throw new TrackerError('BAD_PACKET', `connect answer of ${b.length} bytes (need 16)`);
      return { action: 'connect', transactionId, connectionId: v.getBigUint64(8) };
    case ACTION_ANNOUNCE: {
      if (b.length < 20) throw new TrackerError('BAD_PACKET', `announce answer of ${b.length} bytes (need at least 20)`);
      const interval = v.getUint32(8);
      const incomplete = v.getUint32(12);
      const complete = v.getUint32(16);
      const record = opts.peerRecord ?? COMPACT_V4;
      let peers: PeerAddress[];
      try {
        peers = decodeCompactPeers(b.subarray(20), record, opts.maxPeers ?? DEFAULT_MAX_PEERS);
      } catch (e) {
        if (e instanceof TrackerError && e.code === 'BAD_COMPACT_LENGTH') throw new TrackerError('BAD_PACKET', e.message);
        throw e;
      }
      return { action: 'announce', transactionId, response: { interval: Math.min(interval, MAX_INTERVAL), complete, incomplete, peers } };
    }
    case ACTION_SCRAPE: {
      const body = b.length - 8;
      if (body % 12 !== 0) throw new TrackerError('BAD_PACKET', `scrape answer body of ${body} bytes is not a multiple of 12`);
      const n = body / 12;
      if (opts.scrapeCount !== undefined && n !== opts.scrapeCount) {
        throw new TrackerError('BAD_PACKET', `scrape answer with ${n} records for ${opts.scrapeCount} hashes`);
      }
      if (n > MAX_SCRAPE_HASHES) throw new TrackerError('BAD_PACKET', `scrape answer with ${n} records`);
      const entries: ScrapeEntry[] = [];
      for (let o = 8; o < b.length; o += 12) {
        entries.push({ complete: v.getUint32(o), downloaded: v.getUint32(o + 4), incomplete: v.getUint32(o + 8) });
      }
      return { action: 'scrape', transactionId, entries };
    }
    case ACTION_ERROR:
      return { action: 'error', transactionId, message: trackerText(b.subarray(8)) };
    default:
      throw new TrackerError('WRONG_ACTION', `unknown action ${action}`);
  }
}
