/**
 * Our peer (lib/net/client.ts) inside the interop tests: a Client listening on its own
 * loopback address, torrents added from the harness's .torrent files, the peers it
 * met (their client name, fast extension, who dialled), and waits that fail with a
 * message saying how far the transfer got.
 *
 * The real clients come from clients.ts (InteropScope); this file only adds our
 * side. Every transfer in the ours-*.test.ts files is checked by sha256 with
 * clients.ts `assertSameBytes`.
 */
import path from 'node:path';
import { Client, type ClientOptions } from '../lib/net/client.js';
import type { PeerSession } from '../lib/engine/peer-session.js';
import type { Torrent, TorrentOptions } from '../lib/engine/torrent.js';
import {
  InteropError, InteropScope, createTorrent, endpointString, nextLoopbackAddress, type Endpoint, type TorrentInfo,
} from './clients.js';

export const MiB = 1 << 20;

/** What one connection of ours looked like, read when the test asserts. */
export interface PeerSeen {
  /** "host:port" as we know it (dialled address or accepted socket's remote end). */
  address: string;
  /** Who opened the TCP connection: 'initiator' = we dialled. */
  role: 'initiator' | 'acceptor';
  /** `v` of the peer's extended handshake, else the peer id's ASCII prefix. */
  client: string;
  /** Both sides set the fast bit (BEP 6). */
  fast: boolean;
  /** The peer set the fast bit in its handshake, whatever we did. */
  peerAdvertisedFast: boolean;
  extended: boolean;
  /** MSE/PE: 'rc4', 'plaintext' after an obfuscated handshake, null for a plain BitTorrent connection. */
  mse: 'rc4' | 'plaintext' | null;
  /** Payload bytes this connection carried. */
  uploaded: number;
  downloaded: number;
}

function describe(s: PeerSession): PeerSeen {
  const pid = s.conn.peerId;
  const reserved = s.conn.peerReserved;
  return {
    address: s.address,
    role: s.role,
    client: s.conn.peerExtendedHandshake?.v ?? (pid === null ? '?' : Buffer.from(pid.subarray(0, 8)).toString('latin1')),
    fast: s.conn.fastEnabled,
    peerAdvertisedFast: reserved !== null && (reserved[7] & 0x04) !== 0,
    extended: s.conn.extendedEnabled,
    mse: s.peerSocket.mseMethod,
    uploaded: s.uploaded,
    downloaded: s.downloaded,
  };
}

/** A Client that listens where you say (`listen(port, host)`) and dials from `localAddress`. */
export function boundClient(opts: ClientOptions, localAddress: string): Client {
  return new Client({ ...opts, localAddress });
}

export interface OurPeerOptions extends ClientOptions {
  /** Loopback address to listen on AND dial from (INTEROP.md rule 3). Default: a fresh 127.0.0.x. */
  bind?: string;
}

/**
 * Our client for one test: `OurPeer.start(t, opts)` listens and is closed after the
 * test (after the scope's real clients are stopped, so their shutdown never races
 * ours).
 */
export class OurPeer {
  private readonly sessions: PeerSession[] = [];
  private readonly errors: Error[] = [];

  private constructor(readonly client: Client, readonly endpoint: Endpoint) {
    client.on('error', (e) => this.errors.push(e));
  }

  static async start(t: { after(fn: () => Promise<void>): void }, opts: OurPeerOptions = {}): Promise<OurPeer> {
    const { bind = nextLoopbackAddress(), ...clientOpts } = opts;
    const client = boundClient(clientOpts, bind);
    t.after(() => client.close());
    const port = await client.listen(0, bind);
    return new OurPeer(client, { host: bind, port });
  }

  /**
   * Add a torrent (a .torrent path or a magnet URI) saving to / seeding from `dir`.
   * `peers` are dialled (Transmission must always be dialled: INTEROP.md rule 1).
   */
  async add(src: string, dir: string, opts: Omit<TorrentOptions, 'dir'> & { dial?: readonly Endpoint[] } = {}): Promise<Torrent> {
    const { dial = [], ...rest } = opts;
    const tor = await this.client.add(src, { ...rest, dir, peers: [...(rest.peers ?? []), ...dial.map(endpointString)] });
    tor.on('peer', (s) => this.sessions.push(s));
    tor.on('error', (e) => this.errors.push(e));
    return tor;
  }

  /** Every connection that completed a handshake, in order. */
  peers(): PeerSeen[] {
    return this.sessions.map(describe);
  }

  /** The first peer whose client name matches, or a failure listing what we met. */
  peerMatching(re: RegExp): PeerSeen {
    const all = this.peers();
    const p = all.find((x) => re.test(x.client));
    if (p === undefined) throw new InteropError('BAD_OUTPUT', `no peer like ${re} among ${JSON.stringify(all)}`);
    return p;
  }

  /** Errors the client and its torrents reported (storage, metadata…). */
  reportedErrors(): readonly Error[] {
    return this.errors;
  }
}

function progressLine(t: Torrent): string {
  const p = t.progress();
  const s = t.stats();
  return `${p.have}/${p.total} pieces, ${s.downloaded} B down, ${s.uploaded} B up, ${s.peers} peer(s), ${s.hashFailures} hash failure(s)`;
}

/** Until `pred` holds for the torrent (checked on every progress tick and piece), or TIMEOUT. */
function waitTorrent(t: Torrent, pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pred()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new InteropError('TIMEOUT', `${t.name}: no ${what} after ${timeoutMs} ms (${progressLine(t)})`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      t.off('progress', check);
      t.off('done', check);
      t.off('piece', check);
    };
    t.on('progress', check);
    t.on('done', check);
    t.on('piece', check);
  });
}

/** Our leecher holds every verified piece. */
export function waitComplete(t: Torrent, timeoutMs: number): Promise<void> {
  return waitTorrent(t, () => t.isComplete, timeoutMs, 'complete download');
}

/** A magnet link's info dictionary arrived and was verified. */
export function waitMetadata(t: Torrent, timeoutMs: number): Promise<void> {
  return waitTorrent(t, () => t.metainfo !== null, timeoutMs, 'metadata');
}

/**
 * The file a single-file torrent is saved as under `dir` (our storage: dir/name,
 * like the real clients).
 */
export function singleFilePath(dir: string, info: Pick<TorrentInfo, 'name'>): string {
  return path.join(dir, info.name);
}

export interface Fixture {
  /** The random source file and its directory (a seeder's save path). */
  file: string;
  dir: string;
  sha256: string;
  info: TorrentInfo;
}

/** A random file of `bytes` and its v1 torrent (libtorrent's mktorrent.py, as real users make them). */
export async function makeFixture(s: InteropScope, bytes: number, pieceLength = 256 * 1024): Promise<Fixture> {
  const src = await s.randomFile(bytes);
  const tdir = await s.tempDir('torrent');
  const info = await createTorrent(src.path, path.join(tdir, 'payload.torrent'), { pieceLength });
  return { file: src.path, dir: src.dir, sha256: src.sha256, info };
}

/** A scope closed after the test whatever happens (registered before OurPeer, so it closes first). */
export function scopeFor(t: { after(fn: () => Promise<void>): void }, label: string): InteropScope {
  const s = new InteropScope(label);
  t.after(() => s.close());
  return s;
}
