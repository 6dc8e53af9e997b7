/**
 * Payment-channel messages target (docs/PROTOCOL.md, "Payment channels"): decodeMessage
 * on channel-shaped payloads gives a message or a typed SeedPayError; a decoded channel
 * message re-encodes to bytes that decode to the same message (what we send we would
 * accept), with every byte field of its exact size.
 */
import { decodeMessage, encodeMessage } from '../../extensions/seedpay/messages.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { type FuzzTarget, ascii, check, expectTyped } from '../target.js';
import { sameMessage } from './seedpay.js';

const CHANNEL = new Set(['channel_opened', 'channel_confirmed', 'channel_rejected', 'payment_check', 'payment_check_required', 'payment_check_rejected', 'channel_closed']);
const SIZES: Record<string, number> = { channel: 32, buyer: 32, sig: 64, mac: 16 };


export const seedpayChannelTarget: FuzzTarget = {
  name: 'seedpay-channel',
  about: 'extensions/seedpay/messages.ts channel messages: decode / encode',
  maxInputLength: 8 * 1024,
  run(input) {
    const m = expectTyped('decodeMessage', () => decodeMessage(input), (e) => e instanceof SeedPayError && e.remote);
    if (m === undefined || m.type === 'unknown' || !CHANNEL.has(m.type)) return;
    for (const [k, v] of Object.entries(m)) {
      if (v instanceof Uint8Array) check(v.length === SIZES[k], `${m.type}.${k} is ${v.length} bytes`);
    }
    const enc = expectTyped('encodeMessage(decoded)', () => encodeMessage(m), () => false)!;
    const back = expectTyped('decodeMessage(encodeMessage(decoded))', () => decodeMessage(enc), () => false)!;
    check(back.type !== 'unknown' && sameMessage(m, back), `${m.type} does not survive encode → decode`);
  },
  seeds() {
    const ch = new Uint8Array(32).fill(3);
    return [
      encodeMessage({ type: 'channel_opened', channel: ch, buyer: new Uint8Array(32).fill(4), sig: new Uint8Array(64).fill(5) }),
      encodeMessage({ type: 'channel_confirmed', channel: ch, accepted: 1_000n, balance: 18446744073709551615n }),
      encodeMessage({ type: 'channel_rejected', channel: ch, reason: 'wrong_buyer' }),
      encodeMessage({ type: 'payment_check', channel: ch, amount: 1_000_000n, sig: new Uint8Array(64).fill(6) }),
      encodeMessage({ type: 'payment_check_required', channel: ch, accepted: 5n, balance: 0n, required: 500n }),
      encodeMessage({ type: 'payment_check_rejected', channel: ch, amount: 7n, reason: 'not_increasing' }),
      encodeMessage({ type: 'channel_closed', channel: ch, reason: 'expiring', mac: new Uint8Array(16).fill(1) }),
    ];
  },
  dictionary: ['4:type', '7:channel', '5:buyer', '3:sig', '6:amount', '8:accepted', '7:balance', '8:required', '6:reason', '3:mac',
    '32:', '64:', '16:', 'i18446744073709551616e', 'i-1e', 'i0e', '14:channel_opened', '17:channel_confirmed', '16:channel_rejected',
    '13:payment_check', '22:payment_check_required', '22:payment_check_rejected', '14:channel_closed'].map(ascii),
};
