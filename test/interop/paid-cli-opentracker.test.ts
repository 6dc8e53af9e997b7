/**
 * A paid `seedpay get` with no --peer: it finds its peers as the free get does, here
 * through the torrent's tracker (a real opentracker on loopback, started by the test).
 * A free seeder (its upload capped) and a paid seller announce there; the buyer learns
 * both from the tracker alone, takes what flows free, pays the seller, and its summary
 * names the seller (bytes, price, paid) and the free bytes. The local ledger settles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { Client } from '../../lib/net/client.js';
import { TrackerClient } from '../../lib/discovery/tracker-client.js';
import { walletKeypairJson, walletFromSecretKey } from '../../payment/session.js';
import { freePort, opentrackerUrl, requireClient, waitFor } from '../../testkit/clients.js';
import { scopeFor } from '../../testkit/ours-helpers.js';
import { runCli } from '../../testkit/run-cli.js';
import { cliHome, funded, makeContent, sha256Of, startEnv, startSeller, walletOf, USDC } from '../../testkit/paid-helpers.js';

const MiB = 1024 * 1024;

test('paid get without --peer: peers from the tracker alone; free bytes taken, the seller paid, a per-seller summary', { timeout: 120_000 }, async (t) => {
  if (!requireClient('opentracker', t)) return;
  const s = scopeFor(t, 'paid-cli-ot');
  const env = await startEnv();
  const closers: (() => Promise<void>)[] = [];
  try {
    const content = await makeContent(env, 6 * MiB);
    const trackerPort = await freePort('127.0.0.1');
    const url = opentrackerUrl('http', '127.0.0.1', trackerPort);
    // The same info dictionary with the tracker named (the info hash does not change).
    const tracked = await createTorrentFromPath(content.file, { announce: url, pieceLength: content.meta.pieceLength });
    assert.equal(tracked.metainfo.infoHashHex, content.meta.infoHashHex);
    const torrentPath = join(env.root, 'tracked.torrent');
    await writeFile(torrentPath, tracked.torrent);
    await s.startOpentracker([content.meta.infoHashHex], { port: trackerPort });

    const free = new Client({ uploadLimit: 256 * 1024, dht: false });
    closers.push(() => free.close());
    await free.listen(0, '127.0.0.1');
    await free.add(tracked.metainfo, { dir: content.dir, assumeComplete: true });
    const sellerKey = funded(env, 0n);
    const seller = await startSeller(env, { ...content, meta: tracked.metainfo }, sellerKey, { price: 1_000n, minPrepay: 100n }, { dht: false });
    closers.push(() => seller.client.close(), () => seller.seller.close());
    const tc = new TrackerClient({ now: Date.now });
    try {
      await waitFor(async () => (await tc.scrape(url, [tracked.metainfo.infoHash]))[0].complete >= 2, 20_000, 'both seeders announced');
    } finally {
      tc.close();
    }

    const w = join(env.root, 'b.json');
    await writeFile(w, walletKeypairJson(walletFromSecretKey(funded(env, 1n * USDC).secretKey)), { mode: 0o600 });
    const out = join(env.root, 'dl');
    const r = await runCli(['get', torrentPath, '--wallet', w, '--max-price', '0.01', '--budget', '0.5', '--no-dht', '--dir', out,
      '--rpc', env.ledger.url, '--mint', env.ledger.mint.toBase58(), '--journal', join(env.root, 'spend.journal')], { SEEDPAY_HOME: await cliHome(env) }, 90_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`peer sources: tracker ${url.replace(/[./]/g, '\\$&')}`));
    assert.match(r.stderr, /started ok, 2 new peer/);
    assert.equal(await sha256Of(join(out, 'data.bin')), content.sha256);
    const wallet = walletOf(sellerKey).address;
    const line = new RegExp(`seller ${wallet} \\(127\\.0\\.0\\.1:${seller.port}\\): ([\\d.]+ [KMG]?i?B) at 0\\.001 USDC/MiB, paid ([\\d.]+) USDC in (\\d+) payment`).exec(r.stdout);
    assert.ok(line !== null, r.stdout);
    assert.ok(Number(line[2]) > 0 && Number(line[3]) > 0, 'the seller was paid');
    const total = /paid ([\d.]+) USDC in \d+ payment\(s\)/.exec(r.stdout);
    assert.equal(total?.[1], line[2], 'one seller: its payments are the total');
    assert.match(r.stdout, /free peers: [1-9][\d.]* [KM]iB/, 'bytes came free too');
    assert.ok(seller.seller.totals().credited > 0n);
  } finally {
    for (const c of closers) await c();
    await env.close();
  }
});
