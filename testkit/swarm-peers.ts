/**
 * Peers of a swarm benchmark (`bench:swarm`), each a process of its own on its own
 * loopback address: our peer (testkit/our-peer.ts) or libtorrent (scripts/lt_peer.py),
 * started with the same options and read back the same way, so a case runs unchanged
 * with either implementation in any position.
 *
 * What the two scripts have in common and this module relies on:
 *  - `--up-limit B`: ours caps the whole client (one torrent here); lt_peer.py sets
 *    libtorrent's per-torrent limit (its session-wide limits exempt loopback peers).
 *  - `--start-file PATH`: after READY, dial the `connect` peers only once PATH exists,
 *    so that many peers start together (`StartBarrier`).
 *  - `--keep-seeding`: a leecher prints `DONE … complete_at_ms=…` when complete and
 *    serves the others until stopped.
 *  - RESULT: `first_byte_at_ms` / `complete_at_ms` on the epoch clock (one clock for
 *    every process), and duplicate payload: ours `wasted`, libtorrent
 *    `total_redundant_bytes` (plus `total_failed_bytes` / ours `hash_failures`).
 * CPU seconds and peak RSS of a live process are read from /proc, so a phase of a run
 * can be charged to every process alike (`procCpuSeconds`, `procPeakRssKiB`).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  InteropError, SYSTEM_PYTHON, endpointString, procCpuSeconds, procPeakRssKiB, scriptPath,
  type Endpoint, type InteropScope, type LibtorrentResult, type ManagedProcess,
} from './clients.js';
import type { OurPeerResult } from './our-peer.js';
import { ourPeerCommand } from './transfer-clients.js';

export type SwarmImpl = 'ours' | 'libtorrent';

export interface SwarmPeerOptions {
  impl: SwarmImpl;
  mode: 'seed' | 'leech';
  torrentPath: string;
  /** Holds the data (seed) or receives it (leech). */
  dir: string;
  /** Loopback address to listen on and dial from (one per peer: INTEROP.md rule 3). */
  bind: string;
  connect?: readonly Endpoint[];
  /** Upload limit, bytes/s (0 or absent: none). */
  upLimit?: number;
  /** Leecher: stay and serve once complete, until stop(). */
  keepSeeding?: boolean;
  /** Dial `connect` only once this file exists (StartBarrier.path). */
  startFile?: string;
  /** The process's own deadline, seconds. */
  timeoutS: number;
  /** For ours: bytes per failed piece (its RESULT counts failed pieces, libtorrent bytes). */
  pieceLength: number;
}

/** One peer's RESULT, the same fields whichever implementation printed it. */
export interface SwarmPeerResult {
  complete: boolean;
  /** Epoch ms of its first payload byte / of holding every verified piece. */
  firstByteAtMs: number | null;
  completeAtMs: number | null;
  /** Seconds from its first payload byte to complete. */
  firstByteToDoneS: number | null;
  payloadDown: number;
  payloadUp: number;
  /** Payload received that was not needed: a block it already had (received twice). */
  duplicateBytes: number;
  /** Payload in pieces that failed the hash check (ours: failed pieces × piece length). */
  failedBytes: number;
  /** CPU seconds READY → RESULT and peak RSS, from the process itself. */
  cpuS: number;
  peakRssKiB: number;
}

export class SwarmPeer {
  constructor(
    readonly impl: SwarmImpl,
    readonly mode: 'seed' | 'leech',
    readonly proc: ManagedProcess,
    readonly endpoint: Endpoint,
    /** The downloaded file (leecher) or the served one (seeder). */
    readonly file: string,
    private readonly pieceLength: number,
  ) {}

  /** CPU seconds so far (user + system, all threads), or null once it exited. */
  cpuNow(): number | null {
    return procCpuSeconds(this.proc.pid);
  }

  /** Peak resident set so far (KiB), or null once it exited. */
  peakRssNow(): number | null {
    return procPeakRssKiB(this.proc.pid);
  }

  /** A leecher holds every piece: its DONE line (keepSeeding) or its RESULT line. */
  async waitComplete(timeoutMs: number): Promise<void> {
    const line = await this.proc.waitForLine((l) => l.startsWith('DONE ') || l.startsWith('RESULT '), timeoutMs, 'DONE or RESULT line');
    if (line.startsWith('RESULT ')) {
      const r = this.parse(line);
      if (!r.complete) throw new InteropError('TIMEOUT', `${this.proc.label} ended incomplete: ${line}`);
    }
  }

  /** A leecher without keepSeeding: its RESULT once it exits. */
  async result(timeoutMs: number): Promise<SwarmPeerResult> {
    const line = await this.proc.waitForLine((l) => l.startsWith('RESULT '), timeoutMs, 'RESULT line');
    await this.proc.waitExit(15_000);
    return this.parse(line);
  }

  /** SIGTERM (both scripts then print RESULT and exit); its RESULT. */
  async stop(): Promise<SwarmPeerResult> {
    await this.proc.stop(10_000);
    const line = this.proc.lines().find((l) => l.startsWith('RESULT '));
    if (line === undefined) throw new InteropError('BAD_OUTPUT', `${this.proc.label} printed no RESULT\n${this.proc.tail()}`);
    return this.parse(line);
  }

  private parse(line: string): SwarmPeerResult {
    let j: unknown;
    try {
      j = JSON.parse(line.slice('RESULT '.length));
    } catch (e) {
      throw new InteropError('BAD_OUTPUT', `${this.proc.label}: unparsable ${line}: ${(e as Error).message}`);
    }
    if (this.impl === 'ours') {
      const r = j as OurPeerResult;
      return {
        complete: r.complete, firstByteAtMs: r.first_byte_at_ms, completeAtMs: r.complete_at_ms,
        firstByteToDoneS: r.first_byte_to_done_s, payloadDown: r.payload_down, payloadUp: r.payload_up,
        duplicateBytes: r.wasted, failedBytes: r.hash_failures * this.pieceLength,
        cpuS: r.cpu_transfer_s, peakRssKiB: r.peak_rss_kib,
      };
    }
    const r = j as LibtorrentResult;
    if (typeof r.total_redundant_bytes !== 'number') throw new InteropError('BAD_OUTPUT', `${this.proc.label}: RESULT has no total_redundant_bytes (old lt_peer.py?)`);
    return {
      complete: r.complete, firstByteAtMs: r.first_byte_at_ms, completeAtMs: r.complete_at_ms,
      // lt_peer.py polls every 50 ms: a leecher done within one poll of its first byte reads 0 s
      firstByteToDoneS: r.first_byte_to_done_s === null ? null : Math.max(r.first_byte_to_done_s, 0.05),
      payloadDown: r.payload_down, payloadUp: r.payload_up,
      duplicateBytes: r.total_redundant_bytes, failedBytes: r.total_failed_bytes,
      cpuS: r.cpu_transfer_s, peakRssKiB: r.peak_rss_kib,
    };
  }
}

function ourArgs(o: SwarmPeerOptions): string[] {
  const args = [o.mode, o.torrentPath, o.dir, '--bind', o.bind, '--timeout', String(o.timeoutS), '--quiet'];
  for (const c of o.connect ?? []) args.push('--connect', endpointString(c));
  if (o.upLimit !== undefined && o.upLimit > 0) args.push('--up-limit', String(Math.round(o.upLimit)));
  if (o.keepSeeding) args.push('--keep-seeding');
  if (o.startFile !== undefined) args.push('--start-file', o.startFile);
  return args;
}

function ltArgs(o: SwarmPeerOptions): string[] {
  // TCP only, plaintext first (INTEROP.md rule 2), as every libtorrent peer of the harness
  const args = [scriptPath('lt_peer.py'), o.mode, o.torrentPath, o.dir, '0', '--bind', o.bind, '--tcp-only', '--dial-flags', '0',
    '--timeout', String(o.timeoutS), '--quiet'];
  for (const c of o.connect ?? []) args.push('--connect', endpointString(c));
  if (o.upLimit !== undefined && o.upLimit > 0) args.push('--up-limit', String(Math.round(o.upLimit)));
  if (o.keepSeeding) args.push('--keep-seeding');
  if (o.startFile !== undefined) args.push('--start-file', o.startFile);
  return args;
}

/**
 * Start one peer; resolves once it printed READY (listening, a seeder's data checked).
 * `name`: the torrent's file name (single-file torrents), to find the downloaded copy.
 */
export async function startSwarmPeer(scope: InteropScope, o: SwarmPeerOptions, name: string, readyTimeoutMs = 120_000): Promise<SwarmPeer> {
  const label = `${o.impl === 'ours' ? 'ours' : 'lt'}-${o.mode}@${o.bind}`;
  let proc: ManagedProcess;
  if (o.impl === 'ours') {
    const { cmd, args } = ourPeerCommand();
    proc = scope.spawn(label, cmd, [...args, ...ourArgs(o)]);
  } else {
    proc = scope.spawn(label, SYSTEM_PYTHON, ltArgs(o));
  }
  const ready = await proc.waitForLine((l) => l.startsWith('READY '), readyTimeoutMs, 'READY line');
  const port = Number(/port=(\d+)/.exec(ready)?.[1] ?? 0);
  if (!(port > 0)) throw new InteropError('BAD_OUTPUT', `${label} did not listen: ${ready}\n${proc.tail()}`);
  if (o.mode === 'seed' && proc.lines().some((l) => l.startsWith('WARN seeder is not complete'))) {
    throw new InteropError('BAD_OUTPUT', `${label} does not have the data in ${o.dir}\n${proc.tail()}`);
  }
  return new SwarmPeer(o.impl, o.mode, proc, { host: o.bind, port }, path.join(o.dir, name), o.pieceLength);
}

/**
 * The start signal of a swarm: peers started with `startFile: barrier.path` wait after
 * READY until `open()` creates the file (both scripts poll for it every 5 ms).
 */
export class StartBarrier {
  private constructor(readonly path: string) {}

  static async create(scope: InteropScope): Promise<StartBarrier> {
    return new StartBarrier(path.join(await scope.tempDir('start'), 'go'));
  }

  async open(): Promise<void> {
    await writeFile(this.path, 'go\n');
  }
}
