/**
 * `seedpay demo --channel` as a user runs it (a child process): the local ledger with
 * the escrow program, one channel opened with a 1 USDC deposit, vouchers while 4 MiB
 * transfer, the seller's claim+close at shutdown. The receipt's figures must add up by
 * this test's own arithmetic (deposit = paid + refund, paid = voucher total = the
 * charge plus what ran ahead, both balances moving by those amounts), both transactions
 * must be there, and the sha256 is recomputed from the files the demo keeps (--keep),
 * so a receipt that claims a match it did not have fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import { runCli } from '../../testkit/run-cli.js';

const MIB = 1024 * 1024;
const SIG = '[1-9A-HJ-NP-Za-km-z]{64,88}';
const ADDRESS = '[1-9A-HJ-NP-Za-km-z]{32,44}';

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** A USDC amount as the receipt prints it, in base units (6 decimals). */
function units(text: string): bigint {
  const [whole, frac = ''] = text.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

/** The captures of `re` on the receipt, or a failure naming the line that is missing. */
function field(out: string, re: RegExp): string[] {
  const m = re.exec(out);
  assert.ok(m !== null, `receipt line ${re} missing in:\n${out}`);
  return m.slice(1);
}

test('demo --channel: one open, vouchers, claim+close; deposit = paid + refund, file verified', { timeout: 120_000 }, async (t) => {
  // The demo builds the program itself when missing; here the build is checked first so
  // a machine without clang skips (CI=true: fails) rather than failing on the demo's error.
  if (requireChannelProgram(t) === null) return;
  const r = await runCli(['demo', '--channel', '--size', '4M', '--keep'], {}, 100_000);
  const root = /files kept in (\S+)/.exec(r.stderr)?.[1];
  try {
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^receipt \(payment channel\)$/m);
    assert.doesNotMatch(out, /MISMATCH/);
    assert.match(out, /^ {2}verified {4}yes/m);
    const [payload, paidBytes] = field(out, /^ {2}bytes {7}(\d+) payload \((\d+) paid, 0 free\)/m);
    assert.equal(Number(payload), 4 * MIB);
    assert.equal(Number(paidBytes), 4 * MIB, 'every byte paid by vouchers');
    field(out, new RegExp(`^ {2}channel {5}${ADDRESS}$`, 'm'));
    const [openTx] = field(out, new RegExp(`^ {2}open tx {5}(${SIG}) {2}\\(landed\\)$`, 'm'));
    const [held, before, mid] = field(out, /^ {2}deposit {5}([\d.]+) USDC held by the channel; buyer ([\d.]+) USDC → ([\d.]+) USDC at the open$/m);
    assert.equal(units(held), 1_000_000n, 'the default deposit, 1 USDC, as the channel account held it');
    assert.equal(units(before) - units(mid), units(held), 'the open moved the deposit out of the buyer');
    const [count, total, accepted, credited] = field(out, /^ {2}vouchers {4}(\d+) signed, total ([\d.]+) USDC; seller accepted (\d+), credited ([\d.]+) USDC$/m);
    assert.ok(Number(count) >= 1);
    assert.equal(accepted, count, 'the seller accepted every voucher');
    assert.equal(units(credited), units(total));
    const [charged] = field(out, /^ {2}charged {5}([\d.]+) USDC = ceil\(4194304 × 1000 \/ 2\^20\) base units$/m);
    assert.equal(units(charged), 4000n, '4 MiB at 0.001 USDC per MiB');
    const [ahead] = field(out, /^ {2}ahead {7}([\d.]+) USDC vouchered beyond the charge/m);
    assert.equal(units(charged) + units(ahead), units(total));
    assert.ok(units(ahead) <= 1000n, 'at most one min_prepay (1 MiB worth) beyond the whole file');
    const [claimTx, claimed] = field(out, new RegExp(`^ {2}claim\\+close (${SIG}) {2}([\\d.]+) USDC, channel closed {2}\\(landed\\)$`, 'm'));
    assert.notEqual(claimTx, openTx);
    assert.equal(units(claimed), units(total), 'the claim paid the voucher total');
    assert.match(out, /^ {2}closed {6}yes/m);
    const [paid, sellerFrom, sellerTo] = field(out, /^ {2}paid {8}([\d.]+) USDC to the seller \(its token account ([\d.]+) USDC → ([\d.]+) USDC\)/m);
    assert.equal(units(paid), units(total), 'paid = the voucher total');
    assert.equal(units(sellerTo) - units(sellerFrom), units(paid), 'the seller gained what was paid');
    const [refund, refundFrom, refundTo] = field(out, /^ {2}refund {6}([\d.]+) USDC back to the buyer \(([\d.]+) USDC → ([\d.]+) USDC\)/m);
    assert.equal(units(refundFrom), units(mid));
    assert.equal(units(refundTo) - units(refundFrom), units(refund));
    assert.equal(units(paid) + units(refund), units(held), 'deposit = paid + refund');
    assert.equal(units(before) - units(refundTo), units(paid), 'the buyer is out exactly what it paid');
    assert.match(out, /^ {2}on chain {4}2 transactions \(open \+ 1 claim\)/m);
    // The receipt's hash is the files' hash, on both sides.
    assert.ok(root !== undefined, r.stderr);
    const [sha] = field(out, /^ {2}sha256 {6}([0-9a-f]{64})$/m);
    assert.equal(await sha256(join(root, 'seller', 'sample.bin')), sha, 'the source');
    assert.equal(await sha256(join(root, 'buyer', 'sample.bin')), sha, 'as the buyer received it');
  } finally {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  }
});

test('demo --channel: a deposit that cannot cover the file is one usage line', { timeout: 30_000 }, async () => {
  const r = await runCli(['demo', '--channel', '--size', '64M', '--deposit', '0.01'], {}, 20_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^seedpay: --deposit 0\.01 USDC does not cover 64\.0 MiB at 0\.001 USDC per MiB \(needs 0\.065 USDC\)$/m);
});
