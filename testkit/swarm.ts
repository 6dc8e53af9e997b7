/**
 * A swarm of our own peers on loopback, measured: S seeders and L leechers, each a
 * Client on its own 127.0.0.x (real clients accept one connection per IP, and so the
 * peers look like separate hosts), in this process (the tests) or each in a child
 * process of its own (`processes: true`, the measurement: one event loop per peer).
 *
 * Each leecher dials only the seeders by default; peer exchange (on by default) makes
 * the leechers find each other, as in a real swarm. `wiring: 'all'` gives every
 * leecher every other peer's address too.
 *
 * Per leecher it reports (swarm-peer.ts) the payload received, the part of it received
 * twice (the torrent's `wasted` counter: blocks that arrived when already had), when it
 * first held 99 % of the bytes and when all of them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientOptions } from '../lib/net/client.js';
import { SwarmPeer, type SwarmPeerConfig, type SwarmPeerReport } from './swarm-peer.js';
import { checkFiles, makeFixture, type Fixture } from './torrent-helpers.js';

export type { SwarmPeerReport } from './swarm-peer.js';

export interface SwarmOptions {
  readonly seeders: number;
  readonly leechers: number;
  /** Payload bytes (one random file). */
  readonly bytes: number;
  /** Default 256 KiB. */
  readonly pieceLength?: number;
  /** Whom each leecher dials: the seeders only (default; PEX does the rest), or every other peer. */
  readonly wiring?: 'seeders' | 'all';
  /** Each peer in a child process of its own (default: all in this process). */
  readonly processes?: boolean;
  /** Options for every peer's Client (localAddress is set per peer). */
  readonly client?: ClientOptions;
  /** Options for the seeders' Clients only (on top of `client`). */
  readonly seederClient?: ClientOptions;
  /**
   * The seeders' regular unchoke slots (default 4, plus one optimistic): fewer than the
   * leechers makes some of them fetch from the others (a swarm that must trade).
   */
  readonly seederSlots?: number;
  /**
   * Each seeder serves each leecher only a quarter (1/L) of the pieces (split-seeder.ts),
   * so every leecher must fetch the rest from the others: a swarm that has to trade,
   * however fast the seeder is.
   */
  readonly split?: boolean;
  /** Peer i listens on 127.0.0.(firstHost + i), seeders first. Default 160. */
  readonly firstHost?: number;
}

/** One peer of the swarm, wherever it runs. */
export interface SwarmMember {
  readonly role: 'seed' | 'leech';
  readonly ip: string;
  /** "ip:port" it listens on. */
  readonly address: string;
  /** Its directory (the fixture's files are under it once complete). */
  readonly dir: string;
  /** The in-process peer (null for a child process). */
  readonly local: SwarmPeer | null;
  report(): Promise<SwarmPeerReport>;
  /** Stop it (its connections close); idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface Swarm {
  readonly fx: Fixture;
  readonly seeders: readonly SwarmMember[];
  readonly leechers: readonly SwarmMember[];
  /**
   * Until every leecher still running is complete; then their reports. Rejects after
   * `ms` with every report in the message.
   */
  waitComplete(ms: number): Promise<SwarmPeerReport[]>;
  /** Leechers whose files do not all match the fixture's sha256. */
  badLeechers(): Promise<string[]>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./swarm-child.js', import.meta.url));

function inProcess(peer: SwarmPeer): SwarmMember {
  let closed = false;
  return {
    role: peer.config.role, ip: peer.config.ip, address: peer.address, dir: peer.config.dir, local: peer,
    report: () => Promise.resolve(peer.report()),
    close: async () => { if (!closed) { closed = true; await peer.close(); } },
    get closed() { return closed; },
  };
}

async function child(config: SwarmPeerConfig): Promise<SwarmMember> {
  const cp: ChildProcess = fork(CHILD, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    cp.once('message', (m: { type: string; port: number }) => (m.type === 'ready' ? resolve(m.port) : reject(new Error(`swarm child: ${JSON.stringify(m)}`))));
    cp.once('exit', (code) => reject(new Error(`swarm child for ${config.ip} exited (${code}) before it was ready`)));
  });
  let closed = false;
  const exited = new Promise<void>((resolve) => cp.once('exit', () => resolve()));
  return {
    role: config.role, ip: config.ip, address: `${config.ip}:${port}`, dir: config.dir, local: null,
    report: () => new Promise((resolve, reject) => {
      if (closed) { reject(new Error(`${config.ip} is closed`)); return; }
      const on = (m: { type: string; report: SwarmPeerReport }): void => {
        if (m.type !== 'report') return;
        cp.off('message', on);
        resolve(m.report);
      };
      cp.on('message', on);
      cp.send({ type: 'report' });
    }),
    close: async () => {
      if (closed) return;
      closed = true;
      if (cp.connected) cp.send({ type: 'close' });
      const timer = setTimeout(() => cp.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    get closed() { return closed; },
  };
}

/** Start the swarm: seeders first (their addresses are what leechers dial), then every leecher at once. */
export async function startSwarm(o: SwarmOptions): Promise<Swarm> {
  const fx = await makeFixture({ files: [['payload.bin', o.bytes]], pieceLength: o.pieceLength ?? 256 * 1024 });
  const torrentPath = join(fx.root, 'swarm.torrent');
  await writeFile(torrentPath, fx.torrent);
  const first = o.firstHost ?? 160;
  const ipOf = (i: number): string => `127.0.0.${first + i}`;
  const leecherIps = Array.from({ length: o.leechers }, (_, i) => ipOf(o.seeders + i));
  const members: SwarmMember[] = [];
  const start = (c: SwarmPeerConfig): Promise<SwarmMember> => (o.processes === true ? child(c) : SwarmPeer.start(c).then(inProcess));
  const close = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.close()));
    await fx.cleanup();
  };
  try {
    const t0 = Date.now();
    const seeders: SwarmMember[] = [];
    for (let i = 0; i < o.seeders; i++) {
      const m = await start({
        role: 'seed', ip: ipOf(i), torrent: o.processes === true ? torrentPath : fx.torrent, dir: fx.seedDir, peers: [], t0,
        client: { ...o.client, ...o.seederClient }, uploadSlots: o.seederSlots,
        split: o.split === true ? leecherIps : undefined,
      });
      members.push(m);
      seeders.push(m);
    }
    const seedAddrs = seeders.map((s) => s.address);
    // With wiring 'all', a leecher also dials the leechers started before it, so every
    // pair gets a connection; they start one after the other (milliseconds apart).
    const leechers: SwarmMember[] = [];
    const t1 = Date.now();
    const config = (ip: string, i: number, peers: string[]): SwarmPeerConfig => ({
      role: 'leech', ip, torrent: o.processes === true ? torrentPath : fx.torrent, dir: join(fx.root, `leecher-${i}`),
      peers, t0: t1, client: o.client,
    });
    if (o.wiring === 'all') {
      for (const [i, ip] of leecherIps.entries()) {
        const m = await start(config(ip, i, [...seedAddrs, ...leechers.map((l) => l.address)]));
        members.push(m);
        leechers.push(m);
      }
    } else {
      leechers.push(...await Promise.all(leecherIps.map(async (ip, i) => {
        const m = await start(config(ip, i, seedAddrs));
        members.push(m);
        return m;
      })));
    }
    return {
      fx, seeders, leechers,
      waitComplete: async (ms) => {
        const deadline = Date.now() + ms;
        for (;;) {
          const live = leechers.filter((l) => !l.closed);
          const reports = await Promise.all(live.map((l) => l.report()));
          if (reports.every((r) => r.complete)) return reports;
          if (Date.now() > deadline) throw new Error(`swarm not complete after ${ms} ms: ${reports.map(formatReport).join('; ')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      badLeechers: async () => {
        const bad: string[] = [];
        for (const l of leechers) if ((await checkFiles(fx, l.dir)).length > 0) bad.push(l.ip);
        return bad;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Percent of the torrent received twice (`wasted` / length). */
export function duplicatePercent(r: SwarmPeerReport): number {
  return r.totalLength === 0 ? 0 : (100 * r.wasted) / r.totalLength;
}

/** One line: address, duplicates, time to 99 % and to complete, time between. */
export function formatReport(r: SwarmPeerReport): string {
  const s = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`);
  const stuck = r.at99Ms !== null && r.doneMs !== null ? r.doneMs - r.at99Ms : null;
  return `${r.ip} ${r.role}: ${r.complete ? 'complete' : 'incomplete'}, down ${r.downloaded} B, `
    + `twice ${r.wasted} B (${duplicatePercent(r).toFixed(2)} %), 99 % at ${s(r.at99Ms)}, done at ${s(r.doneMs)}, `
    + `99 %→done ${s(stuck)}, from ${r.sources} peer(s), up ${r.uploaded} B, hash failures ${r.hashFailures}`;
}
