/**
 * Fault: the RPC fails intermittently during a paid transfer. On a seeded schedule,
 * each of the first payments' proofs meets an outage (HTTP 503, or connections
 * dropped) of seeded length: the seller's verifier retries with backoff and answers
 * rpc_unavailable, the buyer resends its proof, and meanwhile the buyer stays choked.
 * Sampled every few ms on both sides: bytes served <= bytes the credit covers + the
 * free sample. The transfer completes once the RPC is back, every payment credited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import type { FaultMode } from '../../payment/ledger/http.js';
import { funded, leechDir, makeContent, openBuyer, sha256Of, sleep, startEnv, startSeller, until, whenComplete, USDC, closePaid } from '../../testkit/paid-helpers.js';
import { Rng } from './helpers.js';

const SEED = 20261124;
const PIECE = 256 * 1024;
const SIZE = 10 * 1024 * 1024 + 4321;
const MiB = 1n << 20n;

test('RPC failing intermittently: verification retries, no unpaid data leaves, the transfer completes after recovery', { timeout: 90_000 }, async () => {
  const rng = new Rng(SEED);
  const outages: { mode: Exclude<FaultMode, false>; ms: number }[] = [0, 1, 2].map(() => ({
    mode: rng.pick(['http503', 'close'] as const), ms: rng.int(400, 1500),
  }));
  const env = await startEnv();
  try {
    const content = await makeContent(env, SIZE, PIECE);
    const price = 1_000n;
    const freePieces = [0, 1];
    const freeBytes = BigInt(freePieces.length * PIECE);
    const s = await startSeller(env, content, funded(env, 0n), {
      price, minPrepay: 500n, freePieces, freeBytes,
      // Few, short retries so an outage surfaces as rpc_unavailable (the buyer then resends).
      retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 150 },
    });
    const buyer = await openBuyer(env, funded(env, 2n * USDC), {
      maxPricePerMiB: 2_000n,
      policy: { proofRetryDelayMs: 200, maxProofRetries: 6, maxPayFailures: 10, firstPaymentBytes: 2n * MiB, lowWaterBytes: 1n * MiB },
    });
    const leech = new Client();
    let outageIdx = 0;
    let failing = false;
    const confirmed = new Set<string>();
    const unavailable: string[] = [];
    const finalRejections: string[] = [];
    buyer.on('confirmed', (_p, tx) => confirmed.add(tx));
    buyer.on('rejected', (_p, tx, reason, final) => {
      if (final) finalRejections.push(`${tx}: ${reason}`);
      else if (reason === 'rpc_unavailable') unavailable.push(tx);
    });
    // The buyer's payment is on chain and journaled; its proof goes out now. Take the RPC
    // down for this payment's verification (the buyer has no other payment outstanding
    // with this seller until it is confirmed, so its own RPC use is not hit).
    const healTimers: NodeJS.Timeout[] = [];
    buyer.on('paid', () => {
      const o = outages[outageIdx++];
      if (o === undefined) return;
      failing = true;
      env.ledger.setFailing(o.mode);
      healTimers.push(setTimeout(() => { env.ledger.setFailing(false); failing = false; }, o.ms));
    });
    // The invariant, sampled on both ends: served <= covered by credit + free sample.
    const violations: string[] = [];
    let samples = 0;
    let samplesWhileFailing = 0;
    let maxServed = 0n;
    let t: Awaited<ReturnType<typeof buyer.add>> | null = null;
    const check = (): void => {
      samples++;
      if (failing) samplesWhileFailing++;
      const tot = s.seller.totals();
      const covered = (tot.credited * MiB) / price + freeBytes;
      const served = BigInt(s.torrent.stats().uploaded);
      const received = BigInt(t?.stats().downloaded ?? 0);
      if (served > maxServed) maxServed = served;
      if (tot.charged > tot.credited) violations.push(`charged ${tot.charged} > credited ${tot.credited}`);
      if (tot.freeBytes > freeBytes) violations.push(`free ${tot.freeBytes} > ${freeBytes}`);
      if (served > covered) violations.push(`served ${served} > covered ${covered}`);
      if (received > covered) violations.push(`received ${received} > covered ${covered}`);
    };
    const sampler = setInterval(check, 3);
    try {
      const dir = await leechDir(env);
      t = await buyer.add(leech, content.meta, { dir, peers: [`127.0.0.1:${s.port}`] });
      await whenComplete(t, 75_000).catch((e: Error) => {
        throw new Error(`${e.message}; outages used ${outageIdx}, unavailable ${unavailable.length}, final rejections ${JSON.stringify(finalRejections)}`);
      });
      check();
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'bytes verified');
      // Every payment is confirmed — the last top-up included: the connection to the seed
      // stays open at completion until its payment is settled.
      await until(() => buyer.payments().every((p) => confirmed.has(p.tx)), 15_000, 'every payment confirmed').catch((e: Error) => {
        throw new Error(`${e.message}: unanswered ${buyer.payments().filter((p) => !confirmed.has(p.tx)).map((p) => p.tx).join(',')}, final rejections ${JSON.stringify(finalRejections)}`);
      });
      check();
      assert.deepEqual(violations.slice(0, 5), [], 'no byte served beyond credit + free sample');
      assert.ok(outageIdx >= outages.length, `every outage happened (${outageIdx})`);
      assert.ok(unavailable.length >= 1, 'verification hit the outage: rpc_unavailable, proof resent');
      assert.deepEqual(finalRejections, [], 'no payment finally rejected');
      const tot = s.seller.totals();
      const paid = buyer.payments().reduce((a, p) => a + p.amount, 0n);
      assert.equal(tot.credited, paid, 'every payment credited once the RPC recovered (and nothing else)');
      assert.ok(tot.charged <= tot.credited);
      assert.ok(samplesWhileFailing > 0, 'sampled during outages');
      console.log(`FAULTS-RPC outages=${JSON.stringify(outages)} payments=${buyer.payments().length} rpc_unavailable=${unavailable.length} samples=${samples} (${samplesWhileFailing} during outages) violations=${violations.length} credited=${tot.credited} charged=${tot.charged} free=${tot.freeBytes}`);
    } finally {
      clearInterval(sampler);
      for (const h of healTimers) clearTimeout(h);
      env.ledger.setFailing(false);
      await sleep(0);
      await closePaid(leech, s, buyer);
    }
  } finally {
    await env.close();
  }
});
