/**
 * `seedpay credits` as a user runs it (a child process) on a journal with ratio
 * records written by a CreditBook: every identity with what it earned, spent, has
 * available, its strikes and its last earning, in text (human-readable and exact
 * bytes) and in --json; the default journal is the seller journal in SEEDPAY_HOME;
 * --ratio-ttl shows stale credit as expired; a compacted journal (balances in its
 * snapshot) reads the same; a missing journal is one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreditBook } from '../../payment/credit-book.js';
import { generateWallet } from '../../payment/session.js';
import { assertOneLine, runCli } from '../../testkit/run-cli.js';

const MIB = 1024 * 1024;
const IH = new Uint8Array(20).fill(7);
/** An hour ago: B's last earning, to be expired by a TTL shorter than that. */
const HOUR_AGO = Date.now() - 3_600_000;

interface JsonRow { identity: string; earned: string; vouched: string; spent: string; available: string; strikes: number; lastEarned: number | null; expired: boolean }

/** A journal where B earned 3 MiB and spent 1 MiB of it, C earned 512 KiB an hour ago and has a strike. */
async function writeBook(path: string, compact = false): Promise<{ b: string; c: string }> {
  const b = generateWallet().address;
  const c = generateWallet().address;
  let now = HOUR_AGO;
  const book = await CreditBook.open(path, { now: () => now });
  try {
    book.earn(c, 512 * 1024, IH);
    book.strike(c, IH);
    await book.flush();
    now = Date.now();
    book.earn(b, 3 * MIB, IH);
    await book.flush();
    const r = book.reserve(b, BigInt(MIB), Buffer.from(IH).toString('hex'), 'ab'.repeat(32));
    assert.ok(r !== null);
    r.spend(BigInt(MIB));
    await r.release();
    if (compact) await book.journal.compact();
  } finally {
    await book.close();
  }
  return { b, c };
}

test('credits: every identity with earned, spent, available, strikes and last earning, in text and --json', { timeout: 30_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-cli-credits-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const home = join(root, 'home');
  await mkdir(home);
  // The default journal: the seller journal in SEEDPAY_HOME, where `seed` and `node` keep the node's book.
  const { b, c } = await writeBook(join(home, 'earnings.journal'));
  const E = { SEEDPAY_HOME: home };

  const text = await runCli(['credits'], E);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ratio credits of 2 identities, 2\.5 MiB \(2621440\) available in all \(.*earnings\.journal\)$/m);
  assert.match(text.stdout, /^ {2}identity +earned +vouched +spent +available +strikes +last earned$/m);
  const rowB = text.stdout.split('\n').find((l) => l.includes(b));
  const rowC = text.stdout.split('\n').find((l) => l.includes(c));
  assert.ok(rowB !== undefined && rowC !== undefined, text.stdout);
  assert.match(rowB, new RegExp(`^ {2}${b} +3\\.0 MiB \\(3145728\\) +0 B +1\\.0 MiB \\(1048576\\) +2\\.0 MiB \\(2097152\\) +0 +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
  assert.match(rowC, new RegExp(`^ {2}${c} +512\\.0 KiB \\(524288\\) +0 B +0 B +512\\.0 KiB \\(524288\\) +1 +${new Date(HOUR_AGO).toISOString().slice(0, 19)}Z$`));
  assert.ok(text.stdout.indexOf(b) < text.stdout.indexOf(c), 'most available first');

  const json = await runCli(['credits', '--json'], E);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { journal: string; identities: JsonRow[] };
  assert.equal(parsed.journal, join(home, 'earnings.journal'));
  const byId = new Map(parsed.identities.map((r) => [r.identity, r]));
  assert.deepEqual(byId.get(b), { identity: b, earned: String(3 * MIB), vouched: '0', spent: String(MIB), available: String(2 * MIB), strikes: 0, lastEarned: byId.get(b)!.lastEarned, expired: false });
  assert.ok(byId.get(b)!.lastEarned! > HOUR_AGO);
  assert.deepEqual(byId.get(c), { identity: c, earned: String(512 * 1024), vouched: '0', spent: '0', available: String(512 * 1024), strikes: 1, lastEarned: HOUR_AGO, expired: false });

  // A 10-minute TTL: C stopped earning an hour ago, its credit is expired; B's is not.
  const ttl = JSON.parse((await runCli(['credits', '--json', '--ratio-ttl', '600'], E)).stdout) as { identities: JsonRow[] };
  const ttlBy = new Map(ttl.identities.map((r) => [r.identity, r]));
  assert.deepEqual([ttlBy.get(c)!.available, ttlBy.get(c)!.expired], ['0', true]);
  assert.deepEqual([ttlBy.get(b)!.available, ttlBy.get(b)!.expired], [String(2 * MIB), false]);
  const ttlText = await runCli(['credits', '--ratio-ttl', '600'], E);
  assert.match(ttlText.stdout.split('\n').find((l) => l.includes(c))!, /0 B \(expired\)/);
});

test('credits: a compacted journal (balances in its snapshot) reads the same; an empty book and a missing journal', { timeout: 30_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-cli-credits-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const path = join(root, 'compacted.journal');
  const { b, c } = await writeBook(path, true);
  const json = await runCli(['credits', '--journal', path, '--json'], {});
  assert.equal(json.code, 0, json.stderr);
  const rows = (JSON.parse(json.stdout) as { identities: JsonRow[] }).identities;
  assert.deepEqual(rows.map((r) => [r.identity, r.earned, r.spent, r.available, r.strikes]), [
    [b, String(3 * MIB), String(MIB), String(2 * MIB), 0],
    [c, String(512 * 1024), '0', String(512 * 1024), 1],
  ]);

  const emptyPath = join(root, 'empty.journal');
  await (await CreditBook.open(emptyPath)).close();
  const empty = await runCli(['credits', '--journal', emptyPath], {});
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^no ratio credits at this node yet/);
  assert.deepEqual(JSON.parse((await runCli(['credits', '--journal', emptyPath, '--json'], {})).stdout), { journal: emptyPath, identities: [] });

  assertOneLine(await runCli(['credits', '--journal', join(root, 'nope.journal')], {}), /no journal at .*nope\.journal/);
  assertOneLine(await runCli(['credits', '--ratio-ttl', 'soon'], { SEEDPAY_HOME: root }), /bad --ratio-ttl 'soon'/, { code: 2 });
});
