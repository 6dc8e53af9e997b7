/**
 * Money attacks on payment channels (docs/PROTOCOL.md §11), run against the REAL escrow
 * program in the local ledger (channel-chain.ts over its JSON-RPC), with PaidSeller /
 * PaidBuyer over loopback TCP where a session is involved. The ones the program alone
 * must refuse are in attack-channels-chain.ts.
 *
 * Amounts are base units of the ledger's mint; the price is 1000 per MiB, so a voucher
 * increment (`aheadBytes`, default 1 MiB) is worth 1000.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PublicKey, type Keypair } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import type { Torrent } from '../lib/engine/torrent.js';
import type { PaidBuyer } from '../lib/paid/buyer.js';
import { PaidSeller } from '../lib/paid/seller.js';
import type { TorrentPlugin } from '../extensions/plugin.js';
import { DEFAULT_CHANNEL_AHEAD_BYTES } from '../extensions/seedpay/buyer-session.js';
import { DEFAULT_RISK_BYTES } from '../extensions/seedpay/policy.js';
import { chargeFor, MIB } from '../payment/amount.js';
import {
  funded, leechDir, makeContent, openBuyer, sleep, startSeller, until, USDC, walletOf, whenComplete, type Content, type Env,
} from './paid-helpers.js';
import { readyHook, sendInSession } from './proof-attack.js';
import type { AttackResult, MoneyAttack } from './attack-result.js';
import {
  channelRig, lateClaim, lowerVoucherOnChain, refusal, tokens, voucherOf, voucherOtherChannel, type ChannelRig,
} from './attack-channels-chain.js';

const MiB = 1024 * 1024;
const PRICE = 1_000n;
const DEPOSIT = 1n * USDC;

interface Seller { seller: PaidSeller; client: Client; torrent: Torrent; port: number }

/**
 * A channel seller on the real program, claiming only at shutdown (threshold out of
 * reach); `extensions` gate its serving path (a cheating seller).
 */
async function channelSeller(env: Env, rig: ChannelRig, content: Content, key: Keypair, extensions: TorrentPlugin[] = []): Promise<Seller> {
  const seller = await PaidSeller.open({
    chain: env.chain, wallet: walletOf(key), journalPath: join(env.root, `chan-seller-${randomBytes(4).toString('hex')}.journal`),
    price: PRICE, mint: env.ledger.mint.toBase58(), channels: { chain: rig.chain, claimThreshold: 10n ** 15n },
  });
  const client = new Client();
  const port = await client.listen(0);
  const torrent = await seller.add(client, content.meta, { dir: content.dir, assumeComplete: true, ...(extensions.length > 0 ? { extensions } : {}) });
  return { seller, client, torrent, port };
}

function channelBuyer(env: Env, rig: ChannelRig, key: Keypair): Promise<PaidBuyer> {
  return openBuyer(env, key, { maxPricePerMiB: PRICE, channel: { chain: rig.chain, deposit: DEPOSIT } });
}

/**
 * A buyer that stops signing: its first `after` vouchers go out as usual, then every
 * raise hangs (the session waits for a signature that never comes) until `release()`,
 * which fails them the way a closing buyer does.
 */
function holdVouchers(buyer: PaidBuyer, after: number): { release(): void } {
  const ch = buyer.channels;
  if (ch === null) throw new Error('the buyer has no channels');
  const real = ch.raise.bind(ch);
  const held: Array<(e: Error) => void> = [];
  let n = 0;
  ch.raise = (...args) => {
    if (n++ < after) return real(...args);
    return new Promise((_resolve, reject) => { held.push(reject); });
  };
  return {
    release() {
      ch.raise = real;
      for (const r of held.splice(0)) r(Object.assign(new Error('held voucher released'), { code: 'CLOSED' }));
    },
  };
}

/** The highest voucher the seller accepted (cumulative; one channel per attack). */
function acceptedTotal(s: Seller): bigint {
  return s.seller.totals().vouchers.reduce((m, v) => (v.amount > m ? v.amount : m), 0n);
}

/**
 * voucher-lower-amount. On chain (attack-channels-chain.ts): a seller that claimed X
 * re-claims with an older voucher W < X, then X again — refused / moves nothing. Over
 * the wire: a buyer (its session hand-driven) sends the seller, mid-download, its older
 * voucher and again its latest one — each must be answered not_increasing and credit
 * nothing: what the seller would have credited for them is `unpaid_bytes` worth of
 * serving (must be 0). `lost_base_units` is the buyer's on-chain loss.
 */
async function voucherLowerAmount(env: Env): Promise<AttackResult> {
  const chainPart = await lowerVoucherOnChain(env);
  const rig = channelRig(env);
  const content = await makeContent(env, 8 * MiB);
  const s = await channelSeller(env, rig, content, funded(env, 0n));
  const buyerKey = funded(env, 5n * USDC);
  const buyer = await channelBuyer(env, rig, buyerKey);
  const hold = holdVouchers(buyer, 2);
  const client = new Client();
  try {
    await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
    await until(() => s.seller.totals().vouchers.length >= 2, 20_000, 'two vouchers accepted');
    const [older, latest] = buyer.vouchers();
    const channel = new PublicKey(latest.channel);
    const h = readyHook(buyer);
    let sent = 0;
    const rejected: string[] = [];
    s.seller.on('voucher_rejected', (_p, _c, amount, reason) => rejected.push(`${amount} ${reason}`));
    const creditBefore = s.seller.totals().voucherCredited;
    for (const amount of [older.amount, latest.amount]) {
      const v = voucherOf(rig, buyerKey, channel, amount);
      if (h !== undefined && sendInSession(h, { type: 'payment_check', channel: channel.toBytes(), amount, sig: v.signature })) sent++;
    }
    if (sent !== 2) throw new Error(`the old vouchers could not be sent (${sent} of 2): the session closed first`);
    await sleep(500);
    const stale = s.seller.totals().voucherCredited - creditBefore;
    return {
      attack: 'voucher-lower-amount', victim: 'buyer', lost_base_units: Number(chainPart.lost), bound_base_units: 0,
      unpaid_bytes: Number((stale * MIB) / PRICE),
      outcome: `on chain: ${chainPart.outcome}. Over the wire: ${sent} old voucher(s) (${older.amount}, ${latest.amount}) after ${latest.amount}`
        + ` credited ${stale}${rejected.length > 0 ? `, seller answered ${rejected.join(', ')}` : ''}`,
    };
  } finally {
    hold.release();
    await client.close();
    await buyer.close();
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * early-reclaim: a buyer downloads over a channel (vouchers accepted by the seller),
 * then reclaims the channel before its expiry to take the vouchered funds back. The
 * program refuses (NotExpired); the seller's claim at shutdown still pays the latest
 * voucher. `lost_base_units` = the latest voucher the seller accepted − what reached
 * the seller's token account (bound 0).
 */
async function earlyReclaim(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const content = await makeContent(env, 4 * MiB);
  const sellerKey = funded(env, 0n);
  const s = await channelSeller(env, rig, content, sellerKey);
  const buyerKey = funded(env, 5n * USDC);
  const buyer = await channelBuyer(env, rig, buyerKey);
  const client = new Client();
  let reclaim: string | null = null;
  let accepted = 0n;
  let done = false;
  try {
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
    done = await whenComplete(t, 30_000).then(() => true, () => false);
    const last = (): bigint => buyer.vouchers().at(-1)?.amount ?? 0n;
    await until(() => last() > 0n && acceptedTotal(s) === last(), 10_000, 'the latest voucher accepted');
    accepted = acceptedTotal(s);
    const state = await rig.chain.fetchChannel(new PublicKey(buyer.vouchers()[0].channel));
    if (state === null) throw new Error('the channel is not on chain');
    reclaim = await refusal(rig.chain.reclaim({ buyer: buyerKey, channel: state }));
  } finally {
    await client.close();
    await buyer.close();
    await s.client.close();
    await s.seller.close(); // claims the latest voucher (and closes the channel)
  }
  const got = await tokens(env, sellerKey.publicKey);
  const claims = s.seller.totals().claims;
  return {
    attack: 'early-reclaim', victim: 'seller', lost_base_units: Number(accepted > got ? accepted - got : 0n), bound_base_units: 0, unpaid_bytes: 0,
    outcome: `${done ? 'download complete' : 'download stalled'}, vouchers up to ${accepted}; buyer's reclaim before expiry: ${reclaim ?? 'RECLAIMED'}; `
      + `seller's claim at shutdown: ${claims.length > 0 ? `${claims[0].amount}${claims[0].closed ? ' (closed)' : ''}` : 'none'}, seller holds ${got}`,
  };
}

/**
 * buyer-stops-signing: a buyer that got its first vouchers' worth of data stops
 * signing (its raises hang) but stays connected and keeps asking for blocks. The
 * seller serves only against journaled vouchers (§11: it risks nothing ahead of the
 * next voucher). `unpaid_bytes` = bytes it uploaded beyond what its credit buys;
 * `lost_base_units` = what it charged beyond the vouchers it holds (bound 0).
 */
async function buyerStopsSigning(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const content = await makeContent(env, 16 * MiB);
  const s = await channelSeller(env, rig, content, funded(env, 0n));
  const buyer = await channelBuyer(env, rig, funded(env, 5n * USDC));
  const hold = holdVouchers(buyer, 2);
  const client = new Client();
  try {
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
    await until(() => s.seller.totals().vouchers.length >= 2, 20_000, 'two vouchers accepted');
    // Long enough for the whole torrent to have been sent many times over.
    await sleep(3_000);
    const tot = s.seller.totals();
    const uploaded = BigInt(s.torrent.stats().uploaded);
    const covered = (tot.voucherCredited * MIB) / PRICE;
    const over = tot.charged - tot.voucherCredited;
    return {
      attack: 'buyer-stops-signing', victim: 'seller', lost_base_units: Number(over > 0n ? over : 0n), bound_base_units: 0,
      unpaid_bytes: Number(uploaded > covered ? uploaded - covered : 0n),
      outcome: `the buyer stopped after ${buyer.vouchers().length} voucher(s) (${tot.voucherCredited} credited, ${covered} B covered); `
        + `seller sent ${uploaded} B, charged ${tot.charged}; buyer has ${t.progress().bytesHave} of ${content.meta.totalLength} B`,
    };
  } finally {
    hold.release();
    await client.close();
    await buyer.close();
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * seller-withholds-channel: a channel seller takes the buyer's voucher and serves
 * nothing (every block refused); an honest seller has the same torrent. The buyer
 * must voucher the withholder no more than one increment and finish from the other.
 * The withholder claims what it holds at shutdown. `lost_base_units` = what reached the
 * withholder's token account − the value of what it uploaded (bound: one voucher
 * increment, `aheadBytes` worth + 1 unit of rounding, §11).
 */
async function sellerWithholdsChannel(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const content = await makeContent(env, 8 * MiB);
  const nothing: TorrentPlugin = { name: 'x_withhold_all', create: () => ({ name: 'x_withhold_all', canSendPiece: () => false }) };
  const wKey = funded(env, 0n);
  const w = await channelSeller(env, rig, content, wKey, [nothing]);
  const honest = await startSeller(env, content, funded(env, 0n), { price: PRICE });
  const buyer = await channelBuyer(env, rig, funded(env, 5n * USDC));
  const client = new Client();
  let done = false;
  let toW = 0n;
  let uploaded = 0n;
  try {
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${w.port}`, `127.0.0.1:${honest.port}`] });
    done = await whenComplete(t, 30_000).then(() => true, () => false);
    await sleep(500);
    toW = buyer.vouchers().filter((v) => v.seller === wKey.publicKey.toBase58()).reduce((a, v) => a + v.delta, 0n);
    uploaded = BigInt(w.torrent.stats().uploaded);
  } finally {
    await client.close();
    await buyer.close();
    await honest.client.close();
    await honest.seller.close();
    await w.client.close();
    await w.seller.close(); // claims what it holds
  }
  const got = await tokens(env, wKey.publicKey);
  const lost = got - chargeFor(uploaded, PRICE);
  return {
    attack: 'seller-withholds-channel', victim: 'buyer', lost_base_units: Number(lost > 0n ? lost : 0n),
    bound_base_units: Number(chargeFor(DEFAULT_CHANNEL_AHEAD_BYTES, PRICE) + 1n), unpaid_bytes: 0,
    outcome: `vouchered ${toW} to the withholder, which sent ${uploaded} B and claimed ${got}; ${done ? 'download complete from the honest seller' : 'download NOT complete'}`,
  };
}

/**
 * withheld-blocks-channel: the channel seller alone, serving every block but the last
 * of each piece (no piece ever verifies). The buyer pays vouchers for what it received;
 * what it may have at risk with one seller is bounded as in prepaid mode (its risk cap,
 * DEFAULT_RISK_BYTES worth). `lost_base_units` = what the seller claimed − the value of
 * the verified data (bound: that risk cap).
 */
async function withheldBlocksChannel(env: Env): Promise<AttackResult> {
  const rig = channelRig(env);
  const content = await makeContent(env, 48 * MiB, MiB);
  const meta = content.meta;
  const withhold: TorrentPlugin = {
    name: 'x_withhold', create: () => ({ name: 'x_withhold', canSendPiece: (i, b, l) => b + l < meta.fileMap.pieceSize(i) }),
  };
  const wKey = funded(env, 0n);
  const w = await channelSeller(env, rig, content, wKey, [withhold]);
  const buyer = await channelBuyer(env, rig, funded(env, 5n * USDC));
  const client = new Client();
  let verified = 0n;
  let received = 0;
  let vouchered = 0n;
  try {
    const t = await buyer.add(client, meta, { dir: await leechDir(env), peers: [`127.0.0.1:${w.port}`] });
    await sleep(6_000);
    verified = BigInt(t.progress().bytesHave);
    received = t.stats().downloaded;
    vouchered = buyer.vouchers().at(-1)?.amount ?? 0n;
  } finally {
    await client.close();
    await buyer.close();
    await w.client.close();
    await w.seller.close(); // claims what it holds
  }
  const got = await tokens(env, wKey.publicKey);
  const lost = got - chargeFor(verified, PRICE);
  return {
    attack: 'withheld-blocks-channel', victim: 'buyer', lost_base_units: Number(lost > 0n ? lost : 0n),
    bound_base_units: Number(chargeFor(DEFAULT_RISK_BYTES, PRICE)), unpaid_bytes: 0,
    outcome: `received ${received} B, verified ${verified} B; vouchered ${vouchered}, the seller claimed ${got}`,
  };
}

export const CHANNEL_ATTACKS: readonly MoneyAttack[] = [
  { name: 'voucher-other-channel', victim: 'buyer', requires: 'channel-program', run: voucherOtherChannel },
  { name: 'voucher-lower-amount', victim: 'buyer', requires: 'channel-program', run: voucherLowerAmount },
  { name: 'early-reclaim', victim: 'seller', requires: 'channel-program', run: earlyReclaim },
  { name: 'late-claim', victim: 'buyer', requires: 'channel-program', run: lateClaim },
  { name: 'buyer-stops-signing', victim: 'seller', requires: 'channel-program', run: buyerStopsSigning },
  { name: 'seller-withholds-channel', victim: 'buyer', requires: 'channel-program', run: sellerWithholdsChannel },
  { name: 'withheld-blocks-channel', victim: 'buyer', requires: 'channel-program', run: withheldBlocksChannel },
];
