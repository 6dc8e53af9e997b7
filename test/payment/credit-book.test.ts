/**
 * The node's credit book (payment/credit-book.ts) over a real journal: earnings
 * accumulate and are journaled on flush and at the flush threshold; balances come back
 * after a reopen and through a compaction; a journal without records is read as
 * empty; the bounds hold (identities, strikes) — each an attack test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { CreditBook } from '../../payment/credit-book.js';
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

test('earnings accumulate in memory, are journaled by flush (one record per identity and torrent) and come back on reopen and after a compaction', () => withJournal(async (j, path) => {
  const book = new CreditBook(j, { now: () => NOW });
  const w = key();
  book.earn(w, 16_384, ih);
  book.earn(w, 16_384, ih);
  book.earn(w, 100, ih2);
  assert.deepEqual(book.balanceOf(w), { earned: 32_868n, strikes: 0 }, 'what is not on disk yet counts');
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
  assert.deepEqual(again.balanceOf(w), { earned: 32_868n, strikes: 0 });
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
  assert.deepEqual(book.balanceOf(w), { earned: 200n, strikes: 2 });
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
