/**
 * A rate-limited paid seller over loopback TCP on the local ledger: the buyer pays in
 * small steps (its credit runs out and is refilled while the limit holds blocks back),
 * and still every byte the seller metered is a byte it sent and the buyer received,
 * the charge is the price of those bytes, nothing is served beyond credit, and the
 * sends never exceed the limit in any window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { PaidSeller } from '../../lib/paid/seller.js';
import { chargeFor } from '../../payment/amount.js';
import { depthFor } from '../../lib/net/token-bucket.js';
import {
  closePaid, funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, until, walletOf, whenComplete, USDC,
} from '../../testkit/paid-helpers.js';
import { PIECE_HEADER, sendLogger, worstWindow, type Sample } from '../../testkit/rate-samples.js';

test('a rate-limited seller meters exactly what it sends, and sends no faster than its limit', async () => {
  const env = await startEnv();
  try {
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 5n * USDC);
    const content = await makeContent(env, 3 * 1024 * 1024 + 4321);
    const price = 1_000n;
    const cap = 2 * 1024 * 1024;
    const seller = await PaidSeller.open({
      chain: env.chain, wallet: walletOf(sellerKey), journalPath: join(env.root, 'seller.journal'),
      price, mint: env.ledger.mint.toBase58(), minPrepay: 100n, lowWaterBytes: 256n * 1024n,
    });
    const seedClient = new Client({ uploadLimit: cap });
    const sends: Sample[] = [];
    const port = await seedClient.listen(0);
    await seller.add(seedClient, content.meta, { dir: content.dir, assumeComplete: true, extensions: [sendLogger(sends)] });
    // Prepay at most ~0.5 MiB at a time: the credit runs dry several times during the transfer.
    const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n, maxPrepay: 500n });
    const leech = new Client();
    const s = { client: seedClient, seller };
    try {
      const dir = await leechDir(env);
      const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${port}`] });
      await whenComplete(t, 120_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      await until(() => buyer.payments().every((p) => seller.totals().payments.some((c) => c.tx === p.tx)), 10_000, 'every payment credited');
      assert.ok(buyer.payments().length >= 2, `paid in several steps (${buyer.payments().length})`);
      const tot = seller.totals();
      const sent = sends.reduce((a, x) => a + x.n - PIECE_HEADER, 0);
      assert.equal(tot.paidBytes + tot.freeBytes, BigInt(sent), 'every metered byte was sent');
      assert.equal(BigInt(t.stats().downloaded), BigInt(sent), 'and received by the buyer');
      assert.equal(tot.charged, chargeFor(tot.paidBytes, price), 'charge = ceil(bytes × price / MiB)');
      assert.ok(tot.charged <= tot.credited, 'nothing served beyond credit');
      const w = worstWindow(sends, cap);
      // A bucket, plus what a stall of the process left granted but unsent (rate-limit-transfer.test.ts).
      assert.ok(w.excess <= 2 * depthFor(cap) + 2 * (16 * 1024 + PIECE_HEADER), `sends ${Math.round(w.excess)} bytes above the limit in [${w.from}, ${w.to}]`);
    } finally {
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});
