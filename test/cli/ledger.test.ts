/**
 * `seedpay ledger` as a user runs it (a child process): it starts the local ledger
 * on 127.0.0.1:<port>, funds the wallets named by --fund, prints its URL and a ready
 * line, answers Solana JSON-RPC (web3.js Connection), records its mint for the other
 * commands, and stops cleanly (exit 0, no stack trace, port released) on SIGINT and
 * SIGTERM. Bad input — the port in use, a missing --fund keypair, a stray argument —
 * is one "seedpay: …" line and a non-zero exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAssociatedTokenAddressSync } from '@solana/spl-token';
import { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey } from '@solana/web3.js';
import { walletFromSecretKey, walletKeypairJson } from '../../payment/session.js';
import { freePort } from '../../testkit/clients.js';
import { assertOneLine, runCli, startCli, type Run, type Running } from '../../testkit/run-cli.js';

/** Wait for the ready line; fail (and kill the child) if it exits or `ms` pass first. */
async function ready(r: Running, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  let gone = false;
  void r.exited.then(() => { gone = true; });
  while (!/Ctrl-C to stop/.test(r.stderr())) {
    if (gone) throw new Error(`seedpay ledger exited before it was ready:\n${r.stderr()}`);
    if (Date.now() > end) { r.child.kill('SIGKILL'); throw new Error(`seedpay ledger not ready after ${ms} ms:\n${r.stderr()}`); }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Stop with `sig` and expect a clean exit: status 0, no stack trace. */
async function stopCleanly(r: Running, sig: NodeJS.Signals, ms = 15_000): Promise<Run> {
  r.child.kill(sig);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), ms);
  const res = await r.exited;
  clearTimeout(timer);
  assert.equal(res.signal, null, `exited by itself after ${sig} (not killed); stderr: ${res.stderr}`);
  assert.equal(res.code, 0, `exit status 0 after ${sig}; stderr: ${res.stderr}`);
  assert.doesNotMatch(res.stderr, /\n\s+at |Error:/, 'no stack trace');
  return res;
}

test('seedpay ledger: serves JSON-RPC on its port, funds --fund wallets, stops cleanly on SIGTERM and SIGINT', { timeout: 120_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-cli-ledger-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const E = { SEEDPAY_HOME: join(root, 'home') };
  const owner = Keypair.generate();
  const walletFile = join(root, 'w.json');
  await writeFile(walletFile, walletKeypairJson(walletFromSecretKey(owner.secretKey)), { mode: 0o600 });
  const other = Keypair.generate();
  const port = await freePort();

  const a = startCli(['ledger', '--port', String(port), '--fund', walletFile, '--fund', other.publicKey.toBase58(), '--amount', '5'], E);
  t.after(() => { if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL'); });
  await ready(a);
  const url = a.stdout().trim();
  assert.equal(url, `http://127.0.0.1:${port}`, 'prints its URL on stdout');
  const genesis = /genesis (\S+), USDC-like mint (\S+) \(6 decimals\)/.exec(a.stderr());
  assert.ok(genesis !== null, a.stderr());
  const mint = new PublicKey(genesis[2]);
  for (const pk of [owner.publicKey, other.publicKey]) assert.match(a.stderr(), new RegExp(`funded ${pk.toBase58()} with 5 USDC and 1 SOL`));

  // A plain web3.js client talks to it.
  const conn = new Connection(url, 'confirmed');
  const version = await conn.getVersion();
  assert.equal(typeof version['solana-core'], 'string');
  assert.equal(await conn.getGenesisHash(), genesis[1]);
  const { blockhash, lastValidBlockHeight } = await conn.getLatestBlockhash();
  assert.ok(blockhash.length >= 32 && lastValidBlockHeight > 0);
  assert.equal(await conn.getBalance(owner.publicKey), LAMPORTS_PER_SOL);
  const ata = getAssociatedTokenAddressSync(mint, owner.publicKey, true);
  const tokens = await conn.getTokenAccountBalance(ata);
  assert.equal(tokens.value.amount, '5000000');
  assert.equal(tokens.value.decimals, 6);
  const fresh = Keypair.generate().publicKey;
  const sig = await conn.requestAirdrop(fresh, 2 * LAMPORTS_PER_SOL);
  await conn.confirmTransaction({ signature: sig, blockhash, lastValidBlockHeight }, 'confirmed');
  assert.equal(await conn.getBalance(fresh), 2 * LAMPORTS_PER_SOL);

  // It recorded its mint: `wallet balance` finds it with only --rpc.
  const rec = JSON.parse(await readFile(join(E.SEEDPAY_HOME, 'ledger.json'), 'utf8')) as { url: string; genesisHash: string; mint: string };
  assert.deepEqual(rec, { url, genesisHash: genesis[1], mint: mint.toBase58() });
  const bal = await runCli(['wallet', 'balance', walletFile, '--rpc', url], E);
  assert.equal(bal.code, 0, bal.stderr);
  assert.match(bal.stdout, /^\s+5 USDC \(mint /m);

  // The port in use: a second ledger says so in one line and exits non-zero; the first is unharmed.
  const busy = await runCli(['ledger', '--port', String(port)], E);
  assertOneLine(busy, new RegExp(`cannot start the local ledger on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`), { code: 1 });
  assert.equal(await conn.getGenesisHash(), genesis[1], 'the running ledger still answers');

  await stopCleanly(a, 'SIGTERM');
  await assert.rejects(new Connection(url).getVersion(), 'nothing answers after it stopped');

  // The port was released: a new ledger takes it (a fresh chain) and stops on Ctrl-C.
  const b = startCli(['ledger', '--port', String(port)], E);
  t.after(() => { if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL'); });
  await ready(b);
  const genesisB = await new Connection(url).getGenesisHash();
  assert.notEqual(genesisB, genesis[1], 'a new ledger');
  await stopCleanly(b, 'SIGINT');
});

test('seedpay ledger: bad input is one clear line and a non-zero exit', { timeout: 60_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'seedpay-cli-ledger-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const E = { SEEDPAY_HOME: join(root, 'home') };
  assertOneLine(await runCli(['ledger', '--fund', join(root, 'nope.json'), '--port', '0'], E), /keypair file .*nope\.json does not exist/);
  assertOneLine(await runCli(['ledger', 'extra'], E), /ledger takes no arguments/, { code: 2 });
  assertOneLine(await runCli(['ledger', '--port', '70000'], E), /bad port '70000'/, { code: 2 });
  assertOneLine(await runCli(['ledger', '--amount', 'lots'], E), /bad --amount 'lots'/, { code: 2 });
});
