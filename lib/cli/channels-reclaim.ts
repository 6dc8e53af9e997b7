/**
 * `seedpay channels reclaim [--journal F] [--wallet W] [--rpc URL] [--channel-program ID] [--json]`:
 * take back what our expired payment channels still hold. After a channel's expiry the
 * seller can no longer claim and only the buyer can reclaim: the program refunds the
 * vault (deposit − what the seller claimed) and closes the accounts.
 *
 * The channels come from the buyer journal (default the `get` one; read only, safe while
 * a get runs), their state from the chain (the journal records no reclaim: a closed channel
 * is simply gone on chain). Per channel: reclaimed (amount, tx), not yet expired (its
 * expiry, what it holds), closed already, or not ours. Without --wallet nothing is sent:
 * the expired ones are listed with what they hold.
 */
import { PublicKey, type Keypair } from '@solana/web3.js';
import { ChannelTxError } from '../../payment/channel/send-tx.js';
import type { ChannelState } from '../../payment/channel/types.js';
import { readJournal, type ChannelBook } from '../../payment/journal.js';
import { CliError, parseArgs } from './args.js';
import { CHANNEL_PROGRAM_FLAG, channelChainOf, channelProgramId, expiryText, requireChannelProgramAt } from './channel-flags.js';
import { connectRpc, defaultJournal, formatToken, tokenOf, type Out, type Rpc, type Token } from './paid-common.js';
import { loadWallet } from './wallet.js';

export const CHANNELS_RECLAIM_USAGE = '  seedpay channels reclaim [--journal F] [--wallet W] [--rpc URL] [--channel-program ID] [--json]   (take back what expired channels hold; without --wallet: only list them)';

type Status = 'reclaimed' | 'not_expired' | 'expired' | 'closed' | 'not_ours' | 'failed';

interface Row {
  channel: string;
  seller: string;
  status: Status;
  /** Base units: reclaimed, or held on chain (deposit − claimed). */
  amount: string | null;
  tx: string | null;
  expiry: number;
  error: string | null;
}

/** Tokens by mint, each looked up once; a mint the chain cannot tell is shown in 6 decimals by its address. */
function tokens(rpc: Rpc): (mint: string) => Promise<Token> {
  const known = new Map<string, Promise<Token>>();
  return (mint) => {
    let t = known.get(mint);
    if (t === undefined) known.set(mint, t = tokenOf(rpc, mint).catch(() => ({ mint, decimals: 6, symbol: `of mint ${mint}` })));
    return t;
  };
}

async function readBooks(path: string): Promise<ChannelBook[]> {
  try {
    return (await readJournal(path)).channels.filter((b) => b.open !== undefined);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no journal at ${path}` : `cannot read journal ${path}: ${(e as Error).message}`);
  }
}

export async function cmdChannelsReclaim(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--journal', '--wallet', '--rpc', CHANNEL_PROGRAM_FLAG], booleans: ['--json'] });
  if (a.positionals.length !== 0) throw new CliError(`channels reclaim takes no arguments (got '${a.positionals[0]}')`, 2);
  const programId = channelProgramId(a);
  const path = a.flags.get('--journal') ?? defaultJournal('buyer');
  const books = await readBooks(path);
  const payer: Keypair | null = a.flags.has('--wallet') ? (await loadWallet(a.flags.get('--wallet'))).keypair : null;
  const rpc = await connectRpc(a);
  await requireChannelProgramAt(rpc, programId);
  const chain = channelChainOf(rpc, programId);
  const tokenFor = tokens(rpc);
  const now = await chain.clock();
  const rows: Row[] = [];
  for (const b of books) {
    const open = b.open!;
    const row = (status: Status, more: Partial<Row> = {}): Row => ({
      channel: b.channel, seller: open.seller, status, amount: null, tx: null, expiry: Number(open.expiry), error: null, ...more,
    });
    let state: ChannelState | null;
    try {
      state = await chain.fetchChannel(new PublicKey(b.channel));
    } catch (e) {
      // Owned by another program (a journal of another --channel-program), or unreadable.
      rows.push(row(e instanceof ChannelTxError && e.code === 'bad_account' ? 'not_ours' : 'failed', { error: (e as Error).message }));
      continue;
    }
    if (state === null) { rows.push(row('closed')); continue; }
    const held = state.deposit - state.claimed;
    const base = { amount: held.toString(), expiry: Number(state.expiry) };
    if (payer !== null && !state.buyer.equals(payer.publicKey)) { rows.push(row('not_ours', { ...base, error: `its buyer is ${state.buyer.toBase58()}` })); continue; }
    if (now < state.expiry) { rows.push(row('not_expired', base)); continue; }
    if (payer === null) { rows.push(row('expired', base)); continue; }
    try {
      const tx = await chain.reclaim({ buyer: payer, channel: state });
      rows.push(row('reclaimed', { ...base, tx: tx.signature }));
    } catch (e) {
      rows.push(row('failed', { ...base, error: (e as Error).message }));
    }
  }
  const failed = rows.filter((r) => r.status === 'failed').length;
  if (a.flags.has('--json')) {
    io.out.write(`${JSON.stringify({ journal: path, programId: programId.toBase58(), now: Number(now), channels: rows })}\n`);
  } else {
    await printRows(rows, books, tokenFor, now, payer !== null, path, io);
  }
  if (failed > 0) throw new CliError(`${failed} channel(s) could not be reclaimed (see above)`);
  return 0;
}

async function printRows(rows: Row[], books: ChannelBook[], tokenFor: (mint: string) => Promise<Token>, now: bigint, sending: boolean, path: string, io: Out): Promise<void> {
  const mintOf = new Map(books.map((b) => [b.channel, b.open!.mint]));
  const back = new Map<string, bigint>();
  const w = (l: string): void => { io.out.write(`${l}\n`); };
  for (const r of rows) {
    const t = await tokenFor(mintOf.get(r.channel)!);
    const amount = r.amount === null ? '?' : formatToken(t, BigInt(r.amount));
    const who = `channel ${r.channel} (seller ${r.seller})`;
    switch (r.status) {
      case 'reclaimed': back.set(t.mint, (back.get(t.mint) ?? 0n) + BigInt(r.amount!)); w(`reclaimed ${amount} from ${who} tx ${r.tx}`); break;
      case 'not_expired': w(`${who}: not yet expired, holds ${amount}, expires ${expiryText(BigInt(r.expiry))} (in ${BigInt(r.expiry) - now} s)`); break;
      case 'expired': w(`${who}: expired at ${expiryText(BigInt(r.expiry))}, holds ${amount}: pass --wallet to reclaim it`); break;
      case 'not_ours': w(`${who}: not ours to reclaim (${r.error})`); break;
      case 'failed': io.err.write(`${who}: reclaim failed: ${r.error}\n`); break;
      case 'closed': break;
    }
  }
  const closed = rows.filter((r) => r.status === 'closed').length;
  const reclaimed = rows.filter((r) => r.status === 'reclaimed').length;
  const waiting = rows.filter((r) => r.status === 'not_expired').length;
  const backText = (await Promise.all([...back].map(async ([mint, units]) => formatToken(await tokenFor(mint), units)))).join(' + ');
  w(`${sending ? `reclaimed ${reclaimed} channel(s)${reclaimed > 0 ? `: ${backText} back` : ''}` : 'nothing sent (no --wallet)'}; `
    + `${waiting} not yet expired; ${closed} closed already (${rows.length} in ${path})`);
}
