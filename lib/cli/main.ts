#!/usr/bin/env node
/**
 * `seedpay` command line. Every failure the user can cause ends with ONE line on
 * stderr ("seedpay: …") and a non-zero status (2: usage, 1: anything else); stack
 * traces only with SEEDPAY_DEBUG=1.
 */
import { CliError } from './args.js';
import { USAGE, cmdCreate } from './commands.js';
import { PAID_USAGE, cmdEarnings, cmdLedger, cmdPaidGet, cmdPaidSeed, cmdSpending } from './paid-commands.js';
import { cmdPaidDemo } from './paid-demo.js';
import { cmdCredits } from './credits.js';
import { cmdNode, NODE_USAGE } from './node.js';
import { cmdWallet } from './wallet.js';
import { CHANNELS_DEPLOY_USAGE, cmdChannelsDeploy } from './channels-deploy.js';
import { CHANNELS_USAGE, cmdChannels } from './channels.js';
import { CHANNELS_RECLAIM_USAGE, cmdChannelsReclaim } from './channels-reclaim.js';

// seed / get are paid with --wallet (free without); demo is the paid demo (--free: unpaid,
// --ratio: ratio credits); node seeds and downloads many torrents in one process.
const COMMANDS: Record<string, (argv: string[], io: { out: NodeJS.WritableStream; err: NodeJS.WriteStream }) => Promise<number>> = {
  create: cmdCreate,
  seed: cmdPaidSeed,
  get: cmdPaidGet,
  demo: cmdPaidDemo,
  wallet: cmdWallet,
  ledger: cmdLedger,
  earnings: cmdEarnings,
  spending: cmdSpending,
  node: cmdNode,
  credits: cmdCredits,
  channels: (argv, io) => {
    if (argv[0] === 'deploy') return cmdChannelsDeploy(argv.slice(1), io);
    if (argv[0] === 'reclaim') return cmdChannelsReclaim(argv.slice(1), io);
    return cmdChannels(argv, io);
  },
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    (cmd === undefined ? process.stderr : process.stdout).write(`${USAGE}\n${PAID_USAGE}\n${NODE_USAGE}\n${CHANNELS_USAGE}\n${CHANNELS_RECLAIM_USAGE}\n${CHANNELS_DEPLOY_USAGE}\n`);
    return cmd === undefined ? 2 : 0;
  }
  const run = COMMANDS[cmd];
  if (run === undefined) throw new CliError(`unknown command '${cmd}' (try: seedpay help)`, 2);
  return run(rest, { out: process.stdout, err: process.stderr });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (process.env.SEEDPAY_DEBUG === '1') console.error(e);
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`seedpay: ${msg.split('\n')[0]}\n`);
    process.exitCode = e instanceof CliError ? e.exitCode : 1;
  },
);
