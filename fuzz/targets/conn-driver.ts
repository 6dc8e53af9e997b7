/**
 * Drives one PeerConnection as a hostile peer would: bytes in (cut into chunks), every
 * event drained after each chunk, every transmitted byte taken. Checks what the wire
 * promises: the only outcomes are events and at most one 'error' event carrying a
 * WireError, and nothing after it; an internal exception turned into an error
 * ('ILLEGAL_STATE: internal error', or 'EXTENSION_ERROR' wrapping a hook's non-typed
 * throw) is a crash in disguise and fails the input; the event count and the bytes
 * buffered and queued stay bounded by the input's size.
 */
import { PeerConnection, type ConnectionEvent } from '../../wire/connection.js';
import { WireError } from '../../wire/errors.js';
import { ExtensionProtocolError } from '../../extensions/registry.js';
import { FuzzFailure, check, expectTyped, split } from '../target.js';

export class ConnDriver {
  now = 1_000;
  events = 0;
  errors = 0;
  fed = 0;
  txBytes = 0;
  /** Payload bytes we chose to send (sendPiece), which the tx bound allows for. */
  servedBytes = 0;
  dead = false;
  readonly seen: ConnectionEvent[] = [];

  constructor(
    readonly conn: PeerConnection,
    private readonly budget: number,
    /** Called for each event before the driver's own checks (accept on handshake_info_hash, ...). */
    private readonly onEvent: (ev: ConnectionEvent) => void,
    private readonly keepEvents = 64,
  ) {}

  /**
   * Feed bytes cut by (mode, seed), draining after each chunk. Long deliveries (16 KiB
   * pieces) are cut into at most ~128 chunks: byte-by-byte reassembly of big frames is
   * the framer target's job, and here it would cost milliseconds per input.
   */
  deliver(bytes: Uint8Array, mode: number, seed: number): void {
    const m = mode === 0 ? 0 : Math.max(mode, Math.ceil(bytes.length / 64));
    for (const c of split(bytes, m, seed)) {
      if (this.dead) return;
      try {
        this.conn.receive(c, this.now);
      } catch (e) {
        throw unexpected('receive', e);
      }
      this.fed += c.length;
      this.drain();
    }
  }

  /**
   * Pull every event and every transmit chunk, until neither moves (with a small
   * maxBufferedOutbound, pollEvent pauses until the transmit queue is drained).
   * Hot: plain try/catch, no closures.
   */
  drain(): void {
    const conn = this.conn;
    for (let progressed = true; progressed;) {
      progressed = false;
      for (;;) {
        let ev: ConnectionEvent | null;
        try {
          ev = conn.pollEvent();
        } catch (e) {
          throw unexpected('pollEvent', e);
        }
        if (ev === null) break;
        progressed = true;
        this.events++;
        if (this.events > this.budget) throw new FuzzFailure(`more than ${this.budget} events`);
        if (this.errors !== 0) throw new FuzzFailure(`event '${ev.type}' after an error event`);
        if (this.seen.length < this.keepEvents) this.seen.push(ev);
        if (ev.type === 'error') {
          this.errors++;
          this.dead = true;
          judgeError(ev.error);
          check(conn.state === 'error', `state ${conn.state} after an error event`);
        } else {
          semantics(conn, ev, this.fed);
          this.onEvent(ev);
        }
      }
      for (let c = conn.pollTransmit(); c !== null; c = conn.pollTransmit()) { this.txBytes += c.length; progressed = true; }
    }
    const st = conn.stats;
    if (st.protocolBytesIn + st.payloadBytesIn > this.fed) throw new FuzzFailure(`stats count ${st.protocolBytesIn + st.payloadBytesIn} bytes in, ${this.fed} were fed`);
    if (conn.bufferedInbound > this.fed) throw new FuzzFailure(`bufferedInbound ${conn.bufferedInbound} > fed ${this.fed}`);
    if (this.txBytes > 8192 + 64 * this.fed + this.servedBytes + 64 * this.budget) throw new FuzzFailure(`sent ${this.txBytes} bytes for ${this.fed} received`);
    if (conn.state === 'closed') this.dead = true;
  }

  /** A local command: success or a WireError (our misuse, refused); anything else fails. */
  local(what: string, f: () => void): void {
    if (this.dead) return;
    expectTyped(what, f, (e) => e instanceof WireError);
    this.drain();
  }

  advance(ms: number): void {
    this.now += ms;
    this.local('handleTimeout', () => this.conn.handleTimeout(this.now));
    const t = this.conn.nextTimeout();
    check(t === null || Number.isFinite(t), `nextTimeout ${t}`);
  }
}

/**
 * What an event promises (the application trusts these without re-checking): indices
 * below the piece count, admitted requests within bounds and reqq, every received byte
 * accounted for once the stream ended cleanly (SeedPay meters on these counters).
 */
function semantics(conn: PeerConnection, ev: ConnectionEvent, fed: number): void {
  const n = conn.numPieces;
  switch (ev.type) {
    case 'have': case 'allowed_fast': case 'suggest':
      check(n === null || ev.index < n, `${ev.type} index ${ev.index} of ${n} pieces`);
      break;
    case 'request':
      check(n === null || ev.index < n, `request index ${ev.index} of ${n} pieces`);
      check(ev.length >= 1 && ev.length <= 16 * 1024, `request length ${ev.length} admitted`);
      check(conn.peerRequestCount <= 2 * conn.reqq, `${conn.peerRequestCount} peer requests pending, reqq ${conn.reqq}`);
      check(conn.hasPeerRequest(ev.index, ev.begin, ev.length), 'request event for a request not pending');
      break;
    case 'bitfield':
      check(n === null || ev.pieces.length === n, `bitfield of ${ev.pieces.length} for ${n} pieces`);
      break;
    case 'piece':
      check(ev.block.length <= 16 * 1024, `piece block of ${ev.block.length} bytes (never requested that much)`);
      break;
    case 'end': {
      const st = conn.stats;
      check(st.protocolBytesIn + st.payloadBytesIn === fed, `clean end: stats count ${st.protocolBytesIn + st.payloadBytesIn} of ${fed} bytes`);
      break;
    }
    default: break;
  }
  check(conn.requestsInFlight <= Math.max(conn.requestLimit, 0) || conn.requestsInFlight <= 16, `${conn.requestsInFlight} requests in flight, limit ${conn.requestLimit}`);
}

/** A non-typed exception out of the connection: a failure that keeps the original stack. */
function unexpected(what: string, e: unknown): FuzzFailure {
  if (e instanceof FuzzFailure) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const ff = new FuzzFailure(`${what} threw ${err.name}: ${err.message}`);
  ff.stack = `${ff.name}: ${ff.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`;
  return ff;
}

/** An error event must be a typed protocol (or local) error, not a wrapped crash. */
export function judgeError(err: unknown): void {
  if (!(err instanceof WireError)) throw new FuzzFailure(`error event carries ${String(err)}`);
  if (err.code === 'ILLEGAL_STATE' && !err.remote && err.message.includes('internal error')) {
    throw new FuzzFailure(`connection caught a non-typed exception: ${err.message}`);
  }
  if (err.code === 'EXTENSION_ERROR' && !(err instanceof ExtensionProtocolError) && err.message.includes('extension hook failed')) {
    throw new FuzzFailure(`an extension hook threw a non-typed exception: ${err.message}`);
  }
}
