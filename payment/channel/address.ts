/**
 * A channel's address, as the contract fixes it (CHANNEL-SPEC "Accounts"): the
 * program-derived address of the seeds ["channel", buyer(32), seller(32), mint(32),
 * nonce (u64 little-endian)]. A buyer computes it before it sends the open transaction,
 * so the channel is in its journal before any money can move.
 */
import { PublicKey } from '@solana/web3.js';

export function channelAddress(programId: PublicKey, buyer: PublicKey, seller: PublicKey, mint: PublicKey, nonce: bigint): PublicKey {
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(nonce);
  return PublicKey.findProgramAddressSync([Buffer.from('channel'), buyer.toBuffer(), seller.toBuffer(), mint.toBuffer(), n], programId)[0];
}
