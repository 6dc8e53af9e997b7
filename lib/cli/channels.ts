/**
 * `seedpay channels [--journal F] [--json]`: the payment channels a journal knows, read
 * without opening it for writing (safe while a buyer or seller runs). A buyer's journal
 * (the default) holds each channel it opened: seller, deposit, the voucher total it
 * signed, expiry; a seller's (`--journal` of a `seed`) each channel it was paid on: the
 * latest voucher accepted and what was claimed. Amounts in USDC and exact base units.
 */
import { readJournal, type ChannelBook } from '../../payment/journal.js';
import { CliError, parseArgs } from './args.js';
import { defaultJournal, usdc, type Out } from './paid-common.js';

export const CHANNELS_USAGE = '  seedpay channels [--journal F] [--json]   (payment channels: deposit, vouchers, claimed, expiry; default: the buyer journal)';

interface ChannelRow {
  channel: string;
  role: 'buyer' | 'seller';
  seller: string | null;
  buyer: string | null;
  deposit: string | null;
  vouchers: string;
  claimed: string | null;
  closed: boolean;
  expiry: number | null;
}

function rowOf(b: ChannelBook): ChannelRow {
  const buyerSide = b.open !== undefined;
  return {
    channel: b.channel,
    role: buyerSide ? 'buyer' : 'seller',
    seller: b.open?.seller ?? null,
    buyer: b.voucher?.buyer ?? null,
    deposit: b.open?.deposit.toString() ?? null,
    vouchers: (buyerSide ? b.sent ?? 0n : b.voucher?.amount ?? 0n).toString(),
    claimed: b.claimed?.amount.toString() ?? null,
    closed: b.claimed?.closed ?? false,
    expiry: b.open === undefined ? null : Number(b.open.expiry),
  };
}

function line(r: ChannelRow): string {
  const u = (x: string | null): string => (x === null ? '?' : `${usdc(BigInt(x))} (${x})`);
  if (r.role === 'buyer') {
    const exp = r.expiry === null ? '?' : new Date(r.expiry * 1000).toISOString();
    return `channel ${r.channel} to seller ${r.seller}: deposit ${u(r.deposit)}, vouchers ${u(r.vouchers)}, expires ${exp}`;
  }
  return `channel ${r.channel} from buyer ${r.buyer ?? '?'}: vouchers ${u(r.vouchers)}, claimed ${r.claimed === null ? 'nothing yet' : u(r.claimed)}${r.closed ? ', closed' : ''}`;
}

export async function cmdChannels(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--journal'], booleans: ['--json'] });
  if (a.positionals.length !== 0) throw new CliError(`unknown channels subcommand '${a.positionals[0]}' (channels [--journal F] [--json], or: channels reclaim …, channels deploy …)`, 2);
  const path = a.flags.get('--journal') ?? defaultJournal('buyer');
  let channels: ChannelBook[];
  try {
    channels = (await readJournal(path)).channels;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no journal at ${path}` : `cannot read journal ${path}: ${(e as Error).message}`);
  }
  const rows = channels.map(rowOf);
  if (a.flags.has('--json')) {
    io.out.write(`${JSON.stringify({ journal: path, channels: rows })}\n`);
    return 0;
  }
  io.out.write(`${rows.length} channel(s) in ${path}\n`);
  for (const r of rows) io.out.write(`  ${line(r)}\n`);
  return 0;
}
