/**
 * Compaction: the snapshot format round trip, what a compaction keeps and forgets,
 * appends during one, the automatic trigger, damage, and a crash at any byte of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import fc from 'fast-check';
import {
  Journal, JournalError, MAGIC, MAGIC_V2, encodeFrame, scanJournal,
  type ChargeRecord, type CreditRecord, type JournalRecord, type PaymentRecord, type TransferRecord,
} from '../../payment/journal.js';
import { FRAME_HEADER, MAX_FRAME_BODY } from '../../payment/journal-format.js';
import { SnapshotWriter, type SnapshotItem } from '../../payment/journal-snapshot.js';
import { DAY, hex, key, NOW, rejectsCode, sig, testOpts, tmpJournal } from './journal-fixtures.js';


const OLD = NOW - 3 * DAY;
const SELLER = key();
const INFO = hex(20);

function credit(over: Partial<CreditRecord> = {}): CreditRecord {
  return { kind: 'credit', signature: sig(), amount: 10_000n, payer: key(), sessionHash: hex(32), infoHash: INFO, seller: SELLER, time: NOW, ...over };
}
function payment(over: Partial<PaymentRecord> = {}): PaymentRecord {
  return { kind: 'payment', signature: sig(), amount: 25_000n, seller: SELLER, infoHash: INFO, sessionHash: hex(32), time: NOW, ...over };
}
function charge(over: Partial<ChargeRecord> = {}): ChargeRecord {
  return { kind: 'charge', sessionHash: hex(32), infoHash: INFO, bytes: 16_384n, units: 2n, time: NOW, ...over };
}
function transfer(from: string, to: string, amount: bigint, payer: string, time = NOW): TransferRecord {
  return { kind: 'transfer', from, to, amount, payer, infoHash: INFO, time };
}

const tmp = (): ReturnType<typeof tmpJournal> => tmpJournal('seedpay-compact-');

const opts = testOpts;

/** Everything a caller can ask about one session. */
function sessionView(j: Journal, s: string): Record<string, unknown> {
  const sum = j.summary();
  return {
    balance: j.balanceOf(s), payers: [...j.payersOf(s)].sort(), credited: j.creditedFor(s), charged: j.chargedFor(s),
    earned: sum.earnedBySession.get(s), chargedBy: sum.chargedBySession.get(s), in: sum.movedInBySession.get(s), out: sum.movedOutBySession.get(s),
  };
}

/** The money of the whole journal: totals and per-wallet sums (what a compaction never changes). */
function moneyView(j: Journal): Record<string, unknown> {
  const s = j.summary();
  return { totals: s.totals, earnedByPayer: s.earnedByPayer, spentBySeller: s.spentBySeller, spentByTorrent: s.spentByTorrent };
}

test('snapshot round trip: items written in chunks scan back the same, every frame bounded, long payer lists split', () => {
  const many = Array.from({ length: 40 }, key);
  const items: SnapshotItem[] = [
    { t: 'session', session: hex(32), last: 7, earned: (1n << 70n) + 3n, charge: { bytes: (1n << 64n) - 1n, units: 5n }, in: 1n, out: 2n, payers: many.slice(0, 16) },
    { t: 'payers', session: '00'.repeat(32), payers: many.slice(16, 32) },
    { t: 'session', session: hex(32), last: 0, payers: [] },
    ...Array.from({ length: 3000 }, (_, i): SnapshotItem => ({ t: 'earned', payer: key(), amount: BigInt(i) })),
    { t: 'spent', seller: key(), amount: 9n },
    { t: 'torrent', infoHash: hex(20), amount: 9n },
    ...Array.from({ length: 300 }, (): SnapshotItem => ({ t: 'record', record: credit({ time: NOW - 5 }) })),
    { t: 'record', record: payment() },
  ];
  const header = { time: NOW, cut: NOW - DAY, maxTime: NOW, totals: { earned: 1n, charged: 2n, spent: 3n, credits: 4, charges: 5, payments: 6, transfers: 7 } };
  const w = new SnapshotWriter();
  const frames = [MAGIC_V2, SnapshotWriter.header(header)];
  for (const it of items) {
    const f = w.add(it);
    if (f) frames.push(f);
  }
  frames.push(...w.finish());
  for (const f of frames.slice(1)) assert.ok(f.length - FRAME_HEADER <= MAX_FRAME_BODY, 'bounded frame');
  assert.ok(frames.length > 6, `several chunks (${frames.length - 3})`);
  const file = Buffer.concat(frames);
  const scan = scanJournal(file);
  assert.deepEqual(scan.snapshot?.header, header);
  assert.deepEqual(scan.snapshot?.items, items);
  assert.equal(scan.goodEnd, file.length);
  assert.deepEqual(scan.records, []);
  // Records after the snapshot are its tail.
  const after = credit();
  const withTail = scanJournal(Buffer.concat([file, encodeFrame(after)]));
  assert.deepEqual(withTail.records, [after]);
  assert.equal(withTail.snapshot?.items.length, items.length);
});

test('compact(): every query answers the same before, after, and after reopen; records() keeps credits and payments', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const [a, b, c] = [hex(32), hex(32), hex(32)];
    const recs: JournalRecord[] = [
      credit({ payer, sessionHash: a, amount: 10_000n }),
      credit({ payer, sessionHash: a, amount: 5_000n }),
      charge({ sessionHash: a, bytes: 3n << 20n, units: 3_000n }),
      transfer(a, b, 7_000n, payer),
      charge({ sessionHash: b, bytes: 1n << 20n, units: 1_000n }),
      credit({ sessionHash: c, amount: (1n << 64n) - 1n }),
      payment({ amount: 42n }),
      payment({ amount: 43n, seller: key() }),
    ];
    const j = await Journal.open(t.path, opts());
    for (const r of recs) await j.append(r, { sync: r.kind !== 'charge' });
    const sessions = [a, b, c, hex(32)];
    const before = { s: sessions.map((s) => sessionView(j, s)), m: moneyView(j) };
    const result = await j.compact();
    assert.equal(result.sessionsRetired, 0);
    assert.equal(result.signaturesKept, 5);
    assert.deepEqual({ s: sessions.map((s) => sessionView(j, s)), m: moneyView(j) }, before, 'same answers after compaction');
    assert.deepEqual(j.records(), recs.filter((r) => r.kind === 'credit' || r.kind === 'payment'));
    for (const r of recs) if (r.kind === 'credit') assert.equal(j.hasSignature(r.signature), true);
    for (const r of recs) if (r.kind === 'payment') assert.equal(j.hasPayment(r.signature), true);
    const later = credit({ sessionHash: c, amount: 1n });
    await j.append(later);
    await j.close();

    const file = await readFile(t.path);
    assert.deepEqual(file.subarray(0, 8), Buffer.from(MAGIC_V2));
    const k = await Journal.open(t.path, opts());
    assert.equal(k.loadStats.tailRecords, 1, 'only the record after the snapshot is replayed');
    assert.equal(k.loadStats.bytesRead, file.length);
    const c0 = before.s[2] as { balance: bigint; credited: bigint; earned: bigint };
    assert.equal(k.balanceOf(c), c0.balance + 1n);
    assert.deepEqual(sessions.filter((s) => s !== c).map((s) => sessionView(k, s)), before.s.filter((_, i) => i !== 2));
    assert.equal(k.summary().totals.credits, 4);
    assert.deepEqual(k.records().at(-1), later);
    // Replay protection survives: the same signatures are refused.
    await rejectsCode(k.append({ ...(recs[0] as CreditRecord) }), 'DUPLICATE_SIGNATURE');
    await rejectsCode(k.append({ ...(recs[6] as PaymentRecord) }), 'DUPLICATE_SIGNATURE');
    // And the balance rules: nothing more than is left can move.
    await rejectsCode(k.append(transfer(b, a, 6_001n, payer)), 'OVERDRAWN');
    await k.append(transfer(b, a, 6_000n, payer));
    await k.close();
  } finally {
    await t.done();
  }
});

test('a compaction forgets only what cannot matter: signatures past the horizon, sessions empty and idle past it', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const [idle, owed, fresh] = [hex(32), hex(32), hex(32)];
    const oldCredit = credit({ payer, sessionHash: idle, amount: 500n, time: OLD });
    const owedCredit = credit({ payer, sessionHash: owed, amount: 900n, time: OLD });
    const freshCredit = credit({ payer, sessionHash: fresh, amount: 100n, time: NOW - 60_000 });
    const oldPayment = payment({ time: OLD });
    const freshPayment = payment({ time: NOW - 1 });
    const j = await Journal.open(t.path, opts());
    for (const r of [oldCredit, owedCredit, freshCredit, oldPayment, freshPayment]) await j.append(r);
    await j.append(charge({ sessionHash: idle, units: 500n, bytes: 5n << 20n, time: OLD + 1 })); // spent it all
    await j.append(charge({ sessionHash: fresh, units: 100n, bytes: 1n << 20n, time: NOW })); // spent, but recent
    const money = moneyView(j);
    const kept = [owed, fresh].map((s) => sessionView(j, s));
    const r = await j.compact();
    assert.deepEqual([r.sessionsKept, r.sessionsRetired, r.signaturesKept], [2, 1, 2]);
    for (const k of [j, await reopenCopy(t.path)]) {
      assert.deepEqual(moneyView(k), money, 'totals and per-wallet sums unchanged');
      assert.deepEqual([owed, fresh].map((s) => sessionView(k, s)), kept, 'kept sessions unchanged');
      assert.equal(k.balanceOf(idle), 0n, 'the retired session had nothing left, and still has nothing');
      assert.equal(k.summary().earnedBySession.has(idle), false, 'documented: it leaves the per-session maps');
      assert.equal(k.hasSignature(freshCredit.signature), true);
      assert.equal(k.hasPayment(freshPayment.signature), true);
      assert.equal(k.hasSignature(oldCredit.signature), false, 'documented: older than the horizon, cannot be presented again');
      assert.equal(k.hasPayment(oldPayment.signature), false);
      assert.deepEqual(k.records(), [freshCredit, freshPayment]);
      assert.equal(k.spentOn(INFO), oldPayment.amount + freshPayment.amount, 'spend per torrent counts the payment records() no longer holds');
      if (k !== j) await k.close();
    }
    await j.close();
  } finally {
    await t.done();
  }
});

/** Open a copy of a journal (so the original stays open), read-write, without compaction. */
async function reopenCopy(path: string): Promise<Journal> {
  const copy = `${path}.copy-${crypto.randomBytes(4).toString('hex')}`;
  await copyFile(path, copy);
  return Journal.open(copy, opts());
}

test('the horizon counts back from the latest record when the clock runs ahead', async () => {
  const t = await tmp();
  try {
    const c = credit({ time: NOW });
    const j = await Journal.open(t.path, opts({ now: () => NOW + 365 * DAY }));
    await j.append(c);
    await j.compact();
    assert.equal(j.hasSignature(c.signature), true, 'a clock a year ahead does not empty the replay set');
    await j.close();
  } finally {
    await t.done();
  }
});

test('retainMs below the minimum is refused', async () => {
  await assert.rejects(Journal.open(join(tmpdir(), 'never-created'), opts({ retainMs: 60_000 })), RangeError);
});

test('appends during a compaction (while the snapshot is written, and while the writer is paused for the swap) all land, in order', async () => {
  const t = await tmp();
  try {
    const s = hex(32);
    const payer = key();
    let j!: Journal;
    const inHook: Array<Promise<void>> = [];
    const hookRecs: CreditRecord[] = [];
    j = await Journal.open(t.path, opts({
      beforeCompactRename: () => {
        // The writer is paused: these are queued, and written after the swap, into the new file.
        for (let i = 0; i < 3; i++) {
          const r = credit({ payer, sessionHash: s, amount: 1n });
          hookRecs.push(r);
          inHook.push(j.append(r));
        }
      },
    }));
    const first = Array.from({ length: 50 }, (_, i) => credit({ payer, sessionHash: s, amount: BigInt(i + 1) }));
    for (const r of first) await j.append(r);
    const during = Array.from({ length: 50 }, (_, i) => credit({ payer, sessionHash: s, amount: BigInt(100 + i) }));
    const compaction = j.compact();
    const acks = during.map((r) => j.append(r));
    await Promise.all([compaction, ...acks]);
    assert.equal(inHook.length, 3);
    await Promise.all(inHook);
    const all = [...first, ...during, ...hookRecs];
    const total = all.reduce((n, r) => n + r.amount, 0n);
    assert.equal(j.balanceOf(s), total);
    assert.deepEqual(j.records(), all, 'everything, in call order');
    await j.close();
    const k = await Journal.open(t.path, opts());
    assert.equal(k.balanceOf(s), total);
    assert.deepEqual(k.records(), all);
    for (const r of all) assert.equal(k.hasSignature(r.signature), true);
    await k.close();
  } finally {
    await t.done();
  }
});

test('automatic compaction: after appends once the tail passes compactAfterBytes, and on open', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const s = hex(32);
    const j = await Journal.open(t.path, opts({ compactAfterBytes: 4096 }));
    const recs = Array.from({ length: 60 }, () => credit({ payer, sessionHash: s, amount: 3n }));
    for (const r of recs) await j.append(r);
    await j.close(); // waits for a compaction in flight
    const st = await Journal.open(t.path, opts());
    assert.ok(st.stats().snapshotBytes > MAGIC.length, 'compacted (the file starts with a snapshot)');
    assert.ok(st.loadStats.tailRecords < 20, `short tail (${st.loadStats.tailRecords})`);
    assert.equal(st.balanceOf(s), 180n);
    await st.close();

    // A long journal written without compaction is compacted when opened with it.
    const t2 = join(t.dir, 'long');
    const w = await Journal.open(t2, opts());
    for (const r of recs) await w.append({ ...r, signature: sig() });
    await w.close();
    const o = await Journal.open(t2, opts({ compactAfterBytes: 4096 }));
    assert.equal(o.stats().compactions, 1);
    assert.equal(o.stats().tailRecords, 0);
    assert.equal(o.balanceOf(s), 180n);
    assert.equal(o.records().length, 60);
    await o.close();
  } finally {
    await t.done();
  }
});

test('a session being retired that an append touches during the compaction is kept (the compaction starts over without retiring)', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const s = hex(32);
    let arm = false;
    let j!: Journal;
    let late: Promise<void> | null = null;
    j = await Journal.open(t.path, opts({
      now: () => {
        if (arm) {
          arm = false;
          // Runs right after the plan is made: the session is then on its way out.
          queueMicrotask(() => { late = j.append(credit({ payer, sessionHash: s, amount: 7n, time: NOW })); });
        }
        return NOW;
      },
    }));
    await j.append(credit({ payer, sessionHash: s, amount: 5n, time: OLD }));
    await j.append(charge({ sessionHash: s, units: 5n, bytes: 5n, time: OLD }));
    arm = true;
    const r = await j.compact();
    await late;
    assert.equal(r.sessionsRetired, 0);
    assert.equal(j.balanceOf(s), 7n);
    assert.equal(j.creditedFor(s), 12n);
    await j.close();
    const k = await Journal.open(t.path, opts());
    assert.deepEqual([k.balanceOf(s), k.creditedFor(s), k.chargedFor(s).units], [7n, 12n, 5n]);
    await k.close();
  } finally {
    await t.done();
  }
});

test('closing during a compaction abandons it; a leftover .compact file is removed on open; compact() on a closed journal is refused', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path, opts());
    const recs = Array.from({ length: 20 }, () => credit());
    for (const r of recs) await j.append(r);
    const before = await readFile(t.path);
    const c = j.compact().then(() => 'done', (e: unknown) => (e instanceof JournalError ? e.code : String(e)));
    await j.close();
    assert.ok(['done', 'COMPACT_ABORTED'].includes(await c), 'finished, or abandoned');
    await rejectsCode(j.compact(), 'CLOSED');
    await assert.rejects(stat(t.path + '.compact'), 'no leftover');
    const after = await readFile(t.path);
    assert.ok(after.equals(before) || after.subarray(0, 8).equals(Buffer.from(MAGIC_V2)), 'either untouched or fully compacted');
    await writeFile(t.path + '.compact', 'half a snapshot');
    const k = await Journal.open(t.path, opts());
    await assert.rejects(stat(t.path + '.compact'), 'removed on open');
    assert.deepEqual(k.records(), recs);
    await k.close();
  } finally {
    await t.done();
  }
});

test('a compaction that fails before its rename leaves the journal as it was, appends carry on, and the automatic one backs off', async () => {
  const t = await tmp();
  try {
    let failures = 0;
    const j = await Journal.open(t.path, opts({
      compactAfterBytes: 2048,
      beforeCompactRename: () => { failures++; throw new Error('disk full (simulated)'); },
    }));
    const s = hex(32);
    const recs = Array.from({ length: 40 }, () => credit({ sessionHash: s, amount: 2n }));
    for (const r of recs) await j.append(r);
    await rejectsCode(j.append({ ...recs[0] }), 'DUPLICATE_SIGNATURE');
    await assert.rejects(j.compact(), /disk full/);
    assert.ok(failures >= 2, 'the automatic compaction ran (and failed) too');
    assert.ok(failures < 10, `and backed off instead of retrying after every append (${failures})`);
    assert.match(j.lastCompactError?.message ?? '', /disk full/);
    await assert.rejects(stat(t.path + '.compact'), 'its file is removed');
    await j.append(credit({ sessionHash: s, amount: 2n }));
    assert.equal(j.balanceOf(s), 82n);
    await j.close();
    const file = await readFile(t.path);
    assert.deepEqual(file.subarray(0, 8), Buffer.from(MAGIC), 'never replaced');
    const k = await Journal.open(t.path, opts());
    assert.equal(k.balanceOf(s), 82n);
    assert.equal(k.records().length, 41);
    await k.close();
  } finally {
    await t.done();
  }
});

test('damage in a snapshot is CORRUPT, and so is a snapshot cut short (never read as a smaller journal)', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path, opts());
    for (let i = 0; i < 2; i++) await j.append(credit());
    await j.compact();
    await j.close();
    const full = await readFile(t.path);
    const snapEnd = full.length;
    for (let i = MAGIC.length; i < snapEnd; i += 5) {
      const bad = Buffer.from(full);
      bad[i] ^= 0x20;
      await writeFile(t.path, bad);
      await rejectsCode(Journal.open(t.path, opts()), 'CORRUPT');
    }
    for (let cut = MAGIC.length; cut < snapEnd; cut++) {
      await writeFile(t.path, full.subarray(0, cut));
      await rejectsCode(Journal.open(t.path, opts()), 'CORRUPT');
    }
    await writeFile(t.path, full);
    const k = await Journal.open(t.path, opts());
    assert.equal(k.summary().totals.credits, 2);
    await k.close();
  } finally {
    await t.done();
  }
});

// ---------------------------------------------------------------- crash at any byte

type Op =
  | { k: 'credit'; s: number; p: number; amount: bigint; old: boolean }
  | { k: 'charge'; s: number; part: number; old: boolean }
  | { k: 'transfer'; from: number; to: number; amount: bigint; old: boolean }
  | { k: 'payment'; amount: bigint; old: boolean }
  | { k: 'earn'; who: number; bytes: bigint; old: boolean }
  | { k: 'strike'; who: number; old: boolean }
  | { k: 'spend'; who: number; part: number; expire: boolean; old: boolean }
  | { k: 'vouch'; who: number; issuer: number; step: bigint; bytes: bigint; old: boolean }
  // Payment channels: a buyer opens channel c and raises its voucher; a seller accepts vouchers on c (crediting session s) and claims them.
  | { k: 'chopen'; c: number; deposit: bigint; old: boolean }
  | { k: 'vsent'; c: number; step: bigint; t: number; old: boolean }
  | { k: 'voucher'; c: number; s: number; step: bigint; old: boolean }
  | { k: 'claim'; c: number; part: number; closed: boolean; old: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('credit' as const), s: fc.nat(3), p: fc.nat(1), amount: fc.bigInt({ min: 0n, max: 10_000n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('charge' as const), s: fc.nat(3), part: fc.integer({ min: 0, max: 100 }), old: fc.boolean() }),
  fc.record({ k: fc.constant('transfer' as const), from: fc.nat(3), to: fc.nat(3), amount: fc.bigInt({ min: 0n, max: 12_000n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('payment' as const), amount: fc.bigInt({ min: 1n, max: 10_000n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('earn' as const), who: fc.nat(2), bytes: fc.bigInt({ min: 1n, max: 1n << 40n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('strike' as const), who: fc.nat(2), old: fc.boolean() }),
  fc.record({ k: fc.constant('spend' as const), who: fc.nat(2), part: fc.integer({ min: 0, max: 100 }), expire: fc.boolean(), old: fc.boolean() }),
  fc.record({ k: fc.constant('vouch' as const), who: fc.nat(2), issuer: fc.nat(1), step: fc.bigInt({ min: 1n, max: 1n << 30n }), bytes: fc.bigInt({ min: 1n, max: 1n << 28n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('chopen' as const), c: fc.nat(2), deposit: fc.bigInt({ min: 1n, max: 100_000n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('vsent' as const), c: fc.nat(2), step: fc.bigInt({ min: 1n, max: 30_000n }), t: fc.nat(1), old: fc.boolean() }),
  fc.record({ k: fc.constant('voucher' as const), c: fc.nat(2), s: fc.nat(3), step: fc.bigInt({ min: 1n, max: 30_000n }), old: fc.boolean() }),
  fc.record({ k: fc.constant('claim' as const), c: fc.nat(2), part: fc.integer({ min: 0, max: 100 }), closed: fc.boolean(), old: fc.boolean() }),
);

/** Turns ops into valid records for a pool of sessions and payers, tracking cumulative charges. */
class Scenario {
  readonly sessions = [hex(32), hex(32), hex(32), hex(32)];
  readonly payers = [key(), key()];
  /** Ratio credit identities (uploaders' wallets). */
  readonly identities = [key(), key(), key()];
  /** Trusted nodes whose statements vouch for identities. */
  readonly issuers = [key(), key()];
  readonly torrent = hex(20);
  readonly torrents = [this.torrent, hex(20)];
  /** Payment channels: a buyer's (opened here) and a seller's (vouchers accepted here). */
  readonly channels = [key(), key(), key()];
  private readonly charged = new Map<string, bigint>();
  /** Channels opened so far, with their deposits (appends in flight included: channelOf reads written records only). */
  private readonly opened = new Map<string, bigint>();
  private readonly claimed = new Map<string, bigint>();
  private tick = 0;

  record(o: Op, j: Journal): JournalRecord | null {
    const time = (o.old ? OLD : NOW - 60_000) + this.tick++;
    if (o.k === 'credit') return credit({ sessionHash: this.sessions[o.s], payer: this.payers[o.p], amount: o.amount, time });
    if (o.k === 'payment') return payment({ amount: o.amount, time });
    if (o.k === 'earn') return { kind: 'ratio_earned', identity: this.identities[o.who], bytes: o.bytes, infoHash: this.torrent, time };
    if (o.k === 'strike') return { kind: 'ratio_strike', identity: this.identities[o.who], infoHash: this.torrent, time };
    if (o.k === 'vouch') {
      const identity = this.identities[o.who];
      const issuer = this.issuers[o.issuer];
      return { kind: 'ratio_vouched', identity, issuer, total: j.vouchedTotal(issuer, identity) + o.step, bytes: o.bytes, time };
    }
    if (o.k === 'spend') {
      const identity = this.identities[o.who];
      const r = j.ratioOf(identity);
      const bytes = r === undefined ? 0n : ((r.earned - r.spent) * BigInt(o.part)) / 100n;
      if (bytes === 0n) return null;
      if (o.expire) return { kind: 'ratio_expired', identity, bytes, time };
      return { kind: 'ratio_spent', identity, bytes, infoHash: this.torrent, sessionHash: this.sessions[0], time };
    }
    if (o.k === 'chopen') {
      if (this.opened.has(this.channels[o.c])) return null;
      this.opened.set(this.channels[o.c], o.deposit);
      return { kind: 'channel_open', channel: this.channels[o.c], seller: this.payers[1], mint: this.issuers[0], nonce: BigInt(o.c), deposit: o.deposit, expiry: 1_900_000_000n, voucherKey: this.payers[0], time };
    }
    if (o.k === 'vsent') {
      const deposit = this.opened.get(this.channels[o.c]);
      const amount = j.sentOf(this.channels[o.c]) + o.step;
      if (deposit === undefined || amount > deposit) return null;
      return { kind: 'voucher_sent', channel: this.channels[o.c], amount, seller: this.payers[1], infoHash: this.torrents[o.t], time };
    }
    if (o.k === 'voucher') {
      return { kind: 'voucher', channel: this.channels[o.c], amount: j.acceptedOf(this.channels[o.c]) + o.step, signature: sig(), buyer: this.payers[o.c % 2], sessionHash: this.sessions[o.s], infoHash: this.torrent, time };
    }
    if (o.k === 'claim') {
      const accepted = j.acceptedOf(this.channels[o.c]);
      const claimed = this.claimed.get(this.channels[o.c]) ?? 0n;
      if (accepted === 0n) return null;
      const amount = claimed + ((accepted - claimed) * BigInt(o.part)) / 100n;
      this.claimed.set(this.channels[o.c], amount);
      return { kind: 'channel_claimed', channel: this.channels[o.c], amount, signature: sig(), closed: o.closed, time };
    }
    if (o.k === 'charge') {
      const s = this.sessions[o.s];
      const cum = (this.charged.get(s) ?? 0n) + (j.balanceOf(s) * BigInt(o.part)) / 100n;
      this.charged.set(s, cum);
      return charge({ sessionHash: s, units: cum, bytes: cum << 10n, time });
    }
    if (o.from === o.to || o.amount > j.balanceOf(this.sessions[o.from])) return null;
    return transfer(this.sessions[o.from], this.sessions[o.to], o.amount, this.payers[0], time);
  }
}

interface Crash {
  /** The journal file as it stood when the new file was complete (writer paused). */
  old: Buffer;
  /** The complete new file, just before its rename. */
  next: Buffer;
}

/**
 * Run ops on a journal, compact it with more ops appended while it runs, and capture
 * the two files at the last moment before the rename. Returns the journal (closed),
 * every record appended, and the crash capture.
 */
async function runCompaction(dir: string, sc: Scenario, before: Op[], during: Op[]): Promise<{ crash: Crash; records: JournalRecord[]; path: string }> {
  const path = join(dir, 'journal');
  let crash: Crash | null = null;
  const j = await Journal.open(path, opts({
    beforeCompactRename: async (tmpPath) => { crash = { old: await readFile(path), next: await readFile(tmpPath) }; },
  }));
  const records: JournalRecord[] = [];
  for (const o of before) {
    const r = sc.record(o, j);
    if (r) { await j.append(r, { sync: r.kind !== 'charge' }); records.push(r); }
  }
  const compaction = j.compact();
  const acks: Array<Promise<void>> = [];
  for (const o of during) {
    const r = sc.record(o, j);
    if (r) { acks.push(j.append(r, { sync: false })); records.push(r); }
  }
  await Promise.all([compaction, ...acks]);
  await j.close();
  assert.ok(crash, 'the compaction reached its rename');
  return { crash: crash as Crash, records, path };
}

/** The state a journal opens to, from every angle the callers use. */
async function openView(path: string, sc: Scenario, sigs: { credits: string[]; payments: string[] }): Promise<Record<string, unknown>> {
  const j = await Journal.open(path, opts());
  try {
    return {
      sessions: sc.sessions.map((s) => sessionView(j, s)), money: moneyView(j),
      credits: sigs.credits.map((s) => j.hasSignature(s)), payments: sigs.payments.map((s) => j.hasPayment(s)),
      ratio: sc.identities.map((id) => j.ratioOf(id) ?? null),
      ratioDurable: sc.identities.map((id) => { const b = j.ratioBooks().get(id); return b ? { earned: b.earned, vouched: b.vouched, spent: b.spent, strikes: b.strikes } : null; }),
      vouches: sc.issuers.flatMap((i) => [j.issuerUsedOf(i), ...sc.identities.map((id) => j.vouchedTotal(i, id))]),
      channels: sc.channels.map((c) => ({ book: j.channelOf(c) ?? null, accepted: j.acceptedOf(c), sent: j.sentOf(c) })),
      spentOn: sc.torrents.map((t) => j.spentOn(t)),
    };
  } finally {
    await j.close();
  }
}

const recentSigs = (records: JournalRecord[]): { credits: string[]; payments: string[] } => ({
  credits: records.flatMap((r) => (r.kind === 'credit' && r.time > OLD + 10_000 ? [r.signature] : [])),
  payments: records.flatMap((r) => (r.kind === 'payment' && r.time > OLD + 10_000 ? [r.signature] : [])),
});

function sessionsOf(r: JournalRecord): string[] {
  if (r.kind === 'transfer') return [r.from, r.to];
  if (r.kind === 'voucher') return [r.sessionHash];
  return r.kind === 'payment_void' || r.kind === 'ratio_earned' || r.kind === 'ratio_strike' || r.kind === 'ratio_expired' || r.kind === 'ratio_spent' || r.kind === 'ratio_vouched'
    || r.kind === 'channel_claimed' || r.kind === 'channel_open' || r.kind === 'voucher_sent' ? [] : [r.sessionHash];
}

/** Reopen a directory laid out as a crash left it: `journal` and maybe `journal.compact`. */
async function crashState(dir: string, journal: Uint8Array, compactFile: Uint8Array | null): Promise<string> {
  const path = join(dir, 'journal');
  await rm(path + '.compact', { force: true });
  await writeFile(path, journal);
  if (compactFile) await writeFile(path + '.compact', compactFile);
  return path;
}

/**
 * Check one crash point: the new file written up to `k` bytes (or whole, or renamed).
 * Nothing acknowledged before the swap may be missing: the old file is whole until the
 * rename, and the new one only gets the journal's name complete.
 */
async function checkCrash(dir: string, sc: Scenario, crash: Crash, k: number, expectOld: Record<string, unknown>, expectNew: Record<string, unknown>, sigs: { credits: string[]; payments: string[] }): Promise<void> {
  const path = await crashState(dir, crash.old, crash.next.subarray(0, k));
  assert.deepEqual(await openView(path, sc, sigs), expectOld, `crash with the new file at byte ${k} of ${crash.next.length}`);
  await assert.rejects(stat(path + '.compact'), 'the unfinished file is removed');
  if (k === crash.next.length) {
    await crashState(dir, crash.next, null); // renamed: the new file is the journal
    assert.deepEqual(await openView(path, sc, sigs), expectNew, 'crash after the rename');
  }
}

/**
 * What the old file opens to, and what the new one must: the same money, the same
 * answers for every session kept and every recent signature; a retired session has
 * nothing to spend before or after, and only those old enough were retired.
 */
async function expectations(dir: string, sc: Scenario, crash: Crash, sigs: { credits: string[]; payments: string[] }, records: JournalRecord[]): Promise<{ old: Record<string, unknown>; next: Record<string, unknown> }> {
  const old = await openView(await crashState(dir, crash.old, null), sc, sigs);
  const next = await openView(await crashState(dir, crash.next, null), sc, sigs);
  const oldSessions = old.sessions as Array<Record<string, unknown>>;
  const listed = (v: Record<string, unknown>): boolean => v.earned !== undefined || v.chargedBy !== undefined || v.in !== undefined || v.out !== undefined;
  const nextSessions = (next.sessions as Array<Record<string, unknown>>).map((v, i) => {
    if (listed(v) || !listed(oldSessions[i])) return v;
    // Retired: it must have had nothing left, and no record within the horizon.
    assert.equal(oldSessions[i].balance, 0n, 'only an empty session is retired');
    const last = Math.max(...records.filter((r) => sessionsOf(r).includes(sc.sessions[i])).map((r) => r.time));
    assert.ok(last < NOW - DAY, 'only an idle session is retired');
    return oldSessions[i];
  });
  assert.deepEqual({ ...next, sessions: nextSessions }, old, 'the compacted file answers as the old one');
  return { old, next };
}

test('property: a crash at any byte of a compaction loses no credit, charge, transfer, payment, replay protection, ratio credit or channel voucher', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.array(opArb, { maxLength: 8 }), fc.nat(), fc.nat(),
    async (before, during, crashA, crashB) => {
      const dir = await mkdtemp(join(tmpdir(), 'seedpay-crash-'));
      try {
        const sc = new Scenario();
        const { crash, records, path } = await runCompaction(dir, sc, before, during);
        const final = await readFile(path);
        const sigs = recentSigs(records);
        const exp = await expectations(dir, sc, crash, sigs, records);
        for (const k of new Set([0, crashA % (crash.next.length + 1), crashB % (crash.next.length + 1), crash.next.length])) {
          await checkCrash(dir, sc, crash, k, exp.old, exp.next, sigs);
        }
        // And the journal as the compaction left it (appends included) has every record.
        const reference = join(dir, 'reference');
        const ref = await Journal.open(reference, opts());
        for (const r of records) await ref.append(r, { sync: false });
        await ref.close();
        await writeFile(path, final);
        const done = await openView(path, sc, sigs);
        const whole = await openView(reference, sc, sigs);
        assert.deepEqual(done.money, whole.money);
        assert.deepEqual(done.credits, whole.credits);
        assert.deepEqual(done.payments, whole.payments);
        assert.deepEqual(done.ratio, whole.ratio, 'ratio credits per identity');
        assert.deepEqual(done.vouches, whole.vouches, 'statements redeemed and issuers\' use');
        assert.deepEqual(done.channels, whole.channels, 'payment channels: vouchers sent and accepted, claims');
        assert.deepEqual(done.spentOn, whole.spentOn, 'spend per torrent (voucher increases included)');
        assert.deepEqual((done.sessions as Array<{ balance: bigint }>).map((v) => v.balance), (whole.sessions as Array<{ balance: bigint }>).map((v) => v.balance));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  ), { numRuns: 30 });
});

test('a crash at EVERY byte of one compaction: the journal reopens whole each time', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-crash-'));
  try {
    const sc = new Scenario();
    const before: Op[] = [
      { k: 'credit', s: 0, p: 0, amount: 5_000n, old: true },
      { k: 'charge', s: 0, part: 100, old: true }, // session 0: empty and idle: retired
      { k: 'credit', s: 1, p: 1, amount: 7_000n, old: false },
      { k: 'charge', s: 1, part: 30, old: false },
      { k: 'transfer', from: 1, to: 2, amount: 1_000n, old: false },
      { k: 'payment', amount: 99n, old: false },
      { k: 'payment', amount: 98n, old: true },
      { k: 'credit', s: 3, p: 0, amount: 1n, old: true },
      { k: 'earn', who: 0, bytes: 262_144n, old: true },
      { k: 'earn', who: 0, bytes: 16_384n, old: false },
      { k: 'strike', who: 1, old: false },
    ];
    const during: Op[] = [
      { k: 'credit', s: 2, p: 0, amount: 11n, old: false }, { k: 'charge', s: 2, part: 50, old: false },
      { k: 'earn', who: 2, bytes: 5n, old: false }, { k: 'earn', who: 0, bytes: 1n, old: false },
    ];
    const { crash, records } = await runCompaction(dir, sc, before, during);
    const sigs = recentSigs(records);
    const exp = await expectations(dir, sc, crash, sigs, records);
    assert.equal((exp.next.sessions as Array<{ earned: unknown }>)[0].earned, undefined, 'session 0 was retired');
    assert.deepEqual(exp.next.ratioDurable, [{ earned: 278_529n, vouched: 0n, spent: 0n, strikes: 0 }, { earned: 0n, vouched: 0n, spent: 0n, strikes: 1 }, { earned: 5n, vouched: 0n, spent: 0n, strikes: 0 }],
      'ratio credits: old ones kept through the compaction, the ones appended during it after it');
    for (let k = 0; k <= crash.next.length; k++) await checkCrash(dir, sc, crash, k, exp.old, exp.next, sigs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
