/**
 * The channel escrow on litesvm: every instruction's exact effect, and every failure the
 * spec names, each with its error name and nothing moved (the fee payer pays its fee, no
 * other lamport or token changes hands).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACCOUNT_SIZE, createAssociatedTokenAccountIdempotentInstruction, createInitializeAccount3Instruction, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID,
} from '@solana/spl-token';
import { Keypair, PublicKey, SystemProgram, TransactionInstruction, type AccountMeta } from '@solana/web3.js';
import { U64_MAX } from '../../payment/amount.js';
import {
  CHANNEL_STATE_LEN, channelAddress, claimInstruction, claimInstructions, extendInstruction, openInstruction, openInstructions,
  reclaimInstruction, topUpInstruction, vaultAddress, voucherVerifyInstruction, type ChannelErrorName,
} from '../../payment/channel/program.js';
import type { ChannelState } from '../../payment/channel/types.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import { ChannelSvm, programCu, type SendResult } from './svm.js';

const FEE = 5000n;

function fresh(t: { skip(m?: string): void }, opts: ConstructorParameters<typeof ChannelSvm>[1] = {}): ChannelSvm | null {
  const so = requireChannelProgram(t);
  return so === null ? null : new ChannelSvm(so, opts);
}

/** A fresh chain with one open channel (deposit 1000, expiry now + 1 h). */
function withChannel(t: { skip(m?: string): void }, deposit = 1000n): { s: ChannelSvm; ch: ChannelState } | null {
  const s = fresh(t);
  if (s === null) return null;
  const o = s.openChannel({ deposit });
  assert.ok(o.res.ok, JSON.stringify(o.res.err));
  assert.ok(o.state);
  return { s, ch: o.state };
}

/** Everything a channel transaction could touch. */
function watched(s: ChannelSvm, ch: ChannelState, extra: PublicKey[] = []): PublicKey[] {
  return [s.buyer.publicKey, s.seller.publicKey, ch.address, ch.vault, s.ata(s.buyer.publicKey), s.ata(s.seller.publicKey), ...extra];
}

/** Run `send`, expect the named error, and that nothing but the payer's fee moved. */
function expectFail(s: ChannelSvm, keys: PublicKey[], payer: PublicKey, name: ChannelErrorName, send: () => SendResult): void {
  const before = s.snapshot(keys);
  const r = send();
  assert.equal(r.ok, false, `expected ${name}, the transaction succeeded`);
  assert.equal(r.name, name, `expected ${name}, got ${JSON.stringify(r.err)}\n${r.logs.join('\n')}`);
  const after = s.snapshot(keys);
  for (const k of keys) {
    const b = before.get(k.toBase58())!;
    const a = after.get(k.toBase58())!;
    const fee = k.equals(payer) ? r.fee : 0n;
    assert.equal(a.lamports, b.lamports - fee, `lamports of ${k.toBase58()} moved (${name})`);
    assert.equal(a.tokens, b.tokens, `tokens of ${k.toBase58()} moved (${name})`);
  }
}

test('open: deposit moves to the vault, the state says what the spec says, the buyer pays both rents', (t) => {
  const s = fresh(t);
  if (s === null) return;
  const buyerAta = s.ata(s.buyer.publicKey);
  const lamports0 = s.lamports(s.buyer.publicKey);
  const expiry = s.now() + 3600n;
  const o = s.openChannel({ nonce: 42n, deposit: 1234n, expiry });
  assert.ok(o.res.ok, JSON.stringify(o.res.err));
  t.diagnostic(`CU open (program only, ATA creation excluded): ${programCu(o.res.logs, s.programId)}`);
  assert.equal(s.tokens(o.vault), 1234n);
  assert.equal(s.tokens(buyerAta), 1_000_000n - 1234n);
  const st = o.state!;
  assert.ok(st.address.equals(channelAddress(s.programId, s.buyer.publicKey, s.seller.publicKey, s.mint, 42n)));
  assert.ok(st.vault.equals(vaultAddress(st.address, s.mint)));
  assert.ok(st.buyer.equals(s.buyer.publicKey) && st.seller.equals(s.seller.publicKey) && st.mint.equals(s.mint));
  assert.ok(st.voucherKey.equals(s.buyer.publicKey));
  assert.equal(st.deposit, 1234n);
  assert.equal(st.claimed, 0n);
  assert.equal(st.expiry, expiry);
  assert.equal(st.nonce, 42n);
  assert.equal(s.account(st.address)!.dataLen, CHANNEL_STATE_LEN);
  assert.equal(s.account(st.address)!.owner, s.programId.toBase58());
  const rent = s.rentExempt(CHANNEL_STATE_LEN) + s.rentExempt(ACCOUNT_SIZE);
  assert.equal(s.lamports(st.address), s.rentExempt(CHANNEL_STATE_LEN));
  assert.equal(s.lamports(st.vault), s.rentExempt(ACCOUNT_SIZE));
  assert.equal(s.lamports(s.buyer.publicKey), lamports0 - rent - FEE);
});

test('top_up adds to the deposit and the vault; extend moves the expiry later', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const r = s.send([topUpInstruction({ channel: ch, amount: 500n })], [s.buyer]);
  assert.ok(r.ok, JSON.stringify(r.err));
  t.diagnostic(`CU top_up: ${programCu(r.logs, s.programId)}`);
  assert.equal(s.tokens(ch.vault), 1500n);
  assert.equal(s.tokens(s.ata(s.buyer.publicKey)), 1_000_000n - 1500n);
  assert.equal(s.channel(ch.address)!.deposit, 1500n);
  const e = s.send([extendInstruction({ channel: ch, expiry: ch.expiry + 86_400n })], [s.buyer]);
  assert.ok(e.ok, JSON.stringify(e.err));
  t.diagnostic(`CU extend: ${programCu(e.logs, s.programId)}`);
  assert.equal(s.channel(ch.address)!.expiry, ch.expiry + 86_400n);
});

test('partial claims pay the increase over the last claim; a claim with close refunds the rest and returns all rent', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const sellerAta = s.ata(s.seller.publicKey);
  const buyerAta = s.ata(s.buyer.publicKey);
  const buyerLamports = s.lamports(s.buyer.publicKey);
  const rent = s.lamports(ch.address) + s.lamports(ch.vault);

  let r = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 300n), close: false }), [s.seller]);
  assert.ok(r.ok, JSON.stringify(r.err));
  t.diagnostic(`CU claim (partial): ${programCu(r.logs, s.programId)}`);
  assert.equal(s.tokens(sellerAta), 300n);
  assert.equal(s.tokens(ch.vault), 700n);
  assert.equal(s.channel(ch.address)!.claimed, 300n);

  // Replaying the same voucher pays nothing more.
  r = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 300n), close: false }), [s.seller]);
  assert.ok(r.ok, JSON.stringify(r.err));
  assert.equal(s.tokens(sellerAta), 300n);

  r = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 450n), close: false }), [s.seller]);
  assert.ok(r.ok);
  assert.equal(s.tokens(sellerAta), 450n);

  r = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 600n), close: true }), [s.seller]);
  assert.ok(r.ok, JSON.stringify(r.err) + r.logs.join('\n'));
  t.diagnostic(`CU claim (close): ${programCu(r.logs, s.programId)}`);
  assert.equal(s.tokens(sellerAta), 600n);
  assert.equal(s.tokens(buyerAta), 1_000_000n - 600n);
  assert.equal(s.tokens(ch.vault), null, 'vault closed');
  assert.equal(s.lamports(ch.vault), 0n);
  assert.equal(s.lamports(ch.address), 0n);
  assert.equal(s.channel(ch.address), null, 'state closed');
  const acc = s.account(ch.address);
  if (acc !== null) {
    assert.equal(acc.dataLen, 0, 'state data released');
    assert.equal(acc.owner, SystemProgram.programId.toBase58(), 'state handed back to the system program');
  }
  // The seller paid the fees; the buyer got both rents back, to the lamport.
  assert.equal(s.lamports(s.buyer.publicKey), buyerLamports + rent);
});

test('reclaim after expiry: everything unclaimed and all rent back to the buyer', (t) => {
  const s = fresh(t);
  if (s === null) return;
  const buyerAta = s.ata(s.buyer.publicKey);
  const lamports0 = s.lamports(s.buyer.publicKey);
  const o = s.openChannel({ deposit: 1000n, expiry: s.now() + 60n });
  assert.ok(o.res.ok);
  const ch = o.state!;
  const c = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 250n), close: false }), [s.seller]);
  assert.ok(c.ok);
  s.setClock(ch.expiry);
  const r = s.send([reclaimInstruction({ channel: ch })], [s.buyer]);
  assert.ok(r.ok, JSON.stringify(r.err) + r.logs.join('\n'));
  t.diagnostic(`CU reclaim: ${programCu(r.logs, s.programId)}`);
  assert.equal(s.tokens(buyerAta), 1_000_000n - 250n);
  assert.equal(s.tokens(s.ata(s.seller.publicKey)), 250n);
  assert.equal(s.tokens(ch.vault), null);
  assert.equal(s.channel(ch.address), null);
  // Two transactions paid by the buyer (open, reclaim): fees only, every rent lamport came back.
  assert.equal(s.lamports(s.buyer.publicKey), lamports0 - 2n * FEE);
});

test('a claim that pays out nothing more can still close (refund everything left)', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const r = s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 0n), close: true }), [s.seller]);
  assert.ok(r.ok, JSON.stringify(r.err));
  assert.equal(s.tokens(s.ata(s.buyer.publicKey)), 1_000_000n);
  assert.equal(s.channel(ch.address), null);
});

// ---- the failure matrix ----------------------------------------------------------

test('claim: voucher for another channel, by another key, for another program, or for another amount → VoucherMismatch', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const other = s.openChannel({ nonce: 2n });
  assert.ok(other.res.ok);
  const keys = watched(s, ch, [other.vault]);
  const seller = s.seller.publicKey;
  // Signed for the other channel, presented against this one.
  const forOther = s.voucher(other.address, 100n);
  expectFail(s, keys, seller, 'VoucherMismatch', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: forOther }),
    claimInstruction({ channel: ch, amount: 100n, close: false }),
  ], [s.seller]));
  // A valid signature, by a key that is not the channel's voucher key.
  const mallory = Keypair.generate();
  expectFail(s, keys, seller, 'VoucherMismatch', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: mallory.publicKey, voucher: s.voucher(ch.address, 100n, mallory) }),
    claimInstruction({ channel: ch, amount: 100n, close: false }),
  ], [s.seller]));
  // Signed for another deployment of the program.
  const otherProgram = Keypair.generate().publicKey;
  expectFail(s, keys, seller, 'VoucherMismatch', () => s.send([
    voucherVerifyInstruction({ programId: otherProgram, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n, s.voucherKey, otherProgram) }),
    claimInstruction({ channel: ch, amount: 100n, close: false }),
  ], [s.seller]));
  // Signed for 100, claiming 900.
  expectFail(s, keys, seller, 'VoucherMismatch', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n) }),
    claimInstruction({ channel: ch, amount: 900n, close: false }),
  ], [s.seller]));
  // Two signatures in the precompile instruction: refused (only the one-voucher shape is read).
  const ed = voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n) });
  const twice = Buffer.from(ed.data);
  twice[0] = 2;
  const twoSigs = Buffer.concat([twice.subarray(0, 16), twice.subarray(2, 16), twice.subarray(16)]);
  // offsets of both entries shifted by the extra 14-byte header entry
  for (const base of [2, 16]) for (const f of [0, 4, 8]) twoSigs.writeUInt16LE(twoSigs.readUInt16LE(base + f) + 14, base + f);
  expectFail(s, keys, seller, 'VoucherMismatch', () => s.send([
    new TransactionInstruction({ programId: ed.programId, keys: [], data: twoSigs }),
    claimInstruction({ channel: ch, amount: 100n, close: false }),
  ], [s.seller]));
});

test('claim: no Ed25519 instruction, or not right before the claim → VoucherMissing', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const keys = watched(s, ch);
  expectFail(s, keys, s.seller.publicKey, 'VoucherMissing', () => s.send([claimInstruction({ channel: ch, amount: 100n, close: false })], [s.seller]));
  const sellerAta = s.ata(s.seller.publicKey);
  expectFail(s, keys, s.seller.publicKey, 'VoucherMissing', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n) }),
    createAssociatedTokenAccountIdempotentInstruction(s.seller.publicKey, sellerAta, s.seller.publicKey, s.mint),
    claimInstruction({ channel: ch, amount: 100n, close: false }),
  ], [s.seller]));
});

test('claim: below what was claimed → AmountBelowClaimed; above the deposit → AmountAboveDeposit', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  assert.ok(s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 500n), close: false }), [s.seller]).ok);
  const keys = watched(s, ch);
  expectFail(s, keys, s.seller.publicKey, 'AmountBelowClaimed',
    () => s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 499n), close: true }), [s.seller]));
  expectFail(s, keys, s.seller.publicKey, 'AmountAboveDeposit',
    () => s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 1001n), close: false }), [s.seller]));
});

test('claim by someone who is not the seller → WrongSeller; without the seller signature → MissingSignature', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const mallory = Keypair.generate();
  s.svm.airdrop(mallory.publicKey.toBase58() as never, 1_000_000_000n as never);
  const malloryAta = s.fundTokens(mallory.publicKey, 0n);
  const keys = watched(s, ch, [mallory.publicKey, malloryAta]);
  const asMallory = { ...ch, seller: mallory.publicKey };
  expectFail(s, keys, mallory.publicKey, 'WrongSeller', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n) }),
    claimInstruction({ channel: asMallory, amount: 100n, close: false }),
  ], [mallory]));
  const unsigned = claimInstruction({ channel: ch, amount: 100n, close: false });
  unsigned.keys[0] = { ...unsigned.keys[0], isSigner: false };
  expectFail(s, keys, mallory.publicKey, 'MissingSignature', () => s.send([
    voucherVerifyInstruction({ programId: s.programId, voucherKey: ch.voucherKey, voucher: s.voucher(ch.address, 100n) }),
    unsigned,
  ], [mallory]));
});

test('time: early reclaim → NotExpired; claim or top-up at/after expiry → ChannelExpired; extend backwards → ExpiryNotLater', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const keys = watched(s, ch);
  expectFail(s, keys, s.buyer.publicKey, 'NotExpired', () => s.send([reclaimInstruction({ channel: ch })], [s.buyer]));
  s.setClock(ch.expiry - 1n);
  expectFail(s, keys, s.buyer.publicKey, 'NotExpired', () => s.send([reclaimInstruction({ channel: ch })], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'ExpiryNotLater', () => s.send([extendInstruction({ channel: ch, expiry: ch.expiry })], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'ExpiryNotLater', () => s.send([extendInstruction({ channel: ch, expiry: ch.expiry - 100n })], [s.buyer]));
  s.setClock(ch.expiry);
  expectFail(s, keys, s.seller.publicKey, 'ChannelExpired',
    () => s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 100n), close: false }), [s.seller]));
  expectFail(s, keys, s.buyer.publicKey, 'ChannelExpired', () => s.send([topUpInstruction({ channel: ch, amount: 1n })], [s.buyer]));
});

test('open: expiry not in the future → ExpiryInPast; zero deposit → ZeroAmount; same channel twice → AlreadyOpen', (t) => {
  const s = fresh(t);
  if (s === null) return;
  const keys = [s.buyer.publicKey, s.ata(s.buyer.publicKey)];
  expectFail(s, keys, s.buyer.publicKey, 'ExpiryInPast', () => s.openChannel({ expiry: s.now() }).res);
  expectFail(s, keys, s.buyer.publicKey, 'ZeroAmount', () => s.openChannel({ deposit: 0n }).res);
  const o = s.openChannel({ nonce: 9n });
  assert.ok(o.res.ok);
  expectFail(s, watched(s, o.state!), s.buyer.publicKey, 'AlreadyOpen', () => s.openChannel({ nonce: 9n }).res);
});

test('close is final: after claim-close, claim / reclaim / top-up / extend → ChannelClosed', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  assert.ok(s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 100n), close: true }), [s.seller]).ok);
  const keys = watched(s, ch);
  expectFail(s, keys, s.seller.publicKey, 'ChannelClosed',
    () => s.send(claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 200n), close: true }), [s.seller]));
  expectFail(s, keys, s.buyer.publicKey, 'ChannelClosed', () => s.send([topUpInstruction({ channel: ch, amount: 5n })], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'ChannelClosed', () => s.send([extendInstruction({ channel: ch, expiry: ch.expiry + 5n })], [s.buyer]));
  s.setClock(ch.expiry + 1n);
  expectFail(s, keys, s.buyer.publicKey, 'ChannelClosed', () => s.send([reclaimInstruction({ channel: ch })], [s.buyer]));
});

test('after reclaim: reclaim again → ChannelClosed', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  s.setClock(ch.expiry);
  assert.ok(s.send([reclaimInstruction({ channel: ch })], [s.buyer]).ok);
  expectFail(s, watched(s, ch), s.buyer.publicKey, 'ChannelClosed', () => s.send([reclaimInstruction({ channel: ch })], [s.buyer]));
});

test('wrong mint: open from a token account of another mint, claim into one → WrongMint', (t) => {
  const s = fresh(t);
  if (s === null) return;
  const otherMint = s.createMint();
  const buyerOther = s.fundTokens(s.buyer.publicKey, 5000n, otherMint);
  const sellerOther = s.fundTokens(s.seller.publicKey, 0n, otherMint);
  const nonce = 3n;
  const addr = channelAddress(s.programId, s.buyer.publicKey, s.seller.publicKey, s.mint, nonce);
  const vault = vaultAddress(addr, s.mint);
  const keys = [s.buyer.publicKey, s.ata(s.buyer.publicKey), buyerOther, addr, vault];
  expectFail(s, keys, s.buyer.publicKey, 'WrongMint', () => s.send(openInstructions({
    programId: s.programId, buyer: s.buyer.publicKey, seller: s.seller.publicKey, mint: s.mint, nonce, deposit: 10n,
    expiry: s.now() + 100n, voucherKey: s.buyer.publicKey, buyerTokenAccount: buyerOther,
  }).instructions, [s.buyer]));
  const o = s.openChannel();
  assert.ok(o.res.ok);
  const ch = o.state!;
  expectFail(s, watched(s, ch, [sellerOther]), s.seller.publicKey, 'WrongMint', () => s.send(claimInstructions({
    channel: ch, voucher: s.voucher(ch.address, 10n), close: false, sellerTokenAccount: sellerOther,
  }), [s.seller]));
});

test('wrong vault: open, top-up, claim and reclaim with a token account that is not the channel vault → WrongVault', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  // A token account of the right mint whose authority is the channel PDA, but not its ATA.
  const fake = Keypair.generate();
  const fakeRent = Number(s.rentExempt(ACCOUNT_SIZE));
  assert.ok(s.send([
    SystemProgram.createAccount({ fromPubkey: s.buyer.publicKey, newAccountPubkey: fake.publicKey, lamports: fakeRent, space: ACCOUNT_SIZE, programId: TOKEN_PROGRAM_ID }),
    createInitializeAccount3Instruction(fake.publicKey, s.mint, ch.address),
  ], [s.buyer, fake]).ok);
  const keys = watched(s, ch, [fake.publicKey]);
  const wrong = { ...ch, vault: fake.publicKey };
  expectFail(s, keys, s.buyer.publicKey, 'WrongVault', () => s.send([topUpInstruction({ channel: wrong, amount: 5n })], [s.buyer]));
  expectFail(s, keys, s.seller.publicKey, 'WrongVault',
    () => s.send(claimInstructions({ channel: wrong, voucher: s.voucher(ch.address, 10n), close: false }), [s.seller]));
  // The buyer's own token account as the vault: also not the vault.
  const own = { ...ch, vault: s.ata(s.buyer.publicKey) };
  expectFail(s, keys, s.buyer.publicKey, 'WrongVault', () => s.send([topUpInstruction({ channel: own, amount: 5n })], [s.buyer]));
  s.setClock(ch.expiry);
  expectFail(s, keys, s.buyer.publicKey, 'WrongVault', () => s.send([reclaimInstruction({ channel: wrong })], [s.buyer]));
  // open with a vault that is not the channel's ATA
  s.setClock(ch.expiry - 1000n);
  const ix = openInstruction({
    programId: s.programId, buyer: s.buyer.publicKey, seller: s.seller.publicKey, mint: s.mint, nonce: 77n, deposit: 10n,
    expiry: s.now() + 100n, voucherKey: s.buyer.publicKey,
  });
  ix.keys[2] = { ...ix.keys[2], pubkey: fake.publicKey };
  expectFail(s, keys, s.buyer.publicKey, 'WrongVault', () => s.send([ix], [s.buyer]));
});

test('wrong programs: Token-2022 as the token program, a wrong instructions sysvar, a wrong system program → WrongProgram', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const keys = watched(s, ch);
  const swap = (ix: TransactionInstruction, i: number, pubkey: PublicKey): TransactionInstruction => {
    ix.keys[i] = { ...ix.keys[i], pubkey };
    return ix;
  };
  expectFail(s, keys, s.buyer.publicKey, 'WrongProgram',
    () => s.send([swap(topUpInstruction({ channel: ch, amount: 5n }), 4, TOKEN_2022_PROGRAM_ID)], [s.buyer]));
  const claim = claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 10n), close: false, createSellerTokenAccount: false });
  swap(claim[1], 7, TOKEN_2022_PROGRAM_ID);
  expectFail(s, keys, s.seller.publicKey, 'WrongProgram', () => s.send(claim, [s.seller]));
  const claim2 = claimInstructions({ channel: ch, voucher: s.voucher(ch.address, 10n), close: false, createSellerTokenAccount: false });
  swap(claim2[1], 6, SystemProgram.programId);
  expectFail(s, keys, s.seller.publicKey, 'WrongProgram', () => s.send(claim2, [s.seller]));
  s.setClock(ch.expiry);
  expectFail(s, keys, s.buyer.publicKey, 'WrongProgram',
    () => s.send([swap(reclaimInstruction({ channel: ch }), 4, TOKEN_2022_PROGRAM_ID)], [s.buyer]));
  const open = openInstructions({
    programId: s.programId, buyer: s.buyer.publicKey, seller: s.seller.publicKey, mint: s.mint, nonce: 5n, deposit: 10n,
    expiry: s.now() + 100n, voucherKey: s.buyer.publicKey,
  });
  swap(open.instructions[1], 6, TOKEN_2022_PROGRAM_ID);
  expectFail(s, keys, s.buyer.publicKey, 'WrongProgram', () => s.send(open.instructions, [s.buyer]));
});

test('top_up / extend / reclaim by someone who is not the buyer → WrongBuyer', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const mallory = Keypair.generate();
  s.svm.airdrop(mallory.publicKey.toBase58() as never, 1_000_000_000n as never);
  const malloryAta = s.fundTokens(mallory.publicKey, 100n);
  const keys = watched(s, ch, [mallory.publicKey, malloryAta]);
  const asMallory = { ...ch, buyer: mallory.publicKey };
  expectFail(s, keys, mallory.publicKey, 'WrongBuyer', () => s.send([topUpInstruction({ channel: asMallory, amount: 5n })], [mallory]));
  expectFail(s, keys, mallory.publicKey, 'WrongBuyer', () => s.send([extendInstruction({ channel: asMallory, expiry: ch.expiry + 10n })], [mallory]));
  s.setClock(ch.expiry);
  expectFail(s, keys, mallory.publicKey, 'WrongBuyer', () => s.send([reclaimInstruction({ channel: asMallory })], [mallory]));
  // ... and a close that would send the refund and the rent to mallory
  s.setClock(ch.expiry - 10n);
  expectFail(s, keys, s.seller.publicKey, 'WrongBuyer', () => s.send(claimInstructions({
    channel: { ...ch, buyer: mallory.publicKey }, voucher: s.voucher(ch.address, 10n), close: true,
  }), [s.seller]));
});

test('token accounts: refund into the seller\'s account, top-up from someone else\'s → WrongTokenAccount; zero top-up → ZeroAmount', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const keys = watched(s, ch);
  expectFail(s, keys, s.seller.publicKey, 'WrongTokenAccount', () => s.send(claimInstructions({
    channel: ch, voucher: s.voucher(ch.address, 10n), close: true, buyerTokenAccount: s.ata(s.seller.publicKey),
  }), [s.seller]));
  expectFail(s, keys, s.buyer.publicKey, 'WrongTokenAccount',
    () => s.send([topUpInstruction({ channel: ch, amount: 5n, buyerTokenAccount: s.ata(s.seller.publicKey) })], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'ZeroAmount', () => s.send([topUpInstruction({ channel: ch, amount: 0n })], [s.buyer]));
});

test('top_up past u64 → ArithmeticOverflow (checked before any token moves)', (t) => {
  const s = fresh(t, { buyerTokens: U64_MAX - 5n });
  if (s === null) return;
  const o = s.openChannel({ deposit: U64_MAX - 5n });
  assert.ok(o.res.ok, JSON.stringify(o.res.err));
  const ch = o.state!;
  expectFail(s, watched(s, ch), s.buyer.publicKey, 'ArithmeticOverflow', () => s.send([topUpInstruction({ channel: ch, amount: 6n })], [s.buyer]));
});

test('addresses and shapes: a channel that is not the PDA, an account that is not a channel, bad data, too few accounts', (t) => {
  const c = withChannel(t);
  if (c === null) return;
  const { s, ch } = c;
  const keys = watched(s, ch);
  // open where the channel account is the PDA of another nonce
  const ix = openInstruction({
    programId: s.programId, buyer: s.buyer.publicKey, seller: s.seller.publicKey, mint: s.mint, nonce: 11n, deposit: 10n,
    expiry: s.now() + 100n, voucherKey: s.buyer.publicKey,
  });
  ix.keys[1] = { ...ix.keys[1], pubkey: channelAddress(s.programId, s.buyer.publicKey, s.seller.publicKey, s.mint, 12n) };
  expectFail(s, keys, s.buyer.publicKey, 'WrongChannelAddress', () => s.send([ix], [s.buyer]));
  // a token account where the channel should be
  const notChannel = { ...ch, address: s.ata(s.buyer.publicKey) };
  expectFail(s, keys, s.buyer.publicKey, 'WrongAccountOwner', () => s.send([extendInstruction({ channel: notChannel, expiry: ch.expiry + 1n })], [s.buyer]));
  // a channel account nobody opened
  const never = { ...ch, address: channelAddress(s.programId, s.buyer.publicKey, s.seller.publicKey, s.mint, 999n) };
  expectFail(s, keys, s.buyer.publicKey, 'ChannelClosed', () => s.send([extendInstruction({ channel: never, expiry: ch.expiry + 1n })], [s.buyer]));
  const raw = (data: number[], metas: AccountMeta[]): TransactionInstruction => new TransactionInstruction({ programId: s.programId, keys: metas, data: Buffer.from(data) });
  const buyerMeta: AccountMeta = { pubkey: s.buyer.publicKey, isSigner: true, isWritable: true };
  expectFail(s, keys, s.buyer.publicKey, 'InvalidInstructionData', () => s.send([raw([], [buyerMeta])], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'InvalidInstructionData', () => s.send([raw([5], [buyerMeta])], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'InvalidInstructionData', () => s.send([raw([2, 1, 2, 3], [buyerMeta])], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'InvalidInstructionData', () => s.send([raw([4, 0], [buyerMeta])], [s.buyer]));
  expectFail(s, keys, s.seller.publicKey, 'InvalidInstructionData', () => s.send([raw([3, 1, 0, 0, 0, 0, 0, 0, 0, 2], [buyerMeta])], [s.seller, s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'NotEnoughAccounts', () => s.send([raw([2, 1, 0, 0, 0, 0, 0, 0, 0], [buyerMeta])], [s.buyer]));
  expectFail(s, keys, s.buyer.publicKey, 'NotEnoughAccounts', () => s.send([raw([4], [buyerMeta])], [s.buyer]));
  // extend without the buyer's signature (fee paid by the seller)
  const unsigned = extendInstruction({ channel: ch, expiry: ch.expiry + 1n });
  unsigned.keys[0] = { ...unsigned.keys[0], isSigner: false };
  expectFail(s, keys, s.seller.publicKey, 'MissingSignature', () => s.send([unsigned], [s.seller]));
});

test('open still works when someone sent lamports to the channel address first (no create_account denial)', (t) => {
  for (const lamports of [1_000n, 50_000_000n]) { // below and above the rent-exempt minimum
    const s = fresh(t);
    if (s === null) return;
    const addr = channelAddress(s.programId, s.buyer.publicKey, s.seller.publicKey, s.mint, 1n);
    s.svm.airdrop(addr.toBase58() as never, lamports as never);
    const o = s.openChannel({ nonce: 1n, deposit: 10n });
    assert.ok(o.res.ok, JSON.stringify(o.res.err) + o.res.logs.join('\n'));
    assert.equal(o.state!.deposit, 10n);
    const rent = s.rentExempt(CHANNEL_STATE_LEN);
    assert.equal(s.lamports(addr), lamports > rent ? lamports : rent);
  }
});
