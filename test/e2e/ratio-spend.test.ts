/**
 * Ratio credits, spending, over real loopback TCP with the local ledger: node B uploads
 * torrent T1 to node A (A downloads it, crediting B's wallet identity in the journal of
 * A's seller), then B downloads torrent T2, which A sells with ratio terms. B pays
 * nothing while its credit lasts and pays money for the rest; credit never exceeds the
 * seller's cap; a restart of A keeps what B has left; a buyer whose identity earned
 * nothing, a buyer without an identity and a seller without ratio terms all trade as
 * before (money only).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { CreditBook } from '../../payment/credit-book.js';
import type { PaidSellerOptions } from '../../lib/paid/seller.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, USDC, walletOf, whenComplete, type Content, type Env,
} from '../../testkit/paid-helpers.js';
import type { Keypair } from '@solana/web3.js';

const MIB = 1024 * 1024;
const PRICE = 1_000n; // base units per MiB

interface Scenario {
  env: Env;
  /** A: sells T2, downloads T1. */
  a: Awaited<ReturnType<typeof startSeller>>;
  /** B's wallet (its credit identity and its payer). */
  payerB: Keypair;
  clientB: Client;
  t2: Content;
  close(): Promise<void>;
}

/**
 * B seeds T1 (`t1Size` bytes) proving its identity; A downloads it crediting B in its
 * seller's book; A then sells T2 (`t2Size` bytes) under `sellerOpts`.
 */
async function earnThenSell(t1Size: number, t2Size: number, sellerOpts: Partial<PaidSellerOptions>, proveIdentity = true): Promise<Scenario> {
  const env = await startEnv();
  const walletA = funded(env, 0n);
  const payerB = funded(env, 10n * USDC);
  const t1 = await makeContent(env, t1Size, 256 * 1024, 't1.bin');
  const t2 = await makeContent(env, t2Size, 256 * 1024, 't2.bin');
  const a = await startSeller(env, t2, walletA, { price: PRICE, ...sellerOpts });
  const clientB = new Client();
  const portB = await clientB.listen(0);
  const close = async (): Promise<void> => {
    await clientB.close();
    await a.client.close();
    await a.seller.close();
    await env.close();
  };
  try {
    await clientB.add(t1.meta, {
      dir: t1.dir, assumeComplete: true,
      extensions: [ratioCredits({ signer: proveIdentity ? walletSigner(walletOf(payerB)) : null })],
    });
    const sink = a.seller.credits;
    const dl = await a.client.add(t1.meta, {
      dir: await leechDir(env), peers: [`127.0.0.1:${portB}`], extensions: sink === null ? [] : [ratioCredits({ sink })],
    });
    await whenComplete(dl);
    return { env, a, payerB, clientB, t2, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** B buys T2 from A; resolves with what B paid, once the file is complete and checked. */
async function buyT2(s: Scenario, ratio: boolean): Promise<{ paid: bigint; creditServed: bigint }> {
  const buyer = await openBuyer(s.env, s.payerB, { ratio });
  try {
    const dir = await leechDir(s.env);
    const t = await buyer.add(s.clientB, s.t2.meta, { dir, peers: [`127.0.0.1:${s.a.port}`] });
    await whenComplete(t);
    assert.equal(await sha256Of(join(dir, 't2.bin')), s.t2.sha256);
    await t.close();
    return { paid: buyer.spent, creditServed: s.a.seller.totals().creditBytes };
  } finally {
    await buyer.close();
  }
}

test('B pays nothing while its credit lasts, then pays for the rest; a restart of A keeps what is left', async () => {
  const s = await earnThenSell(3 * MIB, 8 * MIB, { ratio: { served: 1n, credit: 1n } });
  try {
    const id = walletOf(s.payerB).address;
    assert.equal(s.a.seller.credits!.balanceOf(id).available, BigInt(3 * MIB), 'B earned exactly what it uploaded');
    const { paid, creditServed } = await buyT2(s, true);
    assert.equal(creditServed, BigInt(3 * MIB), 'the seller served the whole credit first');
    assert.equal(s.a.seller.totals().paidBytes, BigInt(5 * MIB), 'and charged for the rest');
    // 5 MiB bought at 1000 per MiB; the need cap keeps the buyer from prepaying the credit's part.
    assert.equal(paid, 5n * PRICE, `paid ${paid}`);
    const path = s.a.seller.journal.path;
    await s.a.client.close();
    await s.a.seller.close();
    const book = await CreditBook.open(path);
    try {
      const b = book.balanceOf(id);
      assert.deepEqual([b.earned, b.spent, b.available], [BigInt(3 * MIB), BigInt(3 * MIB), 0n], 'spent journaled, and it survives a restart');
    } finally {
      await book.close();
    }
  } finally {
    await s.close();
  }
});

test('a buyer with enough credit pays 0; what it did not use stays its own', async () => {
  const s = await earnThenSell(3 * MIB, 2 * MIB, { ratio: { served: 1n, credit: 1n } });
  try {
    const { paid, creditServed } = await buyT2(s, true);
    assert.equal(paid, 0n);
    assert.equal(creditServed, BigInt(2 * MIB));
    await s.a.seller.credits!.flush();
    const b = s.a.seller.credits!.balanceOf(walletOf(s.payerB).address);
    assert.deepEqual([b.spent, b.available], [BigInt(2 * MIB), BigInt(MIB)]);
  } finally {
    await s.close();
  }
});

test('attack: credit never exceeds the seller\'s cap, whatever was uploaded; the rate of the terms applies', async () => {
  // Cap 1 MiB of credit; each byte of credit buys 2 bytes of service.
  const s = await earnThenSell(3 * MIB, 4 * MIB, { ratio: { served: 2n, credit: 1n, cap: BigInt(MIB) } });
  try {
    const id = walletOf(s.payerB).address;
    assert.equal(s.a.seller.credits!.balanceOf(id).held, BigInt(MIB), 'held at the cap');
    const { paid, creditServed } = await buyT2(s, true);
    assert.equal(creditServed, BigInt(2 * MIB), '1 MiB of credit at 2:1');
    assert.equal(paid, 2n * PRICE);
    assert.equal(s.a.seller.credits!.balanceOf(id).held, 0n);
  } finally {
    await s.close();
  }
});

test('no credit without an identity, without earnings, or without ratio terms: the buyer pays as before', async () => {
  // B uploads without proving an identity: A credits nobody; B (with an identity now) is told 0 and pays in full.
  const anon = await earnThenSell(MIB, 2 * MIB, { ratio: { served: 1n, credit: 1n } }, false);
  try {
    assert.equal(anon.a.seller.credits!.balances().size, 0);
    const r = await buyT2(anon, true);
    assert.deepEqual([r.paid, r.creditServed], [2n * PRICE, 0n]);
  } finally {
    await anon.close();
  }
  // A seller without ratio terms: B's identity changes nothing.
  const plain = await earnThenSell(MIB, 2 * MIB, {});
  try {
    assert.equal(plain.a.seller.credits, null);
    assert.equal(plain.a.seller.terms.ratio, undefined);
    const r = await buyT2(plain, true);
    assert.deepEqual([r.paid, r.creditServed], [2n * PRICE, 0n]);
  } finally {
    await plain.close();
  }
  // A buyer that proves no identity, at a seller with ratio terms, where its wallet has credit: pays in full.
  const noId = await earnThenSell(MIB, 2 * MIB, { ratio: { served: 1n, credit: 1n } });
  try {
    const r = await buyT2(noId, false);
    assert.deepEqual([r.paid, r.creditServed], [2n * PRICE, 0n]);
    assert.equal(noId.a.seller.credits!.balanceOf(walletOf(noId.payerB).address).available, BigInt(MIB), 'its credit untouched');
  } finally {
    await noId.close();
  }
});
