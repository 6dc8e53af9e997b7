/**
 * Message authentication (docs/PROTOCOL.md §3, terms key `mac`): the MAC functions
 * (pinned vectors; tampering, the other direction's key, a replayed or reordered
 * counter all fail), the negotiation inside the signed transcript (a man in the middle
 * can neither strip nor add it), interoperation with peers without it, and the state
 * machines: an injected or altered message after the binding is dropped and counted,
 * never acted on — the buyer goes on paying and is credited — and never changes
 * either side's money.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fc from 'fast-check';
import { encode, type Encodable } from '../../wire/bencode.js';
import { computeMac, macKeysFromShared, MAC_TAG_BYTES, MacError, verifyMac } from '../../payment/seedpay-mac.js';
import { buildTranscript, deriveSession, deriveSessionWithMac, generateEphemeral, x25519Shared } from '../../payment/session.js';
import { decodeTerms, encodeTerms, termsEqual, type Terms } from '../../payment/terms.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { addTermsToHandshake } from '../../extensions/seedpay/classify.js';
import {
  decodeMessage, encodeMessage, macBody, messageBody, sealMessage, type SeedPayMessage,
} from '../../extensions/seedpay/messages.js';
import { SellerSession, walletSigner, type SellerEvent } from '../../extensions/seedpay/seller-session.js';
import { BuyerSession, type BuyerEvent } from '../../extensions/seedpay/buyer-session.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { Harness, INFO, makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SHARED = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const BODY = new TextEncoder().encode('d7:balancei0e8:requiredi500e4:type16:payment_requirede');

// ---------------------------------------------------------------------------------------
// The MAC functions

// Vectors computed once and checked against Python's hashlib/hmac (RFC 5869 HKDF by hand).
test('MAC keys and tags: pinned vectors (HKDF-SHA256 per direction; HMAC-SHA256 over u64be(n) || body, 16 bytes)', () => {
  const k = macKeysFromShared(SHARED, INFO);
  assert.equal(hex(k.sellerToBuyer), 'd92bc1830265ec63e0be3a6f10072964aa7a12e0ac644b03825c5120e601b7c4');
  assert.equal(hex(k.buyerToSeller), '4bf15005c744b6ea0335536b0c5c38ab74e36d726b16617ee0b74643b755ade8');
  assert.equal(hex(computeMac(k.sellerToBuyer, 0n, BODY)), '328bbef9b753cfd115747b9a16a2acae');
  assert.equal(hex(computeMac(k.sellerToBuyer, 1n, BODY)), 'e61d959ca0506f25d9086610433e84a7');
  assert.equal(hex(computeMac(k.buyerToSeller, 0n, BODY)), '7a977b19b80773847e7aa95b53af520e');
  // The construction, independently: HKDF with the documented labels, HMAC over the counter and body.
  const hk = (info: string): string => hex(new Uint8Array(crypto.hkdfSync('sha256', SHARED, INFO, Buffer.from(info), 32)));
  assert.equal(hex(k.sellerToBuyer), hk('seedpay-v1-mac seller->buyer'));
  assert.equal(hex(k.buyerToSeller), hk('seedpay-v1-mac buyer->seller'));
  const n = Buffer.alloc(8); n.writeBigUInt64BE(7n);
  assert.equal(hex(computeMac(k.buyerToSeller, 7n, BODY)), crypto.createHmac('sha256', k.buyerToSeller).update(n).update(BODY).digest('hex').slice(0, 32));
  // Neither key is the session uuid or anything derived from the (public) session hash.
  const s = deriveSessionWithMac({ ownSecret: SHARED, peerPublic: generateEphemeral().public, infoHash: INFO });
  assert.notEqual(hex(s.mac.sellerToBuyer), hex(s.sessionUuid));
  assert.notEqual(hex(s.mac.buyerToSeller), hex(s.sessionUuid));
  assert.notEqual(hex(s.mac.sellerToBuyer), hex(s.mac.buyerToSeller));
});

test('MAC: both ends derive the same keys; the session hash is the one of deriveSession', () => {
  const a = generateEphemeral();
  const b = generateEphemeral();
  const sa = deriveSessionWithMac({ ownSecret: a.secret, peerPublic: b.public, infoHash: INFO });
  const sb = deriveSessionWithMac({ ownSecret: b.secret, peerPublic: a.public, infoHash: INFO });
  assert.equal(sa.sessionHash, sb.sessionHash);
  assert.equal(sa.sessionHash, deriveSession({ ownSecret: a.secret, peerPublic: b.public, infoHash: INFO }).sessionHash);
  assert.deepEqual(sa.mac, sb.mac);
  assert.deepEqual(sa.mac, macKeysFromShared(x25519Shared(a.secret, b.public), INFO));
});

test('MAC: any changed byte, the other direction key, a replayed or reordered counter, a short tag all fail', () => {
  const k = macKeysFromShared(SHARED, INFO);
  const tag = computeMac(k.sellerToBuyer, 3n, BODY);
  assert.equal(tag.length, MAC_TAG_BYTES);
  assert.equal(verifyMac(k.sellerToBuyer, 3n, BODY, tag), true);
  for (let i = 0; i < BODY.length; i++) {
    const b = BODY.slice(); b[i] ^= 0x01;
    assert.equal(verifyMac(k.sellerToBuyer, 3n, b, tag), false, `body byte ${i}`);
  }
  for (let i = 0; i < tag.length; i++) {
    const t = tag.slice(); t[i] ^= 0x80;
    assert.equal(verifyMac(k.sellerToBuyer, 3n, BODY, t), false, `tag byte ${i}`);
  }
  assert.equal(verifyMac(k.buyerToSeller, 3n, BODY, tag), false, 'the other direction');
  assert.equal(verifyMac(k.sellerToBuyer, 2n, BODY, tag), false, 'replayed (an earlier counter)');
  assert.equal(verifyMac(k.sellerToBuyer, 4n, BODY, tag), false, 'reordered (a later counter)');
  assert.equal(verifyMac(k.sellerToBuyer, 3n, BODY, tag.subarray(0, 15)), false, 'short tag: false, no throw');
  assert.equal(verifyMac(k.sellerToBuyer, 3n, BODY, null), false);
  assert.equal(verifyMac(k.sellerToBuyer, 3n, BODY.subarray(0, BODY.length - 1), tag), false, 'truncated body');
  assert.throws(() => computeMac(k.sellerToBuyer.subarray(1), 0n, BODY), MacError);
  assert.throws(() => computeMac(k.sellerToBuyer, -1n, BODY), MacError);
  assert.throws(() => computeMac(k.sellerToBuyer, 1n << 64n, BODY), MacError);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (body, n, t) => {
    const good = computeMac(k.buyerToSeller, n, body);
    assert.equal(verifyMac(k.buyerToSeller, n, body, good), true);
    if (hex(t) !== hex(good)) assert.equal(verifyMac(k.buyerToSeller, n, body, t), false);
  }), { numRuns: 300 });
});

test('transcript: "mac" appended when the session authenticates its messages, nothing otherwise', () => {
  const a = { infoHash: INFO, sellerPublic: new Uint8Array(32).fill(1), buyerPublic: new Uint8Array(32).fill(2), termsBencoded: new Uint8Array([0x64, 0x65]) };
  const plain = buildTranscript(a);
  const withMac = buildTranscript({ ...a, mac: true });
  assert.equal(plain.length, 134);
  assert.deepEqual(buildTranscript({ ...a, mac: false }), plain);
  assert.equal(withMac.length, 137);
  assert.deepEqual(withMac.subarray(0, 134), plain);
  assert.equal(Buffer.from(withMac.subarray(134)).toString('latin1'), 'mac');
});

// ---------------------------------------------------------------------------------------
// Codec and terms

test('codec: `mac` tag on every message after the binding, `mac` = 1 in the buyer ecdh_init; macBody is what the sender tagged', () => {
  const k = macKeysFromShared(SHARED, INFO);
  const tx = randomTx();
  const msgs: SeedPayMessage[] = [
    { type: 'payment_proof', tx, amount: 5000n },
    { type: 'payment_confirmed', tx, credited: 5000n, balance: 4000n },
    { type: 'payment_rejected', tx, reason: 'insufficient_amount' },
    { type: 'payment_required', balance: 0n, required: 500n },
    { type: 'session_resume', prev: 'ab'.repeat(32), payer: new Uint8Array(32).fill(3), sig: new Uint8Array(64).fill(4) },
    { type: 'session_resumed', prev: 'cd'.repeat(32), credited: 7n, balance: 9n },
    { type: 'resume_rejected', prev: 'ef'.repeat(32), reason: 'wrong_payer' },
  ];
  msgs.forEach((m, i) => {
    const sealed = sealMessage(m, k.sellerToBuyer, BigInt(i));
    const wire = encodeMessage(sealed);
    assert.deepEqual(decodeMessage(wire), sealed, `${m.type} round-trips with its tag`);
    const parts = macBody(wire)!;
    assert.deepEqual(parts.body, encodeMessage(m), 'the body is the encoding without mac');
    assert.deepEqual(parts.body, messageBody(sealed));
    assert.equal(verifyMac(k.sellerToBuyer, BigInt(i), parts.body, parts.tag), true);
  });
  // ecdh_init: the buyer's request; no tag.
  const init: SeedPayMessage = { type: 'ecdh_init', pk: new Uint8Array(32).fill(1), wantMac: true };
  assert.equal(Buffer.from(encodeMessage(init)).toString('latin1').includes('3:maci1e'), true);
  assert.deepEqual(decodeMessage(encodeMessage(init)), init);
  assert.throws(() => sealMessage(init, k.sellerToBuyer, 0n));
  // A `mac` of another shape is no tag (not an error); mac = 2 in ecdh_init is no request.
  const odd = new Uint8Array(encode({ type: 'payment_required', balance: 0n, required: 1n, mac: new Uint8Array(15) }));
  assert.equal((decodeMessage(odd) as { mac?: Uint8Array }).mac, undefined);
  assert.equal(macBody(odd)!.tag, null);
  const two = new Uint8Array(encode({ type: 'ecdh_init', pk: new Uint8Array(32), mac: 2n }));
  assert.equal((decodeMessage(two) as { wantMac?: boolean }).wantMac, undefined);
  // Unknown keys are covered: the body keeps them.
  const extra = new Uint8Array(encode({ type: 'payment_required', balance: 0n, required: 1n, x: 'y', mac: new Uint8Array(16) }));
  assert.equal(Buffer.from(macBody(extra)!.body).toString('latin1'), 'd7:balancei0e8:requiredi1e4:type16:payment_required1:x1:ye');
  // Not a dictionary, not bencode, too big: no body at all (never throws).
  for (const p of [new Uint8Array(), new TextEncoder().encode('i1e'), new TextEncoder().encode('d4:type'), new Uint8Array(5000)]) assert.equal(macBody(p), null);
});

test('terms: mac = 1 offers message authentication, is signed like every key, and any other value offers nothing', () => {
  const base = makeTerms(seededWallet(1).address);
  const withMac: Terms = { ...base, mac: true };
  const bytes = encodeTerms(withMac);
  assert.ok(Buffer.from(bytes).toString('latin1').includes('3:maci1e'));
  const back = decodeTerms(bytes);
  assert.equal(back.terms.mac, true);
  assert.ok(termsEqual(back.terms, withMac));
  assert.ok(!termsEqual(back.terms, base));
  assert.equal(decodeTerms(encodeTerms(base)).terms.mac, undefined);
  assert.notDeepEqual(encodeTerms(base), bytes, 'the key is in the signed bytes');
  for (const v of [0n, 2n, 'yes'] as Encodable[]) {
    const d = new Uint8Array(encode({ v: 1n, chain: 'solana', cluster: base.cluster, mint: base.mint, wallet: base.wallet, price: base.price, min_prepay: base.minPrepay, modes: ['prepaid'], mac: v }));
    assert.equal(decodeTerms(d).terms.mac, undefined, `mac = ${String(v)} is not an offer`);
  }
});

// ---------------------------------------------------------------------------------------
// Negotiation between the two state machines (sans-IO, bytes on the "wire")

interface DuoOptions {
  sellerMac?: boolean;
  buyerMac?: boolean;
  /** Rewrite the seller's terms dict in its handshake (a man in the middle). */
  mitmTerms?: (d: Map<string, Encodable>) => void;
  /** Rewrite each payload buyer → seller. */
  mitmUp?: (p: Uint8Array) => Uint8Array;
}

class Duo {
  readonly seller: SellerSession;
  readonly buyer: BuyerSession;
  readonly sellerEvents: SellerEvent[] = [];
  readonly buyerEvents: BuyerEvent[] = [];
  readonly chain = new Map<string, { amount: bigint; sessionHash: string }>();
  /** Seller → buyer payloads as sent (for replays). */
  readonly down: Uint8Array[] = [];
  readonly up: Uint8Array[] = [];
  autoPay = true;
  autoVerify = true;
  readonly verifyQueue: string[] = [];
  private readonly o: DuoOptions;

  constructor(o: DuoOptions = {}) {
    this.o = o;
    const w = seededWallet(1);
    const terms = makeTerms(w.address, o.sellerMac === false ? {} : { mac: true });
    this.seller = new SellerSession({ terms, infoHash: INFO, signer: walletSigner(w) });
    this.buyer = new BuyerSession({
      infoHash: INFO, mac: o.buyerMac,
      policy: { maxPricePerMiB: 10_000_000n, budgets: [new Budget(10n ** 12n, 'torrent')], firstPaymentBytes: 1n << 20n },
    });
    const dict = new Map<string, Encodable>();
    addTermsToHandshake(dict, terms);
    if (o.mitmTerms !== undefined) {
      const t = new Map(Object.entries(dict.get('seedpay') as { [k: string]: Encodable }));
      o.mitmTerms(t);
      dict.set('seedpay', t);
    }
    dict.set('m', { seedpay: 3n });
    this.seller.onPeerHandshake(parseExtendedHandshake(encode({ m: { seedpay: 2n } })));
    this.buyer.onPeerHandshake(parseExtendedHandshake(encode(dict)));
    this.pump();
  }

  pump(): void {
    for (let moved = true; moved;) {
      moved = false;
      for (let m = this.buyer.pollTransmit(); m !== null; m = this.buyer.pollTransmit()) {
        moved = true;
        let p = encodeMessage(m);
        if (this.o.mitmUp !== undefined) p = this.o.mitmUp(p);
        this.up.push(p);
        this.seller.receivePayload(p);
      }
      for (let m = this.seller.pollTransmit(); m !== null; m = this.seller.pollTransmit()) {
        moved = true;
        const p = encodeMessage(m);
        this.down.push(p);
        this.buyer.receivePayload(p);
      }
      for (let e = this.seller.pollEvent(); e !== null; e = this.seller.pollEvent()) {
        moved = true;
        this.sellerEvents.push(e);
        if (e.type === 'verify') {
          if (this.autoVerify) this.answer(e.tx);
          else this.verifyQueue.push(e.tx);
        }
      }
      for (let e = this.buyer.pollEvent(); e !== null; e = this.buyer.pollEvent()) {
        moved = true;
        this.buyerEvents.push(e);
        if (e.type === 'pay' && this.autoPay) {
          const tx = randomTx();
          this.chain.set(tx, { amount: e.amount, sessionHash: e.sessionHash });
          this.buyer.paid(tx, e.amount);
        }
      }
    }
  }

  answer(tx: string): void {
    const t = this.chain.get(tx);
    this.seller.verified(tx, t !== undefined && t.sessionHash === this.seller.sessionHash ? { ok: true, credited: t.amount } : { ok: false, reason: 'tx_not_found' });
  }

  /** Serve `n` blocks of 16 KiB through the gate. */
  serve(n: number): void {
    for (let i = 0; i < n; i++) {
      if (!this.seller.canSendPiece(0, 0, 16384)) break;
      this.seller.sent(0, 0, 16384);
      this.buyer.pieceReceived(16384, 0);
    }
    this.pump();
  }

  /** Everything that is money, on both sides. */
  money(): string {
    const b = this.buyer;
    const s = this.seller.stats();
    return JSON.stringify({
      b: [b.state, b.paidTotal, b.creditedTotal, b.paymentOutstanding, b.estimatedBalance, b.sessionHash],
      s: [this.seller.state, s.credited, s.charged, s.paidBytes, this.seller.verifying, this.seller.queuedProofs, this.seller.sessionHash],
      chain: this.chain.size,
      payEvents: this.buyerEvents.filter((e) => e.type === 'pay').length,
      verifyEvents: this.sellerEvents.filter((e) => e.type === 'verify').length,
    }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

test('negotiation: both support it → every message after the binding is tagged; the buyer pays and is credited', () => {
  const d = new Duo();
  assert.equal(d.seller.state, 'ready');
  assert.equal(d.buyer.state, 'ready');
  assert.equal(d.seller.authenticated, true);
  assert.equal(d.buyer.authenticated, true);
  assert.equal(decodeMessage(d.up[0]).type, 'ecdh_init');
  assert.equal((decodeMessage(d.up[0]) as { wantMac?: boolean }).wantMac, true);
  assert.equal(macBody(d.down[0])!.tag, null, 'the seller ecdh_init is not tagged');
  for (const p of [...d.up.slice(1), ...d.down.slice(1)]) assert.notEqual(macBody(p)!.tag, null, `${decodeMessage(p).type} is tagged`);
  assert.ok(d.up.length >= 2 && d.down.length >= 2, 'a proof and its confirmation went through');
  assert.equal(d.seller.stats().credited, [...d.chain.values()].reduce((a, t) => a + t.amount, 0n));
  assert.equal(d.buyer.creditedTotal, d.buyer.paidTotal);
  assert.equal(d.seller.badMacs + d.buyer.badMacs, 0);
});

test('interop: a seller without the terms key, or a buyer that does not know it, work as before without MAC', () => {
  for (const o of [{ sellerMac: false }, { buyerMac: false }, { sellerMac: false, buyerMac: false }] as DuoOptions[]) {
    const d = new Duo(o);
    assert.equal(d.buyer.state, 'ready', JSON.stringify(o));
    assert.equal(d.seller.authenticated, false);
    assert.equal(d.buyer.authenticated, false);
    assert.equal((decodeMessage(d.up[0]) as { wantMac?: boolean }).wantMac, undefined, 'no request');
    for (const p of [...d.up, ...d.down]) assert.equal(macBody(p)!.tag, null, 'plain messages');
    assert.ok(d.buyer.creditedTotal > 0n);
    assert.equal(d.buyer.creditedTotal, d.buyer.paidTotal);
  }
});

test('negotiation cannot be stripped or added by a man in the middle: the signature check fails before any payment', () => {
  const cases: [string, DuoOptions][] = [
    ['mac stripped from the terms', { mitmTerms: (t) => { t.delete('mac'); } }],
    ['mac added to terms that did not offer it', { sellerMac: false, mitmTerms: (t) => { t.set('mac', 1n); } }],
    ['the buyer request stripped from its ecdh_init', { mitmUp: (p) => strip(p) }],
    ['a request added to the ecdh_init of a buyer that does not know the key', { buyerMac: false, mitmUp: (p) => addRequest(p) }],
  ];
  for (const [what, o] of cases) {
    const d = new Duo(o);
    assert.equal(d.buyer.state, 'refused', what);
    assert.ok(d.buyerEvents.some((e) => e.type === 'refused' && e.reason === 'bad_signature'), what);
    assert.equal(d.chain.size, 0, `${what}: nothing paid`);
  }
  function strip(p: Uint8Array): Uint8Array {
    const m = decodeMessage(p);
    return m.type === 'ecdh_init' ? encodeMessage({ type: 'ecdh_init', pk: m.pk }) : p;
  }
  function addRequest(p: Uint8Array): Uint8Array {
    const m = decodeMessage(p);
    return m.type === 'ecdh_init' ? encodeMessage({ type: 'ecdh_init', pk: m.pk, wantMac: true }) : p;
  }
});

test('state machines: injected, altered, replayed, reordered or reflected messages are dropped and counted, never acted on', () => {
  const d = new Duo();
  d.autoVerify = false;
  d.serve(64); // 1 MiB: the first payment's credit
  d.serve(64);
  d.pump();
  const tx = d.verifyQueue[0];
  assert.ok(tx !== undefined, 'a top-up proof awaits its verification');
  const before = d.money();
  const forged: Uint8Array[] = [
    encodeMessage({ type: 'payment_rejected', tx, reason: 'insufficient_amount' }),
    encodeMessage({ type: 'payment_rejected', tx, reason: 'insufficient_amount', mac: new Uint8Array(16).fill(9) }),
    encodeMessage({ type: 'payment_confirmed', tx, credited: 10n ** 12n, balance: 10n ** 12n }),
    encodeMessage({ type: 'payment_required', balance: 0n, required: 10n ** 9n }),
    encodeMessage({ type: 'ecdh_init', pk: new Uint8Array(32).fill(7), sig: new Uint8Array(64) }),
    new TextEncoder().encode('not bencode at all'),
    d.down[1], // a replay of the seller's first tagged message
    d.up[1], // a reflection of the buyer's own tagged proof
  ];
  for (const p of forged) d.buyer.receivePayload(p);
  d.pump();
  assert.equal(d.buyer.badMacs, forged.length);
  assert.equal(d.money(), before, 'the buyer acted on none of them');
  assert.ok(!d.buyerEvents.some((e) => e.type === 'rejected' || e.type === 'stopped' || e.type === 'ended'));
  // Toward the seller: a proof, a resume and garbage with no valid tag.
  const up: Uint8Array[] = [
    encodeMessage({ type: 'payment_proof', tx: randomTx(), amount: 1n }),
    encodeMessage({ type: 'payment_proof', tx, amount: 1n, mac: new Uint8Array(16) }),
    d.up[1], d.down[1],
    encodeMessage({ type: 'session_resume', prev: 'ab'.repeat(32), payer: new Uint8Array(32), sig: new Uint8Array(64) }),
    new Uint8Array([0x64, 0x65]),
  ];
  for (const p of up) d.seller.receivePayload(p);
  d.pump();
  assert.equal(d.seller.badMacs, up.length);
  assert.equal(d.money(), before, 'the seller acted on none of them');
  // The real answer still gets through (the counters did not move), and payments go on.
  d.autoVerify = true;
  d.answer(d.verifyQueue.shift()!);
  d.pump();
  for (let i = 0; i < 20; i++) d.serve(64);
  assert.equal(d.buyer.state, 'ready');
  assert.equal(d.seller.state, 'ready');
  assert.ok(d.buyerEvents.filter((e) => e.type === 'confirmed').length >= 3);
  assert.equal(d.buyer.creditedTotal, d.buyer.paidTotal, 'every payment credited');
  assert.equal(d.seller.stats().credited, d.buyer.paidTotal);
});

test('state machines: reordered tagged messages fail until the earlier one arrives; a tagged message in the wrong direction still ends the session', () => {
  const d = new Duo();
  d.serve(64);
  // Two seller messages held back and delivered out of order.
  const k = (d.seller as unknown as { mac: { sendKey: Uint8Array } }).mac.sendKey;
  const n = BigInt(d.down.length - 1); // tagged messages sent so far (the ecdh_init is not)
  const m0 = encodeMessage(sealMessage({ type: 'payment_required', balance: 1n, required: 1000n }, k, n));
  const m1 = encodeMessage(sealMessage({ type: 'payment_required', balance: 2n, required: 1000n }, k, n + 1n));
  d.buyer.receivePayload(m1);
  assert.equal(d.buyer.badMacs, 1, 'm1 before m0: dropped');
  d.buyer.receivePayload(m0);
  d.buyer.receivePayload(m1);
  assert.equal(d.buyer.badMacs, 1, 'in order: both accepted');
  // The peer itself (a valid tag) breaking the protocol still ends the paid session.
  const bad = encodeMessage(sealMessage({ type: 'session_resume', prev: 'ab'.repeat(32), payer: new Uint8Array(32), sig: new Uint8Array(64) }, k, n + 2n));
  d.buyer.receivePayload(bad);
  assert.equal(d.buyer.state, 'ended');
  assert.equal(d.buyer.error?.code, 'UNEXPECTED_MESSAGE');
});

test('state machines: the paid session ends (BAD_MAC) only after more than 16 bad messages', () => {
  const d = new Duo();
  const junk = encodeMessage({ type: 'payment_required', balance: 0n, required: 1n });
  for (let i = 0; i < 16; i++) { d.buyer.receivePayload(junk); d.seller.receivePayload(junk); }
  assert.equal(d.buyer.state, 'ready');
  assert.equal(d.seller.state, 'ready');
  d.buyer.receivePayload(junk);
  d.seller.receivePayload(junk);
  assert.equal(d.buyer.state, 'ended');
  assert.equal(d.buyer.error?.code, 'BAD_MAC');
  assert.equal(d.seller.state, 'ended');
  assert.equal(d.seller.error?.code, 'BAD_MAC');
});

test('property: any injected or mutated SeedPay payload after the binding never changes the buyer\'s or seller\'s money', () => {
  const tx0 = randomTx();
  const arbMsg: fc.Arbitrary<SeedPayMessage> = fc.oneof(
    fc.record({ type: fc.constant('payment_rejected' as const), tx: fc.constant(tx0), reason: fc.constantFrom('insufficient_amount', 'rpc_unavailable', 'session_mismatch', 'x') }),
    fc.record({ type: fc.constant('payment_confirmed' as const), tx: fc.constant(tx0), credited: fc.bigInt({ min: 0n, max: 10n ** 15n }), balance: fc.bigInt({ min: 0n, max: 10n ** 15n }) }),
    fc.record({ type: fc.constant('payment_required' as const), balance: fc.bigInt({ min: 0n, max: 10n ** 9n }), required: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
    fc.record({ type: fc.constant('payment_proof' as const), tx: fc.constant(tx0), amount: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
    fc.record({ type: fc.constant('session_resumed' as const), prev: fc.constant('ab'.repeat(32)), credited: fc.bigInt({ min: 0n, max: 10n ** 9n }), balance: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
  );
  // A payload is drawn as a recipe, made against the pair's own traffic inside the run.
  type Recipe = ((d: Duo) => Uint8Array);
  const recipe: fc.Arbitrary<Recipe> = fc.oneof(
    fc.uint8Array({ maxLength: 200 }).map((b) => () => b),
    // a forged message, with no tag or a random one
    fc.tuple(arbMsg, fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 })))
      .map(([m, t]) => () => encodeMessage(t === null ? m : { ...m, mac: t } as SeedPayMessage)),
    // one of this pair's real tagged payloads (either direction) with one byte changed, or replayed as is
    fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([i, j, x, replay]) => (d: Duo) => {
      const pool = [...d.down.slice(1), ...d.up.slice(1)];
      const p = pool[i % pool.length].slice();
      if (!replay) p[j % p.length] ^= x;
      return p;
    }),
  );
  fc.assert(fc.property(fc.array(fc.tuple(recipe, fc.boolean()), { minLength: 1, maxLength: 16 }), (injected) => {
    // A fresh pair per run: bound, paid once, credited, some data served, a top-up proof unanswered.
    const d = new Duo();
    d.autoVerify = false;
    d.serve(64); d.serve(64); d.pump();
    assert.ok(d.seller.verifying !== null);
    const before = d.money();
    for (const [make, toBuyer] of injected) (toBuyer ? d.buyer : d.seller).receivePayload(make(d));
    d.pump();
    assert.equal(d.money(), before);
    assert.equal(d.buyer.badMacs + d.seller.badMacs, injected.length);
    assert.equal(d.buyer.state, 'ready');
    assert.equal(d.seller.state, 'ready');
  }), { numRuns: 150 });
});

// ---------------------------------------------------------------------------------------
// Through the peer wire (the harness: a buyer and a seller back to back in memory)

/** Inject `payload` as a SeedPay extended message from the seller's side (the buyer's seedpay id). */
function injectToBuyer(h: Harness, payload: Uint8Array): void {
  h.pair.b.sendExtended('seedpay', payload, h.pair.now);
}

function injectedRejectRun(mac: boolean): Harness {
  const h = new Harness({ terms: mac ? { mac: true } : {}, numPieces: 48 });
  h.autoVerify = false;
  h.announce();
  h.want();
  h.run();
  // The first proof awaits its verification: forge the seller's answers for it.
  const tx = h.pendingVerify[0]?.tx;
  assert.ok(tx !== undefined, 'the first proof reached the seller');
  injectToBuyer(h, encodeMessage({ type: 'payment_rejected', tx, reason: 'insufficient_amount' }));
  injectToBuyer(h, encodeMessage({ type: 'payment_required', balance: 0n, required: 10n ** 9n }));
  h.run();
  h.autoVerify = true;
  while (h.pendingVerify.length > 0) h.answerVerify();
  h.run();
  // And once more later, at a confirmation that lies about the balance.
  injectToBuyer(h, encodeMessage({ type: 'payment_confirmed', tx, credited: 10n ** 12n, balance: 10n ** 12n }));
  h.run();
  return h;
}

test('harness, MAC on: a forged payment_rejected / payment_required / payment_confirmed from the path is ignored; the download completes, every payment credited', () => {
  const h = injectedRejectRun(true);
  assert.equal(h.buyer.buyer.authenticated, true);
  assert.equal(h.buyer.buyer.badMacs, 3);
  assert.ok(!h.buyerEvents.some((e) => e.type === 'rejected' || e.type === 'stopped' || e.type === 'ended'));
  assert.equal(h.buyer.buyer.state, 'ready');
  assert.ok(h.done, 'download complete');
  const pays = h.buyerEvents.filter((e) => e.type === 'pay').length;
  assert.ok(pays >= 2, `payments went on (${pays})`);
  assert.equal(h.seller.stats().credited, h.paidToSeller(), 'every payment credited');
  assert.equal(h.buyer.buyer.creditedTotal, h.buyer.buyer.paidTotal);
  assert.ok(h.seller.stats().charged <= h.seller.stats().credited);
});

test('harness, MAC off (a seller without the terms key): the same forged payment_rejected stops the buyer (the attack MAC stops)', () => {
  const h = injectedRejectRun(false);
  assert.equal(h.buyer.buyer.authenticated, false);
  assert.ok(h.buyerEvents.some((e) => e.type === 'rejected' && e.final && e.reason === 'insufficient_amount'));
  assert.ok(h.buyerEvents.some((e) => e.type === 'stopped' && e.reason === 'rejected'));
  assert.ok(!h.done, 'the download stalls: the buyer stopped paying an honest seller');
});

test('harness: a seller without the terms key and our buyer interoperate without MAC as before', () => {
  const h = new Harness({ numPieces: 24 });
  h.announce();
  h.want();
  h.run();
  assert.equal(h.buyer.buyer.authenticated, false);
  assert.equal(h.seller.seller.authenticated, false);
  assert.ok(h.done);
  assert.equal(h.seller.stats().credited, h.paidToSeller());
});
