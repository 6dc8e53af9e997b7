/**
 * KRPC datagrams of the mainline DHT (BEP 5), checked field by field before the DHT
 * implementation sees them. The DHT itself is the npm `bittorrent-dht` (routing table,
 * lookups, tokens, peer store); it trusts the types of what it decodes, and one
 * datagram with an integer where a byte string belongs (`info_hash`, `target`,
 * `token`, a response `id`) throws inside its socket handler and ends the process. So
 * every datagram is parsed here into the few shapes BEP 5 defines, with their exact
 * types and sizes, and re-encoded from those fields alone; anything else is dropped.
 *
 * Kept: queries ping, find_node, get_peers, announce_peer (`a` reduced to the fields
 * BEP 5 names); responses with `id` and optional `nodes` (whole 26-byte entries),
 * `values` (6-byte IPv4 peers: the library reads every value as IPv4) and `token`;
 * errors `[code, message]`. Dropped: other methods (BEP 44 get/put and the like: we
 * do not serve them), other fields, and any address in `nodes` or `values` that no
 * public node can mean (0/8, 127/8, multicast and above) unless the caller allows
 * local addresses (our own node is on loopback, as in tests).
 */
import { BencodeError, decode, encode, isBytes, isDict, isInt, isList, type BDict, type BValue } from '../wire/bencode.js';

export const NODE_ID_LENGTH = 20;
/** Compact node info: 20-byte id, 4-byte IPv4 address, 2-byte port. */
export const COMPACT_NODE_LENGTH = 26;
/** Compact peer info: 4-byte IPv4 address, 2-byte port. */
export const COMPACT_PEER_LENGTH = 6;

export type KrpcErrorCode =
  | 'BAD_BENCODE'    // not bencode, or over the size / depth / item bounds
  | 'NOT_A_DICT'
  | 'BAD_TYPE'       // `y` is not q, r or e
  | 'BAD_TRANSACTION'
  | 'UNKNOWN_METHOD' // a query we do not serve
  | 'BAD_FIELD';     // a field missing, of another type or size, or out of range

export class KrpcError extends Error {
  override readonly name = 'KrpcError';
  constructor(readonly code: KrpcErrorCode, message: string) { super(message); }
}

export type KrpcMethod = 'ping' | 'find_node' | 'get_peers' | 'announce_peer';

export interface KrpcQuery {
  readonly y: 'q';
  readonly t: Uint8Array;
  readonly q: KrpcMethod;
  readonly id: Uint8Array;
  /** find_node */
  readonly target?: Uint8Array;
  /** get_peers, announce_peer */
  readonly infoHash?: Uint8Array;
  /** announce_peer */
  readonly port?: number;
  readonly token?: Uint8Array;
  readonly impliedPort?: boolean;
}

export interface KrpcResponse {
  readonly y: 'r';
  readonly t: Uint8Array;
  readonly id: Uint8Array;
  /** Whole compact node entries only. */
  readonly nodes?: Uint8Array;
  /** 6-byte compact IPv4 peers. */
  readonly values?: readonly Uint8Array[];
  readonly token?: Uint8Array;
}

export interface KrpcErrorMessage {
  readonly y: 'e';
  readonly t: Uint8Array;
  readonly code: number;
  readonly message: Uint8Array;
}

export type KrpcMessage = KrpcQuery | KrpcResponse | KrpcErrorMessage;

export interface KrpcLimits {
  /** Longest datagram read. Default 4096 (DHT datagrams fit an MTU; libtorrent's stay under 1500). */
  readonly maxBytes?: number;
  /** Most `values` kept from one response. Default 200. */
  readonly maxValues?: number;
  /** Most `nodes` entries kept from one response. Default 32 (8 is what nodes send). */
  readonly maxNodes?: number;
  /** Keep loopback / unspecified / multicast addresses in `nodes` and `values`. Default false. */
  readonly allowLocalAddresses?: boolean;
}

const MAX_T = 32;
const MAX_TOKEN = 64;
const MAX_ERROR_TEXT = 256;
const METHODS: ReadonlySet<string> = new Set(['ping', 'find_node', 'get_peers', 'announce_peer']);

/** Parse one datagram into the message BEP 5 defines; throws KrpcError for anything else. */
export function parseKrpc(datagram: Uint8Array, limits: KrpcLimits = {}): KrpcMessage {
  const maxBytes = limits.maxBytes ?? 4096;
  let top: BValue;
  try {
    // A DHT message nests at most three deep (dict → r → values list).
    top = decode(datagram, { maxBytes, maxDepth: 3, maxItems: 512, maxIntegerDigits: 20, strict: false });
  } catch (e) {
    if (e instanceof BencodeError) throw new KrpcError('BAD_BENCODE', e.message);
    throw e;
  }
  if (!isDict(top)) throw new KrpcError('NOT_A_DICT', 'a KRPC message is a dictionary');
  const y = text(top.get('y'));
  const t = top.get('t');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_T) throw new KrpcError('BAD_TRANSACTION', 't must be a byte string of 1..32 bytes');
  if (y === 'q') return parseQuery(top, t);
  if (y === 'r') return parseResponse(top, t, limits);
  if (y === 'e') return parseError(top, t);
  throw new KrpcError('BAD_TYPE', 'y must be q, r or e');
}

function parseQuery(top: BDict, t: Uint8Array): KrpcQuery {
  const q = text(top.get('q'));
  if (q === null || !METHODS.has(q)) throw new KrpcError('UNKNOWN_METHOD', `query ${q === null ? '(none)' : JSON.stringify(q.slice(0, 32))} is not served`);
  const a = top.get('a');
  if (!isDict(a)) throw new KrpcError('BAD_FIELD', 'query without an `a` dictionary');
  const id = hash(a, 'id');
  const method = q as KrpcMethod;
  if (method === 'ping') return { y: 'q', t, q: method, id };
  if (method === 'find_node') return { y: 'q', t, q: method, id, target: hash(a, 'target') };
  const infoHash = hash(a, 'info_hash');
  if (method === 'get_peers') return { y: 'q', t, q: method, id, infoHash };
  const token = a.get('token');
  if (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN) throw new KrpcError('BAD_FIELD', 'announce_peer token must be 1..64 bytes');
  const implied = a.get('implied_port');
  if (implied !== undefined && !isInt(implied)) throw new KrpcError('BAD_FIELD', 'implied_port must be an integer');
  const impliedPort = implied !== undefined && implied !== 0n;
  const p = a.get('port');
  // With implied_port the UDP source port is used and `port` may be anything (or absent).
  let port = 0;
  if (isInt(p) && p >= 1n && p <= 65535n) port = Number(p);
  else if (!impliedPort) throw new KrpcError('BAD_FIELD', 'announce_peer port must be an integer in 1..65535');
  return { y: 'q', t, q: method, id, infoHash, port, token, impliedPort };
}

function parseResponse(top: BDict, t: Uint8Array, limits: KrpcLimits): KrpcResponse {
  const r = top.get('r');
  if (!isDict(r)) throw new KrpcError('BAD_FIELD', 'response without an `r` dictionary');
  const id = hash(r, 'id');
  const local = limits.allowLocalAddresses ?? false;
  let nodes: Uint8Array | undefined;
  const n = r.get('nodes');
  if (n !== undefined) {
    if (!isBytes(n)) throw new KrpcError('BAD_FIELD', 'nodes must be a byte string');
    nodes = keepNodes(n, limits.maxNodes ?? 32, local);
  }
  let values: Uint8Array[] | undefined;
  const v = r.get('values');
  if (v !== undefined) {
    if (!isList(v)) throw new KrpcError('BAD_FIELD', 'values must be a list');
    const max = limits.maxValues ?? 200;
    values = [];
    for (const x of v) {
      if (values.length >= max) break;
      // IPv6 peers (18 bytes) are skipped: the library would read them as IPv4.
      if (isBytes(x) && x.length === COMPACT_PEER_LENGTH && usable(x, 0, local)) values.push(x);
    }
  }
  const tok = r.get('token');
  let token: Uint8Array | undefined;
  if (tok !== undefined) {
    if (!isBytes(tok) || tok.length === 0 || tok.length > MAX_TOKEN) throw new KrpcError('BAD_FIELD', 'token must be 1..64 bytes');
    token = tok;
  }
  return { y: 'r', t, id, nodes, values, token };
}

function parseError(top: BDict, t: Uint8Array): KrpcErrorMessage {
  const e = top.get('e');
  if (!isList(e) || e.length < 1 || !isInt(e[0]) || e[0] < 0n || e[0] > 999n) throw new KrpcError('BAD_FIELD', 'e must be [code, message] with a code in 0..999');
  const m = e[1];
  return { y: 'e', t, code: Number(e[0]), message: isBytes(m) ? m.subarray(0, MAX_ERROR_TEXT) : new Uint8Array(0) };
}

/** The message bencoded from its checked fields alone (what the DHT library then reads). */
export function encodeKrpc(m: KrpcMessage): Uint8Array {
  if (m.y === 'e') return encode({ t: m.t, y: 'e', e: [m.code, m.message] });
  if (m.y === 'r') return encode({ t: m.t, y: 'r', r: { id: m.id, nodes: m.nodes, values: m.values, token: m.token } });
  const a: Record<string, Uint8Array | number | undefined> = { id: m.id, target: m.target, info_hash: m.infoHash, token: m.token };
  if (m.q === 'announce_peer') {
    a.port = m.port;
    a.implied_port = m.impliedPort ? 1 : 0;
  }
  return encode({ t: m.t, y: 'q', q: m.q, a });
}

/** `parseKrpc` then `encodeKrpc`: the datagram the library may see, or the reason it may not. */
export function sanitizeKrpc(datagram: Uint8Array, limits?: KrpcLimits): { ok: Uint8Array; message: KrpcMessage } | { error: KrpcError } {
  try {
    const message = parseKrpc(datagram, limits);
    return { ok: encodeKrpc(message), message };
  } catch (e) {
    if (e instanceof KrpcError) return { error: e };
    throw e;
  }
}

function hash(d: BDict, key: string): Uint8Array {
  const v = d.get(key);
  if (!isBytes(v) || v.length !== NODE_ID_LENGTH) throw new KrpcError('BAD_FIELD', `${key} must be ${NODE_ID_LENGTH} bytes`);
  return v;
}

function text(v: BValue | undefined): string | null {
  return isBytes(v) && v.length <= 32 ? String.fromCharCode(...v) : null;
}

/** Whole node entries with a usable address and a port, at most `max`. */
function keepNodes(b: Uint8Array, max: number, local: boolean): Uint8Array {
  const whole = Math.min(Math.floor(b.length / COMPACT_NODE_LENGTH), max);
  const out = new Uint8Array(whole * COMPACT_NODE_LENGTH);
  let len = 0;
  for (let i = 0; i < whole; i++) {
    const o = i * COMPACT_NODE_LENGTH;
    if (!usable(b, o + NODE_ID_LENGTH, local)) continue;
    out.set(b.subarray(o, o + COMPACT_NODE_LENGTH), len);
    len += COMPACT_NODE_LENGTH;
  }
  return out.subarray(0, len);
}

/** A compact IPv4 address + port at `o` that a node or peer on the internet can have. */
function usable(b: Uint8Array, o: number, local: boolean): boolean {
  const port = (b[o + 4] << 8) | b[o + 5];
  if (port === 0) return false;
  if (local) return true;
  const first = b[o];
  return first !== 0 && first !== 127 && first < 224;
}

/**
 * Our own answer, capped before it leaves: at most `maxValues` peers in a get_peers
 * response. The library answers with every peer it stores for the info hash (in random
 * order), and one host may announce many ports: uncapped, a 100-byte query with a forged
 * source would make us send its victim a datagram of up to 60 KB. Anything that is not
 * such a response is returned as it is.
 */
export function capOutgoing(datagram: Uint8Array, maxValues: number): Uint8Array {
  let top: BValue;
  try {
    top = decode(datagram, { strict: false, maxDepth: 4 });
  } catch {
    return datagram;
  }
  if (!isDict(top)) return datagram;
  const r = top.get('r');
  if (!isDict(r)) return datagram;
  const values = r.get('values');
  if (!isList(values) || values.length <= maxValues) return datagram;
  const capped = new Map(r).set('values', values.slice(0, maxValues));
  return encode(new Map(top).set('r', capped));
}
