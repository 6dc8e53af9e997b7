/**
 * The main path over real RPC: LocalLedger (litesvm + JSON-RPC on loopback) with the
 * channel program loaded, driven through channel-chain.ts (web3.js Connection): open,
 * top up, extend, claim, close, reclaim — balances read back over RPC — and the program's
 * refusals surfacing as ChannelTxError with the error name.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, Keypair, LAMPORTS_PER_SOL, type PublicKey } from '@solana/web3.js';
import { channelChainFromUrl, ChannelTxError } from '../../payment/channel/channel-chain.js';
import { associatedTokenAddress } from '../../payment/chain.js';
import { channelAddress, DEFAULT_CHANNEL_PROGRAM_ID } from '../../payment/channel/program.js';
import type { ChannelChain, Voucher } from '../../payment/channel/types.js';
import { signVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';

let ledger: LocalLedger | null = null;
let chain: ChannelChain;
let conn: Connection;
const T0 = 1_800_000_000;

before(async () => {
  const so = requireChannelProgram();
  if (so === null) return;
  ledger = await LocalLedger.start({ channelProgram: so });
  ledger.setClock(T0);
  chain = channelChainFromUrl(ledger.url, { pollIntervalMs: 10 });
  conn = new Connection(ledger.url, 'confirmed');
});
after(async () => { await ledger?.stop(); });

function parties(l: LocalLedger): { buyer: Keypair; seller: Keypair } {
  const buyer = Keypair.generate();
  const seller = Keypair.generate();
  l.fundSol(buyer.publicKey, BigInt(LAMPORTS_PER_SOL));
  l.fundSol(seller.publicKey, BigInt(LAMPORTS_PER_SOL));
  l.fundTokens(buyer.publicKey, 10_000_000n);
  return { buyer, seller };
}

function voucher(buyer: Keypair, channel: PublicKey, amount: bigint): Voucher {
  const m = voucherMessage({ programId: DEFAULT_CHANNEL_PROGRAM_ID.toBytes(), channel: channel.toBytes(), amount });
  return { channel, amount, signature: signVoucher(buyer.secretKey.subarray(0, 32), m) };
}

async function tokens(account: PublicKey): Promise<bigint | null> {
  const info = await conn.getAccountInfo(account);
  if (info === null) return null;
  return BigInt((await conn.getTokenAccountBalance(account)).value.amount);
}

async function rejects(p: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ChannelTxError, String(e));
    assert.equal(e.code, 'tx_failed');
    assert.equal(e.channelError, name, e.message);
    return true;
  });
}

test('the ledger loads the program and serves the clock the program sees', async (t) => {
  if (ledger === null) return t.skip('no channel program');
  assert.equal(ledger.engine.channelProgramLoaded, true);
  const info = await conn.getAccountInfo(DEFAULT_CHANNEL_PROGRAM_ID);
  assert.ok(info?.executable);
  assert.equal(await chain.clock(), BigInt(T0));
  ledger.setClock(T0 + 5);
  assert.equal(await chain.clock(), BigInt(T0 + 5));
  ledger.setClock(T0);
});

test('open → top up → extend → partial claim → claim and close, over RPC, with exact balances', async (t) => {
  if (ledger === null) return t.skip('no channel program');
  const l = ledger;
  const { buyer, seller } = parties(l);
  const buyerAta = associatedTokenAddress(l.mint, buyer.publicKey);
  const sellerAta = associatedTokenAddress(l.mint, seller.publicKey);
  const lamports0 = BigInt(await conn.getBalance(buyer.publicKey));
  const expiry = BigInt(T0 + 3600);
  const opened = await chain.open({ buyer, seller: seller.publicKey, mint: l.mint, nonce: 1n, deposit: 1_000_000n, expiry, voucherKey: buyer.publicKey });
  assert.ok(opened.channel.equals(channelAddress(DEFAULT_CHANNEL_PROGRAM_ID, buyer.publicKey, seller.publicKey, l.mint, 1n)));
  let ch = (await chain.fetchChannel(opened.channel))!;
  assert.ok(ch.buyer.equals(buyer.publicKey) && ch.seller.equals(seller.publicKey) && ch.voucherKey.equals(buyer.publicKey));
  assert.equal(ch.deposit, 1_000_000n);
  assert.equal(ch.expiry, expiry);
  assert.equal(await tokens(ch.vault), 1_000_000n);
  assert.equal(await tokens(buyerAta), 9_000_000n);

  await chain.topUp({ buyer, channel: ch, amount: 500_000n });
  await chain.extend({ buyer, channel: ch, expiry: expiry + 600n });
  ch = (await chain.fetchChannel(opened.channel))!;
  assert.equal(ch.deposit, 1_500_000n);
  assert.equal(ch.expiry, expiry + 600n);
  assert.equal(await tokens(ch.vault), 1_500_000n);

  await chain.claim({ seller, channel: ch, voucher: voucher(buyer, ch.address, 400_000n), close: false });
  assert.equal(await tokens(sellerAta), 400_000n);
  ch = (await chain.fetchChannel(opened.channel))!;
  assert.equal(ch.claimed, 400_000n);

  // Refusals carry the program's error name and move nothing.
  await rejects(chain.claim({ seller, channel: ch, voucher: voucher(buyer, ch.address, 300_000n), close: false }), 'AmountBelowClaimed');
  await rejects(chain.claim({ seller, channel: ch, voucher: voucher(buyer, ch.address, 2_000_000n), close: false }), 'AmountAboveDeposit');
  // A voucher the buyer did not sign is refused before it costs a fee.
  await assert.rejects(chain.claim({ seller, channel: ch, voucher: voucher(seller, ch.address, 500_000n), close: false }),
    (e: unknown) => e instanceof ChannelTxError && e.code === 'bad_voucher');
  await rejects(chain.reclaim({ buyer, channel: ch }), 'NotExpired');
  await rejects(chain.extend({ buyer, channel: ch, expiry: expiry }), 'ExpiryNotLater');
  assert.equal(await tokens(ch.vault), 1_100_000n);

  const closing = await chain.claim({ seller, channel: ch, voucher: voucher(buyer, ch.address, 700_000n), close: true });
  // The ledger charges (and reports) the precompile's signature like a cluster does.
  const landed = await conn.getTransaction(closing.signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 });
  assert.equal(landed?.meta?.fee, 10_000);
  assert.equal(landed!.meta!.preBalances[0] - landed!.meta!.postBalances[0], 10_000);
  assert.equal(await tokens(sellerAta), 700_000n);
  assert.equal(await tokens(buyerAta), 10_000_000n - 700_000n);
  assert.equal(await tokens(ch.vault), null, 'vault closed');
  assert.equal(await chain.fetchChannel(ch.address), null, 'state closed');
  // The buyer paid three transactions' fees (open, top up, extend; the refused ones never
  // landed: preflight stopped them); every rent lamport came back.
  assert.equal(BigInt(await conn.getBalance(buyer.publicKey)), lamports0 - 3n * 5000n);
  await rejects(chain.claim({ seller, channel: ch, voucher: voucher(buyer, ch.address, 800_000n), close: true }), 'ChannelClosed');
});

test('expiry on the ledger clock: a late claim fails, the buyer reclaims everything left', async (t) => {
  if (ledger === null) return t.skip('no channel program');
  const l = ledger;
  const { buyer, seller } = parties(l);
  const expiry = BigInt(T0 + 60);
  const { channel } = await chain.open({ buyer, seller: seller.publicKey, mint: l.mint, nonce: 7n, deposit: 250_000n, expiry, voucherKey: buyer.publicKey });
  const ch = (await chain.fetchChannel(channel))!;
  await chain.claim({ seller, channel: ch, voucher: voucher(buyer, channel, 50_000n), close: false });
  l.setClock(T0 + 60);
  try {
    await rejects(chain.claim({ seller, channel: ch, voucher: voucher(buyer, channel, 100_000n), close: false }), 'ChannelExpired');
    await rejects(chain.topUp({ buyer, channel: ch, amount: 1n }), 'ChannelExpired');
    await chain.reclaim({ buyer, channel: ch });
  } finally {
    l.setClock(T0);
  }
  assert.equal(await tokens(associatedTokenAddress(l.mint, buyer.publicKey)), 10_000_000n - 50_000n);
  assert.equal(await chain.fetchChannel(channel), null);
  await rejects(chain.reclaim({ buyer, channel: ch }), 'ChannelClosed');
});

test('fetchChannel: never opened → null; an account that is not a channel → bad_account', async (t) => {
  if (ledger === null) return t.skip('no channel program');
  assert.equal(await chain.fetchChannel(Keypair.generate().publicKey), null);
  await assert.rejects(chain.fetchChannel(ledger.mint), (e: unknown) => e instanceof ChannelTxError && e.code === 'bad_account');
});

test('a ledger started with channelProgram: false has no program; a missing path is loud', async () => {
  const l = await LocalLedger.start({ channelProgram: false });
  try {
    assert.equal(l.engine.channelProgramLoaded, false);
    assert.equal(await new Connection(l.url).getAccountInfo(DEFAULT_CHANNEL_PROGRAM_ID), null);
  } finally {
    await l.stop();
  }
  await assert.rejects(LocalLedger.start({ channelProgram: '/nonexistent/seedpay_channel.so' }), /ENOENT/);
});
