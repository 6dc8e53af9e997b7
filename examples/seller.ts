/**
 * Sell upload bandwidth for USDC (SeedPay). Run: SEEDPAY_RPC=<url> SEEDPAY_MINT=<mint>
 *   npx tsx examples/seller.ts <file.torrent> <data dir> <wallet keypair.json>
 * (from the package: import { … } from 'seedpay' instead of the relative paths).
 */
import { Client } from '../lib/net/client.js';
import { PaidSeller } from '../lib/paid/index.js';
import { parseAmount } from '../payment/amount.js';
import { chainFromUrl } from '../payment/chain.js';
import { loadWalletKeypairFile } from '../payment/session.js';

const [torrentPath, dataDir, walletPath] = process.argv.slice(2);
const seller = await PaidSeller.open({
  chain: chainFromUrl(process.env.SEEDPAY_RPC ?? 'https://api.devnet.solana.com'),
  mint: process.env.SEEDPAY_MINT ?? '4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU', // devnet USDC
  wallet: await loadWalletKeypairFile(walletPath),   // paid here; its key signs every session
  journalPath: process.env.JOURNAL ?? 'earnings.journal', // credits fsync'd before confirming
  price: parseAmount('0.0001'),                        // USDC per MiB, as base units (bigint)
  policy: 'paid-only',                                 // peers without SeedPay get nothing
});
seller.on('credited', (peer, tx, units) => console.log(`+${units} from ${peer.peer} (${tx})`));
const client = new Client();
const port = await client.listen(Number(process.env.PORT ?? 6881), '127.0.0.1');
await seller.add(client, torrentPath, { dir: dataDir });
console.log(`selling on port ${port}`);
process.once('SIGTERM', () => void client.close().then(() => seller.close()));
