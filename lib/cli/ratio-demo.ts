/**
 * `seedpay demo --ratio`: ratio credits end to end, offline (docs/PROTOCOL.md §10).
 * Two nodes on loopback, each ONE Client: node B seeds torrent T1 proving its wallet
 * as its credit identity, node A downloads T1 and credits B's identity in the book of
 * its seller's journal; A sells torrent T2 (larger) from the same Client with ratio
 * terms 1:1; B buys T2 spending its credit first (0 USDC while it lasts) and paying
 * the local ledger for the rest. The receipt shows the credit earned and spent, the
 * bytes served from credit and paid for, what was paid against the full price, every
 * transaction, and both files' sha256; anything that does not check out is marked on
 * the receipt and makes the command exit non-zero.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Keypair } from '@solana/web3.js';
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { chargeFor } from '../../payment/amount.js';
import { chainFromUrl } from '../../payment/chain.js';
import type { LocalLedger } from '../../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../../payment/session.js';
import { Client } from '../net/client.js';
import { PaidBuyer } from '../paid/buyer.js';
import { PaidSeller } from '../paid/seller.js';
import { CliError, parseArgs, parseSize } from './args.js';
import { parseUsdc, usdc, type Out } from './paid-common.js';
import { failureLatch, startDemoLedger, receiptLine, ReceiptChecks, sampleTorrent as sample, transferWithBar as transfer, within } from './demo-kit.js';
import { formatBytes } from './progress.js';
import { sha256Of } from './sample-files.js';

const line = receiptLine;

export async function cmdRatioDemo(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--size', '--upload-size', '--price'], booleans: ['--keep', '--ratio'] });
  if (a.positionals.length !== 0) throw new CliError(`demo takes no arguments (got '${a.positionals[0]}')`, 2);
  const upSize = parseSize(a.flags.get('--upload-size') ?? '8M');
  const size = parseSize(a.flags.get('--size') ?? '24M');
  const price = parseUsdc('--price', a.flags.get('--price') ?? '0.001')!;
  const root = await mkdtemp(join(tmpdir(), 'seedpay-ratio-demo-'));
  let ledger: LocalLedger | null = null;
  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  // One Client per node: A downloads T1 and sells T2 in the same one, B seeds T1 and buys T2 in its own.
  const clientA = new Client();
  const clientB = new Client();
  try {
    ledger = await startDemoLedger(io);
    const chain = chainFromUrl(ledger.url, { requestTimeoutMs: 5000 });
    const mint = ledger.mint.toBase58();
    const keyA = Keypair.generate();
    const keyB = Keypair.generate();
    const walletB = walletFromSecretKey(keyB.secretKey);
    const funds = 10_000_000n; // 10 USDC
    ledger.fundSol(keyA.publicKey, 1_000_000_000n);
    ledger.fundSol(keyB.publicKey, 1_000_000_000n);
    ledger.fundTokens(keyB.publicKey, funds);
    io.err.write(`  RPC ${ledger.url}, USDC-like mint ${mint}\n  node A wallet ${keyA.publicKey.toBase58()}\n  node B wallet ${walletB.address} (${usdc(funds)}; also its credit identity)\n`);

    io.err.write(`making T1 (${formatBytes(upSize)}, B uploads it) and T2 (${formatBytes(size)}, B buys it)…\n`);
    const t1 = await sample(join(root, 'B'), 't1.bin', upSize);
    const t2 = await sample(join(root, 'A'), 't2.bin', size);

    // Node A: one PaidSeller selling T2 with ratio terms 1:1, its credit book in the seller's journal.
    seller = await PaidSeller.open({
      chain, wallet: walletFromSecretKey(keyA.secretKey), journalPath: join(root, 'A.journal'), price, mint,
      ratio: { served: 1n, credit: 1n },
    });
    const book = seller.credits!;
    const { failed, fail } = failureLatch();
    seller.on('error', (e) => fail(new CliError(`seller: ${e.message}`)));
    const portA = await clientA.listen(0, '127.0.0.1');
    await seller.add(clientA, t2.meta, { dir: join(root, 'A'), assumeComplete: true });
    io.err.write(`node A on 127.0.0.1:${portA} sells t2.bin at ${usdc(price)} per MiB, ratio 1:1 (1 byte served per byte of credit)\n`);

    // Node B seeds T1, proving its wallet identity; A downloads it in the same Client, crediting B.
    const portB = await clientB.listen(0, '127.0.0.1');
    await clientB.add(t1.meta, { dir: join(root, 'B'), assumeComplete: true, extensions: [ratioCredits({ signer: walletSigner(walletB) })] });
    io.err.write(`node B on 127.0.0.1:${portB} seeds t1.bin; node A downloads it, crediting what B uploads\n`);
    const down1 = await clientA.add(t1.meta, { dir: join(root, 'A'), peers: [`127.0.0.1:${portB}`], extensions: [ratioCredits({ sink: book })] });
    await transfer(down1, 'T1 B→A ', io, failed);
    const earned = book.balanceOf(walletB.address).earned;
    io.err.write(`node A credits B's identity with ${earned} bytes\n`);

    // Node B buys T2 from A: its credit first, then money.
    buyer = await PaidBuyer.open({
      chain, payer: keyB, journalPath: join(root, 'B.journal'), maxPricePerMiB: price * 2n, budget: funds, mint, pollIntervalMs: 50, ratio: true,
    });
    buyer.on('refused', (p, reason) => fail(new CliError(`buyer refused ${p.peer}: ${reason}`)));
    buyer.on('pay_failed', (_p, e) => fail(new CliError(`payment failed: ${e.message}`)));
    buyer.on('session', (p) => io.err.write(`node B: ${p.peer} signed the session; B proves its identity and spends credit before paying\n`));
    const t0 = Date.now();
    const down2 = await buyer.add(clientB, t2.meta, { dir: join(root, 'B'), peers: [`127.0.0.1:${portA}`] });
    await transfer(down2, 'T2 A→B ', io, failed);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    // The last payment's proof may still be in flight, and the seller's book learns what
    // was spent on its next tick: wait (bounded) for both.
    const creditedAll = (): boolean => buyer!.payments().every((p) => seller!.totals().payments.some((c) => c.tx === p.tx));
    await within(10_000, creditedAll);
    await within(5_000, () => book.balanceOf(walletB.address).spent >= seller!.totals().creditSpent);
    await book.flush();

    const [src1, got1, src2, got2] = await Promise.all([
      sha256Of(t1.file), sha256Of(join(root, 'A', 't1.bin')), sha256Of(t2.file), sha256Of(join(root, 'B', 't2.bin')),
    ]);
    const tot = seller.totals();
    const bal = book.balanceOf(walletB.address);
    const pays = buyer.payments();
    const full = chargeFor(BigInt(size), price);
    const onChain = (await chain.tokenAccount(getAssociatedTokenAddressSync(ledger.mint, keyA.publicKey, true)))?.amount ?? 0n;

    // What must hold; a failed check is marked on its line and fails the command.
    const checks = new ReceiptChecks();
    const { problems } = checks;
    const check = (ok: boolean, what: string): string => checks.check(ok, what);
    const earnedOk = check(earned === BigInt(upSize), `B earned ${earned} bytes for ${upSize} uploaded`);
    const servedOk = check(tot.creditBytes + tot.paidBytes + tot.freeBytes === BigInt(size) && tot.freeBytes === 0n,
      `${tot.creditBytes} + ${tot.paidBytes} + ${tot.freeBytes} bytes served for ${size}`);
    const spentOk = check(tot.creditSpent === (earned < BigInt(size) ? earned : BigInt(size)) && tot.creditSpent === tot.creditBytes && bal.spent === tot.creditSpent,
      `credit spent ${tot.creditSpent} (book ${bal.spent}) for ${tot.creditBytes} bytes served from ${earned} earned`);
    const chargeOk = check(tot.charged === chargeFor(tot.paidBytes, price), `charged ${tot.charged} for ${tot.paidBytes} paid bytes`);
    const paidOk = check(buyer.spent >= tot.charged && buyer.spent < full && onChain === buyer.spent,
      `paid ${buyer.spent} against ${tot.charged} charged, ${full} full price, ${onChain} on chain`);
    const sha1Ok = check(src1 === got1, `t1.bin sha256 ${got1} differs from the source ${src1}`);
    const sha2Ok = check(src2 === got2, `t2.bin sha256 ${got2} differs from the source ${src2}`);

    const lines = [
      '',
      'receipt (ratio credits)',
      line('node A', `one client: downloads t1.bin from B, sells t2.bin at ${usdc(price)} per MiB, ratio 1:1`),
      line('node B', `wallet ${walletB.address} (its credit identity at A)`),
      line('uploaded', `t1.bin, ${formatBytes(upSize)} (${t1.meta.pieceCount} pieces of ${formatBytes(t1.meta.pieceLength)}), B → A`),
      line('earned', `${earned} bytes of credit for B at A (${formatBytes(Number(earned))}, verified by A's hash checks)${earnedOk}`),
      line('bought', `t2.bin, ${formatBytes(size)} (${t2.meta.pieceCount} pieces of ${formatBytes(t2.meta.pieceLength)}), A → B in ${secs.toFixed(2)} s`),
      line('from credit', `${tot.creditBytes} bytes served, ${tot.creditSpent} bytes of credit spent${servedOk}${spentOk}`),
      line('paid for', `${tot.paidBytes} bytes, charged ${usdc(tot.charged)} = ceil(${tot.paidBytes} × ${price} / 2^20) base units${chargeOk}`),
      line('paid', `${usdc(buyer.spent)} in ${pays.length} payment(s), full price ${usdc(full)}; seller credited ${usdc(tot.credited)}, its token account holds ${usdc(onChain)}${paidOk}`),
      line('credit left', `${bal.held} bytes (earned ${bal.earned}, spent ${bal.spent})`),
      ...pays.map((p, i) => line(`tx ${String(i + 1).padStart(2)}`, `${p.tx}  ${usdc(p.amount)}`)),
      line('sha256 T1', `${got1}${sha1Ok}`),
      line('sha256 T2', `${got2}${sha2Ok}`),
      line('verified', problems.length === 0 ? 'yes (both files match their sources; credit and money add up)' : `NO: ${problems.length} check(s) failed`),
      '',
    ];
    io.out.write(lines.join('\n'));
    if (problems.length > 0) throw new CliError(`ratio demo check failed: ${problems.join('; ')}`);
  } finally {
    await clientB.close();
    await clientA.close();
    await buyer?.close();
    await seller?.close();
    await ledger?.stop();
    if (a.flags.has('--keep')) io.err.write(`files kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
  return 0;
}
