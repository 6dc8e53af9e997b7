/**
 * bench/hostile.ts case `honest-under-payment-proof-flood`: an honest paying buyer
 * downloads from a paid seller (PaidSeller on the embedded local ledger) while
 * hostile SeedPay buyers, one after another, get a ready paid session and flood it
 * with made-up payment_proofs (test/hostile/proof-attack.ts); baseline: the same
 * paid transfer without the flood. Alternating, medians.
 *
 * Each run is a child process of its own (`--role run`), holding the ledger, the
 * seller, the honest buyer and (under attack) the hostile buyers: the paid stack
 * has no seller process to run apart, so the peak RSS reported is that whole
 * scenario's (ru_maxrss of the child), compared between attack and no attack.
 * MB/s here is torrent bytes / (honest add → every piece verified), so it includes
 * the honest buyer's first payment being verified — which is what a flood of proofs
 * to verify could delay.
 */
import { join } from 'node:path';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client } from '../lib/client.js';
import type { PaidBuyer } from '../lib/paid/buyer.js';
import {
  funded, leechDir, makeContent, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC,
} from '../test/e2e/paid-helpers.js';
import { countingChain, floodProofs, readyHook } from '../test/hostile/proof-attack.js';
import { InteropScope } from '../test/interop/clients.js';
import { log, makeCase, median, type BenchCase } from './report.js';

const MiB = 1024 * 1024;
const FLOOD = 2000;
const HOSTILE_HOST = '127.0.0.7';
const HONEST_HOST = '127.0.0.8';

export interface ProofRunResult {
  mbps: number;
  peak_rss_kib: number;
  cpu_s: number;
  /** Hostile sessions that flooded / proofs sent / RPC calls naming a made-up signature. */
  rounds: number;
  proofs_sent: number;
  rpc_calls: number;
  /** The seller's 'ended' reasons for hostile sessions while the flood ran. */
  ended: Record<string, number>;
  errors: Record<string, number>;
  /** Payload the seller served in all (the honest copy is torrent_bytes of it). */
  uploaded: number;
  torrent_bytes: number;
}

const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One paid transfer, with the flood sustained during it when `attack`. */
async function runRole(mib: number, attack: boolean, timeoutMs: number): Promise<ProofRunResult> {
  const env = await startEnv();
  const cpu0 = cpuS();
  const clients: Client[] = [];
  const buyers: PaidBuyer[] = [];
  let stop = false;
  let seller: Awaited<ReturnType<typeof startSeller>> | null = null;
  try {
    const content = await makeContent(env, mib * MiB, 512 * 1024);
    const flood = new Set<string>();
    const rpc = { calls: 0 };
    seller = await startSeller(env, content, funded(env, 0n), { chain: countingChain(env.chain, flood, rpc) });
    const ended: Record<string, number> = {};
    seller.seller.on('ended', (p, e) => {
      if (!p.peer.startsWith(`${HOSTILE_HOST}:`) || stop) return;
      const code = (e as { code?: string }).code ?? e.message;
      ended[code] = (ended[code] ?? 0) + 1;
    });
    const peers = [`127.0.0.1:${seller.port}`];
    const errors: Record<string, number> = {};
    let rounds = 0;
    let sent = 0;

    const loop = (async (): Promise<void> => {
      while (attack && !stop) {
        const hc = new Client({ localAddress: HOSTILE_HOST });
        const hb = await openBuyer(env, funded(env, 1n * USDC));
        try {
          await hb.add(hc, content.meta, { dir: await leechDir(env), peers });
          await until(() => stop || readyHook(hb) !== undefined, 20_000, 'a ready hostile session');
          if (stop) break;
          const h = readyHook(hb)!;
          sent += floodProofs(h, FLOOD, (tx) => flood.add(tx));
          rounds++;
          await until(() => stop || h.isClosed, 20_000, 'the flooding session to end');
        } catch (e) {
          if (stop) break;
          const k = ((e as Error).message ?? String(e)).replace(/\d+/g, 'N').slice(0, 60);
          errors[k] = (errors[k] ?? 0) + 1;
          await sleep(50);
        } finally {
          await hc.close();
          await hb.close();
        }
      }
    })();
    if (attack) {
      // the flood under way before the honest buyer arrives
      const t = Date.now();
      while (rounds === 0 && Date.now() - t < 10_000) await sleep(20);
    }

    const honestClient = new Client({ localAddress: HONEST_HOST });
    clients.push(honestClient);
    const honest = await openBuyer(env, funded(env, 1n * USDC));
    buyers.push(honest);
    const dir = await leechDir(env);
    const t0 = performance.now();
    const ht = await honest.add(honestClient, content.meta, { dir, peers });
    await whenComplete(ht, timeoutMs);
    const s = (performance.now() - t0) / 1000;
    stop = true;
    await Promise.race([loop, sleep(10_000)]);
    if ((await sha256Of(join(dir, 'data.bin'))) !== content.sha256) throw new Error('honest buyer: sha256 mismatch');
    return {
      mbps: content.meta.totalLength / s / 1e6,
      peak_rss_kib: process.resourceUsage().maxRSS,
      cpu_s: Math.round((cpuS() - cpu0) * 1000) / 1000,
      rounds, proofs_sent: sent, rpc_calls: rpc.calls, ended, errors,
      uploaded: seller.torrent.stats().uploaded, torrent_bytes: content.meta.totalLength,
    };
  } finally {
    stop = true;
    for (const c of clients) await c.close();
    for (const b of buyers) await b.close();
    if (seller !== null) { await seller.client.close(); await seller.seller.close(); }
    await env.close();
  }
}

// ------------------------------------------------------------------ driver side

function selfCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (!existsSync(here)) throw new Error(`no ${here}`);
  return path.extname(here) === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', here] } : { cmd: process.execPath, args: [here] };
}

async function oneRun(mib: number, attack: boolean, timeoutMs: number): Promise<ProofRunResult> {
  const scope = new InteropScope('hostile-proof');
  try {
    const { cmd, args } = selfCommand();
    const p = scope.spawn(attack ? 'flood' : 'no-flood', cmd, [...args, '--role', 'run', String(mib), attack ? 'attack' : 'none', String(timeoutMs)]);
    const line = await p.waitForLine((l) => l.startsWith('RESULT '), timeoutMs + 120_000, 'RESULT line');
    await p.waitExit(30_000);
    return JSON.parse(line.slice('RESULT '.length)) as ProofRunResult;
  } finally {
    await scope.close();
  }
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const fmt = (c: Record<string, number>): string =>
  Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(',') || 'none';

/**
 * The `honest-under-payment-proof-flood` case: `runs` paid transfers of `mib` MiB
 * with the flood and as many without, alternating. Null (and logged) when a side
 * never completed; `failures` counts the runs that failed.
 */
export async function proofFloodCase(bench: string, mib: number, runs: number, timeoutMs: number): Promise<{ c: BenchCase | null; failures: number }> {
  const under: ProofRunResult[] = [];
  const without: ProofRunResult[] = [];
  let failures = 0;
  for (let r = 0; r < runs; r++) {
    for (const attack of r % 2 === 0 ? [false, true] : [true, false]) {
      try {
        const s = await oneRun(mib, attack, timeoutMs);
        (attack ? under : without).push(s);
        log(`[hostile] payment-proof-flood run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${s.mbps.toFixed(1)} MB/s, process RSS ${(s.peak_rss_kib / 1024).toFixed(1)} MiB`
          + (attack ? `, ${s.rounds} flooding sessions, ${s.proofs_sent} proofs, ${s.rpc_calls} RPC calls, ended ${fmt(s.ended)}${Object.keys(s.errors).length > 0 ? `, errors ${fmt(s.errors)}` : ''}` : ''));
      } catch (e) {
        failures++;
        log(`[hostile] FAIL payment-proof-flood run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${(e as Error).message}`);
      }
    }
  }
  if (under.length === 0 || without.length === 0) return { c: null, failures: failures + 1 };
  const m = (xs: ProofRunResult[], f: (s: ProofRunResult) => number): number => r2(median(xs.map(f)));
  const ended: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const s of under) {
    for (const [k, v] of Object.entries(s.ended)) ended[k] = (ended[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  const rssA = m(under, (s) => s.peak_rss_kib / 1024);
  const rssB = m(without, (s) => s.peak_rss_kib / 1024);
  const c = makeCase({
    bench, case: 'honest-under-payment-proof-flood', unit: 'MB/s',
    ours: under.map((s) => s.mbps), baseline: without.map((s) => s.mbps), baselineName: 'same paid transfer, no flood',
    extra: {
      torrent_mib: mib,
      // the whole scenario's process (ledger, seller, buyers): no seller process of its own here
      process_rss_mib: rssA, process_rss_mib_no_attack: rssB, rss_ratio: r2(rssA / rssB),
      process_cpu_s: m(under, (s) => s.cpu_s), process_cpu_s_no_attack: m(without, (s) => s.cpu_s),
      flooding_sessions: m(under, (s) => s.rounds),
      proofs_sent: m(under, (s) => s.proofs_sent),
      rpc_calls_for_flood: m(under, (s) => s.rpc_calls),
      hostile_served_mib: m(under, (s) => Math.max(0, s.uploaded - s.torrent_bytes) / MiB),
      close_reasons: fmt(ended),
      expected_reasons: 'PROOF_FLOOD',
      unexpected_reasons: Object.keys(ended).filter((k) => k !== 'PROOF_FLOOD').join(',') || 'none',
      attack_errors: fmt(errors),
      loadavg: loadavg().map((x) => x.toFixed(2)).join('/'),
    },
  });
  return { c, failures };
}

// ------------------------------------------------------------------ child entry

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--role');
  const [role, mib, mode, timeout] = process.argv.slice(i + 1);
  if (i < 0 || role !== 'run') {
    process.stderr.write('hostile-proof.js is run by bench/hostile.js (--role run MIB attack|none TIMEOUT_MS)\n');
    process.exit(2);
  }
  runRole(Number(mib), mode === 'attack', Number(timeout)).then(
    (r) => { process.stdout.write(`RESULT ${JSON.stringify(r)}\n`); process.exit(0); },
    (e: unknown) => { process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`); process.exit(1); },
  );
}
