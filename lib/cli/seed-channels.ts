/**
 * `seedpay seed … --channels [--channel-program ID] [--claim-threshold U]`: the paid seller
 * also offers payment channels (docs/PROTOCOL.md §11) on the escrow program at the same
 * RPC. The program must be deployed there (checked before anything listens). Claims go
 * out past the threshold, near a channel's expiry, and at shutdown, where `seed` waits
 * for them (PaidSeller.close) and prints each one.
 */
import type { ClaimDone } from '../paid/channel-claims.js';
import type { PaidSeller, SellerChannelOptions } from '../paid/seller.js';
import { CliError, type ParsedArgs } from './args.js';
import { CHANNEL_PROGRAM_FLAG, channelChainOf, channelProgramId, requireChannelProgramAt } from './channel-flags.js';
import { checkAmountFlag, formatToken, tokenAmount, type Rpc, type Token } from './paid-common.js';

export const SEED_CHANNEL_FLAGS = { values: [CHANNEL_PROGRAM_FLAG, '--claim-threshold'], booleans: ['--channels'] } as const;

/** Syntax only (before anything is connected): the channel flags need --channels. */
export function checkSeedChannelFlags(a: ParsedArgs): void {
  checkAmountFlag('--claim-threshold', a.flags.get('--claim-threshold'), false);
  if (a.flags.has('--channels')) { channelProgramId(a); return; }
  for (const f of SEED_CHANNEL_FLAGS.values) if (a.flags.has(f)) throw new CliError(`${f} needs --channels`, 2);
}

/** The seller's channel options, or undefined without --channels; fails with one line when the program is absent. */
export async function sellerChannels(a: ParsedArgs, rpc: Rpc, token: Token): Promise<{ options: SellerChannelOptions; describe: string } | undefined> {
  if (!a.flags.has('--channels')) return undefined;
  const programId = channelProgramId(a);
  await requireChannelProgramAt(rpc, programId);
  const threshold = tokenAmount(token, '--claim-threshold', a.flags.get('--claim-threshold'), false);
  const options: SellerChannelOptions = { chain: channelChainOf(rpc, programId), ...(threshold !== undefined ? { claimThreshold: threshold } : {}) };
  // The library's default threshold is 1,000,000 base units (1 USDC at 6 decimals).
  const shown = formatToken(token, threshold ?? 1_000_000n);
  return { options, describe: `payment channels offered on program ${programId.toBase58()} (claims past ${shown} vouchered, near expiry and at shutdown)` };
}

/** Channel lines on stderr: buyers' channels checked, and each claim as it lands (also those at shutdown). */
export function reportChannels(seller: PaidSeller, token: Token, err: NodeJS.WritableStream): void {
  const u = (x: bigint): string => formatToken(token, x);
  seller.on('channel', (p, channel, ok, reason) => {
    err.write(ok ? `${p.peer} pays on channel ${channel}\n` : `channel ${channel} of ${p.peer} refused: ${reason ?? 'unknown'}\n`);
  });
  seller.on('voucher_rejected', (p, channel, amount, reason) => err.write(`voucher of ${u(amount)} on channel ${channel} from ${p.peer} rejected: ${reason}\n`));
  const claimed = (c: ClaimDone): void => {
    err.write(`claimed ${u(c.paid)} on channel ${c.channel} (voucher total ${u(c.amount)}, ${c.reason}${c.closed ? ', channel closed' : ''}) tx ${c.tx}\n`);
  };
  // Claims open() already made (vouchers an earlier run left), then each one as it lands.
  for (const c of seller.totals().claims) claimed(c);
  seller.on('claimed', claimed);
}

/** The closing line of a channel seller: what its vouchers and claims came to. */
export function channelTotalsLine(seller: PaidSeller, token: Token): string {
  const t = seller.totals();
  const channels = new Set(t.vouchers.map((v) => v.channel)).size;
  const claimed = t.claims.reduce((s, c) => s + c.paid, 0n);
  return `vouchers ${formatToken(token, t.voucherCredited)} on ${channels} channel(s); claimed ${formatToken(token, claimed)} in ${t.claims.length} claim(s)`;
}
