/**
 * `seedpay demo`: everything at once, offline — the embedded local ledger (real SPL
 * Token, ATA and Memo programs), two funded wallets, a random sample file, a paid
 * seller and a paying buyer on loopback, a paid transfer with a progress bar, then a
 * receipt (bytes, price, USDC paid, transaction signatures, verified hash).
 * `--free` runs the unpaid loopback demo instead; `--ratio` the ratio-credits demo
 * (ratio-demo.ts: credit earned by uploading, spent before paying); `--channel` the
 * payment-channel demo (channel-demo.ts: one escrow open, vouchers, claim and refund).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Keypair } from '@solana/web3.js';
import { chargeFor } from '../../payment/amount.js';
import { chainFromUrl } from '../../payment/chain.js';
import type { LocalLedger } from '../../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../../payment/session.js';
import { Client } from '../net/client.js';
import { PaidBuyer } from '../paid/buyer.js';
import { PaidSeller } from '../paid/seller.js';
import { CliError, parseArgs, parseSize } from './args.js';
import { cmdDemo } from './commands.js';
import { cmdRatioDemo } from './ratio-demo.js';
import { cmdChannelDemo } from './channel-demo.js';
import { failureLatch, sampleTorrent, startDemoLedger, transferWithBar, within } from './demo-kit.js';
import { parseUsdc, usdc, type Out } from './paid-common.js';
import { formatBytes } from './progress.js';
import { sha256Of } from './sample-files.js';

export async function cmdPaidDemo(argv: string[], io: Out): Promise<number> {
  if (argv.includes('--free')) return cmdDemo(argv.filter((x) => x !== '--free'), io);
  if (argv.includes('--ratio')) return cmdRatioDemo(argv, io);
  if (argv.includes('--channel')) return cmdChannelDemo(argv, io);
  const a = parseArgs(argv, { values: ['--size', '--price'], booleans: ['--keep'] });
  if (a.positionals.length !== 0) throw new CliError(`demo takes no arguments (got '${a.positionals[0]}')`, 2);
  const size = parseSize(a.flags.get('--size') ?? '64M');
  const price = parseUsdc('--price', a.flags.get('--price') ?? '0.001')!;
  const root = await mkdtemp(join(tmpdir(), 'seedpay-demo-'));
  const seedDir = join(root, 'seller');
  const leechDir = join(root, 'buyer');
  let ledger: LocalLedger | null = null;
  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  const seedClient = new Client();
  const leechClient = new Client();
  try {
    ledger = await startDemoLedger(io);
    const chain = chainFromUrl(ledger.url, { requestTimeoutMs: 5000 });
    const mint = ledger.mint.toBase58();
    const sellerKey = Keypair.generate();
    const buyerKey = Keypair.generate();
    const funds = 10_000_000n; // 10 USDC
    ledger.fundSol(sellerKey.publicKey, 1_000_000_000n);
    ledger.fundSol(buyerKey.publicKey, 1_000_000_000n);
    ledger.fundTokens(buyerKey.publicKey, funds);
    io.err.write(`  RPC ${ledger.url}, USDC-like mint ${mint}\n  seller wallet ${sellerKey.publicKey.toBase58()}\n  buyer wallet  ${buyerKey.publicKey.toBase58()} (${usdc(funds)})\n`);

    io.err.write(`making a ${formatBytes(size)} sample file…\n`);
    const { file, meta: metainfo } = await sampleTorrent(seedDir, 'sample.bin', size);

    seller = await PaidSeller.open({
      chain, wallet: walletFromSecretKey(sellerKey.secretKey), journalPath: join(root, 'seller.journal'), price, mint,
    });
    const port = await seedClient.listen(0, '127.0.0.1');
    await seller.add(seedClient, metainfo, { dir: seedDir, assumeComplete: true });
    io.err.write(`seller on 127.0.0.1:${port} asks ${usdc(price)} per MiB (min prepay ${usdc(seller.terms.minPrepay)})\n`);

    buyer = await PaidBuyer.open({
      chain, payer: buyerKey, journalPath: join(root, 'buyer.journal'), maxPricePerMiB: price * 2n, budget: funds, mint, pollIntervalMs: 50,
    });
    let firstPaidAt = 0;
    const t0 = Date.now();
    buyer.on('session', (p) => io.err.write(`buyer: ${p.peer} signed the session with its wallet key (session ${p.sessionHash?.slice(0, 16)}…)\n`));
    const { failed, fail } = failureLatch();
    buyer.on('refused', (p, reason) => fail(new CliError(`buyer refused ${p.peer}: ${reason}`)));
    buyer.on('pay_failed', (_p, e) => fail(new CliError(`payment failed: ${e.message}`)));
    seller.on('error', (e) => fail(new CliError(`seller: ${e.message}`)));
    const t = await buyer.add(leechClient, metainfo, { dir: leechDir, peers: [`127.0.0.1:${port}`] });
    t.once('piece', () => { firstPaidAt = Date.now(); });
    await transferWithBar(t, undefined, io, failed);
    const end = Date.now();
    // The proof of the last payment may still be in flight: wait (bounded) for every credit.
    await within(10_000, () => buyer!.payments().every((p) => seller!.totals().payments.some((c) => c.tx === p.tx)));
    const [src, got] = await Promise.all([sha256Of(file), sha256Of(join(leechDir, 'sample.bin'))]);
    if (src !== got) throw new CliError(`verification failed: sha256 ${got} differs from the source ${src}`);
    const st = t.stats();
    const tot = seller.totals();
    const pays = buyer.payments();
    const onChain = (await chain.tokenAccount(getAssociatedTokenAddressSync(ledger.mint, sellerKey.publicKey, true)))?.amount ?? 0n;
    const secs = Math.max(0.001, (end - t0) / 1000);
    const lines = [
      '',
      'receipt',
      `  file        sample.bin, ${formatBytes(size)} (${metainfo.pieceCount} pieces of ${formatBytes(metainfo.pieceLength)})`,
      `  bytes       ${st.downloaded} payload (${tot.paidBytes} paid, ${tot.freeBytes} free) + ${st.protocolDownloaded} protocol`,
      `  price       ${usdc(price)} per MiB`,
      `  charged     ${usdc(tot.charged)} = ceil(${tot.paidBytes} × ${price} / 2^20) base units${tot.charged === chargeFor(tot.paidBytes, price) ? '' : ' (MISMATCH)'}`,
      `  paid        ${usdc(buyer.spent)} in ${pays.length} payment(s); seller credited ${usdc(tot.credited)}, its token account holds ${usdc(onChain)}`,
      `  unspent     ${usdc(tot.credited - tot.charged)} of credit left with the seller (a later session of this wallet resumes it)`,
      ...pays.map((p, i) => `  tx ${String(i + 1).padStart(2)}       ${p.tx}  ${usdc(p.amount)}`),
      `  time        ${secs.toFixed(2)} s from connect to done (first verified piece after ${((firstPaidAt || end) - t0)} ms)`,
      `  speed       ${(size / 1e6 / secs).toFixed(1)} MB/s`,
      `  sha256      ${got}`,
      '  verified    yes (matches the source file)',
      '',
    ];
    io.out.write(lines.join('\n'));
  } finally {
    await leechClient.close();
    await seedClient.close();
    await buyer?.close();
    await seller?.close();
    await ledger?.stop();
    if (a.flags.has('--keep')) io.err.write(`files kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
  return 0;
}
