/**
 * The journal's payment-channel records (docs/PROTOCOL.md, "Payment channels"): what
 * each one is checked against (vouchers only go up, never above the deposit, claims
 * never down nor beyond the vouchers), how voucher increases count as earned and
 * spent, and that reopen and compaction answer the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal, type ChannelOpenRecord } from '../../payment/journal.js';
import { hex, key, NOW, rejectsCode, sig, testOpts, tmpJournal } from './journal-fixtures.js';

const SELLER = key();
const MINT = key();

function open(channel: string, deposit = 10_000n): ChannelOpenRecord {
  return { kind: 'channel_open', channel, seller: SELLER, mint: MINT, nonce: 7n, deposit, expiry: 1_900_000_000n, voucherKey: key(), time: NOW };
}

test('buyer: voucher_sent needs its channel_open, goes up, stays within the deposit; increases count as spent per seller and torrent', async () => {
  const t = await tmpJournal('seedpay-chan-');
  try {
    const j = await Journal.open(t.path, testOpts());
    const c = key();
    const [ta, tb] = [hex(20), hex(20)];
    await rejectsCode(j.append({ kind: 'voucher_sent', channel: c, amount: 5n, seller: SELLER, infoHash: ta, time: NOW }), 'UNKNOWN_CHANNEL');
    await j.append(open(c));
    await rejectsCode(j.append(open(c)), 'UNKNOWN_CHANNEL');
    await j.append({ kind: 'voucher_sent', channel: c, amount: 1_000n, seller: SELLER, infoHash: ta, time: NOW });
    await j.append({ kind: 'voucher_sent', channel: c, amount: 2_500n, seller: SELLER, infoHash: tb, time: NOW + 1 });
    await rejectsCode(j.append({ kind: 'voucher_sent', channel: c, amount: 2_500n, seller: SELLER, infoHash: ta, time: NOW }), 'STALE_VOUCHER');
    await rejectsCode(j.append({ kind: 'voucher_sent', channel: c, amount: 10_001n, seller: SELLER, infoHash: ta, time: NOW }), 'OVERDRAWN');
    const check = (k: Journal): void => {
      assert.equal(k.sentOf(c), 2_500n);
      assert.equal(k.spentOn(ta), 1_000n);
      assert.equal(k.spentOn(tb), 1_500n, 'the increase, not the cumulative amount');
      assert.equal(k.summary().spentBySeller.get(SELLER), 2_500n);
      assert.equal(k.summary().totals.spent, 2_500n);
      assert.equal(k.channelOf(c)?.open?.deposit, 10_000n);
      assert.equal(k.channelOf(c)?.sent, 2_500n);
    };
    check(j);
    await j.close();
    const k = await Journal.open(t.path, testOpts());
    check(k);
    await k.compact();
    check(k);
    await k.close();
    const m = await Journal.open(t.path, testOpts());
    check(m);
    await rejectsCode(m.append({ kind: 'voucher_sent', channel: c, amount: 2_000n, seller: SELLER, infoHash: ta, time: NOW }), 'STALE_VOUCHER');
    await m.close();
  } finally {
    await t.done();
  }
});

test('seller: vouchers only go up, each increase credited once to its session (balance, payer); claims neither go down nor beyond the vouchers', async () => {
  const t = await tmpJournal('seedpay-chan-');
  try {
    const j = await Journal.open(t.path, testOpts());
    const c = key();
    const buyer = key();
    const [s1, s2] = [hex(32), hex(32)];
    const info = hex(20);
    const v = (amount: bigint, sessionHash: string) => ({ kind: 'voucher' as const, channel: c, amount, signature: sig(), buyer, sessionHash, infoHash: info, time: NOW });
    await j.append(v(1_000n, s1));
    // Two sessions racing with the same voucher: the journal takes one (synchronously).
    const a = j.append(v(3_000n, s2));
    await rejectsCode(j.append(v(3_000n, s1)), 'STALE_VOUCHER');
    await a;
    await rejectsCode(j.append(v(2_000n, s1)), 'STALE_VOUCHER');
    await rejectsCode(j.append({ kind: 'channel_claimed', channel: c, amount: 3_001n, signature: sig(), closed: false, time: NOW }), 'OVERDRAWN');
    await j.append({ kind: 'channel_claimed', channel: c, amount: 2_000n, signature: sig(), closed: false, time: NOW });
    await rejectsCode(j.append({ kind: 'channel_claimed', channel: c, amount: 1_999n, signature: sig(), closed: false, time: NOW }), 'STALE_VOUCHER');
    const check = (k: Journal): void => {
      assert.equal(k.acceptedOf(c), 3_000n);
      assert.equal(k.balanceOf(s1), 1_000n);
      assert.equal(k.balanceOf(s2), 2_000n, 'the increase over the previous voucher');
      assert.deepEqual([...k.payersOf(s2)], [buyer], 'only the buyer may resume what its vouchers paid');
      assert.equal(k.summary().earnedByPayer.get(buyer), 3_000n);
      assert.equal(k.channelOf(c)?.voucher?.amount, 3_000n);
      assert.equal(k.channelOf(c)?.claimed?.amount, 2_000n);
    };
    check(j);
    await j.compact();
    check(j);
    await j.close();
    const k = await Journal.open(t.path, testOpts());
    check(k);
    await k.close();
  } finally {
    await t.done();
  }
});
