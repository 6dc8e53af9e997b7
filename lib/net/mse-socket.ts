/**
 * MSE/PE on a real socket: runs the sans-IO handshake (wire/mse) before the
 * PeerConnection sees a byte, then stands between the socket and the connection as
 * a stream cipher when RC4 was selected (plaintext: it steps aside).
 *
 * - Received chunks are decrypted in place: they are our read buffers (a 'data'
 *   Buffer, or a view of a SlabReader slab that nobody else reads).
 * - Sent chunks are encrypted into a copy: a piece block is the caller's buffer (a
 *   storage slab, possibly sent to several peers) and must not change.
 * - Wiring: the Client attaches a layer to a socket (`attachMse`) before the session
 *   binds it; PeerSocket takes it at construction, as it takes a SlabReader. An
 *   initiator's IA is the BitTorrent handshake its connection has already queued,
 *   which saves the round trip a separate handshake would cost.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { MseError, MseInitiator, MseResponder, req2Hash, type MseMachine, type MseResult } from '../../wire/mse/index.js';
import type { EncryptionMode } from '../../wire/mse/policy.js';
import { WireError } from '../../wire/errors.js';
import { bytesEqual } from '../../wire/bytes.js';
import { CipherOutbox } from './cipher-outbox.js';

export type { EncryptionMode };

const random = (n: number): Uint8Array => randomBytes(n);

export class MseLayer {
  private hs: MseMachine | null = null;
  private readonly outbox = new CipherOutbox();
  private done: MseResult | null = null;

  /** `start(ia, now)` makes the handshake; an initiator sends `ia` inside it. */
  constructor(private readonly start: (ia: Uint8Array, now: number) => MseMachine) {}

  /** Start the handshake (PeerSocket, at bind time). */
  begin(ia: Uint8Array, now: number): void {
    if (this.hs === null) this.hs = this.start(ia, now);
  }

  /** The handshake finished: the connection's bytes may flow. */
  get ready(): boolean { return this.done !== null; }
  get result(): MseResult | null { return this.done; }
  /** The torrent an MSE peer named (responder), to check against its BitTorrent handshake. */
  get infoHash(): Uint8Array | null { return this.done?.infoHash ?? null; }

  /** Handshake bytes to send now, or null. */
  pollHandshake(): Uint8Array | null { return this.hs?.pollTransmit() ?? null; }

  /**
   * A received chunk. While handshaking: fed to the handshake; returns the stream bytes
   * that came with its end (decrypted), else null. After: decrypted in place and returned.
   * Throws MseError when the peer broke the handshake.
   */
  receive(chunk: Buffer, now: number): Uint8Array | null {
    const r = this.done;
    if (r !== null) return r.decrypt === null ? chunk : r.decrypt.process(chunk);
    const hs = this.hs!;
    hs.receive(chunk, now);
    this.done = hs.result;
    return this.done?.initialPayload ?? null;
  }

  /**
   * Write a chunk of the connection's output to `socket`: as it is, or (RC4) an
   * encrypted copy in the outbox. Returns what `socket.write` returned (backpressure).
   */
  write(socket: Socket, chunk: Uint8Array): boolean {
    const c = this.done?.encrypt ?? null;
    if (c === null) return socket.write(chunk);
    const { view, written } = this.outbox.take(chunk.length);
    view.set(chunk);
    c.process(view);
    return socket.write(view, written);
  }

  /** The socket is gone: the outbox's slab goes back once its writes complete. */
  close(): void { this.outbox.close(); }

  /** The stream ended: throws unless the handshake had finished. */
  receiveEnd(): void { if (this.done === null) this.hs?.receiveEnd(); }

  nextTimeout(): number | null { return this.done === null ? this.hs?.nextTimeout() ?? null : null; }

  /** Throws MseError TIMEOUT once the handshake deadline passed. */
  handleTimeout(now: number): void { if (this.done === null) this.hs?.handleTimeout(now); }
}

const layers = new WeakMap<Socket, MseLayer>();

/** Run MSE on this socket before the BitTorrent stream (call before the session binds it). */
export function attachMse(socket: Socket, layer: MseLayer): MseLayer {
  layers.set(socket, layer);
  return layer;
}

/** @internal PeerSocket: the layer attached to `socket`, if any (taken once). */
export function takeMse(socket: Socket): MseLayer | null {
  const l = layers.get(socket) ?? null;
  layers.delete(socket);
  return l;
}

/** An outgoing MSE handshake for `infoHash`. */
export function mseInitiator(infoHash: Uint8Array, mode: 'require' | 'prefer', timeout: number): MseLayer {
  return new MseLayer((ia, now) => new MseInitiator({ infoHash, mode, now, random, timeout, initialPayload: ia }));
}

/** An incoming connection: MSE or (under 'prefer') a plain BitTorrent handshake. */
export function mseResponder(mode: 'require' | 'prefer', timeout: number, infoHashes: () => Iterable<Uint8Array>): MseLayer {
  const findInfoHash = (req2: Uint8Array): Uint8Array | null => {
    // One SHA-1 of 24 bytes per torrent, once per incoming MSE connection: cheaper to
    // recompute than to keep a second index in step with the torrent list.
    for (const ih of infoHashes()) if (bytesEqual(req2Hash(ih), req2)) return ih;
    return null;
  };
  return new MseLayer((_ia, now) => new MseResponder({ mode, now, random, timeout, findInfoHash }));
}

/**
 * The connection's close reason for a failed MSE handshake. Breaches (MSE_FAILED) count
 * as violations for the address throttle, as a malformed BitTorrent handshake does; a
 * policy mismatch or an unknown torrent (MSE_REFUSED) and a cut stream do not.
 */
export function mseWireError(e: unknown): WireError {
  if (e instanceof MseError) {
    if (!e.remote) return new WireError('INVALID_ARGUMENT', e.message, false);
    switch (e.code) {
      case 'TIMEOUT': return new WireError('HANDSHAKE_TIMEOUT', `MSE ${e.message}`);
      case 'TRUNCATED': return new WireError('TRUNCATED', e.message);
      case 'PLAINTEXT_REFUSED': case 'NO_COMMON_METHOD': case 'UNKNOWN_INFO_HASH':
        return new WireError('MSE_REFUSED', e.message);
      default: return new WireError('MSE_FAILED', e.message, e.remote);
    }
  }
  return new WireError('MSE_FAILED', `internal: ${e instanceof Error ? e.message : String(e)}`, false);
}
