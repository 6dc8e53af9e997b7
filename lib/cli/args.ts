/**
 * Small, strict argument parsing for the CLI: flags with values, repeated flags,
 * positionals. Any misuse is a CliError (one line for the user, exit status 2).
 */
import { isIP } from 'node:net';
import { parsePeerAddress } from '../../format/magnet.js';
import { ENCRYPTION_MODES, isEncryptionMode, type EncryptionMode } from '../../wire/mse/policy.js';
import type { DhtOptions } from '../discovery/client-dht.js';

export class CliError extends Error {
  override readonly name = 'CliError';
  /** Process exit status: 2 for usage errors, 1 for everything else. */
  constructor(message: string, readonly exitCode = 1) { super(message); }
}

export interface ParsedArgs {
  readonly positionals: string[];
  /** Last value of each flag (booleans hold 'true'). */
  readonly flags: Map<string, string>;
  /** Every value of repeatable flags, in order. */
  readonly repeated: Map<string, string[]>;
}

export interface FlagSpec {
  /** Flags taking a value, with aliases: { '-o': '--out' }. */
  readonly values: readonly string[];
  readonly booleans?: readonly string[];
  readonly aliases?: Readonly<Record<string, string>>;
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string>();
  const repeated = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
    a = spec.aliases?.[a] ?? a;
    if (spec.booleans?.includes(a)) {
      if (inline !== undefined) throw new CliError(`${a} takes no value`, 2);
      flags.set(a, 'true');
      continue;
    }
    if (!spec.values.includes(a)) throw new CliError(`unknown option ${a}`, 2);
    const v = inline ?? argv[++i];
    if (v === undefined) throw new CliError(`${a} needs a value`, 2);
    flags.set(a, v);
    const list = repeated.get(a);
    if (list === undefined) repeated.set(a, [v]);
    else list.push(v);
  }
  return { positionals, flags, repeated };
}

/** "64M", "1G", "512K", "1000" → bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i.exec(s.trim());
  if (m === null) throw new CliError(`bad size '${s}' (examples: 64M, 1G, 512K)`, 2);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  const n = Math.round(Number(m[1]) * mult);
  if (!(Number.isSafeInteger(n) && n > 0)) throw new CliError(`bad size '${s}'`, 2);
  return n;
}

/**
 * A rate limit for --up-limit / --down-limit: bytes per second. K, M and G are powers of
 * 1024 (KiB/s, MiB/s, GiB/s: how curl, wget, aria2 and qBittorrent read them), with or
 * without a trailing "B", "iB" or "/s": "500K", "20M", "1.5MiB/s", "1048576". 0 means
 * no limit. Absent: undefined (the Client's default, no limit).
 */
export function parseRate(flag: string, s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg])?(?:i?b)?(?:\/s)?$/i.exec(s.trim());
  const unit = (m?.[2] ?? '').toLowerCase();
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  const n = m === null ? NaN : Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n)) throw new CliError(`bad ${flag} '${s}' (bytes/s, K/M/G = 1024-based: 500K, 20M, 0 for none)`, 2);
  return n;
}

/** "20.0 MiB/s", or "none" for 0. */
export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond === 0) return 'none';
  const u = bytesPerSecond >= 1024 ** 2 ? ['MiB', 1024 ** 2] as const : bytesPerSecond >= 1024 ? ['KiB', 1024] as const : ['B', 1] as const;
  return `${(bytesPerSecond / u[1]).toFixed(u[1] === 1 ? 0 : 1)} ${u[0]}/s`;
}

export function parsePort(s: string): number {
  const n = Number(s);
  if (!(Number.isInteger(n) && n >= 0 && n <= 65535)) throw new CliError(`bad port '${s}'`, 2);
  return n;
}

/**
 * The --peer values: each must be host:port (IPv6 in [brackets]); returned as given.
 * A bad one is a usage error naming it, before any connection is tried.
 */
export function parsePeers(list: readonly string[] | undefined): string[] {
  return (list ?? []).map((p) => {
    try {
      parsePeerAddress(p);
      return p;
    } catch (e) {
      throw new CliError(`bad --peer '${p}': ${(e as Error).message}`, 2);
    }
  });
}

/** --encryption require|prefer|off (MSE/PE; see ClientOptions.encryption). Default 'prefer'. */
export function parseEncryption(v: string | undefined): EncryptionMode {
  if (v === undefined) return 'prefer';
  if (!isEncryptionMode(v)) throw new CliError(`bad --encryption '${v}' (one of ${ENCRYPTION_MODES.join(', ')})`, 2);
  return v;
}

/** The DHT flags every command that makes a Client takes (values and booleans for parseArgs). */
export const DHT_FLAGS = { values: ['--dht-bootstrap'], booleans: ['--no-dht'] } as const;

/**
 * --no-dht → false; --dht-bootstrap host:port[,host:port…] (repeatable) → those nodes;
 * neither → the Client's default (the public routers, when listening on a routable address).
 */
export function parseDht(a: ParsedArgs): false | DhtOptions | undefined {
  const lists = a.repeated.get('--dht-bootstrap');
  if (a.flags.has('--no-dht')) {
    if (lists !== undefined) throw new CliError('--no-dht and --dht-bootstrap contradict each other', 2);
    return false;
  }
  if (lists === undefined) return undefined;
  const bootstrap = lists.flatMap((l) => l.split(',')).map((x) => x.trim()).filter((x) => x !== '');
  if (bootstrap.length === 0) throw new CliError('--dht-bootstrap needs host:port[,host:port…]', 2);
  for (const b of bootstrap) {
    try {
      parsePeerAddress(b);
    } catch (e) {
      throw new CliError(`bad --dht-bootstrap '${b}': ${(e as Error).message}`, 2);
    }
  }
  return { bootstrap };
}

/** The flags naming our address: --host and its alias --bind. */
export const BIND_FLAGS = ['--host', '--bind'] as const;

/**
 * --host / --bind: the address we listen on AND dial from (several of our peers on one
 * machine, each on its own address, are several peers to clients that accept one
 * connection per IP). Absent or unspecified (0.0.0.0, ::): listen on all addresses,
 * dial from whichever the system picks.
 */
export function parseBind(flags: ReadonlyMap<string, string>): { host: string; localAddress?: string } {
  const host = flags.get('--host');
  const bind = flags.get('--bind');
  if (host !== undefined && bind !== undefined && host !== bind) throw new CliError('--host and --bind name the same thing: give one', 2);
  const addr = host ?? bind;
  if (addr === undefined) return { host: '0.0.0.0' };
  if (isIP(addr) === 0) throw new CliError(`bad --host '${addr}' (an IPv4 or IPv6 address)`, 2);
  return addr === '0.0.0.0' || addr === '::' ? { host: addr } : { host: addr, localAddress: addr };
}
