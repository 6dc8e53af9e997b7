/**
 * Hostile-peer harness over real loopback TCP: one seeder Client, one honest leecher
 * Client downloading from it while an attack runs (from HONEST_ADDRESS: the seeder
 * throttles the attackers' address, 127.0.0.1, after their violations, and an honest
 * peer sharing it would be refused with them), a byte-level attacker socket that
 * bypasses our own PeerConnection (so it can say what a well-behaved one never would),
 * and a memory probe (peak RSS / arrayBuffers of this process, which hosts the seeder).
 */
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client, type ClientOptions } from '../lib/net/client.js';
import type { PeerSession } from '../lib/engine/peer-session.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { encodeHandshake, makeReserved } from '../wire/handshake.js';
import { encodeMessage } from '../wire/codec.js';
import type { Message } from '../wire/messages.js';
import { checkFiles, makeFixture, whenDone, type Fixture } from './torrent-helpers.js';

export const MiB = 1024 * 1024;
export const PL = 64 * 1024;
/** The honest leecher's source address (the attackers connect from 127.0.0.1). */
export const HONEST_ADDRESS = '127.0.0.2';

// ------------------------------------------------------------------ memory

export interface MemPeak { rssBase: number; rssPeak: number; abBase: number; abPeak: number }

/** Samples rss and arrayBuffers every 10 ms until stopped; reports base and peak. */
export class MemProbe {
  private readonly peak: MemPeak;
  private readonly timer: NodeJS.Timeout;
  constructor() {
    const m = process.memoryUsage();
    this.peak = { rssBase: m.rss, rssPeak: m.rss, abBase: m.arrayBuffers, abPeak: m.arrayBuffers };
    this.timer = setInterval(() => this.sample(), 10);
  }
  sample(): void {
    const m = process.memoryUsage();
    this.peak.rssPeak = Math.max(this.peak.rssPeak, m.rss);
    this.peak.abPeak = Math.max(this.peak.abPeak, m.arrayBuffers);
  }
  stop(): MemPeak {
    this.sample();
    clearInterval(this.timer);
    return { ...this.peak };
  }
}

export function fmtMem(label: string, p: MemPeak): string {
  const f = (n: number): string => (n / MiB).toFixed(1);
  return `[hostile] ${label}: peak RSS ${f(p.rssPeak)} MiB (+${f(p.rssPeak - p.rssBase)}), peak arrayBuffers ${f(p.abPeak)} MiB (+${f(p.abPeak - p.abBase)})`;
}

// ------------------------------------------------------------------ arena

export interface CloseRecord { address: string; code: string }

export interface Arena {
  fx: Fixture;
  seeder: Client;
  port: number;
  torrent: Torrent;
  /** Every 'peer_closed' on the seeder's torrent. */
  closes: CloseRecord[];
  /** The honest leecher (started with `startHonest`). */
  honest: Client;
  /** Accepted sockets the seeder still holds before their handshake (internal). */
  pendingSessions(): Set<PeerSession>;
  /** Start the honest leecher; resolves when it completed and every file's sha256 matches. */
  startHonest(): Promise<void>;
  /** Resolve with the close code of the seeder-side session whose remote port is `localPort`. */
  closeOf(localPort: number, ms?: number): Promise<string>;
  close(): Promise<void>;
}

export interface ArenaOptions {
  seeder?: ClientOptions;
  /** The handshake timeout of the seeder's connections (ms). */
  handshakeTimeout?: number;
  files?: [string, number][];
}

export async function startArena(o: ArenaOptions = {}): Promise<Arena> {
  const fx = await makeFixture({ files: o.files ?? [['a.bin', 3 * MiB + 12_345], ['b.bin', MiB - 7]], pieceLength: PL });
  const seeder = new Client({ ...(o.seeder ?? {}), ...(o.handshakeTimeout !== undefined ? { handshakeTimeout: o.handshakeTimeout } : {}) });
  const internals = seeder as unknown as { pending: Set<PeerSession> };
  const port = await seeder.listen(0);
  const torrent = await seeder.add(fx.torrent, { dir: fx.seedDir });
  const closes: CloseRecord[] = [];
  torrent.on('peer_closed', (s, r) => closes.push({ address: s.address, code: r.code }));
  const honest = new Client({ localAddress: HONEST_ADDRESS });
  const arena: Arena = {
    fx, seeder, port, torrent, closes, honest,
    pendingSessions: () => internals.pending,
    async startHonest() {
      const dir = join(fx.root, `honest-${randomBytes(4).toString('hex')}`);
      const t = await honest.add(fx.torrent, { dir, peers: [`127.0.0.1:${port}`] });
      await whenDone(t, 40_000);
      const bad = await checkFiles(fx, dir);
      if (bad.length > 0) throw new Error(`honest leecher: sha256 mismatch in ${bad.join(', ')}`);
    },
    async closeOf(localPort, ms = 10_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const c = closes.find((r) => r.address.endsWith(`:${localPort}`));
        if (c !== undefined) return c.code;
        if (Date.now() > deadline) throw new Error(`no peer_closed for port ${localPort} (have ${JSON.stringify(closes)})`);
        await sleep(20);
      }
    },
    async close() {
      await honest.close();
      await seeder.close();
      await fx.cleanup();
    },
  };
  return arena;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ attacker socket

export interface Frame { id: number; payload: Buffer }

/**
 * A byte-level peer: raw writes, and a minimal reader of the seeder's frames (the
 * handshake first, then length-prefixed messages) so tests can wait for an answer.
 */
export class Attacker {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  closed = false;
  gotHandshake = false;
  private rx: Buffer = Buffer.alloc(0);
  private readonly opened: Promise<void>;

  /** `localAddress`: our source address (default: the kernel's choice, 127.0.0.1). */
  constructor(port: number, localAddress?: string) {
    this.socket = connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
    this.opened = new Promise((res, rej) => {
      this.socket.once('connect', () => { this.localPort = this.socket.localPort ?? -1; res(); });
      this.socket.once('error', rej);
      // destroyed (by us) before it connected: no 'error' comes, so do not wait forever
      this.socket.once('close', () => rej(new Error('closed before connecting')));
    });
    this.opened.catch(() => { /* reported to whoever awaits ready(); nobody else must crash on it */ });
    this.socket.on('error', () => { /* the seeder resetting us is an expected outcome */ });
    this.socket.on('close', () => { this.closed = true; });
    this.socket.on('data', (d: Buffer) => this.onData(d));
  }

  /** Our port (kept: node forgets it once the socket is closed). */
  localPort = -1;

  ready(): Promise<void> { return this.opened; }

  /** Our handshake for `infoHash` (fast + extended advertised unless told otherwise). */
  static handshake(infoHash: Uint8Array, flags: { fast?: boolean; extended?: boolean } = {}): Buffer {
    return Buffer.from(encodeHandshake({
      infoHash, peerId: randomBytes(20),
      reserved: makeReserved({ fast: flags.fast ?? true, extended: flags.extended ?? true }),
    }));
  }

  write(b: Uint8Array): void { if (!this.closed) this.socket.write(b); }

  send(m: Message): void { this.write(encodeMessage(m)); }

  /** Send our handshake and wait for the seeder's handshake and first state message. */
  async open(infoHash: Uint8Array, flags: { fast?: boolean; extended?: boolean } = {}): Promise<void> {
    await this.ready();
    this.write(Attacker.handshake(infoHash, flags));
    await this.until(() => this.frames.length > 0, 'the seeder handshake and first message');
  }

  /** Resolve when `cond` holds; throws if the socket closes first or after `ms`. */
  async until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (this.closed) throw new Error(`socket closed before ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  /** Resolve when the seeder has closed the socket. */
  async waitClosed(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${ms} ms`);
      await sleep(10);
    }
  }

  count(id: number): number { return this.frames.filter((f) => f.id === id).length; }

  destroy(): void { this.socket.destroy(); }

  private onData(d: Buffer): void {
    this.rx = this.rx.length === 0 ? d : Buffer.concat([this.rx, d]);
    if (!this.gotHandshake) {
      if (this.rx.length < 68) return;
      this.gotHandshake = true;
      this.rx = this.rx.subarray(68);
    }
    while (this.rx.length >= 4) {
      const len = this.rx.readUInt32BE(0);
      if (this.rx.length < 4 + len) return;
      if (len > 0) this.frames.push({ id: this.rx[4], payload: Buffer.from(this.rx.subarray(5, 4 + len)) });
      this.rx = this.rx.subarray(4 + len);
    }
  }
}

/** Message ids (BEP 3 / 6 / 10). */
export const ID = { choke: 0, unchoke: 1, interested: 2, piece: 7, bitfield: 5, request: 6, reject: 16, haveAll: 14, extended: 20 } as const;

/** A raw frame: 4-byte length, id, payload (no validation: for lies). */
export function frame(id: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(1 + payload.length, 0);
  b[4] = id;
  b.set(payload, 5);
  return b;
}

export function requestFrame(index: number, begin: number, length: number): Buffer {
  const p = Buffer.alloc(12);
  p.writeUInt32BE(index, 0);
  p.writeUInt32BE(begin, 4);
  p.writeUInt32BE(length, 8);
  return frame(ID.request, p);
}
