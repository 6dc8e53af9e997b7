/**
 * PeerControl as a queue: what a hook asks of its connection is recorded here, and
 * the I/O adapter drains and carries it out (sans-IO: the hook never touches the
 * socket, and a test reads the commands back). `onQueued` tells the adapter once per
 * batch that commands wait, so a hook acting from outside the connection's event
 * handling is not left waiting for the next unrelated event.
 */
import type { HookCloseCode, PeerCommand, PeerControl } from './extension-hooks.js';

/** More commands than any hook has reason to queue between two drains: a runaway hook closes its connection instead. */
const MAX_QUEUED = 4096;

export class PeerCommandQueue implements PeerControl {
  private queue: PeerCommand[] = [];
  private flushWanted = false;

  constructor(
    private readonly clock: () => number,
    /** Called when the first command of a batch (or a flush) is queued. */
    private readonly onQueued: () => void = () => {},
  ) {}

  now(): number { return this.clock(); }
  choke(): void { this.push({ type: 'choke' }); }
  unchoke(): void { this.push({ type: 'unchoke' }); }
  reject(index: number, begin: number, length: number): void { this.push({ type: 'reject', index, begin, length }); }
  allowFast(index: number): void { this.push({ type: 'allow_fast', index }); }
  refill(): void { this.push({ type: 'refill' }); }
  limitRequests(max: number | null): void {
    // A count of requests: anything else would be a bug of the extension, not a peer's input.
    if (max !== null && !(Number.isInteger(max) && max >= 0)) throw new RangeError(`request limit must be an integer >= 0 or null (got ${max})`);
    this.push({ type: 'request_limit', max });
  }
  close(code: HookCloseCode, error?: Error): void { this.push({ type: 'close', code, error: error ?? null }); }

  flush(): void {
    const idle = this.queue.length === 0 && !this.flushWanted;
    this.flushWanted = true;
    if (idle) this.onQueued();
  }

  /** Commands waiting. */
  get size(): number { return this.queue.length; }

  /** Commands or a flush request waiting. */
  get pending(): boolean { return this.queue.length > 0 || this.flushWanted; }

  /** Take every queued command, in order (and clear a pending flush request). */
  drain(): PeerCommand[] {
    const out = this.queue;
    this.queue = [];
    this.flushWanted = false;
    return out;
  }

  private push(c: PeerCommand): void {
    const idle = this.queue.length === 0 && !this.flushWanted;
    if (this.queue.length >= MAX_QUEUED) {
      // Keep one close instead of growing without bound.
      this.queue = [{ type: 'close', code: 'CLOSED', error: new Error('extension queued too many peer commands') }];
    } else {
      this.queue.push(c);
    }
    if (idle) this.onQueued();
  }
}
