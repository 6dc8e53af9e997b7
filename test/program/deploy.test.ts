/**
 * Deploying the channel program through the upgradeable loader (buffer, writes,
 * DeployWithMaxDataLen) to the local ledger over RPC — the path a public cluster takes —
 * and then using the deployed program: open, claim and close at the new program id.
 * Also the CLI (`seedpay channels deploy`), run as a user runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Connection, Keypair, LAMPORTS_PER_SOL } from '@solana/web3.js';
import { associatedTokenAddress } from '../../payment/chain.js';
import { channelChainFromUrl } from '../../payment/channel/channel-chain.js';
import { BPF_UPGRADEABLE_LOADER, deployProgram, DeployError } from '../../payment/channel/deploy.js';
import { signVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import { LocalLedger } from '../../payment/ledger/ledger.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import { assertOneLine, runCli } from '../../testkit/run-cli.js';

test('deploy via the upgradeable loader to the local ledger; the deployed program then works', async (t) => {
  const so = requireChannelProgram(t);
  if (so === null) return;
  const ledger = await LocalLedger.start({ channelProgram: false });
  try {
    const conn = new Connection(ledger.url, 'confirmed');
    const payer = Keypair.generate();
    ledger.fundSol(payer.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
    const program = Keypair.generate();
    const bytes = new Uint8Array(readFileSync(so));
    const lines: string[] = [];
    const r = await deployProgram(conn, payer, program, bytes, { pollIntervalMs: 10, onProgress: (l) => lines.push(l) });
    assert.ok(r.programId.equals(program.publicKey));
    assert.equal(r.transactions, 2 + Math.ceil(bytes.length / 900));
    const info = await conn.getAccountInfo(program.publicKey);
    assert.ok(info?.executable);
    assert.ok(info.owner.equals(BPF_UPGRADEABLE_LOADER));
    assert.ok(lines.some((l) => l.startsWith('deployed ')));

    // Use it: a channel at the deployed id, opened, claimed and closed.
    const chain = channelChainFromUrl(ledger.url, { programId: program.publicKey, pollIntervalMs: 10 });
    const buyer = Keypair.generate();
    const seller = Keypair.generate();
    ledger.fundSol(buyer.publicKey, BigInt(LAMPORTS_PER_SOL));
    ledger.fundSol(seller.publicKey, BigInt(LAMPORTS_PER_SOL));
    ledger.fundTokens(buyer.publicKey, 1000n);
    const now = await chain.clock();
    const { channel } = await chain.open({ buyer, seller: seller.publicKey, mint: ledger.mint, nonce: 1n, deposit: 600n, expiry: now + 3600n, voucherKey: buyer.publicKey });
    const ch = (await chain.fetchChannel(channel))!;
    assert.ok(ch.programId.equals(program.publicKey));
    const msg = voucherMessage({ programId: program.publicKey.toBytes(), channel: channel.toBytes(), amount: 250n });
    await chain.claim({ seller, channel: ch, voucher: { channel, amount: 250n, signature: signVoucher(buyer.secretKey.subarray(0, 32), msg) }, close: true });
    assert.equal((await conn.getTokenAccountBalance(associatedTokenAddress(ledger.mint, seller.publicKey))).value.amount, '250');
    assert.equal((await conn.getTokenAccountBalance(associatedTokenAddress(ledger.mint, buyer.publicKey))).value.amount, '750');
    assert.equal(await chain.fetchChannel(channel), null);

    // Not twice at the same address; not something that is not an ELF.
    await assert.rejects(deployProgram(conn, payer, program, bytes, { pollIntervalMs: 10 }), (e: unknown) => e instanceof DeployError && /already exists/.test(e.message));
    await assert.rejects(deployProgram(conn, payer, Keypair.generate(), new Uint8Array(100)), DeployError);
  } finally {
    await ledger.stop();
  }
});

test('seedpay channels deploy: deploys at the given program keypair; bad use is one line', async (t) => {
  const so = requireChannelProgram(t);
  if (so === null) return;
  const ledger = await LocalLedger.start({ channelProgram: false });
  const dir = mkdtempSync(path.join(tmpdir(), 'seedpay-deploy-'));
  try {
    const payer = Keypair.generate();
    ledger.fundSol(payer.publicKey, 10n * BigInt(LAMPORTS_PER_SOL));
    const program = Keypair.generate();
    const payerFile = path.join(dir, 'payer.json');
    const programFile = path.join(dir, 'program.json');
    writeFileSync(payerFile, JSON.stringify(Array.from(payer.secretKey)), { mode: 0o600 });
    writeFileSync(programFile, JSON.stringify(Array.from(program.secretKey)), { mode: 0o600 });
    const r = await runCli(['channels', 'deploy', '--rpc', ledger.url, '--payer', payerFile, '--program-keypair', programFile, '--program', so]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), program.publicKey.toBase58());
    assert.match(r.stderr, /deployed \d+ bytes in \d+ transactions/);
    assert.ok((await new Connection(ledger.url).getAccountInfo(program.publicKey))?.executable);

    const again = await runCli(['channels', 'deploy', '--rpc', ledger.url, '--payer', payerFile, '--program-keypair', programFile, '--program', so]);
    assertOneLine(again, /already exists/);
    assertOneLine(await runCli(['channels', 'deploy', '--payer', payerFile]), /--rpc <url> is required/);
    assertOneLine(await runCli(['channels', 'frobnicate']), /unknown channels subcommand/);
  } finally {
    await ledger.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
