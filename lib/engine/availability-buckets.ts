/**
 * Pieces kept sorted by availability, with O(1) updates (the layout libtorrent's
 * piece_picker uses for its priority boundaries).
 *
 * One array `order` holds every piece index. It is split into a "parked" prefix
 * (pieces that are not candidates for a fresh pick: we have them, or they are
 * already being downloaded) followed by one contiguous bucket per availability
 * count, rarest first:
 *
 *   [ parked ... | avail 0 ... | avail 1 ... | avail 2 ... ]
 *     0           start[0]      start[1]      start[2]      n
 *
 * Moving a piece one bucket up or down is a single swap with the bucket's edge
 * element plus one boundary shift, so a `have` costs O(1). Parking or unparking
 * a piece walks it through the buckets below it: O(its availability), which is
 * bounded by the number of peers, never by the number of pieces.
 *
 * Availability here counts only peers that announced pieces one by one; peers
 * that have everything (have_all, or a full bitfield) are counted by the picker
 * as a separate `seeds` number, since they raise every piece equally and do not
 * change the order.
 */
export class AvailabilityBuckets {
  /** Piece indexes, parked prefix then buckets by availability. */
  readonly order: Uint32Array;
  /** pos[piece] = index of the piece in `order`. */
  readonly pos: Uint32Array;
  /** Availability (non-seed peers holding the piece), parked or not. */
  readonly count: Uint32Array;
  /** start[k] = first position of the bucket of availability k; the bucket ends at start[k+1] (or n). */
  private readonly start: number[] = [0];
  private readonly n: number;

  constructor(numPieces: number) {
    this.n = numPieces;
    this.order = new Uint32Array(numPieces);
    this.pos = new Uint32Array(numPieces);
    this.count = new Uint32Array(numPieces);
    for (let i = 0; i < numPieces; i++) {
      this.order[i] = i;
      this.pos[i] = i;
    }
  }

  /** Number of availability buckets (some may be empty). */
  get bucketCount(): number {
    return this.start.length;
  }

  bucketStart(k: number): number {
    return this.start[k];
  }

  bucketEnd(k: number): number {
    return k + 1 < this.start.length ? this.start[k + 1] : this.n;
  }

  /** Number of unparked pieces with availability 0 (nobody we know of has them). */
  get unavailable(): number {
    return this.bucketEnd(0) - this.start[0];
  }

  /** Number of unparked (free) pieces. */
  get free(): number {
    return this.n - this.start[0];
  }

  isParked(piece: number): boolean {
    return this.pos[piece] < this.start[0];
  }

  private swap(a: number, b: number): void {
    if (a === b) return;
    const pa = this.order[a];
    const pb = this.order[b];
    this.order[a] = pb;
    this.order[b] = pa;
    this.pos[pb] = a;
    this.pos[pa] = b;
  }

  /** Move an unparked piece from bucket k to k+1: swap it to the end of bucket k, which becomes the start of k+1. */
  private up(piece: number, k: number): void {
    if (k + 1 === this.start.length) this.start.push(this.n);
    const last = this.bucketEnd(k) - 1;
    this.swap(this.pos[piece], last);
    this.start[k + 1]--;
  }

  /** Move an unparked piece from bucket k to k-1 (k = 0 means: into the parked prefix). */
  private down(piece: number, k: number): void {
    const first = this.start[k];
    this.swap(this.pos[piece], first);
    this.start[k]++;
  }

  inc(piece: number): void {
    const k = this.count[piece];
    if (k === 0xffffffff) return; // cannot happen with real peer counts; never wrap
    this.count[piece] = k + 1;
    if (!this.isParked(piece)) this.up(piece, k);
  }

  dec(piece: number): void {
    const k = this.count[piece];
    if (k === 0) return; // tolerate a caller that double-removes; availability never goes negative
    this.count[piece] = k - 1;
    if (!this.isParked(piece)) this.down(piece, k);
  }

  /** Take a piece out of the candidate buckets (we have it, or it is being downloaded). O(availability). */
  park(piece: number): void {
    if (this.isParked(piece)) return;
    for (let k = this.count[piece]; k >= 0; k--) this.down(piece, k);
  }

  /** Put a parked piece back into the bucket of its availability. O(availability). */
  unpark(piece: number): void {
    if (!this.isParked(piece)) return;
    // Swap to the last parked slot, which becomes the first slot of bucket 0 ...
    this.swap(this.pos[piece], this.start[0] - 1);
    this.start[0]--;
    // ... then walk up to its own bucket.
    const target = this.count[piece];
    for (let k = 0; k < target; k++) this.up(piece, k);
  }

  /** Test helper: O(n) structural check. Throws on the first inconsistency. */
  check(): void {
    for (let i = 0; i < this.n; i++) {
      if (this.order[this.pos[i]] !== i) throw new Error(`buckets: pos/order mismatch at piece ${i}`);
    }
    for (let k = 0; k < this.start.length; k++) {
      const s = this.start[k];
      const e = this.bucketEnd(k);
      if (s > e) throw new Error(`buckets: bucket ${k} has negative size`);
      for (let p = s; p < e; p++) {
        const piece = this.order[p];
        if (this.count[piece] !== k) throw new Error(`buckets: piece ${piece} with availability ${this.count[piece]} sits in bucket ${k}`);
      }
    }
  }
}
