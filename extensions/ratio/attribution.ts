/**
 * Who sent each block of the pieces in progress, as the torrent accepted them.
 *
 * The engine runs a connection's `onPieceReceived` hooks and then, with no other
 * connection's code in between, hands the same block to the piece picker, which keeps
 * the FIRST copy of a block and drops later ones (endgame duplicates). So the first
 * arrival recorded here is the copy that went into the piece and was hashed: only
 * that sender is credited for the block. A later copy was never checked by our hash
 * and earns nothing, whatever it held.
 *
 * Bounded: at most `maxBlocks` blocks are tracked (pieces in progress are far fewer);
 * past that, new blocks are not recorded and earn nothing (the node's favour).
 */
export class BlockAttribution<K> {
  private readonly pieces = new Map<number, Map<number, { readonly from: K; readonly length: number }>>();
  /** Pieces whose verdict was given: a late copy of their blocks starts nothing. */
  private readonly decided = new Set<number>();
  private blocks = 0;

  constructor(private readonly maxBlocks = 1 << 18) {}

  /** A block of one of our requests arrived from `from`. */
  received(from: K, index: number, begin: number, length: number): void {
    if (this.blocks >= this.maxBlocks || this.decided.has(index)) return;
    let p = this.pieces.get(index);
    if (p === undefined) this.pieces.set(index, p = new Map());
    else if (p.has(begin)) return;
    p.set(begin, { from, length });
    this.blocks++;
  }

  /**
   * Piece `index` got its verdict: the bytes each sender contributed, and forget the
   * piece. `passed`: a late copy of its blocks is ignored from now on (a piece passes
   * once; should the engine fetch it again, that copy earns nothing more).
   */
  take(index: number, passed: boolean): Map<K, number> {
    const out = new Map<K, number>();
    const p = this.pieces.get(index);
    if (passed) this.decided.add(index);
    if (p === undefined) return out;
    this.pieces.delete(index);
    this.blocks -= p.size;
    for (const { from, length } of p.values()) out.set(from, (out.get(from) ?? 0) + length);
    return out;
  }

  /** Blocks tracked now. */
  get size(): number { return this.blocks; }

  clear(): void {
    this.pieces.clear();
    this.decided.clear();
    this.blocks = 0;
  }
}
