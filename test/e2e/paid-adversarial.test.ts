/**
 * Money safety end to end (loopback TCP, local ledger): a buyer that stops paying
 * gets nothing beyond its credit; a seller whose session signature does not match its
 * wallet is never paid; a man in the middle that rewrites `wallet` in the extended
 * handshake collects nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Keypair } from '@solana/web3.js';
import { Client } from '../../lib/net/client.js';
import { bytesCoveredBy } from '../../payment/amount.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import {
  funded, leechDir, makeContent, openBuyer, sleep, startEnv, startSeller, until, walletOf, USDC, type Env, closePaid,
} from '../../testkit/paid-helpers.js';

async function tokens(env: Env, owner: Keypair['publicKey']): Promise<bigint> {
  return (await env.chain.tokenAccount(getAssociatedTokenAddressSync(env.ledger.mint, owner, true)))?.amount ?? 0n;
}

test('a buyer that stops paying receives nothing beyond its credit', async () => {
  const env = await startEnv();
  const leech = new Client();
  try {
    const price = 1_000n;
    const content = await makeContent(env, 16 * 1024 * 1024);
    const s = await startSeller(env, content, funded(env, 0n), { price, minPrepay: 1_000n });
    // The budget buys 5 MiB of 16: the buyer stops paying after that.
    const buyer = await openBuyer(env, funded(env, 1n * USDC), { budget: 5_000n, maxPricePerMiB: price });
    let exhausted = false;
    buyer.on('budget_exhausted', () => { exhausted = true; });
    try {
      const t = await buyer.add(leech, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
      await until(() => exhausted, 30_000, 'the budget to run out');
      // Give the seller every chance to over-serve.
      let last = -1;
      while (t.stats().downloaded !== last) { last = t.stats().downloaded; await sleep(1500); }
      assert.equal(t.isComplete, false);
      const tot = s.seller.totals();
      assert.equal(tot.credited, buyer.spent, 'every payment credited');
      assert.ok(tot.credited <= 5_000n);
      assert.ok(tot.charged <= tot.credited, `charged ${tot.charged} > credited ${tot.credited}`);
      const covered = bytesCoveredBy(tot.credited, price)!;
      assert.ok(BigInt(t.stats().downloaded) <= covered, `received ${t.stats().downloaded} bytes, credit covers ${covered}`);
      assert.ok(t.stats().downloaded > 0, 'the paid part was served');
    } finally {
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});

test('a seller whose session signature does not match its wallet is never paid', async () => {
  const env = await startEnv();
  const leech = new Client();
  try {
    const sellerKey = funded(env, 0n);
    const impostor = walletOf(Keypair.generate());
    const content = await makeContent(env, 2 * 1024 * 1024);
    // Terms name sellerKey's wallet; transcripts are signed by another key.
    const forged = { wallet: sellerKey.publicKey.toBase58(), sign: walletSigner(impostor).sign };
    const s = await startSeller(env, content, sellerKey, { signer: forged });
    const buyer = await openBuyer(env, funded(env, 1n * USDC));
    const refused: string[] = [];
    buyer.on('refused', (_p, reason) => refused.push(reason));
    try {
      const t = await buyer.add(leech, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
      await until(() => refused.length > 0, 15_000, 'the buyer to refuse the seller');
      await sleep(1000);
      assert.deepEqual(refused, ['bad_signature']);
      assert.equal(buyer.payments().length, 0);
      assert.equal(await tokens(env, sellerKey.publicKey), 0n, 'nothing reached the seller');
      assert.equal(t.stats().downloaded, 0, 'and it served nothing unpaid');
    } finally {
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});

/**
 * A TCP proxy that replaces `from` by `to` (same length: the bencode length prefix and
 * the message length stay valid) in what the seller sends to the buyer.
 */
async function rewritingProxy(target: number, from: Buffer, to: Buffer): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(down); sockets.add(up);
    down.pipe(up);
    // Per chunk (the extended handshake arrives in one on loopback; `hits` proves it):
    // holding bytes back would stall a protocol that waits for an answer.
    up.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(from); i >= 0; i = chunk.indexOf(from, i + to.length)) { to.copy(chunk, i); hits++; }
      down.write(chunk);
    });
    up.on('end', () => { down.end(); });
    const kill = (): void => { up.destroy(); down.destroy(); };
    up.on('error', kill); down.on('error', kill); up.on('close', kill); down.on('close', kill);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, hits: () => hits,
    close: () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(() => r())); },
  };
}

test('a man in the middle that rewrites wallet in the handshake collects nothing', async () => {
  const env = await startEnv();
  const leech = new Client();
  try {
    const sellerKey = funded(env, 0n);
    const seller58 = sellerKey.publicKey.toBase58();
    let attacker = Keypair.generate();
    while (attacker.publicKey.toBase58().length !== seller58.length) attacker = Keypair.generate();
    const content = await makeContent(env, 2 * 1024 * 1024);
    const s = await startSeller(env, content, sellerKey);
    const proxy = await rewritingProxy(s.port, Buffer.from(seller58), Buffer.from(attacker.publicKey.toBase58()));
    const buyer = await openBuyer(env, funded(env, 1n * USDC));
    const refused: string[] = [];
    buyer.on('refused', (_p, reason) => refused.push(reason));
    try {
      const t = await buyer.add(leech, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${proxy.port}`] });
      await until(() => refused.length > 0, 15_000, 'the buyer to refuse the rewritten terms');
      await sleep(1000);
      assert.ok(proxy.hits() >= 1, 'the proxy rewrote the wallet');
      assert.deepEqual(refused, ['bad_signature']);
      assert.equal(buyer.payments().length, 0);
      assert.equal(await tokens(env, attacker.publicKey), 0n, 'the attacker collected nothing');
      assert.equal(await tokens(env, sellerKey.publicKey), 0n);
      assert.equal(t.stats().downloaded, 0);
    } finally {
      await leech.close();
      await proxy.close();
      await s.client.close();
      await s.seller.close();
      await buyer.close();
    }
  } finally {
    await env.close();
  }
});

test('a seller that sends a bad piece gets no further payment and is disconnected', async () => {
  const env = await startEnv();
  const leech = new Client();
  try {
    const sellerKey = funded(env, 0n);
    const content = await makeContent(env, 8 * 1024 * 1024);
    // Corrupt piece 2 on the seller's disk after the torrent was made (the seller trusts its data).
    const { open } = await import('node:fs/promises');
    const fh = await open(content.file, 'r+');
    await fh.write(Buffer.alloc(1024, 0xee), 0, 1024, 2 * 256 * 1024 + 100);
    await fh.close();
    const s = await startSeller(env, content, sellerKey);
    const buyer = await openBuyer(env, funded(env, 1n * USDC));
    const stops: string[] = [];
    let disconnectedAt = -1;
    let started = 0;
    buyer.on('paying', () => { started++; });
    buyer.on('stopped', (_p, reason) => stops.push(reason));
    buyer.on('disconnected', () => { disconnectedAt = started; });
    try {
      const t = await buyer.add(leech, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
      await until(() => disconnectedAt >= 0, 30_000, 'the bad piece to disconnect the seller');
      await sleep(1500);
      assert.ok(stops.includes('bad_piece'), `stopped for a bad piece (${stops.join(', ')})`);
      assert.equal(started, disconnectedAt, 'no payment started after the bad piece (one already on its way may land)');
      assert.equal(t.stats().hashFailures >= 1, true);
      assert.equal(t.isComplete, false);
      assert.ok(s.seller.totals().credited <= buyer.spent);
    } finally {
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});
