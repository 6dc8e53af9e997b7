/**
 * End to end over loopback TCP on the local ledger: a PaidSeller and a PaidBuyer,
 * real payments (TransferChecked + memo), real verification, real journals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { chargeFor } from '../../payment/amount.js';
import { readJournal } from '../../payment/journal.js';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC, closePaid,
} from '../../testkit/paid-helpers.js';

test('paid transfer: bytes verified, credited = paid, charge = ceil(bytes × price / MiB)', async () => {
  const env = await startEnv();
  try {
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 5n * USDC);
    const content = await makeContent(env, 6 * 1024 * 1024 + 12_345);
    const price = 1_000n; // 0.001 USDC per MiB
    const s = await startSeller(env, content, sellerKey, { price, minPrepay: 500n });
    const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n });
    const leech = new Client();
    const dir = await leechDir(env);
    try {
      const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(t, 60_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      // Let the last confirmation and charge land.
      await until(() => buyer.payments().every((p) => s.seller.totals().payments.some((c) => c.tx === p.tx)), 10_000, 'every payment credited');
      const paid = buyer.payments();
      assert.ok(paid.length >= 1, 'at least one payment');
      const tot = s.seller.totals();
      const paidSum = paid.reduce((a, p) => a + p.amount, 0n);
      assert.equal(tot.credited, paidSum, "the seller's credited total equals the buyer's payments");
      assert.equal(tot.paidBytes + tot.freeBytes, BigInt(t.stats().downloaded), 'every served byte metered');
      assert.equal(tot.charged, chargeFor(tot.paidBytes, price), 'charge = ceil(bytes × price / MiB)');
      assert.ok(tot.charged <= tot.credited, 'nothing served beyond credit');
      // On chain: the seller's ATA holds exactly what was paid.
      const ata = getAssociatedTokenAddressSync(env.ledger.mint, sellerKey.publicKey, true);
      assert.equal((await env.chain.tokenAccount(ata))?.amount, paidSum);
      await closePaid(leech, s, buyer);
      // Journals: credits on one side, payments on the other, the same signatures.
      const sj = await readJournal(s.seller.journal.path);
      const bj = await readJournal(buyer.journal.path);
      assert.deepEqual(
        sj.records.filter((r) => r.kind === 'credit').map((r) => r.signature).sort(),
        bj.records.filter((r) => r.kind === 'payment').map((r) => r.signature).sort(),
      );
      assert.equal(sj.summary.totals.earned, paidSum);
      assert.equal(bj.summary.totals.spent, paidSum);
      assert.equal(sj.summary.totals.charged, tot.charged, 'final charge journaled');
    } finally {
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});
