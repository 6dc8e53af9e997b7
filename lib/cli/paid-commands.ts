/**
 * The paid CLI commands: `seed` and `get` with a wallet (SeedPay), `ledger`,
 * `earnings`, `spending`. Without --wallet, `seed` and `get` are the free commands
 * (commands.ts). Amounts are typed and shown in USDC; money stays bigint base units.
 */
import { PublicKey } from '@solana/web3.js';
import { Client } from '../net/client.js';
import { MagnetError, parseMagnet } from '../../format/magnet.js';
import type { Metainfo } from '../../format/metainfo.js';
import type { PeerSession } from '../engine/peer-session.js';
import { PaidBuyer } from '../paid/buyer.js';
import { PaidSeller } from '../paid/seller.js';
import { readJournal, type JournalRecord, type JournalSummary } from '../../payment/journal.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { BIND_FLAGS, CliError, DHT_FLAGS, parseArgs, parseBind, parseDht, parseEncryption, parsePeers, parsePort, parseRate } from './args.js';
import { cmdGet, cmdSeed, LIMIT_FLAGS, limitOptions, reportDht, reportLimits, reportTrackers } from './commands.js';
import {
  checkAmountFlag, connectRpc, DEFAULT_LEDGER_PORT, defaultJournal, ensureStateDir, formatToken, loadTorrent, parseUsdc,
  peerSources, resolveToken, RPC_FLAGS, tokenAmount, untilSignal, usdc, writeLedgerRecord, type Out,
} from './paid-common.js';
import { bindPeerPool } from './paid-peers.js';
import { PeerPool } from './peer-pool.js';
import { prepayWarning } from './prepay-warning.js';
import { awaitDownload, parseTimeout, TIMEOUT_FLAG } from './await-download.js';
import { sourcesLine, startGetReport } from './get-report.js';
import { formatBytes } from './progress.js';
import { loadWallet } from './wallet.js';
import { Budget } from '../../extensions/seedpay/policy.js';
import { channelPlan, channelSummary, checkGetChannelFlags, expiredHint, GET_CHANNEL_FLAGS, watchChannels } from './get-channels.js';
import { channelTotalsLine, checkSeedChannelFlags, reportChannels, SEED_CHANNEL_FLAGS, sellerChannels } from './seed-channels.js';

export const PAID_USAGE = `paid (SeedPay, amounts in USDC; --rpc URL settles on any cluster, default the local ledger):
  seedpay seed <file.torrent> --wallet <keypair.json> --price 0.0001 [--paid-only] [--dir D] [--port N] [--host|--bind ADDR] [--min-prepay U] [--rpc URL] [--mint M] [--encryption E] [--no-dht | --dht-bootstrap host:port,...] [--up-limit R] [--down-limit R]
      [--channels [--channel-program ID] [--claim-threshold U]]   (also offer payment channels; the program must be deployed at --rpc; claims at shutdown are waited for)
  seedpay get <file.torrent|magnet> --wallet <keypair.json> --max-price 0.001 --budget 1 [--peer host:port]... [--min-rate R] [--max-prepay A] [--no-credit] [--timeout S] [--dir D] [--host|--bind ADDR] [--rpc URL] [--mint M] [--encryption E] [--no-trackers] [--no-pex] [--no-dht | --dht-bootstrap host:port,...] [--up-limit R] [--down-limit R]
      [--prepaid | [--channel-deposit A] [--channel-program ID]]
      (peers from --peer, trackers, the DHT and PEX; free peers are used first; --min-rate R: buy only the rate they do not give, cheapest seller first;
       a seller offering channels on our program is paid by vouchers on one channel, deposit A (default the smaller of --budget and 1), counted against --budget;
       the unvouchered rest comes back when the seller closes it, or after expiry with: seedpay channels reclaim; --prepaid: never a channel)
  seedpay wallet new|show|balance <keypair.json> [--rpc URL] [--mint M]
  seedpay ledger [--port 8899] [--fund <keypair.json|address>]... [--amount 100]
  seedpay earnings [--journal F]      seedpay spending [--journal F]
  seedpay credits [--journal F] [--ratio-ttl SECS] [--json]   (ratio credits per identity: earned by uploading to this node)
  seedpay demo [--size 64M] [--price 0.001] [--keep] [--free]
  seedpay demo --ratio [--upload-size 8M] [--size 24M] [--price 0.001] [--keep]   (credit earned by uploading, spent before paying)
  seedpay demo --channel [--size 64M] [--price 0.001] [--deposit 1] [--keep]   (a payment channel: one open, vouchers, claim and refund)`;

function journalError(path: string, e: unknown): CliError {
  return new CliError(`cannot open journal ${path}: ${(e as Error).message}`);
}

// ---------------------------------------------------------------------------- seed

export async function cmdPaidSeed(argv: string[], io: Out): Promise<number> {
  if (!argv.some((x) => x === '--wallet' || x.startsWith('--wallet='))) return cmdSeed(argv, io);
  const a = parseArgs(argv, {
    values: ['--dir', '--port', ...BIND_FLAGS, '--peer', '--wallet', '--price', '--min-prepay', '--journal', '--encryption', ...LIMIT_FLAGS, ...RPC_FLAGS, ...DHT_FLAGS.values, ...SEED_CHANNEL_FLAGS.values],
    booleans: ['--paid-only', ...DHT_FLAGS.booleans, ...SEED_CHANNEL_FLAGS.booleans],
  });
  if (a.positionals.length !== 1) throw new CliError('seed needs exactly one <file.torrent>', 2);
  checkAmountFlag('--price', a.flags.get('--price'));
  checkAmountFlag('--min-prepay', a.flags.get('--min-prepay'), false);
  checkSeedChannelFlags(a);
  const port = parsePort(a.flags.get('--port') ?? '6881');
  const { host, localAddress } = parseBind(a.flags);
  const peers = parsePeers(a.repeated.get('--peer'));
  const encryption = parseEncryption(a.flags.get('--encryption'));
  const dht = parseDht(a);
  const limits = limitOptions(a.flags);
  const { wallet } = await loadWallet(a.flags.get('--wallet'));
  const meta = await loadTorrent(a.positionals[0]);
  const rpc = await connectRpc(a);
  const token = await resolveToken(a, rpc);
  const mint = token.mint;
  const usdc = (units: bigint): string => formatToken(token, units);
  const price = tokenAmount(token, '--price', a.flags.get('--price'))!;
  const minPrepay = tokenAmount(token, '--min-prepay', a.flags.get('--min-prepay'), false);
  // Payment channels (--channels): the program must be at this RPC before anything listens.
  const channels = await sellerChannels(a, rpc, token);
  const journalPath = a.flags.get('--journal') ?? defaultJournal('seller');
  if (a.flags.get('--journal') === undefined) await ensureStateDir();
  const seller = await PaidSeller.open({
    chain: rpc.chain, wallet, journalPath, price, mint, minPrepay, policy: a.flags.has('--paid-only') ? 'paid-only' : 'free',
    ...(channels !== undefined ? { channels: channels.options } : {}),
  }).catch((e: unknown) => { throw journalError(journalPath, e); });
  if (channels !== undefined) reportChannels(seller, token, io.err);
  const client = new Client({ encryption, dht, ...limits, localAddress });
  reportLimits(client, io.err);
  try {
    const bound = await client.listen(port, host).catch((e: unknown) => { throw new CliError((e as Error).message); });
    const dir = a.flags.get('--dir') ?? '.';
    io.err.write(`checking ${meta.name} in ${dir}…\n`);
    const t = await seller.add(client, meta, { dir, peers });
    if (!t.isComplete) io.err.write(`warning: only ${t.progress().have}/${t.progress().total} pieces of ${meta.name} on disk in ${dir}\n`);
    io.err.write(`selling ${meta.name} (${meta.infoHashHex}) on ${host}:${bound} at ${usdc(price)} per MiB to wallet ${wallet.address}`
      + `${a.flags.has('--paid-only') ? ', paid-only' : ', free for peers without SeedPay'}\n`);
    if (channels !== undefined) io.err.write(`${channels.describe}\n`);
    seller.on('credited', (p, tx, credited, balance) => io.err.write(`+${usdc(credited)} from ${p.peer} (tx ${tx}), balance ${usdc(balance)}\n`));
    seller.on('rejected', (p, tx, reason) => io.err.write(`payment ${tx} from ${p.peer} rejected: ${reason}\n`));
    seller.on('resumed', (p, prev, moved) => { if (moved > 0n) io.err.write(`${p.peer} resumed session ${prev.slice(0, 12)}…: ${usdc(moved)} of its credit carried over\n`); });
    seller.on('error', (e) => io.err.write(`error: ${e.message}\n`));
    await untilSignal();
    const tot = seller.totals();
    io.err.write(`earned ${usdc(tot.credited)}${channels !== undefined ? ` prepaid + ${usdc(tot.voucherCredited)} in vouchers` : ''}, served ${formatBytes(Number(tot.paidBytes))} paid + ${formatBytes(Number(tot.freeBytes))} free\n`);
    if (channels !== undefined) io.err.write('claiming the vouchers held…\n');
  } finally {
    await client.close();
    // With channels this waits for the shutdown claims (each printed as it lands).
    await seller.close();
  }
  if (channels !== undefined) io.err.write(`${channelTotalsLine(seller, token)}\n`);
  return 0;
}

// ---------------------------------------------------------------------------- get

export async function cmdPaidGet(argv: string[], io: Out): Promise<number> {
  if (!argv.some((x) => x === '--wallet' || x.startsWith('--wallet='))) return cmdGet(argv, io);
  const startedAt = Date.now();
  const a = parseArgs(argv, {
    values: ['--dir', '--port', ...BIND_FLAGS, '--peer', '--wallet', '--max-price', '--budget', '--max-prepay', '--min-rate', '--journal', '--encryption', TIMEOUT_FLAG, ...LIMIT_FLAGS, ...RPC_FLAGS, ...DHT_FLAGS.values, ...GET_CHANNEL_FLAGS.values],
    booleans: ['--no-credit', '--no-trackers', '--no-pex', ...DHT_FLAGS.booleans, ...GET_CHANNEL_FLAGS.booleans],
  });
  if (a.positionals.length !== 1) throw new CliError('get needs exactly one <file.torrent|magnet>', 2);
  checkAmountFlag('--max-price', a.flags.get('--max-price'));
  checkAmountFlag('--budget', a.flags.get('--budget'));
  checkAmountFlag('--max-prepay', a.flags.get('--max-prepay'), false);
  checkGetChannelFlags(a);
  const minRate = parseRate('--min-rate', a.flags.get('--min-rate'));
  const src = a.positionals[0];
  const peers = parsePeers(a.repeated.get('--peer'));
  const encryption = parseEncryption(a.flags.get('--encryption'));
  const limits = limitOptions(a.flags);
  const { host, localAddress } = parseBind(a.flags);
  const timeoutS = parseTimeout(a);
  const dht = parseDht(a);
  let source: Metainfo | string;
  if (src.startsWith('magnet:')) {
    try { parseMagnet(src); } catch (e) { throw new CliError(`bad magnet link: ${e instanceof MagnetError ? e.message : String(e)}`, 2); }
    source = src;
  } else {
    source = await loadTorrent(src);
  }
  // Peers as the free get finds them: --peer, the torrent's trackers, the DHT, PEX.
  const sources = peerSources(a, source, peers, dht !== false);
  const { keypair, wallet } = await loadWallet(a.flags.get('--wallet'));
  const rpc = await connectRpc(a);
  // Only the chosen mint is paid (default: the cluster's USDC, as `seed` sells in), and
  // every amount typed is read in its decimals; a seller asking another mint is refused
  // before anything is paid.
  const token = await resolveToken(a, rpc);
  const usdc = (units: bigint): string => formatToken(token, units);
  const maxPrice = tokenAmount(token, '--max-price', a.flags.get('--max-price'))!;
  const budget = tokenAmount(token, '--budget', a.flags.get('--budget'))!;
  const maxPrepay = tokenAmount(token, '--max-prepay', a.flags.get('--max-prepay'), false);
  // Sellers offering channels on our program are paid by vouchers (get-channels.ts); the deposit counts against the budget.
  const channels = await channelPlan(a, rpc, token, budget);
  const total = new Budget(budget, 'total');
  const journalPath = a.flags.get('--journal') ?? defaultJournal('buyer');
  if (a.flags.get('--journal') === undefined) await ensureStateDir();
  const buyer = await PaidBuyer.open({
    chain: rpc.chain, payer: keypair, journalPath, maxPricePerMiB: maxPrice, budget, totalBudget: total, mint: token.mint, ...channels.options,
    ...(maxPrepay !== undefined ? { maxPrepay } : {}),
    // Paying in a swarm: with --min-rate, buy only the rate free peers do not deliver.
    ...(minRate !== undefined && minRate > 0 ? { targetRate: minRate } : {}),
    // The wallet is our ratio credit identity: sellers that take credit draw on what it earned there first.
    ratio: !a.flags.has('--no-credit'),
  })
    .catch((e: unknown) => { throw journalError(journalPath, e); });
  const dir = a.flags.get('--dir') ?? '.';
  const client = new Client({
    encryption, ...limits, localAddress, trackers: sources.useTrackers, pex: sources.pex, dht: sources.useDht ? dht : false,
  });
  const via = [...sources.trackers.map((u) => `tracker ${u}`), ...(sources.useDht ? ['DHT'] : [])];
  // The same report as the free get, with what was spent on the progress line. With no
  // tracker and no DHT the given sellers are all there is (each one that never connects
  // is given up, and the command fails when none is left).
  const g = startGetReport(io.err, { given: sources.given, lookingVia: via, extra: () => [`spent ${usdc(buyer.spent)}`] });
  reportTrackers(client, g.line);
  reportDht(client, g.line);
  reportLimits(client, io.err);
  const confirmed = channels.on === null ? new Set<string>() : watchChannels(buyer, total, token, g.line);
  try {
    if (channels.on !== null) {
      const hint = await expiredHint(buyer, channels.on.chain, keypair, token);
      if (hint !== null) g.line(hint);
    }
    // Peers a tracker names us to must reach us, and the DHT node runs on the listen address.
    if (a.flags.has('--port') || localAddress !== undefined || via.length > 0) {
      await client.listen(a.flags.has('--port') ? parsePort(a.flags.get('--port')!) : 0, host).catch((e: unknown) => { throw new CliError((e as Error).message); });
    }
    io.err.write(`${sourcesLine([
      ...peers.map((p) => `--peer ${p}`), ...sources.given.slice(peers.length).map((p) => `magnet peer ${p}`),
      ...via, ...(sources.pex ? ['peer exchange'] : []),
    ], [])}\n`);
    // A failure that concerns every peer (funds, budget) ends the download with one line;
    // one peer's refusal drops that peer (paid-peers.ts) and the others go on.
    buyer.on('pay_failed', (p, e) => {
      const code = (e as { code?: string }).code;
      if (code === 'insufficient_funds') g.fail(new CliError(`insufficient funds in wallet ${wallet.address}: ${e.message}`));
      else if (code !== 'wrong_cluster' && code !== 'wrong_mint') g.line(`payment to ${p.peer} failed: ${e.message}`);
      // wrong_cluster / wrong_mint: the buyer stops paying that seller ('stopped'), which drops it.
    });
    buyer.on('resumed', (p, _prev, credited, payments) => {
      if (credited > 0n || payments > 0) g.line(`resumed an earlier session with ${p.peer}: ${usdc(credited)} of credit carried over${payments > 0 ? `, ${payments} payment(s) proven again` : ''}`);
    });
    buyer.on('budget_exhausted', (_p, needed) => g.fail(new CliError(`budget ${usdc(budget)} exhausted (next payment ${usdc(needed)}); raise --budget`)));
    const describe = {
      refused(s: PeerSession | null, reason: string): string {
        const terms = s === null ? null : buyer.hookOf(s)?.buyer.terms ?? null;
        if (reason === 'price_too_high') {
          return `asks ${terms === null ? 'more' : usdc(terms.price)} per MiB, above --max-price ${usdc(maxPrice)}`;
        }
        return `refused: ${reason.replace(/_/g, ' ')} (not paying it)`;
      },
    };
    // Refusals drop a seller whatever the sources; with trackers or the DHT more peers may
    // come, so dropping the last one known is not the end.
    const pool = g.pool ?? new PeerPool(sources.given, { dropped: (peer, why) => g.line(`dropping peer ${peer}: ${why}`), exhausted: () => undefined }, () => 1);
    const bound = bindPeerPool(pool, buyer, describe);
    const tor = await buyer.add(client, source, { dir, peers });
    if (maxPrepay !== undefined) {
      const warn = (pieceLength: number): void => { const w = prepayWarning(maxPrepay, pieceLength, maxPrice, usdc); if (w !== null) g.line(w); };
      if (tor.metainfo !== null) warn(tor.metainfo.pieceLength);
      else tor.once('metadata', (m) => warn(m.pieceLength));
    }
    g.watch(tor);
    bound.watch(tor);
    const started = Date.now();
    await awaitDownload(tor, { bar: g.bar, report: g.report, failed: g.failed, timeoutS, startedAt });
    const secs = (Date.now() - started) / 1000;
    const pays = buyer.payments();
    const vouchers = buyer.vouchers().filter((v) => v.infoHash === tor.infoHashHex);
    io.out.write(`${tor.name}: ${formatBytes(tor.metainfo!.totalLength)} complete in ${dir} in ${secs.toFixed(2)} s; paid ${usdc(buyer.spent)} in ${pays.length} payment(s)`
      + `${vouchers.length > 0 ? ` and ${vouchers.length} voucher(s)` : ''}\n`);
    // Per seller: what it sent, at what price, what it was paid; the rest came free.
    const rows = buyer.perSeller().filter((r) => r.infoHash === tor.infoHashHex);
    const paidBytes = rows.reduce((x, r) => x + Number(r.bytes), 0);
    io.out.write(`  free peers: ${formatBytes(Math.max(0, tor.stats().downloaded - paidBytes))}\n`);
    for (const r of rows) {
      const vouchered = vouchers.filter((v) => v.seller === r.wallet).reduce((x, v) => x + v.delta, 0n);
      io.out.write(`  seller ${r.wallet} (${r.peers.join(', ')}): ${formatBytes(Number(r.bytes))} at ${usdc(r.pricePerMiB)}/MiB, paid ${usdc(r.paid)} in ${r.payments} payment(s)`
        + `${vouchered > 0n ? ` + ${usdc(vouchered)} in vouchers` : ''}\n`);
    }
    for (const p of pays) io.out.write(`  ${usdc(p.amount)} to ${p.seller} tx ${p.tx}\n`);
    for (const l of channelSummary(buyer, tor.infoHashHex, confirmed, token)) io.out.write(`${l}\n`);
    if (channels.offReason !== null) io.out.write(`  channels: off (${channels.offReason})\n`);
  } finally {
    await client.close();
    await buyer.close();
  }
  return 0;
}

// ---------------------------------------------------------------------------- ledger

export async function cmdLedger(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--port', '--fund', '--amount'] });
  if (a.positionals.length !== 0) throw new CliError(`ledger takes no arguments (got '${a.positionals[0]}')`, 2);
  const port = parsePort(a.flags.get('--port') ?? String(DEFAULT_LEDGER_PORT));
  const amount = parseUsdc('--amount', a.flags.get('--amount') ?? '100')!;
  const owners: PublicKey[] = [];
  for (const f of a.repeated.get('--fund') ?? []) {
    let pk: PublicKey | null = null;
    try { pk = new PublicKey(f); } catch { pk = null; }
    owners.push(pk ?? new PublicKey((await loadWallet(f, '--fund')).wallet.address));
  }
  let ledger: LocalLedger;
  try {
    ledger = await LocalLedger.start({ port });
  } catch (e) {
    throw new CliError(`cannot start the local ledger on 127.0.0.1:${port}: ${(e as Error).message}`);
  }
  try {
    for (const o of owners) {
      ledger.fundSol(o, 1_000_000_000n);
      ledger.fundTokens(o, amount);
      io.err.write(`funded ${o.toBase58()} with ${usdc(amount)} and 1 SOL\n`);
    }
    await writeLedgerRecord({ url: ledger.url, genesisHash: ledger.genesisHash, mint: ledger.mint.toBase58() });
    io.out.write(`${ledger.url}\n`);
    io.err.write(`local ledger: genesis ${ledger.genesisHash}, USDC-like mint ${ledger.mint.toBase58()} (6 decimals); Ctrl-C to stop\n`);
    await untilSignal();
  } finally {
    await ledger.stop();
  }
  return 0;
}

// ---------------------------------------------------------------------------- reports

async function readReport(path: string): Promise<{ records: JournalRecord[]; summary: JournalSummary }> {
  try {
    return await readJournal(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no journal at ${path}` : `cannot read journal ${path}: ${(e as Error).message}`);
  }
}

export async function cmdEarnings(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--journal'] });
  if (a.positionals.length !== 0) throw new CliError('earnings takes no arguments', 2);
  const path = a.flags.get('--journal') ?? defaultJournal('seller');
  const { summary: s } = await readReport(path);
  io.out.write(`earned ${usdc(s.totals.earned)} in ${s.totals.credits} payment(s); charged ${usdc(s.totals.charged)} for data served (${path})\n`);
  for (const [payer, units] of s.earnedByPayer) io.out.write(`  ${usdc(units)} from ${payer}\n`);
  return 0;
}

export async function cmdSpending(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--journal'] });
  if (a.positionals.length !== 0) throw new CliError('spending takes no arguments', 2);
  const path = a.flags.get('--journal') ?? defaultJournal('buyer');
  const { summary: s } = await readReport(path);
  io.out.write(`spent ${usdc(s.totals.spent)} in ${s.totals.payments} payment(s) (${path})\n`);
  for (const [seller, units] of s.spentBySeller) io.out.write(`  ${usdc(units)} to ${seller}\n`);
  return 0;
}
