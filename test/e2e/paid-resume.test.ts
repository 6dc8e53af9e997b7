/**
 * Session resume over real TCP with the local ledger, the stranger's side: a session
 * hash is public (it is in every payment memo on chain), so anyone can sign a
 * `session_resume` naming someone else's live session. The seller must refuse it
 * (`wrong_payer`) without touching that session: no balance moved, no connection
 * closed, and the honest buyer completes on its one session.
 * (A buyer resuming its own cut or killed sessions: test/faults/connection-cuts and
 * seller-sigkill; the state machines: test/extensions/seedpay-resume.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { resumeMessage, signResume } from '../../payment/resume.js';
import { readyHook } from '../../testkit/proof-attack.js';
import { funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC } from '../../testkit/paid-helpers.js';

test("a stranger resuming someone else's live session gets wrong_payer; that session is not touched", { timeout: 60_000 }, async () => {
  const env = await startEnv();
  const honestClient = new Client({ localAddress: '127.0.0.11' });
  const strangerClient = new Client({ localAddress: '127.0.0.12' });
  const closers: (() => Promise<void>)[] = [];
  try {
    const content = await makeContent(env, 24 * 1024 * 1024);
    // Slow enough that the honest download is still running when the stranger acts.
    const s = await startSeller(env, content, funded(env, 0n), { price: 1_000n, minPrepay: 500n });
    closers.push(() => s.client.close(), () => s.seller.close());
    const moves: string[] = [];
    s.seller.on('resumed', (p, prev, moved) => moves.push(`${p.peer} ${prev.slice(0, 8)} ${moved}`));
    const honest = await openBuyer(env, funded(env, 1n * USDC));
    const strangerKey = funded(env, 1n * USDC);
    const stranger = await openBuyer(env, strangerKey);
    closers.unshift(() => honest.close(), () => stranger.close());
    const honestSessions: string[] = [];
    honest.on('session', (p) => { if (p.sessionHash !== null) honestSessions.push(p.sessionHash); });
    let honestCredit = false;
    honest.on('confirmed', () => { honestCredit = true; });
    const rejections: string[] = [];
    stranger.on('resume_rejected', (_p, prev, reason) => rejections.push(`${prev} ${reason}`));
    const peers = [`127.0.0.1:${s.port}`];
    const dir = await leechDir(env);
    const t = await honest.add(honestClient, content.meta, { dir, peers });
    await until(() => honestCredit, 20_000, 'the honest buyer credited');
    const victim = honestSessions[0];
    assert.ok(s.seller.journal.balanceOf(victim) > 0n, 'the victim session holds a balance');

    await stranger.add(strangerClient, content.meta, { dir: await leechDir(env), peers });
    await until(() => readyHook(stranger) !== undefined, 20_000, 'the stranger session bound');
    const h = readyHook(stranger)!;
    const current = h.buyer.sessionHash!;
    const sig = signResume(strangerKey.secretKey.subarray(0, 32), resumeMessage(content.meta.infoHash, victim, current));
    h.resume(victim, strangerKey.publicKey.toBytes(), sig, []);
    await until(() => rejections.length > 0, 10_000, 'an answer to the stranger');
    assert.deepEqual(rejections, [`${victim} wrong_payer`]);
    assert.equal(s.seller.journal.summary().totals.transfers, 0, 'nothing moved');

    await whenComplete(t, 45_000);
    assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
    assert.deepEqual(honestSessions, [victim], 'the honest buyer kept its one session (never closed by the stranger)');
    assert.deepEqual(moves, []);
  } finally {
    await honestClient.close();
    await strangerClient.close();
    for (const c of closers) await c();
    await env.close();
  }
});
