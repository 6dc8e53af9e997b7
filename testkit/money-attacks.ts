/**
 * Attacks on the money of a SeedPay buyer or seller, each run end to end on the
 * embedded ledger over loopback TCP, each reporting what its victim lost. Shared by
 * the tests (test/e2e/money-attacks.test.ts: every loss within its bound) and
 * `npm run bench:attacks` (one JSON line per attack).
 *
 * `lost_base_units` is what the victim lost beyond what it got; `bound_base_units`
 * the most the protocol allows (one payment increment against a cheating seller,
 * 0 otherwise). Amounts are base units of the mint the attack is about.
 */
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PublicKey } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import type { PaidBuyer } from '../lib/paid/buyer.js';
import { PaidSeller } from '../lib/paid/seller.js';
import type { TorrentPlugin } from '../extensions/plugin.js';
import { associatedTokenAddress } from '../payment/chain.js';
import { chargeFor, MIB } from '../payment/amount.js';
import { DEFAULT_RISK_BYTES } from '../extensions/seedpay/policy.js';
import {
  cliHome, funded, leechDir, walletOf, makeContent, openBuyer, sleep, startEnv, startSeller, until, USDC, whenComplete, type Env,
} from './paid-helpers.js';
import { countingChain, floodProofs, readyHook, sendInSession } from './proof-attack.js';
import { runCli } from './run-cli.js';
import type { AttackResult, MoneyAttack } from './attack-result.js';
import { injectedReject } from './attack-injected-reject.js';
import { lateConfirmation } from './attack-late-confirmation.js';
import { CHANNEL_ATTACKS } from './attack-channels.js';
import { requireChannelProgram } from './channel-program.js';
import { createTorrentFromPath } from '../lib/files/create-torrent.js';
import { walletFromSecretKey, walletKeypairJson } from '../payment/session.js';
import { resumeMessage, signResume } from '../payment/resume.js';
import { exited, startSellerChild } from './seller-child-control.js';

export type { AttackResult, MoneyAttack } from './attack-result.js';

async function tokenBalance(env: Env, owner: PublicKey, mint: PublicKey): Promise<bigint> {
  const a = await env.chain.tokenAccount(associatedTokenAddress(mint, owner));
  return a?.amount ?? 0n;
}

const MiB = 1024 * 1024;

/** The seller's price in these attacks: 1000 base units per MiB (0.001 USDC). */
const PRICE = 1_000n;

/**
 * wrong-mint: a seller sells in an 8-decimal token the buyer also holds (think of a
 * wrapped BTC, each base unit worth a thousand of USDC's) at a price that reads as
 * 0.001 — if the buyer's `--max-price 0.001 --budget 1` were read as base units of
 * any mint. `seedpay get` as a user runs it, without --mint.
 */
async function wrongMint(env: Env): Promise<AttackResult> {
  const mint8 = env.ledger.createMint(8);
  const buyer = funded(env, 1n * USDC);
  env.ledger.fundTokens(buyer.publicKey, 10n ** 9n, mint8);
  const content = await makeContent(env, 2 * MiB);
  const s = await startSeller(env, content, funded(env, 0n), { mint: mint8.toBase58(), price: PRICE });
  const home = await cliHome(env, 'home-wrong-mint');
  const wallet = join(env.root, 'wrong-mint-buyer.json');
  await writeFile(wallet, walletKeypairJson(walletFromSecretKey(buyer.secretKey)), { mode: 0o600 });
  const torrent = join(env.root, 'wrong-mint.torrent');
  await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: content.meta.pieceLength })).torrent);
  const before = await tokenBalance(env, buyer.publicKey, mint8);
  try {
    const r = await runCli([
      'get', torrent, '--peer', `127.0.0.1:${s.port}`, '--no-dht', '--wallet', wallet, '--max-price', '0.001', '--budget', '1',
      '--rpc', env.ledger.url, '--dir', await leechDir(env), '--journal', join(env.root, 'wrong-mint-spending.journal'),
    ], { SEEDPAY_HOME: home }, 60_000);
    const lost = before - await tokenBalance(env, buyer.publicKey, mint8);
    const said = r.stderr.trim().split('\n').filter((l) => l.startsWith('seedpay:') || l.startsWith('dropping')).join(' | ');
    return {
      attack: 'wrong-mint', victim: 'buyer', lost_base_units: Number(lost), bound_base_units: 0, unpaid_bytes: 0,
      outcome: r.code === 0 ? `downloaded; paid ${lost} base units of the 8-decimal mint` : `nothing paid, exit ${r.code}: ${said}`,
    };
  } finally {
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * proof-frontrun: a stranger watches the seller's (public) token account and proves
 * every new payment in a session of its own before the honest buyer's proof lands.
 * The honest buyer must still be credited for each payment and finish.
 */
async function proofFrontrun(env: Env): Promise<AttackResult> {
  const content = await makeContent(env, 12 * MiB);
  const s = await startSeller(env, content, funded(env, 0n), { price: PRICE });
  const honestClient = new Client({ localAddress: '127.0.0.11' });
  const strangerClient = new Client({ localAddress: '127.0.0.12' });
  const buyers: PaidBuyer[] = [];
  try {
    const honest = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: PRICE, maxPrepay: chargeFor(2n * MIB, PRICE) });
    const stranger = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: PRICE, policy: { payOnConnect: false } });
    buyers.push(honest, stranger);
    const peers = [`127.0.0.1:${s.port}`];
    await stranger.add(strangerClient, content.meta, { dir: await leechDir(env), peers });
    await until(() => readyHook(stranger) !== undefined, 20_000, 'the stranger session');
    const h = readyHook(stranger)!;
    let frontrun = 0;
    // 'paid' fires before the honest proof goes out: the stranger's is first on the wire.
    honest.on('paid', (_p, pay) => {
      if (sendInSession(h, { type: 'payment_proof', tx: pay.tx, amount: pay.amount })) frontrun++;
    });
    const finals: string[] = [];
    honest.on('rejected', (_p, tx, reason, final) => { if (final) finals.push(`${tx.slice(0, 8)}…:${reason}`); });
    const t = await honest.add(honestClient, content.meta, { dir: await leechDir(env), peers });
    const done = await whenComplete(t, 30_000).then(() => true, () => false);
    await sleep(300);
    const credited = s.seller.totals().payments.filter((p) => p.peer.startsWith('127.0.0.11:')).reduce((a, p) => a + p.credited, 0n);
    const lost = honest.spent - credited;
    return {
      attack: 'proof-frontrun', victim: 'buyer', lost_base_units: Number(lost), bound_base_units: 0, unpaid_bytes: 0,
      outcome: `${frontrun} payment(s) front-run; ${done ? 'download complete' : 'download stalled'}; paid ${honest.spent}, credited ${credited}`
        + `${finals.length > 0 ? `; final rejections ${finals.join(', ')}` : ''}`,
    };
  } finally {
    await honestClient.close();
    await strangerClient.close();
    for (const b of buyers) await b.close();
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * huge-min-prepay: a seller demands a first payment as large as the buyer's whole
 * budget and then serves nothing (it has no data to serve).
 */
async function hugeMinPrepay(env: Env): Promise<AttackResult> {
  const content = await makeContent(env, 2 * MiB);
  const budget = 1n * USDC;
  const empty = await leechDir(env);
  const s = await startSeller(env, { ...content, dir: empty }, funded(env, 0n), { price: PRICE, minPrepay: budget });
  const client = new Client();
  const buyer = await openBuyer(env, funded(env, 2n * USDC), { maxPricePerMiB: PRICE, budget });
  try {
    const refused: string[] = [];
    buyer.on('refused', (_p, reason) => refused.push(reason));
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
    await until(() => refused.length > 0 || buyer.spent > 0n, 15_000, 'the buyer to decide').catch(() => undefined);
    await sleep(500);
    const got = BigInt(t.stats().downloaded);
    const lost = buyer.spent - chargeFor(got, PRICE);
    return {
      attack: 'huge-min-prepay', victim: 'buyer', lost_base_units: Number(lost > 0n ? lost : 0n),
      bound_base_units: Number(chargeFor(DEFAULT_RISK_BYTES, PRICE)), unpaid_bytes: 0,
      outcome: refused.length > 0 ? `refused the seller (${refused.join(', ')}); paid ${buyer.spent}` : `paid ${buyer.spent} for ${got} bytes`,
    };
  } finally {
    await client.close();
    await buyer.close();
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * A seller whose data never verifies: it withholds the last block of every piece (a
 * torrent plugin gating the serving path), or serves corrupt data (its files damaged
 * on disk). The buyer may lose at most what it risks with one seller (`maxPrepay`,
 * default 8 MiB worth): without that bound it kept paying for every block it got.
 */
async function unverifiableSeller(env: Env, mode: 'withhold' | 'corrupt'): Promise<AttackResult> {
  const content = await makeContent(env, 48 * MiB, MiB);
  const meta = content.meta;
  if (mode === 'corrupt') {
    // Flip one byte in every piece: every piece fails its hash check.
    const fh = await open(content.file, 'r+');
    try {
      const b = Buffer.alloc(1);
      for (let i = 0; i < meta.pieceCount; i++) {
        await fh.read(b, 0, 1, i * meta.pieceLength + 7);
        b[0] ^= 0xff;
        await fh.write(b, 0, 1, i * meta.pieceLength + 7);
      }
    } finally {
      await fh.close();
    }
  }
  const withhold: TorrentPlugin = {
    name: 'x_withhold',
    create: () => ({ name: 'x_withhold', canSendPiece: (i, b, l) => b + l < meta.fileMap.pieceSize(i) }),
  };
  const seller = await PaidSeller.open({
    chain: env.chain, wallet: walletOf(funded(env, 0n)), journalPath: join(env.root, `cheat-${mode}.journal`),
    price: PRICE, mint: env.ledger.mint.toBase58(),
  });
  const sc = new Client();
  const port = await sc.listen(0);
  await seller.add(sc, meta, { dir: content.dir, assumeComplete: true, ...(mode === 'withhold' ? { extensions: [withhold] } : {}) });
  const client = new Client();
  const buyer = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: PRICE });
  try {
    const t = await buyer.add(client, meta, { dir: await leechDir(env), peers: [`127.0.0.1:${port}`] });
    // Long enough for the whole torrent to have been sent several times over.
    await sleep(6_000);
    const verified = BigInt(t.progress().bytesHave);
    const lost = buyer.spent - chargeFor(verified, PRICE);
    return {
      attack: mode === 'withhold' ? 'withheld-blocks' : 'corrupt-pieces', victim: 'buyer',
      lost_base_units: Number(lost > 0n ? lost : 0n), bound_base_units: Number(chargeFor(DEFAULT_RISK_BYTES, PRICE)), unpaid_bytes: 0,
      outcome: `received ${t.stats().downloaded} B, verified ${verified} B; paid ${buyer.spent} in ${buyer.payments().length} payment(s)`,
    };
  } finally {
    await client.close();
    await buyer.close();
    await sc.close();
    await seller.close();
  }
}

/**
 * fake-proof-flood: buyers on many addresses send made-up payment_proofs, so the
 * seller would burn its (metered) RPC quota looking them up while an honest buyer
 * downloads. Reports the seller's RPC calls per fake proof.
 */
async function fakeProofFlood(env: Env): Promise<AttackResult> {
  const ADDRESSES = 12;
  const PROOFS = 200;
  const content = await makeContent(env, 8 * MiB);
  const fakes = new Set<string>();
  const rpc = { calls: 0 };
  const s = await startSeller(env, content, funded(env, 0n), { price: PRICE, chain: countingChain(env.chain, fakes, rpc) });
  const clients: Client[] = [];
  const buyers: PaidBuyer[] = [];
  try {
    const peers = [`127.0.0.1:${s.port}`];
    let sent = 0;
    const hostile = await Promise.all(Array.from({ length: ADDRESSES }, async (_, i) => {
      const c = new Client({ localAddress: `127.0.1.${10 + i}` });
      clients.push(c);
      const b = await openBuyer(env, funded(env, 0n), { maxPricePerMiB: PRICE, policy: { payOnConnect: false } });
      buyers.push(b);
      await b.add(c, content.meta, { dir: await leechDir(env), peers });
      return b;
    }));
    for (const b of hostile) await until(() => readyHook(b) !== undefined, 20_000, 'a hostile session');
    for (const b of hostile) sent += floodProofs(readyHook(b)!, PROOFS, (tx) => fakes.add(tx));
    const honestClient = new Client({ localAddress: '127.0.1.99' });
    clients.push(honestClient);
    const honest = await openBuyer(env, funded(env, 1n * USDC), { maxPricePerMiB: PRICE });
    buyers.push(honest);
    const t = await honest.add(honestClient, content.meta, { dir: await leechDir(env), peers });
    const done = await whenComplete(t, 30_000).then(() => true, () => false);
    await sleep(1_500); // verifications of the flood still running
    const credited = s.seller.totals().payments.filter((p) => p.peer.startsWith('127.0.1.99:')).reduce((a, p) => a + p.credited, 0n);
    return {
      attack: 'fake-proof-flood', victim: 'seller', lost_base_units: Number(honest.spent - credited), bound_base_units: 0, unpaid_bytes: 0,
      rpc_calls_per_proof: Math.round((rpc.calls / Math.max(1, sent)) * 1000) / 1000,
      outcome: `${sent} fake proofs from ${ADDRESSES} addresses cost ${rpc.calls} RPC calls; honest buyer ${done ? 'complete' : 'NOT complete'}, paid ${honest.spent}, credited ${credited}`,
    };
  } finally {
    for (const c of clients) await c.close();
    for (const b of buyers) await b.close();
    await s.client.close();
    await s.seller.close();
  }
}

/**
 * cross-process-double-credit: a seller runs two processes behind one wallet, each
 * with its own journal. A buyer opens S1 at the first and pays there (credited), then
 * opens S2 at the second, resumes S1 inside S2 (signed by its own payer key, as
 * session resume allows) and proves the same transaction again.
 */
async function crossProcessDoubleCredit(env: Env): Promise<AttackResult> {
  const content = await makeContent(env, 8 * MiB);
  const torrent = join(env.root, 'xp.torrent');
  await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: content.meta.pieceLength })).torrent);
  const sellerKey = funded(env, 0n);
  const config = (n: number): object => ({
    rpc: env.ledger.url, mint: env.ledger.mint.toBase58(), secretKey: Array.from(sellerKey.secretKey),
    journal: join(env.root, `xp-seller-${n}.journal`), torrent, dir: content.dir, port: 0, price: String(PRICE),
  });
  const p1 = await startSellerChild(config(1));
  const p2 = await startSellerChild(config(2));
  const payerKey = funded(env, 1n * USDC);
  const c1 = new Client({ localAddress: '127.0.2.1' });
  const c2 = new Client({ localAddress: '127.0.2.2' });
  const buyers: PaidBuyer[] = [];
  try {
    // S1 at process 1: one payment, credited.
    const b1 = await openBuyer(env, payerKey, { maxPricePerMiB: PRICE, policy: { firstPaymentBytes: 2n * MIB } });
    buyers.push(b1);
    let s1: string | null = null;
    let paid: { tx: string; amount: bigint } | null = null;
    b1.on('session', (p) => { s1 ??= p.sessionHash; });
    b1.on('confirmed', (_p, tx, credited) => { paid ??= { tx, amount: credited }; });
    await b1.add(c1, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${p1.port}`] });
    await until(() => paid !== null, 20_000, 'a credited payment at process 1');
    await c1.close();
    const first = paid!;
    // S2 at process 2: resume S1 there and prove the same transaction.
    const b2 = await openBuyer(env, payerKey, { maxPricePerMiB: PRICE, policy: { payOnConnect: false } });
    buyers.push(b2);
    await b2.add(c2, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${p2.port}`] });
    await until(() => readyHook(b2) !== undefined, 20_000, 'S2 at process 2');
    const h = readyHook(b2)!;
    const s2 = h.buyer.sessionHash!;
    const sig = signResume(payerKey.secretKey.subarray(0, 32), resumeMessage(content.meta.infoHash, s1!, s2));
    h.resume(s1!, payerKey.publicKey.toBytes(), sig, [first]);
    await sleep(1_500);
    // And the plain proof in S2, whatever became of the resume.
    sendInSession(h, { type: 'payment_proof', tx: first.tx, amount: first.amount });
    await sleep(2_000);
    const credits = [p1, p2].filter((p) => p.credited.includes(first.tx)).length;
    return {
      attack: 'cross-process-double-credit', victim: 'seller', lost_base_units: Number(BigInt(Math.max(0, credits - 1)) * first.amount),
      bound_base_units: 0, unpaid_bytes: 0,
      outcome: `the payment of ${first.amount} was credited by ${credits} seller process(es)`,
    };
  } finally {
    await c1.close();
    await c2.close();
    for (const b of buyers) await b.close();
    for (const p of [p1, p2]) { p.proc.kill('SIGTERM'); await exited(p.proc); }
  }
}

export const MONEY_ATTACKS: readonly MoneyAttack[] = [
  { name: 'wrong-mint', victim: 'buyer', run: wrongMint },
  { name: 'proof-frontrun', victim: 'buyer', run: proofFrontrun },
  { name: 'huge-min-prepay', victim: 'buyer', run: hugeMinPrepay },
  { name: 'withheld-blocks', victim: 'buyer', run: (env) => unverifiableSeller(env, 'withhold') },
  { name: 'corrupt-pieces', victim: 'buyer', run: (env) => unverifiableSeller(env, 'corrupt') },
  { name: 'fake-proof-flood', victim: 'seller', run: fakeProofFlood },
  { name: 'cross-process-double-credit', victim: 'seller', run: crossProcessDoubleCredit },
  lateConfirmation,
  injectedReject,
  ...CHANNEL_ATTACKS,
];

/** Run one attack in a fresh environment (its own ledger and folders). */
export async function runAttack(a: MoneyAttack): Promise<AttackResult> {
  // The ledger loads the channel program only if its build exists when it starts.
  if (a.requires === 'channel-program' && requireChannelProgram() === null) throw new Error(`${a.name}: the channel program is not built`);
  const env = await startEnv();
  try {
    return await a.run(env);
  } finally {
    await env.close();
  }
}
