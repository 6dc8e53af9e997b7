/**
 * MSE responder target: wire/mse MseResponder fed hostile bytes, in chunks cut by the
 * input. Two ways in, chosen by the first byte:
 *  - raw: the bytes go straight in (plain-handshake detection, Ya, the bounded search
 *    for HASH('req1', S) through garbage);
 *  - keyed: the target plays an initiator whose DH key it knows, answers the
 *    responder's Yb with a correct HASH('req1', S) and req2 ^ req3 (for a torrent the
 *    responder knows, or not), and the input is the PLAINTEXT of what follows
 *    (VC, crypto_provide, len(PadC), PadC, len(IA), IA, stream), encrypted with keyA:
 *    the fuzzer reaches every field the responder decrypts.
 * Outcomes allowed: a result or an MseError, never another exception. Invariants: a
 * sticky error; bounded output; a plain result only for the BitTorrent header under
 * 'prefer'; a method the policy allows; in keyed runs the handed-over stream is exactly
 * the plaintext after len(IA), decrypted.
 *
 * Input: [flags][seed][bytes ...]; flags bit 0 keyed, bit 1 'require', bit 2 unknown
 * torrent, bits 3-7 split mode.
 */
import { MseResponder, type MseError } from '../../wire/mse/index.js';
import { DhKey, DH_KEY_LENGTH } from '../../wire/mse/dh.js';
import { req1Hash, req2Hash, req3Hash, sessionCiphers, xor20 } from '../../wire/mse/keys.js';
import { MAX_PAD_LENGTH } from '../../wire/mse/machine.js';
import { type FuzzTarget, ascii, bytesEqual, check, concat, split } from '../target.js';
import { feedMse, randomFrom } from './mse-drive.js';

const KNOWN = Uint8Array.from({ length: 20 }, (_, i) => i * 11);
const UNKNOWN = Uint8Array.from({ length: 20 }, (_, i) => 255 - i);
const BT_HEADER = concat([new Uint8Array([19]), ascii('BitTorrent protocol')]);
/** Most a responder may send: Yb, PadB, then ENCRYPT(VC, crypto_select, len(PadD), PadD). */
const MAX_OUTPUT = DH_KEY_LENGTH + MAX_PAD_LENGTH + 14 + MAX_PAD_LENGTH;

export const mseTarget: FuzzTarget = {
  name: 'mse-responder',
  about: 'wire/mse MseResponder: raw bytes, or an initiator with known keys whose encrypted fields come from the input',
  maxInputLength: 4096,
  run(input) {
    if (input.length < 2) return;
    const flags = input[0];
    const keyed = (flags & 1) !== 0;
    const mode = (flags & 2) !== 0 ? 'require' : 'prefer';
    const body = input.subarray(2);
    const m = new MseResponder({
      mode, now: 0, random: randomFrom(input[1]), findInfoHash: (req2) => (bytesEqual(req2, req2Hash(KNOWN)) ? KNOWN : null),
    });
    const out: Uint8Array[] = [];
    let stream: Uint8Array | null = null;
    let err: MseError | null;
    if (!keyed) {
      err = feedMse(m, split(body, flags >> 3, input[1]), out);
    } else {
      // The responder must see MSE (not a BT header) to answer with Yb.
      const a = new DhKey(concat([new Uint8Array([1]), randomFrom(input[1] ^ 0x55)(19)]));
      err = feedMse(m, [a.publicKey], out);
      check(err === null, `Ya alone was refused: ${err?.code}`);
      const yb = concat(out);
      const s = a.sharedSecret(yb.subarray(0, DH_KEY_LENGTH));
      if (s === null) return; // a degenerate Yb from the seeded RNG: nothing to drive
      const skey = (flags & 4) !== 0 ? UNKNOWN : KNOWN;
      const cipherText = new Uint8Array(body);
      sessionCiphers('initiator', s, skey).encrypt.process(cipherText);
      const wire = concat([req1Hash(s), xor20(req2Hash(skey), req3Hash(s)), cipherText]);
      err = feedMse(m, split(wire, flags >> 3, input[1]), out);
      // Where the stream starts in the plaintext, if the fields parse.
      if (body.length >= 14) {
        const padC = (body[12] << 8) | body[13];
        if (body.length >= 14 + padC) stream = body.subarray(14 + padC);
      }
    }
    const sent = out.reduce((n, c) => n + c.length, 0);
    check(sent <= MAX_OUTPUT, `responder sent ${sent} bytes`);
    const r = m.result;
    if (err !== null) {
      check(r === null, 'both a result and an error');
      if (err.code === 'BAD_REQ1_SYNC') check(!keyed, 'sync lost although req1 was sent right after Ya');
      if (keyed && (flags & 4) !== 0) check(err.code === 'UNKNOWN_INFO_HASH' || err.code === 'TRUNCATED', `unknown torrent gave ${err.code}`);
      return;
    }
    if (r === null) return; // needs more input
    if (r.handshake === 'plain') {
      check(!keyed && mode === 'prefer' && bytesEqual(body.subarray(0, 20), BT_HEADER), 'plain result without a BitTorrent header under prefer');
      return;
    }
    check(mode === 'prefer' || r.method === 'rc4', `'require' selected ${r.method}`);
    check(r.infoHash !== null && bytesEqual(r.infoHash, KNOWN), 'result names another torrent');
    if (keyed) {
      check((flags & 4) === 0, 'an unknown torrent was accepted');
      check(stream !== null && stream.length >= 2, 'finished before len(IA) arrived');
      const ia = (stream![0] << 8) | stream![1];
      const after = stream!.subarray(2);
      check(after.length >= ia, 'finished before IA arrived');
      // IA is RC4 either way; after it, plaintext selection leaves the bytes as sent (RC4'd by our encrypt).
      // Chunks after the one that finished were not fed: the payload is a prefix.
      check(r.initialPayload.length >= ia, 'IA cut short');
      if (r.method === 'rc4') check(bytesEqual(r.initialPayload, after.subarray(0, r.initialPayload.length)), 'stream bytes not decrypted to the plaintext');
      else check(bytesEqual(r.initialPayload.subarray(0, ia), after.subarray(0, ia)), 'IA not decrypted');
    }
  },
  seeds() {
    const hs = concat([BT_HEADER, new Uint8Array(8), KNOWN, ascii('-LT2080-abcdefghijkl')]);
    const field = (provide: number, padC: number, ia: Uint8Array): Uint8Array => concat([
      new Uint8Array(8), new Uint8Array([0, 0, 0, provide, padC >> 8, padC & 0xff]), new Uint8Array(padC),
      new Uint8Array([ia.length >> 8, ia.length & 0xff]), ia,
    ]);
    return [
      concat([new Uint8Array([0, 1]), hs]),
      concat([new Uint8Array([2 | (1 << 3), 2]), hs]),
      concat([new Uint8Array([0, 3]), new Uint8Array(700).fill(0x42)]),
      concat([new Uint8Array([1, 4]), field(3, 0, hs)]),
      concat([new Uint8Array([1 | 2 | (7 << 3), 5]), field(2, 10, hs), ascii('stream')]),
      concat([new Uint8Array([1 | 2, 6]), field(1, 0, hs)]),
      concat([new Uint8Array([1 | 4, 7]), field(3, 0, hs)]),
      concat([new Uint8Array([1, 8]), field(2, 600, new Uint8Array(0))]),
    ];
  },
  dictionary: [BT_HEADER, new Uint8Array(8), new Uint8Array([0, 0, 0, 3]), new Uint8Array([0, 0, 0, 2]), new Uint8Array([2, 0]), new Uint8Array([0, 68])],
};
