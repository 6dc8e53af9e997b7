/**
 * The paid `seedpay` commands as a user runs them (child processes): each bad-input
 * class — missing / malformed keypair file, unknown torrent, unreachable RPC,
 * insufficient funds, a seller's price above --max-price — is one line on stderr and
 * a non-zero exit, never a stack trace; a keypair file others can read is refused
 * with the chmod that fixes it. Plus wallet new/show, and earnings/spending
 * from journals. And `get` with several --peer: a refusing or unreachable peer is
 * dropped with one line and the download goes on; all dropped is one failure line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import bs58 from 'bs58';
import { join } from 'node:path';
import { Keypair } from '@solana/web3.js';
import { walletKeypairJson, walletFromSecretKey } from '../../payment/session.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { freePort } from '../../testkit/clients.js';
import { assertOneLine, runCli } from '../../testkit/run-cli.js';
import { cliHome, funded, makeContent, openBuyer, sha256Of, startEnv, startSeller, USDC } from '../../testkit/paid-helpers.js';

/** Progress lines `get` and `seed` print before a failure: not part of the one error line. */
const PROGRESS = /^\[[#.]+\]|^checking |^selling |^peer |^dropping peer |^no peer connected now/;

test('paid CLI: each class of bad input is one clear line and a non-zero exit', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  try {
    const home = join(env.root, 'home');
    const E = { SEEDPAY_HOME: home };
    const good = join(env.root, 'good.json');
    const rich = funded(env, 1n * USDC);
    await writeFile(good, walletKeypairJson(walletFromSecretKey(rich.secretKey)), { mode: 0o600 });
    const poorKey = funded(env, 0n);
    const poor = join(env.root, 'poor.json');
    await writeFile(poor, walletKeypairJson(walletFromSecretKey(poorKey.secretKey)), { mode: 0o600 });
    const bad = join(env.root, 'bad.json');
    await writeFile(bad, '[1,2,3]', { mode: 0o600 });
    const open_ = join(env.root, 'open.json');
    await writeFile(open_, walletKeypairJson(walletFromSecretKey(rich.secretKey)), { mode: 0o644 });
    const content = await makeContent(env, 1024 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 256 * 1024 })).torrent);
    const rpc = ['--rpc', env.ledger.url, '--mint', env.ledger.mint.toBase58()];
    const s = await startSeller(env, content, funded(env, 0n), { price: 1000n });
    try {
      // --no-dht: a get listens for the DHT otherwise (on 0.0.0.0, the public routers); all traffic stays on loopback.
      const peer = ['--peer', `127.0.0.1:${s.port}`, '--no-dht'];
      const cases: [string[], RegExp][] = [
        [['get', torrent, ...peer, '--wallet', join(env.root, 'nope.json'), '--max-price', '1', '--budget', '1', ...rpc], /keypair file .*nope\.json does not exist/],
        [['get', torrent, ...peer, '--wallet', bad, '--max-price', '1', '--budget', '1', ...rpc], /not a Solana keypair file/],
        [['seed', torrent, '--wallet', bad, '--price', '0.001', ...rpc], /not a Solana keypair file/],
        [['get', torrent, ...peer, '--wallet', open_, '--max-price', '1', '--budget', '1', ...rpc], /open\.json is readable by others \(mode 0644\); make it private: chmod 600 /],
        [['seed', torrent, '--wallet', open_, '--price', '0.001', ...rpc], /readable by others .*chmod 600/],
        [['wallet', 'show', join(env.root, 'nope.json')], /does not exist/],
        [['get', join(env.root, 'nope.torrent'), ...peer, '--wallet', good, '--max-price', '1', '--budget', '1', ...rpc], /no such torrent file/],
        [['seed', join(env.root, 'nope.torrent'), '--wallet', good, '--price', '0.001', ...rpc], /no such torrent file/],
        [['get', torrent, ...peer, '--wallet', good, '--max-price', '1', '--budget', '1', '--rpc', 'http://127.0.0.1:1'], /cannot reach RPC http:\/\/127\.0\.0\.1:1/],
        [['wallet', 'balance', good, '--rpc', 'http://127.0.0.1:1'], /cannot reach RPC/],
        [['get', torrent, ...peer, '--wallet', good, '--max-price', '0.0005', '--budget', '1', '--dir', join(env.root, 'd1'), ...rpc], /above|more than --max-price/],
        [['get', torrent, ...peer, '--wallet', poor, '--max-price', '1', '--budget', '1', '--dir', join(env.root, 'd2'), ...rpc], /insufficient funds/],
        [['get', torrent, ...peer, '--wallet', good, '--max-price', 'cheap', '--budget', '1', ...rpc], /bad --max-price/],
        [['seed', torrent, '--wallet', good, '--price', '-1', ...rpc], /bad --price/],
        [['earnings', '--journal', join(env.root, 'nope.journal')], /no journal/],
      ];
      for (const [args, pattern] of cases) {
        const r = await runCli(args, E);
        assertOneLine(r, pattern, { ignore: PROGRESS });
      }
    } finally {
      await s.client.close();
      await s.seller.close();
    }
  } finally {
    await env.close();
  }
});

test('paid CLI: wallet new/show, and earnings/spending read the journals', { timeout: 60_000 }, async () => {
  const env = await startEnv();
  try {
    const E = { SEEDPAY_HOME: join(env.root, 'home') };
    const w = join(env.root, 'w.json');
    const made = await runCli(['wallet', 'new', w], E);
    assert.equal(made.code, 0, made.stderr);
    const address = made.stdout.trim();
    assert.doesNotThrow(() => Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(w, 'utf8')) as number[])));
    const shown = await runCli(['wallet', 'show', w], E);
    assert.equal(shown.stdout.trim(), address);
    const again = await runCli(['wallet', 'new', w], E);
    assert.notEqual(again.code, 0, 'never overwrites a wallet');
    // A journal with a payment in it: spending reports it in USDC.
    const buyer = await openBuyer(env, funded(env, 1n * USDC));
    await buyer.journal.append({ kind: 'payment', signature: bs58.encode(randomBytes(64)), amount: 1500n, seller: address, infoHash: 'ab'.repeat(20), sessionHash: 'cd'.repeat(32), time: Date.now() });
    const path = buyer.journal.path;
    await buyer.close();
    const sp = await runCli(['spending', '--journal', path], E);
    assert.equal(sp.code, 0, sp.stderr);
    assert.match(sp.stdout, /spent 0\.0015 USDC in 1 payment/);
    const ea = await runCli(['earnings', '--journal', path], E);
    assert.equal(ea.code, 0, ea.stderr);
    assert.match(ea.stdout, /earned 0 USDC in 0 payment/);
  } finally {
    await env.close();
  }
});

test('paid demo: ledger, wallets, a paid transfer and its receipt; the process exits by itself', { timeout: 90_000 }, async () => {
  const r = await runCli(['demo', '--size', '6M'], {}, 80_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^receipt$/m);
  assert.match(r.stdout, /bytes\s+\d+ payload \(\d+ paid/);
  assert.match(r.stdout, /price\s+0\.001 USDC per MiB/);
  assert.match(r.stdout, /paid\s+[\d.]+ USDC in [1-9]\d* payment\(s\); seller credited/);
  assert.match(r.stdout, /tx +1 +[1-9A-HJ-NP-Za-km-z]{64,88} +[\d.]+ USDC/);
  assert.doesNotMatch(r.stdout, /MISMATCH/);
  assert.match(r.stdout, /sha256\s+[0-9a-f]{64}/);
  assert.match(r.stdout, /verified\s+yes/);
  assert.match(r.stderr, /100\.0%/, 'the progress bar reached 100%');
  // Every payment was credited: the seller's token account holds what the buyer paid.
  const paid = /paid\s+([\d.]+) USDC in/.exec(r.stdout)![1];
  const credited = /seller credited ([\d.]+) USDC, its token account holds ([\d.]+) USDC/.exec(r.stdout)!;
  assert.equal(credited[1], paid);
  assert.equal(credited[2], paid);
});

/**
 * `get` as a user runs it against an in-process paid-only seller of fresh content (the
 * seller closed after): its result, the seller's port, where it downloaded, the content.
 */
async function getFromSeller(env: Awaited<ReturnType<typeof startEnv>>, o: { size: number; pieceLength: number; price: bigint; args?: string[] }) {
  const w = join(env.root, 'b.json');
  await writeFile(w, walletKeypairJson(walletFromSecretKey(funded(env, 1n * USDC).secretKey)), { mode: 0o600 });
  const content = await makeContent(env, o.size, o.pieceLength);
  const torrent = join(env.root, 'c.torrent');
  await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: o.pieceLength })).torrent);
  const s = await startSeller(env, content, funded(env, 0n), { price: o.price, policy: 'paid-only' });
  try {
    const dir = join(env.root, 'dl');
    const r = await runCli(['get', torrent, '--peer', `127.0.0.1:${s.port}`, '--no-dht', '--wallet', w, '--max-price', '0.001', '--budget', '0.5', ...(o.args ?? []),
      '--dir', dir, '--rpc', env.ledger.url, '--mint', env.ledger.mint.toBase58(), '--journal', join(env.root, 'spend.journal')], { SEEDPAY_HOME: await cliHome(env) });
    return { r, port: s.port, dir, content };
  } finally {
    await s.client.close();
    await s.seller.close();
  }
}

test('paid CLI: get pays an in-process seller exactly what it charges and exits 0', { timeout: 90_000 }, async () => {
  const env = await startEnv();
  try {
    const { r, port, dir, content } = await getFromSeller(env, { size: 3 * 1024 * 1024 + 777, pieceLength: 16 * 1024, price: 100n });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /complete in .* paid 0\.000301 USDC in 1 payment\(s\)/, r.stdout);
    // The final progress line shows what was spent, as the progress lines did on the way.
    assert.match(r.stderr, /^\[#{30}\] 100\.0% .*, 1 peer, spent 0\.000301 USDC$|^\[#{30}\] 100\.0% .*, 0 peers, spent 0\.000301 USDC$/m, r.stderr);
    assert.match(r.stderr, new RegExp(`^peer 127\\.0\\.0\\.1:${port} connected`, 'm'));
    assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
  } finally {
    await env.close();
  }
});

test('paid CLI: a --max-prepay below one piece at --max-price is warned of, naming the dearest price that works; a seller below it is paid', { timeout: 90_000 }, async () => {
  const env = await startEnv();
  try {
    // 4 MiB pieces: at --max-price 0.001 one costs 0.004, above --max-prepay 0.0005; at the seller's 0.0001, 0.0004.
    const { r, dir, content } = await getFromSeller(env, { size: 4 * 1024 * 1024 + 1, pieceLength: 4 * 1024 * 1024, price: 100n, args: ['--max-prepay', '0.0005'] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: --max-prepay 0\.0005 USDC pays for less than one 4 MiB piece at --max-price 0\.001 USDC: a seller asking more than 0\.000125 USDC per MiB/, r.stderr);
    assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
  } finally {
    await env.close();
  }
});

test('paid CLI: get drops a seller priced above --max-price and completes from the other; all refusing is one line', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  try {
    const w = join(env.root, 'b.json');
    await writeFile(w, walletKeypairJson(walletFromSecretKey(funded(env, 1n * USDC).secretKey)), { mode: 0o600 });
    const content = await makeContent(env, 2 * 1024 * 1024 + 123, 16 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 16 * 1024 })).torrent);
    const dear = await startSeller(env, content, funded(env, 0n), { price: 2000n, policy: 'paid-only' });
    const dearer = await startSeller(env, content, funded(env, 0n), { price: 3000n });
    const fine = await startSeller(env, content, funded(env, 0n), { price: 100n, policy: 'paid-only' });
    const rpc = ['--rpc', env.ledger.url, '--mint', env.ledger.mint.toBase58()];
    const E = { SEEDPAY_HOME: await cliHome(env) };
    try {
      // One seller too dear, one fine: the dear one is named and dropped, the download completes.
      const dir = join(env.root, 'dl');
      const r = await runCli(['get', torrent, '--peer', `127.0.0.1:${dear.port}`, '--peer', `127.0.0.1:${fine.port}`, '--no-dht', '--wallet', w,
        '--max-price', '0.001', '--budget', '0.5', '--dir', dir, ...rpc, '--journal', join(env.root, 'spend.journal')], E);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`dropping peer 127\\.0\\.0\\.1:${dear.port}: asks 0\\.002 USDC per MiB, above --max-price 0\\.001 USDC`), r.stderr);
      assert.doesNotMatch(r.stderr, new RegExp(`dropping peer 127\\.0\\.0\\.1:${fine.port}`), 'the fine seller is not dropped');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.match(r.stdout, /complete in .* paid 0\.0002\d* USDC in 1 payment\(s\)/, r.stdout);
      assert.equal(await sha256Of(join(dir, 'data.bin')), content.sha256);
      assert.equal(dear.seller.totals().credited, 0n, 'the dropped seller was never paid');
      assert.equal(dear.torrent.stats().uploaded, 0);

      // Every peer refuses (two too dear, one address nobody listens on): one line naming each, non-zero exit.
      const dead = await freePort();
      const r2 = await runCli(['get', torrent, '--peer', `127.0.0.1:${dear.port}`, '--peer', `127.0.0.1:${dearer.port}`, '--peer', `127.0.0.1:${dead}`, '--no-dht',
        '--wallet', w, '--max-price', '0.001', '--budget', '0.5', '--dir', join(env.root, 'dl2'), ...rpc, '--journal', join(env.root, 'spend2.journal')], E);
      const errLines = r2.stderr.split('\n').filter((l) => l.startsWith('seedpay: '));
      assert.notEqual(r2.code, 0);
      assert.equal(errLines.length, 1, r2.stderr);
      assert.match(errLines[0], /^seedpay: no usable peer left: /);
      for (const p of [dear.port, dearer.port, dead]) assert.match(errLines[0], new RegExp(`127\\.0\\.0\\.1:${p} `), `names peer ${p}`);
      assert.match(errLines[0], new RegExp(`127\\.0\\.0\\.1:${dead} refused \\(nothing listens there\\), 3 attempts in a row`));
      assert.match(errLines[0], /above --max-price/);
      assert.doesNotMatch(r2.stderr, /\n\s+at /, 'no stack trace');
      // Anything else on stderr is a drop notice or the progress bar.
      for (const l of r2.stderr.split('\n')) if (l.trim() !== '' && !l.startsWith('seedpay: ')) assert.match(l, /^dropping peer |^peer |^no peer connected now; |^\[[#.]+\]/, l);
    } finally {
      for (const s of [dear, dearer, fine]) { await s.client.close(); await s.seller.close(); }
    }
  } finally {
    await env.close();
  }
});
