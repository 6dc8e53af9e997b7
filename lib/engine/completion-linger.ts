/**
 * Connections to seeds kept open for a while after the download completed.
 *
 * At completion a torrent drops every connection to a peer that has all pieces: it
 * has nothing to fetch from it. An extension may still have business on such a
 * connection (SeedPay: a payment being made, or its proof sent and not yet answered);
 * closing then would cut that business off (a proof never credited, or credited with
 * its confirmation lost). The torrent's `lingerWhile` option says so per connection;
 * such a seed is held here and closed as soon as it reports idle, or when the
 * timeout passes (a silent peer cannot hold a connection forever).
 *
 * Time is a `now` argument; the torrent calls `check` from its tick and whenever the
 * extension's owner says something settled (`Torrent.lingerCheck`).
 */
/** What the linger needs of a connection. */
export interface LingeringPeer {
  readonly isClosed: boolean;
  close(code: 'NOT_NEEDED'): void;
}

/** Default bound on how long a busy seed is kept open after completion. */
const DEFAULT_LINGER_TIMEOUT_MS = 60_000;

export class CompletionLinger<S extends LingeringPeer> {
  /** Held sessions → when to give up on them (ms). */
  private readonly held = new Map<S, number>();

  constructor(
    private readonly busy: ((peer: S) => boolean) | undefined,
    private readonly timeoutMs: number = DEFAULT_LINGER_TIMEOUT_MS,
  ) {}

  /** Sessions still held open. */
  get size(): number { return this.held.size; }

  /** A seed at completion: close it now, or hold it while it is busy. */
  closeOrHold(s: S, now: number): void {
    if (this.busy !== undefined && this.busy(s)) {
      // Held once: a later call (another 'have') does not extend its deadline.
      if (!this.held.has(s)) this.held.set(s, now + this.timeoutMs);
      return;
    }
    s.close('NOT_NEEDED');
  }

  /** Close every held session that became idle or whose time is up; forget closed ones. */
  check(now: number): void {
    for (const [s, deadline] of this.held) {
      if (s.isClosed) { this.held.delete(s); continue; }
      if (now < deadline && this.busy !== undefined && this.busy(s)) continue;
      this.held.delete(s);
      s.close('NOT_NEEDED');
    }
  }
}
