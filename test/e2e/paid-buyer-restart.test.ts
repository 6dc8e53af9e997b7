/**
 * Session resume across a buyer restart: a buyer stopped in the middle of a paid
 * download leaves prepaid credit in its session at the seller. A new PaidBuyer on the
 * same journal (another process, later) finds that session in its journal, resumes it
 * with the seller and spends that credit first: nothing the first run paid is lost.
 * And its budgets count what the earlier run paid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import bs58 from 'bs58';
import { Client } from '../../lib/net/client.js';
import { readJournal } from '../../payment/journal.js';
import { associatedTokenAddress } from '../../payment/chain.js';
import { laggingChain, lateConfirmation } from '../../testkit/attack-late-confirmation.js';
import { funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC } from '../../testkit/paid-helpers.js';

const MiB = 1024 * 1024;

test('a buyer restarted on its journal resumes its earlier session: the prepaid credit it left is spent, nothing lost', { timeout: 90_000 }, async () => {
  const env = await startEnv();
  try {
    const content = await makeContent(env, 48 * MiB);
    const s = await startSeller(env, content, funded(env, 0n), { price: 1_000n, minPrepay: 500n });
    const key = funded(env, 1n * USDC);
    const journalPath = join(env.root, 'buyer-restart.journal');
    const dir = await leechDir(env);
    // Run 1: stopped after its first credit, once some data arrived.
    const leech1 = new Client({ localAddress: '127.0.0.21' });
    // A first payment of 24 MiB (risk accepted explicitly): credit is left at the stop.
    const b1 = await openBuyer(env, key, { journalPath, maxPrepay: 24_000n, policy: { firstPaymentBytes: 24n * BigInt(MiB) } });
    let session1: string | null = null;
    let credited1 = false;
    b1.on('session', (p) => { session1 ??= p.sessionHash; });
    b1.on('confirmed', () => { credited1 = true; });
    const t1 = await b1.add(leech1, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
    // Pieces whose hash check passed before the stop (the verdict comes before the write).
    const checked = new Set<number>();
    t1.on('peer_piece', (_p, index, ok) => { if (ok) checked.add(index); });
    await until(() => credited1 && t1.progress().bytesHave >= 2 * MiB, 30_000, 'a credit and some data');
    const have1 = t1.progress().bytesHave;
    const got1 = t1.stats().downloaded;
    await leech1.close();
    await b1.close();
    const checkedAtStop = new Set(checked);
    assert.ok(session1 !== null);
    assert.equal(t1.isComplete, false, 'stopped in the middle');
    await until(() => s.seller.journal.chargedFor(session1!).units > 0n, 10_000, 'the seller journaled the charge of run 1');
    const left = s.seller.journal.balanceOf(session1);
    assert.ok(left > 0n, `run 1 left credit at the seller (${left})`);

    // Run 2: a new buyer on the same journal resumes it.
    const leech2 = new Client({ localAddress: '127.0.0.22' });
    const b2 = await openBuyer(env, key, { journalPath });
    const resumed: { prev: string; credited: bigint }[] = [];
    b2.on('resumed', (_p, prev, credited) => resumed.push({ prev, credited }));
    try {
      const t2 = await b2.add(leech2, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      console.log(`[restart] run 1: ${have1} bytes written and ${checkedAtStop.size} pieces hash-checked, ${got1} received at the stop; run 2 found ${t2.progress().bytesHave} on disk`);
      // A graceful stop writes every piece that passed its hash check (Torrent.close).
      for (const i of checkedAtStop) assert.ok(t2.hasPiece(i), `piece ${i}, checked before the stop, is on disk`);
      await whenComplete(t2, 60_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
      assert.deepEqual(resumed, [{ prev: session1, credited: left }], 'run 1\'s session resumed with all it had left');
      assert.equal(s.seller.journal.balanceOf(session1), 0n);
    } finally {
      await leech2.close();
      await b2.close();
    }
    await s.client.close();
    await s.seller.close();
    const sj = await readJournal(s.seller.journal.path);
    const sm = sj.summary;
    const charged = [...sm.chargedBySession.values()].reduce((a, c) => a + c.units, 0n);
    const credited = sm.totals.earned;
    const stranded = [...sm.earnedBySession.keys()].filter((sh) => sh === session1).reduce((a, sh) => a + (sm.earnedBySession.get(sh) ?? 0n) - (sm.chargedBySession.get(sh)?.units ?? 0n) - (sm.movedOutBySession.get(sh) ?? 0n), 0n);
    assert.equal(stranded, 0n, 'nothing stranded in run 1\'s session');
    // What both runs paid: charged for data sent, or (the last session's) prepaid remainder.
    console.log(`[restart] run 1 left ${left}, moved to run 2; credited ${credited}, charged ${charged} for ${content.meta.totalLength} bytes`);
  } finally {
    await env.close();
  }
});

test('a buyer restarted on its journal keeps its budget spent: what earlier runs paid for a torrent counts', { timeout: 60_000 }, async () => {
  const env = await startEnv();
  try {
    const content = await makeContent(env, 4 * MiB);
    const s = await startSeller(env, content, funded(env, 0n), { price: 1_000n, minPrepay: 400n });
    const key = funded(env, 1n * USDC);
    const journalPath = join(env.root, 'budget-restart.journal');
    // An earlier run paid 700 for this torrent (its journal says so; two hours ago, so
    // there is no session of it to resume).
    const b1 = await openBuyer(env, key, { journalPath });
    await b1.journal.append({
      kind: 'payment', signature: bs58.encode(randomBytes(64)), amount: 700n, seller: s.seller.terms.wallet,
      infoHash: content.meta.infoHashHex, sessionHash: 'cd'.repeat(32), time: Date.now() - 2 * 3_600_000,
    });
    await b1.close();
    // With a budget of 1000, 300 is left: less than the seller's minimum payment of 400.
    const b2 = await openBuyer(env, key, { journalPath, budget: 1000n });
    const leech = new Client();
    const exhausted: bigint[] = [];
    b2.on('budget_exhausted', (_p, needed) => exhausted.push(needed));
    try {
      await b2.add(leech, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
      await until(() => exhausted.length > 0, 15_000, 'the budget to run out');
      assert.equal(b2.spent, 0n, 'nothing paid beyond the budget');
    } finally {
      await leech.close();
      await b2.close();
      await s.client.close();
      await s.seller.close();
    }
  } finally {
    await env.close();
  }
});

test('late-confirmation attack: a payment confirmed after the buyer stopped waiting is journaled, proven in its session, credited; the download completes', { timeout: 60_000 }, async () => {
  const env = await startEnv();
  try {
    const r = await lateConfirmation.run(env);
    console.log(`[late-confirmation] ${JSON.stringify(r)}`);
    assert.ok(r.outcome.includes('download complete'), r.outcome);
    assert.ok(!r.outcome.startsWith('0 payment'), `the attack made a payment late: ${r.outcome}`);
    assert.equal(r.lost_base_units, 0, r.outcome);
  } finally {
    await env.close();
  }
});

test('a buyer stopped while its payment\'s confirmation was late: the next run finds it pending in the journal, journals it as landed and proves it by session resume', { timeout: 60_000 }, async () => {
  const env = await startEnv();
  try {
    const content = await makeContent(env, 6 * MiB);
    const s = await startSeller(env, content, funded(env, 0n), { price: 1_000n, minPrepay: 500n });
    const key = funded(env, 1n * USDC);
    const balance = async (): Promise<bigint> => (await env.chain.tokenAccount(associatedTokenAddress(env.ledger.mint, key.publicKey)))?.amount ?? 0n;
    const before = await balance();
    const journalPath = join(env.root, 'late-restart.journal');
    const dir = await leechDir(env);
    // Run 1: its RPC never shows the payment confirmed (it landed all the same); stopped while it waits.
    const leech1 = new Client({ localAddress: '127.0.0.23' });
    const b1 = await openBuyer(env, key, { journalPath, chain: laggingChain(env.chain, 3_600_000), confirmTimeoutMs: 200, pendingCheckMs: 100 });
    const late: string[] = [];
    let session1: string | null = null;
    b1.on('session', (p) => { session1 ??= p.sessionHash; });
    b1.on('pay_pending', (_p, tx) => late.push(tx));
    await b1.add(leech1, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
    await until(() => late.length > 0, 20_000, 'a payment not confirmed in time');
    assert.deepEqual(b1.pendingPayments(), late, 'watched');
    const pendingRecord = b1.journal.pendingPayment(late[0]);
    assert.ok(pendingRecord !== undefined && pendingRecord.sessionHash === session1, 'journaled as pending, naming its session');
    assert.equal(b1.journal.hasPayment(late[0]), false);
    await leech1.close();
    await b1.close();
    const paid = before - await balance();
    assert.equal(paid, pendingRecord.amount, 'it landed');
    assert.equal(s.seller.totals().credited, 0n, 'never proven by run 1');

    // Run 2 on the same journal, with an RPC that works: the payment is found, journaled, resumed and proven.
    const leech2 = new Client({ localAddress: '127.0.0.24' });
    const b2 = await openBuyer(env, key, { journalPath });
    const resumed: { prev: string; payments: number }[] = [];
    b2.on('resumed', (_p, prev, _c, payments) => resumed.push({ prev, payments }));
    try {
      assert.deepEqual(b2.pendingPayments(), [], 'settled on open');
      assert.equal(b2.journal.hasPayment(late[0]), true, 'journaled as a payment');
      const t2 = await b2.add(leech2, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(t2, 30_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
      assert.deepEqual(resumed, [{ prev: session1, payments: 1 }], 'run 1\'s session resumed with its late payment');
      await until(() => b2.payments().every((p) => s.seller.totals().payments.some((c) => c.tx === p.tx)), 10_000, 'run 2\'s payments credited');
      const credited = s.seller.totals().credited;
      const spent = before - await balance();
      assert.equal(credited, spent, `everything paid is credited (paid ${spent}, credited ${credited})`);
      assert.ok(s.seller.totals().payments.some((c) => c.tx === late[0]), 'the late payment is credited');
    } finally {
      await leech2.close();
      await b2.close();
    }
    await s.client.close();
    await s.seller.close();
  } finally {
    await env.close();
  }
});
