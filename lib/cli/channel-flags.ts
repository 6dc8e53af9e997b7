/**
 * What the channel-aware CLI commands share (`seed --channels`, `get`, `channels reclaim`):
 * the escrow program id (`--channel-program`, default the checkout's DEFAULT_CHANNEL_PROGRAM_ID),
 * whether that program is deployed at the RPC (an executable account at the id), and the
 * ChannelChain on the same RPC URL as the prepaid chain.
 */
import { PublicKey } from '@solana/web3.js';
import { channelChainFromUrl } from '../../payment/channel/channel-chain.js';
import { DEFAULT_CHANNEL_PROGRAM_ID } from '../../payment/channel/program.js';
import type { ChannelChain } from '../../payment/channel/types.js';
import { CliError, type ParsedArgs } from './args.js';
import type { Rpc } from './paid-common.js';

export const CHANNEL_PROGRAM_FLAG = '--channel-program';

/** `--channel-program ID` (base58), default DEFAULT_CHANNEL_PROGRAM_ID; a malformed id is a usage error. */
export function channelProgramId(a: ParsedArgs): PublicKey {
  const text = a.flags.get(CHANNEL_PROGRAM_FLAG);
  if (text === undefined) return DEFAULT_CHANNEL_PROGRAM_ID;
  try {
    return new PublicKey(text);
  } catch {
    throw new CliError(`bad ${CHANNEL_PROGRAM_FLAG} '${text}' (a base58 program id)`, 2);
  }
}

/** Whether an executable account sits at `programId` on the RPC's cluster. */
export async function channelProgramDeployed(rpc: Rpc, programId: PublicKey): Promise<boolean> {
  let info;
  try {
    info = await rpc.connection.getAccountInfo(programId, 'confirmed');
  } catch (e) {
    throw new CliError(`cannot look up the channel program at RPC ${rpc.url}: ${(e as Error).message}`);
  }
  return info !== null && info.executable;
}

/** One clear line when the program is not there (before anything listens or pays). */
export async function requireChannelProgramAt(rpc: Rpc, programId: PublicKey): Promise<void> {
  if (await channelProgramDeployed(rpc, programId)) return;
  throw new CliError(`the channel program ${programId.toBase58()} is not deployed at RPC ${rpc.url} `
    + `(deploy it: seedpay channels deploy, or pass ${CHANNEL_PROGRAM_FLAG} <id>)`);
}

/** The escrow program's client on the same RPC URL as `rpc`. */
export function channelChainOf(rpc: Rpc, programId: PublicKey): ChannelChain {
  return channelChainFromUrl(rpc.url, { programId });
}

/** A unix-seconds expiry as the user reads it. */
export function expiryText(expiry: bigint): string {
  const ms = Number(expiry) * 1000;
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : `${expiry} (unix seconds)`;
}
