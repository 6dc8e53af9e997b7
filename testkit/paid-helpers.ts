/**
 * Fixtures for the end-to-end paid tests: one local ledger (real SPL Token, ATA and
 * Memo programs over JSON-RPC on 127.0.0.1), funded seller/buyer wallets, a random
 * single-file torrent, and a paid seller + paying buyer over loopback TCP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keypair } from '@solana/web3.js';
import { Client, type ClientOptions } from '../lib/net/client.js';
import { type Metainfo } from '../format/metainfo.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import { PaidBuyer, type PaidBuyerOptions } from '../lib/paid/buyer.js';
import { PaidSeller, type PaidSellerOptions } from '../lib/paid/seller.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { chainFromUrl, type Chain } from '../payment/chain.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { walletFromSecretKey, type WalletKeypair } from '../payment/session.js';

export const USDC = 1_000_000n;

export interface Env {
  ledger: LocalLedger;
  chain: Chain;
  root: string;
  close(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const ledger = await LocalLedger.start();
  const root = await mkdtemp(join(tmpdir(), 'seedpay-e2e-'));
  return {
    ledger, root, chain: chainFromUrl(ledger.url, { requestTimeoutMs: 3000 }),
    async close() {
      await ledger.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A keypair with SOL for fees and `tokens` base units of the ledger's mint. */
export function funded(env: Env, tokens: bigint): Keypair {
  const k = Keypair.generate();
  env.ledger.fundSol(k.publicKey, 1_000_000_000n);
  if (tokens > 0n) env.ledger.fundTokens(k.publicKey, tokens);
  return k;
}

export function walletOf(k: Keypair): WalletKeypair {
  return walletFromSecretKey(k.secretKey);
}

export interface Content {
  dir: string;
  file: string;
  meta: Metainfo;
  sha256: string;
}

export async function makeContent(env: Env, size: number, pieceLength = 256 * 1024, name = 'data.bin'): Promise<Content> {
  const dir = await mkdtemp(join(env.root, 'seed-'));
  const file = join(dir, name);
  const data = randomBytes(size);
  await writeFile(file, data);
  const { metainfo } = await createTorrentFromPath(file, { pieceLength });
  return { dir, file, meta: metainfo, sha256: createHash('sha256').update(data).digest('hex') };
}

export async function sha256Of(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

export interface PaidPair {
  seller: PaidSeller;
  buyer: PaidBuyer;
  seedClient: Client;
  leechClient: Client;
  seedTorrent: Torrent;
  port: number;
  leechDir: string;
  close(): Promise<void>;
}

/** A paid seller serving `content` and a buyer ready to add it (not yet added). */
export async function startSeller(env: Env, content: Content, wallet: Keypair, o: Partial<PaidSellerOptions> = {}, client: ClientOptions = {}): Promise<{ seller: PaidSeller; client: Client; torrent: Torrent; port: number }> {
  const seller = await PaidSeller.open({
    chain: env.chain, wallet: walletOf(wallet), journalPath: join(env.root, `seller-${randomBytes(4).toString('hex')}.journal`),
    price: 1_000n, mint: env.ledger.mint.toBase58(), ...o,
  });
  const c = new Client(client);
  const port = await c.listen(0);
  const torrent = await seller.add(c, content.meta, { dir: content.dir, assumeComplete: true });
  return { seller, client: c, torrent, port };
}

export async function openBuyer(env: Env, payer: Keypair, o: Partial<PaidBuyerOptions> = {}): Promise<PaidBuyer> {
  return PaidBuyer.open({
    chain: env.chain, payer, journalPath: join(env.root, `buyer-${randomBytes(4).toString('hex')}.journal`),
    maxPricePerMiB: 10_000n, budget: 10n * USDC, mint: env.ledger.mint.toBase58(), pollIntervalMs: 20, ...o,
  });
}

/**
 * A SEEDPAY_HOME as `seedpay ledger` leaves it for this environment's ledger: the CLI
 * then knows the ledger's mint as the cluster's USDC (its default, shown as USDC).
 */
export async function cliHome(env: Env, name = 'home'): Promise<string> {
  const home = join(env.root, name);
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'ledger.json'), JSON.stringify({ url: env.ledger.url, genesisHash: env.ledger.genesisHash, mint: env.ledger.mint.toBase58() }));
  return home;
}

export async function leechDir(env: Env): Promise<string> {
  const d = await mkdtemp(join(env.root, 'leech-'));
  await mkdir(d, { recursive: true });
  return d;
}

/** Resolve when the torrent is complete; reject after `ms`. */
export function whenComplete(t: Torrent, ms = 60_000): Promise<void> {
  if (t.isComplete) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not complete after ${ms} ms (${t.progress().have}/${t.progress().total})`)), ms);
    t.once('done', () => { clearTimeout(timer); resolve(); });
  });
}

/** Close a paid pair's peers in the order that frees everything: the leecher, the seller's client and seller, the buyer. */
export async function closePaid(leech: Client, s: { client: Client; seller: PaidSeller }, buyer: PaidBuyer): Promise<void> {
  await leech.close();
  await s.client.close();
  await s.seller.close();
  await buyer.close();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 20 ms until true; reject after `ms`. */
export async function until(cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
