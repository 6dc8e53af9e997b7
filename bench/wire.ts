/**
 * bench:wire — our Framer/codec against webtorrent's bittorrent-protocol@5.0.9,
 * same bytes, same chunking, alternating runs in one process (BENCH.md).
 *
 * Cases:
 *   parse-1KiB / parse-16KiB / parse-64KiB  MB/s parsing a realistic stream
 *       (mostly 16 KiB piece messages, with have, request, choke, unchoke,
 *       extended and keep-alive mixed in), ≥ 1 GiB per run.
 *   decode-small   msgs/s on a stream of non-piece messages (64 KiB chunks).
 *   encode-piece   piece messages/s made ready to write: our 13-byte header
 *       (the block is written beside it, never copied) vs wire.piece().
 *
 * The headline figures use the Framer's default (safe) mode, where every block
 * stays valid as long as the consumer keeps it, like the baseline's. The parse
 * cases also report, in `extra`, the opt-in `reuseAssemblyBuffer` mode.
 *
 * Clock: each run is timed by the process's CPU time (user + system, all
 * threads, so GC helpers count), not wall time: the bench machines are shared
 * by several busy processes and wall time mostly measures the scheduler.
 * Wall-time medians and their ratio are reported in `extra` as well.
 *
 * Fairness: the baseline is driven through its own `_write(chunk, cb)` (what its
 * Duplex calls for every socket chunk, minus stream plumbing), after a real
 * handshake, with no debug output enabled. Before timing, one pass of each
 * stream is parsed by both with per-type counters and the counts must match;
 * every timed run also checks its message (ours) or piece (baseline) count.
 * Each chunk lives in its own ArrayBuffer, as socket reads do. Each case starts
 * with untimed warm-up runs of both sides, and each run with untimed passes,
 * so JIT and GC are in a steady state and neither side pays the other's GC debt.
 *
 *   node dist/bench/wire.js [--json] [--quick]
 */

import { Framer } from '../wire/framer.js';
import { encodeMessage, encodePieceHeader } from '../wire/codec.js';
import { encodeHandshake } from '../wire/handshake.js';
import type { Message } from '../wire/messages.js';
import { jsonMode, quickMode, log, makeCase, median, report } from '../testkit/bench-report.js';

const BASELINE_NAME = 'bittorrent-protocol@5.0.9';
const RUNS = quickMode ? 3 : 5;
const STREAM_BYTES = quickMode ? 16 << 20 : 64 << 20;
/** Bytes parsed per run of each parse case. */
const PARSE_TOTAL = quickMode ? 64 << 20 : 1 << 30;
const SMALL_STREAM_BYTES = quickMode ? 2 << 20 : 8 << 20;
const SMALL_TOTAL = quickMode ? 8 << 20 : 64 << 20;
const ENCODE_COUNT = quickMode ? 50_000 : 300_000;
const BLOCK = 16384;
const WARMUP_PASSES = quickMode ? 1 : 3;
/** Untimed passes at the start of every run (see parseOurs). */
const RUN_WARMUP_PASSES = quickMode ? 1 : 2;

// ------------------------------------------------------------------ baseline

interface BaselineWire {
  _write(data: Uint8Array, cb: (err?: Error | null) => void): void;
  _onMessage(buf: Uint8Array): void;
  _onKeepAlive(): void;
  on(ev: string, fn: (...args: unknown[]) => void): unknown;
  piece(index: number, offset: number, buf: Uint8Array): void;
  handshake(infoHash: Uint8Array, peerId: Uint8Array, ext?: Record<string, boolean>): void;
  destroy(): void;
}
type BaselineCtor = new () => BaselineWire;

async function loadBaseline(): Promise<BaselineCtor> {
  const name = 'bittorrent-protocol';
  const mod = (await import(name)) as { default: BaselineCtor };
  return mod.default;
}

// ------------------------------------------------------------------ streams

/** Deterministic xorshift32 so every run parses the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

function concatAll(parts: Uint8Array[], total: number): Uint8Array {
  const out = Buffer.allocUnsafe(total);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const EXT_PAYLOAD = new TextEncoder().encode('d5:added6:abcdef7:added.f1:\x00e'); // a small ut_pex-like dict

/** Mostly 16 KiB pieces; have, request, choke, unchoke, extended, keep-alive mixed in. */
function realisticStream(bytes: number): { data: Uint8Array; messages: number } {
  const r = rng(0x5eed);
  const block = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) block[i] = (i * 31) & 0xff;
  const parts: Uint8Array[] = [];
  let total = 0;
  let count = 0;
  let piece = 0;
  const push = (m: Message): void => { const b = encodeMessage(m); parts.push(b); total += b.length; count++; };
  while (total < bytes) {
    push({ type: 'piece', index: piece >> 4, begin: (piece & 15) * BLOCK, block });
    piece++;
    const x = r();
    if (x < 0.5) push({ type: 'have', index: Math.floor(r() * 4000) });
    if (r() < 0.5) push({ type: 'request', index: Math.floor(r() * 4000), begin: 0, length: BLOCK });
    if (x > 0.97) { push({ type: 'choke' }); push({ type: 'unchoke' }); }
    if (r() < 0.05) push({ type: 'extended', id: 1, payload: EXT_PAYLOAD });
    if (r() < 0.02) push({ type: 'keep_alive' });
  }
  return { data: concatAll(parts, total), messages: count };
}

/** Only non-piece messages (the control traffic of a swarm). */
function smallStream(bytes: number): { data: Uint8Array; messages: number } {
  const r = rng(0xc0ffee);
  const parts: Uint8Array[] = [];
  let total = 0;
  let count = 0;
  const push = (m: Message): void => { const b = encodeMessage(m); parts.push(b); total += b.length; count++; };
  while (total < bytes) {
    const x = r();
    const index = Math.floor(r() * 4000);
    if (x < 0.35) push({ type: 'have', index });
    else if (x < 0.65) push({ type: 'request', index, begin: BLOCK * (index & 15), length: BLOCK });
    else if (x < 0.75) push({ type: 'cancel', index, begin: BLOCK * (index & 15), length: BLOCK });
    else if (x < 0.8) push({ type: 'choke' });
    else if (x < 0.85) push({ type: 'unchoke' });
    else if (x < 0.88) push({ type: 'interested' });
    else if (x < 0.9) push({ type: 'not_interested' });
    else if (x < 0.93) push({ type: 'keep_alive' });
    else if (x < 0.95) push({ type: 'port', port: 6881 + (index & 255) });
    else push({ type: 'extended', id: 1, payload: EXT_PAYLOAD });
  }
  return { data: concatAll(parts, total), messages: count };
}

/**
 * The stream cut into chunks of `size` bytes, each in its own ArrayBuffer as a
 * socket would deliver them (so no parser can profit from adjacent views).
 */
function chunked(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) {
    const part = data.subarray(i, Math.min(i + size, data.length));
    const c = Buffer.allocUnsafeSlow(part.length);
    c.set(part);
    out.push(c);
  }
  return out;
}

const INFO_HASH = new Uint8Array(20).fill(0xab);
const PEER_ID = new Uint8Array(20).fill(0xcd);
const HANDSHAKE = encodeHandshake({ infoHash: INFO_HASH, peerId: PEER_ID, reserved: new Uint8Array([0, 0, 0, 0, 0, 0x10, 0, 0]) });

// ------------------------------------------------------------------ timing

interface Stopwatch { cpu: NodeJS.CpuUsage; wall: bigint }
interface Elapsed { cpu: number; wall: number } // seconds
function start(): Stopwatch { return { cpu: process.cpuUsage(), wall: process.hrtime.bigint() }; }
function stop(s: Stopwatch): Elapsed {
  const wall = Number(process.hrtime.bigint() - s.wall) / 1e9;
  const u = process.cpuUsage(s.cpu);
  return { cpu: (u.user + u.system) / 1e6, wall };
}

// ------------------------------------------------------------------ parse drivers

interface ParseResult { t: Elapsed; messages: number; pieces: number }

/**
 * One run of ours: RUN_WARMUP_PASSES untimed passes, then `reps` timed passes. The
 * warm-up lets the JIT, malloc and the GC's external-memory limits reach the
 * steady state of a long-lived peer, and absorbs the GC debt left by the
 * previous (other side's) run. (A forced full GC before each run would do the
 * opposite: V8 then shrinks its external-memory limit and collects every few
 * MB for a while, which punishes whichever side allocates assembly buffers.) The consumer reads each block's
 * length, like the baseline's 'piece' listener below.
 */
function parseOurs(chunks: Uint8Array[], reps: number, reuseAssemblyBuffer = false): ParseResult {
  const f = new Framer({ reuseAssemblyBuffer });
  let messages = 0;
  let pieces = 0;
  let bytes = 0;
  let t0: Stopwatch | null = null;
  for (let r = -RUN_WARMUP_PASSES; r < reps; r++) {
    if (r === 0) { t0 = start(); messages = 0; pieces = 0; }
    for (let i = 0; i < chunks.length; i++) {
      f.feed(chunks[i]);
      let m: Message | null;
      while ((m = f.next()) !== null) {
        messages++;
        if (m.type === 'piece') { pieces++; bytes += m.block.length; }
      }
    }
  }
  const t = stop(t0!);
  f.assertDrained();
  if (bytes < 0) log('');
  return { t, messages, pieces };
}

const noop = (): void => {};

function newBaseline(Wire: BaselineCtor): BaselineWire {
  const w = new Wire();
  w.on('error', noop);
  w._write(HANDSHAKE, noop); // the peer's handshake: puts the parser into message mode
  return w;
}

/** One run of the baseline, same protocol as `parseOurs`. */
function parseBaseline(Wire: BaselineCtor, chunks: Uint8Array[], reps: number): ParseResult {
  const w = newBaseline(Wire);
  let pieces = 0;
  let bytes = 0;
  w.on('piece', (...args: unknown[]) => { pieces++; bytes += (args[2] as Uint8Array).length; });
  let t0: Stopwatch | null = null;
  for (let r = -RUN_WARMUP_PASSES; r < reps; r++) {
    if (r === 0) { t0 = start(); pieces = 0; }
    for (let i = 0; i < chunks.length; i++) w._write(chunks[i], noop);
  }
  const t = stop(t0!);
  w.destroy();
  if (bytes < 0) log('');
  return { t, messages: -1, pieces };
}

/** Untimed: both parsers must see exactly the same number of messages of each kind. */
function verifySameMessages(Wire: BaselineCtor, chunks: Uint8Array[], expected: number, label: string): void {
  const f = new Framer();
  const oursByType = new Map<string, number>();
  let ours = 0;
  for (const c of chunks) {
    f.feed(c);
    let m: Message | null;
    while ((m = f.next()) !== null) { ours++; oursByType.set(m.type, (oursByType.get(m.type) ?? 0) + 1); }
  }
  f.assertDrained();
  const w = newBaseline(Wire);
  let base = 0;
  let basePieces = 0;
  const origMsg = w._onMessage;
  const origKa = w._onKeepAlive;
  w._onMessage = function (this: BaselineWire, b: Uint8Array): void { base++; if (b[0] === 7) basePieces++; origMsg.call(this, b); };
  w._onKeepAlive = function (this: BaselineWire): void { base++; origKa.call(this); };
  for (const c of chunks) w._write(c, noop);
  w.destroy();
  const oursPieces = oursByType.get('piece') ?? 0;
  if (ours !== expected || base !== expected || basePieces !== oursPieces) {
    throw new Error(`${label}: message counts differ: expected ${expected}, ours ${ours}, baseline ${base}; pieces ours ${oursPieces} baseline ${basePieces}`);
  }
  log(`  verified ${label}: ${expected} messages parsed by both (${[...oursByType].map(([k, v]) => `${k}=${v}`).join(' ')})`);
}

// ------------------------------------------------------------------ cases

/** Per-run rates by CPU time (primary) and wall time (reported in `extra`). */
class Samples {
  readonly cpu: number[] = [];
  readonly wall: number[] = [];
  add(amount: number, t: Elapsed): void {
    this.cpu.push(amount / t.cpu);
    this.wall.push(amount / t.wall);
  }
}

function emit(name: string, unit: string, ours: Samples, base: Samples, extra: Record<string, number | string | null>): void {
  const wallOurs = median(ours.wall);
  const wallBase = median(base.wall);
  report(makeCase({
    bench: 'wire', case: name, unit, ours: ours.cpu, baseline: base.cpu, baselineName: BASELINE_NAME,
    extra: { ...extra, clock: 'cpu', wall_ours: Math.round(wallOurs), wall_baseline: Math.round(wallBase),
      wall_ratio: Math.round((wallOurs / wallBase) * 100) / 100,
      // Runs are paired (alternating), so the median of per-pair ratios is robust to load drifting during the bench.
      paired_ratio_median: Math.round(median(ours.cpu.map((x, i) => x / base.cpu[i])) * 100) / 100 },
  }));
}

const fmt = (x: number, unit: string): string => unit === 'MB/s' ? `${x.toFixed(0)} MB/s` : `${(x / 1e6).toFixed(2)} M/s`;

async function main(): Promise<void> {
  const Wire = await loadBaseline();
  const t0 = Date.now();

  log(`building ${STREAM_BYTES >> 20} MiB realistic stream…`);
  const real = realisticStream(STREAM_BYTES);
  const reps = Math.ceil(PARSE_TOTAL / real.data.length);
  const realPieces = countPieces(real.data);
  log(`  ${real.messages} messages, ${real.data.length} bytes; ${reps} passes per run = ${(reps * real.data.length / 2 ** 30).toFixed(2)} GiB`);

  for (const [name, size] of [['parse-1KiB', 1024], ['parse-16KiB', 16384], ['parse-64KiB', 65536]] as const) {
    const chunks = chunked(real.data, size);
    verifySameMessages(Wire, chunks, real.messages, name);
    // Untimed warm-up runs of both sides: settle the JIT and the GC's heap and
    // external-memory limits after building this case's chunks.
    parseOurs(chunks, WARMUP_PASSES);
    parseBaseline(Wire, chunks, WARMUP_PASSES);
    const ours = new Samples();
    const base = new Samples();
    const borrowed = new Samples();
    const mb = (reps * real.data.length) / 1e6;
    for (let run = 0; run < RUNS; run++) {
      for (const who of run % 2 === 0 ? ['ours', 'base'] : ['base', 'ours']) {
        if (who === 'ours') {
          const r = parseOurs(chunks, reps);
          if (r.messages !== real.messages * reps) throw new Error(`${name}: ours parsed ${r.messages}, expected ${real.messages * reps}`);
          ours.add(mb, r.t);
        } else {
          const r = parseBaseline(Wire, chunks, reps);
          if (r.pieces !== realPieces * reps) throw new Error(`${name}: baseline emitted ${r.pieces} pieces, expected ${realPieces * reps}`);
          base.add(mb, r.t);
        }
      }
      // For reference only (not the headline): the opt-in reuseAssemblyBuffer
      // mode, for consumers that copy each block before pulling the next message.
      const rb = parseOurs(chunks, reps, true);
      if (rb.messages !== real.messages * reps) throw new Error(`${name}: borrowed mode parsed ${rb.messages}`);
      borrowed.add(mb, rb.t);
      log(`  ${name} run ${run + 1}: ours ${fmt(ours.cpu[run], 'MB/s')}, baseline ${fmt(base.cpu[run], 'MB/s')} (cpu time); ours with reuseAssemblyBuffer ${fmt(borrowed.cpu[run], 'MB/s')}`);
    }
    const mBorrowed = median(borrowed.cpu);
    emit(name, 'MB/s', ours, base, { chunk_bytes: size, bytes_per_run: reps * real.data.length,
      ours_reuse_assembly_buffer: Math.round(mBorrowed), ratio_reuse_assembly_buffer: Math.round((mBorrowed / median(base.cpu)) * 100) / 100 });
  }

  // decode-small: only non-piece messages, 64 KiB chunks.
  {
    const small = smallStream(SMALL_STREAM_BYTES);
    const sreps = Math.ceil(SMALL_TOTAL / small.data.length);
    const chunks = chunked(small.data, 65536);
    verifySameMessages(Wire, chunks, small.messages, 'decode-small');
    parseOurs(chunks, WARMUP_PASSES);
    parseBaseline(Wire, chunks, WARMUP_PASSES);
    const ours = new Samples();
    const base = new Samples();
    const n = small.messages * sreps;
    for (let run = 0; run < RUNS; run++) {
      for (const who of run % 2 === 0 ? ['ours', 'base'] : ['base', 'ours']) {
        if (who === 'ours') {
          const r = parseOurs(chunks, sreps);
          if (r.messages !== n) throw new Error(`decode-small: ours parsed ${r.messages}, expected ${n}`);
          ours.add(n, r.t);
        } else {
          base.add(n, parseBaseline(Wire, chunks, sreps).t);
        }
      }
      log(`  decode-small run ${run + 1}: ours ${fmt(ours.cpu[run], 'msgs/s')}, baseline ${fmt(base.cpu[run], 'msgs/s')}`);
    }
    emit('decode-small', 'msgs/s', ours, base, { messages_per_run: n, chunk_bytes: 65536 });
  }

  // encode-piece: bytes ready for the socket. Ours: the 13-byte header (the block
  // is written beside it with writev); baseline: wire.piece(), which pushes its
  // header and the block into its readable side, drained by a 'data' listener.
  {
    const block = new Uint8Array(BLOCK);
    const ours = new Samples();
    const base = new Samples();
    const whole: number[] = [];
    let sink = 0;
    for (let run = 0; run < RUNS; run++) {
      for (const who of run % 2 === 0 ? ['ours', 'base'] : ['base', 'ours']) {
        if (who === 'ours') {
          for (let i = 0; i < 20000; i++) sink += encodePieceHeader(i, 0, BLOCK)[3]; // warm-up
          let s = start();
          for (let i = 0; i < ENCODE_COUNT; i++) sink += encodePieceHeader(i >>> 4, (i & 15) * BLOCK, BLOCK)[3];
          ours.add(ENCODE_COUNT, stop(s));
          // For reference: the whole frame in one buffer (copies the block).
          const k = ENCODE_COUNT >> 3;
          s = start();
          for (let i = 0; i < k; i++) sink += encodeMessage({ type: 'piece', index: i >>> 4, begin: (i & 15) * BLOCK, block })[3];
          whole.push(k / stop(s).cpu);
        } else {
          const w = new Wire();
          w.on('error', noop);
          w.on('data', noop); // flowing, as when piped to a socket
          for (let i = 0; i < 2000; i++) w.piece(i, 0, block); // warm-up
          const s = start();
          for (let i = 0; i < ENCODE_COUNT; i++) w.piece(i >>> 4, (i & 15) * BLOCK, block);
          base.add(ENCODE_COUNT, stop(s));
          w.destroy();
          await new Promise((r) => setImmediate(r));
        }
      }
      log(`  encode-piece run ${run + 1}: ours ${fmt(ours.cpu[run], 'msgs/s')}, baseline ${fmt(base.cpu[run], 'msgs/s')}`);
    }
    if (sink === -1) log('');
    emit('encode-piece', 'msgs/s', ours, base, { block_bytes: BLOCK, ours_whole_frame_copy_msgs_per_s: Math.round(median(whole)) });
  }

  log(`bench:wire done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

let pieceCountCache: { data: Uint8Array; n: number } | null = null;
/** Number of piece frames in a stream (walks the length prefixes; cached). */
function countPieces(data: Uint8Array): number {
  if (pieceCountCache?.data === data) return pieceCountCache.n;
  let n = 0;
  for (let o = 0; o < data.length;) {
    const len = ((data[o] << 24) | (data[o + 1] << 16) | (data[o + 2] << 8) | data[o + 3]) >>> 0;
    if (len > 0 && data[o + 4] === 7) n++;
    o += 4 + len;
  }
  pieceCountCache = { data, n };
  return n;
}

main().catch((e: unknown) => {
  if (!jsonMode) console.error(e);
  else process.stderr.write(String(e instanceof Error ? e.stack : e) + '\n');
  process.exit(1);
});
