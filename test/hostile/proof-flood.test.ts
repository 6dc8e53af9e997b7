/**
 * A SeedPay buyer that floods payment_proof messages with made-up signatures, over
 * loopback TCP against a paid seller on the local ledger, while an honest paying
 * buyer downloads from the same seller. The flood must end that paid session with
 * PROOF_FLOOD, the verifier's RPC must see only a bounded number of the flood's
 * signatures, and the honest buyer completes with the right sha256.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import type { PaidBuyer } from '../../lib/paid/buyer.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC,
} from '../../testkit/paid-helpers.js';
import { MemProbe, MiB, fmtMem } from '../../testkit/hostile-helpers.js';
import { countingChain, floodProofs, readyHook } from '../../testkit/proof-attack.js';

const FLOOD = 2000;

test(`a buyer flooding ${FLOOD} made-up payment_proofs: PROOF_FLOOD, bounded RPC work; an honest buyer completes`, async () => {
  const env = await startEnv();
  const probe = new MemProbe();
  const hostileClient = new Client({ localAddress: '127.0.0.7' });
  const honestClient = new Client({ localAddress: '127.0.0.8' });
  const flood = new Set<string>();
  const rpc = { calls: 0 };
  let s: Awaited<ReturnType<typeof startSeller>> | null = null;
  const buyers: PaidBuyer[] = [];
  try {
    const content = await makeContent(env, 4 * MiB);
    s = await startSeller(env, content, funded(env, 0n), { chain: countingChain(env.chain, flood, rpc) });
    const ended: { peer: string; code: string }[] = [];
    s.seller.on('ended', (p, e) => ended.push({ peer: p.peer, code: (e as { code?: string }).code ?? e.message }));
    const violations: string[] = [];
    s.client.on('violation', (address, code) => violations.push(`${address.slice(0, address.lastIndexOf(':'))} ${code}`));

    const hostile = await openBuyer(env, funded(env, 1n * USDC));
    const honest = await openBuyer(env, funded(env, 1n * USDC));
    buyers.push(hostile, honest);
    const peers = [`127.0.0.1:${s.port}`];
    await hostile.add(hostileClient, content.meta, { dir: await leechDir(env), peers });
    const honestDir = await leechDir(env);
    const ht = await honest.add(honestClient, content.meta, { dir: honestDir, peers });

    await until(() => readyHook(hostile) !== undefined, 20_000, 'the hostile buyer session to be ready');
    const h = readyHook(hostile)!;
    floodProofs(h, FLOOD, (tx) => flood.add(tx));

    await until(() => ended.some((e) => e.peer.startsWith('127.0.0.7:')), 20_000, 'the flooding session to end');
    assert.deepEqual(ended.filter((e) => e.peer.startsWith('127.0.0.7:')).map((e) => e.code), ['PROOF_FLOOD']);
    assert.equal(ended.some((e) => e.peer.startsWith('127.0.0.8:')), false, 'the honest session is untouched');
    // The connection is closed as a SeedPay violation: its address counts toward the throttle.
    await until(() => violations.length > 0, 10_000, 'the violation to be counted');
    assert.deepEqual(violations, ['127.0.0.7 EXTENSION_VIOLATION']);

    await whenComplete(ht, 60_000);
    assert.equal(await sha256Of(join(honestDir, 'data.bin')), content.sha256);
    // One verification in flight plus a queue of 4, each with a few RPC retries: never per proof.
    assert.ok(rpc.calls >= 1, 'the counter sees the verifier (a flooded proof was verified once at least)');
    assert.ok(rpc.calls <= 40, `${rpc.calls} RPC calls named a flooded signature (of ${flood.size} sent)`);
    console.log(`[hostile] proof flood: ${flood.size} proofs sent, ${rpc.calls} RPC calls named one of them`);
  } finally {
    const p = probe.stop();
    console.log(fmtMem('payment_proof flood', p));
    await hostileClient.close();
    await honestClient.close();
    for (const b of buyers) await b.close();
    if (s !== null) { await s.client.close(); await s.seller.close(); }
    await env.close();
    assert.ok(p.rssPeak - p.rssBase < 200 * MiB, `RSS grew by ${p.rssPeak - p.rssBase} bytes`);
  }
});
