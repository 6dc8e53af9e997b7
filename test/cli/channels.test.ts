/**
 * `seedpay channels` as a user runs it (a child process): a buyer's journal lists each
 * channel it opened with its seller, deposit, voucher total and expiry; a seller's lists
 * each channel it was paid on with the latest voucher and what was claimed; --json gives
 * exact base units; a missing journal is one line and exit 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../payment/journal.js';
import { hex, key, NOW, sig, testOpts, tmpJournal } from '../payment/journal-fixtures.js';
import { assertOneLine, runCli } from '../../testkit/run-cli.js';

const EXPIRY = 1_900_000_000n;

test('channels: a buyer journal and a seller journal, in text and --json', async () => {
  const b = await tmpJournal('seedpay-chan-cli-b-');
  const s = await tmpJournal('seedpay-chan-cli-s-');
  try {
    const seller = key();
    const buyer = key();
    const c = key();
    const info = hex(20);
    const bj = await Journal.open(b.path, testOpts());
    await bj.append({ kind: 'channel_open', channel: c, seller, mint: key(), nonce: 7n, deposit: 1_000_000n, expiry: EXPIRY, voucherKey: key(), time: NOW });
    await bj.append({ kind: 'voucher_sent', channel: c, amount: 1_500n, seller, infoHash: info, time: NOW });
    await bj.append({ kind: 'voucher_sent', channel: c, amount: 4_000n, seller, infoHash: info, time: NOW + 1 });
    await bj.close();
    const sj = await Journal.open(s.path, testOpts());
    await sj.append({ kind: 'voucher', channel: c, amount: 4_000n, signature: sig(), buyer, sessionHash: hex(32), infoHash: info, time: NOW });
    await sj.append({ kind: 'channel_claimed', channel: c, amount: 4_000n, signature: sig(), closed: true, time: NOW + 2 });
    await sj.close();

    const rb = await runCli(['channels', '--journal', b.path]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /^1 channel\(s\) in /);
    assert.match(rb.stdout, new RegExp(`channel ${c} to seller ${seller}: deposit 1 USDC \\(1000000\\), vouchers 0\\.004 USDC \\(4000\\), expires ${new Date(Number(EXPIRY) * 1000).toISOString()}`));

    const rs = await runCli(['channels', '--journal', s.path]);
    assert.equal(rs.code, 0, rs.stderr);
    assert.match(rs.stdout, new RegExp(`channel ${c} from buyer ${buyer}: vouchers 0\\.004 USDC \\(4000\\), claimed 0\\.004 USDC \\(4000\\), closed`));

    const rj = await runCli(['channels', '--journal', b.path, '--json']);
    assert.equal(rj.code, 0, rj.stderr);
    const doc = JSON.parse(rj.stdout) as { channels: { channel: string; role: string; deposit: string; vouchers: string; expiry: number }[] };
    assert.deepEqual(doc.channels.map((r) => [r.channel, r.role, r.deposit, r.vouchers, r.expiry]), [[c, 'buyer', '1000000', '4000', Number(EXPIRY)]]);

    const missing = await runCli(['channels', '--journal', `${b.path}.nope`]);
    assert.equal(missing.code, 1);
    assertOneLine(missing, /no journal at/, { code: 1 });
  } finally {
    await b.done();
    await s.done();
  }
});
