/**
 * Money attacks on payment channels that the escrow program itself must refuse
 * (program/channel/channel.c, CHANNEL-SPEC.md), each against the REAL program loaded in
 * the local ledger and driven over its JSON-RPC (payment/channel/channel-chain.ts). A
 * cheating party builds its own transactions here, so the client-side checks of
 * channel-chain.ts (a voucher that does not verify is never sent) are out of the way:
 * what stops it is the program's named error.
 *
 * Shared by testkit/attack-channels.ts (the list) and the wire attacks.
 */
import { createAssociatedTokenAccountIdempotentInstruction, TOKEN_PROGRAM_ID } from '@solana/spl-token';
import { Connection, type Keypair, type PublicKey } from '@solana/web3.js';
import { associatedTokenAddress } from '../payment/chain.js';
import { channelChainFromUrl, ChannelTxError } from '../payment/channel/channel-chain.js';
import { claimInstruction, voucherVerifyInstruction } from '../payment/channel/program.js';
import { sendChannelTransaction } from '../payment/channel/send-tx.js';
import type { ChannelChain, ChannelState, Voucher } from '../payment/channel/types.js';
import { signVoucher, voucherMessage } from '../payment/channel/voucher.js';
import { funded, USDC, type Env } from './paid-helpers.js';
import type { AttackResult } from './attack-result.js';

export interface ChannelRig {
  readonly chain: ChannelChain;
  readonly conn: Connection;
}

/** The channel program's client on this environment's ledger (which must have loaded the program). */
export function channelRig(env: Env): ChannelRig {
  if (!env.ledger.engine.channelProgramLoaded) throw new Error('the ledger has no channel program (build it: payment/channel/program-binary.ts)');
  return { chain: channelChainFromUrl(env.ledger.url, { pollIntervalMs: 20 }), conn: new Connection(env.ledger.url, 'confirmed') };
}

export async function tokens(env: Env, owner: PublicKey): Promise<bigint> {
  return (await env.chain.tokenAccount(associatedTokenAddress(env.ledger.mint, owner)))?.amount ?? 0n;
}

/** The voucher a buyer's library signs (lib/paid/buyer-channels.ts raise): cumulative `amount` on `channel`. */
export function voucherOf(rig: ChannelRig, voucherKey: Keypair, channel: PublicKey, amount: bigint): Voucher {
  const m = voucherMessage({ programId: rig.chain.programId.toBytes(), channel: channel.toBytes(), amount });
  return { channel, amount, signature: signVoucher(voucherKey.secretKey.subarray(0, 32), m) };
}

/**
 * A seller's claim on `channel` with any voucher, as a cheating seller sends it: the
 * Ed25519 precompile proves the voucher's own message (whatever channel it names), the
 * claim instruction names `channel`. Resolves to the program's error name, or null when
 * the claim landed.
 */
export async function rawClaim(rig: ChannelRig, seller: Keypair, channel: ChannelState, voucher: Voucher, close = false): Promise<string | null> {
  const sellerAta = associatedTokenAddress(channel.mint, seller.publicKey);
  const ixs = [
    createAssociatedTokenAccountIdempotentInstruction(seller.publicKey, sellerAta, seller.publicKey, channel.mint, TOKEN_PROGRAM_ID),
    voucherVerifyInstruction({ programId: channel.programId, voucherKey: channel.voucherKey, voucher }),
    claimInstruction({ channel, amount: voucher.amount, close }),
  ];
  return refusal(sendChannelTransaction(rig.conn, 'claim', ixs, [seller], { programId: channel.programId, pollIntervalMs: 20 }));
}

/** null when the transaction landed; the program's error name (or the failure) when it was refused. */
export async function refusal(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    if (e instanceof ChannelTxError) return e.channelError ?? `${e.code}: ${e.message.slice(0, 120)}`;
    throw e;
  }
}

/** Open a channel from `buyer` to `seller` as the buyer's library does (one transaction); its state. */
export async function openChannel(rig: ChannelRig, env: Env, buyer: Keypair, seller: PublicKey, deposit: bigint, nonce: bigint, expiry: bigint): Promise<ChannelState> {
  const tx = await rig.chain.open({ buyer, seller, mint: env.ledger.mint, nonce, deposit, expiry, voucherKey: buyer.publicKey });
  const st = await rig.chain.fetchChannel(tx.channel);
  if (st === null) throw new Error('the opened channel is not on chain');
  return st;
}

/**
 * voucher-other-channel: one buyer has a channel A with seller SA and a channel B with
 * seller SB (both its, same voucher key). SB gets hold of a voucher the buyer signed on
 * A (SA and SB collude, or are one) and presents it to claim from B: the Ed25519 check
 * passes (the buyer did sign it), but the message names A. The program must refuse
 * (VoucherMismatch). `lost_base_units` = what left B's deposit for SB, for which the
 * buyer signed nothing on B (bound 0).
 */
export async function voucherOtherChannel(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const buyer = funded(env, 5n * USDC);
  const sa = funded(env, 0n);
  const sb = funded(env, 0n);
  const expiry = (await rig.chain.clock()) + 3600n;
  const a = await openChannel(rig, env, buyer, sa.publicKey, 1n * USDC, 1n, expiry);
  const b = await openChannel(rig, env, buyer, sb.publicKey, 1n * USDC, 2n, expiry);
  const onA = voucherOf(rig, buyer, a.address, 600_000n);
  const kept = await rawClaim(rig, sb, b, onA, false);
  const closed = await rawClaim(rig, sb, b, onA, true);
  // The voucher is good where it belongs.
  const onItsOwn = await rawClaim(rig, sa, a, onA, false);
  const bAfter = await rig.chain.fetchChannel(b.address);
  const lost = await tokens(env, sb.publicKey);
  return {
    attack: 'voucher-other-channel', victim: 'buyer', lost_base_units: Number(lost), bound_base_units: 0, unpaid_bytes: 0,
    outcome: `A's voucher of ${onA.amount} on B: ${kept ?? 'CLAIMED'}; with close: ${closed ?? 'CLAIMED'}; B claimed ${bAfter?.claimed ?? 'closed'}`
      + ` of ${b.deposit}; on A itself: ${onItsOwn ?? 'claimed'} (SA holds ${await tokens(env, sa.publicKey)})`,
  };
}

/**
 * voucher-lower-amount, on chain: a seller claimed the buyer's latest voucher X (kept
 * open) and tries again with an older, lower voucher W (to set `claimed` back to W and
 * claim X − W a second time), then with X again. The program refuses the lower one
 * (AmountBelowClaimed) and the equal one moves nothing. `lost_base_units` = what the
 * seller got − the highest voucher (bound 0).
 */
export async function lowerVoucherOnChain(env: Env): Promise<{ lost: bigint; outcome: string }> {
  const rig = channelRig(env);
  const buyer = funded(env, 5n * USDC);
  const seller = funded(env, 0n);
  const c = await openChannel(rig, env, buyer, seller.publicKey, 1n * USDC, 1n, (await rig.chain.clock()) + 3600n);
  const w = voucherOf(rig, buyer, c.address, 300_000n);
  const x = voucherOf(rig, buyer, c.address, 700_000n);
  const first = await refusal(rig.chain.claim({ seller, channel: c, voucher: x, close: false }));
  const lower = await rawClaim(rig, seller, c, w, false);
  const lowerClose = await rawClaim(rig, seller, c, w, true);
  const equal = await rawClaim(rig, seller, c, x, false);
  const got = await tokens(env, seller.publicKey);
  return {
    lost: got > x.amount ? got - x.amount : 0n,
    outcome: `claimed ${x.amount}: ${first ?? 'ok'}; then ${w.amount}: ${lower ?? 'CLAIMED'} (with close: ${lowerClose ?? 'CLAIMED'}); `
      + `${x.amount} again: ${equal ?? 'landed'}; seller holds ${got}`,
  };
}

/**
 * late-claim: the buyer vouchered V on a channel; the seller claimed part of it (W,
 * kept open: a threshold claim) before expiry, then waits past the expiry — when the
 * unclaimed rest is the buyer's to reclaim — and claims V (and V with close). The
 * program refuses (ChannelExpired); the buyer reclaims everything not claimed in time.
 * `lost_base_units` = what the buyer is out in the end (deposit − reclaimed) − what the
 * seller claimed before expiry (bound 0): with the late claim allowed it would be V − W.
 */
export async function lateClaim(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const t0 = Math.floor(Date.now() / 1000);
  env.ledger.setClock(t0);
  const buyer = funded(env, 5n * USDC);
  const seller = funded(env, 0n);
  const before = await tokens(env, buyer.publicKey);
  const expiry = BigInt(t0 + 3600);
  const c = await openChannel(rig, env, buyer, seller.publicKey, 1n * USDC, 1n, expiry);
  const w = voucherOf(rig, buyer, c.address, 250_000n);
  const v = voucherOf(rig, buyer, c.address, 800_000n);
  const inTime = await refusal(rig.chain.claim({ seller, channel: c, voucher: w, close: false }));
  const claimedInTime = (await rig.chain.fetchChannel(c.address))?.claimed ?? 0n;
  env.ledger.setClock(Number(expiry));
  const late = await rawClaim(rig, seller, (await rig.chain.fetchChannel(c.address))!, v, false);
  const lateClose = await rawClaim(rig, seller, (await rig.chain.fetchChannel(c.address))!, v, true);
  const state = await rig.chain.fetchChannel(c.address);
  const reclaim = state === null ? 'closed already' : await refusal(rig.chain.reclaim({ buyer, channel: state }));
  const out = before - await tokens(env, buyer.publicKey);
  const lost = out - claimedInTime;
  return {
    attack: 'late-claim', victim: 'buyer', lost_base_units: Number(lost > 0n ? lost : 0n), bound_base_units: 0, unpaid_bytes: 0,
    outcome: `claimed ${w.amount} before expiry: ${inTime ?? 'ok'}; at expiry ${v.amount}: ${late ?? 'CLAIMED'} (with close: ${lateClose ?? 'CLAIMED'}); `
      + `buyer's reclaim: ${reclaim ?? 'ok'}; buyer out ${out} of its ${c.deposit} deposit, seller holds ${await tokens(env, seller.publicKey)}`,
  };
}
