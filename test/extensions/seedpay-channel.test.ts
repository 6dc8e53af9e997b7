/**
 * Payment channels, sans-IO (docs/PROTOCOL.md, "Payment channels"): a BuyerSession and
 * a SellerSession linked message by message through the codec, their drivers played by
 * the test on the in-memory ChannelChain (the escrow program's rules) and an in-memory
 * voucher book standing in for the journal. The flow, the risk bounds both ways
 * (property), and the attacks — each asserting the rule that stops it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keypair, PublicKey } from '@solana/web3.js';
import { chargeFor, MIB } from '../../payment/amount.js';
import { termsToWire, type Terms } from '../../payment/terms.js';
import { encode } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { BuyerSession, DEFAULT_CHANNEL_AHEAD_BYTES, type BuyerEvent } from '../../extensions/seedpay/buyer-session.js';
import { decodeMessage, encodeMessage, type DecodedMessage, type SeedPayMessage } from '../../extensions/seedpay/messages.js';
import { Budget, DEFAULT_RISK_BYTES } from '../../extensions/seedpay/policy.js';
import { SellerSession, walletSigner, type SellerEvent } from '../../extensions/seedpay/seller-session.js';
import { checkChannel } from '../../payment/channel/check.js';
import { signVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import { channelOpenMessage, signChannelOpen } from '../../payment/channel/open-proof.js';
import { MemoryChannelChain } from '../../testkit/memory-channel-chain.js';
import { BLOCK, CLUSTER, INFO, MINT, makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const NOW = 1_800_000_000n;
const PRICE = 1_000_000n; // per MiB: a block is 15,625
const AHEAD = 256n * 1024n;
const HS_BUYER = parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 } })));
const sellerHs = (terms: Terms) => parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 }, seedpay: termsToWire(terms) })));
const sellerWallet = seededWallet(31);
const sellerKeypair = Keypair.fromSeed(sellerWallet.seed);
const mint = new PublicKey(MINT);

interface Opened { address: PublicKey; buyer: Keypair; voucherKey: Keypair; deposit: bigint }

async function openChannel(chain: MemoryChannelChain, o: { buyer?: Keypair; seller?: PublicKey; mint?: PublicKey; deposit?: bigint; expiry?: bigint; voucherKey?: Keypair } = {}): Promise<Opened> {
  const buyer = o.buyer ?? Keypair.generate();
  const voucherKey = o.voucherKey ?? buyer;
  const deposit = o.deposit ?? 100n * PRICE;
  chain.fund(buyer.publicKey, o.mint ?? mint, deposit);
  const r = await chain.open({
    buyer, seller: o.seller ?? sellerKeypair.publicKey, mint: o.mint ?? mint, nonce: BigInt(Math.floor(Math.random() * 1e9)),
    deposit, expiry: o.expiry ?? NOW + 86_400n, voucherKey: voucherKey.publicKey,
  });
  return { address: r.channel, buyer, voucherKey, deposit };
}

function voucher(chain: MemoryChannelChain, channel: PublicKey, amount: bigint, key: Keypair): Uint8Array {
  return signVoucher(key.secretKey.subarray(0, 32), voucherMessage({ programId: chain.programId.toBytes(), channel: channel.toBytes(), amount }));
}

/** A channel seller and a channel buyer linked through the codec; the test plays both drivers. */
class ChanLink {
  readonly chain = new MemoryChannelChain({ now: NOW });
  readonly terms: Terms;
  readonly seller: SellerSession;
  readonly buyer: BuyerSession;
  readonly sellerEvents: SellerEvent[] = [];
  readonly buyerEvents: BuyerEvent[] = [];
  /** The seller's journal of vouchers: channel → latest accepted; and every voucher journaled. */
  readonly accepted = new Map<string, bigint>();
  readonly journaled: bigint[] = [];
  /** Vouchers the seller's driver holds before journaling (manual mode). */
  readonly held: Extract<SellerEvent, { type: 'voucher' }>[] = [];
  holdVouchers = false;
  /** The buyer's channel, its journal's voucher counter. */
  channel: Opened | null = null;
  sent = 0n;
  /** Intercept what the buyer sends (null: drop). */
  buyerFilter: ((m: SeedPayMessage) => SeedPayMessage | null) | null = null;
  sellerFilter: ((m: DecodedMessage) => DecodedMessage | null) | null = null;
  private offset = 0;

  constructor(o: { terms?: Partial<Terms>; budget?: bigint; aheadBytes?: bigint | 'default'; pieceLength?: number } = {}) {
    this.terms = makeTerms(sellerWallet.address, { price: PRICE, minPrepay: 1_000n, modes: ['prepaid', 'channel'], channel: this.chain.programId.toBase58(), ...o.terms });
    this.seller = new SellerSession({ terms: this.terms, infoHash: INFO, signer: walletSigner(sellerWallet), lowWaterBytes: 64n * 1024n });
    this.buyer = new BuyerSession({
      infoHash: INFO, policy: { maxPricePerMiB: 5n * PRICE, budgets: [new Budget(o.budget ?? 10n ** 12n)], mint: MINT, cluster: CLUSTER },
      channel: { programId: this.chain.programId.toBase58(), ...(o.aheadBytes === 'default' ? {} : { aheadBytes: o.aheadBytes ?? AHEAD }) },
      ...(o.pieceLength !== undefined ? { pieceLength: () => o.pieceLength! } : {}),
    });
  }

  async start(channel?: Opened): Promise<void> {
    this.channel = channel ?? await openChannel(this.chain);
    this.seller.onPeerHandshake(HS_BUYER);
    assert.equal(this.buyer.onPeerHandshake(sellerHs(this.terms)), true);
    this.pump();
  }

  pump(): void {
    for (let moved = true; moved;) {
      moved = false;
      for (let m = this.buyer.pollTransmit(); m !== null; m = this.buyer.pollTransmit()) {
        moved = true;
        const f = this.buyerFilter === null ? m : this.buyerFilter(m);
        if (f !== null) this.seller.receivePayload(encodeMessage(f));
      }
      for (let m = this.seller.pollTransmit(); m !== null; m = this.seller.pollTransmit()) {
        moved = true;
        const d = decodeMessage(encodeMessage(m));
        const f = this.sellerFilter === null ? d : this.sellerFilter(d);
        if (f !== null) this.buyer.receive(f);
      }
      for (let e = this.seller.pollEvent(); e !== null; e = this.seller.pollEvent()) {
        moved = true;
        this.sellerEvents.push(e);
        if (e.type === 'channel_check') this.check(e.channel, e.buyer);
        if (e.type === 'voucher') {
          if (this.holdVouchers) this.held.push(e);
          else this.journalVoucher(e);
        }
      }
      for (let e = this.buyer.pollEvent(); e !== null; e = this.buyer.pollEvent()) {
        moved = true;
        this.buyerEvents.push(e);
        if (e.type === 'channel_needed') this.ready(e.sessionHash);
        if (e.type === 'voucher') this.sign(e.delta);
      }
    }
  }

  /** The seller's driver: the channel as the chain has it, checked (payment/channel/check.ts). */
  check(channel: string, buyer: string): void {
    const v = checkChannel(this.chain.peek(new PublicKey(channel)), {
      address: channel, programId: this.terms.channel!, mint: this.terms.mint, seller: this.terms.wallet, buyer, now: NOW,
      marginSeconds: 600n, accepted: this.accepted.get(channel) ?? 0n,
    });
    this.seller.channelChecked(channel, v.ok ? { ok: true, deposit: v.state.deposit, voucherKey: v.state.voucherKey.toBytes(), accepted: v.accepted } : { ok: false, reason: v.reason });
  }

  /** The seller's driver: journal (a cumulative voucher never goes down), then credit the increase. */
  journalVoucher(e: Extract<SellerEvent, { type: 'voucher' }>): void {
    const prev = this.accepted.get(e.channel) ?? 0n;
    if (e.amount <= prev) { this.seller.voucherRejected(e.amount, 'not_increasing'); return; }
    this.accepted.set(e.channel, e.amount);
    this.journaled.push(e.amount);
    this.seller.voucherAccepted(e.amount, e.amount - prev);
  }

  releaseVouchers(): void {
    for (let e = this.held.shift(); e !== undefined; e = this.held.shift()) this.journalVoucher(e);
    this.pump();
  }

  /** The buyer's driver: our channel and the proof it is ours. */
  ready(sessionHash: string): void {
    const c = this.channel!;
    const sig = signChannelOpen(c.buyer.secretKey.subarray(0, 32), channelOpenMessage(INFO, sessionHash, c.address.toBytes()));
    this.buyer.channelReady({ channel: c.address.toBytes(), buyer: c.buyer.publicKey.toBytes(), sig, deposit: c.deposit, sent: this.sent });
  }

  /** The buyer's driver: journal the raised amount, sign it. */
  sign(delta: bigint): void {
    const c = this.channel!;
    const d = this.sent + delta > c.deposit ? c.deposit - this.sent : delta;
    this.sent += d;
    this.buyer.voucherSigned(this.sent, d, voucher(this.chain, c.address, this.sent, c.voucherKey));
  }

  /** Serve up to n blocks through the gate; how many went out. */
  serve(n: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!this.seller.canSendPiece(0, this.offset, BLOCK)) break;
      this.seller.sent(0, this.offset, BLOCK);
      this.buyer.pieceReceived(BLOCK);
      this.offset += BLOCK;
      k++;
      this.pump();
    }
    this.pump();
    return k;
  }

  /** Send the seller a message as the buyer would (already encoded, no filter). */
  inject(m: SeedPayMessage): void {
    this.seller.receivePayload(encodeMessage(m));
    this.pump();
  }

  checkRejections(): string[] {
    return this.sellerEvents.flatMap((e) => (e.type === 'voucher_rejected' ? [e.reason] : []));
  }
}

test('channel flow: opened, confirmed, vouchers keep the ahead mark, credited only once journaled, served ≤ credited', async () => {
  const l = new ChanLink();
  await l.start();
  assert.equal(l.buyer.paymentMode, 'channel');
  assert.equal(l.seller.paymentMode, 'channel');
  assert.equal(l.seller.channel?.address, l.channel!.address.toBase58());
  const ahead = chargeFor(AHEAD, PRICE);
  assert.deepEqual(l.journaled, [ahead], 'the first voucher pays the ahead mark');
  assert.equal(l.seller.meter.credited, ahead);
  const served = l.serve(200);
  assert.equal(served, 200);
  assert.ok(l.seller.meter.charged <= l.seller.meter.credited);
  assert.equal(l.buyer.creditedTotal, l.seller.meter.credited, 'every voucher acknowledged');
  assert.ok(l.buyerEvents.every((e) => e.type !== 'stopped'));
  assert.equal(l.buyerEvents.filter((e) => e.type === 'pay').length, 0, 'nothing prepaid');
  // Increments are at least half the ahead mark (no tiny ones).
  const deltas = l.journaled.map((a, i) => a - (i === 0 ? 0n : l.journaled[i - 1]));
  assert.ok(deltas.every((d) => d >= ahead / 2n - 1n), deltas.join(','));
});

test('a voucher is credited only after the driver journaled it: until then nothing beyond the earlier credit is served', async () => {
  const l = new ChanLink();
  l.holdVouchers = true;
  await l.start();
  assert.equal(l.seller.meter.credited, 0n);
  assert.equal(l.held.length, 1, 'one voucher waits for its journal');
  assert.equal(l.serve(5), 0, 'not one byte before the voucher is journaled');
  l.releaseVouchers();
  assert.equal(l.seller.meter.credited, chargeFor(AHEAD, PRICE));
  assert.ok(l.serve(5) === 5);
});

test('property: the buyer never has more than one increment paid beyond what it received, the seller never serves beyond credit', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 20 }), fc.boolean(), async (steps, hold) => {
    const l = new ChanLink();
    l.holdVouchers = hold;
    await l.start();
    const ahead = chargeFor(AHEAD, PRICE);
    for (const n of steps) {
      l.serve(n);
      if (hold) l.releaseVouchers();
      const paidAhead = l.buyer.paidTotal - chargeFor(l.buyer.bytesReceived, PRICE);
      assert.ok(paidAhead <= ahead + 1n, `paid ahead ${paidAhead} > one increment ${ahead}`);
      assert.ok(l.seller.meter.charged <= l.seller.meter.credited, 'served beyond credit');
      assert.equal(l.seller.meter.credited, l.accepted.get(l.channel!.address.toBase58()) ?? 0n, 'credit = the journaled vouchers');
    }
  }), { numRuns: 40 });
});

test('attack: a voucher for another channel is refused (wrong_channel)', async () => {
  const l = new ChanLink();
  await l.start();
  const other = await openChannel(l.chain, { buyer: l.channel!.buyer });
  const before = l.seller.meter.credited;
  l.inject({ type: 'payment_check', channel: other.address.toBytes(), amount: 10n * PRICE, sig: voucher(l.chain, other.address, 10n * PRICE, other.voucherKey) });
  assert.deepEqual(l.checkRejections(), ['wrong_channel']);
  assert.equal(l.seller.meter.credited, before);
});

test('attack: a voucher not above the last accepted (a replay, a lower amount) is refused (not_increasing)', async () => {
  const l = new ChanLink();
  await l.start();
  const c = l.channel!;
  const before = l.seller.meter.credited;
  const last = l.accepted.get(c.address.toBase58())!;
  for (const amount of [last, last - 1n]) {
    l.inject({ type: 'payment_check', channel: c.address.toBytes(), amount, sig: voucher(l.chain, c.address, amount, c.voucherKey) });
  }
  assert.deepEqual(l.checkRejections(), ['not_increasing', 'not_increasing']);
  assert.equal(l.seller.meter.credited, before);
  assert.equal(l.sellerEvents.filter((e) => e.type === 'voucher').length, 1, 'refused by the session itself: never handed to the journal');
});

test('attack: a voucher above the deposit is refused (above_deposit) — the program would never pay it', async () => {
  const l = new ChanLink();
  await l.start();
  const c = l.channel!;
  const before = l.seller.meter.credited;
  const amount = c.deposit + 1n;
  l.inject({ type: 'payment_check', channel: c.address.toBytes(), amount, sig: voucher(l.chain, c.address, amount, c.voucherKey) });
  assert.deepEqual(l.checkRejections(), ['above_deposit']);
  assert.equal(l.seller.meter.credited, before);
});

test('attack: a voucher signed by another key than the channel voucher key is refused (bad_signature)', async () => {
  const l = new ChanLink();
  await l.start();
  const c = l.channel!;
  const before = l.seller.meter.credited;
  l.inject({ type: 'payment_check', channel: c.address.toBytes(), amount: 50n * PRICE, sig: voucher(l.chain, c.address, 50n * PRICE, Keypair.generate()) });
  assert.deepEqual(l.checkRejections(), ['bad_signature']);
  assert.equal(l.seller.meter.credited, before);
});

test('attack: a buyer that stops signing is served no more than its credit', async () => {
  const l = new ChanLink();
  await l.start();
  l.serve(10);
  // From now on the buyer's vouchers never reach the seller.
  l.buyerFilter = (m) => (m.type === 'payment_check' ? null : m);
  l.serve(1_000);
  const credited = l.seller.meter.credited;
  assert.ok(l.seller.meter.charged <= credited);
  assert.ok(credited - l.seller.meter.charged < chargeFor(BigInt(BLOCK), PRICE), 'it stopped within one block of its credit');
  assert.equal(l.serve(10), 0, 'and serves nothing more');
  assert.ok(l.seller.pollTransmit() === null);
  assert.ok(l.buyerEvents.some((e) => e.type === 'voucher_sent'), 'the buyer kept trying');
});

for (const [what, setup, reason] of [
  ['a channel paying another seller', (c: MemoryChannelChain) => openChannel(c, { seller: Keypair.generate().publicKey }), 'wrong_seller'],
  ['a channel of another program (or deployment)', async (c: MemoryChannelChain) => {
    const o = await openChannel(c);
    c.inject({ ...c.peek(o.address)!, programId: Keypair.generate().publicKey });
    return o;
  }, 'wrong_program'],
  ['a channel in another mint', (c: MemoryChannelChain) => openChannel(c, { mint: Keypair.generate().publicKey }), 'wrong_mint'],
  ['a channel expiring within the margin', (c: MemoryChannelChain) => openChannel(c, { expiry: NOW + 60n }), 'expiring'],
  ['a closed channel', async (c: MemoryChannelChain) => {
    const o = await openChannel(c);
    c.setClock(NOW + 90_000n);
    await c.reclaim({ buyer: o.buyer, channel: c.peek(o.address)! });
    c.setClock(NOW);
    return o;
  }, 'not_found'],
  ['a drained channel (all of it claimed)', async (c: MemoryChannelChain) => {
    const o = await openChannel(c, { deposit: 1_000n });
    await c.claim({ seller: sellerKeypair, channel: c.peek(o.address)!, voucher: { channel: o.address, amount: 1_000n, signature: voucher(c, o.address, 1_000n, o.voucherKey) }, close: false });
    return o;
  }, 'drained'],
] as const) {
  test(`attack: ${what} is refused (${reason}) before any byte is served`, async () => {
    const l = new ChanLink({ terms: { modes: ['channel'] } });
    const o = await setup(l.chain);
    await l.start(o);
    assert.ok(l.sellerEvents.some((e) => e.type === 'channel_rejected' && e.reason === reason), JSON.stringify(l.sellerEvents.map((e) => e.type)));
    assert.equal(l.seller.channel, null);
    assert.equal(l.journaled.length, 0);
    assert.equal(l.serve(3), 0, 'not one byte');
    assert.equal(l.seller.meter.paidBytes, 0n);
    assert.equal(l.buyer.state, 'stopped', 'a channel-only seller that refuses our channel gets nothing');
  });
}

test("attack: naming another buyer's channel (its proof signed by our own wallet) is refused (wrong_buyer); a forged proof is bad_signature", async () => {
  const l = new ChanLink({ terms: { modes: ['channel'] } });
  const victim = await openChannel(l.chain);
  const mine = Keypair.generate();
  // Our wallet signs the proof, naming the victim's channel.
  await l.start({ ...victim, buyer: mine });
  assert.ok(l.sellerEvents.some((e) => e.type === 'channel_rejected' && e.reason === 'wrong_buyer'));
  assert.equal(l.serve(3), 0);
  // A proof that does not verify under the wallet it names.
  const l2 = new ChanLink({ terms: { modes: ['channel'] } });
  const c2 = await openChannel(l2.chain);
  l2.buyerFilter = (m) => (m.type === 'channel_opened' ? { ...m, sig: new Uint8Array(64).fill(9) } : m);
  await l2.start(c2);
  assert.equal(l2.sellerEvents.some((e) => e.type === 'channel_check'), false, 'no RPC for a bad proof');
  assert.equal(l2.serve(3), 0);
});

test('a rejected channel falls back to prepaid when the seller offers it; modes never mix in one session', async () => {
  const l = new ChanLink();
  const o = await openChannel(l.chain, { seller: Keypair.generate().publicKey });
  await l.start(o);
  assert.equal(l.buyer.paymentMode, 'prepaid');
  assert.ok(l.buyerEvents.some((e) => e.type === 'pay'), 'pays prepaid instead');
  // The seller's session is prepaid once a proof arrives; a channel message then ends it.
  l.inject({ type: 'payment_proof', tx: randomTx(), amount: 1n });
  assert.equal(l.seller.paymentMode, 'prepaid');
  l.inject({ type: 'channel_opened', channel: o.address.toBytes(), buyer: o.buyer.publicKey.toBytes(), sig: new Uint8Array(64) });
  assert.equal(l.seller.state, 'ended');
  assert.equal(l.seller.error?.code, 'UNEXPECTED_MESSAGE');
  // And the other way round: a proof in a channel session.
  const m = new ChanLink();
  await m.start();
  m.inject({ type: 'payment_proof', tx: randomTx(), amount: 1n });
  assert.equal(m.seller.state, 'ended');
});

test('buyer: a seller claiming to hold a voucher above what we signed, or a balance below our count, is stopped', async () => {
  const l = new ChanLink();
  l.sellerFilter = (m) => (m.type === 'channel_confirmed' ? { ...m, accepted: m.accepted + 10n ** 9n } : m);
  await l.start();
  assert.equal(l.buyer.state, 'stopped');
  assert.ok(l.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'overcharged'));
  const k = new ChanLink();
  await k.start();
  k.serve(8);
  k.sellerFilter = (m) => (m.type === 'channel_confirmed' ? { ...m, balance: 0n } : m);
  k.serve(40);
  assert.ok(k.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'overcharged'));
});

test('attack: a seller withholding the last block of every piece is vouchered no more than the risk cap; verified pieces make room again', async () => {
  const l = new ChanLink();
  await l.start();
  const cap = chargeFor(DEFAULT_RISK_BYTES, PRICE);
  const perPiece = 15; // of 16 blocks: the 16th is withheld, no piece verifies
  let offset = 0;
  let blocks = 0;
  for (; blocks < 2_000; blocks++) {
    if (!l.seller.canSendPiece(0, offset, BLOCK)) break;
    l.seller.sent(0, offset, BLOCK);
    l.buyer.pieceReceived(BLOCK, Math.floor(blocks / perPiece));
    offset += BLOCK;
    l.pump();
  }
  // Received counts for the lead: without the cap every block sent was vouchered.
  assert.ok(blocks < 2_000, 'the seller ran out of credit');
  assert.ok(l.buyer.paidTotal <= cap, `vouchered ${l.buyer.paidTotal} with nothing verified > risk cap ${cap}`);
  assert.ok(l.buyer.paidTotal >= cap - chargeFor(AHEAD, PRICE), `vouchered only ${l.buyer.paidTotal}: the cap, not the lead, stopped it`);
  assert.equal(l.buyer.state, 'ready', 'waiting, not stopped');
  const before = l.buyer.paidTotal;
  for (let i = 0; i < 4; i++) l.buyer.pieceVerified(i, true);
  l.pump();
  const verified = chargeFor(4n * BigInt(perPiece * BLOCK), PRICE);
  assert.ok(l.buyer.paidTotal > before, 'verified data makes room for the next voucher');
  assert.ok(l.buyer.paidTotal <= cap + verified, `${l.buyer.paidTotal} > cap + verified ${cap + verified}`);
});

test('buyer: never above its budget, nor above the deposit', async () => {
  const budget = chargeFor(MIB, PRICE);
  const l = new ChanLink({ budget });
  await l.start();
  l.serve(1_000);
  assert.ok(l.buyer.paidTotal <= budget, `${l.buyer.paidTotal} > ${budget}`);
  assert.ok(l.buyerEvents.some((e) => e.type === 'budget_exhausted'));
  const d = new ChanLink();
  await d.start(await openChannel(d.chain, { deposit: 3n * chargeFor(AHEAD, PRICE) }));
  d.serve(1_000);
  assert.ok(d.sent <= 3n * chargeFor(AHEAD, PRICE));
  assert.equal(d.seller.meter.credited, d.sent);
});

test('the default lead is earned: 1 MiB with a new seller, growing to a quarter of its verified data (fewer, larger vouchers); never more ahead than that', async () => {
  const l = new ChanLink({ aheadBytes: 'default' });
  await l.start();
  assert.deepEqual(l.journaled, [chargeFor(DEFAULT_CHANNEL_AHEAD_BYTES, PRICE)], 'the first voucher: 1 MiB worth');
  const perPiece = 16;
  let offset = 0;
  let verified = 0n;
  for (let blocks = 0; blocks < 64 * perPiece; blocks++) {
    assert.ok(l.seller.canSendPiece(0, offset, BLOCK), `stalled at block ${blocks}`);
    l.seller.sent(0, offset, BLOCK);
    l.buyer.pieceReceived(BLOCK, Math.floor(blocks / perPiece));
    offset += BLOCK;
    if ((blocks + 1) % perPiece === 0) {
      l.buyer.pieceVerified(Math.floor(blocks / perPiece), true);
      verified += BigInt(perPiece * BLOCK);
    }
    l.pump();
    const lead = verified / 4n > DEFAULT_CHANNEL_AHEAD_BYTES ? verified / 4n : DEFAULT_CHANNEL_AHEAD_BYTES;
    const paidAhead = l.buyer.paidTotal - chargeFor(l.buyer.bytesReceived, PRICE);
    assert.ok(paidAhead <= chargeFor(lead, PRICE) + 1n, `paid ahead ${paidAhead} > the earned lead ${lead} B`);
  }
  const deltas = l.journaled.map((a, i) => a - (i === 0 ? 0n : l.journaled[i - 1]));
  // 16 MiB received: a fixed 1 MiB lead takes a voucher per half MiB (33); earned, the last ones cover MiBs.
  assert.ok(deltas.at(-1)! >= chargeFor(3n * MIB / 2n, PRICE), `increments did not grow: ${deltas.join(',')}`);
  assert.ok(l.journaled.length <= 24, `${l.journaled.length} vouchers for 16 MiB`);
});

test('property: the per-block shortcut decides exactly as the full check — the same vouchers at the same bytes, whatever the price, blocks and verifications', async () => {
  const script = fc.array(fc.record({ length: fc.integer({ min: 1, max: BLOCK }), verify: fc.integer({ min: 0, max: 7 }).map((k) => k === 0) }), { minLength: 1, maxLength: 300 });
  await fc.assert(fc.asyncProperty(fc.oneof(fc.bigInt(1n, 50n), fc.bigInt(1n, 5_000_000n)), fc.constantFrom<bigint | 'default'>('default', 64n * 1024n, 3n * 1024n), script, async (price, aheadBytes, steps) => {
    const run = async (fullCheckEachBlock: boolean): Promise<{ journaled: bigint[]; at: bigint[] }> => {
      const l = new ChanLink({ terms: { price, minPrepay: 1n }, aheadBytes });
      await l.start();
      const at: bigint[] = [];
      let seen = l.journaled.length;
      let offset = 0;
      let piece = 0;
      for (const s of steps) {
        if (!l.seller.canSendPiece(0, offset, s.length)) break;
        l.seller.sent(0, offset, s.length);
        l.buyer.pieceReceived(s.length, piece);
        if (fullCheckEachBlock) l.buyer.topUp();
        offset += s.length;
        if (s.verify) l.buyer.pieceVerified(piece++, true);
        l.pump();
        if (l.journaled.length !== seen) { seen = l.journaled.length; at.push(l.buyer.bytesReceived); }
      }
      return { journaled: l.journaled, at };
    };
    const quick = await run(false);
    const full = await run(true);
    assert.deepEqual(quick, full);
  }), { numRuns: 150 });
});

test("attack: large pieces raise the starting risk to two pieces' worth, never beyond the largest payment (a torrent made with huge pieces)", async () => {
  // Nothing ever verifies (one piece, never complete): what is vouchered is the starting cap.
  const vouchered = async (pieceLength: number): Promise<bigint> => {
    const l = new ChanLink({ pieceLength, aheadBytes: 'default', budget: 10n ** 15n, terms: { price: 1_000n } });
    await l.start();
    let offset = 0;
    for (let blocks = 0; blocks < 20_000; blocks++) {
      if (!l.seller.canSendPiece(0, offset, BLOCK)) break;
      l.seller.sent(0, offset, BLOCK);
      l.buyer.pieceReceived(BLOCK, 0);
      offset += BLOCK;
      l.pump();
    }
    assert.equal(l.buyer.state, 'ready', 'waiting for a hash check, not stopped');
    return l.buyer.paidTotal;
  };
  const price = 1_000n;
  assert.ok(await vouchered(256 * 1024) <= chargeFor(DEFAULT_RISK_BYTES, price), 'small pieces: the 8 MiB start');
  const sixteen = await vouchered(16 * 1024 * 1024);
  assert.ok(sixteen > chargeFor(16n * MIB, price) && sixteen <= chargeFor(32n * MIB, price), `16 MiB pieces: a whole piece can be paid for (${sixteen})`);
  // The session's largest payment is 64 MiB by default: a 256 MiB piece does not make it 512.
  assert.ok(await vouchered(256 * 1024 * 1024) <= chargeFor(64n * MIB, price), 'huge pieces: at most the largest payment');
});
