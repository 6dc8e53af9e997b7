/**
 * Payment-channel vouchers (docs/PROTOCOL.md, "Payment channels"): the cumulative
 * amount a buyer has paid into one channel, signed with the channel's voucher key.
 * The seller checks each voucher locally (no RPC); the escrow program checks the one
 * it claims through the Ed25519 precompile in the same transaction.
 *
 *   message = "seedpay-channel-v1" (18 bytes) || program id(32) || channel address(32) || amount(u64 little-endian)
 *   sig     = ed25519(voucher key, message)
 *
 * Why each part:
 *  - the domain tag differs from every other signed SeedPay message ("seedpay-v1-…"), so
 *    no signature made for one of them is a voucher;
 *  - the program id and the channel address name exactly one escrow: a voucher for
 *    another channel (or another deployment of the program) claims nothing here;
 *  - the amount is cumulative (everything paid into the channel so far), so the latest
 *    voucher supersedes the others and replaying an older one gains nothing (the program
 *    pays out only `amount − claimed`). Little-endian because the program reads it so.
 */
import { signTranscript, verifyTranscript } from '../session.js';
import { U64_MAX } from '../amount.js';

export const VOUCHER_DOMAIN = new TextEncoder().encode('seedpay-channel-v1');
export const VOUCHER_MESSAGE_LENGTH = VOUCHER_DOMAIN.length + 32 + 32 + 8;

/** The bytes the voucher key signs. */
export function voucherMessage(args: { programId: Uint8Array; channel: Uint8Array; amount: bigint }): Uint8Array {
  if (!(args.programId instanceof Uint8Array) || args.programId.length !== 32) throw new RangeError('programId must be 32 bytes');
  if (!(args.channel instanceof Uint8Array) || args.channel.length !== 32) throw new RangeError('channel must be 32 bytes');
  if (typeof args.amount !== 'bigint' || args.amount < 0n || args.amount > U64_MAX) throw new RangeError('amount must be a u64 bigint');
  const d = VOUCHER_DOMAIN.length;
  const out = new Uint8Array(VOUCHER_MESSAGE_LENGTH);
  out.set(VOUCHER_DOMAIN, 0);
  out.set(args.programId, d);
  out.set(args.channel, d + 32);
  new DataView(out.buffer).setBigUint64(d + 64, args.amount, true);
  return out;
}

/** Sign with the voucher key's 32-byte ed25519 seed. */
export function signVoucher(voucherSeed: Uint8Array, message: Uint8Array): Uint8Array {
  return signTranscript(voucherSeed, message);
}

/** Whether `sig` (64 bytes) is the voucher key's signature of `message`. Never throws on hostile input. */
export function verifyVoucher(voucherPublic: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return verifyTranscript(voucherPublic, message, sig);
}
