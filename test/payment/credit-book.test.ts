/**
 * The node's credit book (payment/credit-book.ts) over a real journal: earnings
 * accumulate and are journaled on flush and at the flush threshold; balances come back
 * after a reopen and through a compaction; a journal without records is read as
 * empty; the bounds hold (identities, strikes, the cap) — each an attack test; credit
 * drawn by paid sessions is set aside, journaled as spent, returned when unspent, and
 * expires after the lifetime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CreditBook, type CreditBalance } from '../../payment/credit-book.js';
import { JournalError } from '../../payment/journal-format.js';
import { Journal } from '../../payment/journal.js';
import { key, NOW, testOpts, tmpJournal } from './journal-fixtures.js';

const ih = new Uint8Array(crypto.randomBytes(20));
const ih2 = new Uint8Array(crypto.randomBytes(20));

/** `body` with a journal opened in a fresh directory (at `path`), removed afterwards. */
async function withJournal(body: (j: Journal, path: string) => Promise<void>): Promise<void> {
  const t = await tmpJournal('credit-book-');
  try {
    await body(await Journal.open(t.path, testOpts()), t.path);
  } finally {
    await t.done();
  }
}

/** Earned and strikes of a balance. */
const es = (b: CreditBalance): { earned: bigint; strikes: number } => ({ earned: b.earned, strikes: b.strikes });

test('earnings accumulate in memory, are journaled by flush (one record per identity and torrent) and come back on reopen and after a compaction', () => withJournal(async (j, path) => {
  const book = new CreditBook(j, { now: () => NOW });
  const w = key();
  book.earn(w, 16_384, ih);
  book.earn(w, 16_384, ih);
  book.earn(w, 100, ih2);
  assert.deepEqual(es(book.balanceOf(w)), { earned: 32_868n, strikes: 0 }, 'what is not on disk yet counts');
  assert.equal(j.ratioBooks().size, 0);
  await book.flush();
  assert.deepEqual(j.records().map((r) => r.kind), ['ratio_earned', 'ratio_earned']);
  assert.equal(j.ratioBooks().get(w)?.earned, 32_868n);
  book.earn(w, 0, ih); // nothing earned: no record
  book.earn(w, -5, ih);
  await book.flush();
  assert.equal(j.records().length, 2);
  await j.compact();
  await book.close();
  await j.close();
  const again = await CreditBook.open(path, { journal: testOpts() });
  assert.deepEqual(es(again.balanceOf(w)), { earned: 32_868n, strikes: 0 });
  await again.close();
}));

test('an identity reaching flushBytes is journaled at once', () => withJournal(async (j) => {
  const book = new CreditBook(j, { flushBytes: 1000 });
  const w = key();
  book.earn(w, 999, ih);
  book.earn(w, 1, ih);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(j.ratioBooks().get(w)?.earned, 1000n);
  await book.close();
  await j.close();
}));

test('attack: a flood of new identities beyond maxIdentities earns nothing; known ones keep earning', () => withJournal(async (j, path) => {
  const book = new CreditBook(j, { maxIdentities: 3 });
  const ids = [key(), key(), key(), key(), key()];
  for (const id of ids) book.earn(id, 10, ih);
  book.earn(ids[0], 5, ih);
  await book.flush();
  assert.deepEqual([...j.ratioBooks().keys()].sort(), ids.slice(0, 3).sort());
  assert.equal(book.balanceOf(ids[0]).earned, 15n);
  assert.equal(book.balanceOf(ids[4]).earned, 0n);
  await book.close();
  await j.close();
  // The bound holds across a restart: the book counts the identities the journal has.
  const again = await CreditBook.open(path, { maxIdentities: 3, journal: testOpts() });
  again.earn(ids[4], 10, ih);
  again.strike(ids[4], ih);
  await again.flush();
  assert.equal(again.durable().has(ids[4]), false);
  await again.close();
}));

test('attack: an identity with maxStrikes strikes earns nothing more, and its strikes stop growing the journal', () => withJournal(async (j) => {
  const book = new CreditBook(j, { maxStrikes: 2 });
  const w = key();
  book.earn(w, 100, ih);
  book.strike(w, ih);
  book.earn(w, 100, ih);
  book.strike(w, ih);
  for (let i = 0; i < 50; i++) book.strike(w, ih);
  book.earn(w, 1000, ih); // struck out: not counted
  await book.flush();
  assert.deepEqual(es(book.balanceOf(w)), { earned: 200n, strikes: 2 });
  assert.equal(j.records().filter((r) => r.kind === 'ratio_strike').length, 2);
  await book.close();
  await j.close();
}));

test('a journal that fails loses the credit being written, reported, never a crash', () => withJournal(async (j) => {
  const errors: Error[] = [];
  const book = new CreditBook(j, { onError: (e) => errors.push(e) });
  await j.close(); // appends are refused from now on
  book.earn(key(), 10, ih);
  book.strike(key(), ih);
  await book.flush();
  assert.equal(errors.length, 2);
}));

const session = (n: number): string => n.toString(16).padStart(64, '0');
const ihHex = Buffer.from(ih).toString('hex');

test('a session draws credit: set aside at once, journaled as spent, the rest back on release; a restart keeps what is left', () => withJournal(async (j, path) => {
  const book = new CreditBook(j, { now: () => NOW });
  const w = key();
  book.earn(w, 1000, ih);
  const r = book.reserve(w, 600n, ihHex, session(1));
  assert.ok(r !== null);
  assert.equal(r.granted, 600n);
  assert.deepEqual([book.balanceOf(w).held, book.balanceOf(w).available], [1000n, 400n], 'set aside, still held');
  r.spend(250n);
  r.spend(100n); // cumulative: never goes down
  assert.deepEqual([book.balanceOf(w).held, book.balanceOf(w).available], [750n, 400n]);
  await book.flush();
  assert.deepEqual(j.records().map((x) => x.kind), ['ratio_earned', 'ratio_spent'], 'earnings written before the spend');
  r.spend(10_000n); // beyond the grant: capped at it
  await r.release();
  assert.deepEqual([book.balanceOf(w).held, book.balanceOf(w).available], [400n, 400n]);
  await book.close();
  await j.compact();
  await j.close();
  const again = await CreditBook.open(path, { journal: testOpts(), now: () => NOW });
  assert.deepEqual([again.balanceOf(w).earned, again.balanceOf(w).spent, again.balanceOf(w).available], [1000n, 600n, 400n]);
  await again.close();
}));

test('attack: two sessions of one identity never draw the same credit', () => withJournal(async (j) => {
  const book = new CreditBook(j);
  const w = key();
  book.earn(w, 1000, ih);
  const a = book.reserve(w, 800n, ihHex, session(1));
  const b = book.reserve(w, 800n, ihHex, session(2));
  const c = book.reserve(w, 800n, ihHex, session(3));
  assert.deepEqual([a?.granted, b?.granted, c], [800n, 200n, null]);
  a!.spend(800n);
  b!.spend(200n);
  await a!.release();
  await b!.release();
  assert.deepEqual([book.balanceOf(w).held, book.balanceOf(w).available], [0n, 0n]);
  assert.equal(book.reserve(w, 1n, ihHex, session(4)), null);
  await book.close();
}));

test('attack: the journal refuses a spend or an expiry of more than an identity holds', () => withJournal(async (j) => {
  const w = key();
  await j.append({ kind: 'ratio_earned', identity: w, bytes: 100n, infoHash: ihHex, time: NOW });
  await assert.rejects(j.append({ kind: 'ratio_spent', identity: w, bytes: 101n, infoHash: ihHex, sessionHash: session(1), time: NOW }),
    (e: unknown) => e instanceof JournalError && e.code === 'OVERDRAWN');
  await assert.rejects(j.append({ kind: 'ratio_expired', identity: key(), bytes: 1n, time: NOW }),
    (e: unknown) => e instanceof JournalError && e.code === 'OVERDRAWN');
  await j.append({ kind: 'ratio_spent', identity: w, bytes: 100n, infoHash: ihHex, sessionHash: session(1), time: NOW });
  assert.equal(j.ratioOf(w)?.spent, 100n);
}));

test('attack: credit never exceeds the cap, whatever is uploaded, across flushes and a restart', () => withJournal(async (j, path) => {
  const book = new CreditBook(j, { cap: 5000n, flushBytes: 1024 });
  const w = key();
  for (let i = 0; i < 20; i++) book.earn(w, 700, i % 2 === 0 ? ih : ih2);
  assert.equal(book.balanceOf(w).held, 5000n);
  await book.flush();
  assert.equal(j.ratioOf(w)?.earned, 5000n, 'only what fits is journaled');
  const r = book.reserve(w, 3000n, ihHex, session(1))!;
  r.spend(3000n);
  await r.release();
  book.earn(w, 10_000, ih); // room again: up to the cap
  assert.equal(book.balanceOf(w).held, 5000n);
  await book.close();
  await j.close();
  const again = await CreditBook.open(path, { cap: 5000n, journal: testOpts() });
  assert.equal(again.balanceOf(w).held, 5000n);
  again.earn(w, 1, ih);
  assert.equal(again.balanceOf(w).held, 5000n);
  await again.close();
}));

test('credit of an identity that stopped earning expires after ttlSeconds, and is written off before it earns again', () => withJournal(async (j) => {
  let now = NOW;
  const book = new CreditBook(j, { ttlSeconds: 60, now: () => now });
  const w = key();
  book.earn(w, 1000, ih);
  await book.flush();
  now += 59_000;
  assert.equal(book.balanceOf(w).available, 1000n, 'not yet');
  now += 2000;
  assert.equal(book.balanceOf(w).available, 0n, 'expired');
  assert.equal(book.reserve(w, 10n, ihHex, session(1)), null);
  book.earn(w, 300, ih);
  await book.flush();
  const b = book.balanceOf(w);
  assert.deepEqual([b.earned, b.spent, b.held, b.available], [1300n, 1000n, 300n, 300n], 'the old credit does not come back');
  assert.ok(j.records().some((r) => r.kind === 'ratio_expired' && r.bytes === 1000n));
  await book.close();
}));

test('property: held = earned − spent ≥ 0, available ≤ held, and the sessions never spend more than was earned (any interleaving)', async () => {
  const fc = (await import('fast-check')).default;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.oneof(
      fc.record({ k: fc.constant('earn' as const), n: fc.integer({ min: 1, max: 5000 }) }),
      fc.record({ k: fc.constant('reserve' as const), n: fc.integer({ min: 1, max: 8000 }) }),
      fc.record({ k: fc.constant('spend' as const), i: fc.nat(5), n: fc.integer({ min: 0, max: 8000 }) }),
      fc.record({ k: fc.constant('release' as const), i: fc.nat(5) }),
      fc.constant({ k: 'flush' as const }),
    ), { maxLength: 40 }),
    async (ops) => withJournal(async (j) => {
      const book = new CreditBook(j, { cap: 20_000n });
      const w = key();
      const rs: NonNullable<ReturnType<CreditBook['reserve']>>[] = [];
      let earned = 0n;
      for (const o of ops) {
        if (o.k === 'earn') { const before = book.balanceOf(w).held; book.earn(w, o.n, ih); earned += book.balanceOf(w).held - before; }
        else if (o.k === 'reserve') { const r = book.reserve(w, BigInt(o.n), ihHex, session(rs.length + 1)); if (r) rs.push(r); }
        else if (o.k === 'spend') rs[o.i % Math.max(1, rs.length)]?.spend(rs[o.i % Math.max(1, rs.length)]!.used + BigInt(o.n));
        else if (o.k === 'release') await rs[o.i % Math.max(1, rs.length)]?.release();
        else await book.flush();
        const b = book.balanceOf(w);
        assert.ok(b.held >= 0n && b.available <= b.held && b.held <= 20_000n);
        assert.equal(b.held, b.earned - b.spent);
      }
      await book.close();
      const spent = rs.reduce((a, r) => a + r.used, 0n);
      assert.ok(spent <= earned, `spent ${spent} of ${earned}`);
      assert.equal(j.ratioOf(w)?.spent ?? 0n, spent, 'every spend journaled by close');
    }),
  ), { numRuns: 40 });
});
