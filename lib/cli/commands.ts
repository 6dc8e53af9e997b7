/**
 * The free (unpaid) CLI commands: create, seed, get, demo. Each returns an exit
 * status; user errors are thrown as CliError (one line, no stack trace).
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Client } from '../net/client.js';
import { trackerTiers } from '../../discovery/tracker-url.js';
import type { AnnounceReport } from '../discovery/announcer.js';
import type { DhtEvent } from '../discovery/client-dht.js';
import { formatPeerAddress, MagnetError, parseMagnet } from '../../format/magnet.js';
import { MetainfoError, parseTorrent, type Metainfo } from '../../format/metainfo.js';
import { createTorrentFromPath, defaultPieceLength } from '../files/create-torrent.js';
import { BIND_FLAGS, CliError, DHT_FLAGS, formatRate, parseBind, parseArgs, parseDht, parseEncryption, parsePeers, parsePort, parseRate, parseSize } from './args.js';
import { awaitDownload, parseTimeout, TIMEOUT_FLAG } from './await-download.js';
import { sourcesLine, startGetReport } from './get-report.js';
import { formatBytes, ProgressBar } from './progress.js';
import { peerCloseWords } from './peer-words.js';
import { sha256Of, writeRandomFile } from './sample-files.js';

export const USAGE = `usage:
  seedpay create <path> [-o out.torrent] [--piece-length N]
  seedpay seed <file.torrent> --dir <data dir> [--port N] [--host|--bind ADDR] [--peer host:port]... [--no-trackers] [--no-pex] [--no-dht | --dht-bootstrap host:port,...] [--encryption require|prefer|off] [--up-limit R] [--down-limit R]
  seedpay get <file.torrent|magnet> [--peer host:port]... [--timeout S] [--dir D] [--port N] [--host|--bind ADDR] [--seed] [--no-trackers] [--no-pex] [--no-dht | --dht-bootstrap host:port,...] [--encryption require|prefer|off] [--up-limit R] [--down-limit R]
    (peers come from the torrent's trackers, the DHT and peer exchange; with trackers and the DHT off, get needs --peer,
     and exits 1 once no --peer can be reached; --timeout S: exit 1 unless complete within S seconds)
    (R: bytes/s, K/M/G = 1024-based, e.g. 500K, 20M; 0 or absent: no limit)
    (--host/--bind ADDR: listen on and dial from that address; default all addresses)
  seedpay demo [--size 64M] [--keep]`;

type Out = { out: NodeJS.WritableStream; err: NodeJS.WriteStream };

function describe(e: unknown): string {
  if (e instanceof MetainfoError || e instanceof MagnetError) return `${e.code}: ${e.message}`;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return `no such file: ${(e as NodeJS.ErrnoException).path ?? ''}`;
  if (code === 'EACCES') return `permission denied: ${(e as NodeJS.ErrnoException).path ?? ''}`;
  return e instanceof Error ? e.message : String(e);
}

async function loadTorrentFile(p: string): Promise<Metainfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(p);
  } catch (e) {
    throw new CliError(`cannot read torrent ${p}: ${describe(e)}`);
  }
  try {
    return parseTorrent(bytes);
  } catch (e) {
    throw new CliError(`${p} is not a valid torrent: ${describe(e)}`);
  }
}

// ---------------------------------------------------------------------------

export async function cmdCreate(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--out', '--piece-length', '--name'], aliases: { '-o': '--out' } });
  if (a.positionals.length !== 1) throw new CliError('create needs exactly one <path>', 2);
  const src = a.positionals[0];
  try { await stat(src); } catch (e) { throw new CliError(`cannot read ${src}: ${describe(e)}`); }
  const pieceLength = a.flags.has('--piece-length') ? parseSize(a.flags.get('--piece-length')!) : undefined;
  let r: { torrent: Buffer; metainfo: Metainfo };
  try {
    r = await createTorrentFromPath(src, { pieceLength, name: a.flags.get('--name'), createdBy: 'seedpay' });
  } catch (e) {
    throw new CliError(`cannot create a torrent from ${src}: ${describe(e)}`);
  }
  const out = a.flags.get('--out') ?? `${basename(resolve(src))}.torrent`;
  await writeFile(out, r.torrent);
  io.out.write(`${out}\n  info hash ${r.metainfo.infoHashHex}\n  ${r.metainfo.files.length} file(s), ${formatBytes(r.metainfo.totalLength)}, ${r.metainfo.pieceCount} pieces of ${formatBytes(r.metainfo.pieceLength)}\n`);
  return 0;
}

/** One line per tracker answer (or failure), so a user sees where peers come from. */
export function reportTrackers(client: Client, to: NodeJS.WritableStream | Lines): void {
  const line = lines(to);
  client.on('tracker', (_t, r: AnnounceReport) => {
    const what = r.event === 'none' ? 'announce' : r.event;
    if (r.error !== undefined) line(`tracker ${r.url}: ${what} failed (${r.error.code}: ${r.error.message})`);
    else if (r.event !== 'stopped') line(`tracker ${r.url}: ${what} ok, ${r.newPeers ?? 0} new peer(s)`);
  });
}

/** Where report lines go: a stream, or a writer of lines (one that wipes a progress bar first). */
export type Lines = (line: string) => void;

function lines(to: NodeJS.WritableStream | Lines): Lines {
  return typeof to === 'function' ? to : (l) => { to.write(`${l}\n`); };
}

/**
 * The DHT as a user needs to see it: where it runs (or why not), and each walk that
 * found peers; the first walk of each torrent is reported whatever it found.
 */
export function reportDht(client: Client, to: NodeJS.WritableStream | Lines): void {
  const line = lines(to);
  const reported = new Set<string>();
  client.on('dht', (t, e: DhtEvent) => {
    if (e.type === 'started') line(`dht: node on ${e.address.host}:${e.address.port}, bootstrapping from ${e.bootstrap.length === 0 ? 'no node (waiting to be contacted)' : e.bootstrap.join(', ')}`);
    else if (e.type === 'off') line(`dht: off (${e.reason})`);
    else if (e.type === 'failed') line(`dht: cannot start (${e.error.message})`);
    else if (t !== null && (e.newPeers > 0 || !reported.has(t.infoHashHex))) {
      reported.add(t.infoHashHex);
      line(`dht: ${e.walk} ${e.nodes > 0 ? `reached ${e.nodes} node(s)` : `failed (${e.error?.message ?? 'no node answered'})`}, ${e.newPeers} new peer(s)`);
    }
  });
}

/** The flags of every transfer command: --up-limit / --down-limit (bytes/s, see parseRate). */
export const LIMIT_FLAGS = ['--up-limit', '--down-limit'] as const;

/** ClientOptions from --up-limit / --down-limit. */
export function limitOptions(flags: ReadonlyMap<string, string>): { uploadLimit?: number; downloadLimit?: number } {
  const up = parseRate('--up-limit', flags.get('--up-limit'));
  const down = parseRate('--down-limit', flags.get('--down-limit'));
  return { ...(up !== undefined ? { uploadLimit: up } : {}), ...(down !== undefined ? { downloadLimit: down } : {}) };
}

/** One line naming the limits in force, if any. */
export function reportLimits(client: Client, err: NodeJS.WritableStream): void {
  if (client.uploadLimit === 0 && client.downloadLimit === 0) return;
  err.write(`rate limits: upload ${formatRate(client.uploadLimit)}, download ${formatRate(client.downloadLimit)}\n`);
}

/** Resolve when SIGINT/SIGTERM arrives. */
function untilSignal(): Promise<void> {
  return new Promise((res) => {
    const f = (): void => { process.off('SIGINT', f); process.off('SIGTERM', f); res(); };
    process.on('SIGINT', f);
    process.on('SIGTERM', f);
  });
}

export async function cmdSeed(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--dir', '--port', ...BIND_FLAGS, '--peer', '--encryption', ...DHT_FLAGS.values, ...LIMIT_FLAGS], booleans: ['--no-trackers', '--no-pex', ...DHT_FLAGS.booleans] });
  if (a.positionals.length !== 1) throw new CliError('seed needs exactly one <file.torrent>', 2);
  const dir = a.flags.get('--dir');
  if (dir === undefined) throw new CliError('seed needs --dir <data dir>', 2);
  const encryption = parseEncryption(a.flags.get('--encryption'));
  const dht = parseDht(a);
  const meta = await loadTorrentFile(a.positionals[0]);
  const port = parsePort(a.flags.get('--port') ?? '6881');
  const { host, localAddress } = parseBind(a.flags);
  const peers = parsePeers(a.repeated.get('--peer'));
  const client = new Client({ encryption, trackers: !a.flags.has('--no-trackers'), pex: !a.flags.has('--no-pex'), dht, ...limitOptions(a.flags), localAddress });
  reportTrackers(client, io.err);
  reportDht(client, io.err);
  reportLimits(client, io.err);
  try {
    const bound = await client.listen(port, host).catch((e: unknown) => { throw new CliError(describe(e)); });
    io.err.write(`checking ${meta.name} in ${dir}…\n`);
    const t = await client.add(meta, { dir, peers });
    const p = t.progress();
    io.err.write(`seeding ${meta.name} (${meta.infoHashHex}) on ${host}:${bound}: ${p.have}/${p.total} pieces on disk\n`);
    t.on('peer', (s) => io.err.write(`peer ${s.address} connected\n`));
    // In words ("closed the connection", "went silent"), as get reports its peers.
    t.on('peer_closed', (s, r) => { if (s.registered) io.err.write(`peer ${s.address} disconnected (${peerCloseWords(r, true).text})\n`); });
    await untilSignal();
    const st = t.stats();
    io.err.write(`uploaded ${formatBytes(st.uploaded)}\n`);
  } finally {
    await client.close();
  }
  return 0;
}

export async function cmdGet(argv: string[], io: Out): Promise<number> {
  const startedAt = Date.now();
  const a = parseArgs(argv, { values: ['--dir', '--port', ...BIND_FLAGS, '--peer', '--encryption', TIMEOUT_FLAG, ...DHT_FLAGS.values, ...LIMIT_FLAGS], booleans: ['--seed', '--no-trackers', '--no-pex', ...DHT_FLAGS.booleans] });
  if (a.positionals.length !== 1) throw new CliError('get needs exactly one <file.torrent|magnet>', 2);
  const src = a.positionals[0];
  const peers = parsePeers(a.repeated.get('--peer'));
  const encryption = parseEncryption(a.flags.get('--encryption'));
  const limits = limitOptions(a.flags);
  const timeoutS = parseTimeout(a);
  const { host, localAddress } = parseBind(a.flags);
  const useTrackers = !a.flags.has('--no-trackers');
  const dht = parseDht(a);
  const useDht = dht !== false;
  const usePex = !a.flags.has('--no-pex');
  const off = [...(useTrackers ? [] : ['trackers are off']), ...(useDht ? [] : ['the DHT is off'])];
  let source: Metainfo | string;
  let trackers: string[];
  let magnetPeers: string[] = [];
  let isPrivate = false;
  if (src.startsWith('magnet:')) {
    let m;
    try { m = parseMagnet(src); } catch (e) { throw new CliError(`bad magnet link: ${describe(e)}`, 2); }
    trackers = useTrackers ? trackerTiers(undefined, m.trackers.map((u) => [u])).flat() : [];
    magnetPeers = m.peers.map(formatPeerAddress);
    if (peers.length === 0 && m.peers.length === 0 && trackers.length === 0 && !useDht) throw new CliError(`get needs --peer host:port (${useTrackers ? 'the magnet names no usable tracker' : off.join(', ')}${useTrackers ? '; the DHT is off' : ''})`, 2);
    source = src;
  } else {
    source = await loadTorrentFile(src);
    trackers = useTrackers ? trackerTiers(source.announce, source.announceList).flat() : [];
    isPrivate = source.private;
    if (source.private && useDht && peers.length === 0 && trackers.length === 0) throw new CliError(`get needs --peer host:port (a private torrent never uses the DHT, and ${useTrackers ? 'it names no usable tracker' : 'trackers are off'})`, 2);
    if (peers.length === 0 && trackers.length === 0 && !useDht) throw new CliError(`get needs --peer host:port (${useTrackers ? 'the torrent names no usable tracker' : off.join(', ')}${useTrackers ? '; the DHT is off' : ''})`, 2);
  }
  const dir = a.flags.get('--dir') ?? '.';
  const client = new Client({ encryption, trackers: useTrackers, pex: usePex, dht, ...limits, localAddress });
  // Where peers come from: the ones given, and what searches for more. With none of the
  // latter, the given peers are all there is: each one that never connects is given up
  // (get-report.ts), and when none is left the command fails with one line.
  const dhtUsed = useDht && !isPrivate;
  const via = [...trackers.map((u) => `tracker ${u}`), ...(dhtUsed ? ['DHT'] : [])];
  const given = [...peers, ...magnetPeers.filter((p) => !peers.includes(p))];
  const noOther = [
    useTrackers ? `the ${src.startsWith('magnet:') ? 'magnet' : 'torrent'} names no usable tracker` : 'trackers are off',
    useDht ? 'a private torrent never uses the DHT' : 'the DHT is off',
  ].join(', ');
  const g = startGetReport(io.err, { given, lookingVia: via, exhaustedNote: noOther });
  reportTrackers(client, g.line);
  reportDht(client, g.line);
  reportLimits(client, io.err);
  try {
    // Peers a tracker names us to must be able to reach us, and the DHT node runs on the
    // listen address: listen (any free port unless --port).
    if (a.flags.has('--port') || trackers.length > 0 || useDht || localAddress !== undefined) {
      await client.listen(a.flags.has('--port') ? parsePort(a.flags.get('--port')!) : 0, host).catch((e: unknown) => { throw new CliError(describe(e)); });
    }
    io.err.write(`${sourcesLine([
      ...peers.map((p) => `--peer ${p}`), ...magnetPeers.filter((p) => !peers.includes(p)).map((p) => `magnet peer ${p}`),
      ...via, ...(usePex && !isPrivate ? ['peer exchange'] : []),
    ], via.length === 0 ? [noOther] : off)}\n`);
    const t = await client.add(source, { dir, peers });
    g.watch(t);
    const started = Date.now();
    await awaitDownload(t, { bar: g.bar, report: g.report, failed: g.failed, timeoutS, startedAt });
    const secs = (Date.now() - started) / 1000;
    const st = t.stats();
    io.out.write(`${t.name}: ${formatBytes(t.metainfo!.totalLength)} complete in ${dir} (${formatBytes(st.downloaded)} downloaded in ${secs.toFixed(2)} s, ${(st.downloaded / 1e6 / Math.max(secs, 0.001)).toFixed(1)} MB/s)\n`);
    if (a.flags.has('--seed')) {
      io.err.write('seeding; Ctrl-C to stop\n');
      await untilSignal();
    }
  } finally {
    await client.close();
  }
  return 0;
}

export async function cmdDemo(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--size'], booleans: ['--keep'] });
  if (a.positionals.length !== 0) throw new CliError(`demo takes no arguments (got '${a.positionals[0]}')`, 2);
  const size = parseSize(a.flags.get('--size') ?? '64M');
  const root = await mkdtemp(join(tmpdir(), 'seedpay-demo-'));
  const seedDir = join(root, 'seeder');
  const leechDir = join(root, 'leecher');
  await mkdir(seedDir);
  const file = join(seedDir, 'sample.bin');
  const seeder = new Client();
  const leecher = new Client();
  try {
    io.err.write(`making a ${formatBytes(size)} sample file…\n`);
    await writeRandomFile(file, size);
    // Pieces of at least 256 KiB: fewer, larger disk writes and hashes.
    const { metainfo } = await createTorrentFromPath(file, { createdBy: 'seedpay demo', pieceLength: Math.max(defaultPieceLength(size), 256 * 1024) });
    const port = await seeder.listen(0, '127.0.0.1');
    await seeder.add(metainfo, { dir: seedDir, assumeComplete: true });
    io.err.write(`seeder on 127.0.0.1:${port}, leecher connecting…\n`);
    const t0 = Date.now();
    const t = await leecher.add(metainfo, { dir: leechDir, peers: [`127.0.0.1:${port}`] });
    let first = 0;
    t.once('piece', () => { first = Date.now(); });
    const bar = new ProgressBar(io.err);
    const timer = setInterval(() => bar.update(t), 200);
    const result = await new Promise<'done' | Error>((res) => {
      t.once('done', () => res('done'));
      t.once('error', (e) => res(e));
    });
    clearInterval(timer);
    if (result !== 'done') throw new CliError(`transfer failed: ${result.message}`);
    bar.update(t, true);
    bar.done();
    const end = Date.now();
    const [src, got] = await Promise.all([sha256Of(file), sha256Of(join(leechDir, 'sample.bin'))]);
    if (src !== got) throw new CliError(`verification failed: sha256 ${got} differs from the source ${src}`);
    const secs = Math.max(0.001, (end - (first || t0)) / 1000);
    const st = t.stats();
    io.out.write([
      'receipt',
      `  file        sample.bin (${metainfo.pieceCount} pieces of ${formatBytes(metainfo.pieceLength)})`,
      `  bytes       ${st.downloaded} payload + ${st.protocolDownloaded} protocol`,
      `  time        ${secs.toFixed(2)} s (first piece to last)`,
      `  speed       ${(size / 1e6 / secs).toFixed(1)} MB/s`,
      `  sha256      ${got}`,
      '  verified    yes (matches the source file)',
      '',
    ].join('\n'));
  } finally {
    await leecher.close();
    await seeder.close();
    if (a.flags.has('--keep')) io.err.write(`files kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
  return 0;
}
