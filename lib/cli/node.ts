/**
 * `seedpay node`: one process that seeds some torrents and downloads others at once,
 * the normal case for a node — one Client for all its torrents, one listening port,
 * one credit book (docs/PROTOCOL.md §10, "One ledger per node").
 *
 *  - `--seed T[:dir]` (repeatable): seeded; sold when `--price` is given (one
 *    PaidSeller for all of them, `--ratio S:C` offering ratio terms), free otherwise.
 *  - `--get T[:dir]` (repeatable): downloaded, then seeded; paid to sellers when
 *    `--max-price` and `--budget` are given (one PaidBuyer, spending the wallet's
 *    credit before paying), free otherwise.
 *  - Every download credits the peers that upload to it, by their proven wallet
 *    identity, in the node's book: the seller's (its journal) when selling, else a
 *    book on the same journal file (`--journal`, default the seller journal in
 *    SEEDPAY_HOME), so what peers earn here is spendable when the node sells.
 *  - `--wallet` alone is the node's identity: proven to peers on every torrent it
 *    uploads in for free, so they credit what it uploads to them.
 * The node runs until SIGINT/SIGTERM, then prints what it did; a line on stdout for
 * each finished download.
 */
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { MagnetError, parseMagnet } from '../../format/magnet.js';
import type { Metainfo } from '../../format/metainfo.js';
import { CreditBook } from '../../payment/credit-book.js';
import type { Torrent } from '../engine/torrent.js';
import { Client } from '../net/client.js';
import { PaidBuyer } from '../paid/buyer.js';
import { PaidSeller } from '../paid/seller.js';
import { BIND_FLAGS, CliError, parseArgs, parseBind, parseEncryption, parsePeers, parsePort } from './args.js';
import { LIMIT_FLAGS, limitOptions, reportLimits, reportTrackers } from './commands.js';
import { formatCredit } from './credits.js';
import { parseRatioTerms, parseTorrentSpec } from './node-args.js';
import {
  checkAmountFlag, connectRpc, defaultJournal, ensureStateDir, formatToken, loadTorrent, resolveToken, RPC_FLAGS, tokenAmount,
  untilSignal, type Out,
} from './paid-common.js';
import { formatBytes } from './progress.js';
import { loadWallet } from './wallet.js';

export const NODE_USAGE = `node (one process seeds some torrents and downloads others: one client, one port, one credit book):
  seedpay node [--seed <file.torrent>[:dir]]... [--get <file.torrent|magnet>[:dir]]... [--peer host:port]... [--dir D] [--port 6881] [--host|--bind ADDR] [--up-limit R] [--down-limit R]
      [--wallet <keypair.json>] [--price P [--paid-only] [--min-prepay U] [--ratio S:C [--ratio-cap SIZE] [--ratio-ttl SECS]]]
      [--max-price P --budget B [--max-prepay A]] [--journal F] [--rpc URL] [--mint M] [--encryption E] [--no-trackers]
    (--wallet: the node's credit identity; --price sells the seeds; --max-price/--budget pay for the gets, credit first)`;

const SELL_FLAGS = ['--paid-only', '--min-prepay', '--ratio'] as const;

function journalError(path: string, e: unknown): CliError {
  const msg = (e as Error).message;
  // Another seed or node on the same SEEDPAY_HOME holds the default journal.
  const hint = /in use/.test(msg) ? ' (one process per journal: give this node --journal F)' : '';
  return new CliError(`cannot open journal ${path}: ${msg}${hint}`);
}

/** A torrent to fetch: its metainfo, or a magnet link (checked now, so a bad one fails before anything starts). */
async function loadSource(src: string): Promise<Metainfo | string> {
  if (!src.startsWith('magnet:')) return loadTorrent(src);
  try { parseMagnet(src); } catch (e) { throw new CliError(`bad magnet link: ${e instanceof MagnetError ? e.message : String(e)}`, 2); }
  return src;
}

/** Whether a download has a way to peers of its own (a magnet's peers, a tracker); else it waits for peers to dial in. */
function findsPeers(src: Metainfo | string, useTrackers: boolean): boolean {
  if (typeof src === 'string') {
    const m = parseMagnet(src);
    return m.peers.length > 0 || (useTrackers && m.trackers.length > 0);
  }
  return useTrackers && (src.announce !== undefined || (src.announceList?.length ?? 0) > 0);
}

export async function cmdNode(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, {
    values: [
      '--seed', '--get', '--peer', '--dir', '--port', ...BIND_FLAGS, ...LIMIT_FLAGS, '--wallet', '--price', '--min-prepay', '--ratio', '--ratio-cap', '--ratio-ttl',
      '--max-price', '--budget', '--max-prepay', '--journal', '--encryption', ...RPC_FLAGS,
    ],
    booleans: ['--paid-only', '--no-trackers'],
  });
  if (a.positionals.length !== 0) throw new CliError(`node takes its torrents as --seed T / --get T (got '${a.positionals[0]}')`, 2);
  const defaultDir = a.flags.get('--dir') ?? '.';
  const seeds = (a.repeated.get('--seed') ?? []).map((v) => parseTorrentSpec('--seed', v, defaultDir));
  const gets = (a.repeated.get('--get') ?? []).map((v) => parseTorrentSpec('--get', v, defaultDir));
  if (seeds.length + gets.length === 0) throw new CliError('node needs at least one --seed or --get torrent', 2);
  const selling = a.flags.has('--price');
  const buying = a.flags.has('--max-price') || a.flags.has('--budget');
  if ((selling || buying) && !a.flags.has('--wallet')) throw new CliError(`${selling ? '--price' : '--max-price'} needs --wallet <keypair.json>`, 2);
  if (selling && seeds.length === 0) throw new CliError('--price sells the --seed torrents: give at least one', 2);
  for (const f of SELL_FLAGS) if (a.flags.has(f) && !selling) throw new CliError(`${f} needs --price (it is a term of the seeds' sale)`, 2);
  if (buying && gets.length === 0) throw new CliError('--max-price pays for the --get torrents: give at least one', 2);
  if (a.flags.has('--max-prepay') && !buying) throw new CliError('--max-prepay needs --max-price and --budget', 2);
  if (selling) {
    checkAmountFlag('--price', a.flags.get('--price'));
    checkAmountFlag('--min-prepay', a.flags.get('--min-prepay'), false);
  }
  if (buying) {
    checkAmountFlag('--max-price', a.flags.get('--max-price'));
    checkAmountFlag('--budget', a.flags.get('--budget'));
    checkAmountFlag('--max-prepay', a.flags.get('--max-prepay'), false);
  }
  const ratio = parseRatioTerms(a.flags.get('--ratio'), a.flags.get('--ratio-cap'), a.flags.get('--ratio-ttl'));
  const port = parsePort(a.flags.get('--port') ?? '6881');
  const { host, localAddress } = parseBind(a.flags);
  const peers = parsePeers(a.repeated.get('--peer'));
  const encryption = parseEncryption(a.flags.get('--encryption'));
  const useTrackers = !a.flags.has('--no-trackers');
  const w = a.flags.has('--wallet') ? await loadWallet(a.flags.get('--wallet')) : null;
  // Every torrent is read before anything starts: a bad one is one line, nothing left running.
  const seedMetas = await Promise.all(seeds.map((s) => loadTorrent(s.src)));
  const getSources = await Promise.all(gets.map((g) => loadSource(g.src)));
  const rpc = selling || buying ? await connectRpc(a) : null;
  const token = rpc === null ? null : await resolveToken(a, rpc);
  const amount = (units: bigint): string => formatToken(token!, units);
  const journalPath = a.flags.get('--journal') ?? defaultJournal('seller');
  if (a.flags.get('--journal') === undefined || buying) await ensureStateDir();

  let seller: PaidSeller | null = null;
  let buyer: PaidBuyer | null = null;
  /** The node's credit book when it is not the seller's own (closed before the seller). */
  let ownBook: CreditBook | null = null;
  const client = new Client({ encryption, trackers: useTrackers, localAddress, ...limitOptions(a.flags) });
  reportLimits(client, io.err);
  reportTrackers(client, io.err);
  const torrents: Torrent[] = [];
  try {
    const bookError = (e: Error): void => { io.err.write(`error: credit journal ${journalPath}: ${e.message}\n`); };
    if (selling) {
      const price = tokenAmount(token!, '--price', a.flags.get('--price'))!;
      const minPrepay = tokenAmount(token!, '--min-prepay', a.flags.get('--min-prepay'), false);
      seller = await PaidSeller.open({
        chain: rpc!.chain, wallet: w!.wallet, journalPath, price, mint: token!.mint, minPrepay,
        policy: a.flags.has('--paid-only') ? 'paid-only' : 'free', ...(ratio !== undefined ? { ratio } : {}),
      }).catch((e: unknown) => { throw journalError(journalPath, e); });
      seller.on('credited', (p, tx, credited, balance) => io.err.write(`+${amount(credited)} from ${p.peer} (tx ${tx}), balance ${amount(balance)}\n`));
      seller.on('rejected', (p, tx, reason) => io.err.write(`payment ${tx} from ${p.peer} rejected: ${reason}\n`));
      seller.on('error', (e) => io.err.write(`error: ${e.message}\n`));
    }
    // One book per node: the seller's when it takes credit, else one on the same journal.
    const book = seller?.credits ?? (ownBook = seller !== null
      ? new CreditBook(seller.journal, { onError: bookError })
      : await CreditBook.open(journalPath, { onError: bookError }).catch((e: unknown) => { throw journalError(journalPath, e); }));
    if (buying) {
      const maxPrepay = tokenAmount(token!, '--max-prepay', a.flags.get('--max-prepay'), false);
      const buyerJournal = defaultJournal('buyer');
      buyer = await PaidBuyer.open({
        chain: rpc!.chain, payer: w!.keypair, journalPath: buyerJournal, mint: token!.mint,
        maxPricePerMiB: tokenAmount(token!, '--max-price', a.flags.get('--max-price'))!,
        budget: tokenAmount(token!, '--budget', a.flags.get('--budget'))!,
        ...(maxPrepay !== undefined ? { maxPrepay } : {}),
        ratio: { sink: book },
      }).catch((e: unknown) => { throw journalError(buyerJournal, e); });
      buyer.on('refused', (p, reason) => io.err.write(`not paying ${p.peer}: ${reason.replace(/_/g, ' ')}\n`));
      buyer.on('pay_failed', (p, e) => io.err.write(`payment to ${p.peer} failed: ${e.message}\n`));
      buyer.on('stopped', (p, reason, detail) => io.err.write(`stopped paying ${p.peer}: ${reason.replace(/_/g, ' ')} (${detail})\n`));
      buyer.on('budget_exhausted', (p, needed) => io.err.write(`budget exhausted for ${p.peer} (next payment ${amount(needed)}); raise --budget\n`));
    }
    const bound = await client.listen(port, host).catch((e: unknown) => { throw new CliError((e as Error).message); });
    // Free torrents carry the credit extension: uploaders to us earn in the book, and we
    // prove our identity (when we have one) so peers credit what we upload to them.
    const identity = w === null ? null : walletSigner(w.wallet);
    const plain = (): { extensions: ReturnType<typeof ratioCredits>[] } => ({ extensions: [ratioCredits({ sink: book, signer: identity })] });
    for (const [i, s] of seeds.entries()) {
      const meta = seedMetas[i];
      io.err.write(`checking ${meta.name} in ${s.dir}…\n`);
      const t = seller !== null ? await seller.add(client, meta, { dir: s.dir, peers }) : await client.add(meta, { dir: s.dir, peers, ...plain() });
      torrents.push(t);
      if (!t.isComplete) io.err.write(`warning: only ${t.progress().have}/${t.progress().total} pieces of ${meta.name} on disk in ${s.dir}\n`);
    }
    let left = gets.length;
    for (const [i, g] of gets.entries()) {
      const src = getSources[i];
      const opts = { dir: g.dir, peers };
      const t = buyer !== null ? await buyer.add(client, src, opts) : await client.add(src, { ...opts, ...plain() });
      torrents.push(t);
      const started = Date.now();
      const finished = (): void => {
        const st = t.stats();
        const secs = (Date.now() - started) / 1000;
        io.out.write(`${t.name}: ${formatBytes(t.metainfo!.totalLength)} complete in ${g.dir} (${formatBytes(st.downloaded)} downloaded in ${secs.toFixed(2)} s)`
          + `${buyer !== null ? `; paid ${amount(buyer.spent)} in all so far` : ''}\n`);
        if (--left === 0) io.err.write(`all ${gets.length} download(s) complete; seeding on, Ctrl-C to stop\n`);
      };
      if (t.isComplete) finished();
      else t.once('done', finished);
      if (peers.length === 0 && !findsPeers(src, useTrackers)) {
        io.err.write(`${t.name}: no --peer and no tracker: waiting for peers to connect\n`);
      }
    }
    for (const t of torrents) t.on('error', (e) => io.err.write(`${t.name}: error: ${e.message}\n`));
    const sale = seller === null ? 'free' : `sold at ${amount(seller.terms.price)} per MiB to wallet ${w!.wallet.address}`
      + `${ratio === undefined ? '' : `, ratio ${ratio.served}:${ratio.credit}${ratio.cap !== undefined ? `, credit cap ${formatBytes(Number(ratio.cap))}` : ''}`
        + `${ratio.ttlSeconds !== undefined ? `, credit ttl ${ratio.ttlSeconds} s` : ''}`}`;
    io.err.write(`node on ${host}:${bound}: seeding ${seeds.length} (${sale}), downloading ${gets.length}${buyer !== null ? ' (paid, credit first)' : ''}; `
      + `credit book ${journalPath}${w !== null ? `; identity ${w.wallet.address}` : ''}; Ctrl-C to stop\n`);
    await untilSignal();
    for (const t of torrents) {
      const st = t.stats();
      io.err.write(`${t.name}: uploaded ${formatBytes(st.uploaded)}, downloaded ${formatBytes(st.downloaded)}\n`);
    }
    if (seller !== null) {
      const tot = seller.totals();
      io.err.write(`earned ${amount(tot.credited)}, served ${formatBytes(Number(tot.paidBytes))} paid + ${formatBytes(Number(tot.creditBytes))} from credit + ${formatBytes(Number(tot.freeBytes))} free\n`);
    }
    if (buyer !== null) io.err.write(`paid ${amount(buyer.spent)} in ${buyer.payments().length} payment(s)\n`);
    const owed = [...book.balances().values()].reduce((s, b) => s + b.held, 0n);
    io.err.write(`credit book: ${book.identityCount} identit${book.identityCount === 1 ? 'y' : 'ies'}, ${formatCredit(owed)} held (seedpay credits)\n`);
  } finally {
    await client.close();
    await buyer?.close();
    await ownBook?.close();
    await seller?.close();
  }
  return 0;
}
