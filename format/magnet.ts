/**
 * Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>&x.pe=<host:port>`.
 *
 * The info hash is accepted as 40 hex digits or 32 base32 chars (RFC 4648, the older
 * form some clients still emit). `tr` and `x.pe` repeat; indexed forms (`tr.1`, `xt.1`)
 * are accepted too. A URI is user or web input: its size and counts are bounded.
 */

export type MagnetErrorCode =
  | 'NOT_MAGNET'      // does not start with magnet:?
  | 'TOO_LARGE'       // URI or repeat counts beyond the bounds
  | 'BAD_ENCODING'    // bad %-escape
  | 'MISSING_XT'      // no xt=urn:btih:
  | 'BAD_INFO_HASH'   // btih neither 40 hex nor 32 base32
  | 'V2_ONLY'         // only a BEP 52 btmh hash (we speak v1)
  | 'BAD_PEER';       // x.pe not host:port

export class MagnetError extends Error {
  override readonly name = 'MagnetError';
  constructor(readonly code: MagnetErrorCode, message: string) { super(message); }
}

export interface PeerAddress { readonly host: string; readonly port: number }

export interface Magnet {
  /** 20 bytes. */
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  readonly name?: string;
  readonly trackers: readonly string[];
  /** x.pe peer addresses. */
  readonly peers: readonly PeerAddress[];
}

const MAX_URI_LENGTH = 64 * 1024;
const MAX_REPEATS = 256;
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (no padding) of exactly 20 bytes ⇄ 32 chars. */
export function base32Decode(s: string): Buffer | null {
  const up = s.toUpperCase().replace(/=+$/, '');
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of up) {
    const v = B32.indexOf(ch);
    if (v < 0) return null;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >>> bits) & 0xff);
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) return null; // non-zero spare bits: not a canonical encoding
  return Buffer.from(out);
}

export function base32Encode(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/** Parse a btih value (hex or base32) into 20 bytes. */
export function parseInfoHash(s: string): Buffer {
  if (s.length === 40 && /^[0-9a-fA-F]{40}$/.test(s)) return Buffer.from(s, 'hex');
  if (s.length === 32) {
    const b = base32Decode(s);
    if (b !== null && b.length === 20) return b;
  }
  throw new MagnetError('BAD_INFO_HASH', `info hash ${JSON.stringify(s.slice(0, 80))} is neither 40 hex digits nor 32 base32 chars`);
}

/** `host:port`, `[v6]:port`. */
export function parsePeerAddress(s: string): PeerAddress {
  let host: string;
  let portStr: string;
  const m6 = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s);
  if (m6) {
    host = m6[1];
    portStr = m6[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i <= 0) throw new MagnetError('BAD_PEER', `peer ${JSON.stringify(s.slice(0, 80))} is not host:port`);
    host = s.slice(0, i);
    portStr = s.slice(i + 1);
    if (host.includes(':') || !/^[A-Za-z0-9.-]+$/.test(host)) throw new MagnetError('BAD_PEER', `peer host ${JSON.stringify(host.slice(0, 80))} is not a host name or IPv4 (IPv6 needs [brackets])`);
  }
  if (!/^\d{1,5}$/.test(portStr)) throw new MagnetError('BAD_PEER', `peer ${JSON.stringify(s.slice(0, 80))} has no valid port`);
  const port = Number(portStr);
  if (port < 1 || port > 65535) throw new MagnetError('BAD_PEER', `peer port ${port} outside 1..65535`);
  return { host, port };
}

export function formatPeerAddress(p: PeerAddress): string {
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

function decodeComponent(s: string, plusIsSpace: boolean): string {
  try {
    return decodeURIComponent(plusIsSpace ? s.replace(/\+/g, ' ') : s);
  } catch {
    throw new MagnetError('BAD_ENCODING', `bad %-escape in ${JSON.stringify(s.slice(0, 80))}`);
  }
}

export function parseMagnet(uri: string): Magnet {
  if (uri.length > MAX_URI_LENGTH) throw new MagnetError('TOO_LARGE', `magnet URI of ${uri.length} chars exceeds ${MAX_URI_LENGTH}`);
  if (!/^magnet:\?/i.test(uri)) throw new MagnetError('NOT_MAGNET', 'not a magnet URI (expected "magnet:?")');
  const query = uri.slice(8);
  let infoHash: Buffer | undefined;
  let sawBtmh = false;
  let name: string | undefined;
  const trackers: string[] = [];
  const peers: PeerAddress[] = [];
  const params = query.length === 0 ? [] : query.split('&');
  if (params.length > 4 * MAX_REPEATS) throw new MagnetError('TOO_LARGE', `${params.length} parameters`);
  for (const p of params) {
    if (p.length === 0) continue;
    const eq = p.indexOf('=');
    const rawKey = eq < 0 ? p : p.slice(0, eq);
    const rawVal = eq < 0 ? '' : p.slice(eq + 1);
    // Indexed forms: xt.1, tr.2 (not x.pe, whose dot is part of the name).
    const key = decodeComponent(rawKey, false).replace(/^(xt|tr|dn)\.\d+$/, '$1');
    if (key === 'xt') {
      const v = decodeComponent(rawVal, false);
      const m = /^urn:(btih|btmh):(.+)$/i.exec(v);
      if (m === null) continue; // other URN kinds (ed2k, sha1, ...) are not ours
      if (m[1].toLowerCase() === 'btmh') { sawBtmh = true; continue; }
      const h = parseInfoHash(m[2]);
      if (infoHash === undefined) infoHash = h;
    } else if (key === 'dn') {
      if (name === undefined) name = decodeComponent(rawVal, true);
    } else if (key === 'tr') {
      if (trackers.length >= MAX_REPEATS) throw new MagnetError('TOO_LARGE', `more than ${MAX_REPEATS} trackers`);
      const t = decodeComponent(rawVal, false);
      if (t.length > 0 && !trackers.includes(t)) trackers.push(t);
    } else if (key === 'x.pe') {
      if (peers.length >= MAX_REPEATS) throw new MagnetError('TOO_LARGE', `more than ${MAX_REPEATS} peers`);
      peers.push(parsePeerAddress(decodeComponent(rawVal, false)));
    }
  }
  if (infoHash === undefined) {
    if (sawBtmh) throw new MagnetError('V2_ONLY', 'magnet has only a v2 (btmh) info hash; we need a v1 btih');
    throw new MagnetError('MISSING_XT', 'magnet has no xt=urn:btih: info hash');
  }
  const out: { -readonly [K in keyof Magnet]: Magnet[K] } = { infoHash, infoHashHex: infoHash.toString('hex'), trackers, peers };
  if (name !== undefined) out.name = name;
  return out;
}

/** Build a magnet URI (hex info hash; values %-encoded, host:port left readable). */
export function buildMagnet(m: { infoHash: Uint8Array; name?: string; trackers?: readonly string[]; peers?: readonly PeerAddress[] }): string {
  if (m.infoHash.length !== 20) throw new MagnetError('BAD_INFO_HASH', `info hash of ${m.infoHash.length} bytes, expected 20`);
  let s = `magnet:?xt=urn:btih:${Buffer.from(m.infoHash).toString('hex')}`;
  if (m.name !== undefined) s += `&dn=${encodeURIComponent(m.name)}`;
  for (const t of m.trackers ?? []) s += `&tr=${encodeURIComponent(t)}`;
  for (const p of m.peers ?? []) {
    parsePeerAddress(formatPeerAddress(p)); // refuse to build what we would not parse
    s += `&x.pe=${encodeURIComponent(formatPeerAddress(p)).replace(/%3A/g, ':').replace(/%5B/g, '[').replace(/%5D/g, ']')}`;
  }
  return s;
}
