/**
 * testkit/hostile-bench.ts case `honest-under-payment-proof-flood`: an honest paying buyer
 * downloads from a paid seller (PaidSeller on the embedded local ledger) while
 * hostile SeedPay buyers, one after another, get a ready paid session and flood it
 * with made-up payment_proofs (testkit/proof-attack.ts); baseline: the same
 * paid transfer without the flood. Alternating, medians.
 *
 * Each run is a child process of its own (`--role run`) holding the ledger, the
 * seller and the honest buyer; under attack the hostile buyers run in one more
 * process (`--role flood`, funded payers handed over in a file), so their CPU is
 * not the seller's. The paid stack has no seller process apart from the ledger and
 * the honest buyer, so the peak RSS reported is that scenario process's (ru_maxrss),
 * compared between attack and no attack.
 * MB/s here is torrent bytes / (honest add → every piece verified), so it includes
 * the honest buyer's first payment being verified — which is what a flood of proofs
 * to verify could delay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path, { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Keypair } from '@solana/web3.js';
import bs58 from 'bs58';
import { Client } from '../lib/net/client.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import { PaidBuyer } from '../lib/paid/buyer.js';
import { chainFromUrl } from '../payment/chain.js';
import {
  funded, leechDir, openBuyer, sha256Of, startEnv, startSeller, until, whenComplete, USDC,
} from './paid-helpers.js';
import { countingChain, floodProofs, readyHook } from './proof-attack.js';
import { InteropScope } from './clients.js';
import { log, makeCase, median, type BenchCase } from './bench-report.js';

const MiB = 1024 * 1024;
const FLOOD = 2000;
const HOSTILE_HOST = '127.0.0.7';
const HONEST_HOST = '127.0.0.8';

export interface ProofRunResult {
  mbps: number;
  peak_rss_kib: number;
  cpu_s: number;
  /** Hostile sessions that flooded / proofs sent. */
  rounds: number;
  proofs_sent: number;
  /** The seller's RPC calls naming a signature-shaped string (flood and honest payments alike). */
  rpc_calls: number;
  /** CPU seconds of the flood process (0 without attack). */
  attacker_cpu_s: number;
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

/** What the flood process (`--role flood`) needs: the ledger, the seller, the torrent, funded payers. */
interface FloodConfig { url: string; mint: string; port: number; torrentPath: string; root: string; payers: string[]; proofs: number }

/**
 * The flood, as a process of its own (so its CPU is not the seller's): hostile
 * buyers one after another, each floods its ready session with made-up proofs and
 * waits for the seller to end it. Prints `ROUND n`, and `RESULT {json}` on SIGTERM.
 */
async function floodRole(configPath: string): Promise<void> {
  const cfg = JSON.parse(await readFile(configPath, 'utf8')) as FloodConfig;
  const chain = chainFromUrl(cfg.url, { requestTimeoutMs: 3000 });
  const torrent = await readFile(cfg.torrentPath);
  let stop = false;
  process.once('SIGTERM', () => { stop = true; });
  const errors: Record<string, number> = {};
  let rounds = 0;
  let sent = 0;
  for (let i = 0; !stop; i++) {
    const hc = new Client({ localAddress: HOSTILE_HOST });
    const hb = await PaidBuyer.open({
      chain, payer: Keypair.fromSecretKey(bs58.decode(cfg.payers[i % cfg.payers.length])),
      journalPath: join(cfg.root, `hostile-${process.pid}-${i}.journal`),
      maxPricePerMiB: 10_000n, budget: 10n * USDC, mint: cfg.mint, pollIntervalMs: 20,
    });
    try {
      await hb.add(hc, torrent, { dir: join(cfg.root, `hostile-${process.pid}-${i}`), peers: [`127.0.0.1:${cfg.port}`] });
      await until(() => stop || readyHook(hb) !== undefined, 20_000, 'a ready hostile session');
      if (stop) break;
      const h = readyHook(hb)!;
      rounds++;
      if (cfg.proofs > 0) {
        sent += floodProofs(h, cfg.proofs);
        process.stdout.write(`ROUND ${rounds}\n`);
        await until(() => stop || h.isClosed, 20_000, 'the flooding session to end');
      } else {
        process.stdout.write(`ROUND ${rounds}\n`); // the control: a ready paid session, then gone
      }
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
  process.stdout.write(`RESULT ${JSON.stringify({ rounds, sent, errors, cpu_s: cpuS() })}\n`);
}

/** Seller RPC calls that name a signature-shaped string (the flood's made-up ones, and the honest payments'). */
const signatureShaped = { has: (x: string): boolean => x.length >= 64 && /^[1-9A-HJ-NP-Za-km-z]+$/.test(x) };

/** One paid transfer, with the flood (another process) sustained during it when `attack`. */
async function runRole(mib: number, attack: boolean, proofs: number, timeoutMs: number): Promise<ProofRunResult> {
  const env = await startEnv();
  const cpu0 = cpuS();
  const clients: Client[] = [];
  const buyers: PaidBuyer[] = [];
  let stop = false;
  let seller: Awaited<ReturnType<typeof startSeller>> | null = null;
  let flood: ChildProcess | null = null;
  try {
    // the content and its .torrent file (the flood process reads it)
    const dir0 = await mkdtemp(join(env.root, 'seed-'));
    const file = join(dir0, 'data.bin');
    const bytes = randomBytes(mib * MiB);
    await writeFile(file, bytes);
    const { torrent, metainfo } = await createTorrentFromPath(file, { pieceLength: 512 * 1024 });
    const torrentPath = join(env.root, 'data.torrent');
    await writeFile(torrentPath, torrent);
    const content = { dir: dir0, file, meta: metainfo, sha256: createHash('sha256').update(bytes).digest('hex') };
    const rpc = { calls: 0 };
    seller = await startSeller(env, content, funded(env, 0n), { chain: countingChain(env.chain, signatureShaped, rpc) });
    const ended: Record<string, number> = {};
    seller.seller.on('ended', (p, e) => {
      if (!p.peer.startsWith(`${HOSTILE_HOST}:`) || stop) return;
      const code = (e as { code?: string }).code ?? e.message;
      ended[code] = (ended[code] ?? 0) + 1;
    });
    const peers = [`127.0.0.1:${seller.port}`];

    let floodOut: Promise<{ rounds: number; sent: number; errors: Record<string, number>; cpu_s: number }> | null = null;
    if (attack) {
      const cfg: FloodConfig = {
        url: env.ledger.url, mint: env.ledger.mint.toBase58(), port: seller.port, torrentPath, root: env.root,
        payers: Array.from({ length: 40 }, () => bs58.encode(funded(env, 1n * USDC).secretKey)), proofs,
      };
      const cfgPath = join(env.root, 'flood.json');
      await writeFile(cfgPath, JSON.stringify(cfg));
      const { cmd, args } = selfCommand();
      const child = spawn(cmd, [...args, '--role', 'flood', cfgPath], { stdio: ['ignore', 'pipe', 'inherit'] });
      flood = child;
      const lines = createInterface({ input: child.stdout! });
      let firstRound: () => void = () => {};
      const first = new Promise<void>((r) => { firstRound = r; });
      floodOut = new Promise((resolve, reject) => {
        lines.on('line', (l) => {
          if (l.startsWith('ROUND ')) firstRound();
          else if (l.startsWith('RESULT ')) resolve(JSON.parse(l.slice(7)) as { rounds: number; sent: number; errors: Record<string, number>; cpu_s: number });
        });
        child.once('exit', (code) => reject(new Error(`flood process exited (${code}) without RESULT`)));
      });
      floodOut.catch(() => {});
      // the flood under way before the honest buyer arrives
      await Promise.race([first, sleep(20_000)]);
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
    const floodRes = flood !== null && floodOut !== null
      ? (flood.kill('SIGTERM'), await Promise.race([floodOut, sleep(30_000).then(() => null)]))
      : null;
    stop = true;
    if ((await sha256Of(join(dir, 'data.bin'))) !== content.sha256) throw new Error('honest buyer: sha256 mismatch');
    if (attack && floodRes === null) throw new Error('the flood process gave no RESULT');
    return {
      mbps: content.meta.totalLength / s / 1e6,
      peak_rss_kib: process.resourceUsage().maxRSS,
      cpu_s: Math.round((cpuS() - cpu0) * 1000) / 1000,
      rounds: floodRes?.rounds ?? 0, proofs_sent: floodRes?.sent ?? 0, rpc_calls: rpc.calls, ended, errors: floodRes?.errors ?? {},
      attacker_cpu_s: floodRes?.cpu_s ?? 0,
      uploaded: seller.torrent.stats().uploaded, torrent_bytes: content.meta.totalLength,
    };
  } finally {
    stop = true;
    if (flood !== null && flood.exitCode === null) flood.kill('SIGKILL');
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

async function oneRun(mib: number, attack: boolean, proofs: number, timeoutMs: number): Promise<ProofRunResult> {
  const scope = new InteropScope('hostile-proof');
  try {
    const { cmd, args } = selfCommand();
    const p = scope.spawn(attack ? 'flood' : 'no-flood', cmd, [...args, '--role', 'run', String(mib), attack ? 'attack' : 'none', String(timeoutMs), String(proofs)]);
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

export interface ProofVariant { name: string; proofs: number }

/**
 * The flood, and its control: hostile paid sessions made ready and dropped at once
 * without any proof (what the session churn alone costs the honest buyer).
 */
export const PROOF_VARIANTS: readonly ProofVariant[] = [
  { name: 'payment-proof-flood', proofs: FLOOD },
  { name: 'paid-session-churn', proofs: 0 },
];

/**
 * The `honest-under-<variant>` case: `runs` paid transfers of `mib` MiB
 * with the flood and as many without, alternating. Null (and logged) when a side
 * never completed; `failures` counts the runs that failed.
 */
export async function proofFloodCase(bench: string, mib: number, runs: number, timeoutMs: number,
  variant: ProofVariant = PROOF_VARIANTS[0]): Promise<{ c: BenchCase | null; failures: number }> {
  const name = variant.name;
  const under: ProofRunResult[] = [];
  const without: ProofRunResult[] = [];
  let failures = 0;
  for (let r = 0; r < runs; r++) {
    for (const attack of r % 2 === 0 ? [false, true] : [true, false]) {
      try {
        const s = await oneRun(mib, attack, variant.proofs, timeoutMs);
        (attack ? under : without).push(s);
        log(`[hostile] ${name} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${s.mbps.toFixed(1)} MB/s, process RSS ${(s.peak_rss_kib / 1024).toFixed(1)} MiB, CPU ${s.cpu_s} s`
          + (attack ? `, ${s.rounds} hostile paid sessions, ${s.proofs_sent} proofs, ${s.rpc_calls} seller RPC calls naming a signature, ended ${fmt(s.ended)}${Object.keys(s.errors).length > 0 ? `, errors ${fmt(s.errors)}` : ''}` : ''));
      } catch (e) {
        failures++;
        log(`[hostile] FAIL ${name} run ${r + 1} ${attack ? 'attack' : 'no attack'}: ${(e as Error).message}`);
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
    bench, case: `honest-under-${name}`, unit: 'MB/s',
    ours: under.map((s) => s.mbps), baseline: without.map((s) => s.mbps), baselineName: 'same paid transfer, no flood',
    extra: {
      torrent_mib: mib,
      // the scenario's process (ledger, seller, honest buyer; the flood runs in another process)
      process_rss_mib: rssA, process_rss_mib_no_attack: rssB, rss_ratio: r2(rssA / rssB),
      process_cpu_s: m(under, (s) => s.cpu_s), process_cpu_s_no_attack: m(without, (s) => s.cpu_s),
      hostile_sessions: m(under, (s) => s.rounds),
      proofs_sent: m(under, (s) => s.proofs_sent),
      seller_sig_rpc_calls: m(under, (s) => s.rpc_calls), seller_sig_rpc_calls_no_attack: m(without, (s) => s.rpc_calls),
      attacker_cpu_s: m(under, (s) => s.attacker_cpu_s),
      hostile_served_mib: m(under, (s) => Math.max(0, s.uploaded - s.torrent_bytes) / MiB),
      close_reasons: fmt(ended),
      proofs_per_session: variant.proofs,
      expected_reasons: variant.proofs > 0 ? 'PROOF_FLOOD' : 'any (control: sessions close themselves)',
      unexpected_reasons: variant.proofs > 0 ? Object.keys(ended).filter((k) => k !== 'PROOF_FLOOD').join(',') || 'none' : 'n/a',
      attack_errors: fmt(errors),
      loadavg: loadavg().map((x) => x.toFixed(2)).join('/'),
    },
  });
  return { c, failures };
}

// ------------------------------------------------------------------ child entry

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--role');
  const [role, mib, mode, timeout, proofs] = process.argv.slice(i + 1);
  if (i >= 0 && role === 'flood') {
    floodRole(mib).then(
      () => process.exit(0),
      (e: unknown) => { process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`); process.exit(1); },
    );
  } else if (i < 0 || role !== 'run') {
    process.stderr.write('hostile-proof.js is run by bench/hostile.js (--role run MIB attack|none TIMEOUT_MS)\n');
    process.exit(2);
  } else {
    runRole(Number(mib), mode === 'attack', Number(proofs ?? FLOOD), Number(timeout)).then(
      (r) => { process.stdout.write(`RESULT ${JSON.stringify(r)}\n`); process.exit(0); },
      (e: unknown) => { process.stdout.write(`FATAL ${(e as Error).stack ?? String(e)}\n`); process.exit(1); },
    );
  }
}
