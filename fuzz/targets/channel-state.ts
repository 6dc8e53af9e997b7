/**
 * Channel state target: decodeChannel (payment/channel/program.ts) on account bytes from
 * an RPC gives a ChannelState or a ChannelDecodeError; a decoded state re-encodes to the
 * very same 200 bytes (every byte is a field or checked padding, the bump aside).
 */
import { PublicKey } from '@solana/web3.js';
import { ChannelDecodeError, CHANNEL_STATE_LEN, decodeChannel, DEFAULT_CHANNEL_PROGRAM_ID } from '../../payment/channel/program.js';
import type { ChannelState } from '../../payment/channel/types.js';
import { type FuzzTarget, bytesEqual, check, expectTyped } from '../target.js';

const ADDRESS = new PublicKey(new Uint8Array(32).fill(9));

function encode(st: ChannelState, bump: number): Uint8Array {
  const d = Buffer.alloc(CHANNEL_STATE_LEN);
  d[0] = 1;
  d[1] = bump;
  [st.buyer, st.seller, st.mint, st.vault, st.voucherKey].forEach((k, i) => d.set(k.toBytes(), 8 + 32 * i));
  d.writeBigUInt64LE(st.deposit, 168);
  d.writeBigUInt64LE(st.claimed, 176);
  d.writeBigInt64LE(st.expiry, 184);
  d.writeBigUInt64LE(st.nonce, 192);
  return new Uint8Array(d);
}

export const channelStateTarget: FuzzTarget = {
  name: 'channel-state',
  about: 'payment/channel/program.ts decodeChannel (account data) and its re-encoding',
  maxInputLength: 512,
  run(input) {
    const st = expectTyped('decodeChannel', () => decodeChannel(ADDRESS, DEFAULT_CHANNEL_PROGRAM_ID, input), (e) => e instanceof ChannelDecodeError);
    if (st === undefined) return;
    check(input.length === CHANNEL_STATE_LEN, 'decoded a state of the wrong length');
    check(bytesEqual(encode(st, input[1]), input), 'state does not survive decode → encode');
  },
  seeds() {
    const good = new Uint8Array(CHANNEL_STATE_LEN);
    good[0] = 1;
    good[1] = 255;
    for (let i = 8; i < CHANNEL_STATE_LEN; i++) good[i] = (i * 7) & 0xff;
    return [good, new Uint8Array(CHANNEL_STATE_LEN), good.subarray(0, 199), Uint8Array.of(1)];
  },
  dictionary: [Uint8Array.of(1), new Uint8Array(8), new Uint8Array(8).fill(0xff)],
};
