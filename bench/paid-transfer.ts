/**
 * The in-process transfer harness of bench:transfer's paid cases (transfer-paid.ts:
 * paid-vs-free, transfer-channel.ts: channel-vs-free): the same torrent ours→ours over
 * loopback TCP, both peers and the embedded ledger in this process, in one of several
 * variants — free, prepaid (SeedPay payments) with two risk caps, or a payment channel
 * (one escrow open, vouchers, claims; the ledger runs program/channel). `runVariants`
 * warms each variant up once (not counted), then runs them all `runs` times, rotating
 * which goes first so none always gets the warmer page cache.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import { parseTorrent } from '../format/metainfo.js';
import { PaidBuyer } from '../lib/paid/buyer.js';
import { PaidSeller } from '../lib/paid/seller.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { chainFromUrl } from '../payment/chain.js';
import { channelChainFromUrl } from '../payment/channel/channel-chain.js';
import { ensureChannelProgramBuilt } from '../payment/channel/program-binary.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../payment/session.js';
import { log } from '../testkit/bench-report.js';
import { ensureBenchData, type TransferData } from '../testkit/transfer-clients.js';

export const PIECE_LENGTH = 512 * 1024;
/** The seller's price in every paid variant: 0.001 USDC per MiB. */
export const PRICE = 1_000n;
/** The risk `paid` accepts with its seller: 256 MiB worth, payments as large as the buyer grows them. */
export const BENCH_MAX_PREPAY = 256_000n;
/** The same risk for `channel`: vouchers keep up to 256 MiB paid ahead of the data received (and maxPrepay as `paid`). */
export const BENCH_CHANNEL_AHEAD = 256n * 1024n * 1024n;

/**
 *  free               no SeedPay
 *  paid               prepaid, the buyer risking up to BENCH_MAX_PREPAY
 *  paid-default-risk  prepaid with the library's default risk cap (8 MiB worth, earned up)
 *  channel            a payment channel, vouchers up to BENCH_CHANNEL_AHEAD ahead (the risk of `paid`), claims past 1 USDC
 *  channel-default-ahead  the same with the library's default (the lead earned: 1 MiB, growing to a quarter of the verified data)
 */
export type Variant = 'free' | 'paid' | 'paid-default-risk' | 'channel' | 'channel-default-ahead';

export interface Sample {
  mbps: number;
  /** Handshake → first piece block (ms). */
  firstByteMs: number;
  /** First payment submitted → confirmed by the seller (ms); 0 but for prepaid. */
  chainMs: number;
  /** Prepaid payments (each one transaction). */
  payments: number;
  /** Handshake → first payment submitted (extended handshakes, ecdh_init both ways, policy). */
  beforePayMs: number;
  /** payment_confirmed at the buyer → first piece block. */
  afterConfirmMs: number;
  /** Channel: channels opened (one transaction each), vouchers sent (none on chain), claims that landed (during the transfer and at the seller's shutdown). */
  opens: number;
  vouchers: number;
  claims: number;
  /** Channel: handshake → the seller confirmed our channel (the open transaction included); 0 otherwise. */
  openMs: number;
}

function whenDone(t: Torrent, ms: number): Promise<void> {
  if (t.isComplete) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`transfer not complete after ${ms} ms`)), ms);
    t.once('done', () => { clearTimeout(timer); resolve(); });
  });
}

export interface Harness {
  readonly data: TransferData;
  readonly torrentBytes: Uint8Array;
  readonly ledger: LocalLedger;
  /** One buyer wallet for every transfer (each has its own seller and journals). */
  readonly buyerKey: Keypair;
  readonly timeoutMs: number;
}

/** One transfer of `variant`, timed from adding the torrent to all pieces verified. */
export async function oneTransfer(variant: Variant, h: Harness): Promise<Sample> {
  const work = await mkdtemp(join(tmpdir(), 'seedpay-bench-paid-'));
  const isChannel = variant === 'channel' || variant === 'channel-default-ahead';
  const chain = chainFromUrl(h.ledger.url);
  const seedClient = new Client();
  const leechClient = new Client();
  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  try {
    const meta = parseTorrent(h.torrentBytes);
    const port = await seedClient.listen(0, '127.0.0.1');
    const mint = h.ledger.mint.toBase58();
    if (variant !== 'free') {
      const sk = Keypair.generate();
      h.ledger.fundSol(sk.publicKey, 1_000_000_000n);
      const channels = isChannel ? channelChainFromUrl(h.ledger.url) : null;
      seller = await PaidSeller.open({
        chain, wallet: walletFromSecretKey(sk.secretKey), journalPath: join(work, 'seller.journal'), price: PRICE, mint,
        ...(channels !== null ? { channels: { chain: channels } } : {}),
      });
      await seller.add(seedClient, meta, { dir: h.data.dataDir, assumeComplete: true });
      buyer = await PaidBuyer.open({
        chain, payer: h.buyerKey, journalPath: join(work, 'buyer.journal'), maxPricePerMiB: PRICE, budget: 100_000_000n, mint, pollIntervalMs: 10,
        ...(variant === 'paid' || variant === 'channel' ? { maxPrepay: BENCH_MAX_PREPAY } : {}),
        // A deposit for the whole torrent: one channel per transfer (the rest comes back at the close).
        ...(channels !== null ? { channel: { chain: channels, deposit: 10_000_000n, ...(variant === 'channel' ? { aheadBytes: BENCH_CHANNEL_AHEAD } : {}) } } : {}),
      });
    } else {
      await seedClient.add(meta, { dir: h.data.dataDir, assumeComplete: true });
    }
    let handshakeAt = 0;
    let firstByteAt = 0;
    let payingAt = 0;
    let confirmedAt = 0;
    let channelAt = 0;
    buyer?.once('paying', () => { payingAt = performance.now(); });
    buyer?.once('confirmed', () => { confirmedAt = performance.now(); });
    buyer?.once('channel', () => { channelAt = performance.now(); });
    const opts = {
      dir: join(work, 'dl'), peers: [`127.0.0.1:${port}`],
      onPeerEvent: (_p: unknown, ev: { type: string }) => {
        if (ev.type === 'handshake' && handshakeAt === 0) handshakeAt = performance.now();
        if (ev.type === 'piece' && firstByteAt === 0) firstByteAt = performance.now();
      },
    };
    const start = performance.now();
    const t = buyer !== null ? await buyer.add(leechClient, meta, opts) : await leechClient.add(meta, opts);
    await whenDone(t, h.timeoutMs);
    const end = performance.now();
    const prepaid = variant === 'paid' || variant === 'paid-default-risk';
    // The seller's shutdown claims (and closes) what the channel holds: counted, not timed.
    await leechClient.close();
    await seedClient.close();
    await seller?.close();
    return {
      mbps: h.data.torrent.totalSize / 1e6 / ((end - start) / 1000),
      firstByteMs: firstByteAt - handshakeAt,
      chainMs: prepaid ? confirmedAt - payingAt : 0,
      payments: buyer?.payments().length ?? 0,
      beforePayMs: prepaid ? payingAt - handshakeAt : 0,
      afterConfirmMs: prepaid ? firstByteAt - confirmedAt : 0,
      opens: buyer?.channels?.opened().length ?? 0,
      vouchers: buyer?.vouchers().length ?? 0,
      claims: seller?.totals().claims.length ?? 0,
      openMs: isChannel && channelAt > 0 ? channelAt - handshakeAt : 0,
    };
  } finally {
    await leechClient.close();
    await seedClient.close();
    await buyer?.close();
    await seller?.close();
    await rm(work, { recursive: true, force: true });
  }
}

const describe = (v: Variant, s: Sample): string => {
  if (v === 'free') return '';
  if (v === 'channel' || v === 'channel-default-ahead') return ` (${s.opens} open, ${s.vouchers} vouchers, ${s.claims} claims; handshake→channel confirmed ${s.openMs.toFixed(1)} ms)`;
  return ` (chain ${s.chainMs.toFixed(1)} ms: before ${s.beforePayMs.toFixed(1)} + after ${s.afterConfirmMs.toFixed(1)} ms outside it, ${s.payments} payments)`;
};

/**
 * Measure `variants` on one `sizeBytes` torrent: a warm-up of each (the first transfer
 * of a kind in a process runs cold code — the wire path; for the paid kinds web3.js, the
 * ledger, the journals — a one-time cost of the process, not of a transfer), then
 * `runs` rotations. Throws ChannelBuildError when a channel variant is asked and the escrow
 * program cannot be built.
 */
export async function runVariants(variants: readonly Variant[], o: { sizeBytes: number; runs: number; timeoutMs: number }): Promise<Map<Variant, Sample[]>> {
  const channelProgram = variants.some((v) => v.startsWith('channel')) ? ensureChannelProgramBuilt() : false;
  const data = await ensureBenchData(o.sizeBytes, PIECE_LENGTH, undefined, log);
  const torrentBytes = await readFile(data.torrent.torrentPath);
  const ledger = await LocalLedger.start({ channelProgram });
  try {
    const buyerKey = Keypair.generate();
    ledger.fundSol(buyerKey.publicKey, 10_000_000_000n);
    ledger.fundTokens(buyerKey.publicKey, 1_000_000_000n);
    const h: Harness = { data, torrentBytes, ledger, buyerKey, timeoutMs: o.timeoutMs };
    for (const v of variants) {
      const warm = await oneTransfer(v, h);
      log(`  warm-up ${v}: ${warm.mbps.toFixed(1)} MB/s (not counted)`);
    }
    const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < o.runs; r++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + r) % variants.length];
        const s = await oneTransfer(v, h);
        samples.get(v)!.push(s);
        log(`  run ${r + 1} ${v}: ${s.mbps.toFixed(1)} MB/s, handshake→first block ${s.firstByteMs.toFixed(1)} ms${describe(v, s)}`);
      }
    }
    return samples;
  } finally {
    await ledger.stop();
  }
}
