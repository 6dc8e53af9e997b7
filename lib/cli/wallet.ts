/**
 * Wallet files for the CLI (Solana keypair JSON: an array of 64 bytes, as
 * `solana-keygen` writes) and the `seedpay wallet new|show|balance` command.
 * Every user mistake is a CliError: one line, non-zero exit.
 */
import { constants as FS } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Keypair, PublicKey } from '@solana/web3.js';
import { formatAmount } from '../../payment/amount.js';
import { checkKeypairFileMode, generateWallet, parseWalletKeypairJson, walletKeypairJson, type WalletKeypair } from '../../payment/session.js';
import { CliError, parseArgs } from './args.js';
import { connectRpc, resolveMint, RPC_FLAGS, type Out } from './paid-common.js';

/** Load a keypair file; a missing, unreadable or malformed file is one clear line. */
export async function loadWallet(path: string | undefined, flag = '--wallet'): Promise<{ wallet: WalletKeypair; keypair: Keypair }> {
  if (path === undefined) throw new CliError(`${flag} <keypair.json> is required`, 2);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `keypair file ${path} does not exist (create one: seedpay wallet new ${path})`
      : `cannot read keypair file ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    await checkKeypairFileMode(path);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  let wallet: WalletKeypair;
  try {
    wallet = parseWalletKeypairJson(text);
  } catch (e) {
    throw new CliError(`${path} is not a Solana keypair file (${(e as Error).message})`);
  }
  return { wallet, keypair: Keypair.fromSecretKey(wallet.secretKey) };
}

/** Write a new keypair file (mode 0600); refuses to overwrite. */
async function writeNewWallet(path: string): Promise<WalletKeypair> {
  const w = generateWallet();
  let fh;
  try {
    fh = await open(path, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'EEXIST' ? `${path} already exists (not overwriting a wallet)` : `cannot create ${path}: ${code ?? (e as Error).message}`);
  }
  try {
    await fh.writeFile(walletKeypairJson(w));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return w;
}

const WALLET_USAGE = `  seedpay wallet new <keypair.json>
  seedpay wallet show <keypair.json>
  seedpay wallet balance <keypair.json> [--rpc URL] [--mint M]`;

export async function cmdWallet(argv: string[], io: Out): Promise<number> {
  const [sub, ...rest] = argv;
  const a = parseArgs(rest, { values: [...RPC_FLAGS] });
  if (sub === undefined || !['new', 'show', 'balance'].includes(sub)) throw new CliError(`usage:\n${WALLET_USAGE}`.split('\n')[0] + ' wallet new|show|balance <keypair.json>', 2);
  if (a.positionals.length !== 1) throw new CliError(`wallet ${sub} needs exactly one <keypair.json>`, 2);
  const path = a.positionals[0];
  if (sub === 'new') {
    const w = await writeNewWallet(path);
    io.out.write(`${w.address}\n`);
    io.err.write(`wrote ${path} (keep it secret: it holds the private key)\n`);
    return 0;
  }
  const { wallet } = await loadWallet(path, 'wallet');
  if (sub === 'show') {
    io.out.write(`${wallet.address}\n`);
    return 0;
  }
  const rpc = await connectRpc(a);
  const mint = await resolveMint(a, rpc);
  const owner = new PublicKey(wallet.address);
  const ata = getAssociatedTokenAddressSync(new PublicKey(mint), owner, true);
  let tokens: bigint;
  let lamports: number;
  try {
    tokens = (await rpc.chain.tokenAccount(ata))?.amount ?? 0n;
    lamports = await rpc.connection.getBalance(owner, 'confirmed');
  } catch (e) {
    throw new CliError(`cannot reach RPC ${rpc.url}: ${(e as Error).message}`);
  }
  io.out.write(`${wallet.address}\n  ${formatAmount(tokens)} USDC (mint ${mint})\n  ${(lamports / 1e9).toFixed(6)} SOL (fees)\n`);
  return 0;
}
