/**
 * `seedpay node` as a user runs it: child processes over real loopback TCP, each ONE
 * process seeding some torrents and downloading others in one client.
 *  - Free: node N2 seeds T2 and downloads T1; node N1 (with a wallet identity) seeds T1
 *    and downloads T2 from N2. Both files arrive intact, N2's credit book (its journal)
 *    credits N1's identity exactly T1's bytes, SIGINT ends both cleanly.
 *  - Paid, with ratio credits: node A sells T2 (ratio 1:1) and downloads T1 in one
 *    process; node B seeds T1 to A with its wallet identity; then B buys T2 from A
 *    (a node with --max-price/--budget): its credit pays for T1's worth of T2, money
 *    for the rest, less than T2's full price; A's book shows the credit spent.
 *  - Bad input is one usage line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Keypair } from '@solana/web3.js';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { walletFromSecretKey, walletKeypairJson } from '../../payment/session.js';
import { assertOneLine, runCli, startCli, type Run, type Running } from '../../testkit/run-cli.js';
import { cliHome, funded, makeContent, sha256Of, startEnv, USDC, type Content, type Env } from '../../testkit/paid-helpers.js';

const MIB = 1024 * 1024;
const LOOPBACK = ['--host', '127.0.0.1', '--port', '0', '--no-trackers'];

/** Wait until `r` printed a line matching `pattern` on `stream`; its match. Fails if it exits or `ms` pass first. */
async function waitFor(r: Running, stream: 'stdout' | 'stderr', pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  let gone = false;
  void r.exited.then(() => { gone = true; });
  for (;;) {
    const m = pattern.exec(r[stream]());
    if (m !== null) return m;
    if (gone || Date.now() > end) {
      throw new Error(`${gone ? 'exited' : `nothing after ${ms} ms`} before ${pattern} on ${stream}:\nstdout: ${r.stdout()}\nstderr: ${r.stderr()}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The port a node says it listens on. */
async function nodePort(r: Running): Promise<number> {
  return Number((await waitFor(r, 'stderr', /node on 127\.0\.0\.1:(\d+)/))[1]);
}

/** SIGINT, then a clean exit: status 0, no stack trace. */
async function stop(r: Running): Promise<Run> {
  r.child.kill('SIGINT');
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 15_000);
  const res = await r.exited;
  clearTimeout(timer);
  assert.equal(res.signal, null, `exited by itself after SIGINT; stderr: ${res.stderr}`);
  assert.equal(res.code, 0, `exit 0 after SIGINT; stderr: ${res.stderr}`);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  return res;
}

async function torrentFile(c: Content, path: string): Promise<string> {
  await writeFile(path, (await createTorrentFromPath(c.file, { pieceLength: 256 * 1024 })).torrent);
  return path;
}

async function walletFile(k: Keypair, path: string): Promise<string> {
  await writeFile(path, walletKeypairJson(walletFromSecretKey(k.secretKey)), { mode: 0o600 });
  return path;
}

interface CreditsJson { identities: { identity: string; earned: string; spent: string; available: string }[] }

async function creditsOf(journal: string): Promise<CreditsJson['identities']> {
  const r = await runCli(['credits', '--journal', journal, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as CreditsJson).identities;
}

/** Kill whatever a failed test left running. */
function reap(...rs: (Running | null)[]): void {
  for (const r of rs) if (r !== null && r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
}

test('node: one process seeds T1 to another and downloads T2 from it; the uploader\'s identity is credited', { timeout: 45_000 }, async () => {
  const env: Env = await startEnv();
  let n1: Running | null = null;
  let n2: Running | null = null;
  try {
    const t1 = await makeContent(env, 3 * MIB + 12_345, 256 * 1024, 't1.bin');
    const t2 = await makeContent(env, 2 * MIB, 256 * 1024, 't2.bin');
    const f1 = await torrentFile(t1, join(env.root, 't1.torrent'));
    const f2 = await torrentFile(t2, join(env.root, 't2.torrent'));
    const home1 = join(env.root, 'home1');
    const home2 = join(env.root, 'home2');
    const identity = funded(env, 0n);
    const w1 = await walletFile(identity, join(env.root, 'w1.json'));
    // N2 seeds T2 (from its data dir) and waits for T1 to come to it.
    n2 = startCli(['node', '--seed', `${f2}:${t2.dir}`, '--get', `${f1}:${t2.dir}`, ...LOOPBACK], { SEEDPAY_HOME: home2 });
    const port2 = await nodePort(n2);
    await waitFor(n2, 'stderr', /t1\.bin: no --peer and no tracker: waiting for peers to connect/);
    // N1 seeds T1 and downloads T2, dialling N2 for both; it proves its wallet identity.
    n1 = startCli(['node', '--seed', `${f1}:${t1.dir}`, '--get', `${f2}:${t1.dir}`, '--peer', `127.0.0.1:${port2}`, '--wallet', w1, ...LOOPBACK], { SEEDPAY_HOME: home1 });
    await waitFor(n1, 'stderr', new RegExp(`identity ${walletFromSecretKey(identity.secretKey).address}`));
    await waitFor(n1, 'stdout', /^t2\.bin: 2\.0 MiB complete in /m);
    await waitFor(n2, 'stdout', /^t1\.bin: 3\.0 MiB complete in /m);
    await waitFor(n1, 'stderr', /all 1 download\(s\) complete; seeding on/);
    assert.equal(await sha256Of(join(t1.dir, 't2.bin')), t2.sha256, 'T2 as N1 received it');
    assert.equal(await sha256Of(join(t2.dir, 't1.bin')), t1.sha256, 'T1 as N2 received it');
    const r2 = await stop(n2);
    const r1 = await stop(n1);
    assert.match(r1.stderr, /^t1\.bin: uploaded 3\.0 MiB/m, 'N1 uploaded T1');
    assert.match(r2.stderr, /^t2\.bin: uploaded 2\.0 MiB/m, 'N2 uploaded T2');
    // N2's book is its seller journal in its SEEDPAY_HOME: N1's identity earned T1's bytes there, nobody else anything.
    assert.match(r2.stderr, /credit book: 1 identity, 3\.0 MiB \(3158073\) held/);
    assert.deepEqual((await creditsOf(join(home2, 'earnings.journal'))).map((r) => [r.identity, r.earned, r.available]), [
      [walletFromSecretKey(identity.secretKey).address, String(t1.meta.totalLength), String(t1.meta.totalLength)],
    ]);
    assert.deepEqual(await creditsOf(join(home1, 'earnings.journal')), [], 'N2 proved no identity: N1 credits nobody');
  } finally {
    reap(n1, n2);
    await env.close();
  }
});

test('node: A sells T2 with ratio 1:1 and downloads T1 in one process; B spends the credit T1 earned it, pays the rest', { timeout: 60_000 }, async () => {
  const env: Env = await startEnv();
  let a: Running | null = null;
  let b1: Running | null = null;
  let b2: Running | null = null;
  try {
    const t1 = await makeContent(env, 3 * MIB, 256 * 1024, 't1.bin');
    const t2 = await makeContent(env, 8 * MIB, 256 * 1024, 't2.bin');
    const f1 = await torrentFile(t1, join(env.root, 't1.torrent'));
    const f2 = await torrentFile(t2, join(env.root, 't2.torrent'));
    const homeA = await cliHome(env, 'homeA');
    const homeB = await cliHome(env, 'homeB');
    const wA = await walletFile(funded(env, 0n), join(env.root, 'a.json'));
    const keyB = funded(env, 1n * USDC);
    const wB = await walletFile(keyB, join(env.root, 'b.json'));
    const idB = walletFromSecretKey(keyB.secretKey).address;
    const rpc = ['--rpc', env.ledger.url];
    const aDir = join(env.root, 'a-data');
    const bDir = join(env.root, 'b-data');
    await mkdir(aDir);
    await mkdir(bDir);

    a = startCli(['node', '--seed', `${f2}:${t2.dir}`, '--get', `${f1}:${aDir}`, '--wallet', wA, '--price', '0.001', '--ratio', '1:1', ...rpc, ...LOOPBACK], { SEEDPAY_HOME: homeA });
    const portA = await nodePort(a);
    assert.match(a.stderr(), /seeding 1 \(sold at 0\.001 USDC per MiB to wallet \S+, ratio 1:1\)/);
    // B uploads T1 to A, proving its wallet identity (free seeding: no RPC needed).
    b1 = startCli(['node', '--seed', `${f1}:${t1.dir}`, '--wallet', wB, '--peer', `127.0.0.1:${portA}`, ...LOOPBACK], { SEEDPAY_HOME: homeB });
    await waitFor(a, 'stdout', /^t1\.bin: 3\.0 MiB complete in /m);
    assert.equal(await sha256Of(join(aDir, 't1.bin')), t1.sha256, 'T1 as A received it');
    // B buys T2 (its credit is told when its paid session starts: after it earned it).
    b2 = startCli([
      'node', '--get', `${f2}:${bDir}`, '--wallet', wB, '--max-price', '0.002', '--budget', '1', '--peer', `127.0.0.1:${portA}`,
      '--journal', join(homeB, 'b2.journal'), ...rpc, ...LOOPBACK,
    ], { SEEDPAY_HOME: homeB });
    const done = await waitFor(b2, 'stdout', /^t2\.bin: 8\.0 MiB complete in .*; paid ([\d.]+) USDC in all so far$/m);
    assert.equal(await sha256Of(join(bDir, 't2.bin')), t2.sha256, 'T2 as B received it');
    const paid = Math.round(Number(done[1]) * 1e6);
    assert.ok(paid < 8000, `paid ${done[1]} USDC, below T2's full price 0.008`);
    assert.ok(paid >= 5000, `paid ${done[1]} USDC, at least the 5 MiB credit did not cover`);
    const rb2 = await stop(b2);
    assert.match(rb2.stderr, /^paid [\d.]+ USDC in [1-9]\d* payment\(s\)$/m);
    await stop(b1);
    const ra = await stop(a);
    assert.match(ra.stderr, /served 5\.0 MiB paid \+ 3\.0 MiB from credit \+ 0 B free/);
    // A's book (its seller journal): B earned T1 and spent all of it on T2.
    assert.deepEqual((await creditsOf(join(homeA, 'earnings.journal'))).map((r) => [r.identity, r.earned, r.spent, r.available]), [
      [idB, String(3 * MIB), String(3 * MIB), '0'],
    ]);
  } finally {
    reap(a, b1, b2);
    await env.close();
  }
});

test('node: bad input is one usage line', { timeout: 45_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [['node'], /needs at least one --seed or --get/],
    [['node', 'x.torrent'], /takes its torrents as --seed T \/ --get T/],
    [['node', '--seed', 'x.torrent', '--price', '0.001'], /--price needs --wallet/],
    [['node', '--seed', 'x.torrent', '--ratio', '1:1'], /--ratio needs --price/],
    [['node', '--get', 'x.torrent', '--wallet', 'w.json', '--price', '0.001'], /--price sells the --seed torrents/],
    [['node', '--seed', 'x.torrent', '--wallet', 'w.json', '--max-price', '0.001', '--budget', '1'], /--max-price pays for the --get torrents/],
    [['node', '--seed', 'x.torrent', '--wallet', 'w.json', '--price', '0.001', '--ratio', '1:0'], /bad --ratio '1:0'/],
  ];
  for (const [args, pattern] of cases) assertOneLine(await runCli(args), pattern, { code: 2 });
});
