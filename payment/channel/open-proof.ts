/**
 * The buyer's proof that a channel it names in a session is its own
 * (docs/PROTOCOL.md, "Payment channels"; message `channel_opened`).
 *
 *   message = "seedpay-v1-channel-open" || info_hash(20) || session_hash(32 raw) || channel(32)
 *   sig     = ed25519(buyer wallet key, message)
 *
 * Why: a channel's vouchers are cumulative and the seller credits each increase once,
 * to the session it arrives on. Without a binding, anyone who learnt a buyer's channel
 * address (it is public on chain) could name it in a session of its own and be served
 * against vouchers the buyer sends, or race the buyer's own session for them. The seller
 * checks this signature, then checks that the channel's on-chain buyer is this wallet.
 * The info hash and the session hash make the proof good for this session only; the
 * domain tag differs from every other SeedPay signature ("seedpay-v1-session",
 * "seedpay-v1-resume", "seedpay-v1-credit-…", "seedpay-channel-v1").
 */
import { signTranscript, verifyTranscript } from '../session.js';

export const CHANNEL_OPEN_DOMAIN = new TextEncoder().encode('seedpay-v1-channel-open');

/** The bytes the buyer's wallet signs to name `channel` in session `sessionHash` (64 hex) of torrent `infoHash`. */
export function channelOpenMessage(infoHash: Uint8Array, sessionHash: string, channel: Uint8Array): Uint8Array {
  if (!(infoHash instanceof Uint8Array) || infoHash.length !== 20) throw new RangeError('infoHash must be 20 bytes');
  if (typeof sessionHash !== 'string' || !/^[0-9a-f]{64}$/.test(sessionHash)) throw new RangeError('sessionHash must be 64 lowercase hex');
  if (!(channel instanceof Uint8Array) || channel.length !== 32) throw new RangeError('channel must be 32 bytes');
  const d = CHANNEL_OPEN_DOMAIN.length;
  const out = new Uint8Array(d + 20 + 32 + 32);
  out.set(CHANNEL_OPEN_DOMAIN, 0);
  out.set(infoHash, d);
  out.set(Buffer.from(sessionHash, 'hex'), d + 20);
  out.set(channel, d + 52);
  return out;
}

export function signChannelOpen(walletSeed: Uint8Array, message: Uint8Array): Uint8Array {
  return signTranscript(walletSeed, message);
}

/** Never throws on hostile input. */
export function verifyChannelOpen(walletPublic: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return verifyTranscript(walletPublic, message, sig);
}
