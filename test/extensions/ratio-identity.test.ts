/**
 * Ratio credits, identity binding (extensions/ratio/identity.ts) between two sans-IO
 * ends wired back to back: a valid proof binds; a proof signed by another wallet's
 * key, over another transcript, copied from another connection, reflected back, or
 * naming our own wallet binds nothing; hostile payloads never throw and never bind;
 * the credit statement and the seller's session signature cannot stand in for each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fc from 'fast-check';
import bs58 from 'bs58';
import { IdentityBinding } from '../../extensions/ratio/identity.js';
import { decodeCreditMessage, encodeCreditMessage, RatioError, type CreditMessage } from '../../extensions/ratio/messages.js';
import { walletSigner, type Signer } from '../../extensions/seedpay/seller-session.js';
import { creditIdMessage, signCreditId, verifyCreditId } from '../../payment/credit-identity.js';
import { buildTranscript, generateWallet, signTranscript, verifyTranscript, type WalletKeypair } from '../../payment/session.js';

const infoHash = (): Uint8Array => new Uint8Array(crypto.randomBytes(20));

/** Deliver everything each end queued to the other until both are quiet; returns what went each way. */
function pump(a: IdentityBinding, b: IdentityBinding): { ab: CreditMessage[]; ba: CreditMessage[] } {
  const ab: CreditMessage[] = [];
  const ba: CreditMessage[] = [];
  for (let moved = true; moved;) {
    moved = false;
    for (let m = a.pollTransmit(); m !== null; m = a.pollTransmit()) { ab.push(m); b.receive(encodeCreditMessage(m)); moved = true; }
    for (let m = b.pollTransmit(); m !== null; m = b.pollTransmit()) { ba.push(m); a.receive(encodeCreditMessage(m)); moved = true; }
  }
  return { ab, ba };
}

function pair(ih: Uint8Array, aSigner: Signer | null, bSigner: Signer | null): { a: IdentityBinding; b: IdentityBinding; ab: CreditMessage[]; ba: CreditMessage[] } {
  const a = new IdentityBinding({ infoHash: ih, signer: aSigner });
  const b = new IdentityBinding({ infoHash: ih, signer: bSigner });
  a.peerSupports();
  b.peerSupports();
  return { a, b, ...pump(a, b) };
}

/** An end without a wallet that sent its key and got `peerKey` (random) in the peer's id_init: it awaits the peer's proof. */
function awaitingProof(ih: Uint8Array, peerKey = new Uint8Array(crypto.randomBytes(32))): { a: IdentityBinding; peerKey: Uint8Array } {
  const a = new IdentityBinding({ infoHash: ih, signer: null });
  a.peerSupports();
  a.receive(encodeCreditMessage({ type: 'id_init', pk: peerKey }));
  return { a, peerKey };
}

/** `wallet`'s id_proof to the end whose key is `verifierKey`, by the end whose key is `proverKey`. */
function proof(ih: Uint8Array, wallet: WalletKeypair, proverKey: Uint8Array, verifierKey: Uint8Array): Uint8Array {
  return encodeCreditMessage({ type: 'id_proof', wallet: wallet.publicKey, sig: signCreditId(wallet.seed, creditIdMessage({ infoHash: ih, proverKey, verifierKey })) });
}

/** A signer that claims `claimed` but signs with `key`'s secret. */
function lyingSigner(claimed: WalletKeypair, key: WalletKeypair): Signer {
  return { wallet: claimed.address, sign: (m) => signTranscript(key.seed, m) };
}

test('a valid proof binds the wallet, both ways at once (both ends upload), whoever speaks first', () => {
  const wa = generateWallet();
  const wb = generateWallet();
  const { a, b } = pair(infoHash(), walletSigner(wa), walletSigner(wb));
  assert.equal(a.identity, wb.address);
  assert.equal(b.identity, wa.address);
  assert.equal(a.state, 'bound');
  // Only one end proves (a free seeder with a wallet, a leecher without): only it is bound.
  const one = pair(infoHash(), null, walletSigner(wb));
  assert.equal(one.a.identity, wb.address);
  assert.equal(one.b.identity, null);
  assert.equal(one.b.state, 'pending');
  assert.equal(one.ab.filter((m) => m.type === 'id_proof').length, 0, 'an end without a wallet proves nothing');
});

test('attack: a proof signed with another wallet\'s key binds nothing', () => {
  const victim = generateWallet();
  const attacker = generateWallet();
  const { a } = pair(infoHash(), null, lyingSigner(victim, attacker));
  assert.equal(a.identity, null);
  assert.equal(a.state, 'refused');
});

test('attack: a proof over another transcript (other torrent, other keys, keys swapped) binds nothing', () => {
  const w = generateWallet();
  const ih = infoHash();
  const other = infoHash();
  for (const forge of [
    (prover: Uint8Array, verifier: Uint8Array) => creditIdMessage({ infoHash: other, proverKey: prover, verifierKey: verifier }),
    (_p: Uint8Array, verifier: Uint8Array) => creditIdMessage({ infoHash: ih, proverKey: crypto.randomBytes(32), verifierKey: verifier }),
    (prover: Uint8Array) => creditIdMessage({ infoHash: ih, proverKey: prover, verifierKey: crypto.randomBytes(32) }),
    (prover: Uint8Array, verifier: Uint8Array) => creditIdMessage({ infoHash: ih, proverKey: verifier, verifierKey: prover }),
  ]) {
    const { a, peerKey: bKey } = awaitingProof(ih);
    const sig = signCreditId(w.seed, forge(bKey, a.key));
    a.receive(encodeCreditMessage({ type: 'id_proof', wallet: w.publicKey, sig }));
    assert.equal(a.identity, null);
    assert.equal(a.state, 'refused');
  }
  // The same construction with the right transcript binds: the forgeries above fail for their difference only.
  const { a, peerKey: bKey } = awaitingProof(ih);
  a.receive(proof(ih, w, bKey, a.key));
  assert.equal(a.identity, w.address);
});

test('attack: a proof copied from another connection binds nothing, even with the prover\'s own key replayed', () => {
  const w = generateWallet();
  const ih = infoHash();
  const honest = pair(ih, null, walletSigner(w));
  assert.equal(honest.a.identity, w.address);
  const init = honest.ba.find((m) => m.type === 'id_init')!;
  const proof = honest.ba.find((m) => m.type === 'id_proof')!;
  // A Sybil replays the honest peer's id_init and id_proof to the same node on a new connection.
  const victim = new IdentityBinding({ infoHash: ih, signer: null });
  victim.peerSupports();
  victim.receive(encodeCreditMessage(init));
  victim.receive(encodeCreditMessage(proof));
  assert.equal(victim.identity, null);
  assert.equal(victim.state, 'refused');
});

test('attack: a proof reflected back at its signer, or one naming our own wallet, binds nothing', () => {
  const w = generateWallet();
  const ih = infoHash();
  const me = new IdentityBinding({ infoHash: ih, signer: walletSigner(w) });
  const peerKey = new Uint8Array(crypto.randomBytes(32));
  me.peerSupports();
  me.receive(encodeCreditMessage({ type: 'id_init', pk: peerKey }));
  const out: CreditMessage[] = [];
  for (let m = me.pollTransmit(); m !== null; m = me.pollTransmit()) out.push(m);
  const myProof = out.find((m) => m.type === 'id_proof')!;
  me.receive(encodeCreditMessage(myProof)); // reflected: also names our own wallet
  assert.equal(me.identity, null);
  // A proof from another wallet over the reflected orientation (verifier key first) fails too.
  const other = generateWallet();
  const { a: them, peerKey: key2 } = awaitingProof(ih);
  them.receive(proof(ih, other, them.key, key2));
  assert.equal(them.identity, null);
});

test('one proof per connection: after a bad one, a good one is not looked at; out-of-order and repeated messages bind nothing', () => {
  const w = generateWallet();
  const ih = infoHash();
  const { a, peerKey: bKey } = awaitingProof(ih);
  a.receive(encodeCreditMessage({ type: 'id_proof', wallet: w.publicKey, sig: new Uint8Array(64) }));
  a.receive(proof(ih, w, bKey, a.key));
  assert.equal(a.identity, null);
  // A proof before the keys were exchanged: the extension ends on this connection.
  const early = new IdentityBinding({ infoHash: ih, signer: null });
  early.receive(encodeCreditMessage({ type: 'id_proof', wallet: w.publicKey, sig: new Uint8Array(64) }));
  assert.equal(early.state, 'ended');
  // A second id_init ends it too, and a bound identity goes with it.
  const { a: bound } = pair(ih, null, walletSigner(w));
  assert.equal(bound.identity, w.address);
  bound.receive(encodeCreditMessage({ type: 'id_init', pk: new Uint8Array(32) }));
  assert.equal(bound.identity, null);
  assert.equal(bound.state, 'ended');
  assert.ok(bound.reason instanceof RatioError && bound.reason.code === 'UNEXPECTED_MESSAGE');
});

test('property: any payloads before and after the keys never throw and never bind an identity', () => {
  const ih = infoHash();
  const arbMsg = fc.oneof(
    fc.uint8Array({ maxLength: 700 }),
    fc.record({ wallet: fc.uint8Array({ minLength: 32, maxLength: 32 }), sig: fc.uint8Array({ minLength: 64, maxLength: 64 }) })
      .map(({ wallet, sig }) => encodeCreditMessage({ type: 'id_proof', wallet, sig })),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((pk) => encodeCreditMessage({ type: 'id_init', pk })),
  );
  fc.assert(fc.property(fc.array(arbMsg, { maxLength: 12 }), fc.boolean(), (msgs, supports) => {
    const a = new IdentityBinding({ infoHash: ih, signer: null });
    if (supports) a.peerSupports();
    for (const m of msgs) a.receive(m);
    assert.equal(a.identity, null);
  }), { numRuns: 300 });
});

test('codec: exact lengths, bounded size, strict bencode; unknown types pass as unknown', () => {
  const pk = new Uint8Array(32).fill(7);
  assert.deepEqual(decodeCreditMessage(encodeCreditMessage({ type: 'id_init', pk })), { type: 'id_init', pk });
  const bad = (b: Uint8Array | string, code: string): void => {
    assert.throws(() => decodeCreditMessage(typeof b === 'string' ? new TextEncoder().encode(b) : b), (e: unknown) => e instanceof RatioError && e.code === code);
  };
  bad('d2:pk3:abc4:type7:id_inite', 'BAD_LENGTH');
  bad('d4:type7:id_inite', 'MISSING_KEY');
  bad('d2:pki1e4:type7:id_inite', 'WRONG_TYPE');
  bad('d4:type7:id_init2:pk32:' + 'x'.repeat(32) + 'e', 'NOT_BENCODE'); // keys out of order
  bad('li1ee', 'NOT_A_DICT');
  bad(new Uint8Array(513), 'TOO_LARGE');
  assert.deepEqual(decodeCreditMessage(new TextEncoder().encode('d4:type12:credit_statee')), { type: 'unknown', name: 'credit_state' });
});

test('domain separation: a credit statement and the seller\'s session signature never verify as each other', () => {
  const w = generateWallet();
  const ih = infoHash();
  const k1 = new Uint8Array(crypto.randomBytes(32));
  const k2 = new Uint8Array(crypto.randomBytes(32));
  const terms = new TextEncoder().encode('d1:vi1ee');
  const session = buildTranscript({ infoHash: ih, sellerPublic: k1, buyerPublic: k2, termsBencoded: terms });
  const credit = creditIdMessage({ infoHash: ih, proverKey: k1, verifierKey: k2 });
  const sessionSig = signTranscript(w.seed, session);
  const creditSig = signCreditId(w.seed, credit);
  assert.equal(verifyCreditId(w.publicKey, credit, sessionSig), false);
  assert.equal(verifyTranscript(w.publicKey, session, creditSig), false);
  assert.equal(verifyCreditId(w.publicKey, credit, creditSig), true);
  assert.equal(bs58.encode(w.publicKey), w.address);
  // The tags differ within their first 12 bytes: neither message is a prefix of the other.
  assert.notDeepEqual(credit.subarray(0, 12), session.subarray(0, 12));
});
