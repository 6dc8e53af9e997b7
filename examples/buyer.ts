/**
 * Download a torrent, paying its SeedPay sellers in USDC within a budget. Run:
 *   SEEDPAY_RPC=<url> SEEDPAY_MINT=<mint> npx tsx examples/buyer.ts <file.torrent> <host:port> <wallet keypair.json>
 * (from the package: import { … } from 'seedpay' instead of the relative paths).
 */
import { Keypair } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import { PaidBuyer } from '../lib/paid/index.js';
import { parseAmount } from '../payment/amount.js';
import { chainFromUrl } from '../payment/chain.js';
import { loadWalletKeypairFile } from '../payment/session.js';

const [torrentPath, peer, walletPath] = process.argv.slice(2);
const buyer = await PaidBuyer.open({
  chain: chainFromUrl(process.env.SEEDPAY_RPC ?? 'https://api.devnet.solana.com'),
  payer: Keypair.fromSecretKey((await loadWalletKeypairFile(walletPath)).secretKey),
  mint: process.env.SEEDPAY_MINT ?? '4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU', // devnet USDC: no other is paid
  journalPath: process.env.JOURNAL ?? 'spending.journal', // every payment fsync'd before its proof
  maxPricePerMiB: parseAmount('0.001'),                   // refuse dearer sellers
  budget: parseAmount('1'),                               // at most 1 USDC for this torrent
});
buyer.on('paid', (_seller, p) => console.log(`paid ${p.amount} to ${p.seller} (${p.tx})`));
const client = new Client();
const torrent = await buyer.add(client, torrentPath, { dir: process.env.DIR ?? 'downloads', peers: [peer] });
await new Promise<void>((done) => { if (torrent.isComplete) done(); else torrent.once('done', done); });
console.log(`done: paid ${buyer.spent} base units in ${buyer.payments().length} payment(s)`);
await client.close();
await buyer.close();
