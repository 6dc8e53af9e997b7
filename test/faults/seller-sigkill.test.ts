/**
 * Fault: the seller process is killed with SIGKILL at 2 seeded-random points of a paid
 * transfer (whatever it is doing: serving, verifying, journaling a charge; a payment may
 * be on its way) and restarted on the same port from its journal (test/e2e/seller-child.ts).
 * After each kill the journal reopens intact and holds every credit confirmed before it;
 * the buyer redials, resumes its killed session with the restarted seller (session
 * resume: the seller rebuilds that session's balance from its journal and moves it;
 * payments that were on their way are proven again) and completes. At the end every
 * payment is credited, none twice, no killed session keeps a balance, and an already
 * credited signature re-presented after the restarts is refused as replayed_tx.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { exited, startSellerChild as startChild, type SellerChild as Child } from '../../testkit/seller-child-control.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { Journal, readJournal } from '../../payment/journal.js';
import { PaymentVerifier } from '../../payment/verifier.js';
import { funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, until, whenComplete, USDC } from '../../testkit/paid-helpers.js';
import { Rng } from './helpers.js';

const SEED = 0xdead_5eed;
const MiB = 1024 * 1024;
const SIZE = 24 * MiB;

test('seller SIGKILLed at 2 seeded-random points: journal intact, credits kept, replays refused after restart', { timeout: 90_000 }, async () => {
  const rng = new Rng(SEED);
  const k1 = rng.int(2 * MiB, 8 * MiB);
  const killAt = [k1, k1 + rng.int(3 * MiB, 9 * MiB)];
  const env = await startEnv();
  const leech = new Client();
  let child: Child | null = null;
  try {
    const sellerKey = funded(env, 0n);
    const content = await makeContent(env, SIZE);
    const torrentPath = join(env.root, 'c.torrent');
    await writeFile(torrentPath, (await createTorrentFromPath(content.file, { pieceLength: 256 * 1024 })).torrent);
    const journal = join(env.root, 'seller.journal');
    const config = {
      rpc: env.ledger.url, mint: env.ledger.mint.toBase58(), secretKey: Array.from(sellerKey.secretKey), journal,
      torrent: torrentPath, dir: content.dir, port: 0, price: '1000',
    };
    child = await startChild(config);
    const port = child.port;
    // Small payments, so kills land between, during and after them.
    const buyer = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: 1000n, policy: { firstPaymentBytes: BigInt(2 * MiB), maxPaymentBytes: BigInt(4 * MiB), proofRetryDelayMs: 300 } });
    const confirmed = new Set<string>();
    const finalRejections = new Map<string, string>();
    let currentSession: string | null = null;
    const killedSessions = new Set<string>();
    buyer.on('session', (p) => { currentSession = p.sessionHash; });
    buyer.on('confirmed', (_p, tx) => confirmed.add(tx));
    // Each payment's session (its memo binds it there): a kill ends that session.
    const paidIn = new Map<string, string>();
    buyer.on('paid', (p, pay) => paidIn.set(pay.tx, p.sessionHash ?? ''));
    const sessionOf = (tx: string): string => paidIn.get(tx) ?? '';
    buyer.on('rejected', (_p, tx, reason, final) => { if (final) finalRejections.set(tx, reason); });
    const kills: { at: number; bytesHave: number; creditsBefore: number; tornBytes: number }[] = [];
    const creditsByEpoch: string[][] = [];
    let pending: Promise<void> | null = null;
    try {
      const dir = await leechDir(env);
      const t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${port}`] });
      const killAndRestart = async (at: number): Promise<void> => {
        const c = child!;
        if (currentSession !== null) killedSessions.add(currentSession);
        const bytesHave = t.progress().bytesHave;
        c.proc.kill('SIGKILL');
        await exited(c.proc);
        child = null;
        // The journal reopens intact and holds every credit confirmed before the kill.
        const j = await readJournal(journal);
        const credits = j.records.filter((r) => r.kind === 'credit').map((r) => r.signature);
        for (const tx of c.credited) assert.ok(credits.includes(tx), `credit ${tx} announced before the kill is journaled`);
        for (const tx of confirmed) assert.ok(credits.includes(tx), `confirmed ${tx} journaled`);
        for (const earlier of creditsByEpoch.flat()) assert.ok(credits.includes(earlier), `earlier credit ${earlier} still there`);
        creditsByEpoch.push(credits.filter((tx) => !creditsByEpoch.flat().includes(tx)));
        kills.push({ at, bytesHave, creditsBefore: credits.length, tornBytes: j.tornBytes });
        child = await startChild({ ...config, port });
      };
      t.on('piece', () => {
        const next = killAt[kills.length + (pending === null ? 0 : 1)];
        if (pending !== null || next === undefined || child === null) return;
        if (t.progress().bytesHave >= next) pending = killAndRestart(next).finally(() => { pending = null; });
      });
      await until(() => kills.length === killAt.length || t.isComplete, 60_000, 'both kills');
      while (pending !== null) await pending;
      assert.equal(kills.length, killAt.length, 'both kills happened before the end');
      await whenComplete(t, 60_000);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      // Every proof settles — the last top-up included (the connection to the seed stays
      // open at completion until its payment is settled), and those of killed sessions
      // too: they are proven again after the resume (replayed_tx when the seller had
      // credited one before it was killed).
      const settled = (tx: string): boolean => confirmed.has(tx) || finalRejections.has(tx);
      await until(() => buyer.payments().every((p) => settled(p.tx)), 30_000, 'live payments settled').catch((e: Error) => {
        throw new Error(`${e.message}: unanswered ${buyer.payments().filter((p) => !settled(p.tx)).map((p) => p.tx).join(',')}`);
      });

      child!.proc.kill('SIGTERM');
      await exited(child!.proc);
      child = null;
      const j = await readJournal(journal);
      const credits = j.records.flatMap((r) => (r.kind === 'credit' ? [r] : []));
      const sigs = credits.map((c) => c.signature);
      assert.equal(new Set(sigs).size, sigs.length, 'no signature credited twice');
      for (const earlier of creditsByEpoch.flat()) assert.ok(sigs.includes(earlier), `credit ${earlier} survived both kills`);
      const payments = buyer.payments();
      for (const s of sigs) assert.ok(payments.some((p) => p.tx === s), 'only real payments credited');
      for (const tx of confirmed) assert.ok(sigs.includes(tx), `confirmed ${tx} credited`);
      // Nothing lost: every payment credited (in its own session or, resumed, in a later one).
      const lost = payments.filter((p) => !sigs.includes(p.tx));
      assert.deepEqual(lost.map((p) => `${p.tx} (${finalRejections.get(p.tx) ?? 'unanswered'}, session ${sessionOf(p.tx).slice(0, 8)})`), [], 'every payment credited');
      assert.equal(j.summary.totals.earned, credits.reduce((a, c) => a + c.amount, 0n));
      // Per session: journaled charge + moved out <= credits + moved in (a kill only loses charges),
      // and no killed session keeps a balance: it was moved to the session after the restart.
      const sm = j.summary;
      const bal = (sh: string): bigint => (sm.earnedBySession.get(sh) ?? 0n) + (sm.movedInBySession.get(sh) ?? 0n)
        - (sm.chargedBySession.get(sh)?.units ?? 0n) - (sm.movedOutBySession.get(sh) ?? 0n);
      for (const sh of new Set([...sm.earnedBySession.keys(), ...sm.chargedBySession.keys(), ...sm.movedInBySession.keys()])) {
        assert.ok(bal(sh) >= 0n, `session ${sh.slice(0, 8)}: balance ${bal(sh)} >= 0`);
      }
      for (const sh of killedSessions) assert.equal(bal(sh), 0n, `killed session ${sh.slice(0, 8)} keeps nothing`);
      assert.ok(sm.totals.transfers >= 1, 'a killed session was resumed');

      // Re-present credited signatures (one from each life of the seller) after the restarts.
      const reopened = await Journal.open(journal);
      try {
        const v = new PaymentVerifier({ chain: env.chain, journal: reopened });
        const probes = [...creditsByEpoch.map((e) => e[0]), sigs[sigs.length - 1]].filter((x): x is string => x !== undefined);
        assert.ok(probes.length >= 2, 'credits from before and after the kills');
        for (const sig of probes) {
          const rec = credits.find((c) => c.signature === sig)!;
          const r = await v.verifyPayment({
            signature: sig, sessionHash: rec.sessionHash, infoHash: content.meta.infoHashHex,
            terms: { wallet: sellerKey.publicKey.toBase58(), mint: env.ledger.mint.toBase58(), minPrepay: 500n }, now: Date.now(),
          });
          assert.equal(r.ok ? 'ok' : r.reason, 'replayed_tx', `re-presented ${sig}`);
        }
      } finally {
        await reopened.close();
      }
      console.log(`FAULTS-SIGKILL kills=${JSON.stringify(kills)} payments=${payments.length} credited=${sigs.length} lost=${lost.length} transfers=${sm.totals.transfers} moved=${[...sm.movedOutBySession.values()].reduce((a, b) => a + b, 0n)} replaysRefused=ok`);
    } finally {
      await leech.close();
      await buyer.close();
    }
  } finally {
    if (child !== null) { child.proc.kill('SIGKILL'); await exited(child.proc); }
    await env.close();
  }
});
