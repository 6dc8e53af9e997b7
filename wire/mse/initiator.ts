/**
 * The MSE/PE initiator (the side that dialled), steps 1, 3 and the reading of 2 and 4:
 *
 *   A→B  Ya, PadA
 *   B→A  Yb, PadB
 *   A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(stream)
 *
 * PadB has no length field: we find where it ends by searching for ENCRYPT(VC) (VC is
 * eight zero bytes, so its ciphertext is the first 8 bytes of B's keystream), within
 * 512 bytes of padding. IA (usually our BitTorrent handshake) saves a round trip.
 */
import { DhKey, DH_KEY_LENGTH } from './dh.js';
import { MseError } from './errors.js';
import { req1Hash, req2Hash, req3Hash, sessionCiphers, xor20 } from './keys.js';
import { readU32 } from '../codec.js';
import { MAX_PAD_LENGTH, MseMachine, VC_LENGTH, readU16, vcFields, writeU16, type MseCommonOptions } from './machine.js';
import { allowedMethods } from './policy.js';
import type { Rc4 } from './rc4.js';

const MAX_IA_LENGTH = 0xffff;

export interface InitiatorOptions extends MseCommonOptions {
  /** SKEY: the info hash of the torrent we dial for. */
  infoHash: Uint8Array;
  /** 'require': offer RC4 only; 'prefer': offer plaintext and RC4 (the responder picks). */
  mode: 'require' | 'prefer';
  /** IA: stream bytes sent inside the handshake (our BitTorrent handshake), ≤ 65535. */
  initialPayload?: Uint8Array;
}

type State = 'yb' | 'vc_sync' | 'select' | 'pad_d';

export class MseInitiator extends MseMachine {
  private readonly dh: DhKey;
  private readonly infoHash: Uint8Array;
  private readonly provide: number;
  private readonly ia: Uint8Array;
  private state: State = 'yb';
  private encrypt: Rc4 | null = null;
  private decrypt: Rc4 | null = null;
  private vcPattern: Uint8Array | null = null;
  private selected = 0;
  private padD = 0;

  constructor(opts: InitiatorOptions) {
    super(opts);
    if (opts.infoHash.length !== 20) throw new MseError('INVALID_ARGUMENT', 'infoHash must be 20 bytes', false);
    const ia = opts.initialPayload ?? new Uint8Array(0);
    if (ia.length > MAX_IA_LENGTH) throw new MseError('INVALID_ARGUMENT', `initial payload is ${ia.length} bytes, at most ${MAX_IA_LENGTH}`, false);
    if (opts.mode !== 'require' && opts.mode !== 'prefer') throw new MseError('INVALID_ARGUMENT', `mode '${String(opts.mode)}' does not speak MSE`, false);
    this.infoHash = new Uint8Array(opts.infoHash);
    this.ia = new Uint8Array(ia);
    this.provide = allowedMethods(opts.mode);
    this.dh = new DhKey(this.privateKey());
    this.send(this.dh.publicKey);
    this.send(this.padding());
  }

  protected step(): void {
    const q = this.input;
    for (;;) {
      switch (this.state) {
        case 'yb': {
          if (q.length < DH_KEY_LENGTH) return;
          const s = this.dh.sharedSecret(q.take(DH_KEY_LENGTH));
          if (s === null) throw new MseError('BAD_PUBLIC_KEY', 'degenerate Yb');
          const c = sessionCiphers('initiator', s, this.infoHash);
          this.encrypt = c.encrypt;
          this.decrypt = c.decrypt;
          this.sendStep3(s);
          // B's ENCRYPT(VC): decrypting it consumes the same 8 keystream bytes, so after
          // the match the decrypt stream is positioned on crypto_select.
          this.vcPattern = c.decrypt.process(new Uint8Array(VC_LENGTH));
          this.state = 'vc_sync';
          break;
        }
        case 'vc_sync': {
          if (!this.syncPast(this.vcPattern!, 'BAD_VC_SYNC', 'ENCRYPT(VC) after PadB')) return;
          this.vcPattern = null;
          this.state = 'select';
          break;
        }
        case 'select': {
          if (q.length < 6) return;
          const b = this.decrypt!.process(q.take(6));
          const sel = readU32(b, 0);
          // Exactly one bit, and one we offered: anything else is a peer inventing a method.
          if ((sel !== 0x01 && sel !== 0x02) || (sel & this.provide) === 0) {
            throw new MseError('BAD_CRYPTO_SELECT', `crypto_select 0x${sel.toString(16)} is not one of the offered 0x${this.provide.toString(16)}`);
          }
          this.selected = sel;
          this.padD = readU16(b, 4);
          if (this.padD > MAX_PAD_LENGTH) throw new MseError('BAD_PAD_LENGTH', `len(PadD) ${this.padD} > ${MAX_PAD_LENGTH}`);
          this.state = 'pad_d';
          break;
        }
        case 'pad_d': {
          if (q.length < this.padD) return;
          this.decrypt!.process(q.take(this.padD));
          this.handOver(this.selected, this.encrypt!, this.decrypt!, this.infoHash, 0);
          return;
        }
      }
    }
  }

  private sendStep3(s: Uint8Array): void {
    const padC = this.padding();
    const body = vcFields(this.provide, padC, 2 + this.ia.length);
    writeU16(body, VC_LENGTH + 6 + padC.length, this.ia.length);
    body.set(this.ia, VC_LENGTH + 8 + padC.length);
    this.encrypt!.process(body);
    this.send(req1Hash(s));
    this.send(xor20(req2Hash(this.infoHash), req3Hash(s)));
    this.send(body);
  }
}
