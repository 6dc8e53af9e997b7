/**
 * SeedPay end to end over two PeerConnections in memory (test/wire/pair.ts), with a
 * fake chain for the payer and the verifier: the §3 vectors through the state
 * machines, session binding, signature and man-in-the-middle refusals, a paid
 * transfer metered block by block (fast: reject_request; no fast: choke), resume on
 * credit, bad pieces, peers without SeedPay under both policies, malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chargeFor, MIB } from '../../payment/amount.js';
import type { Terms } from '../../payment/terms.js';
import { encode, type Encodable } from '../../wire/bencode.js';
import { Pair, fill } from '../wire/pair.js';
import { BuyerHook, SellerHook } from '../../extensions/seedpay/hook.js';
import { decodeMessage, encodeMessage } from '../../extensions/seedpay/messages.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { seedSigner, walletSigner } from '../../extensions/seedpay/seller-session.js';
import { BLOCK, Harness, randomTx, seededWallet } from './seedpay-harness.js';
import { PeerCommandQueue } from '../../wire/peer-control.js';

/** The vectors sit in <repo>/test/payment; compiled tests run from dist/test/extensions (tsc does not copy JSON). */
function vectorsText(): string {
  for (const rel of ['../payment/seedpay-vectors.json', '../../../test/payment/seedpay-vectors.json']) {
    try { return readFileSync(new URL(rel, import.meta.url), 'utf8'); } catch { /* try the next place */ }
  }
  throw new Error('seedpay-vectors.json not found next to the tests or in <repo>/test/payment');
}
const V = JSON.parse(vectorsText()) as Record<string, string> & {
  terms: { cluster: string; mint: string; wallet: string; price: number; min_prepay: number; modes: string[] };
};
const h = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

test('vectors: the state machines reproduce the §3 signature and session hash on both sides', () => {
  const terms: Terms = {
    v: 1, chain: 'solana', cluster: V.terms.cluster, mint: V.terms.mint, wallet: V.terms.wallet,
    price: BigInt(V.terms.price), minPrepay: BigInt(V.terms.min_prepay), modes: V.terms.modes,
  };
  const infoHash = h(V.info_hash_hex);
  const seller = new SellerHook({
    terms, infoHash, signer: seedSigner(h(V.wallet_seed_hex)),
    ephemeral: () => ({ secret: h(V.seller_ephemeral_secret_hex), public: h(V.seller_ephemeral_public_hex) }),
  });
  const buyer = new BuyerHook({
    // The vectors' min_prepay is 100 MiB worth: above the default risk cap, so accepted explicitly.
    infoHash, policy: { maxPricePerMiB: 1000n, budgets: [new Budget(10n ** 9n)], maxPrepay: 10n ** 6n },
    ephemeral: () => ({ secret: h(V.buyer_ephemeral_secret_hex), public: h(V.buyer_ephemeral_public_hex) }),
  });
  const seen: Uint8Array[] = [];
  const p = new Pair({
    infoHash, a: { extensions: [buyer] }, bExtensions: [seller],
    onTransit: (from, chunk) => { if (from === 'b') seen.push(chunk.slice()); },
  });
  p.drive();
  assert.equal(buyer.buyer.state, 'ready');
  assert.equal(seller.seller.sessionHash, V.session_hash_hex);
  assert.equal(buyer.buyer.sessionHash, V.session_hash_hex);
  // The seller's ecdh_init on the wire: find the bencoded dict and check pk and sig.
  const all = Buffer.concat(seen);
  const at = all.indexOf('d2:pk32:');
  assert.ok(at > 0);
  const len = encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32), sig: new Uint8Array(64) }).length;
  const m = decodeMessage(all.subarray(at, at + len));
  assert.ok(m.type === 'ecdh_init' && m.sig !== undefined);
  assert.equal(Buffer.from(m.pk).toString('hex'), V.seller_ephemeral_public_hex);
  assert.equal(Buffer.from(m.sig).toString('hex'), V.transcript_signature_hex);
  // The seller's terms in its extended handshake are exactly the vector's bencoding.
  assert.ok(all.indexOf(Buffer.from('7:seedpay' + Buffer.from(h(V.terms_bencoded_hex)).toString('latin1'), 'latin1')) > 0);
});

test('handshake: both sides derive the same session hash; the buyer pays a small first increment', () => {
  const hs = new Harness();
  hs.run();
  assert.equal(hs.seller.seller.state, 'ready');
  assert.equal(hs.buyer.buyer.state, 'ready');
  assert.match(hs.seller.seller.sessionHash!, /^[0-9a-f]{64}$/);
  assert.equal(hs.seller.seller.sessionHash, hs.buyer.buyer.sessionHash);
  const pays = hs.buyerEvents.filter((e) => e.type === 'pay');
  assert.equal(pays.length, 1, 'one payment before any data');
  assert.equal(pays[0].type === 'pay' && pays[0].amount, chargeFor(MIB, hs.terms.price));
  // Paid, proved, verified, confirmed: the seller's credit is the buyer's payment.
  assert.equal(hs.seller.stats().credited, hs.paidToSeller());
  assert.ok(hs.buyerEvents.some((e) => e.type === 'confirmed'));
  // A second run of ecdh_init never happens: exactly one from each side.
  assert.equal(hs.sellerEvents.filter((e) => e.type === 'session').length, 1);
});

test('a seller whose signature does not match its wallet is never paid', () => {
  const hs = new Harness({ signer: walletSigner(seededWallet(99)) });
  hs.announce();
  hs.want();
  hs.run();
  assert.equal(hs.buyer.buyer.state, 'refused');
  assert.ok(hs.buyerEvents.some((e) => e.type === 'refused' && e.reason === 'bad_signature'));
  assert.equal(hs.buyerEvents.filter((e) => e.type === 'pay').length, 0);
  assert.equal(hs.chain.size, 0);
  assert.equal(hs.seller.stats().credited, 0n);
  assert.equal(hs.pair.a.stats.payloadBytesIn, 0, 'nothing served on credit either');
});

test('a man in the middle that rewrites wallet in the terms collects nothing', () => {
  const attacker = seededWallet(66);
  const hs = new Harness({
    mitmHandshake: (d) => {
      const t = d.get('seedpay') as { [k: string]: Encodable };
      d.set('seedpay', { ...t, wallet: attacker.address });
    },
  });
  hs.announce();
  hs.want();
  hs.run();
  assert.equal(hs.buyer.buyer.terms?.wallet, attacker.address, 'the buyer saw the rewritten terms');
  assert.ok(hs.buyerEvents.some((e) => e.type === 'refused' && e.reason === 'bad_signature'));
  assert.equal(hs.buyerEvents.filter((e) => e.type === 'pay').length, 0);
  assert.equal(hs.chain.size, 0, 'no transaction to anyone');
});

test('a man in the middle that substitutes the seller key (or strips the signature) is refused', () => {
  for (const [mode, want] of [['pk', 'bad_signature'], ['strip', 'missing_signature']] as const) {
    const hs = new Harness({
      mitmSend: (payload) => {
        const m = decodeMessage(payload);
        if (m.type !== 'ecdh_init') return payload;
        if (mode === 'strip') return encodeMessage({ type: 'ecdh_init', pk: m.pk });
        const pk = m.pk.slice(); pk[0] ^= 1;
        return encodeMessage({ type: 'ecdh_init', pk, sig: m.sig });
      },
    });
    hs.run();
    assert.ok(hs.buyerEvents.some((e) => e.type === 'refused' && e.reason === want), mode);
    assert.equal(hs.chain.size, 0);
  }
});

function checkMeter(hs: Harness, settled = true): void {
  const s = hs.seller.stats();
  assert.equal(s.charged, chargeFor(s.paidBytes, hs.terms.price), 'charged = ceil(bytes × price / MiB)');
  assert.ok(s.charged <= s.credited, 'never served beyond credit');
  if (settled) assert.equal(s.credited, hs.paidToSeller(), 'credited = what the buyer paid');
  assert.equal(BigInt(hs.pair.b.stats.payloadBytesOut), s.paidBytes + s.freeBytes);
}

test('paid transfer (fast): every block metered, rejected when out of credit, resumed on payment', () => {
  const hs = new Harness({
    numPieces: 32, pieceLength: 4 * BLOCK,
    seller: { lowWaterBytes: 64n * 1024n },
    policy: { firstPaymentBytes: 128n * 1024n, maxPaymentBytes: 512n * 1024n, lowWaterBytes: 64n * 1024n },
  });
  hs.announce();
  hs.want();
  hs.autoVerify = false; // the seller's verification is slow: data must stop at the credit
  hs.run();
  assert.equal(hs.pendingVerify.length, 1);
  assert.equal(hs.pair.a.stats.payloadBytesIn, 0, 'nothing before the first credit');
  hs.answerVerify();
  hs.run();
  // The first increment (128 KiB) is served; a top-up was asked early (low water) and paid, but
  // not yet verified: the rest is rejected block by block.
  const s = hs.seller.stats();
  assert.equal(s.paidBytes, 128n * 1024n);
  checkMeter(hs, false);
  assert.ok(hs.refusals.includes('rejected'));
  assert.ok(hs.refusals.every((r) => r !== 'choked'));
  assert.ok(hs.buyerEvents.filter((e) => e.type === 'pay').length === 2, 'the top-up was paid while data still flowed');
  const bytesBefore = hs.pair.a.stats.payloadBytesIn;
  hs.autoVerify = true;
  while (hs.pendingVerify.length > 0) hs.answerVerify();
  hs.run();
  assert.ok(hs.sellerEvents.some((e) => e.type === 'resume'));
  assert.ok(hs.pair.a.stats.payloadBytesIn > bytesBefore, 'service resumed on the new credit');
  assert.ok(hs.done, `all pieces verified (${hs.verified.size})`);
  checkMeter(hs);
  assert.equal(hs.buyer.buyer.paidTotal, hs.paidToSeller());
  assert.ok(hs.buyer.buyer.paidTotal <= hs.budgetTorrent.limit);
  // Payments grew while pieces verified (capped at 512 KiB worth).
  const amounts = hs.buyerEvents.flatMap((e) => (e.type === 'pay' ? [e.amount] : []));
  assert.equal(amounts[0], chargeFor(128n * 1024n, hs.terms.price));
  assert.ok(amounts.some((a) => a > amounts[0]));
  assert.ok(amounts.every((a) => a <= chargeFor(512n * 1024n, hs.terms.price)));
});

test('paid transfer (no fast): out of credit chokes, a confirmed payment unchokes', () => {
  const hs = new Harness({
    fast: false, numPieces: 16, pieceLength: 4 * BLOCK,
    seller: { lowWaterBytes: 32n * 1024n },
    policy: { firstPaymentBytes: 64n * 1024n, maxPaymentBytes: 128n * 1024n, lowWaterBytes: 32n * 1024n },
  });
  assert.equal(hs.pair.a.fastEnabled, false);
  hs.announce();
  hs.want();
  hs.autoVerify = false;
  hs.run();
  hs.answerVerify();
  hs.run();
  assert.ok(hs.refusals.includes('choked'));
  assert.ok(hs.pair.b.amChoking);
  assert.equal(hs.seller.unchokeAllowed(), false, 'the choker filter keeps it choked');
  checkMeter(hs, false);
  hs.autoVerify = true;
  while (hs.pendingVerify.length > 0) hs.answerVerify();
  hs.run();
  assert.ok(hs.done, `all pieces verified (${hs.verified.size})`);
  checkMeter(hs);
});

test('a free sample through allowed_fast is served without payment, and only up to its declared size', () => {
  const hs = new Harness({
    numPieces: 8, pieceLength: 4 * BLOCK,
    seller: { freePieces: [1, 2], freeBytes: 4n * BigInt(BLOCK) * 2n },
    policy: { payOnConnect: false },
  });
  hs.announce([1, 2]);
  hs.want([1, 2]);
  hs.run();
  assert.ok(hs.verified.has(1) && hs.verified.has(2));
  const s = hs.seller.stats();
  assert.equal(s.freeBytes, 8n * BigInt(BLOCK));
  assert.equal(s.credited, 0n);
  // Asking for the sample again is not free any more.
  assert.equal(hs.seller.seller.wouldServe(1, BLOCK), false);
});

test('a bad piece: the buyer stops paying and disconnects', () => {
  const hs = new Harness({
    numPieces: 16, pieceLength: 4 * BLOCK, badPieces: [2],
    policy: { firstPaymentBytes: 256n * 1024n, lowWaterBytes: 64n * 1024n },
  });
  hs.announce();
  hs.want();
  hs.run();
  assert.ok(hs.disconnected);
  assert.equal(hs.buyer.buyer.state, 'stopped');
  const stopAt = hs.buyerEvents.findIndex((e) => e.type === 'stopped' && e.reason === 'bad_piece');
  assert.ok(stopAt >= 0);
  assert.equal(hs.buyerEvents.slice(stopAt).filter((e) => e.type === 'pay').length, 0, 'no payment after the bad piece');
  hs.buyer.topUp();
  assert.equal(hs.buyer.pollEvent(), null);
});

test('peers without SeedPay: served free under "free", never unchoked under "paid-only"', () => {
  for (const policy of ['free', 'paid-only'] as const) {
    for (const extended of [true, false]) {
      const w = seededWallet(1);
      const seller = new SellerHook({
        terms: { v: 1, chain: 'solana', cluster: V.terms.cluster, mint: V.terms.mint, wallet: w.address, price: 100n, minPrepay: 1n, modes: ['prepaid'] },
        infoHash: fill(20, 1), signer: walletSigner(w), policy,
      });
      const p = new Pair({ infoHash: fill(20, 1), numPieces: 4, common: { extended }, bExtensions: [seller] });
      p.drive();
      p.b.haveAll(p.now);
      p.a.interested(p.now);
      p.drive();
      assert.equal(seller.unchokeAllowed(), policy === 'free', `${policy} extended=${extended}`);
      if (policy === 'free') {
        p.b.unchoke(p.now); p.drive();
        p.a.request(0, 0, BLOCK, p.now); p.drive();
        assert.equal(p.b.canSendPiece(0, 0, BLOCK), true);
        p.b.sendPiece(0, 0, fill(BLOCK, 0), p.now); p.drive();
        assert.equal(p.take('a', 'piece').length, 1);
        assert.equal(seller.stats().paidBytes, 0n, 'free peers are not metered');
      } else {
        // Even if something unchoked it, the gate refuses.
        p.b.unchoke(p.now); p.drive();
        p.a.request(0, 0, BLOCK, p.now); p.drive();
        assert.equal(p.b.canSendPiece(0, 0, BLOCK), false);
        const ev = seller.pollEvent();
        assert.ok(ev !== null && (ev.type === 'refuse' || ev.type === 'peer'));
      }
      assert.equal(p.a.state, 'open', 'the peer is not disturbed');
      assert.equal(p.errorOf('a'), undefined);
    }
  }
});

test('malformed SeedPay input ends the paid session, not the connection or the process', () => {
  const hs = new Harness();
  hs.announce();
  hs.run();
  assert.equal(hs.seller.seller.state, 'ready');
  hs.pair.a.sendExtended('seedpay', encode({ type: 'payment_proof', tx: 'abc', amount: 1 }), hs.pair.now);
  hs.run();
  assert.equal(hs.seller.seller.state, 'ended');
  assert.equal(hs.seller.seller.error?.code, 'BAD_TX');
  assert.ok(hs.sellerEvents.some((e) => e.type === 'ended'));
  assert.equal(hs.pair.b.state, 'open');
  assert.equal(hs.seller.seller.wouldServe(0, BLOCK), false, 'nothing more served on credit');
  assert.equal(hs.seller.unchokeAllowed(), false);
  // And the buyer side: garbage from the seller ends its paid session.
  const hs2 = new Harness();
  hs2.run();
  hs2.pair.b.sendExtended('seedpay', Buffer.from('i42e'), hs2.pair.now);
  hs2.run();
  assert.equal(hs2.buyer.buyer.state, 'ended');
  assert.equal(hs2.buyer.buyer.error?.code, 'NOT_A_DICT');
  assert.equal(hs2.pair.a.state, 'open');
  // Unknown types, and channel messages to a seller that offers no channels, change nothing.
  const hs3 = new Harness();
  hs3.run();
  hs3.pair.a.sendExtended('seedpay', encode({ type: 'payment_check', channel: new Uint8Array(32), amount: 1, sig: new Uint8Array(64) }), hs3.pair.now);
  hs3.pair.b.sendExtended('seedpay', encode({ type: 'hello' }), hs3.pair.now);
  hs3.run();
  assert.equal(hs3.seller.seller.state, 'ready');
  assert.equal(hs3.buyer.buyer.state, 'ready');
});

test('a re-sent seller handshake with other terms ends the buyer paid session', () => {
  const hs = new Harness();
  hs.run();
  const terms = hs.terms;
  const d = new Map<string, Encodable>([['m', { seedpay: 1 }], ['seedpay', {
    v: 1n, chain: 'solana', cluster: terms.cluster, mint: terms.mint, wallet: terms.wallet, price: terms.price * 2n, min_prepay: terms.minPrepay, modes: ['prepaid'],
  }]]);
  hs.pair.inject('a', frameExtended(0, encode(d)));
  hs.run();
  assert.equal(hs.buyer.buyer.state, 'ended');
  assert.equal(hs.buyer.buyer.error?.code, 'TERMS_CHANGED');
});

function frameExtended(id: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + 2 + payload.length);
  out.writeUInt32BE(2 + payload.length, 0);
  out[4] = 20;
  out[5] = id;
  out.set(payload, 6);
  return out;
}

test('registry factories: a hook per connection, the piece gate through the registry wrapper, output flushed after async answers', async () => {
  const { ExtensionRegistry } = await import('../../extensions/registry.js');
  const { sellerExtension, buyerExtension } = await import('../../extensions/seedpay/hook.js');
  const w = seededWallet(1);
  const terms: Terms = { v: 1, chain: 'solana', cluster: V.terms.cluster, mint: V.terms.mint, wallet: w.address, price: 1_000_000n, minPrepay: 1_000n, modes: ['prepaid'] };
  const sellers: SellerHook[] = [];
  const buyers: BuyerHook[] = [];
  let flushes = 0;
  const sellerReg = new ExtensionRegistry([sellerExtension({ terms, signer: walletSigner(w) }, (h) => sellers.push(h))]);
  const buyerReg = new ExtensionRegistry([buyerExtension({ policy: { maxPricePerMiB: 10n ** 7n, budgets: [new Budget(10n ** 9n)] } }, (h) => buyers.push(h))]);
  const infoHash = fill(20, 9);
  const a = buyerReg.forConnection({ infoHash, peer: 'b', role: 'initiator' });
  const b = sellerReg.forConnection({ infoHash, peer: 'a', role: 'acceptor' });
  // The buyer's adapter: its hook's commands land here, and a flush request wakes it.
  const control = new PeerCommandQueue(() => 0, () => { flushes++; });
  const p = new Pair({ infoHash, numPieces: 4, a: { extensions: a.hooks, control }, bExtensions: b.hooks });
  p.drive();
  control.drain();
  flushes = 0;
  assert.equal(sellers.length, 1);
  assert.equal(buyers.length, 1);
  assert.equal(buyers[0].buyer.sessionHash, sellers[0].seller.sessionHash);
  const pay = (() => { for (let e = buyers[0].pollEvent(); e !== null; e = buyers[0].pollEvent()) if (e.type === 'pay') return e; return null; })();
  assert.ok(pay !== null);
  buyers[0].paid(randomTx(), pay.amount);
  assert.equal(flushes, 1, 'the adapter is told to write the proof');
  p.drive();
  const verify = (() => { for (let e = sellers[0].pollEvent(); e !== null; e = sellers[0].pollEvent()) if (e.type === 'verify') return e; return null; })();
  assert.ok(verify !== null);
  sellers[0].verified(verify.tx, { ok: true, credited: pay.amount });
  p.drive();
  // The confirmation asks the buyer's adapter to refill its requests (credit arrived).
  assert.ok(control.drain().some((c) => c.type === 'refill'));
  p.b.haveAll(p.now); p.a.interested(p.now); p.drive();
  p.b.unchoke(p.now); p.drive();
  p.a.request(0, 0, BLOCK, p.now); p.drive();
  assert.equal(p.b.canSendPiece(0, 0, BLOCK), true, 'covered by the credit');
  p.b.sendPiece(0, 0, fill(BLOCK, 0), p.now); p.drive();
  assert.equal(sellers[0].stats().paidBytes, BigInt(BLOCK), 'metered through the registry wrapper');
  assert.equal(buyers[0].buyer.bytesReceived, BigInt(BLOCK));
});
