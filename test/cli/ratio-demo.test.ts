/**
 * `seedpay demo --ratio` as a user runs it (a child process): node B uploads T1 to
 * node A, then buys the larger T2 from A with ratio terms 1:1. The receipt must show
 * credit spent, USDC paid below the full price of T2 (and exactly the charge for the
 * bytes credit did not cover), and each file's sha256 — which this test recomputes
 * from the files the demo keeps (--keep), so a receipt that claims a match it did not
 * have fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../../testkit/run-cli.js';

const MIB = 1024 * 1024;

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** The USDC amount on a receipt line, in base units (6 decimals). */
function units(text: string): bigint {
  const [whole, frac = ''] = text.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

test('demo --ratio: credit earned by uploading pays for part of T2, money for the rest; both files verified', { timeout: 60_000 }, async () => {
  const r = await runCli(['demo', '--ratio', '--upload-size', '3M', '--size', '8M', '--keep'], {}, 50_000);
  const root = /files kept in (\S+)/.exec(r.stderr)?.[1];
  try {
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^receipt \(ratio credits\)$/m);
    assert.doesNotMatch(out, /MISMATCH/);
    assert.match(out, /^ {2}verified {4}yes/m);
    const earned = BigInt(/^ {2}earned +(\d+) bytes of credit for B at A/m.exec(out)![1]);
    assert.equal(earned, BigInt(3 * MIB), 'B earned what it uploaded');
    const [, served, spent] = /^ {2}from credit (\d+) bytes served, (\d+) bytes of credit spent/m.exec(out)!;
    assert.ok(BigInt(spent) > 0n, 'credit spent');
    assert.equal(BigInt(served), BigInt(3 * MIB), 'at 1:1, the whole credit served');
    const paidFor = BigInt(/^ {2}paid for {4}(\d+) bytes/m.exec(out)![1]);
    assert.equal(paidFor + BigInt(served), BigInt(8 * MIB), 'credit and money cover T2 exactly');
    const [, paid, full] = /^ {2}paid {8}([\d.]+) USDC in \d+ payment\(s\), full price ([\d.]+) USDC/m.exec(out)!;
    assert.equal(units(full), 8000n, '8 MiB at 0.001 USDC per MiB');
    assert.ok(units(paid) < units(full), `paid ${paid} < full price ${full}`);
    assert.ok(units(paid) >= 5000n, `paid ${paid} covers the 5 MiB credit did not`);
    assert.match(out, /^ {2}tx {2}1 {7}[1-9A-HJ-NP-Za-km-z]{64,88} {2}[\d.]+ USDC$/m);
    // The receipt's hashes are the files' hashes, on both sides.
    assert.ok(root !== undefined, r.stderr);
    const t1 = /^ {2}sha256 T1 {3}([0-9a-f]{64})$/m.exec(out)![1];
    const t2 = /^ {2}sha256 T2 {3}([0-9a-f]{64})$/m.exec(out)![1];
    assert.equal(await sha256(join(root, 'B', 't1.bin')), t1, 'T1 at B (its source)');
    assert.equal(await sha256(join(root, 'A', 't1.bin')), t1, 'T1 as A received it');
    assert.equal(await sha256(join(root, 'A', 't2.bin')), t2, 'T2 at A (its source)');
    assert.equal(await sha256(join(root, 'B', 't2.bin')), t2, 'T2 as B received it');
  } finally {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  }
});

test('demo --ratio: a bad size is one usage line', { timeout: 30_000 }, async () => {
  const r = await runCli(['demo', '--ratio', '--upload-size', 'lots'], {}, 20_000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^seedpay: bad size 'lots'/m);
});
