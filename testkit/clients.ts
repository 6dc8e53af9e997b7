/**
 * A harness that runs REAL BitTorrent clients on loopback for the interop tests
 * and the transfer benchmark: libtorrent (python3-libtorrent, via
 * scripts/lt_peer.py), Transmission 3.00 (transmission-daemon, via
 * scripts/tr_start.sh + its JSON-RPC) and qBittorrent (qbittorrent-nox, via
 * scripts/qbt_profile.sh + its WebUI API), and the opentracker tracker (Debian's
 * `opentracker`, HTTP and UDP on one port).
 *
 * The recipes come from ../shared/INTEROP.md; the three rules that shape this file:
 *  1. Transmission never dials a 127.x peer: whoever talks to it must dial it.
 *  2. libtorrent/qBittorrent dial uTP and MSE first by default (≈5 s lost against a
 *     TCP-only plaintext peer): lt_peer.py runs with --tcp-only --dial-flags 0 here,
 *     qBittorrent's profile says BTProtocol=TCP.
 *  3. Each client accepts one connection per IP: every peer started here gets its own
 *     loopback address (127.0.0.2, .3, …) from `nextLoopbackAddress()`.
 *
 * Everything a test starts goes through an `InteropScope`, whose `close()` kills the
 * process groups and removes the temp dirs; a process-exit hook kills whatever a
 * crashed test left behind. This module has no side effects at import: `node --test
 * dist/test/` also loads it as a (test-less) test file.
 */
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MseInitiator, type MseResult } from '../wire/mse/index.js';

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export type InteropErrorCode =
  /** A client binary or python module is not installed. */
  | 'CLIENT_MISSING'
  /** A wait (process output, RPC state, transfer) ran past its deadline. */
  | 'TIMEOUT'
  /** A client process exited before it produced what we waited for. */
  | 'PROCESS_EXIT'
  /** A client printed something we could not parse. */
  | 'BAD_OUTPUT'
  /** An RPC / WebUI call failed. */
  | 'RPC'
  /** A transferred file's bytes differ from the source. */
  | 'HASH_MISMATCH';

export class InteropError extends Error {
  constructor(readonly code: InteropErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'InteropError';
  }
}

// ---------------------------------------------------------------------------
// Locations
// ---------------------------------------------------------------------------

/** libtorrent's python module is only importable from Debian's own interpreter. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

let scriptsDirCache: string | null = null;

/**
 * test/interop/scripts of this checkout. Found by walking up from this module, so
 * it works from the sources (tsx: test/interop/) and from the build
 * (dist/test/interop/, where tsc does not copy the scripts).
 */
export function scriptsDir(): string {
  if (scriptsDirCache !== null) return scriptsDirCache;
  // above this module first; then above the working directory, for a build emitted
  // outside the checkout (`tsc --outDir /tmp/x`, run from the checkout)
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      for (const candidate of [path.join(dir, 'scripts'), path.join(dir, 'test', 'interop', 'scripts')]) {
        if (existsSync(path.join(candidate, 'lt_peer.py'))) return (scriptsDirCache = candidate);
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  throw new InteropError('CLIENT_MISSING', `cannot find test/interop/scripts above ${fileURLToPath(import.meta.url)} or ${process.cwd()}`);
}

export function scriptPath(name: 'lt_peer.py' | 'lt_dht_node.py' | 'mktorrent.py' | 'tr_start.sh' | 'qbt_profile.sh' | 'tr_rpc.py'): string {
  return path.join(scriptsDir(), name);
}

// ---------------------------------------------------------------------------
// Client availability: fail in CI, skip (loudly) elsewhere
// ---------------------------------------------------------------------------

export type ClientName = 'libtorrent' | 'transmission' | 'qbittorrent' | 'opentracker';

export interface ClientStatus {
  name: ClientName;
  available: boolean;
  /** Why it is unavailable, or what was found. */
  detail: string;
}

/** Debian package that provides each client (for the messages). */
export const CLIENT_PACKAGES: Readonly<Record<ClientName, string>> = {
  libtorrent: 'python3-libtorrent',
  transmission: 'transmission-daemon',
  qbittorrent: 'qbittorrent-nox',
  opentracker: 'opentracker',
};

export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').toLowerCase();
  return v === 'true' || v === '1';
}

function findOnPath(bin: string): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/usr/sbin', '/bin']);
  for (const d of dirs) {
    if (d === '') continue;
    const p = path.join(d, bin);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

const statusCache = new Map<ClientName, ClientStatus>();

/** Whether a client can run here (cached per process). */
export function clientStatus(name: ClientName): ClientStatus {
  const cached = statusCache.get(name);
  if (cached) return cached;
  let st: ClientStatus;
  if (name === 'libtorrent') {
    const r = existsSync(SYSTEM_PYTHON)
      ? spawnSync(SYSTEM_PYTHON, ['-c', 'import libtorrent; print(libtorrent.__version__)'], { encoding: 'utf8', timeout: 20_000 })
      : null;
    st = r !== null && r.status === 0
      ? { name, available: true, detail: `libtorrent ${r.stdout.trim()} under ${SYSTEM_PYTHON}` }
      : { name, available: false, detail: `${SYSTEM_PYTHON} cannot import libtorrent (${r === null ? 'no ' + SYSTEM_PYTHON : (r.stderr || '').trim().split('\n').pop()})` };
  } else if (name === 'opentracker') {
    const found = findOnPath('opentracker');
    st = found !== null ? { name, available: true, detail: found } : { name, available: false, detail: 'opentracker not on PATH' };
  } else {
    const bin = name === 'transmission' ? 'transmission-daemon' : 'qbittorrent-nox';
    const found = findOnPath(bin);
    // Both drivers also need the system python (qbt_profile.sh hashes the WebUI password with it).
    st = found !== null && existsSync(SYSTEM_PYTHON)
      ? { name, available: true, detail: found }
      : { name, available: false, detail: found === null ? `${bin} not on PATH` : `${SYSTEM_PYTHON} missing` };
  }
  statusCache.set(name, st);
  return st;
}

/** The part of node:test's TestContext that `requireClient` uses. */
export interface Skippable {
  skip(message?: string): void;
}

/**
 * Decide what a test does about a client's status: true = run it. When the client is
 * missing, with CI=true this THROWS (a missing client fails the run, per the issue);
 * otherwise it marks the test skipped with a message naming the package and returns false.
 */
export function decideClient(status: ClientStatus, t: Skippable | undefined, ci: boolean): boolean {
  if (status.available) return true;
  const msg = `${status.name} unavailable: ${status.detail} (apt-get install ${CLIENT_PACKAGES[status.name]})`;
  if (ci) throw new InteropError('CLIENT_MISSING', msg + ' — required when CI=true');
  if (t) t.skip(msg);
  else process.stderr.write(`SKIP ${msg}\n`);
  return false;
}

/** `if (!requireClient('libtorrent', t)) return;` at the top of a test. */
export function requireClient(name: ClientName, t?: Skippable, env: NodeJS.ProcessEnv = process.env): boolean {
  return decideClient(clientStatus(name), t, isCI(env));
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/** Hex sha256 of a file's bytes: every transfer compares source and result with it. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Write `bytes` random bytes to `file` (1 MiB at a time; bounded memory for GiB files). */
export async function makeRandomFile(file: string, bytes: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const chunk = 1 << 20;
    for (let done = 0; done < bytes; done += chunk) {
      await fh.write(randomBytes(Math.min(chunk, bytes - done)));
    }
  } finally {
    await fh.close();
  }
}

/** Throw HASH_MISMATCH unless `file` has the sha256 `expected`. */
export async function assertSameBytes(file: string, expected: string): Promise<void> {
  const got = await sha256File(file);
  if (got !== expected) throw new InteropError('HASH_MISMATCH', `${file}: sha256 ${got}, expected ${expected}`);
}

export interface TorrentInfo {
  /** Absolute path of the .torrent file. */
  torrentPath: string;
  /** Name in the info dict (= file name for a single-file torrent). */
  name: string;
  /** v1 info hash, lower-case hex (torrents are v1-only: Transmission 3.00 cannot read hybrids). */
  infoHash: string;
  pieceLength: number;
  numPieces: number;
  totalSize: number;
}

function execFileP(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new InteropError('PROCESS_EXIT', `${path.basename(cmd)} ${args.map((a) => path.basename(a)).join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Create a v1 .torrent for one file with libtorrent (scripts/mktorrent.py). */
export async function createTorrent(file: string, torrentPath: string, opts: { pieceLength?: number; timeoutMs?: number } = {}): Promise<TorrentInfo> {
  const out = await execFileP(SYSTEM_PYTHON, [scriptPath('mktorrent.py'), file, torrentPath, String(opts.pieceLength ?? 0), 'v1'], opts.timeoutMs ?? 300_000);
  const line = out.split('\n').find((l) => l.startsWith('TORRENT '));
  if (!line) throw new InteropError('BAD_OUTPUT', `mktorrent.py printed no TORRENT line: ${out.slice(0, 500)}`);
  const j = JSON.parse(line.slice('TORRENT '.length)) as {
    path: string; name: string; info_hash_v1: string | null; piece_length: number; num_pieces: number; total_size: number;
  };
  if (!j.info_hash_v1 || !/^[0-9a-f]{40}$/.test(j.info_hash_v1)) throw new InteropError('BAD_OUTPUT', `bad info hash in ${line}`);
  return { torrentPath: j.path, name: j.name, infoHash: j.info_hash_v1, pieceLength: j.piece_length, numPieces: j.num_pieces, totalSize: j.total_size };
}

// ---------------------------------------------------------------------------
// Network helpers
// ---------------------------------------------------------------------------

export interface Endpoint {
  host: string;
  port: number;
}

export const endpointString = (e: Endpoint): string => `${e.host}:${e.port}`;

// Per-process counter. Test files run in separate processes and may hand out the same
// address, which is harmless: the one-connection-per-IP rule is per client instance,
// and every test starts its own client instances.
let nextHost = 2;

/** A fresh loopback address 127.0.0.2 … 127.0.0.254 (INTEROP.md rule 3), cycling. */
export function nextLoopbackAddress(): string {
  const h = `127.0.0.${nextHost}`;
  nextHost = nextHost >= 254 ? 2 : nextHost + 1;
  return h;
}

/**
 * A TCP port free on `host` right now (bind port 0, read it, close). Another process
 * may take it before the client binds it; the daemons' start-up checks catch that.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new InteropError('RPC', 'no port from listen(0)'))));
    });
  });
}

/** Resolve when a TCP connect to `e` succeeds (the client is listening), or time out. */
export async function waitListening(e: Endpoint, timeoutMs: number, isDead: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: e.host, port: e.port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (isDead()) throw new InteropError('PROCESS_EXIT', `process died before listening on ${endpointString(e)}`);
    if (Date.now() > deadline) throw new InteropError('TIMEOUT', `nothing listening on ${endpointString(e)} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Send a plaintext BitTorrent handshake for `infoHash` to `e` and report whether the
 * peer answers with a handshake for the same torrent. A client can report a torrent as
 * seeding before it accepts peers for it: qBittorrent resets connections for up to ~1 s
 * after its WebUI says stalledUP. The probe dials from 127.0.0.1, an address the
 * harness never gives to a test peer (one connection per IP, INTEROP.md rule 3).
 * `mse`: for a client that refuses plain connections, the handshake goes inside an
 * MSE/PE handshake offering RC4 only (wire/mse), and the answer is decrypted.
 */
export function probeHandshake(e: Endpoint, infoHash: string, timeoutMs = 2000, localAddress = '127.0.0.1', mse = false): Promise<boolean> {
  return new Promise((resolve) => {
    const hs = Buffer.concat([
      Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8),
      Buffer.from(infoHash, 'hex'), Buffer.from('-SPPROBE-' + randomBytes(6).toString('hex').slice(0, 11)),
    ]);
    const sock = net.connect({ host: e.host, port: e.port, localAddress });
    const enc = mse ? new MseInitiator({ infoHash: Buffer.from(infoHash, 'hex'), mode: 'require', now: Date.now(), random: (n) => randomBytes(n), initialPayload: hs }) : null;
    const encResult = (): MseResult | null => enc?.result ?? null;
    const sendMse = (): void => { for (let c = enc?.pollTransmit() ?? null; c !== null; c = enc!.pollTransmit()) sock.write(c); };
    let got = Buffer.alloc(0);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('connect', () => (enc === null ? sock.write(hs) : sendMse()));
    sock.on('data', (raw: Buffer) => {
      let d: Uint8Array = raw;
      if (enc !== null) {
        const before = encResult();
        if (before === null) {
          try { enc.receive(raw, Date.now()); } catch { finish(false); return; }
          sendMse();
          const r = encResult();
          if (r === null) return;
          d = r.initialPayload;
        } else {
          d = before.decrypt?.process(raw) ?? raw;
        }
      }
      got = Buffer.concat([got, d]);
      // pstrlen(1) + pstr(19) + reserved(8) + info hash(20)
      if (got.length >= 48) finish(got[0] === 19 && got.subarray(28, 48).toString('hex') === infoHash.toLowerCase());
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

// ---------------------------------------------------------------------------
// Processes: own process group, bounded output log, kill on exit
// ---------------------------------------------------------------------------

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

/** Last-resort cleanup: a test that crashed or was cancelled leaves no client running. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) killGroup(p.pid, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSig = (): void => {
      for (const p of live) killGroup(p.pid, 'SIGKILL');
      process.removeListener(sig, onSig);
      process.kill(process.pid, sig); // then die the way we would have without the hook
    };
    process.on(sig, onSig);
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const MAX_LOG_LINES = 300;

/**
 * A child process in its own process group (detached), so that stop() and the exit
 * hook take down whatever it forked. Its stdout/stderr lines are kept (bounded) for
 * diagnostics and can be awaited.
 */
export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;
  private readonly log: string[] = [];
  private readonly lineWaiters = new Set<(line: string) => void>();
  private readonly child: ChildProcess;

  constructor(readonly label: string, cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    installExitHook();
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true, // new process group: kill(-pid) reaches its children too
      stdio: ['ignore', 'pipe', 'pipe'], // stdin /dev/null: qBittorrent's legal notice never blocks
    });
    if (this.child.pid === undefined) throw new InteropError('PROCESS_EXIT', `${label}: spawn ${cmd} failed`);
    this.pid = this.child.pid;
    live.add(this);
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve(this.exitInfo);
      });
      this.child.once('error', (err) => {
        this.push(`[spawn error] ${err.message}`);
        this.exitInfo = { code: -1, signal: null };
        live.delete(this);
        resolve(this.exitInfo);
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (l) => this.push(l));
    }
  }

  private push(line: string): void {
    this.log.push(line);
    if (this.log.length > MAX_LOG_LINES) this.log.splice(0, this.log.length - MAX_LOG_LINES);
    for (const w of this.lineWaiters) w(line);
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** The last lines of output, for error messages. */
  tail(n = 25): string {
    return this.log.slice(-n).map((l) => `  | ${l}`).join('\n');
  }

  lines(): readonly string[] {
    return this.log;
  }

  /** The first line (already printed or to come) matching `pred`. */
  waitForLine(pred: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const seen = this.log.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.lineWaiters.delete(onLine);
        fn();
      };
      const onLine = (l: string): void => {
        if (pred(l)) done(() => resolve(l));
      };
      const timer = setTimeout(() => done(() => reject(new InteropError('TIMEOUT', `${this.label}: no ${what} after ${timeoutMs} ms\n${this.tail()}`))), timeoutMs);
      this.lineWaiters.add(onLine);
      void this.exited.then((ex) => {
        // let readline deliver the last lines before deciding
        setImmediate(() => {
          const last = this.log.find(pred);
          if (last !== undefined) done(() => resolve(last));
          else done(() => reject(new InteropError('PROCESS_EXIT', `${this.label}: exited (${ex.code ?? ex.signal}) before ${what}\n${this.tail()}`)));
        });
      });
    });
  }

  /** Wait for exit, or throw TIMEOUT. */
  async waitExit(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new InteropError('TIMEOUT', `${this.label}: still running after ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM the group, SIGKILL it after `graceMs`; resolves once the leader exited. */
  async stop(graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitInfo> {
    if (this.alive) {
      killGroup(this.pid, signal);
      const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // the leader is gone; make sure nothing it forked survives in its group
    killGroup(this.pid, 'SIGKILL');
    return this.exitInfo ?? (await this.exited);
  }
}

/** CPU seconds (user + system, all threads) of a live process, from /proc/<pid>/stat. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is field 3; utime = 14, stime = 15 (1-based)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return null;
  }
}

/** Peak resident set (VmHWM) of a live process in KiB, from /proc/<pid>/status. */
export function procPeakRssKiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let ticks: number | null = null;
function clockTicks(): number {
  if (ticks === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticks;
}

// ---------------------------------------------------------------------------
// libtorrent (scripts/lt_peer.py)
// ---------------------------------------------------------------------------

export type LibtorrentEncryption = 'default' | 'plaintext' | 'plain-out' | 'forced';

export interface LibtorrentOptions {
  mode: 'seed' | 'leech';
  torrentPath: string;
  /** Directory that holds (seed) or receives (leech) the torrent's files. */
  saveDir: string;
  /** Address to listen on and dial from; default: a fresh nextLoopbackAddress(). */
  bind?: string;
  /** Listen port; default 0 = ephemeral, reported on the READY line (no race). */
  port?: number;
  /** Peers to dial (re-dialled every `redialS` while none is connected). */
  connect?: readonly Endpoint[];
  /** Disable uTP both ways (default true: INTEROP.md rule 2). */
  tcpOnly?: boolean;
  /** connect_peer flags: 0 = TCP, plaintext first (default); 13 = libtorrent's uTP+MSE first. */
  dialFlags?: number;
  encryption?: LibtorrentEncryption;
  /** Seeder: skip the start-up hash check. */
  seedMode?: boolean;
  /** Seeder: exit once a peer has downloaded everything. */
  exitWhenDone?: boolean;
  /** Leecher: once complete, print DONE and keep seeding until stopped (`untilDone`, then `stop`). */
  keepSeeding?: boolean;
  /** Write libtorrent's peer_log (every message) to this file. */
  peerLog?: string;
  redialS?: number;
  /** The script's own deadline (it then prints RESULT with complete=false). */
  timeoutS?: number;
  /** How long start-up (incl. the hash check of a seeder) may take. Default 120 s. */
  readyTimeoutMs?: number;
  /** This torrent's upload limit, bytes/s (libtorrent's per-torrent limit: it holds for loopback peers). */
  upLimit?: number;
  /** Dial the `connect` peers only once this file exists (a swarm benchmark's start barrier). */
  startFile?: string;
  /** No progress lines (a swarm of many peers would fill the output log with them). */
  quiet?: boolean;
}

/** Snapshot of the first connected peer, as lt_peer.py reports it. */
export interface LibtorrentPeerInfo {
  ip: string;
  client: string;
  utp: boolean;
  rc4: boolean;
  mse_plaintext: boolean;
  outgoing: boolean;
  flags: string;
}

/**
 * The fields every peer process's `RESULT {json}` line carries — lt_peer.py's and
 * testkit/our-peer.ts's alike, same names and meaning — so that the transfer
 * benchmark reads either side with the same code.
 */
export interface PeerProcessResult {
  mode: 'seed' | 'leech';
  complete: boolean;
  total_bytes: number;
  /** READY → done (leecher) or stop (seeder). */
  wall_s: number;
  /** First connection with the peer → done. */
  peer_to_done_s: number | null;
  /** First payload byte received → every piece verified and written. */
  first_byte_to_done_s: number | null;
  payload_down: number;
  payload_up: number;
  /** CPU seconds (user + system, all threads) of the whole process, incl. a seeder's start-up hash check. */
  cpu_s: number;
  /** CPU seconds from READY to RESULT: the transfer itself. */
  cpu_transfer_s: number;
  /** Peak resident set of the process, KiB (getrusage ru_maxrss). */
  peak_rss_kib: number;
}

/** The RESULT line of lt_peer.py. */
export interface LibtorrentResult extends PeerProcessResult {
  /** Payload received twice / in pieces that failed the hash check (torrent_status). */
  total_redundant_bytes: number;
  total_failed_bytes: number;
  /** Epoch ms of the first payload byte and of holding every piece (null when it never happened). */
  first_byte_at_ms: number | null;
  complete_at_ms: number | null;
  avg_MBps_wall: number | null;
  avg_MBps_first_byte: number | null;
  lt_max_reported_MBps: number;
  peers: LibtorrentPeerInfo[];
}

export class LibtorrentPeer {
  constructor(
    readonly proc: ManagedProcess,
    /** Where it listens (and the source address of its dials). */
    readonly endpoint: Endpoint,
    readonly mode: 'seed' | 'leech',
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /** Wait for RESULT and exit (a leecher exits when complete; a seeder with exitWhenDone). */
  async result(timeoutMs: number): Promise<LibtorrentResult> {
    const line = await this.proc.waitForLine((l) => l.startsWith('RESULT '), timeoutMs, 'RESULT line');
    await this.proc.waitExit(10_000);
    return parseLtResult(line);
  }

  /** A `keepSeeding` leecher holds every piece (it goes on seeding). */
  async untilDone(timeoutMs: number): Promise<void> {
    await this.proc.waitForLine((l) => l.startsWith('DONE '), timeoutMs, 'DONE line');
  }

  /** SIGTERM: the script stops, prints RESULT and exits. Null if it printed none. */
  async stop(): Promise<LibtorrentResult | null> {
    await this.proc.stop(5000);
    const line = this.proc.lines().find((l) => l.startsWith('RESULT '));
    return line === undefined ? null : parseLtResult(line);
  }
}

function parseLtResult(line: string): LibtorrentResult {
  try {
    return JSON.parse(line.slice('RESULT '.length)) as LibtorrentResult;
  } catch (e) {
    throw new InteropError('BAD_OUTPUT', `unparsable ${line}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------
// Transmission 3.00 (scripts/tr_start.sh + JSON-RPC)
// ---------------------------------------------------------------------------

/** Transmission torrent status codes (RPC spec). */
export const TR_STATUS = { stopped: 0, checkWait: 1, check: 2, downloadWait: 3, download: 4, seedWait: 5, seed: 6 } as const;

export interface TransmissionTorrent {
  id: number;
  name: string;
  hashString: string;
  status: number;
  percentDone: number;
  haveValid: number;
  totalSize: number;
  rateDownload: number;
  rateUpload: number;
  downloadedEver: number;
  uploadedEver: number;
  peersConnected: number;
  error: number;
  errorString: string;
}

export interface TransmissionPeer {
  address: string;
  port: number;
  clientName: string;
  isEncrypted: boolean;
  isIncoming: boolean;
  isUTP: boolean;
  flagStr: string;
  progress: number;
  rateToClient: number;
  rateToPeer: number;
}

const TR_FIELDS = ['id', 'name', 'hashString', 'status', 'percentDone', 'haveValid', 'totalSize', 'rateDownload', 'rateUpload',
  'downloadedEver', 'uploadedEver', 'peersConnected', 'error', 'errorString'];

export interface TransmissionOptions {
  /** 0 tolerated (refuses MSE), 1 preferred (default; accepts plaintext dialers), 2 required. */
  encryption?: 0 | 1 | 2;
  /**
   * Loopback address of its peer port (default 127.0.0.1; RPC stays on 127.0.0.1). A swarm
   * with qBittorrent gives it another: qBittorrent, on 127.0.0.1 too, never connected to it there.
   */
  bind?: string;
}

/**
 * A transmission-daemon with its own fresh config dir (INTEROP.md rule 3: it never
 * unchokes an IP again once a leecher there completed) listening on 127.0.0.1.
 * It never dials loopback peers: dial `peerEndpoint` from our side.
 */
export class TransmissionDaemon {
  private sessionId = '';

  constructor(
    readonly proc: ManagedProcess,
    readonly peerEndpoint: Endpoint,
    readonly rpcPort: number,
    readonly configDir: string,
    readonly downloadDir: string,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /** One JSON-RPC call (handles the 409 X-Transmission-Session-Id exchange). */
  async rpc<T>(method: string, args: Record<string, unknown> = {}): Promise<T> {
    const body = JSON.stringify({ method, arguments: args });
    for (let attempt = 0; attempt < 3; attempt++) {
      let res: Response;
      try {
        res = await fetch(`http://127.0.0.1:${this.rpcPort}/transmission/rpc`, {
          method: 'POST',
          headers: { 'X-Transmission-Session-Id': this.sessionId, 'Content-Type': 'application/json' },
          body,
          signal: AbortSignal.timeout(10_000),
        });
      } catch (e) {
        throw new InteropError('RPC', `transmission ${method}: ${(e as Error).message}`);
      }
      if (res.status === 409) {
        this.sessionId = res.headers.get('X-Transmission-Session-Id') ?? '';
        await res.arrayBuffer();
        continue;
      }
      const j = (await res.json().catch(() => null)) as { result?: string; arguments?: T } | null;
      if (!res.ok || j === null || j.result !== 'success' || j.arguments === undefined) {
        throw new InteropError('RPC', `transmission ${method}: HTTP ${res.status} ${JSON.stringify(j)}`);
      }
      return j.arguments;
    }
    throw new InteropError('RPC', `transmission ${method}: no session id after 3 tries`);
  }

  /** Add a .torrent (its data is verified if present in `downloadDir`); returns the id. */
  async addTorrent(torrentPath: string, downloadDir: string = this.downloadDir): Promise<number> {
    const metainfo = (await readFile(torrentPath)).toString('base64');
    const a = await this.rpc<{ 'torrent-added'?: { id: number }; 'torrent-duplicate'?: { id: number } }>('torrent-add', {
      metainfo, 'download-dir': downloadDir, paused: false,
    });
    const t = a['torrent-added'] ?? a['torrent-duplicate'];
    if (!t) throw new InteropError('RPC', `torrent-add returned ${JSON.stringify(a)}`);
    return t.id;
  }

  async torrent(id: number): Promise<TransmissionTorrent> {
    const a = await this.rpc<{ torrents: TransmissionTorrent[] }>('torrent-get', { ids: [id], fields: TR_FIELDS });
    const t = a.torrents[0];
    if (!t) throw new InteropError('RPC', `no torrent ${id}`);
    return t;
  }

  async peers(id: number): Promise<TransmissionPeer[]> {
    const a = await this.rpc<{ torrents: Array<{ peers: TransmissionPeer[] }> }>('torrent-get', { ids: [id], fields: ['peers'] });
    return a.torrents[0]?.peers ?? [];
  }

  /** Poll until `pred` holds; throw TIMEOUT (with the last state) otherwise. */
  async waitFor(id: number, pred: (t: TransmissionTorrent) => boolean, timeoutMs: number, what: string): Promise<TransmissionTorrent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.proc.alive) throw new InteropError('PROCESS_EXIT', `transmission-daemon died waiting for ${what}\n${this.proc.tail()}`);
      const t = await this.torrent(id);
      if (t.error !== 0 && t.error !== 1) throw new InteropError('RPC', `transmission torrent error ${t.error}: ${t.errorString}`);
      if (pred(t)) return t;
      if (Date.now() > deadline) throw new InteropError('TIMEOUT', `transmission: no ${what} after ${timeoutMs} ms: ${JSON.stringify(t)}`);
      await sleep(100);
    }
  }

  /** Checked and started: downloading (leecher) or seeding (seeder). */
  waitActive(id: number, timeoutMs = 30_000): Promise<TransmissionTorrent> {
    return this.waitFor(id, (t) => t.status === TR_STATUS.download || t.status === TR_STATUS.seed, timeoutMs, 'download/seed status');
  }

  /** Every byte downloaded and verified. */
  waitComplete(id: number, timeoutMs: number): Promise<TransmissionTorrent> {
    return this.waitFor(id, (t) => t.percentDone >= 1 && t.haveValid === t.totalSize, timeoutMs, 'complete download');
  }

  async stop(): Promise<void> {
    await this.proc.stop(3000);
  }
}

// ---------------------------------------------------------------------------
// qBittorrent-nox 4.5 (scripts/qbt_profile.sh + WebUI API v2)
// ---------------------------------------------------------------------------

/** The fields of /api/v2/torrents/info that the harness uses. */
export interface QbtTorrent {
  hash: string;
  name: string;
  state: string;
  progress: number;
  size: number;
  downloaded: number;
  uploaded: number;
  dlspeed: number;
  upspeed: number;
  num_seeds: number;
  num_leechs: number;
  save_path: string;
}

export const QBT_SEEDING_STATES: ReadonlySet<string> = new Set(['uploading', 'stalledUP', 'queuedUP', 'forcedUP']);

export interface QbittorrentOptions {
  /** 0 allow/prefer (default), 1 require (its readiness probe then speaks MSE), 2 disable MSE. */
  encryption?: 0 | 1 | 2;
  /** Transport for its own dials: TCP (default; INTEROP.md rule 2) or Both. */
  protocol?: 'TCP' | 'Both';
}

/** A qbittorrent-nox with a fresh profile, peer port on 127.0.0.1, WebUI on 127.0.0.1. */
export class QbittorrentDaemon {
  private cookie = '';

  constructor(
    readonly proc: ManagedProcess,
    readonly peerEndpoint: Endpoint,
    readonly webPort: number,
    readonly profileDir: string,
    private readonly password: string,
    /** It refuses plain connections (encryption required): probe with MSE. */
    private readonly requiresMse = false,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  private url(p: string): string {
    return `http://127.0.0.1:${this.webPort}/api/v2/${p}`;
  }

  /** Log in to the WebUI; returns false while it is not up yet. */
  async login(): Promise<boolean> {
    let res: Response;
    try {
      res = await fetch(this.url('auth/login'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'admin', password: this.password }).toString(),
        signal: AbortSignal.timeout(5000),
      });
    } catch {
      return false;
    }
    const text = await res.text();
    const sid = /SID=([^;]+)/.exec(res.headers.get('set-cookie') ?? '');
    if (res.ok && text.trim() === 'Ok.' && sid) {
      this.cookie = `SID=${sid[1]}`;
      return true;
    }
    throw new InteropError('RPC', `qBittorrent login: HTTP ${res.status} ${text}`);
  }

  /** One WebUI call; form fields as a URL-encoded body, or a FormData for uploads. */
  async call(p: string, body?: Record<string, string> | FormData): Promise<string> {
    let res: Response;
    try {
      res = await fetch(this.url(p), {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined || body instanceof FormData
          ? { Cookie: this.cookie }
          : { Cookie: this.cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body === undefined ? undefined : body instanceof FormData ? body : new URLSearchParams(body).toString(),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (e) {
      throw new InteropError('RPC', `qBittorrent ${p}: ${(e as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) throw new InteropError('RPC', `qBittorrent ${p}: HTTP ${res.status} ${text}`);
    return text;
  }

  /** Add a .torrent, started, saving to / seeding from `savePath`. */
  async addTorrent(torrentPath: string, savePath: string): Promise<void> {
    const fd = new FormData();
    fd.append('torrents', new Blob([await readFile(torrentPath)]), path.basename(torrentPath));
    fd.append('savepath', savePath);
    fd.append('paused', 'false');
    fd.append('skip_checking', 'false');
    const text = await this.call('torrents/add', fd);
    if (text.trim() !== 'Ok.') throw new InteropError('RPC', `qBittorrent torrents/add: ${text}`);
  }

  /** Make qBittorrent dial these peers (it is the only way to point it at us). */
  async addPeers(infoHash: string, peers: readonly Endpoint[]): Promise<void> {
    await this.call('torrents/addPeers', { hashes: infoHash, peers: peers.map(endpointString).join('|') });
  }

  async info(infoHash: string): Promise<QbtTorrent | null> {
    const list = JSON.parse(await this.call(`torrents/info?hashes=${infoHash}`)) as QbtTorrent[];
    return list[0] ?? null;
  }

  async waitFor(infoHash: string, pred: (t: QbtTorrent) => boolean, timeoutMs: number, what: string): Promise<QbtTorrent> {
    const deadline = Date.now() + timeoutMs;
    let last: QbtTorrent | null = null;
    for (;;) {
      if (!this.proc.alive) throw new InteropError('PROCESS_EXIT', `qbittorrent-nox died waiting for ${what}\n${this.proc.tail()}`);
      last = await this.info(infoHash);
      if (last !== null && (last.state === 'error' || last.state === 'missingFiles')) {
        throw new InteropError('RPC', `qBittorrent torrent ${last.state}: ${JSON.stringify(last)}`);
      }
      if (last !== null && pred(last)) return last;
      if (Date.now() > deadline) throw new InteropError('TIMEOUT', `qBittorrent: no ${what} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
      await sleep(150);
    }
  }

  /** Checked, complete, seeding, and answering handshakes for it. */
  async waitSeeding(infoHash: string, timeoutMs = 30_000): Promise<QbtTorrent> {
    const t = await this.waitFor(infoHash, (x) => x.progress >= 1 && QBT_SEEDING_STATES.has(x.state), timeoutMs, 'seeding state');
    await this.waitAcceptsPeers(infoHash, timeoutMs);
    return t;
  }

  /** Checked, downloading (waiting for peers counts), and answering handshakes for it. */
  async waitDownloading(infoHash: string, timeoutMs = 30_000): Promise<QbtTorrent> {
    const t = await this.waitFor(infoHash, (x) => x.state === 'downloading' || x.state === 'stalledDL' || x.state === 'metaDL', timeoutMs, 'downloading state');
    await this.waitAcceptsPeers(infoHash, timeoutMs);
    return t;
  }

  /** Until a handshake for `infoHash` is answered (see probeHandshake for why). */
  waitAcceptsPeers(infoHash: string, timeoutMs = 30_000): Promise<void> {
    return waitFor(async () => {
      if (!this.proc.alive) throw new InteropError('PROCESS_EXIT', `qbittorrent-nox died\n${this.proc.tail()}`);
      return probeHandshake(this.peerEndpoint, infoHash, 2000, '127.0.0.1', this.requiresMse);
    }, timeoutMs, `qBittorrent answering handshakes for ${infoHash}`);
  }

  waitComplete(infoHash: string, timeoutMs: number): Promise<QbtTorrent> {
    return this.waitFor(infoHash, (t) => t.progress >= 1 && !t.state.startsWith('checking'), timeoutMs, 'complete download');
  }

  async stop(): Promise<void> {
    // its graceful shutdown can take seconds; the profile is thrown away anyway
    await this.proc.stop(1500);
  }
}

// ---------------------------------------------------------------------------
// Scope: everything a test starts, and its cleanup
// ---------------------------------------------------------------------------

/**
 * Owns the processes and temp dirs of one test (or one benchmark run):
 *   const s = new InteropScope('lt-to-tr'); t.after(() => s.close());
 * close() is idempotent and never throws.
 */
export class InteropScope {
  private readonly procs: ManagedProcess[] = [];
  private readonly dirs: string[] = [];
  private closed = false;

  constructor(readonly label = 'interop') {}

  /** A new temp dir (removed by close()). */
  async tempDir(tag = 'tmp'): Promise<string> {
    this.assertOpen();
    const d = await mkdtemp(path.join(os.tmpdir(), `seedpay-${this.label}-${tag}-`));
    this.dirs.push(d);
    return d;
  }

  /** Spawn a process owned by this scope (killed by close()). */
  spawn(label: string, cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ManagedProcess {
    this.assertOpen();
    const p = new ManagedProcess(`${this.label}/${label}`, cmd, args, opts);
    this.procs.push(p);
    return p;
  }

  /** A random file of `bytes` bytes in a fresh temp dir; returns its path and sha256. */
  async randomFile(bytes: number, name = 'payload.bin'): Promise<{ path: string; dir: string; sha256: string }> {
    const dir = await this.tempDir('src');
    const p = path.join(dir, name);
    await makeRandomFile(p, bytes);
    return { path: p, dir, sha256: await sha256File(p) };
  }

  /** Start lt_peer.py; resolves once it printed READY (listening, torrent loaded/checked). */
  async startLibtorrent(o: LibtorrentOptions): Promise<LibtorrentPeer> {
    const bind = o.bind ?? nextLoopbackAddress();
    const args = [scriptPath('lt_peer.py'), o.mode, o.torrentPath, o.saveDir, String(o.port ?? 0), '--bind', bind,
      '--dial-flags', String(o.dialFlags ?? 0), '--enc', o.encryption ?? 'default', '--timeout', String(o.timeoutS ?? 300)];
    if (o.tcpOnly ?? true) args.push('--tcp-only');
    for (const c of o.connect ?? []) args.push('--connect', endpointString(c));
    if (o.seedMode) args.push('--seed-mode');
    if (o.exitWhenDone) args.push('--exit-when-done');
    if (o.keepSeeding) args.push('--keep-seeding');
    if (o.peerLog) args.push('--peerlog', o.peerLog);
    if (o.redialS !== undefined) args.push('--redial', String(o.redialS));
    if (o.upLimit !== undefined && o.upLimit > 0) args.push('--up-limit', String(Math.round(o.upLimit)));
    if (o.startFile !== undefined) args.push('--start-file', o.startFile);
    if (o.quiet) args.push('--quiet');
    const proc = this.spawn(`lt-${o.mode}@${bind}`, SYSTEM_PYTHON, args);
    const ready = await proc.waitForLine((l) => l.startsWith('READY '), o.readyTimeoutMs ?? 120_000, 'READY line');
    const port = Number(/port=(\d+)/.exec(ready)?.[1] ?? 0);
    if (!(port > 0)) throw new InteropError('BAD_OUTPUT', `lt_peer.py did not listen: ${ready}\n${proc.tail()}`);
    if (o.mode === 'seed' && proc.lines().some((l) => l.startsWith('WARN seeder is not complete'))) {
      throw new InteropError('BAD_OUTPUT', `libtorrent seeder does not have the data in ${o.saveDir}\n${proc.tail()}`);
    }
    return new LibtorrentPeer(proc, { host: bind, port }, o.mode);
  }

  /** Start a transmission-daemon with a fresh config dir; resolves once its RPC answers. */
  async startTransmission(o: TransmissionOptions = {}): Promise<TransmissionDaemon> {
    const conf = await this.tempDir('tr-conf');
    const dl = await this.tempDir('tr-dl');
    let lastErr: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      // free ports can be taken by someone else before the daemon binds them: retry
      const bind = o.bind ?? '127.0.0.1';
      const peerPort = await freePort(bind);
      const rpcPort = await freePort('127.0.0.1');
      const proc = this.spawn('transmission', 'bash', [scriptPath('tr_start.sh'), conf, String(peerPort), String(rpcPort), dl, String(o.encryption ?? 1), 'false', bind]);
      const d = new TransmissionDaemon(proc, { host: bind, port: peerPort }, rpcPort, conf, dl);
      try {
        await waitFor(async () => {
          if (!proc.alive) throw new InteropError('PROCESS_EXIT', `transmission-daemon exited\n${proc.tail()}`);
          try {
            await d.rpc('session-get', { fields: ['version'] });
            return true;
          } catch {
            return false;
          }
        }, 20_000, 'transmission RPC');
        await waitListening(d.peerEndpoint, 10_000, () => !proc.alive);
        return d;
      } catch (e) {
        lastErr = e;
        await proc.stop(1000);
      }
    }
    throw lastErr instanceof Error ? lastErr : new InteropError('PROCESS_EXIT', 'transmission did not start');
  }

  /** Start a qbittorrent-nox with a fresh profile; resolves once logged in to its WebUI. */
  async startQbittorrent(o: QbittorrentOptions = {}): Promise<QbittorrentDaemon> {
    const profile = await this.tempDir('qbt-profile');
    const save = await this.tempDir('qbt-save');
    const password = 'seedpay-' + randomBytes(6).toString('hex');
    let lastErr: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const peerPort = await freePort('127.0.0.1');
      const webPort = await freePort('127.0.0.1');
      await execFileP('bash', [scriptPath('qbt_profile.sh'), profile, String(peerPort), String(webPort), save, password, String(o.encryption ?? 0), o.protocol ?? 'TCP'], 30_000);
      const proc = this.spawn('qbittorrent', 'qbittorrent-nox', [`--profile=${profile}`], { env: { ...process.env, HOME: profile } });
      const d = new QbittorrentDaemon(proc, { host: '127.0.0.1', port: peerPort }, webPort, profile, password, o.encryption === 1);
      try {
        await waitFor(async () => {
          if (!proc.alive) throw new InteropError('PROCESS_EXIT', `qbittorrent-nox exited\n${proc.tail()}`);
          return d.login();
        }, 30_000, 'qBittorrent WebUI login');
        await waitListening(d.peerEndpoint, 10_000, () => !proc.alive);
        return d;
      } catch (e) {
        lastErr = e;
        await proc.stop(1000);
      }
    }
    throw lastErr instanceof Error ? lastErr : new InteropError('PROCESS_EXIT', 'qbittorrent-nox did not start');
  }

  /**
   * Start opentracker on `host` (HTTP and UDP on one port) serving only these info hashes
   * (Debian's build refuses any other: its whitelist). It chroots to a fresh dir holding
   * the whitelist and, run as root, drops to `nobody`: the dir and file must be readable
   * by others (INTEROP.md).
   */
  async startOpentracker(infoHashesHex: readonly string[], o: { host?: string; port?: number } = {}): Promise<Opentracker> {
    const host = o.host ?? '127.0.0.1';
    const dir = await this.tempDir('opentracker');
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'wl'), infoHashesHex.map((h) => `${h.toLowerCase()}\n`).join(''), { mode: 0o644 });
    await chmod(path.join(dir, 'wl'), 0o644);
    let lastErr: unknown = null;
    // A port chosen by the caller (it is in a .torrent already) gets one attempt.
    for (let attempt = 0; attempt < (o.port === undefined ? 3 : 1); attempt++) {
      // a free TCP port may have its UDP twin taken, or be taken before the tracker binds: retry
      const port = o.port ?? await freePort(host);
      const proc = this.spawn(`opentracker@${host}:${port}`, 'opentracker', ['-i', host, '-p', String(port), '-P', String(port), '-d', dir, '-w', '/wl']);
      try {
        await waitListening({ host, port }, 10_000, () => !proc.alive);
        return new Opentracker(proc, host, port);
      } catch (e) {
        lastErr = e;
        await proc.stop(1000);
      }
    }
    throw lastErr instanceof Error ? lastErr : new InteropError('PROCESS_EXIT', 'opentracker did not start');
  }

  /** Kill every process (in parallel) and remove every temp dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.procs.map((p) => p.stop(2000)));
    await Promise.allSettled(this.dirs.map((d) => rm(d, { recursive: true, force: true, maxRetries: 3 })));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`InteropScope ${this.label} is closed`);
  }
}

/** A running opentracker: its HTTP announce URL and its UDP tracker URL (same port). */
export class Opentracker {
  constructor(readonly proc: ManagedProcess, readonly host: string, readonly port: number) {}
  get httpUrl(): string { return opentrackerUrl('http', this.host, this.port); }
  get udpUrl(): string { return opentrackerUrl('udp', this.host, this.port); }
}

export function opentrackerUrl(proto: 'http' | 'udp', host: string, port: number): string {
  return `${proto}://${host}:${port}/announce`;
}

/** Poll `check` every 100 ms until it returns true; it may throw to abort. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new InteropError('TIMEOUT', `no ${what} after ${timeoutMs} ms`);
    await sleep(100);
  }
}
