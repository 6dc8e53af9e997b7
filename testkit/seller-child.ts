/**
 * A paid seller in its own process (the crash and restart tests, the cross-process attack):
 * `node seller-child.js '<json config>'` prints `READY <port>` once it listens and
 * serves until killed. No test in this file: it is only spawned.
 */
import { Client } from '../lib/net/client.js';
import { PaidSeller } from '../lib/paid/seller.js';
import { chainFromUrl } from '../payment/chain.js';
import { walletFromSecretKey } from '../payment/session.js';

interface ChildConfig {
  rpc: string; mint: string; secretKey: number[]; journal: string; torrent: string; dir: string; port: number; price: string;
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) return; // loaded by the test runner as a file: nothing to do
  const c = JSON.parse(raw) as ChildConfig;
  const seller = await PaidSeller.open({
    chain: chainFromUrl(c.rpc), wallet: walletFromSecretKey(Uint8Array.from(c.secretKey)), journalPath: c.journal,
    price: BigInt(c.price), mint: c.mint,
  });
  const client = new Client();
  const port = await client.listen(c.port, '127.0.0.1');
  await seller.add(client, c.torrent, { dir: c.dir, assumeComplete: true });
  seller.on('credited', (_p, tx) => process.stdout.write(`CREDITED ${tx}\n`));
  process.stdout.write(`READY ${port}\n`);
  const stop = (): void => { void client.close().then(() => seller.close()).then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => { process.stderr.write(`seller-child: ${(e as Error).message}\n`); process.exit(1); });
