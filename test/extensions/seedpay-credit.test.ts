/**
 * Ratio credits in the SeedPay state machines (docs/PROTOCOL.md §10), sans-IO: the
 * terms keys (an extension: malformed means "not offered", and they are signed), the
 * `credit_state` message, the meter serving credit before money, and a seller and a
 * buyer session wired message to message — the buyer waits for the seller's
 * credit_state before paying, spends its credit, then pays; a seller that charges
 * money for bytes it said credit covers is caught by the buyer's balance check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode, type BDict } from '../../wire/bencode.js';
import type { PeerExtendedHandshake } from '../../wire/extension-hooks.js';
import { decodeTerms, encodeTerms, type Terms } from '../../payment/terms.js';
import { chargeFor } from '../../payment/amount.js';
import { decodeMessage, encodeMessage } from '../../extensions/seedpay/messages.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { Meter } from '../../extensions/seedpay/meter.js';
import { SellerSession, walletSigner } from '../../extensions/seedpay/seller-session.js';
import { BuyerSession, type BuyerEvent } from '../../extensions/seedpay/buyer-session.js';
import { makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const MIB = 1024n * 1024n;
const BLOCK = 16_384;

test('terms: ratio keys round-trip and are in the signed bytes; malformed ones mean "no credit offered", never an error', () => {
  const w = seededWallet(1);
  const t = makeTerms(w.address, { ratio: { served: 2n, credit: 1n, cap: 64n * MIB, ttl: 86_400n } });
  const enc = encodeTerms(t);
  assert.match(Buffer.from(enc).toString('latin1'), /5:ratioli2ei1ee9:ratio_capi67108864e9:ratio_ttli86400e/, 'in the signed bytes');
  assert.deepEqual(decodeTerms(enc).terms.ratio, t.ratio);
  const base = decode(encodeTerms(makeTerms(w.address))) as BDict;
  for (const bad of [[1n], [1n, 2n, 3n], [0n, 1n], [1n, -1n], ['a', 1n], 5n, [1n, 1n << 64n]]) {
    const d = new Map(base);
    d.set('ratio', bad as never);
    const p = decodeTerms(new Uint8Array(encode(d)));
    assert.equal(p.terms.ratio, undefined, `ratio ${String(bad)}`);
  }
  const d = new Map(base);
  d.set('ratio', [1n, 1n]);
  d.set('ratio_cap', 0n);
  assert.equal(decodeTerms(new Uint8Array(encode(d))).terms.ratio, undefined, 'a zero cap: not offered');
});

test('credit_state: round trip; out-of-range or missing fields are typed errors', () => {
  const m = { type: 'credit_state', served: 3n * MIB, credit: 7n } as const;
  assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  for (const d of [{ type: 'credit_state', served: -1n, credit: 0n }, { type: 'credit_state', served: 1n }, { type: 'credit_state', served: 1n << 64n, credit: 0n }]) {
    assert.throws(() => decodeMessage(new Uint8Array(encode(d))), (e: unknown) => e instanceof SeedPayError && e.remote);
  }
});

test('meter: credit is served before money, a block straddling its end takes the rest (property)', () => {
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 1n << 22n }), fc.array(fc.integer({ min: 1, max: BLOCK }), { maxLength: 60 }), fc.array(fc.bigInt({ min: 0n, max: 1n << 20n }), { maxLength: 4 }),
    (allowance, blocks, grants) => {
      const m = new Meter({ price: 1000n });
      m.allowCredit(allowance);
      m.credit(1n << 40n);
      let served = 0n;
      blocks.forEach((len, i) => {
        if (i < grants.length) m.allowCredit(grants[i]);
        const creditBefore = m.creditLeft;
        const paidBefore = m.paidBytes;
        m.record(0, len);
        served += BigInt(len);
        // Money is charged only for what the credit left did not cover.
        const money = BigInt(len) > creditBefore ? BigInt(len) - creditBefore : 0n;
        assert.equal(m.paidBytes - paidBefore, money);
      });
      assert.equal(m.creditBytes + m.paidBytes, served);
      assert.ok(m.creditBytes <= m.creditAllowance);
      assert.equal(m.charged, chargeFor(m.paidBytes, 1000n));
    },
  ));
  const m = new Meter({ price: 1000n });
  m.allowCredit(20_000n);
  assert.equal(m.classify(0, BLOCK), 'credit');
  m.record(0, BLOCK);
  assert.equal(m.classify(0, BLOCK), 'uncovered', 'the rest of the block needs money');
  m.credit(chargeFor(BigInt(BLOCK - (20_000 - BLOCK)), 1000n));
  assert.equal(m.classify(0, BLOCK), 'paid');
  m.record(0, BLOCK);
  assert.deepEqual([m.creditBytes, m.paidBytes], [20_000n, BigInt(2 * BLOCK - 20_000)]);
});

// ---------------------------------------------------------------- two sessions wired together

const IH = new Uint8Array(20).fill(7);

function handshake(dict: BDict, names: string[]): PeerExtendedHandshake {
  return { dict, m: new Map(names.map((n, i) => [n, i + 1])), disabled: new Set(), uploadOnly: false };
}

interface Wired { seller: SellerSession; buyer: BuyerSession; buyerEvents: BuyerEvent[]; pump(): void }

/** A seller with ratio terms and a buyer proving an identity, bound; messages carried by `pump`. */
function wired(o: { creditIdentity?: boolean; mac?: boolean; terms?: Partial<Terms> } = {}): Wired {
  const w = seededWallet(2);
  const terms = makeTerms(w.address, { price: 1000n, minPrepay: 1000n, mac: true, ratio: { served: 1n, credit: 1n }, ...o.terms });
  const seller = new SellerSession({ terms, infoHash: IH, signer: walletSigner(w), lowWaterBytes: 4n * MIB });
  const buyer = new BuyerSession({
    infoHash: IH, creditIdentity: o.creditIdentity ?? true, mac: o.mac ?? true,
    policy: { maxPricePerMiB: 10_000n, budgets: [], firstPaymentBytes: 8n * MIB, lowWaterBytes: 4n * MIB },
  });
  const buyerEvents: BuyerEvent[] = [];
  const pump = (): void => {
    for (let moved = true; moved;) {
      moved = false;
      for (let m = buyer.pollTransmit(); m !== null; m = buyer.pollTransmit()) { seller.receivePayload(encodeMessage(m)); moved = true; }
      for (let m = seller.pollTransmit(); m !== null; m = seller.pollTransmit()) { buyer.receivePayload(encodeMessage(m)); moved = true; }
      for (let e = buyer.pollEvent(); e !== null; e = buyer.pollEvent()) buyerEvents.push(e);
      while (seller.pollEvent() !== null) { /* verify requests answered by the tests */ }
    }
  };
  seller.onPeerHandshake(handshake(new Map(), ['seedpay', 'seedpay_credit']));
  buyer.onPeerHandshake(handshake(new Map([['seedpay', decode(encodeTerms(terms))]]) as BDict, ['seedpay', 'seedpay_credit']));
  pump();
  assert.equal(seller.state, 'ready');
  assert.equal(buyer.state, 'ready');
  return { seller, buyer, buyerEvents, pump };
}

let served = 0;
/** The seller serves `n` more blocks the buyer receives; every 16 blocks a piece verifies. */
function serve(x: Wired, n: number): void {
  for (let i = 0; i < n; i++, served++) {
    const piece = Math.floor(served / 16);
    assert.ok(x.seller.canSendPiece(piece, 0, BLOCK), `block ${served} served`);
    x.seller.sent(piece, 0, BLOCK);
    x.buyer.pieceReceived(BLOCK, piece);
    if (served % 16 === 15) x.buyer.pieceVerified(piece, true);
    x.pump();
  }
}

const pays = (x: Wired): bigint[] => x.buyerEvents.flatMap((e) => (e.type === 'pay' ? [e.amount] : []));

test('a buyer with an identity waits for credit_state, spends its credit, then pays (MACed session)', () => {
  const x = wired();
  assert.equal(x.buyer.waitingForCredit, true);
  assert.deepEqual(pays(x), [], 'no payment before the seller says what credit covers');
  assert.equal(x.seller.unchokeAllowed(), false);
  x.seller.grantCredit(8n * MIB, 123n);
  x.pump();
  assert.equal(x.buyer.authenticated, true);
  assert.deepEqual([x.buyer.creditAllowance, x.buyer.creditLeft, x.buyer.waitingForCredit], [8n * MIB, 8n * MIB, false]);
  assert.deepEqual(pays(x), [], 'credit covers more than the low-water mark: no money yet');
  assert.equal(x.seller.unchokeAllowed(), true);
  serve(x, 200); // 3.125 MiB of credit
  assert.deepEqual(pays(x), []);
  serve(x, 100); // credit left < 4 MiB: the first payment goes
  assert.equal(pays(x).length, 1);
  assert.equal(x.seller.stats().creditBytes, 300n * BigInt(BLOCK));
  assert.equal(x.seller.stats().paidBytes, 0n);
});

test('a buyer without an identity, or a seller without ratio terms: no wait, pays at once', () => {
  const noId = wired({ creditIdentity: false });
  assert.equal(noId.buyer.waitingForCredit, false);
  assert.equal(pays(noId).length, 1);
  const noRatio = wired({ terms: { ratio: undefined } });
  assert.equal(noRatio.buyer.waitingForCredit, false);
  assert.equal(pays(noRatio).length, 1);
  noRatio.seller.grantCredit(MIB, 0n); // not offered: nothing sent, nothing allowed
  noRatio.pump();
  assert.equal(noRatio.buyer.creditAllowance, 0n);
  assert.equal(noRatio.seller.stats().creditAllowance, 0n);
});

test('credit_state with 0: the buyer stops waiting and pays in full', () => {
  const x = wired();
  x.seller.grantCredit(0n, 0n);
  x.pump();
  assert.equal(x.buyer.waitingForCredit, false);
  assert.equal(pays(x).length, 1);
});

test('attack: a seller that charges money for bytes it said credit covers is caught (overcharged), payments stop', () => {
  // No MAC, so the test can play a lying seller: credit_state says 3 MiB, the meter knows of none.
  const x = wired({ mac: false });
  x.buyer.receive({ type: 'credit_state', served: 3n * MIB, credit: 0n });
  x.pump();
  assert.equal(x.buyer.creditLeft, 3n * MIB);
  // The buyer pays (credit below low water), the seller credits it...
  const [amount] = pays(x);
  assert.ok(amount !== undefined);
  const tx = randomTx();
  x.buyer.paid(tx, amount);
  x.pump();
  x.seller.verified(tx, { ok: true, credited: amount });
  x.pump();
  // ...then serves 7.5 MiB charging money for all of it, and its next answer reports that balance.
  serve(x, 480);
  const tx2 = randomTx();
  const more = pays(x)[1];
  assert.ok(more !== undefined, 'a top-up');
  x.buyer.paid(tx2, more);
  x.pump();
  x.seller.verified(tx2, { ok: true, credited: more });
  x.pump();
  assert.equal(x.buyer.state, 'stopped');
  assert.ok(x.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'overcharged'));
});

test('unsolicited credit_state (no ratio terms) is ignored; before the binding it changes nothing', () => {
  const x = wired({ mac: false, terms: { ratio: undefined } });
  x.buyer.receive({ type: 'credit_state', served: 100n * MIB, credit: 0n });
  assert.equal(x.buyer.creditAllowance, 0n);
});

test('a seller that never sends credit_state does not hold the transfer: the buyer gives up waiting and pays', () => {
  const x = wired();
  assert.deepEqual(pays(x), []);
  x.buyer.giveUpOnCredit();
  x.pump();
  assert.equal(x.buyer.waitingForCredit, false);
  assert.equal(pays(x).length, 1);
});
