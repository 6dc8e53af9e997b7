/**
 * The seller is a child process, killed with SIGKILL mid-transfer and restarted on
 * the same port from its journal. The buyer reconnects, binds a new session, resumes
 * the killed one (session resume: its balance, rebuilt from the journal, moves over),
 * pays for whatever that does not cover and completes. Nothing is lost (every payment
 * is credited, a payment started while the seller was dead included) and nothing is
 * accepted twice (no signature credited twice; an earlier signature offered to the
 * restarted seller's journal is a replay).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { exited, startSellerChild as startChild, type SellerChild as Child } from '../../testkit/seller-child-control.js';
import { Journal, readJournal } from '../../payment/journal.js';
import { PaymentVerifier } from '../../payment/verifier.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, until, whenComplete, USDC } from '../../testkit/paid-helpers.js';

test('seller killed mid-transfer and restarted from its journal: nothing lost, nothing accepted twice', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  const leech = new Client();
  let child: Child | null = null;
  try {
    const sellerKey = funded(env, 0n);
    const content = await makeContent(env, 48 * 1024 * 1024);
    const torrentPath = join(env.root, 'c.torrent');
    await writeFile(torrentPath, (await createTorrentFromPath(content.file, { pieceLength: 256 * 1024 })).torrent);
    const journal = join(env.root, 'seller.journal');
    const config = {
      rpc: env.ledger.url, mint: env.ledger.mint.toBase58(), secretKey: Array.from(sellerKey.secretKey), journal,
      torrent: torrentPath, dir: content.dir, port: 0, price: '1000',
    };
    child = await startChild(config);
    const port = child.port;
    // Payments of up to 24 MiB worth (risk accepted explicitly): few enough that one is not
    // always in flight, so the kill lands mid-transfer with credit left at the seller.
    const buyer = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: 1000n, maxPrepay: 24_000n });
    const confirmed: string[] = [];
    const sessions = new Set<string>();
    let killedAfter = -1;
    let haveAtKill = 0;
    buyer.on('session', (p) => { if (p.sessionHash !== null) sessions.add(p.sessionHash); });
    buyer.on('confirmed', (_p, tx) => { confirmed.push(tx); });
    const rejected: string[] = [];
    buyer.on('rejected', (_p, _tx, reason, final) => rejected.push(`${reason}${final ? ' (final)' : ''}`));
    let started = 0;
    let down = false;
    /** Payments started while the seller was dead (data still in the socket can trigger one): proven again after the restart (session resume). */
    let startedWhileDown = 0;
    buyer.on('paying', () => { started++; if (down) startedWhileDown++; });
    let resumedCredit = 0n;
    buyer.on('resumed', (_p, _prev, credited) => { resumedCredit += credited; });
    try {
      const dir = await leechDir(env);
      const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${port}`] });
      t.on('piece', () => {
        // Mid-transfer: a payment credited and some of its data served, most of the file not,
        // and no payment on its way (one sent to the dying seller is proven again after the restart, via resume).
        if (killedAfter < 0 && child !== null && confirmed.length >= 1 && started === confirmed.length && t.progress().bytesHave >= 4 * 1024 * 1024) {
          killedAfter = confirmed.length;
          haveAtKill = t.progress().bytesHave;
          down = true;
          child.proc.kill('SIGKILL');
        }
      });
      await until(() => killedAfter > 0, 30_000, 'a confirmed payment and 4 MiB served');
      await exited(child.proc);
      assert.equal(t.isComplete, false, 'killed before the end');
      const before = [...confirmed];
      // The credits journaled before the crash survived it.
      const crashed = await readJournal(journal);
      const creditsBefore = crashed.records.filter((r) => r.kind === 'credit').map((r) => r.signature);
      for (const tx of before) assert.ok(creditsBefore.includes(tx), `confirmed payment ${tx} journaled before the crash`);

      child = await startChild({ ...config, port });
      down = false;
      await whenComplete(t, 90_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      // Every payment is answered and credited — the last top-up included (the connection to
      // the seed stays open at completion until it is settled), and one started while the
      // seller was dead too: it is proven again in the session that resumes the killed one.
      const unconfirmed = (): number => buyer.payments().filter((p) => !confirmed.includes(p.tx)).length;
      await until(() => unconfirmed() === 0, 15_000, 'every payment confirmed').catch((e: Error) => {
        throw new Error(`${e.message}: ${buyer.payments().length} paid, ${confirmed.length} confirmed, ${startedWhileDown} sent while down, rejected ${JSON.stringify(rejected)}`);
      });
      assert.ok(startedWhileDown <= 2, 'at most one increment started per break');
      // The restarted seller served the rest against credit: the killed session's balance
      // (resumed) and/or new payments.
      assert.ok(resumedCredit > 0n || confirmed.length > before.length,
        `served after the restart against resumed or new credit (resumed ${resumedCredit}, ${confirmed.length} confirmed vs ${before.length} before, ${haveAtKill} bytes at the kill)`);
      assert.ok(sessions.size >= 2, 'a new session after reconnecting');

      child.proc.kill('SIGTERM');
      await exited(child.proc);
      child = null;
      const j = await readJournal(journal);
      const credits = j.records.filter((r) => r.kind === 'credit').map((r) => r.signature);
      assert.equal(new Set(credits).size, credits.length, 'no signature credited twice');
      for (const tx of confirmed) assert.ok(credits.includes(tx), `confirmed payment ${tx} credited`);
      assert.ok(credits.every((c) => confirmed.includes(c)), 'every confirmed payment credited exactly once, nothing else');
      assert.ok(credits.every((c) => buyer.payments().some((p) => p.tx === c)), 'only real payments credited');
      assert.equal(buyer.payments().length, credits.length, 'every payment credited: nothing lost');
      const confirmedSum = buyer.payments().filter((p) => credits.includes(p.tx)).reduce((a, p) => a + p.amount, 0n);
      assert.equal(j.summary.totals.earned, confirmedSum);
      // An earlier payment offered again after the restart is a replay.
      const reopened = await Journal.open(journal);
      try {
        const v = new PaymentVerifier({ chain: env.chain, journal: reopened });
        const r = await v.verifyPayment({
          signature: before[0], sessionHash: 'ab'.repeat(32), infoHash: content.meta.infoHashHex,
          terms: { wallet: sellerKey.publicKey.toBase58(), mint: env.ledger.mint.toBase58(), minPrepay: 1000n }, now: Date.now(),
        });
        assert.equal(r.ok, false);
        assert.equal(!r.ok && r.reason, 'replayed_tx');
      } finally {
        await reopened.close();
      }
    } finally {
      await leech.close();
      await buyer.close();
    }
  } finally {
    if (child !== null) { child.proc.kill('SIGKILL'); await exited(child.proc); }
    await env.close();
  }
});
