/**
 * The peer-wire framer: push bytes in with `feed(chunk)`, pull whole messages
 * out with `next()` (null = need more data). Sans-IO, no events, no timers.
 *
 * Memory and copying (why it is fast and safe against hostile peers):
 * - `feed` never concatenates: it keeps the chunk as a view in a small queue.
 *   (Only when the chunk lies wholly inside a frame that is being assembled
 *   does `feed` copy it straight into that frame's buffer: that is the
 *   frame's one copy, and it keeps 1-byte chunks from piling up as objects.)
 * - A frame wholly inside one chunk is decoded in place; its payload
 *   (piece block, bitfield, extended payload) is a view of the chunk: a plain
 *   `Uint8Array` (not a Buffer) over the chunk's memory.
 * - A frame that straddles chunks is copied once into an assembly buffer:
 *   frames up to a 16 KiB piece are carved from a slab of exactly four such
 *   frames (a kept block view pins its slab, like Node's own Buffer pool);
 *   frames of at most 64 bytes use the V8 heap; larger frames get a buffer
 *   sized by the bytes that have ARRIVED (64 KiB floor, at most the frame
 *   length) that grows geometrically, so only those are re-copied, on average
 *   at most once more. A claimed length alone never allocates more than one
 *   floor-sized buffer.
 * - Opt-in `reuseAssemblyBuffer`: straddling frames reuse one scratch buffer
 *   and payloads are only valid until the next `next()` (no allocation at all
 *   in steady state; for consumers that copy each block at once).
 * - The length prefix is checked against the cap (and 2^31) as soon as its 4
 *   bytes are in, before any body byte is stored.
 *
 * Errors are `WireError`s and sticky: once `next()` has thrown, it throws the
 * same error again, and `feed` drops further input.
 *
 * Payload views alias the fed chunks (or an assembly buffer, never reused in
 * the default mode), so the caller must not overwrite a chunk after feeding it.
 */

import { WireError, invalidArgument } from './errors.js';
import { decodeFrame, readU32 } from './codec.js';
import type { Message } from './messages.js';

/** Default cap on a frame's length (the prefix value): 1 MiB of block or bitfield plus headers. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 0x100000 + 13;
/** Lengths at or above 2^31 are refused whatever the cap (anacrolix, libtorrent). */
const HARD_LIMIT = 0x7fffffff;
/**
 * Straddling frames up to one standard piece message (16 KiB block) are carved
 * from a shared slab, like Node's own Buffer pool but larger. The slab holds
 * exactly four such frames (no slack: every external byte V8 sees brings the
 * next scavenge closer) and stays below malloc's 128 KiB mmap threshold, so
 * slabs recycle heap memory instead of page-faulting fresh pages.
 */
const SLAB_MAX_FRAME = 16 * 1024 + 9;
const SLAB_SIZE = 4 * SLAB_MAX_FRAME;
/** Frames this small are assembled in an on-heap typed array (V8 keeps ≤ 64 bytes in its heap). */
const ON_HEAP_FRAME = 64;
/** Smallest assembly buffer for a larger straddling frame (then it grows by arrival). */
const ASSEMBLY_FLOOR = 64 * 1024;

/** A plain Uint8Array view (cheaper than Buffer#subarray, which runs JS). */
function view(b: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, length);
}

/** An uninitialised (not zero-filled) plain Uint8Array: its contents are overwritten before use. */
function allocRaw(n: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

export interface FramerOptions {
  /** Largest accepted frame length (the value of the length prefix). Default 1 MiB + 13. */
  maxMessageLength?: number;
  /**
   * Borrowed payloads (opt-in, for consumers that copy blocks synchronously,
   * like a piece-assembly buffer): a frame that straddles chunks is assembled
   * in one scratch buffer reused for the next straddling frame, so steady
   * state allocates nothing and GC has nothing to collect. The price: a
   * payload view (piece block, bitfield, extended payload) is valid only
   * until the next call to `next()`. Default false: every payload stays valid
   * for as long as the caller keeps it (and does not overwrite fed chunks).
   */
  reuseAssemblyBuffer?: boolean;
}

const EMPTY = new Uint8Array(0);

export class Framer {
  private max: number;
  /** Current chunk and read offset in it. */
  private cur: Uint8Array = EMPTY;
  private pos = 0;
  /** Further chunks waiting behind `cur` (queue with a moving head). */
  private queue: Uint8Array[] = [];
  private qHead = 0;
  /** Bytes fed and not yet handed out as messages (including a partly assembled frame). */
  private _buffered = 0;
  /** Length prefix bytes collected across chunks. */
  private readonly hdr = new Uint8Array(4);
  private hdrLen = 0;
  /** Frame being assembled across chunks: its length (-1 = none), buffer and fill. */
  private need = -1;
  private partial: Uint8Array = EMPTY;
  private partialLen = 0;
  /** Slab that small straddling frames are carved from, and its next free offset. */
  private slab: Uint8Array = EMPTY;
  private slabOff = 0;
  private error: WireError | null = null;
  private ended = false;
  private readonly reuse: boolean;
  /** reuseAssemblyBuffer mode: the scratch buffer straddling frames are assembled in. */
  private scratch: Uint8Array = EMPTY;

  constructor(opts?: FramerOptions) {
    const max = opts?.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
    if (!(Number.isInteger(max) && max >= 0 && max <= HARD_LIMIT)) {
      throw invalidArgument(`maxMessageLength must be an integer in [0, 2^31), got ${max}`);
    }
    this.max = max;
    this.reuse = opts?.reuseAssemblyBuffer === true;
  }

  /** Bytes fed that have not yet been returned as (part of) a message. */
  get buffered(): number { return this._buffered; }

  /**
   * Bytes of the buffer currently reserved for assembling a straddling frame
   * (0 when none). Bounded by what has arrived (or one 64 KiB slab/floor),
   * never by the length a peer claims; exposed for memory accounting and tests.
   */
  get assemblyBytes(): number { return this.need < 0 ? 0 : this.partial.length; }

  /**
   * True while bytes of a fed chunk backed by `buffer` are still to be read. The
   * socket adapter reuses its read buffers only once no fed chunk needs them (the
   * straddling part of a frame is copied out, so only unread chunks count).
   */
  holds(buffer: ArrayBufferLike): boolean {
    if (this.pos < this.cur.length && this.cur.buffer === buffer) return true;
    for (let i = this.qHead; i < this.queue.length; i++) if (this.queue[i].buffer === buffer) return true;
    return false;
  }

  /**
   * Lower the cap for the frames whose length prefix is still to come (a connection
   * tightens it once it knows the torrent's piece count). Never raises it.
   */
  lowerMaxMessageLength(max: number): void {
    if (Number.isInteger(max) && max >= 0 && max < this.max) this.max = max;
  }

  /** The largest frame length this framer accepts. */
  get maxMessageLength(): number { return this.max; }

  /** The sticky error, if any. */
  get failed(): WireError | null { return this.error; }

  /**
   * Queue a chunk (kept as a view, not copied). Input after an error is
   * dropped; input after `end()` is a local error.
   */
  feed(chunk: Uint8Array): void {
    if (this.error !== null) return;
    if (this.ended) throw invalidArgument('feed() after end()');
    const n = chunk.length;
    if (n === 0) return;
    this._buffered += n;
    if (this.pos === this.cur.length) {
      // Invariant: the queue is empty whenever `cur` is exhausted.
      if (this.need >= 0 && n < this.need - this.partialLen) {
        // Middle of a straddling frame (the common case with small TCP reads):
        // this is the frame's one copy, done now so the chunk is not kept.
        if (this.partialLen + n > this.partial.length) this.grow(this.need);
        this.partial.set(chunk, this.partialLen);
        this.partialLen += n;
        return;
      }
      this.cur = chunk;
      this.pos = 0;
    } else {
      this.queue.push(chunk);
    }
  }

  /**
   * The next whole message, or null if more bytes are needed. After `end()`,
   * a stream that stops inside a frame throws 'TRUNCATED' instead of null.
   */
  next(): Message | null {
    if (this.error !== null) throw this.error;
    // Fast path: at a frame boundary and the whole frame is in the current chunk.
    if (this.need < 0 && this.hdrLen === 0) {
      const cur = this.cur;
      const pos = this.pos;
      const avail = cur.length - pos;
      if (avail >= 4) {
        const len = ((cur[pos] << 24) | (cur[pos + 1] << 16) | (cur[pos + 2] << 8) | cur[pos + 3]) >>> 0;
        if (len <= avail - 4 && len <= this.max) {
          const end = pos + 4 + len;
          this._buffered -= 4 + len;
          if (end === cur.length) this.advance();
          else this.pos = end;
          try {
            return decodeFrame(cur, pos + 4, len);
          } catch (e) {
            throw this.fail(e);
          }
        }
      }
    }
    return this.slow();
  }

  /**
   * Mark the end of the stream. Complete messages still buffered can be pulled;
   * then `next()` throws 'TRUNCATED' if a partial frame remains (null if not).
   */
  end(): void {
    this.ended = true;
  }

  /** Throw 'TRUNCATED' if any byte is buffered (call after `next()` returned null). */
  assertDrained(): void {
    if (this.error !== null) throw this.error;
    if (this._buffered !== 0) {
      throw this.fail(new WireError('TRUNCATED', `stream ended with ${this._buffered} bytes of an incomplete message`));
    }
  }

  // ------------------------------------------------------------ internals

  /** Move to the next queued chunk; false (and drop references) if none. */
  private advance(): boolean {
    const q = this.queue;
    if (this.qHead < q.length) {
      this.cur = q[this.qHead];
      q[this.qHead++] = EMPTY; // release the reference for GC
      if (this.qHead === q.length) {
        q.length = 0;
        this.qHead = 0;
      }
      this.pos = 0;
      return true;
    }
    this.cur = EMPTY;
    this.pos = 0;
    return false;
  }

  private needData(): null {
    if (this.ended && this._buffered !== 0) {
      throw this.fail(new WireError('TRUNCATED', `stream ended with ${this._buffered} bytes of an incomplete message`));
    }
    return null;
  }

  private fail(e: unknown): WireError {
    const err = e instanceof WireError ? e : new WireError('ILLEGAL_STATE', `framer: ${String(e)}`, false);
    this.error = err;
    // Drop everything buffered: the connection is over.
    this.queue.length = 0;
    this.qHead = 0;
    this.cur = EMPTY;
    this.pos = 0;
    this.partial = EMPTY;
    this.slab = EMPTY;
    this.scratch = EMPTY;
    this.need = -1;
    this.hdrLen = 0;
    this._buffered = 0;
    return err;
  }

  private checkLength(len: number): void {
    if (len > HARD_LIMIT) {
      throw this.fail(new WireError('LENGTH_TOO_LARGE', `length prefix ${len} is not below 2^31`));
    }
    if (len > this.max) {
      throw this.fail(new WireError('LENGTH_TOO_LARGE', `length prefix ${len} exceeds the cap of ${this.max}`));
    }
  }

  private slow(): Message | null {
    let len = this.need;
    if (len < 0) {
      // 1. The length prefix.
      if (this.hdrLen === 0 && this.cur.length - this.pos >= 4) {
        len = readU32(this.cur, this.pos);
        this.checkLength(len);
        this.pos += 4;
      } else {
        while (this.hdrLen < 4) {
          if (this.pos === this.cur.length && !this.advance()) return this.needData();
          this.hdr[this.hdrLen++] = this.cur[this.pos++];
        }
        this.hdrLen = 0;
        len = readU32(this.hdr, 0);
        this.checkLength(len);
      }
      if (this.pos === this.cur.length) this.advance();
      // 2. Body wholly in the current chunk (the prefix was in earlier chunks): a view.
      if (this.cur.length - this.pos >= len) {
        const start = this.pos;
        this.pos += len;
        this._buffered -= 4 + len;
        const cur = this.cur;
        if (this.pos === cur.length) this.advance();
        return this.decode(cur, start, len);
      }
      // 3. Body straddles chunks.
      this.need = len;
      this.partialLen = 0;
      if (this.reuse && len <= SLAB_MAX_FRAME) {
        // Borrowed mode: the previous frame's payload is released by this call.
        if (this.scratch.length === 0) this.scratch = allocRaw(SLAB_MAX_FRAME);
        this.partial = len === SLAB_MAX_FRAME ? this.scratch : view(this.scratch, 0, len);
      } else if (len <= ON_HEAP_FRAME) {
        this.partial = new Uint8Array(len);
      } else if (len <= SLAB_MAX_FRAME) {
        // Small frame: carve it from the slab (a fixed-size allocation, whatever the claim).
        if (this.slabOff + len > this.slab.length) {
          this.slab = allocRaw(SLAB_SIZE);
          this.slabOff = 0;
        }
        this.partial = view(this.slab, this.slabOff, len);
        this.slabOff += len;
      } else {
        // Large frame: allocate by what has arrived, not by `len`, and grow as bytes come.
        const arrived = this._buffered - 4;
        this.partial = allocRaw(Math.min(len, Math.max(arrived, ASSEMBLY_FLOOR)));
      }
    }
    // 4. Fill the assembly buffer from the queued chunks.
    while (this.partialLen < len) {
      if (this.pos === this.cur.length && !this.advance()) return this.needData();
      const cur = this.cur;
      const pos = this.pos;
      const n = Math.min(len - this.partialLen, cur.length - pos);
      if (this.partialLen + n > this.partial.length) this.grow(len);
      if (n < 32) {
        const p = this.partial;
        let o = this.partialLen;
        for (let i = pos; i < pos + n; i++) p[o++] = cur[i];
      } else {
        this.partial.set(pos === 0 && n === cur.length ? cur : view(cur, pos, n), this.partialLen);
      }
      this.partialLen += n;
      this.pos = pos + n;
    }
    const frame = this.partial;
    this.partial = EMPTY;
    this.need = -1;
    this._buffered -= 4 + len;
    if (this.pos === this.cur.length) this.advance();
    return this.decode(frame, 0, len);
  }

  /** Grow the assembly buffer: double, or to what has arrived, never past the frame length. */
  private grow(len: number): void {
    const arrived = this._buffered - 4;
    const cap = Math.min(len, Math.max(this.partial.length * 2, arrived));
    const bigger = allocRaw(cap);
    bigger.set(view(this.partial, 0, this.partialLen));
    this.partial = bigger;
  }

  private decode(b: Uint8Array, off: number, len: number): Message {
    try {
      return decodeFrame(b, off, len);
    } catch (e) {
      throw this.fail(e);
    }
  }
}
