import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import crypto from 'node:crypto';
import bs58 from 'bs58';
import fc from 'fast-check';
import {
  Journal, JournalError, MAGIC, encodeFrame, readJournal, scanJournal, summarize, summaryToJSON,
  type ChargeRecord, type CreditRecord, type PaymentRecord, type TransferRecord,
} from '../../payment/journal.js';

const sig = (): string => bs58.encode(crypto.randomBytes(64));
const key = (): string => bs58.encode(crypto.randomBytes(32));
const hex = (n: number): string => crypto.randomBytes(n).toString('hex');

const SELLER = key();
const INFO = hex(20);

function credit(over: Partial<CreditRecord> = {}): CreditRecord {
  return { kind: 'credit', signature: sig(), amount: 10_000n, payer: key(), sessionHash: hex(32), infoHash: INFO, seller: SELLER, time: 1_795_000_000_000, ...over };
}
function payment(over: Partial<PaymentRecord> = {}): PaymentRecord {
  return { kind: 'payment', signature: sig(), amount: 25_000n, seller: SELLER, infoHash: INFO, sessionHash: hex(32), time: 1_795_000_000_001, ...over };
}
function charge(over: Partial<ChargeRecord> = {}): ChargeRecord {
  return { kind: 'charge', sessionHash: hex(32), infoHash: INFO, bytes: 16_384n, units: 2n, time: 1_795_000_000_002, ...over };
}

async function tmp(): Promise<{ dir: string; path: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-journal-'));
  return { dir, path: join(dir, 'journal'), done: () => rm(dir, { recursive: true, force: true }) };
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof JournalError && e.code === code);
}

test('records survive reopen; bigint above 2^53 and u64 max round-trip; summary rebuilt', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const big = (1n << 64n) - 1n;
    const c1 = credit({ payer, amount: big });
    const c2 = credit({ payer, amount: 9_007_199_254_740_993n }); // 2^53 + 1
    const ch = charge({ sessionHash: c1.sessionHash, bytes: (1n << 40n) + 1n, units: 104_857_601n });
    const p1 = payment();
    const j = await Journal.open(t.path);
    for (const r of [c1, c2, ch, p1]) await j.append(r);
    await j.close();

    const k = await Journal.open(t.path);
    assert.equal(k.recoveredBytes, 0);
    assert.deepEqual(k.records(), [c1, c2, ch, p1]);
    const s = k.summary();
    assert.equal(s.earnedByPayer.get(payer), big + 9_007_199_254_740_993n);
    assert.equal(s.earnedBySession.get(c1.sessionHash), big);
    assert.equal(s.spentBySeller.get(SELLER), 25_000n);
    assert.equal(s.spentByTorrent.get(INFO), 25_000n);
    assert.equal(k.spentOn(INFO), 25_000n);
    assert.deepEqual(s.chargedBySession.get(c1.sessionHash), { bytes: (1n << 40n) + 1n, units: 104_857_601n });
    assert.deepEqual(s.totals, { earned: big + 9_007_199_254_740_993n, charged: 104_857_601n, spent: 25_000n, credits: 2, charges: 1, payments: 1, transfers: 0 });
    assert.equal(k.creditedFor(c1.sessionHash), big);
    await k.close();
  } finally {
    await t.done();
  }
});

test('replay set is rebuilt on open; duplicate credits and payments are refused', async () => {
  const t = await tmp();
  try {
    const c = credit();
    const p = payment();
    const j = await Journal.open(t.path);
    assert.equal(j.hasSignature(c.signature), false);
    await j.append(c);
    await j.append(p);
    assert.equal(j.hasSignature(c.signature), true);
    await rejectsCode(j.append({ ...c, sessionHash: hex(32) }), 'DUPLICATE_SIGNATURE');
    await j.close();
    const k = await Journal.open(t.path);
    assert.equal(k.hasSignature(c.signature), true);
    assert.equal(k.hasSignature(p.signature), false, 'a buyer payment is not a seller credit');
    assert.equal(k.hasPayment(p.signature), true);
    await rejectsCode(k.append(credit({ signature: c.signature })), 'DUPLICATE_SIGNATURE');
    await rejectsCode(k.append(payment({ signature: p.signature })), 'DUPLICATE_SIGNATURE');
    assert.equal(k.records().length, 2);
    await k.close();
  } finally {
    await t.done();
  }
});

test('concurrent credits of one signature: exactly one lands (check-and-reserve is atomic)', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path);
    const c = credit();
    const results = await Promise.allSettled([j.append(c), j.append({ ...c }), j.append({ ...c, amount: 1n })]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected']);
    assert.equal(j.hasSignature(c.signature), true);
    await j.close();
  } finally {
    await t.done();
  }
});

test('concurrent appends all land, in call order', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path);
    const recs = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? credit({ time: i }) : i % 3 === 1 ? payment({ time: i }) : charge({ time: i })));
    await Promise.all(recs.map((r) => j.append(r)));
    assert.deepEqual(j.records(), recs);
    await j.close();
    const k = await Journal.open(t.path);
    assert.deepEqual(k.records(), recs);
    await k.close();
  } finally {
    await t.done();
  }
});

test('append resolves only after the record is on disk', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path);
    const c = credit();
    await j.append(c);
    // Read the file through another handle: the acknowledged record must be there.
    const scan = scanJournal(new Uint8Array(await readFile(t.path)));
    assert.deepEqual(scan.records, [c]);
    await j.close();
  } finally {
    await t.done();
  }
});

test('a journal truncated at EVERY byte offset of its last record loads, and accepts new appends', async () => {
  const t = await tmp();
  try {
    const earlier = [credit(), charge(), payment()];
    const last = credit();
    const j = await Journal.open(t.path);
    for (const r of earlier) await j.append(r);
    await j.close();
    const lastStart = (await stat(t.path)).size;
    const j2 = await Journal.open(t.path);
    await j2.append(last);
    await j2.close();
    const full = await readFile(t.path);
    const lastLen = full.length - lastStart;
    assert.equal(lastLen, encodeFrame(last).length);
    const after = credit();
    for (let cut = 0; cut < lastLen; cut++) {
      await writeFile(t.path, full.subarray(0, lastStart + cut));
      const k = await Journal.open(t.path);
      assert.deepEqual(k.records(), earlier, `cut ${cut}`);
      assert.equal(k.recoveredBytes, cut);
      assert.equal(k.hasSignature(last.signature), false);
      await k.append(after);
      await k.close();
      const k2 = await Journal.open(t.path);
      assert.deepEqual(k2.records(), [...earlier, after], `cut ${cut}: append after recovery`);
      assert.equal(k2.recoveredBytes, 0);
      await k2.close();
    }
  } finally {
    await t.done();
  }
});

test('torn tails of other shapes: bad CRC on the last record, zero-filled tail, partial magic', async () => {
  const t = await tmp();
  try {
    const a = credit();
    const b = payment();
    const j = await Journal.open(t.path);
    await j.append(a);
    await j.append(b);
    await j.close();
    const full = await readFile(t.path);

    const badLast = Buffer.from(full);
    badLast[badLast.length - 3] ^= 0x01; // last record's body damaged (write did not reach disk)
    await writeFile(t.path, badLast);
    let k = await Journal.open(t.path);
    assert.deepEqual(k.records(), [a]);
    await k.close();

    await writeFile(t.path, Buffer.concat([full, Buffer.alloc(100)])); // extended, never written
    k = await Journal.open(t.path);
    assert.deepEqual(k.records(), [a, b]);
    assert.equal(k.recoveredBytes, 100);
    await k.close();
    assert.equal((await stat(t.path)).size, full.length, 'torn tail truncated away');

    await writeFile(t.path, MAGIC.subarray(0, 5)); // crash while creating
    k = await Journal.open(t.path);
    assert.deepEqual(k.records(), []);
    await k.append(a);
    await k.close();
    k = await Journal.open(t.path);
    assert.deepEqual(k.records(), [a]);
    await k.close();
  } finally {
    await t.done();
  }
});

test('a flipped byte in an earlier record is a hard CORRUPT error, at every byte of it', async () => {
  const t = await tmp();
  try {
    const a = credit();
    const b = charge();
    const j = await Journal.open(t.path);
    await j.append(a);
    await j.append(b);
    await j.close();
    const full = await readFile(t.path);
    const aLen = encodeFrame(a).length;
    for (let i = MAGIC.length; i < MAGIC.length + aLen; i++) {
      for (const mask of [0x01, 0x80]) {
        const bad = Buffer.from(full);
        bad[i] ^= mask;
        await writeFile(t.path, bad);
        await assert.rejects(Journal.open(t.path), (e: unknown) => e instanceof JournalError && e.code === 'CORRUPT', `byte ${i} mask ${mask}`);
      }
    }
    // The file is left as it was: a failed open does not "repair" by truncating.
    const bad = Buffer.from(full);
    bad[MAGIC.length + 20] ^= 0xff;
    await writeFile(t.path, bad);
    await rejectsCode(Journal.open(t.path), 'CORRUPT');
    assert.deepEqual(await readFile(t.path), bad);
  } finally {
    await t.done();
  }
});

test('bad magic is refused', async () => {
  const t = await tmp();
  try {
    await writeFile(t.path, 'not a journal at all');
    await rejectsCode(Journal.open(t.path), 'BAD_MAGIC');
  } finally {
    await t.done();
  }
});

test('invalid records are refused before anything is written', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path);
    await rejectsCode(j.append(credit({ amount: -1n })), 'BAD_RECORD');
    await rejectsCode(j.append(credit({ amount: 1n << 64n })), 'BAD_RECORD');
    await rejectsCode(j.append(credit({ signature: 'not-base58!' })), 'BAD_RECORD');
    await rejectsCode(j.append(credit({ sessionHash: 'AB'.repeat(32) })), 'BAD_RECORD');
    await rejectsCode(j.append(payment({ infoHash: hex(32) })), 'BAD_RECORD');
    await rejectsCode(j.append(charge({ time: 1.5 })), 'BAD_RECORD');
    await rejectsCode(j.append({ kind: 'refund' } as unknown as ChargeRecord), 'BAD_RECORD');
    await j.close();
    assert.equal((await stat(t.path)).size, MAGIC.length);
  } finally {
    await t.done();
  }
});

test('charges are cumulative per session: latest wins, a decrease is refused', async () => {
  const t = await tmp();
  try {
    const s = hex(32);
    const j = await Journal.open(t.path);
    await j.append(charge({ sessionHash: s, bytes: 16_384n, units: 2n }));
    await j.append(charge({ sessionHash: s, bytes: 1_048_576n, units: 100n }));
    await rejectsCode(j.append(charge({ sessionHash: s, bytes: 16_384n, units: 2n })), 'CHARGE_DECREASED');
    await j.append(charge({ bytes: 1n, units: 1n }));
    assert.deepEqual(j.chargedFor(s), { bytes: 1_048_576n, units: 100n });
    assert.equal(j.summary().totals.charged, 101n);
    await j.close();
    const k = await Journal.open(t.path);
    assert.equal(k.summary().totals.charged, 101n);
    assert.equal(k.summary().totals.charges, 3);
    await k.close();
  } finally {
    await t.done();
  }
});

test('unsynced appends (sync: false, the seller\'s running charges) skip the flush but are on disk at once, in order, and synced by a later append or close', async () => {
  const t = await tmp();
  try {
    const s = hex(32);
    const j = await Journal.open(t.path);
    // Count fdatasync calls on the journal's handle.
    const fh = (j as unknown as { fh: { datasync: () => Promise<void> } }).fh;
    let syncs = 0;
    const real = fh.datasync.bind(fh);
    fh.datasync = async () => { syncs++; await real(); };
    await j.append(charge({ sessionHash: s, bytes: 16_384n, units: 2n }), { sync: false });
    await j.append(charge({ sessionHash: s, bytes: 32_768n, units: 4n }), { sync: false });
    assert.equal(syncs, 0, 'no flush for unsynced charges');
    // Written already: a reader (the CLI) sees them before any sync.
    assert.equal((await readJournal(t.path)).summary.totals.charges, 2);
    await j.append(credit());
    assert.equal(syncs, 1, 'a synced append flushes (and covers the charges before it)');
    await j.append(charge({ sessionHash: s, bytes: 65_536n, units: 8n }), { sync: false });
    await j.close();
    assert.equal(syncs, 2, 'close flushes what is unsynced');
    const k = await Journal.open(t.path);
    assert.deepEqual(k.chargedFor(s), { bytes: 65_536n, units: 8n });
    assert.equal(k.summary().totals.charges, 3);
    await k.close();
  } finally {
    await t.done();
  }
});

test('lock: a second open in a live process is refused; an old pid lock of a dead process is taken over; closed journal refuses appends', async () => {
  const t = await tmp();
  try {
    const j = await Journal.open(t.path);
    await rejectsCode(Journal.open(t.path), 'LOCKED');
    await j.close();
    await rejectsCode(j.append(credit()), 'CLOSED');
    await writeFile(t.path + '.lock', '999999999'); // an older version's pid lock: no such pid
    const k = await Journal.open(t.path);
    assert.equal(await readFile(t.path + '.lock', 'utf8'), `${process.pid} locked\n`, 'the holder is named for people');
    await k.append(credit());
    await k.close();
    await writeFile(t.path + '.lock', String(process.pid)); // a previous incarnation with our pid
    const k2 = await Journal.open(t.path);
    await rejectsCode(Journal.open(join(t.dir, '.', 'journal')), 'LOCKED'); // same file, other spelling
    await k2.close();
    // The lock file stays (deleting it is what would let two holders in); it is empty and unlocked.
    assert.equal(await readFile(t.path + '.lock', 'utf8'), '', 'lock released on close');
    const k3 = await Journal.open(t.path);
    await k3.close();
    await truncate(t.path, MAGIC.length);
  } finally {
    await t.done();
  }
});

test('lock: an older version\'s pid lock naming a live process is respected', async () => {
  const t = await tmp();
  try {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await writeFile(t.path + '.lock', String(child.pid));
      await rejectsCode(Journal.open(t.path), 'LOCKED');
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const k = await Journal.open(t.path); // that process is gone now
    await k.close();
  } finally {
    await t.done();
  }
});

test('SIGKILL during a stream of appends: every acknowledged record survives, the journal reopens', async () => {
  const t = await tmp();
  try {
    // The child is this repo's journal module run in a fresh process (same loader as
    // this test: tsx for .ts, plain node for the compiled .js).
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const journalUrl = new URL(`../../payment/journal${ext}`, import.meta.url).href;
    const code = `
      const { Journal } = await import(${JSON.stringify(journalUrl)});
      const j = await Journal.open(${JSON.stringify(t.path)});
      const sig = (i) => String(i).replace(/0/g, 'z').padStart(88, 'A');
      for (let i = 0; ; i += 8) {
        await Promise.all(Array.from({ length: 8 }, (_, k) => j.append({
          kind: 'credit', signature: sig(i + k), amount: BigInt(i + k) * 1000000000000n, payer: 'P'.repeat(44),
          sessionHash: 'ab'.repeat(32), infoHash: 'cd'.repeat(20), seller: 'S'.repeat(44), time: i + k,
        }).then(() => process.stdout.write((i + k) + '\\n'))));
      }`;
    const { spawn } = await import('node:child_process');
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));
    const child = spawn(process.execPath, [...execArgv, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const acked = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const lines = out.split('\n').filter((l) => l !== '');
        if (lines.length >= 150) {
          child.kill('SIGKILL'); // mid-stream: appends are in flight right now
          resolve(Math.max(...lines.map(Number)));
        }
      });
      child.on('exit', () => reject(new Error(`child exited early: ${err}`)));
    });
    await new Promise((r) => child.once('close', r));
    const ackedNow = out.split('\n').filter((l) => l !== '').map(Number);
    const k = await Journal.open(t.path); // the dead child's lock is stale and taken over
    const times = k.records().map((r) => r.time);
    // Contiguous from 0, and includes everything the child heard acknowledged.
    assert.deepEqual(times, times.map((_, i) => i));
    assert.ok(times.length > Math.max(acked, ...ackedNow), `loaded ${times.length}, acked up to ${acked}`);
    const last = k.records()[times.length - 1];
    assert.ok(last.kind === 'credit' && last.amount === BigInt(last.time) * 1_000_000_000_000n);
    await k.append(credit());
    await k.close();
  } finally {
    await t.done();
  }
});

test('readJournal: a CLI can read a live journal (no lock, no truncation); summaryToJSON is plain JSON', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const j = await Journal.open(t.path);
    const recs = [credit({ payer, amount: 1n << 60n }), credit({ payer, amount: 5n }), payment({ amount: 7n }), charge({ bytes: 3n, units: 1n })];
    for (const r of recs) await j.append(r);
    // Simulate a half-written append by another writer: readJournal reports it, leaves it.
    const full = await readFile(t.path);
    const torn = Buffer.concat([full, Buffer.from(encodeFrame(credit())).subarray(0, 20)]);
    await writeFile(t.path, torn);
    const r = await readJournal(t.path); // while `j` holds the lock
    assert.deepEqual(r.records, recs);
    assert.equal(r.tornBytes, 20);
    assert.deepEqual(await readFile(t.path), torn, 'read-only: nothing truncated');
    assert.deepEqual(r.summary, summarize(recs));
    const json = JSON.parse(JSON.stringify(summaryToJSON(r.summary))) as { earnedByPayer: Record<string, string>; totals: Record<string, unknown> };
    assert.equal(json.earnedByPayer[payer], ((1n << 60n) + 5n).toString());
    assert.deepEqual(json.totals, { earned: ((1n << 60n) + 5n).toString(), charged: '1', spent: '7', credits: 2, charges: 1, payments: 1, transfers: 0 });
    await j.close();
  } finally {
    await t.done();
  }
});

test('transfers (session resume): balance per session = credits + in − charge − out; never more than is left, across reopen', async () => {
  const t = await tmp();
  try {
    const payer = key();
    const a = hex(32);
    const b = hex(32);
    const c = hex(32);
    const j = await Journal.open(t.path);
    await j.append(credit({ payer, sessionHash: a, amount: 10_000n }));
    await j.append(charge({ sessionHash: a, units: 3_000n, bytes: 3n << 20n }), { sync: false });
    assert.equal(j.balanceOf(a), 7_000n);
    assert.deepEqual([...j.payersOf(a)], [payer]);
    assert.equal(j.payersOf(b).size, 0);
    // Checked synchronously: a second move of the same balance is refused before any I/O.
    const move: TransferRecord = { kind: 'transfer', from: a, to: b, amount: 7_000n, payer, infoHash: INFO, time: 1_795_000_000_003 };
    const first = j.append(move);
    await rejectsCode(j.append({ ...move, to: c }), 'OVERDRAWN');
    await first;
    assert.equal(j.balanceOf(a), 0n);
    assert.equal(j.balanceOf(b), 7_000n);
    assert.deepEqual([...j.payersOf(b)], [payer], 'the moved credit is the payer\'s in its new session too (a chain of resumes stays owned)');
    await rejectsCode(j.append({ ...move, from: b, to: c, amount: 7_001n }), 'OVERDRAWN');
    await j.append(charge({ sessionHash: b, units: 2_000n, bytes: 2n << 20n }), { sync: false });
    await j.append({ ...move, from: b, to: c, amount: 5_000n });
    await j.close();

    const k = await Journal.open(t.path);
    assert.deepEqual([a, b, c].map((s) => k.balanceOf(s)), [0n, 0n, 5_000n], 'balances rebuilt on open');
    const s = k.summary();
    assert.equal(s.totals.transfers, 2);
    assert.equal(s.movedOutBySession.get(a), 7_000n);
    assert.equal(s.movedInBySession.get(c), 5_000n);
    assert.deepEqual(summaryToJSON(s).movedOutBySession, { [a]: '7000', [b]: '5000' });
    // The record is validated: a session cannot move to itself.
    await rejectsCode(k.append({ ...move, from: c, to: c, amount: 1n }), 'BAD_RECORD');
    await k.close();
  } finally {
    await t.done();
  }
});

test('property: credits, charges and transfers in any order — money is conserved, no balance goes negative, balances rebuild on reopen', async () => {
  const sessions = [hex(32), hex(32), hex(32), hex(32)];
  const payer = key();
  const op = fc.oneof(
    fc.record({ k: fc.constant('credit' as const), s: fc.nat(3), amount: fc.bigInt({ min: 1n, max: 10_000n }) }),
    fc.record({ k: fc.constant('charge' as const), s: fc.nat(3), part: fc.integer({ min: 0, max: 100 }) }),
    fc.record({ k: fc.constant('transfer' as const), from: fc.nat(3), to: fc.nat(3), amount: fc.bigInt({ min: 0n, max: 12_000n }) }),
  );
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
    const t = await tmp();
    try {
      const j = await Journal.open(t.path, { noLock: true });
      const model = new Map<string, bigint>();
      const charged = new Map<string, bigint>();
      const bal = (s: string): bigint => model.get(s) ?? 0n;
      let credits = 0n;
      let charges = 0n;
      for (const o of ops) {
        if (o.k === 'credit') {
          const s = sessions[o.s];
          await j.append(credit({ payer, sessionHash: s, amount: o.amount }), { sync: false });
          model.set(s, bal(s) + o.amount);
          credits += o.amount;
        } else if (o.k === 'charge') {
          // The meter never charges past the balance: a part of what is left.
          const s = sessions[o.s];
          const units = (bal(s) * BigInt(o.part)) / 100n;
          const cum = (charged.get(s) ?? 0n) + units;
          await j.append(charge({ sessionHash: s, units: cum, bytes: cum << 10n }), { sync: false });
          charged.set(s, cum);
          model.set(s, bal(s) - units);
          charges += units;
        } else {
          const from = sessions[o.from];
          const to = sessions[o.to];
          const rec: TransferRecord = { kind: 'transfer', from, to, amount: o.amount, payer, infoHash: INFO, time: 1_795_000_000_004 };
          if (from === to) { await rejectsCode(j.append(rec), 'BAD_RECORD'); continue; }
          if (o.amount > bal(from)) { await rejectsCode(j.append(rec), 'OVERDRAWN'); continue; }
          await j.append(rec, { sync: false });
          model.set(from, bal(from) - o.amount);
          model.set(to, bal(to) + o.amount);
        }
        for (const s of sessions) {
          assert.equal(j.balanceOf(s), bal(s));
          assert.ok(j.balanceOf(s) >= 0n);
        }
      }
      assert.equal(sessions.reduce((a, s) => a + j.balanceOf(s), 0n), credits - charges, 'conserved: balances = credits − charges');
      await j.close();
      const k = await Journal.open(t.path, { noLock: true });
      for (const s of sessions) assert.equal(k.balanceOf(s), bal(s), 'rebuilt on open');
      await k.close();
    } finally {
      await t.done();
    }
  }), { numRuns: 25 });
});
