/**
 * The MSE/PE responder (the side that accepted), mirror of initiator.ts:
 *
 *   A→B  Ya, PadA
 *   B→A  Yb, PadB
 *   A→B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *        ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   B→A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(stream)
 *
 * Before any of it, the first 20 bytes tell a plain BitTorrent handshake
 * (19, "BitTorrent protocol") from MSE: a listener under 'prefer' serves both.
 * PadA has no length field: we search for HASH('req1', S) within 512 bytes of it.
 * IA is always RC4 (the initiator wrote it before knowing the method); what follows
 * is ENCRYPT2: RC4 or nothing, as selected.
 */
import { DhKey, DH_KEY_LENGTH } from './dh.js';
import { MseError } from './errors.js';
import { req1Hash, req3Hash, sessionCiphers, xor20 } from './keys.js';
import { bytesEqual } from '../bytes.js';
import { readU32 } from '../codec.js';
import { PROTOCOL_STRING } from '../handshake.js';
import { MAX_PAD_LENGTH, MseMachine, VC_LENGTH, readU16, vcFields, type MseCommonOptions } from './machine.js';
import { selectMethod } from './policy.js';
import type { Rc4 } from './rc4.js';

const HASH_LENGTH = 20;
const BT_HEADER = new Uint8Array([PROTOCOL_STRING.length, ...new TextEncoder().encode(PROTOCOL_STRING)]);

export interface ResponderOptions extends MseCommonOptions {
  /** 'require': RC4 only, plain handshakes refused. 'prefer': plain handshakes, or MSE with plaintext picked when offered. */
  mode: 'require' | 'prefer';
  /**
   * The info hash whose HASH('req2', info hash) equals `req2`, or null when we serve no
   * such torrent (see keys.ts `req2Hash`).
   */
  findInfoHash: (req2: Uint8Array) => Uint8Array | null;
}

type State = 'detect' | 'ya' | 'req1_sync' | 'skey' | 'pad_c' | 'ia';

export class MseResponder extends MseMachine {
  private readonly mode: 'require' | 'prefer';
  private readonly findInfoHash: (req2: Uint8Array) => Uint8Array | null;
  private state: State = 'detect';
  private secret: Uint8Array | null = null;
  private req1: Uint8Array | null = null;
  private encrypt: Rc4 | null = null;
  private decrypt: Rc4 | null = null;
  private infoHash: Uint8Array | null = null;
  private selected = 0;
  private padC = 0;
  private iaLength = 0;

  constructor(opts: ResponderOptions) {
    super(opts);
    if (opts.mode !== 'require' && opts.mode !== 'prefer') throw new MseError('INVALID_ARGUMENT', `mode '${String(opts.mode)}' does not speak MSE`, false);
    this.mode = opts.mode;
    this.findInfoHash = opts.findInfoHash;
  }

  protected step(): void {
    const q = this.input;
    for (;;) {
      switch (this.state) {
        case 'detect': {
          const n = Math.min(q.length, BT_HEADER.length);
          if (n === 0) return;
          const plain = bytesEqual(q.peek(n), BT_HEADER.subarray(0, n));
          if (plain && n < BT_HEADER.length) return; // a prefix so far: wait for the rest
          if (plain) {
            if (this.mode === 'require') throw new MseError('PLAINTEXT_REFUSED', 'plain BitTorrent handshake while encryption is required');
            this.finish({ handshake: 'plain', method: 'plaintext', encrypt: null, decrypt: null, infoHash: null, initialPayload: q.takeAll() });
            return;
          }
          this.state = 'ya';
          break;
        }
        case 'ya': {
          // The DH work (about a millisecond of bigint arithmetic) waits for a whole Ya, as
          // in libtorrent: a connection that sends a few bytes of junk costs none of it.
          if (q.length < DH_KEY_LENGTH) return;
          const dh = new DhKey(this.privateKey());
          this.send(dh.publicKey);
          this.send(this.padding());
          const s = dh.sharedSecret(q.take(DH_KEY_LENGTH));
          if (s === null) throw new MseError('BAD_PUBLIC_KEY', 'degenerate Ya');
          this.secret = s;
          this.req1 = req1Hash(s);
          this.state = 'req1_sync';
          break;
        }
        case 'req1_sync': {
          if (!this.syncPast(this.req1!, 'BAD_REQ1_SYNC', "HASH('req1', S) after PadA")) return;
          this.state = 'skey';
          break;
        }
        case 'skey': {
          if (q.length < HASH_LENGTH + VC_LENGTH + 6) return;
          const s = this.secret!;
          const req2 = xor20(q.take(HASH_LENGTH), req3Hash(s));
          const ih = this.findInfoHash(req2);
          if (ih === null || ih.length !== 20) throw new MseError('UNKNOWN_INFO_HASH', 'HASH(req2, SKEY) names no torrent we serve');
          this.infoHash = new Uint8Array(ih);
          const c = sessionCiphers('responder', s, this.infoHash);
          this.encrypt = c.encrypt;
          this.decrypt = c.decrypt;
          const b = c.decrypt.process(q.take(VC_LENGTH + 6));
          for (let i = 0; i < VC_LENGTH; i++) if (b[i] !== 0) throw new MseError('BAD_VC', 'verification constant is not zero');
          const provide = readU32(b, VC_LENGTH);
          this.selected = selectMethod(provide, this.mode);
          if (this.selected === 0) throw new MseError('NO_COMMON_METHOD', `crypto_provide 0x${provide.toString(16)} has no method allowed under '${this.mode}'`);
          this.padC = readU16(b, VC_LENGTH + 4);
          if (this.padC > MAX_PAD_LENGTH) throw new MseError('BAD_PAD_LENGTH', `len(PadC) ${this.padC} > ${MAX_PAD_LENGTH}`);
          this.sendStep4();
          this.state = 'pad_c';
          break;
        }
        case 'pad_c': {
          if (q.length < this.padC + 2) return;
          const b = this.decrypt!.process(q.take(this.padC + 2));
          this.iaLength = readU16(b, this.padC);
          this.state = 'ia';
          break;
        }
        case 'ia': {
          if (q.length < this.iaLength) return;
          this.decrypt!.process(q.peek(this.iaLength));
          this.handOver(this.selected, this.encrypt!, this.decrypt!, this.infoHash!, this.iaLength);
          return;
        }
      }
    }
  }

  private sendStep4(): void {
    this.send(this.encrypt!.process(vcFields(this.selected, this.padding(), 0)));
  }
}

