/**
 * One of our peers in a measured swarm (testkit/swarm.ts): a Client on its own
 * 127.0.0.x holding one torrent, and what a leecher's download looked like — payload
 * received, payload received that was not needed (`wasted`: blocks that arrived when
 * already had, the duplicates), when it first held 99 % of the bytes and when all.
 *
 * Used in-process by the tests, and as a child process (`swarm-child.ts`) by the
 * measurement, so that each peer has an event loop of its own as on separate hosts.
 */
import { readFile } from 'node:fs/promises';
import { Client, type ClientOptions } from '../lib/net/client.js';
import { parseTorrent } from '../format/metainfo.js';
import { splitSeeder } from './split-seeder.js';
import type { Torrent } from '../lib/engine/torrent.js';
import type { PeerSession } from '../lib/engine/peer-session.js';

export interface SwarmPeerConfig {
  readonly role: 'seed' | 'leech';
  readonly ip: string;
  /** .torrent bytes, or a path to one. */
  readonly torrent: Uint8Array | string;
  readonly dir: string;
  /** "host:port" to dial once started. */
  readonly peers: readonly string[];
  /** Date.now() of the swarm's start: the times below count from it. */
  readonly t0: number;
  readonly client?: ClientOptions;
  /** The torrent's regular unchoke slots (default 4). */
  readonly uploadSlots?: number;
  /**
   * A seeder serving each of these IPs only its share of the pieces (split-seeder.ts):
   * the leechers must fetch the rest from each other.
   */
  readonly split?: readonly string[];
}

/** A leecher's download (a seeder reports zeros and its upload). */
export interface SwarmPeerReport {
  readonly role: 'seed' | 'leech';
  readonly ip: string;
  readonly complete: boolean;
  readonly totalLength: number;
  /** Payload bytes received, duplicates included. */
  readonly downloaded: number;
  /** Payload bytes received that were not needed (already had / already received). */
  readonly wasted: number;
  readonly uploaded: number;
  readonly hashFailures: number;
  /** Connections (peers) that delivered payload to it. */
  readonly sources: number;
  /** ms from t0 until ≥ 99 % of the bytes were verified; null if never. */
  readonly at99Ms: number | null;
  /** ms from t0 until complete; null if not (yet). */
  readonly doneMs: number | null;
}

export class SwarmPeer {
  private at99: number | null = null;
  private done: number | null = null;
  private readonly sessions: PeerSession[] = [];

  private constructor(readonly config: SwarmPeerConfig, readonly client: Client, readonly port: number, readonly torrent: Torrent) {
    const total = torrent.progress().bytesTotal;
    const check = (): void => {
      const p = torrent.progress();
      const now = Date.now() - config.t0;
      if (this.at99 === null && p.bytesHave >= total * 0.99) this.at99 = now;
      if (this.done === null && torrent.isComplete) this.done = now;
    };
    torrent.on('peer', (s) => this.sessions.push(s));
    torrent.on('piece', check);
    torrent.on('done', check);
    check();
  }

  /** Listen on `ip` (any port), add the torrent, dial `peers`. */
  static async start(config: SwarmPeerConfig): Promise<SwarmPeer> {
    const client = new Client({ ...config.client, localAddress: config.ip });
    try {
      const port = await client.listen(0, config.ip);
      const meta = parseTorrent(typeof config.torrent === 'string' ? await readFile(config.torrent) : config.torrent);
      const torrent = await client.add(meta, {
        dir: config.dir, peers: config.peers, assumeComplete: config.role === 'seed', uploadSlots: config.uploadSlots,
        extensions: config.split === undefined ? [] : [splitSeeder(meta.pieceCount, config.split)],
      });
      return new SwarmPeer(config, client, port, torrent);
    } catch (e) {
      await client.close();
      throw e;
    }
  }

  get address(): string { return `${this.config.ip}:${this.port}`; }

  report(): SwarmPeerReport {
    const st = this.torrent.stats();
    return {
      role: this.config.role, ip: this.config.ip, complete: this.torrent.isComplete,
      totalLength: this.torrent.progress().bytesTotal,
      downloaded: st.downloaded, wasted: st.wasted, uploaded: st.uploaded, hashFailures: st.hashFailures,
      sources: this.sessions.filter((s) => s.downloaded > 0).length, at99Ms: this.at99, doneMs: this.done,
    };
  }

  /**
   * Go silent without closing anything, as a peer whose host froze: every connection
   * stops sending (its socket stays corked) and reading. New connections still open.
   */
  silence(): void {
    for (const s of this.torrent.peers()) {
      s.socket.cork();
      s.socket.pause();
    }
  }

  close(): Promise<void> { return this.client.close(); }
}
