/**
 * What an announce asks and what a tracker answers, the same for HTTP and UDP, and the
 * checks on what we send (our own numbers: a misuse is a local error, never sent).
 */
import type { PeerAddress } from '../format/magnet.js';
import { TrackerError } from './errors.js';

export type AnnounceEvent = 'none' | 'started' | 'completed' | 'stopped';

export interface AnnounceRequest {
  readonly infoHash: Uint8Array;
  readonly peerId: Uint8Array;
  /** Our listening port (0: we do not accept connections). */
  readonly port: number;
  /** Payload bytes, as BEP 3 asks (not protocol overhead). */
  readonly uploaded: number;
  readonly downloaded: number;
  /** Bytes we still need (0: a seed). */
  readonly left: number;
  readonly event: AnnounceEvent;
  /** Peers wanted; -1 lets the tracker choose (UDP), 0 for a stop. */
  readonly numwant: number;
  /** Random per session (u32): lets the tracker recognise us across an address change. */
  readonly key: number;
  /** The `tracker id` this tracker gave us last time, echoed back (HTTP only). */
  readonly trackerId?: Uint8Array;
}

export interface AnnounceResponse {
  /** Seconds until the next regular announce. */
  readonly interval: number;
  /** Seconds the tracker wants at least between announces. */
  readonly minInterval?: number;
  readonly trackerId?: Uint8Array;
  readonly warning?: string;
  /** Seeders / leechers the tracker knows. */
  readonly complete?: number;
  readonly incomplete?: number;
  readonly peers: readonly PeerAddress[];
}

export interface ScrapeEntry {
  readonly complete: number;
  readonly downloaded: number;
  readonly incomplete: number;
}

/** The largest number a counter may carry: an int64 on the UDP wire, and exact in a JS number. */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/** Most peers accepted from one answer (IPv4 and IPv6 together), HTTP or UDP. */
export const DEFAULT_MAX_PEERS = 1000;
/** Longest interval honoured, in seconds (a day): a tracker cannot park us forever. */
export const MAX_INTERVAL = 86_400;
/** Longest text we keep from a tracker (failure reason, warning, UDP error). */
const MAX_TEXT = 1024;

/** Tracker bytes as text for a person to read: invalid UTF-8 replaced, cut to MAX_TEXT, control characters dropped. */
export function trackerText(b: Uint8Array): string {
  const s = new TextDecoder('utf-8').decode(b.subarray(0, MAX_TEXT * 4));
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, MAX_TEXT);
}

export function checkAnnounceRequest(r: AnnounceRequest): void {
  if (r.infoHash.length !== 20) throw new TrackerError('BAD_ARGUMENT', `info hash of ${r.infoHash.length} bytes (need 20)`);
  if (r.peerId.length !== 20) throw new TrackerError('BAD_ARGUMENT', `peer id of ${r.peerId.length} bytes (need 20)`);
  if (!(Number.isInteger(r.port) && r.port >= 0 && r.port <= 0xffff)) throw new TrackerError('BAD_ARGUMENT', `port ${r.port}`);
  for (const [k, v] of [['uploaded', r.uploaded], ['downloaded', r.downloaded], ['left', r.left]] as const) {
    if (!(Number.isInteger(v) && v >= 0 && v <= MAX_COUNT)) throw new TrackerError('BAD_ARGUMENT', `${k} ${v}`);
  }
  if (!(Number.isInteger(r.numwant) && r.numwant >= -1 && r.numwant <= 0x7fffffff)) throw new TrackerError('BAD_ARGUMENT', `numwant ${r.numwant}`);
  if (!(Number.isInteger(r.key) && r.key >= 0 && r.key <= 0xffffffff)) throw new TrackerError('BAD_ARGUMENT', `key ${r.key}`);
}
