/**
 * The seller state machine alone (sans-IO): the meter against an independent model
 * (property), low-water and starvation payment_required once per crossing, bounded
 * proof handling under a flood, replays, protocol violations ending the paid session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chargeFor, MIB } from '../../payment/amount.js';
import { generateEphemeral } from '../../payment/session.js';
import { encode } from '../../wire/bencode.js';
import { parseExtendedHandshake } from '../../wire/extension-hooks.js';
import { SellerSession, walletSigner, type SellerEvent, type SellerOptions } from '../../extensions/seedpay/seller-session.js';
import { SeedPayError } from '../../extensions/seedpay/errors.js';
import type { SeedPayMessage } from '../../extensions/seedpay/messages.js';
import { BLOCK, INFO, makeTerms, randomTx, seededWallet } from './seedpay-harness.js';

const wallet = seededWallet(1);
const HS_SEEDPAY = parseExtendedHandshake(new Uint8Array(encode({ m: { seedpay: 1 } })));
const HS_FREE = parseExtendedHandshake(new Uint8Array(encode({ m: { ut_metadata: 1 } })));

function drain<T>(poll: () => T | null): T[] {
  const out: T[] = [];
  for (let x = poll(); x !== null; x = poll()) out.push(x);
  return out;
}

function readySeller(o: Partial<SellerOptions> & { price?: bigint; minPrepay?: bigint } = {}): SellerSession {
  const { price, minPrepay, ...rest } = o;
  const s = new SellerSession({
    terms: makeTerms(wallet.address, { price: price ?? 1_000_000n, minPrepay: minPrepay ?? 1_000n }),
    infoHash: INFO, signer: walletSigner(wallet), ...rest,
  });
  s.onPeerHandshake(HS_SEEDPAY);
  s.receive({ type: 'ecdh_init', pk: generateEphemeral().public });
  assert.equal(s.state, 'ready');
  drain(() => s.pollEvent());
  drain(() => s.pollTransmit());
  return s;
}

/** Pay `amount` through proof → verify → verified. */
function credit(s: SellerSession, amount: bigint): void {
  const tx = randomTx();
  s.receive({ type: 'payment_proof', tx, amount });
  assert.equal(s.verifying, tx);
  s.verified(tx, { ok: true, credited: amount });
}

test('meter: gate and charges match an independent model for any blocks and payments (property)', () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('block' as const), index: fc.integer({ min: 0, max: 7 }), length: fc.integer({ min: 1, max: BLOCK }) }),
    fc.record({ k: fc.constant('pay' as const), amount: fc.bigInt({ min: 0n, max: 300_000n }) }),
  );
  fc.assert(fc.property(
    fc.bigInt({ min: 0n, max: 5_000_000n }), fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
    fc.bigInt({ min: 0n, max: 100_000n }), fc.array(op, { maxLength: 120 }),
    (price, freePieces, freeBytes, ops) => {
      const s = readySeller({ price, minPrepay: 0n, freePieces, freeBytes });
      let credited = 0n; let paid = 0n; let free = 0n;
      for (const o of ops) {
        if (o.k === 'pay') {
          credit(s, o.amount);
          credited += o.amount;
          continue;
        }
        const len = BigInt(o.length);
        const expectFree = freePieces.includes(o.index) && free + len <= freeBytes;
        const expectPaid = !expectFree && (paid + len) * price <= credited * MIB; // ceil(x/M) <= c  <=>  x <= c*M
        const ok = s.canSendPiece(o.index, 0, o.length);
        assert.equal(ok, expectFree || expectPaid);
        if (ok) {
          s.sent(o.index, 0, o.length);
          if (expectFree) free += len; else paid += len;
        }
        const st = s.stats();
        assert.equal(st.paidBytes, paid);
        assert.equal(st.freeBytes, free);
        assert.equal(st.charged, chargeFor(paid, price), 'charged = chargeFor(total paid bytes)');
        assert.ok(st.charged <= st.credited, 'bytes served never cost more than credited');
        assert.ok(st.freeBytes <= freeBytes, 'free bytes within the declared sample');
        assert.equal(st.balance, credited - st.charged);
      }
      for (const m of drain(() => s.pollTransmit())) {
        if (m.type === 'payment_required') assert.ok(m.balance >= 0n && m.required >= 0n);
      }
    },
  ), { numRuns: 300 });
});

test('low water: payment_required once per crossing while data still flows, again on starvation, then after each new credit', () => {
  const s = readySeller({ price: 1_000_000n, minPrepay: 1_000n, lowWaterBytes: 256n * 1024n });
  credit(s, 1_000_000n); // 1 MiB worth
  drain(() => s.pollTransmit());
  const required: { at: bigint; m: SeedPayMessage }[] = [];
  let served = 0;
  for (let i = 0; i < 200; i++) {
    if (!s.canSendPiece(0, i * BLOCK, BLOCK)) continue;
    s.sent(0, i * BLOCK, BLOCK);
    served++;
    for (const m of drain(() => s.pollTransmit())) required.push({ at: s.meter.balance, m });
  }
  assert.equal(served, 64, '1 MiB served');
  for (const m of drain(() => s.pollTransmit())) required.push({ at: s.meter.balance, m });
  assert.equal(required.length, 2, 'one at low water, one when starved — not one per block');
  const [low, starved] = required;
  assert.ok(low.m.type === 'payment_required' && low.m.balance > 0n, 'low water signalled while credit remains');
  assert.ok(low.m.type === 'payment_required' && low.m.balance < chargeFor(256n * 1024n, 1_000_000n));
  assert.ok(starved.m.type === 'payment_required' && starved.m.balance === 0n && starved.m.required >= 1_000n);
  // Refusals are events (one per block until polled), not messages.
  const refuse = drain(() => s.pollEvent()).filter((e) => e.type === 'refuse');
  assert.ok(refuse.length > 0 && refuse.every((e) => e.type === 'refuse' && e.why === 'credit'));
  // A new credit resumes and re-arms both signals.
  credit(s, 2_000_000n);
  const evs = drain(() => s.pollEvent());
  assert.ok(evs.some((e) => e.type === 'resume'));
  const confirmed = drain(() => s.pollTransmit());
  assert.ok(confirmed[0].type === 'payment_confirmed' && confirmed[0].balance === 2_000_000n && confirmed[0].credited === 2_000_000n);
  let again = 0;
  for (let i = 200; i < 400; i++) {
    if (!s.canSendPiece(0, i * BLOCK, BLOCK)) break;
    s.sent(0, i * BLOCK, BLOCK);
    again += drain(() => s.pollTransmit()).filter((m) => m.type === 'payment_required').length;
  }
  assert.equal(again, 1);
});

test('refuse events: once per block until polled, again when the block is asked again', () => {
  const s = readySeller();
  assert.equal(s.canSendPiece(3, 0, BLOCK), false);
  assert.equal(s.canSendPiece(3, 0, BLOCK), false);
  let evs = drain(() => s.pollEvent()).filter((e) => e.type === 'refuse');
  assert.equal(evs.length, 1);
  assert.equal(s.canSendPiece(3, 0, BLOCK), false);
  evs = drain(() => s.pollEvent()).filter((e) => e.type === 'refuse');
  assert.equal(evs.length, 1);
  // payment_required once per starvation episode.
  assert.equal(drain(() => s.pollTransmit()).filter((m) => m.type === 'payment_required').length, 1);
});

test('proof flood: one verification in flight, a bounded queue, cheap refusals, then the paid session ends', () => {
  const s = readySeller({ maxQueuedProofs: 4, maxRefusedProofs: 64 });
  const txs = Array.from({ length: 1000 }, () => randomTx());
  for (const tx of txs) s.receive({ type: 'payment_proof', tx, amount: 5n });
  const evs = drain(() => s.pollEvent());
  assert.equal(evs.filter((e) => e.type === 'verify').length, 1, 'one verification in flight');
  assert.equal(s.queuedProofs, 0, 'the queue is dropped when the session ends');
  const out = drain(() => s.pollTransmit());
  assert.equal(out.length, 64, 'refusals bounded');
  assert.ok(out.every((m) => m.type === 'payment_rejected' && m.reason === 'rpc_unavailable'));
  assert.equal(s.state, 'ended');
  assert.equal(s.error?.code, 'PROOF_FLOOD');
  // The verification in flight still counts: the verifier journaled the credit.
  s.verified(txs[0], { ok: true, credited: 10_000n });
  assert.equal(s.stats().credited, 10_000n);
  assert.equal(s.wouldServe(0, BLOCK), false, 'nothing served after the session ended');
});

test('made-up proofs that verify to nothing: bounded verifications, then the paid session ends', () => {
  const s = readySeller({ maxFailedProofs: 5 });
  let verifications = 0;
  for (let i = 0; i < 100; i++) {
    s.receive({ type: 'payment_proof', tx: randomTx(), amount: 1n });
    for (const e of drain(() => s.pollEvent())) {
      if (e.type === 'verify') { verifications++; s.verified(e.tx, { ok: false, reason: 'tx_not_found' }); }
    }
  }
  assert.equal(verifications, 6);
  assert.equal(s.state, 'ended');
  assert.equal(s.error?.code, 'PROOF_FLOOD');
  // Replays of a credited tx count as refusals too.
  const r = readySeller({ maxRefusedProofs: 3 });
  const tx = randomTx();
  r.receive({ type: 'payment_proof', tx, amount: 1n });
  r.verified(tx, { ok: true, credited: 1n });
  for (let i = 0; i < 10; i++) r.receive({ type: 'payment_proof', tx, amount: 1n });
  assert.equal(drain(() => r.pollTransmit()).filter((m) => m.type === 'payment_rejected' && m.reason === 'replayed_tx').length, 3);
  assert.equal(r.error?.code, 'PROOF_FLOOD');
});

test('proofs: queued in order, duplicates ignored, credited tx replayed → replayed_tx without an RPC', () => {
  const s = readySeller({ maxQueuedProofs: 2 });
  const [a, b, c, d] = [randomTx(), randomTx(), randomTx(), randomTx()];
  for (const tx of [a, a, b, c, b, d]) s.receive({ type: 'payment_proof', tx, amount: 1n });
  assert.deepEqual(drain(() => s.pollEvent()).flatMap((e) => (e.type === 'verify' ? [e.tx] : [])), [a]);
  // d found the queue full (b, c waiting).
  assert.deepEqual(drain(() => s.pollTransmit()), [{ type: 'payment_rejected', tx: d, reason: 'rpc_unavailable' }]);
  s.verified(a, { ok: true, credited: 5_000n });
  const ev1 = drain(() => s.pollEvent());
  assert.ok(ev1.some((e) => e.type === 'verify' && e.tx === b));
  s.verified(b, { ok: false, reason: 'session_mismatch' });
  s.verified(c, { ok: false, reason: 'expired' });
  const out = drain(() => s.pollTransmit());
  assert.deepEqual(out.map((m) => m.type), ['payment_confirmed', 'payment_rejected', 'payment_rejected']);
  assert.throws(() => s.verified(c, { ok: true, credited: 1n }), (e: unknown) => e instanceof SeedPayError && !e.remote);
  s.receive({ type: 'payment_proof', tx: a, amount: 1n });
  assert.deepEqual(drain(() => s.pollTransmit()), [{ type: 'payment_rejected', tx: a, reason: 'replayed_tx' }]);
  assert.equal(s.verifying, null);
  assert.equal(s.stats().credited, 5_000n);
});

test('protocol violations end the paid session with a typed error', () => {
  const cases: [string, (s: SellerSession) => void, string][] = [
    ['proof before ecdh', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receive({ type: 'payment_proof', tx: randomTx(), amount: 1n }); }, 'UNEXPECTED_MESSAGE'],
    ['second ecdh_init', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receive({ type: 'ecdh_init', pk: generateEphemeral().public }); s.receive({ type: 'ecdh_init', pk: generateEphemeral().public }); }, 'UNEXPECTED_MESSAGE'],
    ['buyer signs', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receive({ type: 'ecdh_init', pk: generateEphemeral().public, sig: new Uint8Array(64) }); }, 'UNEXPECTED_MESSAGE'],
    ['wrong direction', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receive({ type: 'payment_required', balance: 0n, required: 0n }); }, 'UNEXPECTED_MESSAGE'],
    ['small-order key', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receive({ type: 'ecdh_init', pk: new Uint8Array(32) }); }, 'BAD_SESSION_KEY'],
    ['not negotiated', (s) => { s.onPeerHandshake(HS_FREE); s.receive({ type: 'ecdh_init', pk: generateEphemeral().public }); }, 'NOT_NEGOTIATED'],
    ['before any handshake', (s) => { s.receive({ type: 'ecdh_init', pk: generateEphemeral().public }); }, 'NOT_NEGOTIATED'],
    ['garbage', (s) => { s.onPeerHandshake(HS_SEEDPAY); s.receivePayload(Uint8Array.from([0x64, 0x65, 0x65])); }, 'NOT_BENCODE'],
  ];
  for (const [name, f, code] of cases) {
    const s = new SellerSession({ terms: makeTerms(wallet.address), infoHash: INFO, signer: walletSigner(wallet) });
    f(s);
    assert.equal(s.state, 'ended', name);
    assert.equal(s.error?.code, code, name);
    const evs: SellerEvent[] = drain(() => s.pollEvent());
    assert.ok(evs.some((e) => e.type === 'ended'), name);
    assert.equal(s.wouldServe(0, BLOCK), false, name);
    assert.equal(s.unchokeAllowed(), false, name);
    // Further input is ignored, never thrown.
    s.receive({ type: 'payment_proof', tx: randomTx(), amount: 1n });
    assert.equal(drain(() => s.pollTransmit()).filter((m) => m.type === 'payment_rejected').length, 0, name);
  }
});

test('construction refuses a signer for another wallet than the terms name (local error)', () => {
  assert.throws(() => new SellerSession({ terms: makeTerms(wallet.address), infoHash: INFO, signer: walletSigner(seededWallet(2)) }),
    (e: unknown) => e instanceof SeedPayError && e.code === 'ILLEGAL_STATE');
});

test('policy, unchoke filter and charge events', () => {
  const free = new SellerSession({ terms: makeTerms(wallet.address), infoHash: INFO, signer: walletSigner(wallet), policy: 'free' });
  const paidOnly = new SellerSession({ terms: makeTerms(wallet.address), infoHash: INFO, signer: walletSigner(wallet), policy: 'paid-only' });
  assert.equal(free.unchokeAllowed(), true);
  assert.equal(paidOnly.unchokeAllowed(), false, 'unknown peers are not unchoked in paid-only mode');
  free.onPeerHandshake(HS_FREE); paidOnly.onPeerHandshake(HS_FREE);
  assert.equal(free.canSendPiece(0, 0, BLOCK), true);
  assert.equal(paidOnly.canSendPiece(0, 0, BLOCK), false);
  assert.ok(drain(() => paidOnly.pollEvent()).some((e) => e.type === 'refuse' && e.why === 'policy'));
  // A SeedPay buyer is unchoked only while it has credit for a block.
  const s = readySeller({ price: 1_000_000n, chargeEventBytes: 64n * 1024n });
  assert.equal(s.unchokeAllowed(), false);
  credit(s, chargeFor(BigInt(BLOCK), 1_000_000n));
  assert.equal(s.unchokeAllowed(), true);
  credit(s, 1_000_000n);
  drain(() => s.pollEvent());
  for (let i = 0; i < 10; i++) { assert.ok(s.canSendPiece(0, i * BLOCK, BLOCK)); s.sent(0, i * BLOCK, BLOCK); }
  const charges = drain(() => s.pollEvent()).filter((e) => e.type === 'charge');
  assert.equal(charges.length, 2, 'a charge event per 64 KiB of paid data');
  assert.ok(charges[1].type === 'charge' && charges[1].paidBytes === 128n * 1024n && charges[1].charged === chargeFor(128n * 1024n, 1_000_000n));
});

test('hostile message sequences: the seller never throws, never serves beyond credit, and its queues stay bounded (property)', () => {
  const txs = Array.from({ length: 6 }, () => randomTx());
  const msg = fc.oneof(
    fc.record({ type: fc.constant('ecdh_init' as const), pk: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
    fc.record({ type: fc.constant('payment_proof' as const), tx: fc.constantFrom(...txs), amount: fc.bigInt({ min: 0n, max: 10n ** 9n }) }),
    fc.record({ type: fc.constant('payment_required' as const), balance: fc.bigInt({ min: 0n, max: 9n }), required: fc.bigInt({ min: 0n, max: 9n }) }),
    fc.record({ type: fc.constant('unknown' as const), name: fc.constant('channel_opened'), reserved: fc.constant(true) }),
  );
  const step = fc.oneof(
    msg.map((m) => ({ k: 'msg' as const, m })),
    fc.record({ k: fc.constant('bytes' as const), b: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ k: fc.constant('answer' as const), ok: fc.boolean(), credited: fc.bigInt({ min: 0n, max: 100_000n }) }),
    fc.record({ k: fc.constant('block' as const), length: fc.integer({ min: 1, max: BLOCK }) }),
  );
  fc.assert(fc.property(fc.boolean(), fc.array(step, { maxLength: 60 }), (seedpay, steps) => {
    const s = new SellerSession({ terms: makeTerms(wallet.address), infoHash: INFO, signer: walletSigner(wallet), maxQueuedProofs: 2 });
    s.onPeerHandshake(seedpay ? HS_SEEDPAY : HS_FREE);
    for (const st of steps) {
      if (st.k === 'msg') s.receive({ ...st.m });
      else if (st.k === 'bytes') s.receivePayload(st.b);
      else if (st.k === 'answer') { if (s.verifying !== null) s.verified(s.verifying, st.ok ? { ok: true, credited: st.credited } : { ok: false, reason: 'expired' }); }
      else if (s.canSendPiece(0, 0, st.length)) s.sent(0, 0, st.length);
      assert.ok(s.queuedProofs <= 2);
      const m = s.stats();
      if (seedpay) assert.ok(m.charged <= m.credited);
    }
    drain(() => s.pollEvent());
    drain(() => s.pollTransmit());
  }), { numRuns: 300 });
});
