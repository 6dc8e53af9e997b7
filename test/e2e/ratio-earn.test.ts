/**
 * Ratio credits, earning, over real loopback TCP: node A downloads a torrent with the
 * ratio plugin and a credit book on its journal; uploaders prove wallet identities.
 * A credits an uploader exactly the verified bytes it sent (alone, or shared with
 * another uploader: no block counted twice); a restart of A keeps the balances;
 * corrupt pieces earn nothing and strike their sender; an identity signed with another
 * wallet's key earns nothing (and the transfer goes on); a Sybil that binds an
 * identity but uploads nothing earns nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { ratioCredits, type RatioPlugin } from '../../extensions/ratio/plugin.js';
import { walletSigner, type Signer } from '../../extensions/seedpay/seller-session.js';
import { CreditBook, type CreditBalance } from '../../payment/credit-book.js';
import { generateWallet, signTranscript } from '../../payment/session.js';
import { until } from '../../testkit/paid-helpers.js';
import { assertDownloaded, makeFixture, waitEvent, type Fixture } from '../../testkit/torrent-helpers.js';

const PL = 65536;
/** Earned and strikes of a balance. */
const es = (b: CreditBalance): { earned: bigint; strikes: number } => ({ earned: b.earned, strikes: b.strikes });
const FILES: [string, number][] = [['x.bin', 3 * 1024 * 1024 + 12_345]];

interface Node { client: Client; port: number; plugin: RatioPlugin }

async function uploader(fx: Fixture, signer: Signer | null, opts: { assumeComplete?: boolean } = {}): Promise<Node> {
  const client = new Client();
  const port = await client.listen(0);
  const plugin = ratioCredits({ signer });
  await client.add(fx.torrent, { dir: fx.seedDir, extensions: [plugin], ...opts });
  return { client, port, plugin };
}

/** Node A: a downloader whose credit book lives in `journal`. */
async function downloader(journal: string): Promise<{ client: Client; book: CreditBook; plugin: RatioPlugin }> {
  const book = await CreditBook.open(journal);
  return { client: new Client(), book, plugin: ratioCredits({ sink: book }) };
}

test('A credits B exactly the verified bytes B sent, and a restart of A keeps the balance', async () => {
  const fx = await makeFixture({ files: FILES, pieceLength: PL });
  const wb = generateWallet();
  const b = await uploader(fx, walletSigner(wb));
  const journal = join(fx.root, 'a.journal');
  const a = await downloader(journal);
  try {
    const t = await a.client.add(fx.torrent, { dir: join(fx.root, 'a'), extensions: [a.plugin], peers: [`127.0.0.1:${b.port}`] });
    await assertDownloaded(t, fx, join(fx.root, 'a'));
    await a.client.close();
    await a.book.close();
    const reopened = await CreditBook.open(journal);
    try {
      assert.deepEqual(es(reopened.balanceOf(wb.address)), { earned: BigInt(fx.meta.totalLength), strikes: 0 });
      assert.deepEqual([...reopened.durable().keys()], [wb.address], 'nobody else earned anything');
    } finally {
      await reopened.close();
    }
  } finally {
    await a.client.close();
    await a.book.close();
    await b.client.close();
    await fx.cleanup();
  }
});

test('two uploaders: each earns what it sent, together exactly the torrent (no block counted twice in endgame)', async () => {
  const fx = await makeFixture({ files: FILES, pieceLength: PL });
  const w1 = generateWallet();
  const w2 = generateWallet();
  const b1 = await uploader(fx, walletSigner(w1));
  const b2 = await uploader(fx, walletSigner(w2));
  const a = await downloader(join(fx.root, 'a.journal'));
  try {
    const t = await a.client.add(fx.torrent, {
      dir: join(fx.root, 'a'), extensions: [a.plugin], peers: [`127.0.0.1:${b1.port}`, `127.0.0.1:${b2.port}`],
    });
    await assertDownloaded(t, fx, join(fx.root, 'a'));
    await a.book.flush();
    const e1 = a.book.balanceOf(w1.address).earned;
    const e2 = a.book.balanceOf(w2.address).earned;
    assert.equal(e1 + e2, BigInt(fx.meta.totalLength), `${e1} + ${e2}`);
    const st = t.stats();
    assert.ok(e1 <= BigInt(st.downloaded) && e2 <= BigInt(st.downloaded));
  } finally {
    await a.client.close();
    await a.book.close();
    await b1.client.close();
    await b2.client.close();
    await fx.cleanup();
  }
});

test('attack: corrupt pieces earn nothing and strike their sender', async () => {
  const fx = await makeFixture({ files: FILES, pieceLength: PL });
  const wb = generateWallet();
  // B trusts its files as complete, then serves other bytes than the torrent's.
  const file = join(fx.seedDir, 'content', 'x.bin');
  await writeFile(file, randomBytes((await stat(file)).size));
  const b = await uploader(fx, walletSigner(wb), { assumeComplete: true });
  const a = await downloader(join(fx.root, 'a.journal'));
  try {
    const t = await a.client.add(fx.torrent, { dir: join(fx.root, 'a'), extensions: [a.plugin], peers: [`127.0.0.1:${b.port}`] });
    await waitEvent(t, 'banned');
    assert.ok(t.stats().hashFailures >= 1);
    await a.book.flush();
    assert.deepEqual(es(a.book.balanceOf(wb.address)), { earned: 0n, strikes: 1 });
  } finally {
    await a.client.close();
    await a.book.close();
    await b.client.close();
    await fx.cleanup();
  }
});

test('attack: an identity signed with another wallet\'s key earns nothing, and the transfer is unharmed', async () => {
  const fx = await makeFixture({ files: FILES, pieceLength: PL });
  const victim = generateWallet();
  const key = generateWallet();
  const b = await uploader(fx, { wallet: victim.address, sign: (m) => signTranscript(key.seed, m) });
  const a = await downloader(join(fx.root, 'a.journal'));
  try {
    const t = await a.client.add(fx.torrent, { dir: join(fx.root, 'a'), extensions: [a.plugin], peers: [`127.0.0.1:${b.port}`] });
    await until(() => a.plugin.identities().some((p) => p.state === 'refused'), 10_000, 'the refused proof');
    await assertDownloaded(t, fx, join(fx.root, 'a'));
    await a.book.flush();
    assert.deepEqual(es(a.book.balanceOf(victim.address)), { earned: 0n, strikes: 0 });
    assert.deepEqual(es(a.book.balanceOf(key.address)), { earned: 0n, strikes: 0 });
    assert.equal(a.book.durable().size, 0);
  } finally {
    await a.client.close();
    await a.book.close();
    await b.client.close();
    await fx.cleanup();
  }
});

test('attack: a Sybil that binds an identity but uploads nothing earns nothing', async () => {
  const fx = await makeFixture({ files: FILES, pieceLength: PL });
  const sybil = generateWallet();
  const seeder = await uploader(fx, null); // an ordinary seeder without a wallet
  const s = new Client();
  const sybilPort = await s.listen(0);
  const sybilPlugin = ratioCredits({ signer: walletSigner(sybil) });
  await s.add(fx.torrent, { dir: join(fx.root, 'sybil'), extensions: [sybilPlugin] });
  const a = await downloader(join(fx.root, 'a.journal'));
  try {
    const t = await a.client.add(fx.torrent, {
      dir: join(fx.root, 'a'), extensions: [a.plugin], peers: [`127.0.0.1:${sybilPort}`, `127.0.0.1:${seeder.port}`],
    });
    await until(() => a.plugin.identities().some((p) => p.identity === sybil.address), 10_000, 'the Sybil bound');
    await assertDownloaded(t, fx, join(fx.root, 'a'));
    await a.book.flush();
    assert.deepEqual(es(a.book.balanceOf(sybil.address)), { earned: 0n, strikes: 0 });
    assert.equal(a.book.durable().size, 0, 'the seeder without a wallet earns nothing either: no identity, no credit');
    assert.ok((await readdir(join(fx.root, 'a'))).length > 0);
  } finally {
    await a.client.close();
    await a.book.close();
    await s.close();
    await seeder.client.close();
    await fx.cleanup();
  }
});
