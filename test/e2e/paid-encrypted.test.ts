/**
 * A paid transfer over an encrypted connection (MSE/PE, RC4 both ways): our PaidSeller
 * and PaidBuyer, both clients with encryption 'require', through a tap on the path.
 * The payment goes through and is credited, the bytes verify, and the observer sees
 * neither the BitTorrent handshake, nor the SeedPay terms, nor file bytes in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { tcpTap } from '../../testkit/tcp-tap.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC, closePaid,
} from '../../testkit/paid-helpers.js';

test('paid transfer over MSE/PE (RC4): paid, credited, verified, nothing in the clear on the wire', { timeout: 60_000 }, async () => {
  const env = await startEnv();
  try {
    const content = await makeContent(env, 3 * 1024 * 1024 + 777);
    const s = await startSeller(env, content, funded(env, 0n), { price: 1_000n, minPrepay: 500n }, { encryption: 'require' });
    const buyer = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: 2_000n });
    const leech = new Client({ encryption: 'require' });
    const relay = await tcpTap(s.port);
    try {
      const dir = await leechDir(env);
      const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${relay.port}`] });
      await whenComplete(t, 40_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      await until(() => buyer.payments().length > 0 && buyer.payments().every((p) => s.seller.totals().payments.some((c) => c.tx === p.tx)), 10_000, 'every payment credited');
      assert.ok(s.seller.totals().credited > 0n, 'the seller was paid');
      const wire = relay.seen();
      assert.ok(wire.length > content.meta.totalLength, 'the payload crossed the tap');
      assert.equal(wire.indexOf('BitTorrent protocol'), -1, 'no plain BitTorrent handshake');
      assert.equal(wire.indexOf('seedpay'), -1, 'no plain SeedPay terms or messages');
      const sample = (await readFile(join(dir, 'data.bin'))).subarray(100_000, 100_064);
      assert.equal(wire.indexOf(sample), -1, 'no plain file bytes');
    } finally {
      relay.server.close();
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});
