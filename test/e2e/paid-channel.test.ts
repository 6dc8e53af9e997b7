/**
 * Payment channels end to end over loopback TCP: a PaidSeller offering mode channel and
 * a PaidBuyer paying by vouchers, on the in-memory ChannelChain (testkit: the escrow
 * program's rules), the local ledger for the cluster and the prepaid path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PublicKey } from '@solana/web3.js';
import { Client } from '../../lib/net/client.js';
import { readJournal } from '../../payment/journal.js';
import { MemoryChannelChain } from '../../testkit/memory-channel-chain.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC, closePaid,
} from '../../testkit/paid-helpers.js';

const PRICE = 1_000n;

test('channel mode: paid download by vouchers, served ≤ credited, vouchers journaled before credit; the channel is reused for a second torrent and claimed (and closed) at shutdown', async () => {
  const env = await startEnv();
  try {
    const chain = new MemoryChannelChain();
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 0n); // no ledger tokens: it cannot pay prepaid
    chain.fund(buyerKey.publicKey, env.ledger.mint, 5n * USDC);
    const a = await makeContent(env, 3 * 1024 * 1024 + 777, 256 * 1024, 'a.bin');
    const b = await makeContent(env, 2 * 1024 * 1024 + 5, 256 * 1024, 'b.bin');
    const s = await startSeller(env, a, sellerKey, { price: PRICE, channels: { chain, claimThreshold: 10n ** 15n } });
    await s.seller.add(s.client, b.meta, { dir: b.dir, assumeComplete: true });
    assert.deepEqual(s.seller.terms.modes, ['prepaid', 'channel']);
    assert.equal(s.seller.terms.channel, chain.programId.toBase58());
    const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n, channel: { chain, deposit: 1n * USDC } });
    const leech = new Client();
    const dir = await leechDir(env);
    try {
      const ta = await buyer.add(leech, a.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(ta, 60_000);
      assert.equal(await sha256Of(join(dir, 'a.bin')), a.sha256, 'first torrent: bytes verified');
      const tb = await buyer.add(leech, b.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(tb, 60_000);
      assert.equal(await sha256Of(join(dir, 'b.bin')), b.sha256, 'second torrent: bytes verified');
      await until(() => buyer.vouchers().every((v) => s.seller.totals().vouchers.some((x) => x.amount === v.amount)), 10_000, 'every voucher accepted');

      assert.equal(buyer.payments().length, 0, "nothing paid prepaid");
      const vs = buyer.vouchers();
      assert.ok(vs.length >= 2, 'vouchers sent');
      assert.equal(new Set(vs.map((v) => v.channel)).size, 1, 'one channel for both torrents');
      assert.equal(new Set(vs.map((v) => v.infoHash)).size, 2, 'vouchers in both torrents');
      const opens = chain.transactions;
      assert.equal(opens, 1, 'one open transaction, no claim yet');
      const tot = s.seller.totals();
      const last = vs.at(-1)!.amount;
      assert.equal(tot.voucherCredited, last, 'credited = the latest voucher (cumulative)');
      assert.ok(tot.charged <= tot.voucherCredited, 'nothing served beyond credit');
      const served = BigInt(ta.stats().downloaded + tb.stats().downloaded);
      assert.ok(last - tot.charged <= 2n * 1024n * PRICE / 1024n + 2n, `buyer's money ahead of what it received is one increment at most (${last - tot.charged})`);
      assert.equal(tot.paidBytes + tot.freeBytes, served, 'every served byte metered');
    } finally {
      await closePaid(leech, s, buyer);
    }
    // Shutdown: the seller claimed its latest voucher and closed the channel (its buyer is gone).
    assert.equal(chain.claims.length, 1);
    const claim = chain.claims[0];
    const sj = await readJournal(s.seller.journal.path);
    const bj = await readJournal(buyer.journal.path);
    const vouchers = sj.records.filter((r) => r.kind === 'voucher');
    const sent = bj.records.filter((r) => r.kind === 'voucher_sent');
    assert.deepEqual(vouchers.map((r) => r.amount), sent.map((r) => r.amount), 'every voucher sent was journaled by the seller, in order');
    assert.equal(claim.amount, sent.at(-1)!.amount);
    assert.ok(claim.close);
    assert.deepEqual(sj.records.filter((r) => r.kind === 'channel_claimed').map((r) => r.kind === 'channel_claimed' && [r.amount, r.closed]), [[claim.amount, true]]);
    assert.equal(chain.balanceOf(sellerKey.publicKey, env.ledger.mint), claim.amount, 'the seller holds what the vouchers said');
    assert.equal(chain.balanceOf(buyerKey.publicKey, env.ledger.mint), 5n * USDC - claim.amount, 'the buyer got the rest of its deposit back');
    assert.equal(bj.summary.totals.spent, claim.amount, "the buyer's journal counts the vouchers as spent");
    assert.equal(sj.summary.totals.earned, claim.amount, "the seller's journal counts them as earned");
    assert.equal(chain.peek(new PublicKey(claim.channel)), null, 'channel closed');
  } finally {
    await env.close();
  }
});

test('channel mode: when a threshold claim took the latest voucher, the seller still closes the channel at shutdown (the deposit refunded now, not at expiry)', async () => {
  const env = await startEnv();
  try {
    const chain = new MemoryChannelChain();
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 0n);
    chain.fund(buyerKey.publicKey, env.ledger.mint, 5n * USDC);
    const a = await makeContent(env, 2 * 1024 * 1024 + 99, 256 * 1024, 'a.bin');
    // A threshold of one base unit: every voucher is claimed as it comes.
    const s = await startSeller(env, a, sellerKey, { price: PRICE, channels: { chain, claimThreshold: 1n } });
    const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n, channel: { chain, deposit: 1n * USDC } });
    const leech = new Client();
    const dir = await leechDir(env);
    let last = 0n;
    try {
      const ta = await buyer.add(leech, a.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(ta, 60_000);
      await until(() => buyer.vouchers().every((v) => s.seller.totals().vouchers.some((x) => x.amount === v.amount)), 10_000, 'every voucher accepted');
      last = buyer.vouchers().at(-1)!.amount;
      await until(() => s.seller.totals().claims.some((c) => c.amount === last), 10_000, 'the latest voucher claimed while the session is live');
      assert.ok(s.seller.totals().claims.every((c) => !c.closed), 'threshold claims keep the channel open');
    } finally {
      await closePaid(leech, s, buyer);
    }
    const claims = s.seller.totals().claims;
    const close = claims.at(-1)!;
    assert.ok(close.closed, 'closed at shutdown');
    assert.equal(close.amount, last);
    assert.equal(close.paid, 0n, 'nothing more to pay');
    assert.equal(chain.peek(new PublicKey(close.channel)), null, 'channel closed');
    assert.equal(chain.balanceOf(sellerKey.publicKey, env.ledger.mint), last);
    assert.equal(chain.balanceOf(buyerKey.publicKey, env.ledger.mint), 5n * USDC - last, 'the rest of the deposit back to the buyer');
  } finally {
    await env.close();
  }
});

test('channel mode: a seller stopped before it could claim claims the latest journaled voucher when it starts again', async () => {
  const env = await startEnv();
  try {
    const chain = new MemoryChannelChain();
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 0n);
    chain.fund(buyerKey.publicKey, env.ledger.mint, 2n * USDC);
    const a = await makeContent(env, 2 * 1024 * 1024 + 99);
    const journalPath = join(env.root, 'seller-restart.journal');
    const s = await startSeller(env, a, sellerKey, { price: PRICE, journalPath, channels: { chain, claimThreshold: 10n ** 15n } });
    const buyer = await openBuyer(env, buyerKey, { channel: { chain, deposit: 1n * USDC } });
    const leech = new Client();
    const dir = await leechDir(env);
    let errors = 0;
    s.seller.on('error', () => { errors++; });
    try {
      const t = await buyer.add(leech, a.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(t, 60_000);
      await until(() => buyer.vouchers().every((v) => s.seller.totals().vouchers.some((x) => x.amount === v.amount)), 10_000, 'every voucher accepted');
      // The cluster is unreachable when the seller stops: its shutdown claim fails.
      chain.failClaims = true;
    } finally {
      await closePaid(leech, s, buyer);
    }
    assert.equal(chain.claims.length, 0, 'nothing claimed');
    assert.ok(errors >= 1, 'the failed claim was reported');
    const latest = buyer.vouchers().at(-1)!.amount;
    chain.failClaims = false;
    // A new process on the same journal: it claims at start, before serving anyone.
    const again = await startSeller(env, a, sellerKey, { price: PRICE, journalPath, channels: { chain, claimThreshold: 10n ** 15n } });
    try {
      assert.equal(chain.claims.length, 1, 'claimed on start');
      assert.equal(chain.claims[0].amount, latest, 'with the latest journaled voucher');
      assert.equal(chain.claims[0].close, false, 'left open at start (its buyer may come back)');
      assert.equal(chain.balanceOf(sellerKey.publicKey, env.ledger.mint), latest);
      assert.equal(again.seller.journal.channelOf(chain.claims[0].channel)?.claimed?.amount, latest, 'the claim is journaled');
    } finally {
      await again.client.close();
      chain.failClaims = true; // nothing more to claim anyway: the shutdown finds it claimed
      await again.seller.close();
    }
  } finally {
    await env.close();
  }
});

test('a seller with prepaid only is paid prepaid by a buyer that has channels; a buyer with prepaidOnly pays a channel seller prepaid', async () => {
  const env = await startEnv();
  try {
    const chain = new MemoryChannelChain();
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 5n * USDC);
    chain.fund(buyerKey.publicKey, env.ledger.mint, 5n * USDC);
    const a = await makeContent(env, 1024 * 1024 + 3);
    // 1. The seller offers prepaid only.
    const s1 = await startSeller(env, a, sellerKey, { price: PRICE, minPrepay: 100n });
    assert.deepEqual(s1.seller.terms.modes, ['prepaid']);
    assert.equal(s1.seller.terms.channel, undefined);
    const b1 = await openBuyer(env, buyerKey, { channel: { chain } });
    const l1 = new Client();
    try {
      const t = await b1.add(l1, a.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s1.port}`] });
      await whenComplete(t, 60_000);
      assert.ok(b1.payments().length >= 1, 'paid prepaid');
      assert.equal(b1.vouchers().length, 0, 'no voucher');
      assert.equal(chain.transactions, 0, 'no channel opened');
    } finally {
      await closePaid(l1, s1, b1);
    }
    // 2. The seller offers both; the buyer wants prepaid only.
    const s2 = await startSeller(env, a, sellerKey, { price: PRICE, minPrepay: 100n, channels: { chain } });
    const b2 = await openBuyer(env, buyerKey, { channel: { chain }, prepaidOnly: true });
    const l2 = new Client();
    try {
      const t = await b2.add(l2, a.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s2.port}`] });
      await whenComplete(t, 60_000);
      await until(() => b2.payments().every((p) => s2.seller.totals().payments.some((c) => c.tx === p.tx)), 10_000, 'every payment credited');
      assert.ok(b2.payments().length >= 1, 'paid prepaid');
      assert.equal(b2.vouchers().length, 0);
      assert.equal(s2.seller.totals().vouchers.length, 0);
      assert.equal(chain.transactions, 0, 'no channel opened');
    } finally {
      await closePaid(l2, s2, b2);
    }
  } finally {
    await env.close();
  }
});
