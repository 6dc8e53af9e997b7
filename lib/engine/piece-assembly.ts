/**
 * Pieces being downloaded, assembled in memory until all their blocks are in, then
 * hashed and written. One buffer per open piece, taken from a small free list of
 * full-size buffers (reused: no allocation per piece in steady state). The number of
 * pieces open at once is capped (`maxPieces`), which bounds download memory to
 * about maxPieces × pieceLength whatever the torrent size; the session does not open
 * a new piece while the cap is reached.
 *
 * Shared buffers are slots of one shared WebAssembly.Memory when the piece length is a
 * multiple of 4 KiB: its base is page-aligned (a plain SharedArrayBuffer's is not), so
 * every slot can be written to disk with O_DIRECT (see storage.ts `aligned`), and
 * workers still hash it in place like any SharedArrayBuffer.
 */
import { DIRECT_IO_ALIGN } from '../files/piece-store.js';

const WASM_PAGE = 65536;

/** The one WebAssembly API used here (the project's TypeScript lib has no DOM/wasm types). */
interface WasmMemoryCtor { new (d: { initial: number; maximum: number; shared: boolean }): { buffer: SharedArrayBuffer } }
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } }).WebAssembly.Memory;

export class PieceAssembly {
  readonly maxPieces: number;
  private readonly pieceLength: number;
  private readonly open = new Map<number, Buffer>();
  private readonly spare: Buffer[] = [];
  /** Buffers out of `open` (being hashed or written) still counted against the cap. */
  private detached = 0;
  /** Page-aligned backing for all slots, or null (separate buffers). */
  private slab: SharedArrayBuffer | null = null;
  private slabSlots = 0;
  private nextSlot = 0;

  /** `shared`: back buffers with SharedArrayBuffers so worker threads can hash them in place. */
  constructor(pieceLength: number, maxPieces: number, private readonly shared = false) {
    this.pieceLength = pieceLength;
    this.maxPieces = Math.max(1, maxPieces);
    if (shared && pieceLength % DIRECT_IO_ALIGN === 0) {
      const pages = Math.ceil((this.maxPieces * pieceLength) / WASM_PAGE);
      try {
        // Reserved up front, committed by the kernel only as slots are first touched.
        this.slab = new WasmMemory({ initial: pages, maximum: pages, shared: true }).buffer;
        this.slabSlots = this.maxPieces;
      } catch {
        this.slab = null; // no room for the reservation: separate buffers, buffered writes
      }
    }
  }

  /** Every buffer handed out starts on a DIRECT_IO_ALIGN boundary (O_DIRECT writes are possible). */
  get aligned(): boolean { return this.slab !== null; }

  /** Pieces open or being written. */
  get size(): number { return this.open.size + this.detached; }
  get full(): boolean { return this.size >= this.maxPieces; }
  has(index: number): boolean { return this.open.has(index); }

  /** Open `index` (no-op if open). False when the cap is reached. */
  openPiece(index: number): boolean {
    if (this.open.has(index)) return true;
    if (this.full) return false;
    this.open.set(index, this.spare.pop() ?? this.alloc());
    return true;
  }

  private alloc(): Buffer {
    // Open + detached pieces never exceed maxPieces, so the slab has a free slot; the
    // fallback only guards against a counting bug (its buffer is simply unaligned).
    if (this.slab !== null && this.nextSlot < this.slabSlots) return Buffer.from(this.slab, this.pieceLength * this.nextSlot++, this.pieceLength);
    return this.shared ? Buffer.from(new SharedArrayBuffer(this.pieceLength)) : Buffer.allocUnsafeSlow(this.pieceLength);
  }

  /** Copy a received block in; false if the piece is not open. */
  write(index: number, begin: number, block: Uint8Array): boolean {
    const b = this.open.get(index);
    if (b === undefined || begin + block.length > b.length) return false;
    // Not b.set(): into a SharedArrayBuffer V8's TypedArray copy is a relaxed-atomic
    // memmove (~0.5 CPU s per GiB downloaded in perf); Buffer#fill with a buffer of the
    // range's exact length is one plain memcpy in C++. (fill rejects an empty value.)
    if (block.length > 0) b.fill(block, begin, begin + block.length);
    return true;
  }

  /** Take a completed piece out (still counted until `release`). */
  take(index: number, size: number): Buffer | null {
    const b = this.open.get(index);
    if (b === undefined) return null;
    this.open.delete(index);
    this.detached++;
    return b.subarray(0, size);
  }

  /** Give back a buffer from `take`. */
  release(b: Buffer): void {
    this.detached--;
    // A whole buffer from alloc(): its own ArrayBuffer, or a slot of the slab.
    const whole = b.buffer === this.slab
      ? b.byteOffset % this.pieceLength === 0
      : b.buffer.byteLength === this.pieceLength && b.byteOffset === 0;
    if (whole && this.spare.length < this.maxPieces) this.spare.push(Buffer.from(b.buffer, b.byteOffset, this.pieceLength));
  }

  /** Drop an open piece (its blocks returned to the picker). */
  discard(index: number): void {
    const b = this.open.get(index);
    if (b === undefined) return;
    this.open.delete(index);
    if (this.spare.length < this.maxPieces) this.spare.push(b);
  }

  clear(): void {
    this.open.clear();
    this.spare.length = 0;
    // Buffers still out (hashing, writing) keep the slab alive; never hand out its slots again.
    this.slab = null;
  }
}
