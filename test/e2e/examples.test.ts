/**
 * The README's embedding examples (examples/seller.ts, buyer.ts, extension.ts) type-check
 * under the project's compiler options and really work: the seller and the buyer run
 * as processes (tsx) against the local ledger, the buyer pays and gets the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { createTorrentFromPath } from '../../lib/files/create-torrent.js';
import { walletFromSecretKey, walletKeypairJson } from '../../payment/session.js';
import { funded, makeContent, sha256Of, startEnv, USDC } from '../../testkit/paid-helpers.js';

function repoRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'examples'))) return d;
    if (dirname(d) === d) throw new Error('repository root not found');
  }
}

const ROOT = repoRoot();
const EXAMPLES = ['seller.ts', 'buyer.ts', 'extension.ts'].map((f) => join(ROOT, 'examples', f));

test('examples type-check with the project compiler options', () => {
  const cfg = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, ROOT);
  const program = ts.createProgram(EXAMPLES, { ...parsed.options, noEmit: true });
  const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file !== undefined && d.file.fileName.includes('/examples/'));
  assert.deepEqual(diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')), []);
});

test('examples run: the buyer pays the seller and gets the file', { timeout: 120_000 }, async () => {
  const env = await startEnv();
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    const sellerWallet = join(env.root, 'seller.json');
    const buyerWallet = join(env.root, 'buyer.json');
    await writeFile(sellerWallet, walletKeypairJson(walletFromSecretKey(funded(env, 0n).secretKey)), { mode: 0o600 });
    await writeFile(buyerWallet, walletKeypairJson(walletFromSecretKey(funded(env, 1n * USDC).secretKey)), { mode: 0o600 });
    const content = await makeContent(env, 3 * 1024 * 1024);
    const torrent = join(env.root, 'c.torrent');
    await writeFile(torrent, (await createTorrentFromPath(content.file, { pieceLength: 256 * 1024 })).torrent);
    const common = { ...process.env, SEEDPAY_RPC: env.ledger.url, SEEDPAY_MINT: env.ledger.mint.toBase58() };
    const seller = spawn(process.execPath, ['--import', 'tsx', EXAMPLES[0], torrent, content.dir, sellerWallet], {
      cwd: ROOT, env: { ...common, PORT: '0', JOURNAL: join(env.root, 'earnings.journal') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(seller);
    const port = await new Promise<number>((resolve, reject) => {
      let err = '';
      seller.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      seller.on('exit', (c) => reject(new Error(`seller example exited ${c}: ${err}`)));
      createInterface({ input: seller.stdout! }).on('line', (l) => { const m = /selling on port (\d+)/.exec(l); if (m) resolve(Number(m[1])); });
    });
    const dl = join(env.root, 'dl');
    const buyer = spawn(process.execPath, ['--import', 'tsx', EXAMPLES[1], torrent, `127.0.0.1:${port}`, buyerWallet], {
      cwd: ROOT, env: { ...common, DIR: dl, JOURNAL: join(env.root, 'spending.journal') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(buyer);
    let out = '';
    let err = '';
    buyer.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    buyer.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((r) => buyer.on('exit', (c) => r(c)));
    assert.equal(code, 0, err);
    assert.match(out, /paid \d+ to /);
    assert.match(out, /done: paid [1-9]\d* base units/);
    assert.equal(await sha256Of(join(dl, 'data.bin')), content.sha256);
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await env.close();
  }
});
