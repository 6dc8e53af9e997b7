/**
 * The `paid-swarm` case of bench:swarm (bench/swarm.ts reports it): our buyer in a swarm
 * of free seeders with low caps and paid sellers at different prices, every peer a
 * process of its own on its own 127.0.0.x, the local ledger in the bench process.
 *
 * One run:
 *  1. solo: one free leecher of ours per source (each free seeder, each seller — a seller
 *     serves peers without SeedPay free at the same cap), all at once: each source's rate;
 *  2. the buyer (PaidBuyer, as fast as possible within its max price) dials every source;
 *     time = its first payload byte → complete, spent = what it paid (prepaid credit it
 *     did not use included: that is what the download cost);
 *  3. the cheapest schedule that meets the same time: given each source's solo rate and
 *     price, the least the file can cost delivered within that time
 *     (extensions/seedpay/swarm-policy.ts cheapestSchedule);
 *  4. the same buyer paying by payment channels (the sellers offer both modes; the local
 *     ledger runs our escrow program): spent = its voucher total. Once the sellers stop
 *     (claims and closes at their shutdown) the chain must agree: the channel buyer's
 *     balance went down by exactly that, the deposits' rest refunded.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keypair } from '@solana/web3.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { associatedTokenAddress, chainFromUrl } from '../payment/chain.js';
import { ensureChannelProgramBuilt } from '../payment/channel/program-binary.js';
import { cheapestSchedule } from '../extensions/seedpay/swarm-policy.js';
import {
  InteropError, InteropScope, endpointString, nextLoopbackAddress, sha256File, type Endpoint, type ManagedProcess,
} from '../testkit/clients.js';
import { StartBarrier, startSwarmPeer } from '../testkit/swarm-peers.js';
import type { PaidSwarmBuyResult, PaidSwarmPeerConfig } from '../testkit/paid-swarm-peer.js';
import type { CaseEnv } from './swarm-cases.js';

export interface PaidSwarmConfig {
  /** Upload caps of the free seeders, bytes/s. */
  freeCaps: readonly number[];
  /** The sellers: upload cap (bytes/s) and price (base units per MiB). */
  sellers: readonly { cap: number; price: bigint }[];
  /** The buyer's max price (base units per MiB). */
  maxPrice: bigint;
  /** The buyer's target rate (bytes/s); absent: as fast as possible. */
  targetRate?: number;
}

/** One buyer's download in the swarm. */
export interface PaidSwarmBuy {
  /** First payload byte → complete, s. */
  timeS: number;
  mbps: number;
  /** What the buyer paid, base units (prepaid: payments, credit left unused included; channel: vouchers). */
  spent: bigint;
  /** Prepaid payments, vouchers. */
  payments: number;
  vouchers: number;
  /** The cheapest schedule meeting timeS (null: the solo rates cannot meet it). */
  cheapest: bigint | null;
  /** Per seller (config order): bytes the buyer got there, what it paid there. */
  sellerBytes: number[];
  sellerPaid: bigint[];
  freeBytes: number;
}

export interface PaidSwarmRun {
  /** Buyer: first payload byte → complete, s. */
  timeS: number;
  mbps: number;
  /** What the buyer paid, base units. */
  spent: bigint;
  payments: number;
  /** The cheapest schedule meeting timeS (null: the solo rates cannot meet it). */
  cheapest: bigint | null;
  /** Per source, in the order free seeders then sellers: solo rate (bytes/s), price, bytes the buyer got there, paid there. */
  sources: { kind: 'free' | 'paid'; soloBps: number; price: bigint; bytes: number; paid: bigint; optimalBytes: number | null }[];
  freeBytes: number;
  sha256Ok: number;
  /** The same swarm, the buyer paying by payment channels. */
  channel: PaidSwarmBuy;
  /** The channel buyer's on-chain balance drop once the sellers closed their channels (should equal channel.spent). */
  channelOnChainSpent: bigint;
}

const TOKENS = 1_000_000n; // 1 USDC-like token, 6 decimals
/** The channel buyer's deposit per seller (its rest comes back when the seller closes). */
const CHANNEL_DEPOSIT = 1n * TOKENS;

function childCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const script = path.join(path.dirname(here), '..', 'testkit', `paid-swarm-peer${ext}`);
  if (!existsSync(script)) throw new InteropError('CLIENT_MISSING', `no ${script}`);
  return ext === '.ts' ? { cmd: process.execPath, args: ['--import', 'tsx', script] } : { cmd: process.execPath, args: [script] };
}

function spawnPaid(scope: InteropScope, label: string, c: PaidSwarmPeerConfig): ManagedProcess {
  const { cmd, args } = childCommand();
  return scope.spawn(label, cmd, [...args, JSON.stringify(c)]);
}

function parseResult<T>(p: ManagedProcess): T {
  const line = p.lines().find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new InteropError('BAD_OUTPUT', `${p.label} printed no RESULT\n${p.tail()}`);
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

export async function paidSwarmRun(env: CaseEnv, cfg: PaidSwarmConfig): Promise<PaidSwarmRun> {
  const { data } = env;
  const scope = new InteropScope('swarm-paid');
  // The escrow program (built here when missing), loaded by the ledger: sellers offer channels.
  const ledger = await LocalLedger.start({ channelProgram: ensureChannelProgramBuilt() });
  const timeoutS = Math.ceil(env.timeoutMs / 1000);
  const mint = ledger.mint.toBase58();
  try {
    const common = { torrentPath: data.torrent.torrentPath, timeoutS: timeoutS * 4, pieceLength: data.torrent.pieceLength };
    const free = await Promise.all(cfg.freeCaps.map((cap) => startSwarmPeer(scope, {
      ...common, impl: 'ours', mode: 'seed', dir: data.dataDir, bind: nextLoopbackAddress(), upLimit: cap,
    }, data.torrent.name, 600_000)));
    const sellerKeys = cfg.sellers.map(() => Keypair.generate());
    const sellers: { proc: ManagedProcess; endpoint: Endpoint; wallet: string }[] = [];
    for (const [i, s] of cfg.sellers.entries()) {
      const k = sellerKeys[i];
      ledger.fundSol(k.publicKey, 1_000_000_000n);
      const bind = nextLoopbackAddress();
      const proc = spawnPaid(scope, `seller${i}@${bind}`, {
        mode: 'sell', channels: true, rpc: ledger.url, mint, secretKey: [...k.secretKey], journal: path.join(await scope.tempDir('sj'), 'seller.journal'),
        torrent: data.torrent.torrentPath, dir: data.dataDir, bind, price: String(s.price), upLimit: s.cap,
      });
      const ready = await proc.waitForLine((l) => l.startsWith('READY '), 600_000, 'READY line');
      sellers.push({ proc, endpoint: { host: bind, port: Number(/port=(\d+)/.exec(ready)?.[1]) }, wallet: k.publicKey.toBase58() });
    }
    const endpoints = [...free.map((f) => f.endpoint), ...sellers.map((s) => s.endpoint)];

    // 1. solo rates: one leecher per source, all at once.
    const barrier = await StartBarrier.create(scope);
    const solos = await Promise.all(endpoints.map(async (e) => startSwarmPeer(scope, {
      ...common, timeoutS, impl: 'ours', mode: 'leech', dir: await scope.tempDir('solo'), bind: nextLoopbackAddress(), connect: [e], startFile: barrier.path,
    }, data.torrent.name)));
    await barrier.open();
    const soloRes = await Promise.all(solos.map((p) => p.result(env.timeoutMs + 30_000)));
    const total = data.torrent.totalSize;
    const solo = soloRes.map((r, i) => {
      if (!r.complete || r.firstByteToDoneS === null) throw new InteropError('TIMEOUT', `${solos[i].proc.label} did not complete`);
      return total / r.firstByteToDoneS;
    });
    env.log(`    solo ${solo.map((x) => (x / 1e6).toFixed(2)).join(' + ')} MB/s`);

    // 2. the buyer, prepaid; 4. the same, by payment channels (a wallet of its own).
    const buyOnce = async (label: string, channel: boolean): Promise<{ buy: PaidSwarmBuy; wallet: Keypair; r: PaidSwarmBuyResult }> => {
      const buyerKey = Keypair.generate();
      ledger.fundSol(buyerKey.publicKey, 1_000_000_000n);
      ledger.fundTokens(buyerKey.publicKey, 100n * TOKENS);
      const bind = nextLoopbackAddress();
      const dir = await scope.tempDir(label);
      const buyer = spawnPaid(scope, `${label}@${bind}`, {
        mode: 'buy', rpc: ledger.url, mint, secretKey: [...buyerKey.secretKey], journal: path.join(await scope.tempDir('bj'), 'buyer.journal'),
        torrent: data.torrent.torrentPath, dir, bind, maxPrice: String(cfg.maxPrice), budget: String(50n * TOKENS),
        connect: endpoints.map(endpointString), timeoutS, ...(cfg.targetRate !== undefined ? { targetRate: cfg.targetRate } : {}),
        ...(channel ? { channelDeposit: String(CHANNEL_DEPOSIT) } : {}),
      });
      await buyer.waitForLine((l) => l.startsWith('RESULT '), env.timeoutMs + 30_000, 'RESULT line');
      await buyer.waitExit(15_000);
      const r = parseResult<PaidSwarmBuyResult>(buyer);
      if (!r.complete || r.first_byte_at_ms === null || r.complete_at_ms === null) throw new InteropError('TIMEOUT', `${label} did not complete: ${JSON.stringify(r)}`);
      const got = await sha256File(path.join(dir, data.torrent.name));
      if (got !== data.sha256) throw new InteropError('HASH_MISMATCH', `${label}: sha256 ${got}, expected ${data.sha256}`);
      const timeS = (r.complete_at_ms - r.first_byte_at_ms) / 1000;
      const bySeller = new Map(r.sellers.map((x) => [x.wallet, x]));
      const paidBytes = r.sellers.reduce((a, x) => a + Number(x.bytes), 0);
      const row = (i: number): PaidSwarmBuyResult['sellers'][number] | undefined => bySeller.get(sellers[i].wallet);
      const best = cheapestSchedule(solo.map((rate, i) => ({ rate, pricePerMiB: prices[i] })), total, timeS);
      env.log(`    ${label}: ${timeS.toFixed(2)} s, spent ${Number(r.spent) / 1e6} USDC in ${r.payments} payment(s) + ${r.vouchers} voucher(s); cheapest in that time ${best === null ? '—' : Number(best.cost) / 1e6} USDC`);
      return {
        wallet: buyerKey, r,
        buy: {
          timeS, mbps: total / timeS / 1e6, spent: BigInt(r.spent), payments: r.payments, vouchers: r.vouchers, cheapest: best?.cost ?? null,
          sellerBytes: cfg.sellers.map((_, i) => Number(row(i)?.bytes ?? 0)),
          sellerPaid: cfg.sellers.map((_, i) => BigInt(row(i)?.paid ?? '0') + BigInt(row(i)?.vouchered ?? '0')),
          freeBytes: Math.max(0, r.downloaded - paidBytes),
        },
      };
    };
    const prices = [...cfg.freeCaps.map(() => 0n), ...cfg.sellers.map((s) => s.price)];
    const prepaid = await buyOnce('buyer', false);
    const chan = await buyOnce('channel-buyer', true);
    // The sellers stop: their claims (and closes, refunding the rest) go out at shutdown.
    for (const s of sellers) await s.proc.stop(30_000);
    const chanLeft = (await chainFromUrl(ledger.url).tokenAccount(associatedTokenAddress(ledger.mint, chan.wallet.publicKey)))?.amount ?? 0n;
    const channelOnChainSpent = 100n * TOKENS - chanLeft;
    const sha256Ok = 2 + soloRes.length;

    // 3. against the cheapest schedule in the same time.
    const r = prepaid.r;
    const timeS = prepaid.buy.timeS;
    const best = cheapestSchedule(solo.map((rate, i) => ({ rate, pricePerMiB: prices[i] })), total, timeS);
    const bySeller = new Map(r.sellers.map((s) => [s.wallet, s]));
    const sources = solo.map((soloBps, i) => {
      const isFree = i < cfg.freeCaps.length;
      const s = isFree ? undefined : bySeller.get(sellers[i - cfg.freeCaps.length].wallet);
      return {
        kind: isFree ? 'free' as const : 'paid' as const, soloBps, price: prices[i],
        // Per free seeder the buyer's split is not known apart: the free total is reported.
        bytes: isFree ? NaN : Number(s?.bytes ?? 0), paid: BigInt(s?.paid ?? '0'), optimalBytes: best?.bytes[i] ?? null,
      };
    });
    return {
      timeS, mbps: prepaid.buy.mbps, spent: prepaid.buy.spent, payments: r.payments, cheapest: best?.cost ?? null,
      sources, freeBytes: prepaid.buy.freeBytes, sha256Ok, channel: chan.buy, channelOnChainSpent,
    };
  } finally {
    await scope.close();
    await ledger.stop();
  }
}
