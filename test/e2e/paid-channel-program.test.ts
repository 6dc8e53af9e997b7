/**
 * Payment channels on the real escrow program: the same PaidSeller / PaidBuyer as
 * paid-channel.test.ts, but the ChannelChain is channel-chain.ts over the local ledger's
 * JSON-RPC, with program/channel's build loaded in it. One transaction opens the channel,
 * vouchers pay over the wire, the seller's claim at shutdown pays it and refunds the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PublicKey } from '@solana/web3.js';
import { Client } from '../../lib/net/client.js';
import { associatedTokenAddress } from '../../payment/chain.js';
import { channelChainFromUrl } from '../../payment/channel/channel-chain.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC, closePaid, type Env,
} from '../../testkit/paid-helpers.js';

const PRICE = 1_000n;

async function balance(env: Env, owner: PublicKey): Promise<bigint> {
  return (await env.chain.tokenAccount(associatedTokenAddress(env.ledger.mint, owner)))?.amount ?? 0n;
}

test('channel mode on the escrow program: one open, vouchers over the wire, claim and refund at the seller\'s shutdown', { timeout: 120_000 }, async (t) => {
  // The ledger loads the built program (built here when missing; CI=true: no compiler fails).
  if (requireChannelProgram(t) === null) return;
  const env = await startEnv();
  try {
    const chain = channelChainFromUrl(env.ledger.url);
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 5n * USDC);
    const a = await makeContent(env, 3 * 1024 * 1024 + 777, 256 * 1024, 'a.bin');
    const s = await startSeller(env, a, sellerKey, { price: PRICE, channels: { chain, claimThreshold: 10n ** 15n } });
    assert.deepEqual(s.seller.terms.modes, ['prepaid', 'channel']);
    const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n, channel: { chain, deposit: 1n * USDC } });
    const leech = new Client();
    const dir = await leechDir(env);
    let last = 0n;
    try {
      const ta = await buyer.add(leech, a.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(ta, 60_000);
      assert.equal(await sha256Of(join(dir, 'a.bin')), a.sha256, 'bytes verified');
      await until(() => buyer.vouchers().every((v) => s.seller.totals().vouchers.some((x) => x.amount === v.amount)), 10_000, 'every voucher accepted');
      assert.equal(buyer.payments().length, 0, 'nothing paid prepaid');
      const vs = buyer.vouchers();
      assert.ok(vs.length >= 1);
      last = vs.at(-1)!.amount;
      const onChain = await chain.fetchChannel(new PublicKey(vs[0].channel));
      assert.ok(onChain !== null, 'the channel exists on chain');
      assert.equal(onChain.deposit, 1n * USDC);
      assert.equal(onChain.claimed, 0n, 'nothing claimed before shutdown');
      assert.equal(await balance(env, buyerKey.publicKey), 4n * USDC, 'the deposit left the buyer in one open');
      const tot = s.seller.totals();
      assert.ok(tot.charged <= tot.voucherCredited, 'nothing served beyond credit');
    } finally {
      await closePaid(leech, s, buyer);
    }
    const claims = s.seller.totals().claims;
    assert.equal(claims.length, 1, 'one claim at shutdown');
    assert.equal(claims[0].amount, last, 'the latest voucher claimed');
    assert.equal(await balance(env, sellerKey.publicKey), last, 'the seller holds what the vouchers said');
    assert.equal(await balance(env, buyerKey.publicKey), 5n * USDC - last, 'the buyer got the rest of its deposit back');
    assert.equal(await chain.fetchChannel(new PublicKey(buyer.vouchers()[0].channel)), null, 'channel closed');
  } finally {
    await env.close();
  }
});
