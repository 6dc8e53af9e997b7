/**
 * `node dist/payment/ledger/main.js [--port N] [--genesis-hash H]`: start the
 * local ledger, print its RPC URL, genesis hash and mint, run until SIGINT/SIGTERM.
 */
import { DEFAULT_CHANNEL_PROGRAM_ID } from '../channel/program.js';
import { LocalLedger } from './ledger.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(arg('--port') ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: main [--port N] [--genesis-hash BASE58]\n');
  process.exit(2);
}
const genesisHash = arg('--genesis-hash');
const ledger = await LocalLedger.start(genesisHash === undefined ? { port } : { port, genesisHash });
process.stdout.write(`${ledger.url}\n`);
process.stderr.write(`genesis hash ${ledger.genesisHash}\nmint ${ledger.mint.toBase58()} (6 decimals)\n`);
process.stderr.write(ledger.engine.channelProgramLoaded
  ? `channel program ${DEFAULT_CHANNEL_PROGRAM_ID.toBase58()}\n`
  : 'channel program not loaded (npm run build:program)\n');
const stop = (): void => { void ledger.stop().then(() => process.exit(0)); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
