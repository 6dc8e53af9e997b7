/**
 * One UDP tracker exchange (BEP 15) as a sans-IO state machine: connect (unless a
 * connection id younger than a minute is at hand), then the announce or scrape, with
 * the retransmission schedule 15·2^n s (n = 0, 1, … up to `maxRetransmits`, 8 in the
 * BEP: 3840 s for the last wait). Time comes in as `now` (ms); the caller sends the
 * packets it is handed, feeds every datagram from the tracker's address, and calls
 * `handleTimeout` at `nextTimeout()`.
 *
 * Datagrams are hostile: one that does not carry our current transaction id is
 * ignored (a spoofed or late packet must not end the exchange); one that carries it
 * but is malformed or has the wrong action fails the exchange with a TrackerError.
 */
import { checkAnnounceRequest, type AnnounceRequest, type AnnounceResponse, type ScrapeEntry } from './announce.js';
import { TrackerError } from './errors.js';
import { COMPACT_V4, type COMPACT_V6 } from './peers.js';
import { announceRequest, connectRequest, MAX_SCRAPE_HASHES, parseUdpResponse, scrapeRequest } from './udp-packets.js';

/** A client may use a connection id for one minute after it got it (BEP 15). */
export const CONNECTION_ID_LIFETIME_MS = 60_000;
export const RETRANSMIT_BASE_MS = 15_000;
export const BEP15_MAX_RETRANSMITS = 8;

export interface UdpConnection { readonly id: bigint; readonly obtainedAt: number }

export type UdpQuery =
  | { readonly kind: 'announce'; readonly request: AnnounceRequest }
  | { readonly kind: 'scrape'; readonly infoHashes: readonly Uint8Array[] };

export type UdpResult =
  | { readonly kind: 'announce'; readonly response: AnnounceResponse }
  | { readonly kind: 'scrape'; readonly entries: readonly ScrapeEntry[] };

export type UdpStep =
  | { readonly type: 'send'; readonly packet: Uint8Array }
  | { readonly type: 'done'; readonly result: UdpResult }
  | { readonly type: 'failed'; readonly error: TrackerError }
  | { readonly type: 'none' };

export interface UdpExchangeOptions {
  /** A fresh random u32 per call (transaction ids must be unpredictable to an off-path spoofer). */
  readonly transactionId: () => number;
  /** A connection id kept from an earlier exchange with the same tracker. */
  readonly connection?: UdpConnection | null;
  /** Retransmissions before giving up: 8 in BEP 15 (about two hours); an announcer wants fewer. */
  readonly maxRetransmits?: number;
  /** 6 over IPv4, 18 over IPv6. */
  readonly peerRecord?: typeof COMPACT_V4 | typeof COMPACT_V6;
  readonly maxPeers?: number;
}

/** When the n-th transmission (0-based) of a packet sent at `sentAt` times out. */
export function retransmitDeadline(sentAt: number, n: number): number {
  return sentAt + RETRANSMIT_BASE_MS * 2 ** n;
}

const NONE: UdpStep = { type: 'none' };

export class UdpExchange {
  /** The connection id in use (keep it for the next exchange with this tracker). */
  connection: UdpConnection | null;
  private phase: 'idle' | 'connect' | 'request' | 'over' = 'idle';
  private tid = 0;
  private packet: Uint8Array = new Uint8Array(0);
  private n = 0;
  private sentAt = 0;
  private readonly maxRetransmits: number;

  constructor(readonly query: UdpQuery, private readonly opts: UdpExchangeOptions) {
    this.connection = opts.connection ?? null;
    this.maxRetransmits = opts.maxRetransmits ?? BEP15_MAX_RETRANSMITS;
    if (!(Number.isInteger(this.maxRetransmits) && this.maxRetransmits >= 0 && this.maxRetransmits <= BEP15_MAX_RETRANSMITS)) {
      throw new TrackerError('BAD_ARGUMENT', `maxRetransmits ${this.maxRetransmits} outside 0..${BEP15_MAX_RETRANSMITS}`);
    }
    // Our misuse fails here, not in the middle of the exchange when the request is built.
    if (query.kind === 'announce') checkAnnounceRequest(query.request);
    else if (query.infoHashes.length === 0 || query.infoHashes.length > MAX_SCRAPE_HASHES || query.infoHashes.some((h) => h.length !== 20)) {
      throw new TrackerError('BAD_ARGUMENT', `a scrape needs 1..${MAX_SCRAPE_HASHES} info hashes of 20 bytes`);
    }
  }

  get isOver(): boolean { return this.phase === 'over'; }

  /** The first packet to send. */
  start(now: number): Uint8Array {
    if (this.phase !== 'idle') throw new TrackerError('BAD_ARGUMENT', 'exchange already started');
    return this.connectionValid(now) ? this.enterRequest(now) : this.enterConnect(now);
  }

  /** When `handleTimeout` is due (null once over). */
  nextTimeout(): number | null {
    return this.phase === 'connect' || this.phase === 'request' ? retransmitDeadline(this.sentAt, this.n) : null;
  }

  handleTimeout(now: number): UdpStep {
    const due = this.nextTimeout();
    if (due === null || now < due) return NONE;
    if (this.n >= this.maxRetransmits) {
      this.phase = 'over';
      return { type: 'failed', error: new TrackerError('TIMEOUT', `no answer from the tracker after ${this.n + 1} transmissions`) };
    }
    this.n++;
    // An expired connection id would be refused: fetch a new one (the count n goes on).
    if (this.phase === 'request' && !this.connectionValid(now)) return { type: 'send', packet: this.enterConnect(now, true) };
    this.sentAt = now;
    return { type: 'send', packet: this.packet };
  }

  handleDatagram(b: Uint8Array, now: number): UdpStep {
    if (this.phase !== 'connect' && this.phase !== 'request') return NONE;
    if (b.length < 8 || new DataView(b.buffer, b.byteOffset, 8).getUint32(4) !== this.tid) return NONE;
    const expect = this.query.kind === 'scrape' ? this.query.infoHashes.length : undefined;
    let r;
    try {
      r = parseUdpResponse(b, { peerRecord: this.opts.peerRecord ?? COMPACT_V4, maxPeers: this.opts.maxPeers, scrapeCount: expect });
    } catch (e) {
      return this.fail(e instanceof TrackerError ? e : new TrackerError('BAD_PACKET', String(e)));
    }
    if (r.action === 'error') return this.fail(new TrackerError('TRACKER_FAILURE', r.message));
    if (this.phase === 'connect') {
      if (r.action !== 'connect') return this.fail(new TrackerError('WRONG_ACTION', `${r.action} answer to a connect`));
      this.connection = { id: r.connectionId, obtainedAt: now };
      this.n = 0; // a new request: its own schedule
      return { type: 'send', packet: this.enterRequest(now) };
    }
    if (r.action !== this.query.kind) return this.fail(new TrackerError('WRONG_ACTION', `${r.action} answer to a ${this.query.kind}`));
    this.phase = 'over';
    return r.action === 'announce'
      ? { type: 'done', result: { kind: 'announce', response: r.response } }
      : { type: 'done', result: { kind: 'scrape', entries: (r as { entries: readonly ScrapeEntry[] }).entries } };
  }

  private fail(error: TrackerError): UdpStep {
    this.phase = 'over';
    return { type: 'failed', error };
  }

  private connectionValid(now: number): boolean {
    return this.connection !== null && now - this.connection.obtainedAt < CONNECTION_ID_LIFETIME_MS && now >= this.connection.obtainedAt;
  }

  private enterConnect(now: number, keepCount = false): Uint8Array {
    this.phase = 'connect';
    this.connection = null;
    this.tid = this.opts.transactionId() >>> 0;
    if (!keepCount) this.n = 0;
    this.packet = connectRequest(this.tid);
    this.sentAt = now;
    return this.packet;
  }

  private enterRequest(now: number): Uint8Array {
    const id = this.connection!.id;
    this.phase = 'request';
    this.tid = this.opts.transactionId() >>> 0;
    this.packet = this.query.kind === 'announce'
      ? announceRequest(id, this.tid, this.query.request)
      : scrapeRequest(id, this.tid, this.query.infoHashes);
    this.sentAt = now;
    return this.packet;
  }
}
