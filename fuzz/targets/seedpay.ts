/**
 * SeedPay messages target (SEEDPAY.md §8): decodeMessage on any payload gives a message
 * (known or 'unknown') or a SeedPayError; a decoded known message re-encodes, and the
 * re-encoding decodes to the same message (what we send we would accept).
 */
import bs58 from 'bs58';
import { decodeMessage, encodeMessage, type SeedPayMessage } from '../../extensions/seedpay/messages.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { encode } from '../../wire/bencode.js';
import { type FuzzTarget, ascii, bytesEqual, check, expectTyped } from '../target.js';

/** Two decoded messages carry the same fields and values (bytes compared by content). */
export function sameMessage(a: SeedPayMessage, b: SeedPayMessage): boolean {
  const ka = Object.keys(a).sort(); const kb = Object.keys(b).sort();
  if (ka.join() !== kb.join()) return false;
  for (const k of ka) {
    const x = (a as unknown as { [k: string]: unknown })[k]; const y = (b as unknown as { [k: string]: unknown })[k];
    if (x instanceof Uint8Array && y instanceof Uint8Array) { if (!bytesEqual(x, y)) return false; } else if (x !== y) return false;
  }
  return true;
}

export const seedpayTarget: FuzzTarget = {
  name: 'seedpay',
  about: 'extensions/seedpay/messages.ts decodeMessage / encodeMessage',
  maxInputLength: 8 * 1024,
  run(input) {
    const m = expectTyped('decodeMessage', () => decodeMessage(input), (e) => e instanceof SeedPayError && e.remote);
    if (m === undefined || m.type === 'unknown') return;
    const enc = expectTyped('encodeMessage(decoded)', () => encodeMessage(m), () => false)!;
    const back = expectTyped('decodeMessage(encodeMessage(decoded))', () => decodeMessage(enc), () => false)!;
    check(back.type !== 'unknown' && sameMessage(m, back), `${m.type} does not survive encode → decode`);
  },
  seeds() {
    const tx = bs58.encode(new Uint8Array(64).fill(7));
    return [
      encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32).fill(1) }),
      encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32).fill(1), sig: new Uint8Array(64).fill(2) }),
      encodeMessage({ type: 'payment_proof', tx, amount: 1_000_000n }),
      encodeMessage({ type: 'payment_confirmed', tx, credited: 1_000_000n, balance: 18446744073709551615n }),
      encodeMessage({ type: 'payment_rejected', tx, reason: 'insufficient_amount' }),
      encodeMessage({ type: 'payment_required', balance: 0n, required: 500n }),
      // session resume (docs/PROTOCOL.md §4)
      encodeMessage({ type: 'session_resume', prev: 'ab'.repeat(32), payer: new Uint8Array(32).fill(3), sig: new Uint8Array(64).fill(4) }),
      encodeMessage({ type: 'session_resumed', prev: 'cd'.repeat(32), credited: 7_000n, balance: 9_000n }),
      encodeMessage({ type: 'resume_rejected', prev: 'ef'.repeat(32), reason: 'wrong_payer' }),
      new Uint8Array(encode({ type: 'future_message', x: 1 })),
      // message authentication (docs/PROTOCOL.md §3): the buyer's request, a tagged message
      encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32).fill(1), wantMac: true }),
      encodeMessage({ type: 'payment_rejected', tx, reason: 'insufficient_amount', mac: new Uint8Array(16).fill(5) }),
    ];
  },
  dictionary: ['4:type', '2:pk', '3:sig', '2:tx', '6:amount', '8:credited', '7:balance', '8:required', '6:reason', '32:', '64:', '88:', 'i18446744073709551616e', 'i-1e', '9:ecdh_init', '13:payment_proof',
    '4:prev', '5:payer', '14:session_resume', '15:session_resumed', '15:resume_rejected', '3:mac', '16:', 'i1e'].map(ascii),
};
