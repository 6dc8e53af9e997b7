/**
 * `seedpay demo --channel`: payment channels end to end, offline (docs/PROTOCOL.md §11,
 * docs/CHANNEL-PROGRAM.md). The local ledger runs our escrow program
 * (program/channel/channel.c, built here when missing); the seller offers mode
 * `channel`, the buyer opens one channel with a deposit (one transaction), pays by
 * signed vouchers over the wire while the file transfers, and the seller, shutting
 * down, claims the latest voucher and closes the channel (one transaction), which
 * refunds the rest of the deposit to the buyer.
 *
 * The receipt shows what was measured, never what should have happened: the open and
 * claim signatures (looked up on the ledger), the deposit as the channel account held
 * it, the vouchers as the buyer signed and the seller accepted them, and every token
 * movement from the wallets' balances before and after. It cross-checks them (deposit =
 * paid + refund, seller's gain = voucher total = claimed, the charge formula, …); a check
 * that fails is marked MISMATCH on its line and makes the command exit non-zero.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublicKey, type Keypair } from '@solana/web3.js';
import { chargeFor } from '../../payment/amount.js';
import { associatedTokenAddress, chainFromUrl, type Chain } from '../../payment/chain.js';
import { channelChainFromUrl } from '../../payment/channel/channel-chain.js';
import type { ChannelState } from '../../payment/channel/types.js';
import { ChannelBuildError, ensureChannelProgramBuilt } from '../../payment/channel/program-binary.js';
import type { LocalLedger } from '../../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../../payment/session.js';
import { Client } from '../net/client.js';
import { PaidBuyer } from '../paid/buyer.js';
import { PaidSeller } from '../paid/seller.js';
import { CliError, parseArgs, parseSize } from './args.js';
import { demoWallet, failureLatch, receiptLine as line, ReceiptChecks, sampleTorrent, startDemoLedger, transferWithBar, within } from './demo-kit.js';
import { parseUsdc, usdc, type Out } from './paid-common.js';
import { formatBytes } from './progress.js';
import { sha256Of } from './sample-files.js';

/**
 * The most the vouchers may cover beyond the whole file: the need cap stops them at its
 * end, but a voucher is never below the seller's min_prepay (its price: 1 MiB worth here).
 */
const AHEAD_BYTES = 1024n * 1024n;

/** The escrow program's binary: built from program/channel/channel.c when missing or stale. */
function channelProgram(): string {
  try {
    return ensureChannelProgramBuilt();
  } catch (e) {
    if (!(e instanceof ChannelBuildError)) throw e;
    const noClang = /clang/i.test(e.message);
    throw new CliError(`the channel escrow program is not built and could not be built${noClang ? ' (clang missing? apt-get install clang, then npm run build:program)' : ''}: ${e.message.split('\n')[0]}`);
  }
}

async function tokens(chain: Chain, mint: PublicKey, owner: PublicKey): Promise<bigint> {
  return (await chain.tokenAccount(associatedTokenAddress(mint, owner)))?.amount ?? 0n;
}

/** Whether `sig` is a transaction the ledger recorded as succeeded. */
async function landed(chain: Chain, sig: string): Promise<boolean> {
  const tx = await chain.transaction(sig);
  return tx !== null && tx.meta !== null && tx.meta.err === null;
}

export async function cmdChannelDemo(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--size', '--price', '--deposit'], booleans: ['--keep', '--channel'] });
  if (a.positionals.length !== 0) throw new CliError(`demo takes no arguments (got '${a.positionals[0]}')`, 2);
  const size = parseSize(a.flags.get('--size') ?? '64M');
  const price = parseUsdc('--price', a.flags.get('--price') ?? '0.001')!;
  const deposit = parseUsdc('--deposit', a.flags.get('--deposit') ?? '1')!;
  // One channel for the whole file: the deposit covers it and what vouchers pay ahead.
  const needed = chargeFor(BigInt(size) + AHEAD_BYTES, price);
  if (deposit < needed) throw new CliError(`--deposit ${usdc(deposit)} does not cover ${formatBytes(size)} at ${usdc(price)} per MiB (needs ${usdc(needed)})`, 2);
  const so = channelProgram();
  const root = await mkdtemp(join(tmpdir(), 'seedpay-channel-demo-'));
  let ledger: LocalLedger | null = null;
  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  const seedClient = new Client();
  const leechClient = new Client();
  let clientsClosed = false;
  try {
    ledger = await startDemoLedger(io, { channelProgram: so }, 'SPL Token, ATA, Memo and the SeedPay channel escrow program');
    if (!ledger.engine.channelProgramLoaded) throw new CliError(`the local ledger did not load the channel program (${so})`);
    const chain = chainFromUrl(ledger.url, { requestTimeoutMs: 5000 });
    const channels = channelChainFromUrl(ledger.url, { requestTimeoutMs: 5000 });
    const mint = ledger.mint;
    const funds = 10_000_000n; // 10 USDC
    const sellerKey: Keypair = demoWallet(ledger);
    const buyerKey: Keypair = demoWallet(ledger, funds);
    io.err.write(`  RPC ${ledger.url}, USDC-like mint ${mint.toBase58()}\n  escrow program ${channels.programId.toBase58()}\n`
      + `  seller wallet ${sellerKey.publicKey.toBase58()}\n  buyer wallet  ${buyerKey.publicKey.toBase58()} (${usdc(funds)})\n`);

    io.err.write(`making a ${formatBytes(size)} sample file…\n`);
    const { file, meta } = await sampleTorrent(join(root, 'seller'), 'sample.bin', size);

    const { failed, fail } = failureLatch();
    seller = await PaidSeller.open({
      chain, wallet: walletFromSecretKey(sellerKey.secretKey), journalPath: join(root, 'seller.journal'), price, mint: mint.toBase58(),
      channels: { chain: channels },
    });
    seller.on('error', (e) => fail(new CliError(`seller: ${e.message}`)));
    seller.on('voucher_rejected', (p, _c, amount, reason) => fail(new CliError(`seller rejected ${p.peer}'s voucher for ${usdc(amount)}: ${reason}`)));
    const port = await seedClient.listen(0, '127.0.0.1');
    await seller.add(seedClient, meta, { dir: join(root, 'seller'), assumeComplete: true });
    io.err.write(`seller on 127.0.0.1:${port} asks ${usdc(price)} per MiB, modes ${seller.terms.modes.join(', ')}\n`);

    const buyerBefore = await tokens(chain, mint, buyerKey.publicKey);
    const sellerBefore = await tokens(chain, mint, sellerKey.publicKey);
    buyer = await PaidBuyer.open({
      chain, payer: buyerKey, journalPath: join(root, 'buyer.journal'), maxPricePerMiB: price * 2n, budget: funds, mint: mint.toBase58(),
      pollIntervalMs: 50, channel: { chain: channels, deposit },
    });
    buyer.on('refused', (p, reason) => fail(new CliError(`buyer refused ${p.peer}: ${reason}`)));
    buyer.on('pay_failed', (_p, e) => fail(new CliError(`payment failed: ${e.message}`)));
    buyer.on('channel', (p, channel, ok, reason) => {
      if (!ok) { fail(new CliError(`${p.peer} refused channel ${channel}: ${reason}`)); return; }
      const opened = buyer!.channels?.opened().find((o) => o.channel === channel);
      io.err.write(`buyer: opened channel ${channel} with ${usdc(deposit)}${opened ? ` (tx ${opened.tx.slice(0, 16)}…)` : ''}; ${p.peer} checked it on chain, vouchers pay from here\n`);
    });
    const t0 = Date.now();
    const t = await buyer.add(leechClient, meta, { dir: join(root, 'buyer'), peers: [`127.0.0.1:${port}`] });
    await transferWithBar(t, undefined, io, failed);
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    // The last voucher may still be on its way to the seller: wait (bounded) for it.
    await within(10_000, () => buyer!.vouchers().every((v) => seller!.totals().vouchers.some((x) => x.channel === v.channel && x.amount === v.amount)));

    const opens = buyer.channels?.opened() ?? [];
    const address = opens[0]?.channel ?? buyer.vouchers()[0]?.channel;
    if (address === undefined) throw new CliError('no channel was opened (the buyer paid some other way)');
    const stateBefore: ChannelState | null = await channels.fetchChannel(new PublicKey(address));
    const buyerMid = await tokens(chain, mint, buyerKey.publicKey);
    const st = t.stats();

    // The seller shuts down: with no live session on the channel, it claims the latest
    // voucher and closes the channel, refunding the rest of the deposit to the buyer.
    io.err.write('seller shutting down: claim the latest voucher and close the channel…\n');
    await leechClient.close();
    await seedClient.close();
    clientsClosed = true;
    await seller.close();
    await buyer.close();
    const tot = seller.totals();
    const stateAfter = await channels.fetchChannel(new PublicKey(address));
    const buyerAfter = await tokens(chain, mint, buyerKey.publicKey);
    const sellerAfter = await tokens(chain, mint, sellerKey.publicKey);
    const [src, got] = await Promise.all([sha256Of(file), sha256Of(join(root, 'buyer', 'sample.bin'))]);

    const vouchers = buyer.vouchers().filter((v) => v.channel === address);
    const voucherTotal = vouchers.at(-1)?.amount ?? 0n;
    const voucherSum = vouchers.reduce((s, v) => s + v.delta, 0n);
    const accepted = tot.vouchers.filter((v) => v.channel === address);
    const acceptedSum = accepted.reduce((s, v) => s + v.increase, 0n);
    const claims = tot.claims.filter((c) => c.channel === address);
    const claimedSum = claims.reduce((s, c) => s + c.paid, 0n);
    const paid = sellerAfter - sellerBefore;
    const refund = buyerAfter - buyerMid;
    const openTx = opens.find((o) => o.channel === address)?.tx ?? null;
    const openLanded = openTx !== null && await landed(chain, openTx);
    const claimsLanded = await Promise.all(claims.map((c) => landed(chain, c.tx)));
    const ahead = voucherTotal - tot.charged;

    const checks = new ReceiptChecks();
    const c = (ok: boolean, what: string): string => checks.check(ok, what);
    const openOk = c(openLanded && opens.length === 1, `open transaction ${openTx ?? '(none)'} not found as succeeded on the ledger, or ${opens.length} channels opened`);
    const depositOk = c(stateBefore !== null && stateBefore.deposit === deposit && buyerBefore - buyerMid === deposit,
      `channel held ${stateBefore?.deposit ?? 'nothing'}, the buyer's wallet lost ${buyerBefore - buyerMid} at the open, for a deposit of ${deposit}`);
    const vouchersOk = c(vouchers.length > 0 && voucherSum === voucherTotal && acceptedSum === voucherTotal && tot.voucherCredited === voucherTotal,
      `vouchers: buyer's latest ${voucherTotal}, its increments sum to ${voucherSum}; seller accepted ${acceptedSum} (credited ${tot.voucherCredited})`);
    const chargeOk = c(tot.charged === chargeFor(tot.paidBytes, price) && tot.charged <= voucherTotal,
      `charged ${tot.charged} for ${tot.paidBytes} bytes at ${price}, vouchers ${voucherTotal}`);
    const aheadOk = c(ahead <= chargeFor(AHEAD_BYTES, price) + 1n, `vouchers ran ${ahead} ahead of the charge for the whole file, above one min_prepay (1 MiB worth)`);
    const claimOk = c(claims.length >= 1 && claims.at(-1)!.amount === voucherTotal && claims.at(-1)!.closed && claimsLanded.every((x) => x) && stateAfter === null,
      `claims ${claims.map((x) => `${x.amount}${x.closed ? ' (close)' : ''}`).join(', ') || 'none'} for vouchers of ${voucherTotal}; channel ${stateAfter === null ? 'closed' : 'still open'}`);
    const paidOk = c(paid === voucherTotal && claimedSum === paid && buyerBefore - buyerAfter === paid,
      `seller gained ${paid}, claims paid ${claimedSum}, the buyer's wallet lost ${buyerBefore - buyerAfter}, vouchers ${voucherTotal}`);
    const refundOk = c(refund + paid === deposit, `refund ${refund} + paid ${paid} ≠ deposit ${deposit}`);
    const shaOk = c(src === got, `sha256 ${got} differs from the source ${src}`);

    const lines = [
      '',
      'receipt (payment channel)',
      line('file', `sample.bin, ${formatBytes(size)} (${meta.pieceCount} pieces of ${formatBytes(meta.pieceLength)})`),
      line('bytes', `${st.downloaded} payload (${tot.paidBytes} paid, ${tot.freeBytes} free) + ${st.protocolDownloaded} protocol`),
      line('price', `${usdc(price)} per MiB`),
      line('program', `${channels.programId.toBase58()} (escrow, loaded in the local ledger)`),
      line('channel', address),
      line('open tx', `${openTx ?? '(none)'}${openLanded ? '  (landed)' : ''}${openOk}`),
      line('deposit', `${usdc(stateBefore?.deposit ?? 0n)} held by the channel; buyer ${usdc(buyerBefore)} → ${usdc(buyerMid)} at the open${depositOk}`),
      line('vouchers', `${vouchers.length} signed, total ${usdc(voucherTotal)}; seller accepted ${accepted.length}, credited ${usdc(tot.voucherCredited)}${vouchersOk}`),
      line('charged', `${usdc(tot.charged)} = ceil(${tot.paidBytes} × ${price} / 2^20) base units${chargeOk}`),
      line('ahead', `${usdc(ahead)} vouchered beyond the charge (the last voucher's rounding up to min_prepay, 1 MiB worth at most)${aheadOk}`),
      ...claims.map((x, i) => line(i === claims.length - 1 ? 'claim+close' : `claim ${i + 1}`,
        `${x.tx}  ${usdc(x.paid)}${x.closed ? ', channel closed' : ''}${claimsLanded[i] ? '  (landed)' : ''}`)),
      ...(claims.length === 0 ? [line('claim+close', `(none)${claimOk}`)] : [line('closed', `${stateAfter === null ? 'yes (the channel account is gone)' : 'NO'}${claimOk}`)]),
      line('paid', `${usdc(paid)} to the seller (its token account ${usdc(sellerBefore)} → ${usdc(sellerAfter)}) = the voucher total${paidOk}`),
      line('refund', `${usdc(refund)} back to the buyer (${usdc(buyerMid)} → ${usdc(buyerAfter)}); paid + refund = ${usdc(paid + refund)} of ${usdc(deposit)} deposited${refundOk}`),
      line('on chain', `${opens.length + claims.length} transactions (open + ${claims.length} claim${claims.length === 1 ? '' : 's'}) for ${vouchers.length} vouchers (those go over the wire)`),
      line('time', `${secs.toFixed(2)} s from connect to done`),
      line('speed', `${(size / 1e6 / secs).toFixed(1)} MB/s`),
      line('sha256', `${got}${shaOk}`),
      line('verified', checks.ok ? 'yes (the file matches its source; deposit, vouchers, claim and refund add up)' : `NO: ${checks.problems.length} check(s) failed`),
      '',
    ];
    io.out.write(lines.join('\n'));
    if (!checks.ok) throw new CliError(`channel demo check failed: ${checks.problems.join('; ')}`);
  } finally {
    if (!clientsClosed) {
      await leechClient.close();
      await seedClient.close();
    }
    await seller?.close();
    await buyer?.close();
    await ledger?.stop();
    if (a.flags.has('--keep')) io.err.write(`files kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
  return 0;
}
