/**
 * Paying in a swarm, end to end over real loopback TCP with the local ledger: one
 * PaidBuyer among a free seeder (its upload capped) and several PaidSellers at
 * different prices (docs/PROTOCOL.md "Paying in a swarm").
 *  - with a target rate: free bytes first, the cheapest seller bought from before the
 *    dearer one, a seller above --max-price never paid; the per-seller summary adds up
 *    to the journal's payments, within the budget;
 *  - as fast as possible: a seller that leaves mid-download — the buyer completes from
 *    the others and keeps that seller's session for resume; back with a price above the
 *    max price, it is refused and not paid again.
 * Rates are only the seeders' caps (to give the download a shape); nothing here asserts
 * a speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '../../lib/net/client.js';
import { PaidSeller } from '../../lib/paid/seller.js';
import type { PaidBuyer, SellerSummary } from '../../lib/paid/buyer.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, walletOf, whenComplete, USDC, type Content,
} from '../../testkit/paid-helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

async function freeSeeder(content: Content, uploadLimit: number): Promise<{ client: Client; port: number }> {
  const client = new Client({ uploadLimit });
  const port = await client.listen(0);
  await client.add(content.meta, { dir: content.dir, assumeComplete: true });
  return { client, port };
}

/** Journal payments for this torrent must be exactly what the per-seller summary says was paid. */
function checkSummary(buyer: PaidBuyer, ih: string, budget: bigint): SellerSummary[] {
  const rows = buyer.perSeller().filter((r) => r.infoHash === ih);
  const paid = rows.reduce((a, r) => a + r.paid, 0n);
  assert.equal(paid, buyer.journal.spentOn(ih), 'the summary adds up to the journal');
  assert.equal(paid, buyer.spent);
  assert.equal(rows.reduce((a, r) => a + r.payments, 0), buyer.payments().length);
  assert.ok(paid <= budget, `paid ${paid} within the budget ${budget}`);
  return rows;
}

test('a target rate: free bytes first, then the cheapest seller; the dearer is bought from less, one above max price never', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  const closers: (() => Promise<void>)[] = [];
  try {
    const content = await makeContent(env, 12 * MiB);
    const free = await freeSeeder(content, 512 * KiB);
    closers.push(() => free.client.close());
    const mk = async (price: bigint): Promise<Awaited<ReturnType<typeof startSeller>> & { wallet: string }> => {
      const k = funded(env, 0n);
      const s = await startSeller(env, content, k, { price, minPrepay: 100n }, { uploadLimit: MiB });
      closers.push(() => s.client.close(), () => s.seller.close());
      return { ...s, wallet: walletOf(k).address };
    };
    const cheap = await mk(1_000n);
    const mid = await mk(2_000n);
    const dear = await mk(50_000n);
    const budget = 1n * USDC;
    // Free gives 0.5 MiB/s; the target needs 0.75 more: the cheap seller (1 MiB/s) covers it.
    const buyer = await openBuyer(env, funded(env, 5n * USDC), { maxPricePerMiB: 10_000n, budget, targetRate: 1.25 * MiB });
    const leech = new Client();
    closers.unshift(() => leech.close(), () => buyer.close());
    const refused: string[] = [];
    buyer.on('refused', (p, why) => refused.push(`${p.peer} ${why}`));
    const dir = await leechDir(env);
    const t = await buyer.add(leech, content.meta, {
      dir, peers: [free.port, cheap.port, mid.port, dear.port].map((p) => `127.0.0.1:${p}`),
    });
    await whenComplete(t, 90_000);
    assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);

    assert.ok(refused.some((r) => r.endsWith('price_too_high')), `the dear seller refused: ${refused.join('; ')}`);
    const rows = checkSummary(buyer, content.meta.infoHashHex, budget);
    const of = (w: string): SellerSummary | undefined => rows.find((r) => r.wallet === w);
    assert.equal(of(dear.wallet), undefined, 'nothing paid to (or received from) the seller above max price');
    assert.ok(buyer.payments().every((p) => p.seller !== dear.wallet));
    const c = of(cheap.wallet);
    assert.ok(c !== undefined && c.paid > 0n && c.bytes > 0n, 'the cheap seller was bought from');
    assert.equal(c.pricePerMiB, 1_000n);
    const midBytes = of(mid.wallet)?.bytes ?? 0n;
    assert.ok(c.bytes >= midBytes, `cheap ${c.bytes} ≥ dearer ${midBytes}`);
    const paidBytes = rows.reduce((a, r) => a + r.bytes, 0n);
    assert.ok(BigInt(t.stats().downloaded) > paidBytes, 'free bytes > 0');
    // What the buyer counts from a seller is what that seller sent it.
    assert.ok(c.bytes <= BigInt(cheap.torrent.stats().uploaded));
  } finally {
    for (const c of closers) await c();
    await env.close();
  }
});

test('as fast as possible: a seller that leaves mid-download keeps our credit for resume; back above max price it is refused and not paid again', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  const closers: (() => Promise<void>)[] = [];
  try {
    const content = await makeContent(env, 16 * MiB);
    const free = await freeSeeder(content, 512 * KiB);
    closers.push(() => free.client.close());
    const kA = funded(env, 0n);
    const aWallet = walletOf(kA).address;
    const aJournal = join(env.root, `seller-a-${randomBytes(4).toString('hex')}.journal`);
    const a = await startSeller(env, content, kA, { price: 1_000n, minPrepay: 100n, journalPath: aJournal }, { uploadLimit: MiB });
    let aUp = true;
    closers.push(async () => { if (aUp) { await a.client.close(); await a.seller.close(); } });
    const b = await startSeller(env, content, funded(env, 0n), { price: 3_000n, minPrepay: 100n }, { uploadLimit: MiB });
    closers.push(() => b.client.close(), () => b.seller.close());
    const budget = 2n * USDC;
    const buyer = await openBuyer(env, funded(env, 5n * USDC), { maxPricePerMiB: 10_000n, budget });
    const leech = new Client();
    closers.unshift(() => leech.close(), () => buyer.close());
    const ih = content.meta.infoHashHex;
    const aAddr = `127.0.0.1:${a.port}`;
    const dir = await leechDir(env);
    const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${free.port}`, aAddr, `127.0.0.1:${b.port}`] });
    let aConfirmed = false;
    buyer.on('confirmed', (p) => { if (p.peer === aAddr) aConfirmed = true; });

    // Both sellers are paid (as fast as possible), the cheaper given the full pipeline.
    await until(() => aConfirmed && (buyer.perSeller().find((r) => r.wallet === aWallet)?.bytes ?? 0n) >= 2n * BigInt(MiB), 40_000, 'A paid and 2 MiB from it');
    assert.ok(!t.isComplete, 'still downloading when A leaves');
    const plan = buyer.purchasePlan(ih);
    assert.equal(plan.find((p) => p.address === aAddr)?.requests, null, 'the cheapest is not limited');

    // A leaves.
    aUp = false;
    await a.client.close();
    await a.seller.close();
    await until(() => buyer.resumableWith(aWallet, ih).length > 0, 10_000, 'A\'s session kept for resume');
    // A payment to A sent just before it left still lands: count once none is pending.
    await until(() => buyer.journal.pendingPayments().every((r) => r.seller !== aWallet), 10_000, 'no payment to A in flight');
    const kept = buyer.resumableWith(aWallet, ih);
    const paidToA = buyer.payments().filter((p) => p.seller === aWallet).length;
    assert.ok(paidToA > 0);

    // A comes back on the same address and wallet, asking more than our max price.
    const refusedA: string[] = [];
    buyer.on('refused', (p, why) => { if (p.peer === aAddr || p.peer === '?') refusedA.push(why); });
    const a2 = await PaidSeller.open({
      chain: env.chain, wallet: walletOf(kA), journalPath: aJournal, price: 50_000n, minPrepay: 100n, mint: env.ledger.mint.toBase58(),
    });
    const c2 = new Client({ uploadLimit: MiB });
    closers.push(() => c2.close(), () => a2.close());
    await c2.listen(a.port);
    await a2.add(c2, content.meta, { dir: content.dir, assumeComplete: true });
    assert.ok(!t.isComplete, 'still downloading when A comes back');
    t.addPeer(aAddr);
    await until(() => refusedA.includes('price_too_high'), 20_000, 'A refused at its new price');

    await whenComplete(t, 90_000);
    assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
    assert.equal(buyer.payments().filter((p) => p.seller === aWallet).length, paidToA, 'not paid again');
    assert.deepEqual(buyer.resumableWith(aWallet, ih), kept, 'its earlier session is still kept (a later session at an acceptable price resumes it)');
    const rows = checkSummary(buyer, ih, budget);
    const rb = rows.find((r) => r.pricePerMiB === 3_000n);
    assert.ok(rb !== undefined && rb.paid > 0n && rb.bytes > 0n, 'B was paid and delivered');
  } finally {
    for (const c of closers) await c();
    await env.close();
  }
});
