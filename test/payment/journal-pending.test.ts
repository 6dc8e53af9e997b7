/**
 * The buyer's pending payments (docs/PROTOCOL.md §7): `payment_pending` written before
 * a transaction is sent, settled by its `payment` (it landed) or a `payment_void` (it
 * provably never moved money). Format, books, budgets (spentOn), compaction, and a
 * crash before the send resolved by the next run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import {
  Journal, JournalError, MAGIC, checkRecord, encodeFrame, readJournal, scanJournal,
  type JournalRecord, type PaymentPendingRecord, type PaymentRecord, type PaymentVoidRecord,
} from '../../payment/journal.js';
import { MAX_RECORD_BODY } from '../../payment/journal-format.js';
import { settlePending } from '../../payment/payer.js';
import { DAY, hex, key, NOW, rejectsCode, sig, testOpts, tmpJournal } from './journal-fixtures.js';


const SELLER = key();
const MINT = key();
const INFO = hex(20);

function pending(over: Partial<PaymentPendingRecord> = {}): PaymentPendingRecord {
  return {
    kind: 'payment_pending', signature: sig(), amount: 25_000n, seller: SELLER, mint: MINT, infoHash: INFO, sessionHash: hex(32),
    lastValidBlockHeight: 1_000, time: NOW, ...over,
  };
}
const landed = (p: PaymentPendingRecord, time = NOW + 1): PaymentRecord => ({
  kind: 'payment', signature: p.signature, amount: p.amount, seller: p.seller, infoHash: p.infoHash, sessionHash: p.sessionHash, time,
});
const voided = (p: PaymentPendingRecord, reason: PaymentVoidRecord['reason'] = 'expired'): PaymentVoidRecord => ({
  kind: 'payment_void', signature: p.signature, reason, time: NOW + 2,
});

const tmp = (): ReturnType<typeof tmpJournal> => tmpJournal('seedpay-pending-');
const opts = testOpts;

/** What a buyer asks its journal about money. */
function money(j: Journal): Record<string, unknown> {
  const s = j.summary();
  return {
    spentOn: j.spentOn(INFO), spentBySeller: s.spentBySeller, spentByTorrent: s.spentByTorrent, totals: s.totals,
    pending: j.pendingPayments().map((r) => r.signature),
  };
}

test('format: pending and void records round-trip; bad fields are BAD_RECORD; bodies stay far below the bound', () => {
  const p = pending({ amount: (1n << 64n) - 1n, lastValidBlockHeight: Number.MAX_SAFE_INTEGER });
  const v = voided(p, 'refused');
  const file = Buffer.concat([MAGIC, encodeFrame(p), encodeFrame(v)]);
  assert.deepEqual(scanJournal(file).records, [p, v]);
  assert.ok(encodeFrame(p).length < MAX_RECORD_BODY / 8, 'a few hundred bytes');
  const bad: unknown[] = [
    { ...p, lastValidBlockHeight: -1 }, { ...p, lastValidBlockHeight: 1.5 }, { ...p, lastValidBlockHeight: '7' },
    { ...p, mint: undefined }, { ...p, mint: 'not base58 0OIl' }, { ...p, amount: (1n << 64n).toString() }, { ...p, signature: 'x' },
    { ...v, reason: 'maybe' }, { ...v, reason: undefined }, { ...v, signature: key() },
  ];
  for (const b of bad) assert.throws(() => checkRecord(b), (e: unknown) => e instanceof JournalError && e.code === 'BAD_RECORD', JSON.stringify(b, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)));
  // Only known fields are kept.
  assert.deepEqual(checkRecord({ ...v, amount: '5', extra: 1 }), v);
});

test('books: a pending payment counts as spent until it lands (no double count) or is voided (freed); settlements are checked', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path, opts());
    const a = pending({ amount: 100n });
    const b = pending({ amount: 40n });
    const c = pending({ amount: 7n });
    await j.append(a);
    await j.append(b);
    await j.append(c);
    assert.equal(j.spentOn(INFO), 147n, 'pending counts as spent');
    assert.equal(j.summary().spentBySeller.get(SELLER), 147n);
    assert.deepEqual(j.pendingPayments(), [a, b, c]);
    assert.deepEqual(j.pendingPayment(a.signature), a);
    await rejectsCode(j.append({ ...a, time: NOW + 5 }), 'DUPLICATE_SIGNATURE');
    await rejectsCode(j.append({ ...landed(a), amount: 99n }), 'NOT_PENDING');
    await rejectsCode(j.append(voided(pending())), 'NOT_PENDING');

    await j.append(landed(a)); // it landed
    await j.append(voided(b)); // it never will
    assert.equal(j.spentOn(INFO), 107n, 'the landed one counted once, the voided one freed');
    assert.equal(j.hasPayment(a.signature), true);
    assert.equal(j.pendingPayment(a.signature), undefined);
    assert.deepEqual(j.pendingPayments(), [c]);
    assert.equal(j.summary().totals.payments, 1);
    assert.equal(j.summary().totals.spent, 107n);
    await rejectsCode(j.append(voided(a)), 'NOT_PENDING');
    await rejectsCode(j.append(voided(b)), 'NOT_PENDING');
    await rejectsCode(j.append(landed(a)), 'DUPLICATE_SIGNATURE');
    // A voided payment that lands after all (an RPC that did not know it): counted again.
    await j.append(landed(b));
    assert.equal(j.spentOn(INFO), 147n);
    // Voiding the last pending payment of a seller leaves no zero entry.
    const other = key();
    const d = pending({ seller: other, infoHash: hex(20), amount: 3n });
    await j.append(d);
    await j.append(voided(d, 'failed'));
    assert.equal(j.summary().spentBySeller.has(other), false);
    assert.equal(j.summary().spentByTorrent.has(d.infoHash), false);
    const before = money(j);
    await j.close();

    const k = await Journal.open(t.path, opts());
    assert.deepEqual(money(k), before, 'rebuilt the same on open');
    assert.deepEqual(k.pendingPayment(c.signature), c);
    await k.close();
    const r = await readJournal(t.path);
    assert.equal(r.summary.totals.spent, 147n);
  } finally {
    await t.done();
  }
});

test('compaction keeps unsettled pending payments whatever their age, drops settled ones, and a settlement after it counts right', async () => {
  const t = await tmp();
  try {
    const OLD = NOW - 3 * DAY; // past the 24 h horizon
    const j = await Journal.open(t.path, opts());
    const oldPending = pending({ time: OLD, amount: 11n });
    const oldLanded = pending({ time: OLD, amount: 13n });
    const oldVoided = pending({ time: OLD, amount: 17n });
    const recent = pending({ amount: 19n });
    for (const r of [oldPending, oldLanded, oldVoided, recent]) await j.append(r);
    await j.append(landed(oldLanded, OLD + 1));
    await j.append({ ...voided(oldVoided), time: OLD + 2 });
    const before = money(j);
    assert.equal(before.spentOn, 11n + 13n + 19n);
    const res = await j.compact();
    assert.equal(res.signaturesKept, 2, 'the two unsettled pending payments');
    assert.deepEqual(money(j), before, 'same answers after compaction');
    assert.deepEqual(j.records(), [oldPending, recent]);
    assert.equal(j.hasPayment(oldLanded.signature), false, 'past the horizon, as any payment');
    await j.close();

    const k = await Journal.open(t.path, opts());
    assert.deepEqual(money(k), before, 'same answers after reopen');
    assert.deepEqual(k.pendingPayments(), [oldPending, recent]);
    // Still refused twice; still settled once, the right way.
    await rejectsCode(k.append(oldPending), 'DUPLICATE_SIGNATURE');
    await k.append(voided(oldPending));
    await k.append(landed(recent));
    assert.equal(k.spentOn(INFO), 13n + 19n);
    assert.deepEqual(k.pendingPayments(), []);
    // Compacted again with the settlements in the tail, then reopened.
    const after = money(k);
    await k.compact();
    assert.deepEqual(money(k), after);
    await k.close();
    const m = await Journal.open(t.path, opts());
    assert.deepEqual(money(m), after);
    assert.equal(m.summary().totals.payments, 2);
    await m.close();
  } finally {
    await t.done();
  }
});

test('a compaction that runs while a settlement is being written keeps the pending record and the tail settles it', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path, opts());
    const p = pending({ amount: 5n, time: NOW - 3 * DAY });
    await j.append(p);
    const compacting = j.compact();
    const settling = j.append(voided(p));
    await Promise.all([compacting, settling]);
    assert.equal(j.spentOn(INFO), 0n);
    await j.close();
    const k = await Journal.open(t.path, opts());
    assert.equal(k.spentOn(INFO), 0n);
    assert.deepEqual(k.pendingPayments(), []);
    await k.close();
  } finally {
    await t.done();
  }
});

test('a crash before the send leaves a pending record; the next run settles it as never landed once its blockhash expired', async () => {
  const t = await tmp();
  try {
    // Run 1: the payer journaled the signed transaction, then the process died before sending it.
    const j = await Journal.open(t.path, opts());
    const p = pending({ amount: 500n, lastValidBlockHeight: 2_000 });
    await j.append(p);
    // (no close: a crash; the record was fsync'd). Run 2 reads the file as the crash left it.
    const run2 = t.path + '.run2';
    await copyFile(t.path, run2);
    const k = await Journal.open(run2, opts());
    assert.deepEqual(k.pendingPayments(), [p]);
    assert.equal(k.spentOn(INFO), 500n, 'counted as spent while its fate is unknown');
    let height = 2_000;
    const chain = {
      blockHeight: async (): Promise<number> => height,
      signatureStatuses: async (s: readonly string[]): Promise<null[]> => s.map(() => null),
    };
    // Unknown to the cluster, blockhash still valid: it could still land.
    assert.deepEqual((await settlePending(chain, k, k.pendingPayments())).map((f) => f.state), ['pending']);
    assert.equal(k.spentOn(INFO), 500n);
    height = 2_001;
    const fates = await settlePending(chain, k, k.pendingPayments(), () => NOW + 9);
    assert.deepEqual(fates.map((f) => [f.state, f.state === 'void' ? f.reason : null]), [['void', 'expired']]);
    assert.equal(k.spentOn(INFO), 0n, 'its budget is free');
    assert.deepEqual(k.records().at(-1), { kind: 'payment_void', signature: p.signature, reason: 'expired', time: NOW + 9 });
    // Settled once: a second look finds it void and writes nothing.
    const n = k.records().length;
    assert.deepEqual((await settlePending(chain, k, [p])).map((f) => f.state), ['void']);
    assert.equal(k.records().length, n);
    await k.close();
    await j.close().catch(() => undefined);
  } finally {
    await t.done();
  }
});

test('settlePending: landed → payment; landed with an error → void(failed); processed → still pending; an RPC failure changes nothing', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path, opts());
    const [ok, failed, processing] = [pending({ amount: 1n }), pending({ amount: 2n }), pending({ amount: 4n })];
    for (const r of [ok, failed, processing]) await j.append(r);
    const status = new Map<string, { err: unknown; confirmationStatus: string }>([
      [ok.signature, { err: null, confirmationStatus: 'finalized' }],
      [failed.signature, { err: { InstructionError: [1, 'Custom'] }, confirmationStatus: 'confirmed' }],
      [processing.signature, { err: null, confirmationStatus: 'processed' }],
    ]);
    const down = {
      blockHeight: async (): Promise<number> => { throw new Error('503'); },
      signatureStatuses: async (): Promise<never> => { throw new Error('503'); },
    };
    assert.deepEqual((await settlePending(down, j, j.pendingPayments())).map((f) => f.state), ['pending', 'pending', 'pending']);
    const chain = {
      blockHeight: async (): Promise<number> => 1_000_000, // past every lastValidBlockHeight: only unknown ones expire
      signatureStatuses: async (s: readonly string[]) => s.map((x) => (status.get(x) ?? null) as never),
    };
    const fates = await settlePending(chain, j, j.pendingPayments());
    assert.deepEqual(fates.map((f) => f.state), ['landed', 'void', 'pending']);
    assert.equal(j.hasPayment(ok.signature), true);
    const rec = j.records().find((r): r is PaymentRecord => r.kind === 'payment')!;
    assert.deepEqual({ ...rec, time: 0 }, { ...landed(ok), time: 0 });
    assert.deepEqual(j.pendingPayments(), [processing]);
    assert.equal(j.spentOn(INFO), 1n + 4n);
    const kinds: JournalRecord['kind'][] = j.records().map((r) => r.kind);
    assert.deepEqual(kinds, ['payment_pending', 'payment_pending', 'payment_pending', 'payment', 'payment_void']);
    await j.close();
  } finally {
    await t.done();
  }
});
