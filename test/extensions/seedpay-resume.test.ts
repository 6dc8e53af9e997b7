/**
 * Session resume (docs/PROTOCOL.md §4), sans-IO: the signed statement, the three
 * messages on the wire, and a buyer and a seller session talking to each other by
 * hand across a "cut" — the earlier session's balance moves over, a payment that was
 * on its way is proven again and credited through the link, forged or misplaced
 * resumes are refused, and a seller that does not offer resume ignores it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode, type Encodable } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { resumeMessage, signResume, verifyResume } from '../../payment/resume.js';
import { decodeTerms, encodeTerms } from '../../payment/terms.js';
import { addTermsToHandshake } from '../../extensions/seedpay/classify.js';
import { decodeMessage, encodeMessage, type SeedPayMessage } from '../../extensions/seedpay/messages.js';
import { SellerSession, walletSigner, type SellerEvent } from '../../extensions/seedpay/seller-session.js';
import { BuyerSession, type BuyerEvent, type ResumeRequest } from '../../extensions/seedpay/buyer-session.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import { INFO, makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const sellerWallet = seededWallet(1);
const payerWallet = seededWallet(2);
const otherWallet = seededWallet(3);
const hex32 = (n: number): string => n.toString(16).padStart(64, '0');

function drain<T>(poll: () => T | null): T[] {
  const out: T[] = [];
  for (let x = poll(); x !== null; x = poll()) out.push(x);
  return out;
}

test('resume statement: exact layout; the payer signature verifies only for the same torrent, sessions and key', () => {
  const prev = hex32(1);
  const cur = hex32(2);
  const m = resumeMessage(INFO, prev, cur);
  assert.equal(Buffer.from(m.subarray(0, 17)).toString(), 'seedpay-v1-resume');
  assert.deepEqual(m.subarray(17, 37), INFO);
  assert.equal(Buffer.from(m.subarray(37, 69)).toString('hex'), prev);
  assert.equal(Buffer.from(m.subarray(69)).toString('hex'), cur);
  const sig = signResume(payerWallet.seed, m);
  assert.equal(verifyResume(payerWallet.publicKey, m, sig), true);
  assert.equal(verifyResume(otherWallet.publicKey, m, sig), false, 'another key');
  assert.equal(verifyResume(payerWallet.publicKey, resumeMessage(INFO, prev, hex32(3)), sig), false, 'into another session');
  assert.equal(verifyResume(payerWallet.publicKey, resumeMessage(new Uint8Array(20), prev, cur), sig), false, 'another torrent');
  assert.equal(verifyResume(payerWallet.publicKey, m, sig.subarray(0, 63)), false, 'short signature: false, no throw');
  assert.throws(() => resumeMessage(INFO, prev, prev), RangeError);
  assert.throws(() => resumeMessage(INFO, 'AB'.repeat(32), cur), RangeError);
});

test('codec: session_resume / session_resumed / resume_rejected round-trip; malformed ones are typed errors', () => {
  const msgs: SeedPayMessage[] = [
    { type: 'session_resume', prev: hex32(7), payer: payerWallet.publicKey, sig: new Uint8Array(64).fill(3) },
    { type: 'session_resumed', prev: hex32(8), credited: (1n << 64n) - 1n, balance: 0n },
    { type: 'resume_rejected', prev: hex32(9), reason: 'wrong_payer' },
  ];
  for (const m of msgs) assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (h, n) => {
    const m: SeedPayMessage = { type: 'session_resumed', prev: Buffer.from(h).toString('hex'), credited: n, balance: n };
    assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  }));
  const bad = (d: { [k: string]: Encodable }): Uint8Array => new Uint8Array(encode(d));
  const code = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { return e instanceof SeedPayError ? e.code : 'other'; } };
  assert.equal(code(() => decodeMessage(bad({ type: 'session_resume', prev: new Uint8Array(31), payer: new Uint8Array(32), sig: new Uint8Array(64) }))), 'BAD_LENGTH');
  assert.equal(code(() => decodeMessage(bad({ type: 'session_resume', prev: new Uint8Array(32), sig: new Uint8Array(64) }))), 'MISSING_KEY');
  assert.equal(code(() => decodeMessage(bad({ type: 'session_resumed', prev: new Uint8Array(32), credited: -1n, balance: 0n }))), 'OUT_OF_RANGE');
  assert.equal(code(() => decodeMessage(bad({ type: 'resume_rejected', prev: new Uint8Array(32), reason: '' }))), 'BAD_REASON');
  assert.throws(() => encodeMessage({ type: 'session_resumed', prev: 'xyz', credited: 0n, balance: 0n }), SeedPayError);
});

test('terms: `resume` is signed with the rest and parsed back; absent or any other value means not offered', () => {
  const t = makeTerms(sellerWallet.address, { resume: true });
  const p = decodeTerms(encodeTerms(t));
  assert.equal(p.terms.resume, true);
  assert.deepEqual(p.bencoded, encodeTerms(t), 'the key is in the signed bytes');
  assert.equal(decodeTerms(encodeTerms(makeTerms(sellerWallet.address))).terms.resume, undefined);
  const dict = { v: 1n, chain: 'solana', cluster: t.cluster, mint: t.mint, wallet: t.wallet, price: t.price, min_prepay: t.minPrepay, modes: t.modes };
  for (const v of [2n, 0n, 'yes'] as const) {
    assert.equal(decodeTerms(new Uint8Array(encode({ ...dict, resume: v }))).terms.resume, undefined, String(v));
  }
});

// ------------------------------------------------------------------ buyer ⇄ seller by hand

const PRICE = 1_000n; // per MiB
const terms = makeTerms(sellerWallet.address, { price: PRICE, minPrepay: 100n, resume: true });

function sellerHandshake(t = terms): ReturnType<typeof parseExtendedHandshake> {
  const d = new Map<string, Encodable>([['m', { seedpay: 1 }]]);
  addTermsToHandshake(d, t);
  return parseExtendedHandshake(new Uint8Array(encode(Object.fromEntries(d))));
}
const BUYER_HS = parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 } })));

interface Link { buyer: BuyerSession; seller: SellerSession; be: BuyerEvent[]; se: SellerEvent[]; pump(): void }

/** Bind a session; `resumes` is what the buyer adapter hands over (BuyerOptions.resumes). */
function connect(resumes?: (session: string) => readonly ResumeRequest[], t = terms): Link {
  const budget = new Budget(1_000_000n, 'test');
  const buyer = new BuyerSession({
    infoHash: INFO, policy: { maxPricePerMiB: PRICE, budgets: [budget] },
    ...(resumes !== undefined ? { resumes: (s: string) => resumes(s) } : {}),
  });
  const seller = new SellerSession({ terms: t, infoHash: INFO, signer: walletSigner(sellerWallet) });
  const be: BuyerEvent[] = [];
  const se: SellerEvent[] = [];
  const pump = (): void => {
    for (let moved = true; moved;) {
      moved = false;
      for (const m of drain(() => buyer.pollTransmit())) { seller.receivePayload(encodeMessage(m)); moved = true; }
      for (const m of drain(() => seller.pollTransmit())) { buyer.receivePayload(encodeMessage(m)); moved = true; }
      be.push(...drain(() => buyer.pollEvent()));
      se.push(...drain(() => seller.pollEvent()));
    }
  };
  seller.onPeerHandshake(BUYER_HS);
  buyer.onPeerHandshake(sellerHandshake(t));
  pump();
  assert.equal(buyer.state, 'ready');
  assert.equal(seller.state, 'ready');
  return { buyer, seller, be, se, pump };
}

function signedResume(prev: string, current: string, key = payerWallet, payments: ResumeRequest['payments'] = []): ResumeRequest {
  return { prev, payer: key.publicKey, sig: signResume(key.seed, resumeMessage(INFO, prev, current)), payments };
}

test('a cut session resumed: its balance moves over, its in-flight payment is proven again and credited through the link', () => {
  // Session 1: the first payment is credited, a second one is paid, its proof is out: cut.
  const s1 = connect();
  const pay1 = s1.be.find((e) => e.type === 'pay');
  assert.ok(pay1 !== undefined && pay1.type === 'pay');
  const tx1 = randomTx();
  s1.buyer.paid(tx1, pay1.amount);
  s1.pump();
  const v1 = s1.se.find((e) => e.type === 'verify');
  assert.ok(v1 !== undefined && v1.type === 'verify');
  s1.seller.verified(tx1, { ok: true, credited: pay1.amount });
  s1.pump();
  for (let i = 0; i < 64; i++) s1.buyer.pieceReceived(16 * 1024); // 1 MiB delivered: a top-up is due
  s1.pump();
  const pay2 = s1.be.filter((e) => e.type === 'pay')[1];
  assert.ok(pay2 !== undefined && pay2.type === 'pay', 'a second payment was asked for');
  const tx2 = randomTx();
  s1.buyer.paid(tx2, pay2.amount);
  // The cut: the proof never reaches the seller. What session 1 leaves:
  const left = s1.buyer.leftovers();
  const h1 = s1.buyer.sessionHash!;
  assert.deepEqual(left, [{ sessionHash: h1, payments: [{ tx: tx2, amount: pay2.amount }] }]);

  // Session 2 resumes session 1 before any payment.
  const s2 = connect((cur) => [signedResume(h1, cur, payerWallet, left[0].payments)]);
  const h2 = s2.buyer.sessionHash!;
  assert.equal(s2.be.some((e) => e.type === 'pay'), false, 'no payment while the resume is unanswered');
  assert.equal(s2.buyer.paymentOutstanding, true, 'a resume keeps the connection (linger) until answered');
  const req = s2.se.find((e) => e.type === 'resume_request');
  assert.ok(req !== undefined && req.type === 'resume_request');
  assert.deepEqual([req.prev, req.payer, req.sessionHash], [h1, payerWallet.address, h2]);
  // The adapter moves what the journal says session 1 has left: credit − charge for 1 MiB.
  const moved = pay1.amount - PRICE;
  s2.seller.resumed(h1, moved);
  s2.pump();
  assert.ok(s2.be.some((e) => e.type === 'resumed' && e.prev === h1 && e.credited === moved && e.payments === 1));
  assert.equal(s2.buyer.creditedTotal, moved);
  // tx2 is proven again here, and the verifier is told session 1 is linked for this payer.
  const v2 = s2.se.find((e) => e.type === 'verify');
  assert.ok(v2 !== undefined && v2.type === 'verify' && v2.tx === tx2);
  assert.deepEqual([...v2.linked], [[h1, payerWallet.address]]);
  assert.equal(s2.be.some((e) => e.type === 'pay'), false, 'still no new payment while tx2 is unanswered');
  s2.seller.verified(tx2, { ok: true, credited: pay2.amount });
  s2.pump();
  assert.ok(s2.be.some((e) => e.type === 'confirmed' && e.tx === tx2));
  assert.equal(s2.buyer.creditedTotal, moved + pay2.amount);
  assert.equal(s2.seller.stats().credited, moved + pay2.amount, 'the seller meter holds both');
  assert.equal(s2.buyer.paymentOutstanding, false);
  assert.equal(s2.buyer.estimatedBalance, moved + pay2.amount);
});

test('a payment that lands after the cut is proven in the session resuming its own', () => {
  const s1 = connect();
  const h1 = s1.buyer.sessionHash!;
  const s2 = connect((cur) => [signedResume(h1, cur)]);
  s2.seller.resumed(h1, 0n);
  s2.pump();
  const late = randomTx();
  assert.equal(s2.buyer.addResumedPayment(h1, { tx: late, amount: 5_000n }), true);
  assert.equal(s2.buyer.addResumedPayment(hex32(99), { tx: randomTx(), amount: 1n }), false, 'not a session it resumes');
  s2.pump();
  const v = s2.se.find((e) => e.type === 'verify');
  assert.ok(v !== undefined && v.type === 'verify' && v.tx === late && v.linked.get(h1) === payerWallet.address);
});

test('refused resumes: forged signature, another session, itself, beyond the cap, and the adapter saying wrong_payer', () => {
  const prev = hex32(5);
  const s = connect();
  const cur = s.buyer.sessionHash!;
  const send = (m: SeedPayMessage): void => { s.seller.receivePayload(encodeMessage(m)); };
  const rejectedReasons = (): string[] => drain(() => s.seller.pollTransmit()).flatMap((m) => (m.type === 'resume_rejected' ? [m.reason] : []));
  // Signed by the payer, but claims to be another wallet.
  const good = signedResume(prev, cur);
  send({ type: 'session_resume', prev, payer: otherWallet.publicKey, sig: good.sig });
  // Signed for another current session.
  const stale = signedResume(hex32(6), hex32(7));
  send({ type: 'session_resume', prev: hex32(6), payer: payerWallet.publicKey, sig: stale.sig });
  // Itself.
  send({ type: 'session_resume', prev: cur, payer: payerWallet.publicKey, sig: new Uint8Array(64) });
  assert.deepEqual(rejectedReasons(), ['bad_signature', 'bad_signature', 'same_session']);
  assert.equal(drain(() => s.seller.pollEvent()).some((e) => e.type === 'resume_request'), false, 'nothing reached the adapter');
  // A valid one; the adapter finds other payers in that session's credits.
  send({ type: 'session_resume', prev, payer: payerWallet.publicKey, sig: good.sig });
  assert.ok(drain(() => s.seller.pollEvent()).some((e) => e.type === 'resume_request'));
  s.seller.resumeRejected(prev, 'wrong_payer');
  assert.deepEqual(rejectedReasons(), ['wrong_payer']);
  send({ type: 'session_resume', prev, payer: payerWallet.publicKey, sig: good.sig });
  assert.deepEqual(rejectedReasons(), [], 'each earlier session is answered once');
  assert.equal(s.seller.linked().size, 0, 'a refused resume links nothing');
  // The cap (8 per session, the refused one included).
  for (let i = 10; i < 20; i++) send({ type: 'session_resume', ...signedResume(hex32(i), cur) });
  const events = drain(() => s.seller.pollEvent()).filter((e) => e.type === 'resume_request').length;
  assert.equal(events, 7);
  assert.deepEqual(rejectedReasons(), ['too_many', 'too_many', 'too_many']);
  assert.equal(s.seller.state, 'ready', 'refusals alone do not end the session below the flood threshold');
});

test('a seller that does not offer resume ignores session_resume; the buyer does not send one', () => {
  const plain = makeTerms(sellerWallet.address, { price: PRICE, minPrepay: 100n });
  let asked = 0;
  const s = connect(() => { asked++; return []; }, plain);
  assert.equal(asked, 0, 'the buyer adapter is not even asked');
  s.buyer.resume(hex32(1), payerWallet.publicKey, new Uint8Array(64), []);
  assert.deepEqual(drain(() => s.buyer.pollTransmit()), [], 'nothing sent');
  s.seller.receivePayload(encodeMessage({ type: 'session_resume', ...signedResume(hex32(1), s.buyer.sessionHash!) }));
  assert.deepEqual(drain(() => s.seller.pollTransmit()), []);
  assert.equal(s.seller.state, 'ready');
  assert.deepEqual(s.buyer.leftovers(), [], 'nothing to carry to a seller without resume');
});

test('a resume answer nobody asked for is ignored; a seller sending session_resume breaks the protocol', () => {
  const s = connect();
  s.buyer.receivePayload(encodeMessage({ type: 'session_resumed', prev: hex32(1), credited: 10_000n, balance: 10_000n }));
  assert.equal(s.buyer.creditedTotal, 0n, 'unsolicited credit is not counted');
  s.buyer.receivePayload(encodeMessage({ type: 'session_resume', prev: hex32(1), payer: payerWallet.publicKey, sig: new Uint8Array(64) }));
  assert.equal(s.buyer.state, 'ended');
  const t = connect();
  t.seller.receivePayload(encodeMessage({ type: 'session_resumed', prev: hex32(1), credited: 1n, balance: 1n }));
  assert.equal(t.seller.state, 'ended', 'a buyer sending a seller message');
});

test('a seller that changes its terms mid-session: the session ends (TERMS_CHANGED) but what it leaves stays resumable; a later session with the new terms resumes it', () => {
  const s1 = connect();
  const pay1 = s1.be.find((e) => e.type === 'pay');
  assert.ok(pay1 !== undefined && pay1.type === 'pay');
  const tx1 = randomTx();
  s1.buyer.paid(tx1, pay1.amount);
  s1.pump();
  s1.seller.verified(tx1, { ok: true, credited: pay1.amount });
  s1.pump();
  for (let i = 0; i < 64; i++) s1.buyer.pieceReceived(16 * 1024);
  s1.pump();
  const pay2 = s1.be.filter((e) => e.type === 'pay')[1];
  assert.ok(pay2 !== undefined && pay2.type === 'pay');
  const tx2 = randomTx();
  s1.buyer.paid(tx2, pay2.amount);
  const h1 = s1.buyer.sessionHash!;
  const before = s1.buyer.leftovers();
  // The seller re-sends its handshake at a new price.
  const dearer = { ...terms, price: PRICE * 2n };
  assert.equal(s1.buyer.onPeerHandshake(sellerHandshake(dearer)), false);
  assert.equal(s1.buyer.state, 'ended');
  assert.equal(s1.buyer.error?.code, 'TERMS_CHANGED');
  assert.deepEqual(s1.buyer.leftovers(), before, 'still resumable: the balance and the unanswered payment');
  assert.deepEqual(before, [{ sessionHash: h1, payments: [{ tx: tx2, amount: pay2.amount }] }]);
  // Any other end (a breach) leaves nothing.
  const s3 = connect();
  s3.buyer.end(new SeedPayError('UNEXPECTED_MESSAGE', 'test'));
  assert.deepEqual(s3.buyer.leftovers(), []);
  // A new session under the new terms (within the max price) resumes it.
  const s2 = connect((cur) => [signedResume(h1, cur, payerWallet, before[0].payments)], { ...dearer, price: PRICE });
  assert.ok(s2.se.some((e) => e.type === 'resume_request' && e.prev === h1));
});
