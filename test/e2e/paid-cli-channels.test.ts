/**
 * Payment channels from the command line (child processes, the real escrow program on
 * the local ledger's RPC): `seed --channels` + `get` pay by vouchers on one channel and
 * the seller's claim at SIGTERM lands; `get --prepaid` pays prepaid; `channels reclaim`
 * takes back an expired channel (and not one before its expiry); bad use is one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Keypair, PublicKey } from '@solana/web3.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { BuyerChannels } from '../../lib/paid/buyer-channels.js';
import { associatedTokenAddress } from '../../payment/chain.js';
import { channelChainFromUrl } from '../../payment/channel/channel-chain.js';
import { Journal, readJournal } from '../../payment/journal.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { walletFromSecretKey, walletKeypairJson } from '../../payment/session.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import { assertOneLine, runCli, startCli } from '../../testkit/run-cli.js';
import { cliHome, funded, makeContent, sha256Of, startEnv, until, USDC, type Env } from '../../testkit/paid-helpers.js';

async function balance(env: Env, owner: PublicKey): Promise<bigint> {
  return (await env.chain.tokenAccount(associatedTokenAddress(env.ledger.mint, owner)))?.amount ?? 0n;
}

async function walletFile(env: Env, name: string, k: Keypair): Promise<string> {
  const f = join(env.root, name);
  await writeFile(f, walletKeypairJson(walletFromSecretKey(k.secretKey)), { mode: 0o600 });
  return f;
}

interface ChannelsJson { channels: { channel: string; role: string; deposit: string | null; vouchers: string }[] }

test('CLI channels: seed --channels + get pay by vouchers on one channel; get --prepaid pays prepaid; the claim at SIGTERM lands', { timeout: 150_000 }, async (t) => {
  if (requireChannelProgram(t) === null) return;
  const env = await startEnv();
  try {
    const E = { SEEDPAY_HOME: await cliHome(env) };
    const rpc = ['--rpc', env.ledger.url];
    const sellerKey = funded(env, 0n);
    const buyerKey = funded(env, 2n * USDC);
    const prepaidKey = funded(env, 1n * USDC);
    const content = await makeContent(env, 3 * 1024 * 1024 + 777, 64 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 64 * 1024 })).torrent);
    const seed = startCli(['seed', torrent, '--wallet', await walletFile(env, 's.json', sellerKey), '--price', '0.001', '--channels', '--paid-only',
      '--dir', content.dir, '--port', '0', '--host', '127.0.0.1', '--no-dht', '--journal', join(env.root, 'earn.journal'), ...rpc], E);
    let sellerDone = false;
    try {
      await until(() => /^selling .* on 127\.0\.0\.1:\d+ /m.test(seed.stderr()) || seed.child.exitCode !== null, 30_000, 'the seller listening');
      const port = /^selling .* on 127\.0\.0\.1:(\d+) /m.exec(seed.stderr())?.[1];
      assert.ok(port !== undefined, seed.stderr());
      assert.match(seed.stderr(), /^payment channels offered on program 9r4hJAwpoHR2nSVQ9ZPWsoLcZHvZSg5r8Q2tuACGywcK /m);

      // (a) A channel buyer: one channel, vouchers, nothing prepaid.
      const journal = join(env.root, 'spend.journal');
      const dir = join(env.root, 'dl');
      const r = await runCli(['get', torrent, '--peer', `127.0.0.1:${port}`, '--no-dht', '--wallet', await walletFile(env, 'b.json', buyerKey),
        '--max-price', '0.002', '--budget', '1', '--channel-deposit', '0.5', '--dir', dir, '--journal', journal, ...rpc], E, 90_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256, 'file verified');
      assert.match(r.stdout, /complete in .*; paid 0\.00\d+ USDC in 0 payment\(s\) and \d+ voucher\(s\)/, r.stdout);
      assert.match(r.stdout, /^ {2}channel \w+ with seller \w+: deposit 0\.5 USDC, vouchers 0\.00\d+ USDC in total/m, r.stdout);
      assert.match(r.stdout, /comes back when the seller closes the channel, or after .* with: seedpay channels reclaim/);
      assert.match(r.stderr, /paying 127\.0\.0\.1:\d+ by vouchers on channel \w+ \(deposit 0\.5 USDC\)/);
      const listed = await runCli(['channels', '--journal', journal, '--json'], E);
      assert.equal(listed.code, 0, listed.stderr);
      const rows = (JSON.parse(listed.stdout) as ChannelsJson).channels;
      assert.equal(rows.length, 1, 'one channel in the buyer journal');
      assert.equal(rows[0].role, 'buyer');
      assert.equal(rows[0].deposit, '500000');
      const vouchered = BigInt(rows[0].vouchers);
      assert.ok(vouchered > 0n, 'vouchers were signed');
      const { summary } = await readJournal(journal);
      assert.equal(summary.totals.payments, 0, 'nothing paid prepaid');
      assert.equal(await balance(env, buyerKey.publicKey), 2n * USDC - 500_000n, 'the deposit left the buyer in one open');

      // (b) --prepaid against the same channel seller: a prepaid payment, no channel.
      const pj = join(env.root, 'prepaid.journal');
      const r2 = await runCli(['get', torrent, '--peer', `127.0.0.1:${port}`, '--no-dht', '--wallet', await walletFile(env, 'p.json', prepaidKey),
        '--max-price', '0.002', '--budget', '1', '--prepaid', '--dir', join(env.root, 'dl2'), '--journal', pj, ...rpc], E, 90_000);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stdout, /paid (0\.00\d+) USDC in [1-9]\d* payment\(s\)\n/, r2.stdout);
      assert.doesNotMatch(r2.stdout, /voucher|channel/);
      const pjr = await readJournal(pj);
      assert.equal(pjr.channels.length, 0, 'no channel opened');
      const prepaid = pjr.summary.totals.spent;
      assert.ok(prepaid > 0n);

      // The seller stops: its claim (closing the channel, the buyer gone) goes out and is printed.
      seed.child.kill('SIGTERM');
      const s = await seed.exited;
      sellerDone = true;
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stderr, new RegExp(`^claimed 0\\.00\\d+ USDC on channel ${rows[0].channel} \\(voucher total .*channel closed\\) tx \\w+$`, 'm'), s.stderr);
      assert.match(s.stderr, /^vouchers 0\.00\d+ USDC on 1 channel\(s\); claimed 0\.00\d+ USDC in 1 claim\(s\)$/m);
      assert.equal(await channelChainFromUrl(env.ledger.url).fetchChannel(new PublicKey(rows[0].channel)), null, 'the channel is closed on chain');
      assert.equal(await balance(env, sellerKey.publicKey), vouchered + prepaid, 'the seller holds the voucher total (and the prepaid payment)');
      assert.equal(await balance(env, buyerKey.publicKey), 2n * USDC - vouchered, 'the unvouchered rest went back to the buyer');
    } finally {
      if (!sellerDone) { seed.child.kill('SIGKILL'); await seed.exited; }
    }
  } finally {
    await env.close();
  }
});

test('CLI channels reclaim: nothing before expiry; after it the deposit comes back and the output names the channel', { timeout: 90_000 }, async (t) => {
  if (requireChannelProgram(t) === null) return;
  const env = await startEnv();
  try {
    const E = { SEEDPAY_HOME: await cliHome(env) };
    const rpc = ['--rpc', env.ledger.url];
    const chain = channelChainFromUrl(env.ledger.url, { pollIntervalMs: 20 });
    const buyerKey = funded(env, 1n * USDC);
    const seller = Keypair.generate();
    const journalPath = join(env.root, 'spend.journal');
    // A channel opened as `get` opens them (journaled first), expiring in 60 s of ledger time.
    const now = Number(await chain.clock());
    env.ledger.setClock(now);
    const journal = await Journal.open(journalPath);
    const u = await new BuyerChannels(journal, { chain, payer: buyerKey, deposit: 300_000n, expirySeconds: 60 }).channelFor(seller.publicKey.toBase58(), env.ledger.mint.toBase58());
    await journal.close();
    const channel = u.address.toBase58();
    assert.equal(await balance(env, buyerKey.publicKey), 700_000n);
    const wallet = await walletFile(env, 'b.json', buyerKey);

    const before = await runCli(['channels', 'reclaim', '--journal', journalPath, '--wallet', wallet, ...rpc], E);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, new RegExp(`^channel ${channel} \\(seller \\w+\\): not yet expired, holds 0\\.3 USDC, expires \\S+ \\(in 60 s\\)$`, 'm'), before.stdout);
    assert.match(before.stdout, /^reclaimed 0 channel\(s\); 1 not yet expired; 0 closed already/m);
    assert.notEqual(await chain.fetchChannel(u.address), null, 'still open');
    assert.equal(await balance(env, buyerKey.publicKey), 700_000n, 'nothing came back');

    env.ledger.setClock(now + 61);
    // A get with channels on says expired channels still hold money (and reclaims nothing by itself).
    const content = await makeContent(env, 64 * 1024, 16 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 16 * 1024 })).torrent);
    const get = await runCli(['get', torrent, '--peer', '127.0.0.1:1', '--no-dht', '--wallet', wallet, '--max-price', '0.001', '--budget', '0.1',
      '--dir', join(env.root, 'dl'), '--journal', journalPath, ...rpc], E);
    assert.notEqual(get.code, 0, 'nobody to download from');
    assert.match(get.stderr, /^note: 1 expired channel\(s\) of yours still hold 0\.3 USDC: take it back with seedpay channels reclaim$/m, get.stderr);
    // Without --wallet: listed, nothing sent.
    const dry = await runCli(['channels', 'reclaim', '--journal', journalPath, '--json', ...rpc], E);
    assert.equal(dry.code, 0, dry.stderr);
    const dryRows = (JSON.parse(dry.stdout) as { channels: { channel: string; status: string; amount: string }[] }).channels;
    assert.deepEqual(dryRows.map((r) => [r.channel, r.status, r.amount]), [[channel, 'expired', '300000']]);
    assert.notEqual(await chain.fetchChannel(u.address), null);

    const after = await runCli(['channels', 'reclaim', '--journal', journalPath, '--wallet', wallet, ...rpc], E);
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, new RegExp(`^reclaimed 0\\.3 USDC from channel ${channel} \\(seller ${seller.publicKey.toBase58()}\\) tx \\w+$`, 'm'), after.stdout);
    assert.match(after.stdout, /^reclaimed 1 channel\(s\): 0\.3 USDC back; 0 not yet expired; 0 closed already/m);
    assert.equal(await chain.fetchChannel(u.address), null, 'the channel is gone');
    assert.equal(await balance(env, buyerKey.publicKey), 1n * USDC, 'the whole deposit came back');

    // Again: it is closed, nothing to do.
    const again = await runCli(['channels', 'reclaim', '--journal', journalPath, '--wallet', wallet, ...rpc], E);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^reclaimed 0 channel\(s\); 0 not yet expired; 1 closed already/m);
  } finally {
    await env.close();
  }
});

test('CLI channels: bad use is one line', { timeout: 90_000 }, async (t) => {
  if (requireChannelProgram(t) === null) return;
  const env = await startEnv();
  try {
    const E = { SEEDPAY_HOME: await cliHome(env) };
    const rpc = ['--rpc', env.ledger.url];
    const wallet = await walletFile(env, 'w.json', funded(env, 1n * USDC));
    const content = await makeContent(env, 64 * 1024, 16 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 16 * 1024 })).torrent);
    const absent = Keypair.generate().publicKey.toBase58();
    const seed = ['seed', torrent, '--wallet', wallet, '--price', '0.001', '--dir', content.dir, '--port', '0', '--host', '127.0.0.1', '--no-dht', '--journal', join(env.root, 'e.journal'), ...rpc];
    const get = ['get', torrent, '--peer', '127.0.0.1:1', '--no-dht', '--wallet', wallet, '--max-price', '0.001', '--journal', join(env.root, 's.journal'), ...rpc];
    const cases: [string[], RegExp, number?][] = [
      [[...seed, '--channels', '--channel-program', absent], new RegExp(`the channel program ${absent} is not deployed at RPC http://127\\.0\\.0\\.1:\\d+ `), 1],
      [[...seed, '--claim-threshold', '1'], /--claim-threshold needs --channels/, 2],
      [[...seed, '--channels', '--channel-program', 'nope!'], /bad --channel-program 'nope!'/, 2],
      [[...get, '--budget', '0.1', '--channel-deposit', '0.2'], /--channel-deposit 0\.2 USDC is above --budget 0\.1 USDC/, 2],
      [[...get, '--budget', '0.1', '--prepaid', '--channel-deposit', '0.05'], /--prepaid uses no channel/, 2],
      [['channels', 'reclaim', 'all'], /channels reclaim takes no arguments/, 2],
      [['channels', 'reclaim', '--journal', join(env.root, 'nope.journal'), ...rpc], /no journal at /, 1],
      [['channels', 'frobnicate'], /unknown channels subcommand/, 2],
    ];
    for (const [args, pattern, code] of cases) assertOneLine(await runCli(args, E), pattern, { code });
  } finally {
    await env.close();
  }
});

test('CLI channels: seed --channels on a ledger without the program is one line before listening', { timeout: 60_000 }, async () => {
  const ledger = await LocalLedger.start({ channelProgram: false });
  const env = await startEnv();
  try {
    const E = { SEEDPAY_HOME: await cliHome(env) };
    const k = Keypair.generate();
    ledger.fundSol(k.publicKey, 1_000_000_000n);
    const wallet = await walletFile(env, 'w.json', k);
    const content = await makeContent(env, 64 * 1024, 16 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 16 * 1024 })).torrent);
    const r = await runCli(['seed', torrent, '--wallet', wallet, '--price', '0.001', '--channels', '--dir', content.dir, '--port', '0', '--host', '127.0.0.1', '--no-dht',
      '--journal', join(env.root, 'e.journal'), '--rpc', ledger.url, '--mint', ledger.mint.toBase58()], E);
    assertOneLine(r, /the channel program 9r4hJAwpoHR2nSVQ9ZPWsoLcZHvZSg5r8Q2tuACGywcK is not deployed at RPC /, { code: 1 });
    assert.doesNotMatch(r.stderr, /selling/, 'never listened');
  } finally {
    await env.close();
    await ledger.stop();
  }
});
