/**
 * MSE initiator target: wire/mse MseInitiator (what our dialler runs under 'require')
 * fed a hostile responder, in chunks cut by the input. Raw: the bytes are Yb, PadB and
 * whatever follows (the bounded search for ENCRYPT(VC)). Keyed: the target plays a
 * responder whose DH key it knows; it sends Yb and then the input as the PLAINTEXT of
 * ENCRYPT(VC, crypto_select, len(PadD), PadD, stream), encrypted with keyB.
 * Outcomes allowed: a result or an MseError. Invariants: a sticky error; bounded
 * output; a result's method is one we offered and exactly the selected bit; in keyed
 * runs the stream handed over is the plaintext after PadD.
 *
 * Input: [flags][seed][bytes ...]; flags bit 0 keyed, bit 1 'require', bits 3-7 split mode.
 */
import { MseInitiator } from '../../wire/mse/index.js';
import { DhKey, DH_KEY_LENGTH } from '../../wire/mse/dh.js';
import { sessionCiphers } from '../../wire/mse/keys.js';
import { MAX_PAD_LENGTH } from '../../wire/mse/machine.js';
import { type FuzzTarget, bytesEqual, check, concat, split } from '../target.js';
import { feedMse, randomFrom } from './mse-drive.js';

const INFO_HASH = Uint8Array.from({ length: 20 }, (_, i) => 7 * i + 1);
/** Ya, PadA, then req1, req2^req3, ENCRYPT(VC, provide, len(PadC), PadC, len(IA)) with no IA. */
const MAX_OUTPUT = DH_KEY_LENGTH + MAX_PAD_LENGTH + 20 + 20 + 16 + MAX_PAD_LENGTH;

export const mseInitiatorTarget: FuzzTarget = {
  name: 'mse-initiator',
  about: 'wire/mse MseInitiator: raw responder bytes, or a responder with known keys whose encrypted fields come from the input',
  maxInputLength: 4096,
  run(input) {
    if (input.length < 2) return;
    const flags = input[0];
    const keyed = (flags & 1) !== 0;
    const mode = (flags & 2) !== 0 ? 'require' : 'prefer';
    const offered = mode === 'require' ? 0x02 : 0x03;
    const body = input.subarray(2);
    const m = new MseInitiator({ infoHash: INFO_HASH, mode, now: 0, random: randomFrom(input[1]) });
    const out: Uint8Array[] = [];
    for (let c = m.pollTransmit(); c !== null; c = m.pollTransmit()) out.push(c);
    let wire = body;
    if (keyed) {
      const b = new DhKey(concat([new Uint8Array([0x80]), randomFrom(input[1] ^ 0x33)(19)]));
      const s = b.sharedSecret(out[0]);
      if (s === null) return;
      const cipherText = new Uint8Array(body);
      sessionCiphers('responder', s, INFO_HASH).encrypt.process(cipherText);
      wire = concat([b.publicKey, cipherText]);
    }
    const err = feedMse(m, split(wire, flags >> 3, input[1]), out);
    const sent = out.reduce((n, c) => n + c.length, 0);
    check(sent <= MAX_OUTPUT, `initiator sent ${sent} bytes`);
    const r = m.result;
    if (err !== null || r === null) return;
    check(r.handshake === 'mse', 'an initiator result must be MSE');
    const bit = r.method === 'rc4' ? 0x02 : 0x01;
    check((bit & offered) !== 0, `selected ${r.method}, which we did not offer`);
    check((r.encrypt !== null) === (r.method === 'rc4'), 'ciphers do not match the method');
    if (keyed) {
      // Fields: VC(8) crypto_select(4) len(PadD)(2) PadD, then the stream.
      check(body.length >= 14, 'finished before crypto_select arrived');
      const sel = ((body[8] << 24) | (body[9] << 16) | (body[10] << 8) | body[11]) >>> 0;
      check(sel === bit, `crypto_select 0x${sel.toString(16)} accepted as ${r.method}`);
      const padD = (body[12] << 8) | body[13];
      const stream = body.subarray(14 + padD);
      if (r.method === 'rc4') check(bytesEqual(r.initialPayload, stream.subarray(0, r.initialPayload.length)), 'stream not decrypted to the plaintext');
    }
  },
  seeds() {
    const fields = (sel: number, padD: number, stream: number[]): Uint8Array => new Uint8Array([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, sel, padD >> 8, padD & 0xff, ...new Array<number>(padD).fill(0), ...stream,
    ]);
    return [
      concat([new Uint8Array([1, 1]), fields(2, 0, [0, 0, 0, 1, 2])]),
      concat([new Uint8Array([1 | (3 << 3), 2]), fields(1, 5, [19, 66, 84])]),
      concat([new Uint8Array([1 | 2, 3]), fields(1, 0, [])]),
      concat([new Uint8Array([1, 4]), fields(3, 0, [])]),
      concat([new Uint8Array([1, 5]), fields(2, 513, [])]),
      concat([new Uint8Array([0, 6]), new Uint8Array(700).fill(0x99)]),
    ];
  },
  dictionary: [new Uint8Array(8), new Uint8Array([0, 0, 0, 2]), new Uint8Array([0, 0, 0, 1]), new Uint8Array([2, 0]), new Uint8Array([2, 1])],
};
