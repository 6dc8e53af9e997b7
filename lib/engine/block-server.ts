/**
 * Serving one peer's requests: the upload half of a peer session.
 *
 * Requests are queued as the connection admits them (it already enforces our `reqq`
 * and its hard block-length cap). `pump()` then works in batches:
 *  - consecutive requests for adjacent blocks of one piece are merged into one run
 *    and read with ONE `readBlock` into one pooled slab (a peer asking for 16 KiB
 *    blocks in order costs one disk read per slab, not one per block);
 *  - up to `maxReadsPerBatch` runs are read concurrently, then every block is sent as
 *    a view of its slab and the socket is flushed once;
 *  - a slab returns to the pool only when the socket has written every byte queued
 *    up to its last block: written = bytes queued in the connection − bytes still in
 *    the connection's queue − `socket.writableLength`. A reused buffer is therefore
 *    never overwritten while the kernel has yet to take it;
 *  - at most `maxSlabsPerPeer` slabs are out per peer (reading or queued) and the
 *    pool bounds them overall, so memory and concurrent disk reads are bounded per
 *    peer and in total.
 * Before a block is read and again before it is sent, `conn.canSendPiece` is asked:
 * an extension hook (SeedPay metering) may refuse; the host answers that refusal
 * (reject_request under fast, choke otherwise).
 *
 * Upload rate limits (rate-limiter.ts): while the torrent's upload path is limited, each
 * block (with its 13-byte header) is granted tokens after `canSendPiece` said yes and
 * before it is read; the server that finds none queues for them (one waiter per peer,
 * FIFO: the peers are served a block each in turn) and resumes when granted. A block
 * granted but not sent after all (cancelled, choked, refused by the gate at send time)
 * gives its tokens back. The order keeps metering exact: the gate and `sendPiece`
 * (which meters) still run together at send time, so what is counted is what is sent.
 */
import type { Socket } from 'node:net';
import type { PeerConnection } from '../../wire/connection.js';
import type { SlabPool } from './slab-pool.js';
import type { RatePath, RateTicket } from '../net/rate-limiter.js';

/** A piece message's header: length, id, index, begin. Rate limits count it with the block. */
const PIECE_HEADER = 13;

/** What the serving half needs from its session. */
export interface ServeHost {
  readonly conn: PeerConnection;
  readonly socket: Socket;
  /** The socket is gone. */
  readonly isClosed: boolean;
  /** Socket write backpressure: wait for drain (the session calls `pump` then). */
  readonly writeBlocked: boolean;
  now(): number;
  /** Size of piece `index`, whether we have it, and the reader. */
  pieceSize(index: number): number;
  hasPiece(index: number): boolean;
  readBlock(index: number, begin: number, length: number, into: Buffer): Promise<Buffer>;
  /** Largest block we serve (≤ the connection's hard cap). */
  readonly maxBlockLength: number;
  /** The torrent's upload limit (under the client's). */
  readonly uploadRate: RatePath;
  /** Write what the connection queued. */
  flush(): void;
  /** A request we will not serve (missing piece, out of range, too long). */
  badRequest(index: number, begin: number, length: number, why: string): void;
  /** An extension hook refused this block (canSendPiece false). */
  gateRefused(index: number, begin: number, length: number): void;
  /** Payload bytes queued to the peer. */
  served(bytes: number): void;
  /** A disk read failed (the requests of the batch are dropped). */
  readFailed(err: unknown): void;
}

export interface ServeOptions {
  /** Slabs a peer may hold (reading or waiting for the socket). Default 8. */
  maxSlabsPerPeer?: number;
  /** Runs read concurrently per batch. Default 4. */
  maxReadsPerBatch?: number;
}

interface Req {
  readonly index: number;
  readonly begin: number;
  readonly length: number;
  /** Cancelled, dropped by our choke, or answered otherwise: skip it. */
  dead: boolean;
}

interface Run {
  readonly index: number;
  readonly begin: number;
  length: number;
  readonly reqs: Req[];
  readonly slab: Buffer;
  /** Its blocks were granted upload tokens (given back for those not sent). */
  readonly charged: boolean;
}

type Verdict = 'ok' | 'bad' | 'gate' | 'dead';

export class BlockServer {
  private readonly host: ServeHost;
  private readonly pool: SlabPool;
  private readonly maxSlabs: number;
  private readonly maxReads: number;
  private q: Req[] = [];
  private head = 0;
  /** Slabs whose blocks are queued on the socket, with the byte position they end at. */
  private readonly sent: { slab: Buffer; end: number }[] = [];
  private sentHead = 0;
  /** Slabs being read into. */
  private reading = 0;
  private busy = false;
  private closed = false;
  private pollI: NodeJS.Immediate | null = null;
  private pollT: NodeJS.Timeout | null = null;
  private readonly wake = (): void => { this.pollI = null; this.pollT = null; this.pump(); };
  /** Upload tokens granted to this peer and not used yet (a grant awaited in the queue). */
  private credit = 0;
  /** Our place in the upload limit's queue, if waiting. */
  private ticket: RateTicket | null = null;
  private readonly granted = (bytes: number): void => { this.ticket = null; this.credit += bytes; this.pump(); };

  constructor(host: ServeHost, pool: SlabPool, opts: ServeOptions = {}) {
    this.host = host;
    this.pool = pool;
    this.maxSlabs = Math.max(1, opts.maxSlabsPerPeer ?? 8);
    this.maxReads = Math.max(1, opts.maxReadsPerBatch ?? 4);
  }

  /** Requests waiting (including dead ones not yet skipped). */
  get queued(): number { return this.q.length - this.head; }
  /** Slabs held by this peer. */
  get slabsHeld(): number { return this.reading + this.sent.length - this.sentHead; }

  /** A request admitted by the connection. */
  enqueue(index: number, begin: number, length: number): void {
    if (this.closed) return;
    this.q.push({ index, begin, length, dead: false });
  }

  /** The peer cancelled (the connection already answered under fast). */
  cancel(index: number, begin: number, length: number): void {
    for (let i = this.head; i < this.q.length; i++) {
      const r = this.q[i];
      if (!r.dead && r.index === index && r.begin === begin && r.length === length) { r.dead = true; return; }
    }
  }

  /** We choked the peer: the connection dropped every request except allowed-fast ones under fast. */
  choked(keep: (index: number) => boolean): void {
    for (let i = this.head; i < this.q.length; i++) if (!keep(this.q[i].index)) this.q[i].dead = true;
  }

  /** Serve what can be served now. Safe to call at any time, often. */
  pump(): void {
    if (this.closed || this.busy) return;
    const host = this.host;
    if (host.isClosed) return;
    this.reclaim();
    if (this.head === this.q.length) { this.q = []; this.head = 0; return; }
    if (host.writeBlocked) return; // the session pumps again on drain
    const runs: Run[] = [];
    const slabSize = this.pool.slabSize;
    const rate = host.uploadRate;
    const limited = rate.limited;
    while (runs.length < this.maxReads && this.head < this.q.length) {
      if (this.slabsHeld + runs.length >= this.maxSlabs) { this.armPoll(); break; }
      const r = this.q[this.head];
      const v = this.verdict(r);
      if (v !== 'ok') { this.head++; this.settle(r, v); continue; }
      if (limited && !this.charge(rate, r.length + PIECE_HEADER, true)) break; // woken by the grant
      const slab = this.pool.acquire();
      if (slab === null) {
        if (limited) rate.refund(r.length + PIECE_HEADER);
        this.pool.whenFree(this.wake);
        break;
      }
      this.head++;
      const run: Run = { index: r.index, begin: r.begin, length: r.length, reqs: [r], slab, charged: limited };
      while (this.head < this.q.length) {
        const n = this.q[this.head];
        if (n.dead) { this.head++; continue; }
        if (n.index !== run.index || n.begin !== run.begin + run.length || run.length + n.length > slabSize) break;
        if (this.verdict(n) !== 'ok') break;
        if (limited && !this.charge(rate, n.length + PIECE_HEADER, false)) break;
        run.reqs.push(n);
        run.length += n.length;
        this.head++;
      }
      runs.push(run);
    }
    if (runs.length === 0) return;
    this.busy = true;
    this.reading += runs.length;
    const reads = runs.map((run) => host.readBlock(run.index, run.begin, run.length, run.slab));
    const done = reads.length === 1 ? reads[0] : Promise.all(reads);
    done.then(
      () => { this.reading -= runs.length; this.busy = false; this.send(runs); },
      (e: unknown) => {
        this.reading -= runs.length;
        this.busy = false;
        this.dropRuns(runs);
        if (!this.closed) host.readFailed(e);
      },
    );
  }

  /** The session is gone: every slab goes back (the socket is destroyed, nothing more is written). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.q = []; this.head = 0;
    for (let i = this.sentHead; i < this.sent.length; i++) this.pool.release(this.sent[i].slab);
    this.sent.length = 0; this.sentHead = 0;
    this.pool.cancelWait(this.wake);
    if (this.ticket !== null) { this.host.uploadRate.cancel(this.ticket); this.ticket = null; }
    if (this.pollI !== null) { clearImmediate(this.pollI); this.pollI = null; }
    if (this.pollT !== null) { clearTimeout(this.pollT); this.pollT = null; }
  }

  // ---------------------------------------------------------------------------

  /**
   * Upload tokens for `cost` bytes: from what an earlier grant left, else taken now
   * unless another peer waits first; else (`wait`) queue for them, once.
   */
  private charge(rate: RatePath, cost: number, wait: boolean): boolean {
    if (this.credit >= cost) { this.credit -= cost; return true; }
    if (this.ticket !== null) return false;
    const need = cost - this.credit;
    if (rate.tryTake(need)) { this.credit = 0; return true; }
    if (wait) this.ticket = rate.wait(need, this.granted);
    return false;
  }

  private verdict(r: Req): Verdict {
    if (r.dead) return 'dead';
    const host = this.host;
    const size = host.pieceSize(r.index);
    if (size < 0 || r.begin + r.length > size || r.length > host.maxBlockLength || !host.hasPiece(r.index)) return 'bad';
    if (!host.conn.canSendPiece(r.index, r.begin, r.length)) return 'gate';
    return 'ok';
  }

  private settle(r: Req, v: Verdict): void {
    if (v === 'dead' || r.dead) return;
    r.dead = true;
    const host = this.host;
    if (host.conn.state !== 'open') return;
    if (v === 'bad') {
      const size = host.pieceSize(r.index);
      const why = size < 0 ? 'no such piece'
        : r.begin + r.length > size ? `block ${r.begin}+${r.length} outside the ${size}-byte piece`
          : r.length > host.maxBlockLength ? `block length ${r.length} above ${host.maxBlockLength}`
            : `piece ${r.index} not available`;
      host.badRequest(r.index, r.begin, r.length, why);
    } else {
      host.gateRefused(r.index, r.begin, r.length);
    }
  }

  private send(runs: Run[]): void {
    const host = this.host;
    if (this.closed || host.isClosed) {
      this.dropRuns(runs);
      return;
    }
    const conn = host.conn;
    const now = host.now();
    let bytes = 0;
    let unsent = 0;
    for (const run of runs) {
      let any = false;
      let off = 0;
      for (const r of run.reqs) {
        const o = off;
        off += r.length;
        if (r.dead || conn.state !== 'open') { if (run.charged) unsent += r.length + PIECE_HEADER; continue; }
        // The gate may have changed while reading (credit spent by another block).
        if (!conn.canSendPiece(r.index, r.begin, r.length)) {
          if (run.charged) unsent += r.length + PIECE_HEADER;
          this.settle(r, 'gate');
          continue;
        }
        r.dead = true;
        conn.sendPiece(r.index, r.begin, run.slab.subarray(o, o + r.length), now);
        bytes += r.length;
        any = true;
      }
      if (any) {
        const st = conn.stats;
        this.sent.push({ slab: run.slab, end: st.protocolBytesOut + st.payloadBytesOut });
      } else {
        this.pool.release(run.slab);
      }
    }
    if (unsent > 0) host.uploadRate.refund(unsent);
    if (bytes > 0) host.served(bytes);
    host.flush();
    this.pump();
  }

  /** Runs that will not be sent: their slabs go back to the pool, their upload tokens to the limit. */
  private dropRuns(runs: readonly Run[]): void {
    let unsent = 0;
    for (const run of runs) {
      this.pool.release(run.slab);
      if (run.charged) unsent += run.length + run.reqs.length * PIECE_HEADER;
    }
    if (unsent > 0) this.host.uploadRate.refund(unsent);
  }

  /** Return slabs whose bytes the socket has fully written. */
  private reclaim(): void {
    if (this.sentHead === this.sent.length) return;
    const conn = this.host.conn;
    const st = conn.stats;
    const written = st.protocolBytesOut + st.payloadBytesOut - conn.bufferedOutbound - this.host.socket.writableLength;
    while (this.sentHead < this.sent.length && this.sent[this.sentHead].end <= written) {
      this.pool.release(this.sent[this.sentHead].slab);
      this.sentHead++;
    }
    if (this.sentHead === this.sent.length) { this.sent.length = 0; this.sentHead = 0; }
  }

  /**
   * Per-peer quota hit while the socket still accepts writes (no 'drain' will come):
   * check again on the next turn, or after 2 ms while the kernel holds a write back
   * (a peer that stops reading must not make us spin).
   */
  private armPoll(): void {
    if (this.pollI !== null || this.pollT !== null || this.host.writeBlocked) return;
    if (this.host.socket.writableLength === 0) this.pollI = setImmediate(this.wake);
    else this.pollT = setTimeout(this.wake, 2);
  }
}
