/**
 * `seedpay channels deploy --rpc URL --payer KEYPAIR [--program-keypair F] [--program SO]`:
 * deploy the channel escrow through the upgradeable loader (payment/channel/deploy.ts).
 * The payer pays and becomes the upgrade authority. Without --program-keypair the
 * checkout's committed keypair is used — its secret is public, so on a public cluster
 * pass your own (whoever deploys first owns that address).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Keypair } from '@solana/web3.js';
import { deployProgram, DeployError } from '../../payment/channel/deploy.js';
import { CHANNEL_PROGRAM_KEYPAIR, checkoutRoot, defaultChannelProgramPath } from '../../payment/channel/program-binary.js';
import { DEFAULT_CHANNEL_PROGRAM_ID } from '../../payment/channel/program.js';
import { ChannelTxError } from '../../payment/channel/send-tx.js';
import { parseWalletKeypairJson } from '../../payment/session.js';
import { CliError, parseArgs } from './args.js';
import { connectRpc, type Out } from './paid-common.js';
import { loadWallet } from './wallet.js';

export const CHANNELS_DEPLOY_USAGE = '  seedpay channels deploy --rpc <url> --payer <keypair.json> [--program-keypair <keypair.json>] [--program <seedpay_channel.so>]';

async function readKeypair(file: string, flag: string): Promise<Keypair> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return Keypair.fromSecretKey(parseWalletKeypairJson(text).secretKey);
  } catch (e) {
    throw new CliError(`${file} is not a Solana keypair file (${(e as Error).message})`);
  }
}

export async function cmdChannelsDeploy(argv: string[], io: Out): Promise<number> {
  const a = parseArgs(argv, { values: ['--rpc', '--payer', '--program-keypair', '--program'] });
  if (a.positionals.length !== 0) throw new CliError(`channels deploy takes no arguments (got '${a.positionals[0]}')`, 2);
  if (!a.flags.has('--rpc')) throw new CliError('--rpc <url> is required (the cluster to deploy to)', 2);
  const { keypair: payer } = await loadWallet(a.flags.get('--payer'), '--payer');
  const root = checkoutRoot();
  const keyFile = a.flags.get('--program-keypair') ?? (root === null ? undefined : path.join(root, CHANNEL_PROGRAM_KEYPAIR));
  if (keyFile === undefined) throw new CliError('--program-keypair <keypair.json> is required outside a checkout', 2);
  const programKeypair = await readKeypair(keyFile, '--program-keypair');
  const soFile = a.flags.get('--program') ?? defaultChannelProgramPath();
  if (soFile === null) throw new CliError('the channel program is not built: npm run build:program (or pass --program <file.so>)');
  let so: Uint8Array;
  try {
    so = new Uint8Array(await readFile(soFile));
  } catch (e) {
    throw new CliError(`cannot read --program ${soFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const rpc = await connectRpc(a);
  if (programKeypair.publicKey.equals(DEFAULT_CHANNEL_PROGRAM_ID)) {
    io.err.write('note: deploying at the default program id; its keypair is public (fine for a local ledger, not for a public cluster)\n');
  }
  try {
    const r = await deployProgram(rpc.connection, payer, programKeypair, so, { onProgress: (l) => io.err.write(`${l}\n`) });
    io.out.write(`${r.programId.toBase58()}\n`);
    io.err.write(`deployed ${r.bytes} bytes in ${r.transactions} transactions; programdata ${r.programData.toBase58()}; upgrade authority ${payer.publicKey.toBase58()}\n`);
    return 0;
  } catch (e) {
    if (e instanceof DeployError || e instanceof ChannelTxError) throw new CliError(`deploy failed: ${e.message}`);
    throw e;
  }
}
