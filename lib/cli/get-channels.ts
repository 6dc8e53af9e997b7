/**
 * Payment channels in a paid `seedpay get` (docs/PROTOCOL.md §11): a seller offering mode
 * `channel` on our program (`--channel-program`, default DEFAULT_CHANNEL_PROGRAM_ID) is paid
 * by vouchers on one escrow channel (PaidBuyer `channel`), opened with `--channel-deposit`
 * (default: the smaller of --budget and 1 whole token) or reused from the journal. `--prepaid`
 * refuses channels. When the program is not deployed at the RPC, channels are off.
 *
 * The deposit counts against --budget: when a channel is first confirmed in this run, what
 * can still be vouchered on it (deposit − vouchers already signed) is reserved in the
 * total budget, so prepaid payments and vouchers together stay within --budget. (The
 * reservation follows the open: prepaid payments made before it can leave less room than
 * the deposit; a warning says so.)
 *
 * `get` never reclaims by itself: a reclaim is a transaction the user asks for
 * (`seedpay channels reclaim`). At the start it says when expired channels of ours still
 * hold money; the summary reminds that the unvouchered rest of a deposit comes back when
 * the seller closes the channel, or after expiry with `seedpay channels reclaim`.
 */
import { PublicKey, type Keypair } from '@solana/web3.js';
import type { Budget } from '../../extensions/seedpay/policy.js';
import type { ChannelChain } from '../../payment/channel/types.js';
import type { PaidBuyer, PaidBuyerOptions } from '../paid/buyer.js';
import { CliError, type ParsedArgs } from './args.js';
import { CHANNEL_PROGRAM_FLAG, channelChainOf, channelProgramDeployed, channelProgramId, expiryText } from './channel-flags.js';
import { checkAmountFlag, formatToken, tokenAmount, type Rpc, type Token } from './paid-common.js';

export const GET_CHANNEL_FLAGS = { values: [CHANNEL_PROGRAM_FLAG, '--channel-deposit'], booleans: ['--prepaid'] } as const;

/** Syntax only (before anything is connected). */
export function checkGetChannelFlags(a: ParsedArgs): void {
  checkAmountFlag('--channel-deposit', a.flags.get('--channel-deposit'), false);
  channelProgramId(a);
  if (a.flags.has('--prepaid')) {
    for (const f of GET_CHANNEL_FLAGS.values) if (a.flags.has(f)) throw new CliError(`--prepaid uses no channel: ${f} does not go with it`, 2);
  }
}

/** How this get pays sellers that offer channels. */
export interface ChannelPlan {
  /** What goes into PaidBuyer.open. */
  readonly options: Pick<PaidBuyerOptions, 'channel' | 'prepaidOnly'>;
  /** The channel client and deposit when channels are on. */
  readonly on: { readonly chain: ChannelChain; readonly deposit: bigint; readonly programId: PublicKey } | null;
  /** Why channels are off (null: on, or --prepaid). */
  readonly offReason: string | null;
}

export async function channelPlan(a: ParsedArgs, rpc: Rpc, token: Token, budget: bigint): Promise<ChannelPlan> {
  if (a.flags.has('--prepaid')) return { options: { prepaidOnly: true }, on: null, offReason: null };
  const programId = channelProgramId(a);
  const whole = 10n ** BigInt(token.decimals);
  const deposit = tokenAmount(token, '--channel-deposit', a.flags.get('--channel-deposit'), false) ?? (budget < whole ? budget : whole);
  if (deposit > budget) {
    throw new CliError(`--channel-deposit ${formatToken(token, deposit)} is above --budget ${formatToken(token, budget)} (the deposit counts against the budget)`, 2);
  }
  if (deposit <= 0n) throw new CliError('--channel-deposit must be above 0 (or pass --prepaid)', 2);
  if (!await channelProgramDeployed(rpc, programId)) {
    return { options: { prepaidOnly: true }, on: null, offReason: `the channel program ${programId.toBase58()} is not deployed at this RPC; paid prepaid only` };
  }
  const chain = channelChainOf(rpc, programId);
  return { options: { channel: { chain, deposit } }, on: { chain, deposit, programId }, offReason: null };
}

/**
 * Count each channel this run uses against the total budget (see the header), and say
 * when a seller refuses our channel. Returns the channels confirmed (for the summary).
 */
export function watchChannels(buyer: PaidBuyer, total: Budget, token: Token, say: (line: string) => void): Set<string> {
  const seen = new Set<string>();
  buyer.on('channel', (p, channel, ok, reason) => {
    if (!ok) { say(`${p.peer} refused our channel ${channel}: ${reason ?? 'unknown'}`); return; }
    if (seen.has(channel)) return;
    seen.add(channel);
    const deposit = buyer.journal.channelOf(channel)?.open?.deposit ?? 0n;
    const room = deposit - buyer.journal.sentOf(channel);
    if (room <= 0n) return;
    const take = room < total.remaining ? room : total.remaining;
    if (take > 0n) total.reserve(take);
    say(`paying ${p.peer} by vouchers on channel ${channel} (deposit ${formatToken(token, deposit)})`);
    if (take < room) say(`warning: channel ${channel} can still take ${formatToken(token, room)} in vouchers, more than is left of --budget (${formatToken(token, take)})`);
  });
  return seen;
}

/** One line when expired channels of ours still hold money (a few lookups; errors are ignored: only a hint). */
export async function expiredHint(buyer: PaidBuyer, chain: ChannelChain, payer: Keypair, token: Token): Promise<string | null> {
  try {
    const now = await chain.clock();
    let n = 0;
    let held = 0n;
    const expired = buyer.journal.channelBooks().filter((b) => b.open !== undefined && b.open.expiry <= now).slice(-32);
    for (const b of expired) {
      const s = await chain.fetchChannel(new PublicKey(b.channel)).catch(() => null);
      if (s === null || !s.buyer.equals(payer.publicKey)) continue;
      n++;
      held += s.deposit - s.claimed;
    }
    return n === 0 ? null : `note: ${n} expired channel(s) of yours still hold ${formatToken(token, held)}: take it back with seedpay channels reclaim`;
  } catch {
    return null;
  }
}

/** The summary lines of the channels this get used (stdout, after the per-seller lines). */
export function channelSummary(buyer: PaidBuyer, infoHash: string, confirmed: ReadonlySet<string>, token: Token): string[] {
  const u = (x: bigint): string => formatToken(token, x);
  const vs = buyer.vouchers().filter((v) => v.infoHash === infoHash);
  const channels = new Set([...confirmed, ...vs.map((v) => v.channel)]);
  const out: string[] = [];
  for (const ch of channels) {
    const open = buyer.journal.channelOf(ch)?.open;
    const mine = vs.filter((v) => v.channel === ch);
    const now = mine.reduce((s, v) => s + v.delta, 0n);
    const total = buyer.journal.sentOf(ch);
    if (open === undefined) continue;
    out.push(`  channel ${ch} with seller ${open.seller}: deposit ${u(open.deposit)}, vouchers ${u(total)} in total (${u(now)} in ${mine.length} voucher(s) now)`);
    out.push(`    the unvouchered ${u(open.deposit - total)} comes back when the seller closes the channel, or after ${expiryText(open.expiry)} with: seedpay channels reclaim`);
  }
  return out;
}
