/**
 * A journal of a million credits: opened once it is compacted, and from then on a
 * reopen reads the snapshot, not the history. Asserts on bytes read and on what is
 * held in memory, never on time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, JournalError, MAGIC, MAGIC_V2, encodeFrame, type CreditRecord, type JournalRecord } from '../../payment/journal.js';

const DAY = 24 * 60 * 60_000;
const NOW = 1_795_000_000_000;
const OLD = NOW - 30 * DAY;

const CREDITS = 1_000_000;
/** Credit i goes to session floor(i / PER_SESSION): 1000 sessions of 1000 credits. */
const PER_SESSION = 1000;
const SESSIONS = CREDITS / PER_SESSION;
/** The last credits are recent (the last two sessions); the rest are a month old. */
const RECENT = 2000;
/** Sessions 0..CHARGED-1 were served everything they paid for, a month ago: empty and idle. */
const CHARGED = 900;

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
/** A distinct base58 string for each n (cheaper than random signatures, a million times). */
function b58(n: number, len: number): string {
  let s = '';
  do {
    s = B58[n % 58] + s;
    n = Math.floor(n / 58);
  } while (n > 0);
  return s.padStart(len, '1');
}
const sigOf = (i: number): string => b58(i, 88);
const sessionOf = (k: number): string => k.toString(16).padStart(64, '0');
const payerOf = (k: number): string => b58(k, 40) + 'PAYR';
const SELLER = b58(7, 40) + 'SELL';
const INFO = 'ab'.repeat(20);

function creditAt(i: number): CreditRecord {
  const k = Math.floor(i / PER_SESSION);
  return {
    kind: 'credit', signature: sigOf(i), amount: BigInt(1 + (i % 7)), payer: payerOf(k), sessionHash: sessionOf(k),
    infoHash: INFO, seller: SELLER, time: i < CREDITS - RECENT ? OLD + i : NOW - 10 * 60_000 + (i - (CREDITS - RECENT)),
  };
}

/** Write the journal through the format functions, in big writes: no million fsyncs. */
async function buildJournal(path: string): Promise<{ earned: bigint[]; size: number }> {
  const earned = Array.from({ length: SESSIONS }, () => 0n);
  const fh = await open(path, 'w');
  let pos = 0;
  let parts: Uint8Array[] = [MAGIC];
  let size = MAGIC.length;
  const put = async (force: boolean): Promise<void> => {
    if (!force && size < 8 << 20) return;
    const buf = Buffer.concat(parts);
    await fh.write(buf, 0, buf.length, pos);
    pos += buf.length;
    parts = [];
    size = 0;
  };
  const add = async (r: JournalRecord): Promise<void> => {
    const f = encodeFrame(r);
    parts.push(f);
    size += f.length;
    await put(false);
  };
  for (let i = 0; i < CREDITS; i++) {
    const c = creditAt(i);
    earned[Math.floor(i / PER_SESSION)] += c.amount;
    await add(c);
  }
  for (let k = 0; k < CHARGED; k++) {
    await add({ kind: 'charge', sessionHash: sessionOf(k), infoHash: INFO, bytes: earned[k] << 20n, units: earned[k], time: OLD + CREDITS + k });
  }
  await put(true);
  await fh.close();
  return { earned, size: pos };
}

test('a million credits: compacted when opened; a reopen reads only the snapshot and holds only what can matter', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-scale-'));
  try {
    const path = join(dir, 'earnings.journal');
    const { earned, size } = await buildJournal(path);
    const total = earned.reduce((a, b) => a + b, 0n);
    const balance = (k: number): bigint => (k < CHARGED ? 0n : earned[k]);

    // First open: the whole history is read (streamed) and replayed, then compacted.
    const j = await Journal.open(path, { now: () => NOW });
    assert.equal(j.loadStats.bytesRead, size);
    assert.equal(j.loadStats.tailRecords, CREDITS + CHARGED);
    assert.equal(j.stats().compactions, 1, 'a tail this long is compacted on open');
    const totals = j.summary().totals;
    assert.deepEqual(totals, { earned: total, charged: earned.slice(0, CHARGED).reduce((a, b) => a + b, 0n), spent: 0n, credits: CREDITS, charges: CHARGED, payments: 0, transfers: 0 });
    for (let k = 0; k < SESSIONS; k++) assert.equal(j.balanceOf(sessionOf(k)), balance(k));
    const first = { ...j.stats(), heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20) };
    await j.close();

    const compacted = (await stat(path)).size;
    const k2 = await Journal.open(path, { now: () => NOW });
    try {
      // A reopen reads the snapshot: no history, no replay.
      assert.equal(k2.loadStats.bytesRead, compacted);
      assert.equal(k2.loadStats.tailRecords, 0);
      // What is kept: the recent credits whole (~420 bytes each), a few hundred bytes per
      // session still owed and per payer; nothing of the million old credits.
      const bound = RECENT * 500 + (SESSIONS - CHARGED) * 400 + SESSIONS * 150;
      assert.ok(compacted < bound, `snapshot ${compacted} bytes (bound ${bound}) vs journal ${size} bytes`);
      // Held in memory: the sessions that still owe (or were active within the horizon),
      // the signatures that could still be presented, and their records; not the history.
      const st = k2.stats();
      assert.equal(st.sessions, SESSIONS - CHARGED);
      assert.equal(st.signatures, RECENT);
      assert.equal(st.records, RECENT);
      // Every answer that matters is the same.
      assert.deepEqual(k2.summary().totals, totals);
      for (let k = 0; k < SESSIONS; k++) assert.equal(k2.balanceOf(sessionOf(k)), balance(k));
      for (let k = CHARGED; k < SESSIONS; k++) {
        assert.equal(k2.creditedFor(sessionOf(k)), earned[k]);
        assert.deepEqual([...k2.payersOf(sessionOf(k))], [payerOf(k)]);
      }
      const byPayer = k2.summary().earnedByPayer;
      assert.equal(byPayer.size, SESSIONS);
      for (let k = 0; k < SESSIONS; k++) assert.equal(byPayer.get(payerOf(k)), earned[k]);
      assert.equal(k2.hasSignature(sigOf(CREDITS - 1)), true);
      assert.equal(k2.hasSignature(sigOf(CREDITS - RECENT)), true);
      assert.equal(k2.hasSignature(sigOf(0)), false, 'a month old: could never be credited again');
      await assert.rejects(k2.append(creditAt(CREDITS - 1)), (e: unknown) => e instanceof JournalError && e.code === 'DUPLICATE_SIGNATURE');
      const head = Buffer.alloc(8);
      const fh = await open(path, 'r');
      await fh.read(head, 0, 8, 0);
      await fh.close();
      assert.deepEqual(head, Buffer.from(MAGIC_V2));
      t.diagnostic(`journal of ${CREDITS} credits + ${CHARGED} charges: ${size} bytes, ${first.heapMiB} MiB heap after the first open`);
      t.diagnostic(`after compaction: ${compacted} bytes; reopen read ${k2.loadStats.bytesRead} bytes in ${k2.loadStats.frames} frames, replayed ${k2.loadStats.tailRecords} records`);
      t.diagnostic(`held on reopen: ${st.sessions} sessions, ${st.signatures} signatures, ${st.records} records (before compaction: ${SESSIONS} sessions, ${CREDITS} signatures, ${CREDITS + CHARGED} records)`);
    } finally {
      await k2.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
