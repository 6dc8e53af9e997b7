/**
 * Ratio credits one hop away (docs/PROTOCOL.md §10, "Beyond one node"), sans-IO: the
 * `credit_statement` codec, the holder's store (ours only, signature checked, latest
 * per issuer, bounded), what a verifier credits (only a trusted issuer's statement
 * naming the identity bound on the connection; never its own, never the presenter's
 * own), and the credit book's arithmetic (discount, the increase only, the issuer's
 * budget, the cap) — each refusal an attack test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import bs58 from 'bs58';
import { encode } from '../../wire/bencode.js';
import { decodeCreditMessage, encodeCreditMessage, RatioError, type CreditStatement } from '../../extensions/ratio/messages.js';
import { checkPresented, issueStatement, StatementStore, trustMap, DEFAULT_TRUST } from '../../extensions/ratio/statements.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { creditIdMessage } from '../../payment/credit-identity.js';
import { generateWallet } from '../../payment/session.js';
import { CreditBook } from '../../payment/credit-book.js';
import { Journal } from '../../payment/journal.js';
import { testOpts, tmpJournal } from '../payment/journal-fixtures.js';

const issuer = generateWallet();
const holder = generateWallet();
const T = 1_700_000_000_000;

test('credit_statement: round trip; wrong lengths, out-of-range totals or times are typed errors', () => {
  const s = issueStatement(walletSigner(issuer), holder.address, 12_345n, T);
  assert.deepEqual(decodeCreditMessage(encodeCreditMessage(s)), s);
  const bad = [
    { ...s, issuer: s.issuer.subarray(0, 31) }, { ...s, sig: s.sig.subarray(0, 63) },
    { ...s, total: -1n }, { ...s, total: 1n << 64n }, { ...s, time: 1n << 60n },
  ];
  for (const b of bad) {
    const d: Record<string, unknown> = { ...b };
    if (typeof d.time === 'number') d.time = BigInt(d.time as number);
    assert.throws(() => decodeCreditMessage(new Uint8Array(encode(d as never))), RatioError);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    try { decodeCreditMessage(bytes); } catch (e) { assert.ok(e instanceof RatioError); }
  }));
});

test('the holder keeps only statements naming its wallet with a valid issuer signature, the latest per issuer, bounded', () => {
  const store = new StatementStore(holder.address, 3);
  const s1 = issueStatement(walletSigner(issuer), holder.address, 100n, T);
  assert.equal(store.add(s1), true);
  assert.equal(store.add(issueStatement(walletSigner(issuer), holder.address, 50n, T + 1)), false, 'a lower total: kept the higher');
  assert.equal(store.add(issueStatement(walletSigner(issuer), generateWallet().address, 1000n, T)), false, 'names another wallet');
  const forged: CreditStatement = { ...issueStatement(walletSigner(generateWallet()), holder.address, 10n ** 9n, T), issuer: bs58.decode(issuer.address) };
  assert.equal(store.add(forged), false, 'signed by another key than the issuer it names');
  assert.equal(store.add(issueStatement(walletSigner(holder), holder.address, 5n, T)), false, 'our own statement about ourselves');
  for (let i = 0; i < 4; i++) store.add(issueStatement(walletSigner(generateWallet()), holder.address, BigInt(200 + i), T));
  assert.equal(store.size, 3);
  assert.deepEqual(store.best().map((s) => s.total), [203n, 202n, 201n], 'the lowest totals went first');
  assert.equal(store.best(8, bs58.encode(store.best()[0].issuer)).length, 2, 'not presented to its own issuer');
});

test('attack: a verifier credits only a trusted issuer\'s statement naming the presenter (never its own, never the presenter\'s own)', () => {
  const self = generateWallet();
  const trusted = trustMap([issuer.address, holder.address]);
  const good = issueStatement(walletSigner(issuer), holder.address, 4096n, T);
  assert.deepEqual(checkPresented(good, holder.address, trusted, self.address), { issuer: issuer.address, rule: DEFAULT_TRUST });
  assert.equal(checkPresented(good, holder.address, trustMap([]), self.address), null, 'issuer not trusted');
  assert.equal(checkPresented(good, generateWallet().address, trusted, self.address), null, 'presented by someone it does not name');
  assert.equal(checkPresented(issueStatement(walletSigner(holder), issuer.address, 1n, T), holder.address, trusted, null), null, 'about another identity');
  assert.equal(checkPresented(good, holder.address, trusted, issuer.address), null, 'our own statement');
  const sybil = generateWallet();
  assert.equal(checkPresented(issueStatement(walletSigner(sybil), holder.address, 10n ** 12n, T), holder.address, trusted, null), null, 'a Sybil issuer');
  const relabelled: CreditStatement = { ...issueStatement(walletSigner(sybil), holder.address, 10n ** 12n, T), issuer: bs58.decode(issuer.address) };
  assert.equal(checkPresented(relabelled, holder.address, trusted, null), null, 'a Sybil signature under a trusted name');
  // Domain separation: an identity proof's signature is not a statement.
  const idSig = walletSigner(issuer).sign(creditIdMessage({ infoHash: new Uint8Array(20), proverKey: new Uint8Array(32), verifierKey: new Uint8Array(32) }));
  assert.equal(checkPresented({ ...good, sig: idSig }, holder.address, trusted, null), null);
});

test('the book credits the increase of a statement\'s total at the discount, once, within the issuer\'s budget and the cap; a restart keeps it', async () => {
  const t = await tmpJournal('vouch-');
  try {
    const j = await Journal.open(t.path, testOpts());
    const book = new CreditBook(j, { cap: 10_000n });
    const rule = { discount: [1n, 4n] as const, budget: 3000n };
    assert.equal(book.vouch(holder.address, issuer.address, 4000n, rule), 1000n);
    assert.equal(book.vouch(holder.address, issuer.address, 4000n, rule), 0n, 'the same statement again');
    assert.equal(book.vouch(holder.address, issuer.address, 3000n, rule), 0n, 'an older one');
    assert.equal(book.vouch(holder.address, issuer.address, 8000n, rule), 1000n, 'the increase only');
    assert.equal(book.vouch(generateWallet().address, issuer.address, 40_000n, rule), 1000n, 'the issuer\'s budget is spent');
    assert.equal(book.vouch(generateWallet().address, issuer.address, 40_000n, rule), 0n);
    assert.equal(book.vouch(issuer.address, issuer.address, 40_000n, rule), 0n, 'no issuer vouches for itself');
    const other = generateWallet();
    assert.equal(book.vouch(holder.address, other.address, 1n << 40n, { discount: [1n, 1n], budget: 1n << 50n }), 8000n, 'held up to the cap');
    const b = book.balanceOf(holder.address);
    assert.deepEqual([b.earned, b.vouched, b.held], [0n, 10_000n, 10_000n]);
    await book.close();
    await j.compact();
    await j.close();
    const again = await CreditBook.open(t.path, { journal: testOpts() });
    assert.equal(again.balanceOf(holder.address).vouched, 10_000n);
    assert.equal(again.vouch(holder.address, issuer.address, 8000n, rule), 0n, 'redeemed totals survive the restart and the compaction');
    await again.close();
  } finally {
    await t.done();
  }
});
