/**
 * The HTTP tracker protocol (BEP 3, compact peers BEP 23, IPv6 peers BEP 7, scrape
 * BEP 48): the announce / scrape URLs we request, and the parse of the bencoded answers.
 * Sans-IO: the caller fetches; the body arrives here whole (a size cap applies before
 * it is decoded, and again here).
 */
import { BencodeError, decode, isBytes, isDict, isInt, isList, type BDict, type BValue } from '../wire/bencode.js';
import type { PeerAddress } from '../format/magnet.js';
import {
  checkAnnounceRequest, DEFAULT_MAX_PEERS, MAX_INTERVAL, trackerText, type AnnounceRequest, type AnnounceResponse, type ScrapeEntry,
} from './announce.js';
import { TrackerError } from './errors.js';
import { COMPACT_V4, COMPACT_V6, decodeCompactPeers, isPeerHost } from './peers.js';

export interface HttpLimits {
  /** Largest body parsed. Default 512 KiB (1000 dictionary peers are ~80 KiB). */
  readonly maxBytes?: number;
  /** Most peers accepted (IPv4 and IPv6 together). Default 1000. */
  readonly maxPeers?: number;
}

export const HTTP_DEFAULT_MAX_BYTES = 512 * 1024;
/** top dict → peers list → peer dict; scrape: top → files → file. One spare level. */
const MAX_DEPTH = 4;
/** Bounded in values as well as bytes: a list of 100 000 tiny ints is work, not peers. */
const MAX_ITEMS = 20_000;

/** RFC 3986 unreserved bytes go as they are, every other byte as %XX (what trackers decode). */
export function percentEncodeBytes(b: Uint8Array): string {
  let s = '';
  for (const x of b) {
    const unreserved = (x >= 0x30 && x <= 0x39) || (x >= 0x41 && x <= 0x5a) || (x >= 0x61 && x <= 0x7a)
      || x === 0x2d || x === 0x2e || x === 0x5f || x === 0x7e;
    s += unreserved ? String.fromCharCode(x) : `%${x.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return s;
}

/** The GET URL of an announce: `announceUrl` with our query appended (after any query it has, e.g. a passkey). */
export function buildAnnounceUrl(announceUrl: string, r: AnnounceRequest): string {
  checkAnnounceRequest(r);
  const q = [
    `info_hash=${percentEncodeBytes(r.infoHash)}`,
    `peer_id=${percentEncodeBytes(r.peerId)}`,
    `port=${r.port}`,
    `uploaded=${r.uploaded}`,
    `downloaded=${r.downloaded}`,
    `left=${r.left}`,
    'compact=1',
  ];
  if (r.event !== 'none') q.push(`event=${r.event}`);
  if (r.numwant >= 0) q.push(`numwant=${r.numwant}`);
  q.push(`key=${r.key.toString(16).padStart(8, '0')}`);
  if (r.trackerId !== undefined) q.push(`trackerid=${percentEncodeBytes(r.trackerId)}`);
  return appendQuery(announceUrl, q.join('&'));
}

function appendQuery(url: string, query: string): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  return base + (base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?') + query;
}

/**
 * The scrape URL of an announce URL (BEP 48: the last path segment must start with
 * `announce`, which becomes `scrape`), or null when the tracker has none.
 */
export function scrapeUrlOf(announceUrl: string): string | null {
  const q = announceUrl.indexOf('?');
  const path = q >= 0 ? announceUrl.slice(0, q) : announceUrl;
  const slash = path.lastIndexOf('/');
  if (slash < 0 || !path.startsWith('announce', slash + 1)) return null;
  return `${path.slice(0, slash + 1)}scrape${path.slice(slash + 1 + 'announce'.length)}${q >= 0 ? announceUrl.slice(q) : ''}`;
}

export function buildScrapeUrl(scrapeUrl: string, infoHashes: readonly Uint8Array[]): string {
  for (const h of infoHashes) if (h.length !== 20) throw new TrackerError('BAD_ARGUMENT', `info hash of ${h.length} bytes (need 20)`);
  return appendQuery(scrapeUrl, infoHashes.map((h) => `info_hash=${percentEncodeBytes(h)}`).join('&'));
}

function decodeBody(body: Uint8Array, limits: HttpLimits | undefined): BDict {
  const maxBytes = limits?.maxBytes ?? HTTP_DEFAULT_MAX_BYTES;
  if (body.length > maxBytes) throw new TrackerError('TOO_LARGE', `tracker response of ${body.length} bytes (cap ${maxBytes})`);
  let v: BValue;
  try {
    // Non-strict key order: some trackers emit unsorted keys; duplicates are still refused.
    v = decode(body, { maxDepth: MAX_DEPTH, maxItems: MAX_ITEMS, strict: false, maxBytes });
  } catch (e) {
    if (e instanceof BencodeError) throw new TrackerError('BAD_BENCODE', `tracker response is not bencode: ${e.code} ${e.message}`, { cause: e });
    throw e;
  }
  if (!isDict(v)) throw new TrackerError('NOT_A_DICT', 'tracker response is not a dictionary');
  return v;
}

function optIntIn(d: BDict, key: string, min: number, max: number): number | undefined {
  const v = d.get(key);
  if (v === undefined) return undefined;
  if (!isInt(v)) throw new TrackerError('WRONG_TYPE', `${JSON.stringify(key)} is not an integer`);
  if (v < BigInt(min) || v > BigInt(max)) throw new TrackerError('OUT_OF_RANGE', `${JSON.stringify(key)} ${v} outside [${min}, ${max}]`);
  return Number(v);
}

function optBytesOf(d: BDict, key: string): Uint8Array | undefined {
  const v = d.get(key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) throw new TrackerError('WRONG_TYPE', `${JSON.stringify(key)} is not a byte string`);
  return v;
}

function dictPeers(list: BValue[], maxPeers: number): PeerAddress[] {
  if (list.length > maxPeers) throw new TrackerError('TOO_MANY_PEERS', `${list.length} peers, more than the cap of ${maxPeers}`);
  const out: PeerAddress[] = [];
  for (const p of list) {
    if (!isDict(p)) throw new TrackerError('BAD_PEER', 'a peer in the list is not a dictionary');
    const ip = p.get('ip');
    const port = p.get('port');
    if (!isBytes(ip) || !isInt(port)) throw new TrackerError('BAD_PEER', 'a peer without a byte-string ip and an integer port');
    const host = new TextDecoder('latin1').decode(ip);
    if (!isPeerHost(host)) throw new TrackerError('BAD_PEER', `peer ip ${JSON.stringify(host.slice(0, 64))} is not an address or host name`);
    if (port < 0n || port > 65535n) throw new TrackerError('BAD_PEER', `peer port ${port}`);
    out.push({ host, port: Number(port) });
  }
  return out;
}

/**
 * An announce answer. A `failure reason` is thrown as TRACKER_FAILURE (the tracker
 * refused us: the announce failed). `interval` is required (BEP 3); `peers` may be
 * absent only when `peers6` is present.
 */
export function parseAnnounceResponse(body: Uint8Array, limits?: HttpLimits): AnnounceResponse {
  const d = decodeBody(body, limits);
  const maxPeers = limits?.maxPeers ?? DEFAULT_MAX_PEERS;
  const failure = d.get('failure reason');
  if (failure !== undefined) {
    throw new TrackerError('TRACKER_FAILURE', isBytes(failure) ? trackerText(failure) : 'tracker failure (reason not a string)');
  }
  const interval = optIntIn(d, 'interval', 0, 0x7fffffff);
  if (interval === undefined) throw new TrackerError('MISSING_KEY', 'tracker response has no interval');
  const minInterval = optIntIn(d, 'min interval', 0, 0x7fffffff);
  const complete = optIntIn(d, 'complete', 0, Number.MAX_SAFE_INTEGER);
  const incomplete = optIntIn(d, 'incomplete', 0, Number.MAX_SAFE_INTEGER);
  const trackerId = optBytesOf(d, 'tracker id');
  const warning = optBytesOf(d, 'warning message');
  const peers: PeerAddress[] = [];
  const p4 = d.get('peers');
  const p6 = optBytesOf(d, 'peers6');
  if (p4 === undefined && p6 === undefined) throw new TrackerError('MISSING_KEY', 'tracker response has no peers');
  if (p4 !== undefined) {
    if (isBytes(p4)) peers.push(...decodeCompactPeers(p4, COMPACT_V4, maxPeers));
    else if (isList(p4)) peers.push(...dictPeers(p4, maxPeers));
    else throw new TrackerError('WRONG_TYPE', '"peers" is neither a compact string nor a list');
  }
  if (p6 !== undefined) peers.push(...decodeCompactPeers(p6, COMPACT_V6, maxPeers));
  if (peers.length > maxPeers) throw new TrackerError('TOO_MANY_PEERS', `${peers.length} peers, more than the cap of ${maxPeers}`);
  const out: { -readonly [K in keyof AnnounceResponse]: AnnounceResponse[K] } = { interval: Math.min(interval, MAX_INTERVAL), peers };
  if (minInterval !== undefined) out.minInterval = Math.min(minInterval, MAX_INTERVAL);
  if (trackerId !== undefined) out.trackerId = new Uint8Array(trackerId.subarray(0, 256)); // a copy: the body may be reused
  if (warning !== undefined) out.warning = trackerText(warning);
  if (complete !== undefined) out.complete = complete;
  if (incomplete !== undefined) out.incomplete = incomplete;
  return out;
}

/** A scrape answer (BEP 48): counts per info hash (hex) from its `files` dictionary. */
export function parseScrapeResponse(body: Uint8Array, limits?: HttpLimits): Map<string, ScrapeEntry> {
  const d = decodeBody(body, limits);
  const failure = d.get('failure reason');
  if (failure !== undefined) throw new TrackerError('TRACKER_FAILURE', isBytes(failure) ? trackerText(failure) : 'tracker failure');
  const files = d.get('files');
  if (files === undefined) throw new TrackerError('MISSING_KEY', 'scrape response has no files');
  if (!isDict(files)) throw new TrackerError('WRONG_TYPE', '"files" is not a dictionary');
  const out = new Map<string, ScrapeEntry>();
  for (const [k, v] of files) {
    if (k.length !== 20) throw new TrackerError('OUT_OF_RANGE', `scrape key of ${k.length} bytes is not an info hash`);
    if (!isDict(v)) throw new TrackerError('WRONG_TYPE', 'a scrape entry is not a dictionary');
    let hex = '';
    for (let i = 0; i < 20; i++) hex += k.charCodeAt(i).toString(16).padStart(2, '0');
    out.set(hex, {
      complete: optIntIn(v, 'complete', 0, Number.MAX_SAFE_INTEGER) ?? 0,
      downloaded: optIntIn(v, 'downloaded', 0, Number.MAX_SAFE_INTEGER) ?? 0,
      incomplete: optIntIn(v, 'incomplete', 0, Number.MAX_SAFE_INTEGER) ?? 0,
    });
  }
  return out;
}
