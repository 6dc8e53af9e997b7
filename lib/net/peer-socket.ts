/**
 * Binds one sans-IO PeerConnection to a net.Socket: the only place where the
 * peer wire meets real I/O and a real clock.
 *
 * - 'data' → `conn.receive(chunk, now())`, then events are pulled and handed to
 *   the application's handler one by one.
 * - Read backpressure: a handler may return a Promise; no further event is pulled
 *   until it settles (so e.g. a disk write of a piece completes before the next one
 *   is parsed). Meanwhile bytes keep arriving into the connection's buffer, and the
 *   socket is paused once `conn.bufferedInbound` reaches `readHighWaterMark`,
 *   resumed below half of it.
 * - Write backpressure: queued chunks go to `socket.write` under cork/uncork (a piece
 *   is its 13-byte header and the caller's block, written as two chunks: writev, no
 *   concatenation). When `write` returns false, writing stops until 'drain'; then the
 *   rest goes out and `onDrain` tells the application it may send more.
 * - Time: one timer, armed for `conn.nextTimeout()`.
 * - Errors: a connection error (typed WireError) destroys the socket with it; a socket
 *   error ends the connection as 'SOCKET_ERROR'. `onClose` is called exactly once.
 * - Download rate limit (`readRate`, rate-limiter.ts): every chunk read is charged to it
 *   (protocol bytes too: it is what the socket carries). Reading runs on a small credit
 *   of tokens (a quarter of the limit's depth, 4–64 KiB); when a chunk spends it, more
 *   is taken at once if the limit has it, else reading pauses until the limit grants it.
 *   A socket we opened (SlabReader) also reads at most that much per read, so a chunk
 *   overshoots the credit by little; an accepted socket reads Node's 64 KiB chunks.
 * - Encryption: when the Client attached an MSE layer to the socket (mse-socket.ts), its
 *   handshake runs first and the connection's output is held until it is done; then
 *   received chunks are decrypted in place before `conn.receive`, and written chunks
 *   are encrypted copies.
 *
 * Commands are issued on `conn` directly; call `flush()` afterwards when not inside
 * a handler (handlers are followed by a flush automatically).
 */

import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { PeerConnection, type ConnectionEvent } from '../../wire/connection.js';
import { WireError } from '../../wire/errors.js';
import { takeMse, mseWireError, type MseLayer } from './mse-socket.js';
import type { RatePath, RateTicket } from './rate-limiter.js';

/** Read credit bounds (bytes) under a download limit: a quarter of its depth, within these. */
const MIN_READ_CREDIT = 4 * 1024;
const MAX_READ_CREDIT = 64 * 1024;

/**
 * Reads for a socket WE open (net.connect's `onread`): Node's stream path reads at
 * most 64 KiB per syscall into a freshly allocated buffer, one 'data' event (and one
 * flush of our replies) each. Here the kernel reads straight into the unused tail of
 * a larger slab, so one read takes everything queued up to the tail's size: fewer
 * syscalls, events, allocations (GC) and request flushes per byte.
 *
 * Zero-copy is kept: chunks handed to the parser are views of the slab. A full slab
 * is retired, and read into again only once the connection no longer holds it
 * (`PeerConnection.holdsBuffer`: no unread bytes of it, no unpolled event). Consumers
 * therefore copy what they keep: the wire runs with `borrowPayloads` (a block is valid
 * during its event) and copies extended payloads itself. At 1 GiB over loopback reads
 * average 190–370 KB with 256 KiB–1 MiB slabs, against 64 KiB per 'data' chunk.
 */
/**
 * Released read slabs by size, shared by every SlabReader in the process: a slab one
 * connection has let go of serves the next that needs one. Bounded (bytes per size);
 * beyond it, released slabs are left to the GC.
 */
const freeSlabs = new Map<number, Buffer[]>();
const DEFAULT_SLAB = 512 * 1024;
const MAX_FREE_SLAB_BYTES = 16 * 1024 * 1024;

export class SlabReader {
  private slab: Buffer;
  private used = 0;
  private sink: ((chunk: Buffer) => void) | null = null;
  /** Does the parser still need bytes of this buffer? Until attached: assume so. */
  private held: (buffer: ArrayBufferLike) => boolean = () => true;
  /** Largest read while a download limit applies (0: the slab's whole tail). */
  maxRead = 0;
  /**
   * Full slabs, oldest first, waiting until the parser no longer holds them; then they
   * are read into again. Reusing them (instead of a fresh allocation every 512 KiB)
   * spares V8 the external-memory pressure that forced ~25 full GCs per GiB received,
   * and the kernel the page faults of fresh memory.
   */
  private retired: Buffer[] = [];
  /** Bytes read before a PeerSocket attached (none in practice: it attaches synchronously). */
  private early: Buffer[] = [];
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };

  /**
   * `maxRetired`: full slabs remembered while the parser still holds them; the default
   * covers PeerSocket's read high-water mark (4 MiB) of unparsed bytes in 512 KiB slabs.
   */
  constructor(private readonly slabSize = DEFAULT_SLAB, private readonly minRead = 64 * 1024, private readonly maxRetired = 10) {
    this.slab = this.fresh();
    this.onread = { buffer: () => this.next(), callback: (n, buf) => { this.deliver(n, buf); return true; } };
  }

  /**
   * @internal The PeerSocket that parses what is read. `held(buffer)`: whether the
   * parser may still read a chunk of that buffer (or hand out views of it).
   */
  attach(sink: (chunk: Buffer) => void, held: (buffer: ArrayBufferLike) => boolean): void {
    this.sink = sink;
    this.held = held;
    const early = this.early;
    this.early = [];
    for (const c of early) sink(c);
  }

  private next(): Uint8Array {
    if (this.slab.length - this.used < this.minRead) {
      this.retired.push(this.slab);
      this.release();
      // Bounded: a parser that holds on longer lets the oldest go to the GC.
      if (this.retired.length > this.maxRetired) this.retired.shift();
      this.slab = this.fresh();
      this.used = 0;
    }
    const tail = this.slab.subarray(this.used);
    return this.maxRead === 0 || tail.length <= this.maxRead ? tail : tail.subarray(0, this.maxRead);
  }

  /** A slab to read into: a released one if any, else a new one. */
  private fresh(): Buffer {
    return freeSlabs.get(this.slabSize)?.pop() ?? Buffer.allocUnsafeSlow(this.slabSize);
  }

  /** Retired slabs the parser no longer holds go to the shared free list. */
  private release(): void {
    let keep = 0;
    for (const b of this.retired) {
      if (this.held(b.buffer)) { this.retired[keep++] = b; continue; }
      let list = freeSlabs.get(b.length);
      if (list === undefined) { list = []; freeSlabs.set(b.length, list); }
      if ((list.length + 1) * b.length <= MAX_FREE_SLAB_BYTES) list.push(b);
    }
    this.retired.length = keep;
  }

  private deliver(n: number, buf: Uint8Array): void {
    const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
    // Mark the bytes delivered, whichever tail Node read into (it may have asked twice).
    if (buf.buffer === this.slab.buffer) this.used = Math.max(this.used, buf.byteOffset - this.slab.byteOffset + n);
    if (this.sink !== null) this.sink(chunk);
    else this.early.push(chunk);
  }
}

const slabReaders = new WeakMap<Socket, SlabReader>();

/** net.connect whose socket a PeerSocket will read through a SlabReader. */
export function connectSlabbed(opts: NetConnectOpts, reader: SlabReader = new SlabReader()): Socket {
  const socket = connect({ ...opts, onread: reader.onread });
  slabReaders.set(socket, reader);
  return socket;
}

export type PeerEventHandler = (ev: ConnectionEvent, peer: PeerSocket) => void | Promise<void>;

export interface PeerSocketOptions {
  /** Called for every connection event, in order. May return a Promise (backpressure). */
  onEvent: PeerEventHandler;
  /** Called once when the socket is gone: null for a clean end, else the typed reason. */
  onClose?: (reason: WireError | null, peer: PeerSocket) => void;
  /** Called when the socket drained after `write` returned false. */
  onDrain?: (peer: PeerSocket) => void;
  /** Pause reading when this many received bytes wait to be parsed. Default 4 MiB. */
  readHighWaterMark?: number;
  /** The clock (ms). Default Date.now. */
  now?: () => number;
  /** Download limit charged for every byte read (null: none; `setReadRate` sets it later). */
  readRate?: RatePath | null;
}

export class PeerSocket {
  readonly socket: Socket;
  readonly conn: PeerConnection;
  private readonly onEvent: PeerEventHandler;
  private readonly onCloseCb: ((reason: WireError | null, peer: PeerSocket) => void) | undefined;
  private readonly onDrainCb: ((peer: PeerSocket) => void) | undefined;
  private readonly hwm: number;
  private readonly clock: () => number;

  private pumping = false;
  /** A handler's Promise is pending: no more events are pulled. */
  private waiting = false;
  /** Reading paused: too many bytes unparsed (high-water mark), waiting for download tokens, and the socket's state. */
  private hwmPaused = false;
  private ratePaused = false;
  private readPaused = false;
  private readRate: RatePath | null;
  /** Download tokens left for reading (negative: a chunk overshot them). */
  private readCredit = 0;
  /** Reads have been charged since the limit was last lifted. */
  private readMetered = false;
  private readTicket: RateTicket | null = null;
  private readonly reader: SlabReader | undefined;
  private writeBlocked = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** MSE/PE layer, if the socket has one (null: plain BitTorrent). */
  private readonly mse: MseLayer | null;

  constructor(socket: Socket, conn: PeerConnection, opts: PeerSocketOptions) {
    this.socket = socket;
    this.conn = conn;
    this.onEvent = opts.onEvent;
    this.onCloseCb = opts.onClose;
    this.onDrainCb = opts.onDrain;
    this.hwm = opts.readHighWaterMark ?? 4 * 1024 * 1024;
    this.clock = opts.now ?? Date.now;
    this.readRate = opts.readRate ?? null;
    this.reader = slabReaders.get(socket);
    socket.setNoDelay(true);
    this.mse = takeMse(socket);
    if (this.mse !== null) {
      // An initiator's BitTorrent handshake is already queued: it travels as MSE's IA.
      const ia: Uint8Array[] = [];
      for (let c = conn.pollTransmit(); c !== null; c = conn.pollTransmit()) ia.push(c);
      try {
        this.mse.begin(Buffer.concat(ia), this.clock());
      } catch (e) {
        queueMicrotask(() => this.finish(mseWireError(e)));
      }
    }
    const onChunk = (chunk: Buffer): void => {
      if (this.closed) return;
      const now = this.clock();
      const rate = this.readRate;
      if (rate !== null && rate.limited) this.chargeRead(chunk.length, rate);
      else if (this.readMetered) this.unmeter();
      if (this.mse !== null) {
        const wasReady = this.mse.ready;
        let data: Uint8Array | null;
        try {
          data = this.mse.receive(chunk, now);
        } catch (e) {
          this.finish(mseWireError(e));
          return;
        }
        if (!wasReady) this.writeHandshake();
        if (data === null) { this.schedule(); return; }
        if (data.length > 0) this.conn.receive(data, now);
      } else {
        this.conn.receive(chunk, now);
      }
      this.pump();
    };
    // A socket from connectSlabbed delivers through its reader ('data' never fires);
    // the listener still puts the stream in flowing mode so that 'end' is emitted.
    socket.on('data', onChunk);
    // Its buffers are reused once the connection holds no unread bytes of them and no
    // unpolled event (a view). A handler is done with a block when it returns, even with
    // a Promise (backpressure): it copies what it keeps (ConnectionEvent 'piece').
    this.reader?.attach(onChunk, (buffer) => this.closed || this.conn.holdsBuffer(buffer));
    socket.on('end', () => {
      if (this.closed) return;
      if (this.mse !== null && !this.mse.ready) {
        try { this.mse.receiveEnd(); } catch (e) { this.finish(mseWireError(e)); return; }
      }
      this.conn.receiveEnd();
      this.pump();
    });
    socket.on('drain', () => {
      if (this.closed) return;
      this.writeBlocked = false;
      this.flush();
      if (!this.writeBlocked) this.onDrainCb?.(this);
      // Parsing may have stopped on a full transmit queue (maxBufferedOutbound).
      this.pump();
    });
    socket.on('error', (err: Error) => {
      this.finish(new WireError('SOCKET_ERROR', err.message));
    });
    socket.on('close', () => {
      this.finish(this.conn.error ?? (this.conn.state === 'closed' ? null : new WireError('SOCKET_ERROR', 'socket closed')));
    });
    // Whatever the connection queued before binding (an initiator's handshake), or MSE's first step.
    this.writeHandshake();
    this.flush();
    this.schedule();
  }

  /** True while `write` backpressure holds queued output in the connection. */
  get writeBlockedNow(): boolean { return this.writeBlocked; }
  get readPausedNow(): boolean { return this.readPaused; }
  get isClosed(): boolean { return this.closed; }
  /** After an MSE/PE handshake, the stream's method ('rc4' or 'plaintext'); null for plain BitTorrent or while handshaking. */
  get mseMethod(): 'rc4' | 'plaintext' | null {
    const r = this.mse?.result ?? null;
    return r !== null && r.handshake === 'mse' ? r.method : null;
  }

  /** Charge every byte read from now on to `rate` (the torrent's download limit; null: none). */
  setReadRate(rate: RatePath | null): void {
    if (this.readTicket !== null) { this.readRate?.cancel(this.readTicket); this.readTicket = null; }
    this.readRate = rate;
    this.unmeter();
  }

  /** Write what the connection has queued (stops at write backpressure). */
  flush(): void {
    if (this.closed || this.writeBlocked) return;
    const mse = this.mse;
    if (mse !== null && !mse.ready) return; // the method is not known yet
    let chunk = this.conn.pollTransmit();
    if (chunk === null) return;
    const s = this.socket;
    s.cork();
    try {
      while (chunk !== null) {
        if (!(mse === null ? s.write(chunk) : mse.write(s, chunk))) { this.writeBlocked = true; break; }
        chunk = this.conn.pollTransmit();
      }
    } finally {
      s.uncork();
    }
    this.schedule();
  }

  /** Gracefully close: write what is queued, then end the socket. */
  close(): void {
    if (this.closed) return;
    // Drain the connection's queue into the socket regardless of backpressure: it is the last output.
    const mse = this.mse;
    if (mse === null || mse.ready) {
      for (let c = this.conn.pollTransmit(); c !== null; c = this.conn.pollTransmit()) {
        if (mse === null) this.socket.write(c);
        else mse.write(this.socket, c);
      }
    }
    this.conn.close();
    this.socket.end();
  }

  /** Abort at once with a typed reason (the socket is destroyed). */
  destroy(reason: WireError): void {
    if (this.closed) return;
    this.conn.close();
    this.finish(reason);
  }

  // ------------------------------------------------------------------ internals

  /** Write what the MSE handshake has to send (small: a key and padding, or step 4). */
  private writeHandshake(): void {
    const mse = this.mse;
    if (mse === null || this.closed) return;
    for (let c = mse.pollHandshake(); c !== null; c = mse.pollHandshake()) this.socket.write(c);
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    if (this.waiting) { this.updateReadPause(); return; } // bytes pile up while the handler is busy
    this.pumping = true;
    try {
      for (;;) {
        const ev = this.conn.pollEvent();
        if (ev === null) break;
        let r: void | Promise<void>;
        try {
          r = this.onEvent(ev, this);
        } catch (e) {
          this.destroy(appError(e));
          return;
        }
        if (ev.type === 'error') {
          this.finish(ev.error);
          return;
        }
        if (ev.type === 'end') {
          this.flush();
          this.socket.end();
        }
        if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
          this.waiting = true;
          (r as Promise<void>).then(
            () => { this.waiting = false; this.pump(); },
            (e: unknown) => { this.waiting = false; this.destroy(appError(e)); },
          );
          break;
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.closed) return;
    this.flush();
    this.updateReadPause();
    this.schedule();
  }

  private updateReadPause(): void {
    const buffered = this.conn.bufferedInbound;
    if (!this.hwmPaused && buffered >= this.hwm) {
      this.hwmPaused = true;
      this.applyReadPause();
    } else if (this.hwmPaused && buffered < this.hwm / 2) {
      this.hwmPaused = false;
      this.applyReadPause();
    }
  }

  private applyReadPause(): void {
    const pause = this.hwmPaused || this.ratePaused;
    if (pause === this.readPaused || this.closed) return;
    this.readPaused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  /** `n` bytes were read under a download limit: spend credit, and take or wait for more when it runs out. */
  private chargeRead(n: number, rate: RatePath): void {
    this.readMetered = true;
    this.readCredit -= n;
    if (this.readCredit <= 0 && this.readTicket === null) this.topUpRead(rate);
  }

  private topUpRead(rate: RatePath): void {
    const quantum = Math.min(MAX_READ_CREDIT, Math.max(MIN_READ_CREDIT, rate.depth / 4));
    if (this.reader !== undefined) this.reader.maxRead = quantum;
    const need = quantum - this.readCredit;
    if (rate.tryTake(need)) { this.readCredit = quantum; return; }
    this.ratePaused = true;
    this.applyReadPause();
    this.readTicket = rate.wait(need, (granted) => {
      this.readTicket = null;
      if (this.closed) return;
      this.readCredit += granted;
      // Chunks Node had read before the pause took hold may have spent it already.
      if (this.readCredit <= 0 && rate.limited) { this.topUpRead(rate); return; }
      this.ratePaused = false;
      this.applyReadPause();
    });
  }

  /** No download limit (any more): read freely. */
  private unmeter(): void {
    this.readMetered = false;
    this.readCredit = 0;
    if (this.reader !== undefined) this.reader.maxRead = 0;
    if (this.ratePaused && this.readTicket === null) {
      this.ratePaused = false;
      this.applyReadPause();
    }
  }

  /** Keep one timer armed no later than the connection's next deadline. */
  private schedule(): void {
    if (this.closed) return;
    const m = this.mse?.nextTimeout() ?? null;
    const c = this.conn.nextTimeout();
    const t = m === null ? c : c === null ? m : Math.min(m, c);
    if (t === null) { this.clearTimer(); return; }
    // Deadlines move later with every byte sent or received; a timer that fires early
    // just re-arms, which is far cheaper than re-arming on every chunk.
    if (this.timer !== null && this.timerAt <= t) return;
    this.clearTimer();
    this.timerAt = t;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      if (this.closed) return;
      const now = this.clock();
      if (this.mse !== null) {
        try { this.mse.handleTimeout(now); } catch (e) { this.finish(mseWireError(e)); return; }
      }
      this.conn.handleTimeout(now);
      this.pump();
      this.schedule();
    }, Math.max(0, t - this.clock()));
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; this.timerAt = Infinity; }
  }

  private finish(reason: WireError | null): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    if (this.readTicket !== null) { this.readRate?.cancel(this.readTicket); this.readTicket = null; }
    this.mse?.close();
    if (reason !== null) this.conn.close();
    if (!this.socket.destroyed) {
      if (reason === null) this.socket.end();
      else this.socket.destroy();
    }
    this.onCloseCb?.(reason, this);
  }
}

function appError(e: unknown): WireError {
  if (e instanceof WireError) return e;
  return new WireError('ILLEGAL_STATE', `event handler failed: ${e instanceof Error ? e.message : String(e)}`, false);
}
