/**
 * What the paid CLI commands share: the RPC (`--rpc URL`, default $SEEDPAY_RPC or the
 * local ledger's http://127.0.0.1:8899), the token mint (`--mint`, else the known
 * USDC mint of the cluster, else the mint the local ledger recorded), amounts typed
 * and shown in that mint's decimals, the state directory ($SEEDPAY_HOME, default ~/.seedpay) with the default
 * journals, and loading .torrent files with one-line errors.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Connection, PublicKey } from '@solana/web3.js';
import { AmountError, formatAmount, parseAmount } from '../../payment/amount.js';
import { connectionChain, type Chain } from '../../payment/chain.js';
import { MetainfoError, parseTorrent, type Metainfo } from '../../format/metainfo.js';
import { formatPeerAddress, MagnetError, parseMagnet } from '../../format/magnet.js';
import { trackerTiers } from '../../discovery/tracker-url.js';
import { CliError, type ParsedArgs } from './args.js';

export type Out = { out: NodeJS.WritableStream; err: NodeJS.WriteStream };

export const RPC_FLAGS = ['--rpc', '--mint'] as const;

/** Known clusters' USDC mints, by genesis hash. */
const KNOWN_USDC: Readonly<Record<string, string>> = {
  // mainnet-beta
  '5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d': 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
  // devnet (Circle's devnet USDC)
  EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG: '4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU',
};

export const DEFAULT_LEDGER_PORT = 8899;

function stateDir(): string {
  return process.env.SEEDPAY_HOME ?? join(homedir(), '.seedpay');
}

export function defaultJournal(kind: 'seller' | 'buyer'): string {
  return join(stateDir(), kind === 'seller' ? 'earnings.journal' : 'spending.journal');
}

export async function ensureStateDir(): Promise<void> {
  await mkdir(stateDir(), { recursive: true, mode: 0o700 });
}

/** What `seedpay ledger` records so other commands find the local mint. */
export interface LedgerRecord { url: string; genesisHash: string; mint: string }

export async function writeLedgerRecord(r: LedgerRecord): Promise<void> {
  await ensureStateDir();
  await writeFile(join(stateDir(), 'ledger.json'), JSON.stringify(r, null, 2));
}

async function readLedgerRecord(): Promise<LedgerRecord | null> {
  try {
    const r = JSON.parse(await readFile(join(stateDir(), 'ledger.json'), 'utf8')) as LedgerRecord;
    return typeof r.genesisHash === 'string' && typeof r.mint === 'string' ? r : null;
  } catch {
    return null;
  }
}

export interface Rpc {
  url: string;
  connection: Connection;
  chain: Chain;
  genesisHash: string;
}

/** Connect and ask the genesis hash: an unreachable RPC is one clear line. */
export async function connectRpc(a: ParsedArgs): Promise<Rpc> {
  const url = a.flags.get('--rpc') ?? process.env.SEEDPAY_RPC ?? `http://127.0.0.1:${DEFAULT_LEDGER_PORT}`;
  let parsed: URL;
  try { parsed = new URL(url); } catch { throw new CliError(`bad --rpc URL '${url}'`, 2); }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new CliError(`bad --rpc URL '${url}' (http or https)`, 2);
  const connection = new Connection(url, {
    commitment: 'confirmed',
    disableRetryOnRateLimit: true,
    fetch: (input, init) => fetch(input as string, { ...(init as RequestInit), signal: AbortSignal.timeout(10_000) }) as never,
  });
  const chain = connectionChain(connection);
  let genesisHash: string;
  try {
    genesisHash = await chain.genesisHash();
  } catch (e) {
    const why = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(`cannot reach RPC ${url}: ${why}${url.includes('127.0.0.1:8899') ? ' (start one: seedpay ledger)' : ''}`);
  }
  return { url, connection, chain, genesisHash };
}

/** The mint paid in: --mint, else USDC of a known cluster, else the local ledger's. */
export async function resolveMint(a: ParsedArgs, rpc: Rpc): Promise<string> {
  const m = a.flags.get('--mint');
  if (m !== undefined) {
    try { return new PublicKey(m).toBase58(); } catch { throw new CliError(`bad --mint '${m}'`, 2); }
  }
  const known = KNOWN_USDC[rpc.genesisHash];
  if (known !== undefined) return known;
  const rec = await readLedgerRecord();
  if (rec !== null && rec.genesisHash === rpc.genesisHash) return rec.mint;
  throw new CliError(`no known USDC mint on cluster ${rpc.genesisHash}: pass --mint <address>`, 2);
}

/**
 * The token a paid command deals in: the mint it pays or is paid in, and that mint's
 * decimals as the chain reports them. Every amount the user types (prices, budgets)
 * is read in these decimals and every amount shown is written in them: an amount
 * meant as USDC must never be paid in a token of other decimals.
 */
export interface Token {
  readonly mint: string;
  readonly decimals: number;
  /** 'USDC' for the cluster's USDC (or the local ledger's USDC-like mint), else the mint's address. */
  readonly symbol: string;
}

/** The mint of `resolveMint` with its decimals from the chain (a mint the cluster does not have is one clear line). */
export async function resolveToken(a: ParsedArgs, rpc: Rpc): Promise<Token> {
  return tokenOf(rpc, await resolveMint(a, rpc));
}

/** A mint (base58) with its decimals from the chain, named 'USDC' when it is the cluster's (or the local ledger's) USDC. */
export async function tokenOf(rpc: Rpc, mint: string): Promise<Token> {
  let info;
  try {
    info = await rpc.chain.mint(new PublicKey(mint));
  } catch (e) {
    throw new CliError(`cannot read mint ${mint} from RPC ${rpc.url}: ${(e as Error).message}`);
  }
  if (info === null) throw new CliError(`mint ${mint} does not exist on cluster ${rpc.genesisHash}`, 2);
  const rec = await readLedgerRecord();
  const usdc = KNOWN_USDC[rpc.genesisHash] === mint || (rec !== null && rec.genesisHash === rpc.genesisHash && rec.mint === mint);
  return { mint, decimals: info.decimals, symbol: usdc ? 'USDC' : `of mint ${mint}` };
}

/** The largest number of decimals an SPL mint can have (its field is a u8, tokens use far fewer). */
const MAX_DECIMALS = 18;

/**
 * Check an amount flag's syntax before anything is connected (a typo fails fast);
 * `tokenAmount` reads it in the mint's decimals once the mint is known.
 */
export function checkAmountFlag(flag: string, text: string | undefined, required = true): void {
  if (text === undefined) {
    if (required) throw new CliError(`${flag} <amount> is required`, 2);
    return;
  }
  try {
    parseAmount(text, MAX_DECIMALS);
  } catch (e) {
    throw new CliError(`bad ${flag} '${text}': ${e instanceof AmountError ? e.message : String(e)}`, 2);
  }
}

/** An amount typed by the user, in `token`'s decimals → base units. */
export function tokenAmount(token: Token, flag: string, text: string | undefined, required = true): bigint | undefined {
  checkAmountFlag(flag, text, required);
  if (text === undefined) return undefined;
  try {
    return parseAmount(text, token.decimals);
  } catch (e) {
    throw new CliError(`bad ${flag} '${text}': ${e instanceof AmountError ? e.message : String(e)} (the mint ${token.mint} has ${token.decimals})`, 2);
  }
}

/** Base units of `token` as the user reads them. */
export function formatToken(token: Token, units: bigint): string {
  return `${formatAmount(units, token.decimals)} ${token.symbol}`;
}

/** An amount in USDC typed by the user → base units. */
export function parseUsdc(flag: string, text: string | undefined, required = true): bigint | undefined {
  if (text === undefined) {
    if (required) throw new CliError(`${flag} <USDC> is required`, 2);
    return undefined;
  }
  try {
    return parseAmount(text, 6);
  } catch (e) {
    throw new CliError(`bad ${flag} '${text}': ${e instanceof AmountError ? e.message : String(e)}`, 2);
  }
}

export function usdc(units: bigint): string {
  return `${formatAmount(units)} USDC`;
}

export async function loadTorrent(p: string): Promise<Metainfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no such torrent file: ${p}` : `cannot read torrent ${p}: ${code ?? (e as Error).message}`);
  }
  try {
    return parseTorrent(bytes);
  } catch (e) {
    throw new CliError(`${p} is not a valid torrent: ${e instanceof MetainfoError ? `${e.code}: ${e.message}` : (e as Error).message}`);
  }
}

/** Resolve when SIGINT/SIGTERM arrives. */
export function untilSignal(): Promise<void> {
  return new Promise((res) => {
    const f = (): void => { process.off('SIGINT', f); process.off('SIGTERM', f); res(); };
    process.on('SIGINT', f);
    process.on('SIGTERM', f);
  });
}

/**
 * Where a paid `get` finds its peers, as the free get does (lib/cli/commands.ts): the
 * --peer addresses and a magnet's `x.pe`, the torrent's trackers (unless --no-trackers),
 * the DHT (unless --no-dht; never for a private torrent) and PEX (unless --no-pex). One
 * line when there is no source at all.
 */
export interface PeerSources {
  /** Tracker URLs to announce to (flattened tiers). */
  readonly trackers: string[];
  readonly useTrackers: boolean;
  readonly useDht: boolean;
  readonly pex: boolean;
  /** The peers given by hand (--peer, then the magnet's). */
  readonly given: string[];
  /** Any source beyond the given peers (then a dropped peer is never the last one). */
  readonly discovers: boolean;
  /** For the `peer sources:` line. */
  describe(): string;
}

export function peerSources(
  a: ParsedArgs, src: Metainfo | string, peers: readonly string[], dhtOn: boolean,
): PeerSources {
  const useTrackers = !a.flags.has('--no-trackers');
  const pex = !a.flags.has('--no-pex');
  let trackers: string[];
  let given = [...peers];
  let isPrivate = false;
  if (typeof src === 'string') {
    let m;
    try { m = parseMagnet(src); } catch (e) { throw new CliError(`bad magnet link: ${e instanceof MagnetError ? e.message : String(e)}`, 2); }
    trackers = useTrackers ? trackerTiers(undefined, m.trackers.map((u) => [u])).flat() : [];
    given = [...given, ...m.peers.map(formatPeerAddress)];
  } else {
    trackers = useTrackers ? trackerTiers(src.announce, src.announceList).flat() : [];
    isPrivate = src.private;
  }
  const useDht = dhtOn && !isPrivate;
  if (given.length === 0 && trackers.length === 0 && !useDht) {
    const why = isPrivate && dhtOn
      ? `a private torrent never uses the DHT, and ${useTrackers ? 'it names no usable tracker' : 'trackers are off'}`
      : [useTrackers ? `the ${typeof src === 'string' ? 'magnet' : 'torrent'} names no usable tracker` : 'trackers are off', 'the DHT is off'].join('; ');
    throw new CliError(`get needs --peer host:port (${why})`, 2);
  }
  return {
    trackers, useTrackers, useDht, pex, given,
    // PEX learns only from connected peers: not a source of its own.
    discovers: trackers.length > 0 || useDht,
    describe: () => [...trackers.map((u) => `tracker ${u}`), ...(useDht ? ['DHT'] : []), ...(peers.length > 0 ? [`${peers.length} --peer`] : [])].join(', '),
  };
}
