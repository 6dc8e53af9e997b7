/**
 * Per-source-address throttle after protocol-violation closes (sans-IO: the caller
 * passes the clock).
 *
 * Why: closing a connection that breaks the protocol is cheap for the attacker, who
 * reconnects at once and breaks it again. Every round costs the seeder an accept, a
 * handshake, a bitfield and an extended handshake, and on a busy machine those
 * rounds took up to 44% of an honest leecher's speed (bench:hostile, bad-bitfield).
 * After a few violations from one address, its next connections are refused at
 * accept (the cheapest point) for a while that doubles with every further
 * violation and shrinks again while the address behaves.
 *
 * Scoring: every violation adds a strike; strikes decay by one per `decayMs`.
 * Above `allowance` strikes the address is banned for
 * `baseBanMs × 2^(strikes − allowance − 1)`, at most `maxBanMs`. The allowance keeps
 * one bad connection (a buggy client, a NAT shared with one) from locking an address
 * out. Memory is bounded: at most `maxAddresses` entries, the least recently touched
 * evicted first; entries with no strikes and no ban left are dropped when seen.
 *
 * Which closes count: the remote peer broke the wire protocol (a malformed or illegal
 * message, a request or piece it had no right to send, a handshake it never
 * finished or an MSE handshake it broke), broke the SeedPay protocol (a proof flood, a malformed paid message) or
 * sent data that failed the hash check. Not counted: clean ends,
 * socket errors and truncations (a network cut looks the same), timeouts of our
 * own requests, a torrent we do not serve, local decisions.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { PeerCloseCode } from '../engine/peer-session.js';

/** The close codes that count as a violation by the remote peer. */
const VIOLATION_CODES: ReadonlySet<PeerCloseCode> = new Set<PeerCloseCode>([
  'LENGTH_TOO_LARGE', 'UNKNOWN_MESSAGE_ID', 'BAD_MESSAGE_SIZE', 'TRAILING_BYTES',
  'BAD_BITFIELD_LENGTH', 'BITFIELD_SPARE_BITS', 'BAD_PIECE_INDEX', 'BAD_HANDSHAKE',
  'FAST_NOT_NEGOTIATED', 'HAVE_ALL_NOT_FIRST', 'ILLEGAL_STATE', 'REQUEST_OVERFLOW',
  'UNREQUESTED_PIECE', 'EXTENSION_NOT_NEGOTIATED', 'BAD_EXTENDED_HANDSHAKE',
  'UNKNOWN_EXTENSION_ID', 'BAD_REQUEST', 'HANDSHAKE_TIMEOUT', 'BANNED', 'EXTENSION_VIOLATION', 'MSE_FAILED',
]);

export function isViolation(code: PeerCloseCode): boolean {
  return VIOLATION_CODES.has(code);
}

/**
 * The key an address is counted under: an IPv4 address as it is (IPv4-mapped IPv6
 * "::ffff:a.b.c.d" too), an IPv6 address by its /64 prefix (one subscriber usually
 * holds a whole /64, so per-address counting there would be no limit at all),
 * anything else verbatim.
 */
export function addressKey(host: string): string {
  // A dotted IPv4 address is its own key; the IPv6 parsing below is skipped on the accept
  // path, which a crowd of refused reconnections takes thousands of times a second.
  if (!host.includes(':')) return host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped !== null && isIPv4(mapped[1])) return mapped[1];
  const bare = host.replace(/%.*$/, ''); // a zone index does not make another host
  if (!isIPv6(bare)) return host;
  const [head, tail = null] = bare.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  // an embedded IPv4 tail ("…:1.2.3.4") stands for two groups
  const last = t.length > 0 ? t : h;
  if (last.length > 0 && last[last.length - 1].includes('.')) last.splice(last.length - 1, 1, '0', '0');
  const groups = [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

export interface ViolationThrottleOptions {
  /** Violations an address may commit before it is banned. Default 3. */
  allowance?: number;
  /** First ban (ms). Default 2000. */
  baseBanMs?: number;
  /** Longest ban (ms). Default 5 minutes. */
  maxBanMs?: number;
  /** One strike is forgiven per this many ms. Default 30 s. */
  decayMs?: number;
  /** Addresses remembered at most. Default 8192. */
  maxAddresses?: number;
}

interface Entry {
  strikes: number;
  /** When `strikes` was last brought up to date (decay is applied lazily). */
  at: number;
  bannedUntil: number;
}

export class ViolationThrottle {
  readonly allowance: number;
  readonly baseBanMs: number;
  readonly maxBanMs: number;
  readonly decayMs: number;
  readonly maxAddresses: number;
  /** Insertion order = least recently touched first. */
  private readonly entries = new Map<string, Entry>();

  constructor(o: ViolationThrottleOptions = {}) {
    this.allowance = o.allowance ?? 3;
    this.baseBanMs = o.baseBanMs ?? 2000;
    this.maxBanMs = o.maxBanMs ?? 5 * 60_000;
    this.decayMs = o.decayMs ?? 30_000;
    this.maxAddresses = o.maxAddresses ?? 8192;
    const intOk = (x: number, min: number): boolean => Number.isSafeInteger(x) && x >= min;
    if (!intOk(this.allowance, 0) || !intOk(this.baseBanMs, 1) || !intOk(this.maxBanMs, this.baseBanMs)
      || !intOk(this.decayMs, 1) || !intOk(this.maxAddresses, 1)) {
      throw new RangeError('ViolationThrottle: allowance ≥ 0, 1 ≤ baseBanMs ≤ maxBanMs, decayMs ≥ 1, maxAddresses ≥ 1 (integers)');
    }
  }

  /** Addresses remembered now. */
  get size(): number { return this.entries.size; }

  /** A violation by `host` at `now`. Returns the end of its ban (≤ now: not banned). */
  record(host: string, now: number): number {
    const e = this.current(host, now) ?? { strikes: 0, at: now, bannedUntil: 0 };
    e.strikes++;
    const over = e.strikes - this.allowance;
    if (over > 0) {
      // 2^(over−1) without overflow: past 2^30 the cap has long been reached
      const ban = over > 31 ? this.maxBanMs : Math.min(this.maxBanMs, this.baseBanMs * 2 ** (over - 1));
      e.bannedUntil = Math.max(e.bannedUntil, now + ban);
    }
    this.touch(host, e);
    return e.bannedUntil;
  }

  /** May `host` connect at `now`? */
  admits(host: string, now: number): boolean {
    const e = this.current(host, now);
    return e === null || e.bannedUntil <= now;
  }

  /** The ban end of `host` (0 when never banned or forgotten) and its strikes at `now`. */
  state(host: string, now: number): { strikes: number; bannedUntil: number } {
    const e = this.current(host, now);
    return e === null ? { strikes: 0, bannedUntil: 0 } : { strikes: e.strikes, bannedUntil: e.bannedUntil };
  }

  /** Forget everything (e.g. an operator lifting bans). */
  clear(): void { this.entries.clear(); }

  /** The entry of `host` with decay applied; dropped (null) when nothing is left of it. */
  private current(host: string, now: number): Entry | null {
    const e = this.entries.get(host);
    if (e === undefined) return null;
    if (now > e.at) {
      const forgiven = Math.floor((now - e.at) / this.decayMs);
      if (forgiven > 0) {
        e.strikes = Math.max(0, e.strikes - forgiven);
        e.at += forgiven * this.decayMs;
      }
    }
    if (e.strikes === 0 && e.bannedUntil <= now) {
      this.entries.delete(host);
      return null;
    }
    return e;
  }

  private touch(host: string, e: Entry): void {
    this.entries.delete(host);
    this.entries.set(host, e);
    while (this.entries.size > this.maxAddresses) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
