/**
 * A paid peer of the `paid-swarm` bench case (bench/swarm-paid.ts) in a process of its
 * own on its own loopback address: `node paid-swarm-peer.js '<json config>'`.
 *  - mode 'sell': a PaidSeller of one torrent (price, upload cap), free for peers
 *    without SeedPay; prints `READY port=N pid=P`, serves until SIGTERM, then
 *    `RESULT {"credited":…,"uploaded":…}`.
 *  - mode 'buy': a PaidBuyer (as fast as possible within max price, or `targetRate`)
 *    dialling `connect`; prints `READY …`, then once complete
 *    `RESULT {json}` (first payload byte and complete on the epoch clock, spent, the
 *    per-seller summary, bytes downloaded) and exits.
 *  Payment channels: a seller with `channels` also offers channel mode on the local
 *  ledger's escrow program (claims at SIGTERM); a buyer with `channelDeposit` pays by
 *  vouchers on channels of that deposit, one without pays prepaid.
 * Money is bigint base units, written as decimal strings. No test in this file.
 */
import { Keypair } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import { PaidBuyer } from '../lib/paid/buyer.js';
import { PaidSeller } from '../lib/paid/seller.js';
import { chainFromUrl } from '../payment/chain.js';
import { channelChainFromUrl } from '../payment/channel/channel-chain.js';
import { walletFromSecretKey } from '../payment/session.js';

export interface PaidSwarmPeerConfig {
  mode: 'sell' | 'buy';
  rpc: string;
  mint: string;
  secretKey: number[];
  journal: string;
  torrent: string;
  dir: string;
  bind: string;
  /** sell: price per MiB and the upload cap (bytes/s, 0: none). */
  price?: string;
  upLimit?: number;
  /** buy: max price per MiB, budget, the peers to dial, the target rate (bytes/s) if any; deadline. */
  maxPrice?: string;
  budget?: string;
  connect?: string[];
  targetRate?: number;
  timeoutS?: number;
  /** sell: offer payment channels too. */
  channels?: boolean;
  /** buy: pay by vouchers on channels of this deposit (base units); absent: prepaid. */
  channelDeposit?: string;
}

/** The buyer's RESULT line. */
export interface PaidSwarmBuyResult {
  complete: boolean;
  first_byte_at_ms: number | null;
  complete_at_ms: number | null;
  downloaded: number;
  spent: string;
  payments: number;
  /** Vouchers signed (channel mode). */
  vouchers: number;
  /** Per seller: `paid` in prepaid payments, `vouchered` in vouchers. */
  sellers: { wallet: string; peers: string[]; price: string; bytes: string; paid: string; vouchered: string }[];
}

const epochMs = (t: number): number => Math.round(performance.timeOrigin + t);

async function sell(c: PaidSwarmPeerConfig): Promise<void> {
  const seller = await PaidSeller.open({
    chain: chainFromUrl(c.rpc), wallet: walletFromSecretKey(Uint8Array.from(c.secretKey)), journalPath: c.journal,
    price: BigInt(c.price ?? '0'), mint: c.mint, ...(c.channels === true ? { channels: { chain: channelChainFromUrl(c.rpc) } } : {}),
  });
  const client = new Client({ localAddress: c.bind, uploadLimit: c.upLimit ?? 0, dht: false });
  const port = await client.listen(0, c.bind);
  const t = await seller.add(client, c.torrent, { dir: c.dir, assumeComplete: true });
  process.stdout.write(`READY port=${port} pid=${process.pid}\n`);
  await new Promise<void>((res) => { process.once('SIGTERM', res); process.once('SIGINT', res); });
  const uploaded = t.stats().uploaded;
  await client.close();
  const credited = seller.totals().credited;
  await seller.close();
  process.stdout.write(`RESULT ${JSON.stringify({ credited: String(credited), uploaded })}\n`);
}

async function buy(c: PaidSwarmPeerConfig): Promise<number> {
  const buyer = await PaidBuyer.open({
    chain: chainFromUrl(c.rpc), payer: Keypair.fromSecretKey(Uint8Array.from(c.secretKey)), journalPath: c.journal,
    maxPricePerMiB: BigInt(c.maxPrice ?? '0'), budget: BigInt(c.budget ?? '0'), mint: c.mint, pollIntervalMs: 20,
    ...(c.targetRate !== undefined ? { targetRate: c.targetRate } : {}),
    ...(c.channelDeposit !== undefined ? { channel: { chain: channelChainFromUrl(c.rpc), deposit: BigInt(c.channelDeposit) } } : {}),
  });
  const client = new Client({ localAddress: c.bind, dht: false });
  await client.listen(0, c.bind);
  let firstByte: number | null = null;
  process.stdout.write(`READY pid=${process.pid}\n`);
  const t = await buyer.add(client, c.torrent, {
    dir: c.dir, peers: c.connect ?? [],
    onPeerEvent: (_s, ev) => { if (firstByte === null && ev.type === 'piece') firstByte = performance.now(); },
  });
  const done = await new Promise<number | null>((res) => {
    const timer = setTimeout(() => res(null), (c.timeoutS ?? 120) * 1000);
    const fin = (): void => { clearTimeout(timer); res(performance.now()); };
    if (t.isComplete) fin(); else t.once('done', fin);
  });
  // Payments still being settled at completion are counted once the buyer closes.
  await client.close();
  await buyer.close();
  const vouchers = buyer.vouchers().filter((v) => v.infoHash === t.infoHashHex);
  const res: PaidSwarmBuyResult = {
    complete: done !== null,
    first_byte_at_ms: firstByte === null ? null : epochMs(firstByte),
    complete_at_ms: done === null ? null : epochMs(done),
    downloaded: t.stats().downloaded,
    spent: String(buyer.spent),
    payments: buyer.payments().length,
    vouchers: vouchers.length,
    sellers: buyer.perSeller().filter((r) => r.infoHash === t.infoHashHex).map((r) => ({
      wallet: r.wallet, peers: [...r.peers], price: String(r.pricePerMiB), bytes: String(r.bytes), paid: String(r.paid),
      vouchered: String(vouchers.filter((v) => v.seller === r.wallet).reduce((a, v) => a + v.delta, 0n)),
    })),
  };
  process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
  return done === null ? 2 : 0;
}

async function main(): Promise<number> {
  const raw = process.argv[2];
  if (raw === undefined) return 0; // loaded by the test runner as a file: nothing to do
  const c = JSON.parse(raw) as PaidSwarmPeerConfig;
  if (c.mode === 'sell') { await sell(c); return 0; }
  return buy(c);
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`paid-swarm-peer: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
