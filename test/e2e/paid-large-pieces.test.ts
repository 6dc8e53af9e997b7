/**
 * Torrents with large pieces (16 MiB, common for big files) under the default risk cap,
 * prepaid and by payment channel: a piece verifies only once all of it is paid for, so
 * the cap must hold a piece and the one requested while it completes. With the fixed
 * 8 MiB starting cap these downloads stalled after one payment, before any hash check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { chargeFor } from '../../payment/amount.js';
import { MemoryChannelChain } from '../../testkit/memory-channel-chain.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, whenComplete, USDC, closePaid,
} from '../../testkit/paid-helpers.js';

const PRICE = 1_000n;
const PIECE = 16 * 1024 * 1024;

for (const mode of ['prepaid', 'channel'] as const) {
  test(`16 MiB pieces, ${mode}, default risk: the download completes; never more at risk than two pieces' worth`, { timeout: 90_000 }, async () => {
    const env = await startEnv();
    try {
      const chain = new MemoryChannelChain();
      const sellerKey = funded(env, 0n);
      const buyerKey = funded(env, mode === 'prepaid' ? 10n * USDC : 0n);
      if (mode === 'channel') chain.fund(buyerKey.publicKey, env.ledger.mint, 10n * USDC);
      const content = await makeContent(env, 3 * PIECE + 4321, PIECE, 'big.bin');
      const s = await startSeller(env, content, sellerKey, { price: PRICE, ...(mode === 'channel' ? { channels: { chain } } : {}) });
      const buyer = await openBuyer(env, buyerKey, { maxPricePerMiB: 2_000n, ...(mode === 'channel' ? { channel: { chain, deposit: 1n * USDC } } : {}) });
      const leech = new Client();
      const dir = await leechDir(env);
      // What the buyer has paid beyond what verified, sampled as the transfer runs.
      let worst = 0n;
      try {
        const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
        const timer = setInterval(() => {
          const paid = mode === 'prepaid' ? buyer.payments().reduce((n, p) => n + p.amount, 0n) : (buyer.vouchers().at(-1)?.amount ?? 0n);
          const verified = BigInt(t.progress().have) * BigInt(PIECE);
          const atRisk = paid - chargeFor(verified, PRICE);
          if (atRisk > worst) worst = atRisk;
        }, 5);
        try {
          await whenComplete(t, 60_000);
        } finally {
          clearInterval(timer);
        }
        assert.equal(await sha256Of(join(dir, 'big.bin')), content.sha256);
        if (mode === 'prepaid') assert.ok(buyer.payments().length > 0); else assert.ok(buyer.vouchers().length > 0);
        assert.ok(worst <= chargeFor(2n * BigInt(PIECE), PRICE) + 1n, `at risk ${worst} > two pieces' worth`);
      } finally {
        await closePaid(leech, s, buyer);
      }
    } finally {
      await env.close();
    }
  });
}
