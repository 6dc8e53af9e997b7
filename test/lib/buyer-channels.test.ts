/**
 * The buyer's channels (lib/paid/buyer-channels.ts) on the in-memory ChannelChain: one
 * per seller and mint, reused until it nears expiry or runs low (then a new nonce),
 * journaled before the open is sent, vouchers journaled before they are signed, never
 * above the deposit; expired ones reclaimed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair, PublicKey } from '@solana/web3.js';
import { Journal } from '../../payment/journal.js';
import { verifyVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import { BuyerChannels } from '../../lib/paid/buyer-channels.js';
import { MemoryChannelChain } from '../../testkit/memory-channel-chain.js';

const NOW = 1_800_000_000n;

async function setup(): Promise<{ chain: MemoryChannelChain; journal: Journal; payer: Keypair; seller: string; mint: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-bch-'));
  const journal = await Journal.open(join(dir, 'j'), { noLock: true, compactAfterBytes: 0 });
  const chain = new MemoryChannelChain({ now: NOW });
  const payer = Keypair.generate();
  const mint = Keypair.generate().publicKey;
  chain.fund(payer.publicKey, mint, 100_000n);
  return { chain, journal, payer, seller: Keypair.generate().publicKey.toBase58(), mint: mint.toBase58(), done: async () => { await journal.close(); await rm(dir, { recursive: true, force: true }); } };
}

test('one channel per seller and mint, shared by concurrent lookups and reused; a new nonce when it nears expiry or runs low', async () => {
  const e = await setup();
  try {
    const ch = new BuyerChannels(e.journal, { chain: e.chain, payer: e.payer, deposit: 10_000n });
    const [a, b] = await Promise.all([ch.channelFor(e.seller, e.mint), ch.channelFor(e.seller, e.mint)]);
    assert.ok(a.address.equals(b.address));
    assert.equal(e.chain.transactions, 1, 'one open');
    assert.equal(e.journal.channelOf(a.address.toBase58())?.open?.deposit, 10_000n, 'journaled');
    assert.ok((await ch.channelFor(e.seller, e.mint)).address.equals(a.address), 'reused');
    // Vouchers: journaled, signed by the payer over this program and channel, never above the deposit.
    const v = await ch.raise(a.address.toBase58(), e.seller, 'ab'.repeat(20), 4_000n);
    assert.deepEqual([v.amount, v.delta], [4_000n, 4_000n]);
    assert.ok(verifyVoucher(e.payer.publicKey.toBytes(), voucherMessage({ programId: e.chain.programId.toBytes(), channel: a.address.toBytes(), amount: 4_000n }), v.sig));
    assert.equal(e.journal.sentOf(a.address.toBase58()), 4_000n);
    const w = await ch.raise(a.address.toBase58(), e.seller, 'ab'.repeat(20), 100_000n);
    assert.deepEqual([w.amount, w.delta], [10_000n, 6_000n], 'clamped to the deposit');
    await assert.rejects(ch.raise(a.address.toBase58(), e.seller, 'ab'.repeat(20), 1n), /drained/);
    // Run low: a new channel (another nonce).
    const c = await ch.channelFor(e.seller, e.mint);
    assert.ok(!c.address.equals(a.address));
    assert.equal(e.chain.transactions, 2);
    // Near expiry (within the renew margin): another new one.
    e.chain.advance(86_400n - 1_800n);
    const d = await ch.channelFor(e.seller, e.mint);
    assert.ok(!d.address.equals(c.address));
    // Another seller: its own channel.
    const other = await ch.channelFor(Keypair.generate().publicKey.toBase58(), e.mint);
    assert.ok(!other.address.equals(d.address));
  } finally {
    await e.done();
  }
});

test('a channel closed on chain is not reused; expired channels are reclaimed', async () => {
  const e = await setup();
  try {
    const ch = new BuyerChannels(e.journal, { chain: e.chain, payer: e.payer, deposit: 10_000n });
    const a = await ch.channelFor(e.seller, e.mint);
    ch.markDead(a.address.toBase58());
    const b = await ch.channelFor(e.seller, e.mint);
    assert.ok(!b.address.equals(a.address), 'a channel the seller called closed is not named again');
    assert.equal(await ch.reclaimExpired(), 0, 'nothing expired yet');
    e.chain.advance(86_401n);
    assert.equal(await ch.reclaimExpired(), 2);
    assert.equal(e.chain.peek(new PublicKey(a.address)), null);
    assert.equal(e.chain.balanceOf(e.payer.publicKey, new PublicKey(e.mint)), 100_000n, 'every deposit back');
  } finally {
    await e.done();
  }
});
