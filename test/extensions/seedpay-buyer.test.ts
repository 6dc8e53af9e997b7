/**
 * The buyer state machine against a real SellerSession, linked message by message
 * through the codec (no sockets), with a fake chain: policy refusals, payment sizes
 * (small first, growing only while pieces verify), top-ups, rejections and retries,
 * cheating sellers, pay failures, and the shared budgets never exceeded (property).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chargeFor, MIB } from '../../payment/amount.js';
import { termsToWire, type Terms } from '../../payment/terms.js';
import { encode, type Encodable } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { BuyerSession, type BuyerEvent, type PayFailure } from '../../extensions/seedpay/buyer-session.js';
import { decodeMessage, encodeMessage } from '../../extensions/seedpay/messages.js';
import { Budget, type BuyerPolicy } from '../../extensions/seedpay/policy.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { SellerSession, walletSigner, type SellerEvent, type VerifyOutcome } from '../../extensions/seedpay/seller-session.js';
import { BLOCK, CLUSTER, INFO, MINT, makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const wallet = seededWallet(1);
/** The pieces Link serves: 16 blocks. */
const PIECE = 16 * BLOCK;
const HS_BUYER = parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 } })));
const sellerHs = (terms: Terms, extra: Record<string, Encodable> = {}) =>
  parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 }, seedpay: termsToWire(terms), ...extra })));

/** A buyer and a seller linked through the codec, with a fake chain. */
class Link {
  readonly buyer: BuyerSession;
  readonly seller: SellerSession;
  readonly terms: Terms;
  readonly chain = new Map<string, { amount: bigint; sessionHash: string }>();
  readonly buyerEvents: BuyerEvent[] = [];
  readonly sellerEvents: SellerEvent[] = [];
  readonly payQueue: bigint[] = [];
  readonly verifyQueue: string[] = [];
  autoVerify = true;
  verifyWith: ((tx: string) => VerifyOutcome) | null = null;
  /** Rewrite what the seller says (a cheating seller). */
  sellerFilter: ((m: ReturnType<typeof decodeMessage>) => ReturnType<typeof decodeMessage> | null) | null = null;
  private offset = 0;

  constructor(o: { policy?: Partial<BuyerPolicy>; terms?: Partial<Terms>; budgets?: Budget[] } = {}) {
    this.terms = makeTerms(wallet.address, { price: 1_000_000n, minPrepay: 1_000n, ...o.terms });
    this.seller = new SellerSession({ terms: this.terms, infoHash: INFO, signer: walletSigner(wallet), lowWaterBytes: 256n * 1024n });
    this.buyer = new BuyerSession({
      infoHash: INFO, policy: { maxPricePerMiB: 5_000_000n, budgets: o.budgets ?? [new Budget(10n ** 12n)], ...o.policy },
    });
  }

  start(): boolean {
    this.seller.onPeerHandshake(HS_BUYER);
    const keep = this.buyer.onPeerHandshake(sellerHs(this.terms));
    this.pump();
    return keep;
  }

  pump(): void {
    for (let moved = true; moved;) {
      moved = false;
      for (let m = this.buyer.pollTransmit(); m !== null; m = this.buyer.pollTransmit()) {
        moved = true;
        this.seller.receivePayload(encodeMessage(m));
      }
      for (let m = this.seller.pollTransmit(); m !== null; m = this.seller.pollTransmit()) {
        moved = true;
        let d: ReturnType<typeof decodeMessage> | null = decodeMessage(encodeMessage(m));
        if (this.sellerFilter !== null) d = this.sellerFilter(d);
        if (d !== null) this.buyer.receive(d);
      }
      for (let e = this.seller.pollEvent(); e !== null; e = this.seller.pollEvent()) {
        moved = true;
        this.sellerEvents.push(e);
        if (e.type === 'verify') {
          if (this.autoVerify) this.seller.verified(e.tx, this.verify(e.tx));
          else this.verifyQueue.push(e.tx);
        }
      }
      for (let e = this.buyer.pollEvent(); e !== null; e = this.buyer.pollEvent()) {
        moved = true;
        this.buyerEvents.push(e);
        if (e.type === 'pay') this.payQueue.push(e.amount);
      }
    }
  }

  verify(tx: string): VerifyOutcome {
    if (this.verifyWith !== null) return this.verifyWith(tx);
    const t = this.chain.get(tx);
    if (t === undefined) return { ok: false, reason: 'tx_not_found' };
    if (t.sessionHash !== this.seller.sessionHash) return { ok: false, reason: 'session_mismatch' };
    return { ok: true, credited: t.amount };
  }

  /** The payer succeeds for the oldest pay request. */
  pay(): string {
    const amount = this.payQueue.shift();
    if (amount === undefined) throw new Error('no pay request');
    const tx = randomTx();
    this.chain.set(tx, { amount, sessionHash: this.buyer.sessionHash! });
    this.buyer.paid(tx, amount);
    this.pump();
    return tx;
  }

  failPay(err: PayFailure): void {
    const amount = this.payQueue.shift();
    if (amount === undefined) throw new Error('no pay request');
    if (err.signature !== undefined) this.chain.set(err.signature, { amount, sessionHash: 'unknown' });
    this.buyer.payFailed(err);
    this.pump();
  }

  /** The seller serves up to n blocks through its gate. Returns how many went out. */
  serve(n: number): number {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!this.seller.canSendPiece(0, this.offset, BLOCK)) break;
      this.seller.sent(0, this.offset, BLOCK);
      this.buyer.pieceReceived(BLOCK, Math.floor(this.offset / PIECE));
      this.offset += BLOCK;
      k++;
    }
    this.pump();
    return k;
  }

  pays(): bigint[] { return this.buyerEvents.flatMap((e) => (e.type === 'pay' ? [e.amount] : [])); }

  /** Every piece served so far (whole ones) passes its hash check. */
  verifyServed(): void {
    for (; this.verifiedPieces < Math.floor(this.offset / PIECE); this.verifiedPieces++) this.buyer.pieceVerified(this.verifiedPieces, true);
    this.pump();
  }
  private verifiedPieces = 0;
}

test('policy: sellers outside the buyer policy are refused before anything is sent', () => {
  const cases: [Partial<Terms>, Partial<BuyerPolicy>, string][] = [
    [{ price: 6_000_000n }, {}, 'price_too_high'],
    [{}, { mint: seededWallet(7).address }, 'wrong_mint'],
    [{}, { cluster: seededWallet(8).address }, 'wrong_cluster'],
    // A channel-only seller, to a buyer without channels.
    [{ modes: ['channel'], channel: seededWallet(9).address }, {}, 'no_prepaid_mode'],
    [{ minPrepay: 2_000_000n }, { maxMinPrepay: 1_000_000n }, 'min_prepay_too_high'],
  ];
  for (const [terms, policy, reason] of cases) {
    const l = new Link({ terms, policy });
    assert.equal(l.start(), false, reason);
    assert.equal(l.buyer.state, 'refused');
    assert.ok(l.buyerEvents.some((e) => e.type === 'refused' && e.reason === reason), reason);
    assert.equal(l.seller.state, 'awaiting_ecdh', 'no ecdh_init was sent');
  }
  const ok = new Link({ policy: { mint: MINT, cluster: CLUSTER } });
  assert.equal(ok.start(), true);
  assert.equal(ok.buyer.state, 'ready');
  // Free and buyer-only peers: not selling, the hook declines.
  const b = new BuyerSession({ infoHash: INFO, policy: { maxPricePerMiB: 1n, budgets: [] } });
  assert.equal(b.onPeerHandshake(HS_BUYER), false);
  assert.equal(b.state, 'not_selling');
});

test('payments: a small first one, the same size until a piece verifies, then growing up to the cap', () => {
  const l = new Link({ policy: { firstPaymentBytes: 256n * 1024n, maxPaymentBytes: MIB, lowWaterBytes: 64n * 1024n } });
  l.start();
  const first = chargeFor(256n * 1024n, l.terms.price);
  assert.deepEqual(l.pays(), [first]);
  l.pay();
  assert.equal(l.buyer.creditedTotal, first);
  // Serve most of it: the buyer tops up (low water) with the same amount: nothing verified yet.
  l.serve(14);
  assert.deepEqual(l.pays(), [first, first]);
  l.pay();
  l.buyer.pieceVerified(0, true);
  l.serve(24);
  assert.deepEqual(l.pays(), [first, first, 2n * first]);
  l.pay();
  l.buyer.pieceVerified(1, true);
  l.serve(40);
  l.pay();
  l.buyer.pieceVerified(2, true);
  l.serve(80);
  const pays = l.pays();
  assert.equal(pays[3], chargeFor(MIB, l.terms.price), 'capped at maxPaymentBytes');
  assert.ok(pays.every((a) => a <= chargeFor(MIB, l.terms.price)));
  // The seller's credit equals what the buyer paid and proved.
  assert.equal(l.seller.stats().credited, l.buyer.creditedTotal);
});

test('a piece that verifies while a payment is being made counts for the next one\'s growth', () => {
  const l = new Link({ policy: { firstPaymentBytes: 256n * 1024n, maxPaymentBytes: MIB, lowWaterBytes: 64n * 1024n } });
  l.start();
  const first = chargeFor(256n * 1024n, l.terms.price);
  l.pay();
  l.serve(14);
  assert.deepEqual(l.pays(), [first, first], 'nothing verified yet: the same size');
  // The second payment is on its way (journaled behind a disk flush): a piece verifies now.
  l.buyer.pieceVerified(0, true);
  l.pay();
  l.serve(14);
  assert.deepEqual(l.pays(), [first, first, 2n * first]);
  // No piece verified after the third was decided: the fourth does not grow.
  l.pay();
  l.serve(28);
  assert.deepEqual(l.pays(), [first, first, 2n * first, 2n * first]);
});

test('until a round trip is measured with data flowing, the top-up keeps a whole payment ahead', () => {
  const l = new Link({ policy: { firstPaymentBytes: 256n * 1024n, lowWaterBytes: 64n * 1024n } });
  l.start();
  l.pay(); // nothing flowed while the first payment settled: its round trip measured 0 bytes
  assert.equal(l.pays().length, 1, 'no data since the credit: no top-up');
  l.serve(1);
  assert.equal(l.pays().length, 2, 'the first block after the credit starts the next payment');
});

test('a seller that takes money and sends nothing gets one increment, whatever it asks', () => {
  const l = new Link();
  l.start();
  l.pay();
  for (let i = 0; i < 10; i++) {
    l.buyer.receive({ type: 'payment_required', balance: 0n, required: 10n ** 9n });
    l.buyer.topUp();
  }
  l.pump();
  assert.equal(l.pays().length, 1);
});

test('payment_required tops up before the balance runs out, and the transfer never stalls on credit', () => {
  const l = new Link({ policy: { firstPaymentBytes: 512n * 1024n, lowWaterBytes: 256n * 1024n } });
  l.start();
  l.pay();
  let served = 0;
  for (let round = 0; round < 100 && served < 400; round++) {
    const k = l.serve(4);
    served += k;
    if (l.payQueue.length > 0) l.pay();
    if (k % 4 === 0 && k > 0 && served % 64 === 0) l.buyer.pieceVerified(served, true);
    assert.ok(k === 4, `stalled at block ${served}`);
  }
  assert.ok(l.buyer.estimatedBalance! >= 0n);
});

test('rejections: transient ones retried with doubling delays then given up; final ones stop payments', () => {
  const l = new Link({ policy: { maxProofRetries: 3, proofRetryDelayMs: 1000 } });
  l.start();
  l.verifyWith = () => ({ ok: false, reason: 'rpc_unavailable' });
  const tx = l.pay();
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = l.buyerEvents.filter((e) => e.type === 'retry_proof');
    if (r.length > delays.length) {
      const last = r[r.length - 1];
      assert.ok(last.type === 'retry_proof' && last.tx === tx);
      delays.push(last.delayMs);
      l.buyer.retryProof(tx);
      l.pump();
    }
  }
  assert.deepEqual(delays, [1000, 2000, 4000]);
  assert.equal(l.buyer.state, 'stopped');
  assert.ok(l.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'retries_exhausted'));

  for (const reason of ['session_mismatch', 'expired', 'wrong_recipient', 'something_new'] as const) {
    const m = new Link();
    m.start();
    m.verifyWith = () => ({ ok: false, reason: reason as 'expired' });
    m.pay();
    assert.equal(m.buyer.state, 'stopped', reason);
    assert.ok(m.buyerEvents.some((e) => e.type === 'rejected' && e.final && e.reason === reason));
    m.buyer.receive({ type: 'payment_required', balance: 0n, required: 1n });
    m.buyer.pieceReceived(BLOCK);
    m.buyer.topUp();
    m.pump();
    assert.equal(m.pays().length, 1, `${reason}: no further payment`);
  }
});

test('cheating sellers: under-credit and an overstated charge stop payments', () => {
  const under = new Link();
  under.start();
  under.verifyWith = (tx) => ({ ok: true, credited: under.chain.get(tx)!.amount - 1n });
  under.pay();
  assert.ok(under.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'under_credited'));

  const over = new Link({ policy: { firstPaymentBytes: MIB } });
  over.start();
  over.pay();
  over.serve(8);
  // The seller claims a much lower balance than the bytes it sent can explain.
  over.sellerFilter = (m) => (m.type === 'payment_confirmed' ? { ...m, balance: 0n } : m);
  over.serve(40);
  if (over.payQueue.length > 0) over.pay();
  assert.ok(over.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'overcharged'));
});

test('pay failures: transient released and retried, fatal or submitted-but-unknown stop', () => {
  const budget = new Budget(10n ** 9n);
  const l = new Link({ budgets: [budget] });
  l.start();
  const amount = l.payQueue[0];
  assert.equal(budget.reserved, amount);
  l.failPay({ code: 'rpc_unavailable' });
  assert.equal(budget.reserved, 0n);
  assert.equal(budget.spent, 0n);
  assert.equal(l.buyer.state, 'ready');
  l.buyer.topUp(); l.pump();
  assert.equal(l.payQueue.length, 1, 'retried on the next trigger');
  l.failPay({ code: 'insufficient_funds' });
  assert.equal(l.buyer.state, 'stopped');

  const budget2 = new Budget(10n ** 9n);
  const m = new Link({ budgets: [budget2] });
  m.start();
  const amt = m.payQueue[0];
  m.failPay({ code: 'not_confirmed', signature: randomTx() });
  assert.equal(budget2.spent, amt, 'a submitted transaction counts as spent');
  assert.equal(m.buyer.paidTotal, amt);
  assert.equal(m.buyer.state, 'stopped');
  assert.throws(() => m.buyer.paid(randomTx(), 1n), (e: unknown) => e instanceof SeedPayError && !e.remote);
});

test('budgets shared by several connections are never exceeded (property)', () => {
  const action = fc.oneof(
    fc.record({ k: fc.constant('serve' as const), who: fc.nat(2), n: fc.integer({ min: 1, max: 24 }) }),
    fc.record({ k: fc.constant('pay' as const), who: fc.nat(2) }),
    fc.record({ k: fc.constant('fail' as const), who: fc.nat(2), submitted: fc.boolean() }),
    fc.record({ k: fc.constant('verified' as const), who: fc.nat(2) }),
    fc.record({ k: fc.constant('required' as const), who: fc.nat(2) }),
  );
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 3_000_000n }), fc.bigInt({ min: 0n, max: 2_000_000n }), fc.array(action, { maxLength: 80 }),
    (totalLimit, torrentLimit, actions) => {
      const total = new Budget(totalLimit, 'total');
      const torrents = [new Budget(torrentLimit), new Budget(torrentLimit), new Budget(torrentLimit)];
      const links = torrents.map((t) => new Link({ budgets: [t, total], policy: { firstPaymentBytes: 128n * 1024n, lowWaterBytes: 64n * 1024n } }));
      for (const l of links) l.start();
      for (const a of actions) {
        const l = links[a.who];
        switch (a.k) {
          case 'serve': l.serve(a.n); break;
          case 'pay': if (l.payQueue.length > 0) l.pay(); break;
          case 'fail': if (l.payQueue.length > 0) l.failPay(a.submitted ? { code: 'not_confirmed', signature: randomTx() } : { code: 'send_failed' }); break;
          case 'verified': l.buyer.pieceVerified(0, true); break;
          case 'required': l.buyer.receive({ type: 'payment_required', balance: 0n, required: 50_000n }); l.pump(); break;
        }
        for (const b of [total, ...torrents]) {
          assert.ok(b.spent + b.reserved <= b.limit, `${b.label}: ${b.spent} + ${b.reserved} > ${b.limit}`);
          assert.ok(b.spent >= 0n && b.reserved >= 0n);
        }
      }
      let chainTotal = 0n;
      links.forEach((l, i) => {
        let mine = 0n;
        for (const t of l.chain.values()) mine += t.amount;
        assert.ok(mine <= torrents[i].limit, 'per-torrent budget');
        assert.equal(mine, l.buyer.paidTotal);
        chainTotal += mine;
        // Whatever happened, the seller never served beyond its credit.
        const s = l.seller.stats();
        assert.ok(s.charged <= s.credited);
      });
      assert.ok(chainTotal <= totalLimit, 'total budget');
      assert.equal(chainTotal, total.spent);
    },
  ), { numRuns: 200 });
});

test('a bad piece: stop paying at once (even with a payment in progress) and ask to disconnect', () => {
  const l = new Link();
  l.start();
  l.pay();
  l.serve(10);
  l.buyer.pieceVerified(4, false);
  l.pump();
  assert.equal(l.buyer.state, 'stopped');
  assert.ok(l.buyerEvents.some((e) => e.type === 'disconnect' && e.index === 4));
  const before = l.pays().length;
  l.serve(100);
  l.buyer.topUp();
  l.pump();
  assert.equal(l.pays().length, before);
});

test('a min_prepay above the first increment makes the first payment min_prepay (never less than the seller credits)', () => {
  // 100 MiB worth: above the default risk cap, so the buyer accepts that risk explicitly.
  const l = new Link({ terms: { price: 100n, minPrepay: 10_000n }, policy: { maxPrepay: 10_000n } });
  l.start();
  assert.deepEqual(l.pays(), [10_000n]);
  l.pay();
  assert.equal(l.seller.stats().credited, 10_000n);
  assert.equal(l.serve(64), 64, '100 MiB worth of credit serves freely');
});

test('risk cap: a min_prepay above it is refused before anything is paid; every payment stays within it', () => {
  // Default: 8 MiB worth at the seller's price. A seller demanding the whole budget at once gets nothing.
  const greedy = new Link({ terms: { price: 1_000n, minPrepay: 1_000_000n }, budgets: [new Budget(1_000_000n)] });
  assert.equal(greedy.start(), false);
  assert.equal(greedy.buyer.state, 'refused');
  assert.ok(greedy.buyerEvents.some((e) => e.type === 'refused' && e.reason === 'min_prepay_too_high'));
  assert.deepEqual(greedy.pays(), []);
  // Just under the default cap is accepted.
  const fair = new Link({ terms: { price: 1_000n, minPrepay: chargeFor(8n * MIB, 1_000n) } });
  assert.equal(fair.start(), true);
  // Payments grow while pieces verify, but what is at risk never passes the cap (here 3 MiB worth).
  const cap = chargeFor(3n * MIB, 1_000_000n);
  const capped = new Link({ policy: { maxPrepay: cap, firstPaymentBytes: MIB, maxPaymentBytes: 64n * MIB, lowWaterBytes: 64n * 1024n } });
  capped.start();
  const atRisk = (): bigint => capped.pays().slice(0, capped.pays().length - capped.payQueue.length).reduce((a, b) => a + b, 0n)
    + capped.payQueue.reduce((a, b) => a + b, 0n) - chargeFor(capped.buyer.bytesVerified, 1_000_000n);
  for (let i = 0; i < 8 && capped.payQueue.length > 0; i++) {
    capped.pay();
    capped.verifyServed();
    capped.serve(400); // more than any one payment covers: the buyer tops up
    assert.ok(atRisk() <= cap, `at risk ${atRisk()} > cap ${cap}`);
    capped.verifyServed();
  }
  const paid = capped.pays();
  assert.ok(paid.length >= 6, `payments: ${paid.join(', ')}`);
  assert.ok(paid.every((a) => a <= cap), `payments: ${paid.join(', ')}`);
  assert.ok(paid.some((a) => a > paid[0]), `payments grew while pieces verified: ${paid.join(', ')}`);
});

test('data that never verifies stops the payments: withheld last blocks, and corrupt pieces', () => {
  // A seller that serves every block but the last of each piece: nothing ever verifies.
  const risk = chargeFor(3n * MIB, 1_000_000n);
  const withheld = new Link({ policy: { firstPaymentBytes: MIB, maxPrepay: risk } });
  withheld.start();
  for (let i = 0; i < 10 && withheld.payQueue.length > 0; i++) {
    withheld.pay();
    withheld.serve(200);
  }
  const paid = withheld.pays().reduce((a, b) => a + b, 0n);
  // Nothing verifies: what is at risk never exceeds the cap, however much data arrives.
  assert.ok(paid <= risk, `paid ${paid} for data that never verified (cap ${risk})`);
  assert.ok(paid >= chargeFor(2n * MIB, 1_000_000n), `it kept a payment ahead while within the cap: ${withheld.pays().join(', ')}`);
  assert.ok(withheld.buyer.bytesVerified === 0n);
  // When the pieces do verify, payments resume.
  const before = withheld.pays().length;
  withheld.verifyServed();
  withheld.serve(200);
  assert.ok(withheld.pays().length > before, 'verified data lets the next top-up go');
});

test('hostile seller messages: the buyer never throws, and pays one increment without confirmations and one proof ahead of them after (property)', () => {
  const txs = Array.from({ length: 4 }, () => randomTx());
  const msg = fc.oneof(
    fc.record({ type: fc.constant('ecdh_init' as const), pk: fc.uint8Array({ minLength: 32, maxLength: 32 }), sig: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
    fc.record({ type: fc.constant('payment_confirmed' as const), tx: fc.constantFrom(...txs), credited: fc.bigInt({ min: 0n, max: 10n ** 7n }), balance: fc.bigInt({ min: 0n, max: 10n ** 7n }) }),
    fc.record({ type: fc.constant('payment_rejected' as const), tx: fc.constantFrom(...txs), reason: fc.constantFrom('rpc_unavailable', 'expired', 'zzz') }),
    fc.record({ type: fc.constant('payment_required' as const), balance: fc.bigInt({ min: 0n, max: 10n ** 7n }), required: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
    fc.record({ type: fc.constant('payment_proof' as const), tx: fc.constantFrom(...txs), amount: fc.constant(1n) }),
  );
  const step = fc.oneof(
    msg.map((m) => ({ k: 'msg' as const, m })),
    fc.record({ k: fc.constant('bytes' as const), b: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ k: fc.constant('recv' as const), n: fc.integer({ min: 1, max: 10 * BLOCK }) }),
    fc.record({ k: fc.constant('pay' as const), tx: fc.constantFrom(...txs) }),
    fc.record({ k: fc.constant('verified' as const), ok: fc.boolean() }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
    // The buyer talks to a real seller for the handshake, then gets hostile input.
    const l = new Link();
    l.start();
    let pays = l.pays().length;
    for (const st of steps) {
      if (st.k === 'msg') l.buyer.receive({ ...st.m });
      else if (st.k === 'bytes') l.buyer.receivePayload(st.b);
      else if (st.k === 'recv') l.buyer.pieceReceived(st.n);
      else if (st.k === 'verified') l.buyer.pieceVerified(1, st.ok);
      else if (l.payQueue.length > 0) { l.buyer.paid(st.tx, l.payQueue.shift()!); }
      for (let e = l.buyer.pollEvent(); e !== null; e = l.buyer.pollEvent()) if (e.type === 'pay') { l.payQueue.push(e.amount); pays++; }
      while (l.buyer.pollTransmit() !== null) { /* the seller is not listening */ }
      assert.ok(l.payQueue.length <= 1, 'one payment outstanding at most');
    }
    // Payments stay bounded by the confirmations the seller sent (genuine or not): one
    // before any, and once it has answered, one more proof in flight than it answered.
    const confirmations = steps.filter((s) => s.k === 'msg' && s.m.type === 'payment_confirmed').length;
    assert.ok(pays <= (confirmations === 0 ? 1 : 2 + confirmations), `${pays} payments for ${confirmations} confirmations`);
  }), { numRuns: 300 });
});

test('top-ups run ahead by twice the bytes that arrived while the last payment settled (rate × settlement latency, measured without a clock)', () => {
  const K = 1024n;
  const l = new Link({ policy: { firstPaymentBytes: 256n * K, maxPaymentBytes: 4n * MIB, lowWaterBytes: 64n * K } });
  l.start();
  l.pay(); // the first payment: nothing arrived while it settled
  const queued = (): number => l.payQueue.length; // (a call: assert.equal narrows a property read)
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  assert.equal(queued(), 1, 'a top-up at half the last payment');
  // 6 blocks (96 KiB) arrive while that top-up settles.
  assert.equal(l.serve(6), 6);
  l.pay();
  // The next top-up fires with 2 × 96 KiB still to run (it used to be half the last payment: 128 KiB).
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  assert.equal(queued(), 1);
  const est = l.buyer.estimatedBalance!;
  assert.ok(est < chargeFor(192n * K, l.terms.price), `fired below the runway (${est})`);
  assert.ok(est >= chargeFor(176n * K, l.terms.price), `fired as soon as below it, above the old low water (${est})`);
});

test('a seller that ran dry while our payment settled: later top-ups fire a whole payment ahead and the next one grows twice as fast', () => {
  const K = 1024n;
  const l = new Link({ policy: { firstPaymentBytes: 256n * K, maxPaymentBytes: 16n * MIB, lowWaterBytes: 64n * K } });
  l.start();
  l.pay();
  l.buyer.pieceVerified(0, true);
  const queued = (): number => l.payQueue.length;
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  const pays = l.pays();
  assert.equal(pays[1], 2n * pays[0], 'the usual growth');
  // The credit runs out before the top-up settles: the seller refuses; the session asks for a top-up.
  for (let i = 0; i < 100; i++) if (l.serve(1) === 0) break;
  assert.equal(l.serve(1), 0, 'out of credit');
  l.buyer.topUp();
  assert.equal(queued(), 1, 'still one payment at a time');
  l.pay();
  l.buyer.pieceVerified(1, true);
  // A whole last payment ahead: the next top-up fires after one block.
  assert.equal(l.serve(1), 1);
  assert.equal(queued(), 1, 'fired at once');
  assert.equal(l.pays()[2], 4n * pays[1], 'grew ×growth² after running dry');
});

test('pipelined: once the seller has answered one proof, the next payment starts while another proof awaits its answer', () => {
  const K = 1024n;
  const l = new Link({ policy: { firstPaymentBytes: 256n * K, maxPaymentBytes: 4n * MIB, lowWaterBytes: 128n * K } });
  const queued = (): number => l.payQueue.length;
  const count = (type: BuyerEvent['type']): number => l.buyerEvents.filter((e) => e.type === type).length;
  const unanswered = (): number => count('proof_sent') - count('confirmed');
  // The seller verifies one proof at a time; answer what it asks until it asks nothing.
  const answerAll = (): void => {
    while (l.verifyQueue.length > 0) {
      const tx = l.verifyQueue.shift()!;
      l.seller.verified(tx, l.verify(tx));
      l.pump();
    }
  };
  l.start();
  l.pay(); // answered at once: the seller has answered one proof
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  // The seller verifies slowly: 10 blocks arrive while this proof waits (a fast transfer).
  l.autoVerify = false;
  l.pay();
  assert.equal(l.serve(10), 10);
  answerAll();
  // The runway is now twice those 10 blocks, more than one payment covers.
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  assert.equal(queued(), 1, 'a top-up');
  l.pay();
  assert.equal(unanswered(), 1, 'its proof awaits the seller');
  for (let i = 0; i < 100 && queued() === 0; i++) l.serve(1);
  assert.equal(queued(), 1, 'a second top-up while the first proof is unanswered');
  l.pay();
  assert.equal(unanswered(), 2);
  // Two proofs unanswered: no third payment, however much is served.
  l.serve(200);
  assert.equal(queued(), 0, 'at most two proofs in flight');
  answerAll();
  assert.equal(unanswered(), 0);
  assert.equal(count('confirmed'), 4);
  assert.equal(l.buyer.state, 'ready');
});

test('before the seller has answered any proof, no second payment starts', () => {
  const l = new Link({ policy: { firstPaymentBytes: MIB, lowWaterBytes: 4n * MIB } });
  l.autoVerify = false;
  l.start();
  l.pay();
  l.serve(100); // a free sample, say: the balance looks low
  assert.equal(l.payQueue.length, 0);
  assert.equal(l.pays().length, 1);
});

test('default risk cap: starts at a few MiB worth, grows to a quarter of the verified data\'s value, at most maxPaymentBytes worth (property)', () => {
  const PRICE = 1_000_000n;
  fc.assert(fc.property(fc.array(fc.record({ serve: fc.integer({ min: 1, max: 300 }), verify: fc.boolean() }), { minLength: 5, maxLength: 40 }), (steps) => {
    const l = new Link({ policy: { firstPaymentBytes: MIB, maxPaymentBytes: 64n * MIB, lowWaterBytes: 2n * MIB } });
    l.start();
    const base = chargeFor(8n * MIB, PRICE);
    const cap = (): bigint => {
      const earned = chargeFor(l.buyer.bytesVerified, PRICE) / 4n;
      const ceiling = chargeFor(64n * MIB, PRICE);
      const e = earned > ceiling ? ceiling : earned;
      return e > base ? e : base;
    };
    const atRisk = (): bigint => l.pays().reduce((a, b) => a + b, 0n) - chargeFor(l.buyer.bytesVerified, PRICE);
    for (const st of steps) {
      while (l.payQueue.length > 0) l.pay();
      l.serve(st.serve);
      if (st.verify) l.verifyServed();
      assert.ok(atRisk() <= cap(), `at risk ${atRisk()} > cap ${cap()} (verified ${l.buyer.bytesVerified})`);
    }
  }), { numRuns: 60 });
  // A seller that delivers and verifies earns a larger cap: payments above the starting one.
  const l = new Link({ policy: { firstPaymentBytes: MIB, maxPaymentBytes: 64n * MIB } });
  l.start();
  for (let i = 0; i < 400; i++) {
    while (l.payQueue.length > 0) l.pay();
    l.serve(64);
    l.verifyServed();
  }
  const biggest = l.pays().reduce((a, b) => (a > b ? a : b), 0n);
  assert.ok(biggest > chargeFor(8n * MIB, PRICE), `a payment above the starting cap once trust is earned: ${biggest}`);
  assert.ok(biggest <= chargeFor(64n * MIB, PRICE));
});
