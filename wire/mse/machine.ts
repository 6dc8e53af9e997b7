/**
 * What the MSE/PE initiator and responder share: the sans-IO surface (bytes in with
 * `receive`, bytes out with `pollTransmit`, time in with `handleTimeout`), the
 * deadline, and the sticky error state. Each role implements `step()`, which
 * consumes what it can of the input queue and returns when it needs more.
 */
import { ByteQueue } from './byte-queue.js';
import { writeU32 } from '../codec.js';
import { MseError, type MseErrorCode } from './errors.js';
import { CRYPTO_RC4, methodOf, type CryptoMethod } from './policy.js';
import type { Rc4 } from './rc4.js';

/** Spec bound on every padding (PadA..PadD). */
export const MAX_PAD_LENGTH = 512;
export const DEFAULT_MSE_TIMEOUT = 30_000;
/** VC: eight zero bytes, the first encrypted field in each direction. */
export const VC_LENGTH = 8;

export interface MseResult {
  /** 'mse': the obfuscated handshake ran. 'plain': the peer opened with a plain BitTorrent handshake (responder only). */
  readonly handshake: 'mse' | 'plain';
  /** The method for the rest of the stream ('plaintext' after a plain handshake). */
  readonly method: CryptoMethod;
  /** RC4 streams for the rest of the connection when method is 'rc4', else null. */
  readonly encrypt: Rc4 | null;
  readonly decrypt: Rc4 | null;
  /** The torrent the handshake was for (SKEY); null after a plain handshake. */
  readonly infoHash: Uint8Array | null;
  /**
   * Bytes of the BitTorrent stream already received, decrypted: for the responder
   * the initiator's IA and whatever followed it; for the initiator what followed PadD.
   */
  readonly initialPayload: Uint8Array;
}

export interface MseCommonOptions {
  /** Creation time (ms), on the clock of every later `now`. */
  now: number;
  /** Random bytes for the DH private key and the padding. */
  random: (n: number) => Uint8Array;
  /** ms from creation until the handshake must be done. Default 30 s. */
  timeout?: number;
  /** Longest padding we send, 0..512. Default 512 (the spec's maximum). */
  maxPadLength?: number;
}

export abstract class MseMachine {
  protected readonly input = new ByteQueue();
  private readonly output: Uint8Array[] = [];
  private readonly deadline: number;
  private readonly random: (n: number) => Uint8Array;
  private readonly maxPad: number;
  private failure: MseError | null = null;
  private done: MseResult | null = null;

  constructor(opts: MseCommonOptions) {
    const pad = opts.maxPadLength ?? MAX_PAD_LENGTH;
    if (!(Number.isInteger(pad) && pad >= 0 && pad <= MAX_PAD_LENGTH)) {
      throw new MseError('INVALID_ARGUMENT', `maxPadLength must be in [0, ${MAX_PAD_LENGTH}]`, false);
    }
    this.maxPad = pad;
    this.random = opts.random;
    this.deadline = opts.now + (opts.timeout ?? DEFAULT_MSE_TIMEOUT);
  }

  /** The outcome once the handshake finished, else null. */
  get result(): MseResult | null { return this.done; }
  get error(): MseError | null { return this.failure; }

  /** Feed received bytes (copied). Throws MseError (sticky) when the peer broke the handshake. */
  receive(chunk: Uint8Array, now: number): void {
    this.usable();
    if (now >= this.deadline) this.fail(new MseError('TIMEOUT', 'handshake deadline passed'));
    this.input.push(chunk);
    this.run();
  }

  /** The stream ended. Throws TRUNCATED unless the handshake had finished. */
  receiveEnd(): void {
    if (this.failure !== null) throw this.failure;
    if (this.done === null) this.fail(new MseError('TRUNCATED', 'stream ended during the MSE handshake'));
  }

  /** Next chunk to send, or null. */
  pollTransmit(): Uint8Array | null { return this.output.shift() ?? null; }

  /** When `handleTimeout` must be called; null once finished or failed. */
  nextTimeout(): number | null {
    return this.done === null && this.failure === null ? this.deadline : null;
  }

  /** Throws TIMEOUT when the deadline has passed before the handshake finished. */
  handleTimeout(now: number): void {
    if (this.failure !== null) throw this.failure;
    if (this.done === null && now >= this.deadline) this.fail(new MseError('TIMEOUT', 'handshake deadline passed'));
  }

  // ---------------------------------------------------------------- for the roles

  /** Consume input; return when more is needed. Throw MseError on bad input. */
  protected abstract step(): void;

  protected send(bytes: Uint8Array): void { if (bytes.length > 0) this.output.push(bytes); }

  protected finish(r: MseResult): void { this.done = r; }

  /**
   * Consume input up to and including `marker`, which must begin within
   * MAX_PAD_LENGTH bytes (the padding before it has no length field). True once
   * past it; false while it may still come; throws `code` once it cannot.
   */
  protected syncPast(marker: Uint8Array, code: MseErrorCode, what: string): boolean {
    const q = this.input;
    const limit = MAX_PAD_LENGTH + marker.length;
    const at = q.indexOf(marker, limit);
    if (at < 0) {
      if (q.length >= limit) throw new MseError(code, `no ${what} within ${MAX_PAD_LENGTH} bytes of padding`);
      return false;
    }
    q.skip(at + marker.length);
    return true;
  }

  /**
   * The handshake is over: everything left in the input is the stream, its first
   * `decrypted` bytes already decrypted (IA), the rest still ENCRYPT2 (RC4 or nothing).
   */
  protected handOver(selected: number, encrypt: Rc4, decrypt: Rc4, infoHash: Uint8Array, decrypted: number): void {
    const rc4 = selected === CRYPTO_RC4;
    const rest = this.input.takeAll();
    if (rc4) decrypt.process(rest.subarray(decrypted));
    this.finish({
      handshake: 'mse', method: methodOf(selected),
      encrypt: rc4 ? encrypt : null, decrypt: rc4 ? decrypt : null,
      infoHash, initialPayload: rest,
    });
  }

  protected randomBytes(n: number): Uint8Array {
    const b = this.random(n);
    if (b.length !== n) throw new MseError('INVALID_ARGUMENT', `random(${n}) returned ${b.length} bytes`, false);
    return b;
  }

  /** A DH private key: 160 random bits (the spec's recommendation), top bit set so it is never 0 or 1. */
  protected privateKey(): Uint8Array {
    const k = new Uint8Array(this.randomBytes(20));
    k[0] |= 0x80;
    return k;
  }

  /** Random padding of 0..maxPadLength random bytes. */
  protected padding(): Uint8Array {
    const r = this.randomBytes(2);
    return this.randomBytes(((r[0] << 8) | r[1]) % (this.maxPad + 1));
  }

  private usable(): void {
    if (this.failure !== null) throw this.failure;
    if (this.done !== null) throw new MseError('INVALID_ARGUMENT', 'input after the handshake finished: it belongs to the stream', false);
  }

  private run(): void {
    try {
      this.step();
    } catch (e) {
      // Only our typed errors are expected; anything else is a bug, reported typed so
      // one connection fails instead of the process.
      this.fail(e instanceof MseError ? e : new MseError('INVALID_ARGUMENT', `internal: ${e instanceof Error ? e.message : String(e)}`, false));
    }
  }

  private fail(e: MseError): never {
    this.failure = e;
    this.output.length = 0;
    throw e;
  }
}

export function readU16(b: Uint8Array, o: number): number { return (b[o] << 8) | b[o + 1]; }
export function writeU16(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 8; b[o + 1] = v & 0xff; }

/**
 * Plaintext of VC, crypto_provide/crypto_select, len(pad), pad, followed by `tail`
 * bytes (zero) for the caller to fill: the shared front of steps 3 and 4.
 */
export function vcFields(bits: number, pad: Uint8Array, tail: number): Uint8Array {
  const b = new Uint8Array(VC_LENGTH + 6 + pad.length + tail);
  writeU32(b, VC_LENGTH, bits);
  writeU16(b, VC_LENGTH + 4, pad.length);
  b.set(pad, VC_LENGTH + 6);
  return b;
}
