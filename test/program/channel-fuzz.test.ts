/**
 * Property: whatever instruction data and accounts reach the channel program — random
 * bytes, random lengths, a random tag with a truncated or padded payload, the right
 * accounts shuffled or replaced, random signers, a genuine voucher check or none — it
 * never moves a token or lamport it should not:
 *  - a failed transaction moves nothing (the fee payer pays its fee), and fails with one
 *    of the program's named errors (or, inside a token CPI, the Token program's own);
 *  - a successful one conserves tokens among the accounts involved, never pays anyone
 *    the buyer did not authorise (the seller holds at most the largest voucher signed;
 *    mallory, who pays every fee, never gains anything), and leaves the channel with
 *    claimed ≤ deposit and the vault holding at least deposit − claimed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID } from '@solana/spl-token';
import {
  Keypair, PublicKey, SystemProgram, SYSVAR_INSTRUCTIONS_PUBKEY, TransactionInstruction, type AccountMeta,
} from '@solana/web3.js';
import { voucherVerifyInstruction } from '../../payment/channel/program.js';
import type { ChannelState } from '../../payment/channel/types.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';
import { ChannelSvm } from './svm.js';

const LENGTHS = [57, 9, 9, 10, 1]; // valid data length per tag
const RIGHT_ACCOUNTS = [
  ['buyer', 'channel', 'vault', 'buyerAta', 'seller', 'mint', 'system', 'token'],
  ['buyer', 'channel', 'vault', 'buyerAta', 'token'],
  ['buyer', 'channel'],
  ['seller', 'channel', 'vault', 'sellerAta', 'buyer', 'buyerAta', 'ixSysvar', 'token'],
  ['buyer', 'channel', 'vault', 'buyerAta', 'token'],
] as const;
const POOL = ['buyer', 'seller', 'mallory', 'channel', 'vault', 'buyerAta', 'sellerAta', 'malloryAta', 'mint',
  'system', 'token', 'token2022', 'ixSysvar', 'program'] as const;
type Role = (typeof POOL)[number];
const READONLY: ReadonlySet<Role> = new Set(['system', 'token', 'token2022', 'ixSysvar', 'program', 'mint']);
const MAX_VOUCHER = 1500n;

const dataArb = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 80 }), weight: 1 },
  // a real tag, its payload cut short or padded
  {
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -9, max: 3 }), fc.uint8Array({ minLength: 80, maxLength: 80 }))
      .map(([tag, delta, bytes]) => Uint8Array.of(tag, ...bytes.subarray(0, Math.max(0, LENGTHS[tag] - 1 + delta)))),
    weight: 2,
  },
  // a well-formed payload with small, meaningful numbers
  { arbitrary: fc.tuple(fc.integer({ min: 0, max: 4 }), fc.bigInt({ min: 0n, max: 2000n }), fc.integer({ min: 0, max: 2 }), fc.uint8Array({ minLength: 57, maxLength: 57 }))
    .map(([tag, n, close, rnd]) => {
      const b = Buffer.from(rnd.subarray(0, LENGTHS[tag]));
      b[0] = tag;
      if (tag === 1 || tag === 3) b.writeBigUInt64LE(n, 1);
      if (tag === 2) b.writeBigInt64LE(1_700_000_000n + 3600n + n - 1000n, 1);
      if (tag === 3) b[9] = close;
      if (tag === 0) { b.writeBigUInt64LE(n, 1); b.writeBigUInt64LE(n, 9); b.writeBigInt64LE(1_700_000_000n + n, 17); }
      return new Uint8Array(b);
    }),
  weight: 5 },
);

type AccountsPlan = { random: Role[] } | { how: number; seed: number; other: Role; cut: number };
const accountsArb: fc.Arbitrary<AccountsPlan> = fc.oneof(
  { arbitrary: fc.array(fc.constantFrom(...POOL), { maxLength: 10 }).map((random) => ({ random })), weight: 1 },
  { arbitrary: fc.record({ how: fc.integer({ min: 0, max: 3 }), seed: fc.nat(), other: fc.constantFrom(...POOL), cut: fc.integer({ min: 0, max: 8 }) }), weight: 4 },
);

/** The accounts of a case: random, or the right list for the data's tag as is, shuffled, one replaced, or cut short. */
function planAccounts(plan: AccountsPlan, tag: number): Role[] {
  if ('random' in plan) return plan.random;
  const list: Role[] = [...RIGHT_ACCOUNTS[tag % RIGHT_ACCOUNTS.length]];
  const { how, seed } = plan;
  if (how === 0) {
    for (let i = list.length - 1; i > 0; i--) { const j = (seed + i * 7) % (i + 1); [list[i], list[j]] = [list[j], list[i]]; }
  } else if (how === 1) {
    list[seed % list.length] = plan.other;
  } else if (how === 2) {
    list.length = Math.min(list.length, plan.cut);
  }
  return list;
}

const caseArb = fc.record({
  data: dataArb,
  accounts: accountsArb,
  buyerSigns: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
  sellerSigns: fc.integer({ min: 0, max: 4 }).map((n) => n > 0),
  voucher: fc.option(fc.record({ amount: fc.bigInt({ min: 0n, max: MAX_VOUCHER }), otherChannel: fc.boolean() }), { nil: undefined }),
  /** Put the voucher's amount into a claim's data (so claims get past the voucher check). */
  matchVoucher: fc.boolean(),
  /** Run this case after the channel's expiry (reclaim and the late-claim checks). */
  late: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
});

test('fuzzed instruction data and accounts never move money they should not, and fail with a defined error', (t) => {
  const so = requireChannelProgram(t);
  if (so === null) return;
  const s = new ChannelSvm(so);
  const mallory = Keypair.generate();
  s.svm.airdrop(mallory.publicKey.toBase58() as never, 100_000_000_000n as never);
  const malloryAta = s.fundTokens(mallory.publicKey, 1000n);
  let nonce = 1n;
  let ch: ChannelState = open();
  const other = s.openChannel({ nonce: 1_000_000n });
  assert.ok(other.res.ok);

  function open(): ChannelState {
    const o = s.openChannel({ nonce: nonce++, deposit: 1000n });
    assert.ok(o.res.ok, JSON.stringify(o.res.err));
    return o.state!;
  }
  const key = (r: Role): PublicKey => ({
    buyer: s.buyer.publicKey, seller: s.seller.publicKey, mallory: mallory.publicKey, channel: ch.address, vault: ch.vault,
    buyerAta: s.ata(s.buyer.publicKey), sellerAta: s.ata(s.seller.publicKey), malloryAta, mint: s.mint,
    system: SystemProgram.programId, token: TOKEN_PROGRAM_ID, token2022: TOKEN_2022_PROGRAM_ID, ixSysvar: SYSVAR_INSTRUCTIONS_PUBKEY,
    program: s.programId,
  })[r];
  const tokenAccounts = (): PublicKey[] => [ch.vault, s.ata(s.buyer.publicKey), s.ata(s.seller.publicKey), malloryAta, other.vault];
  const lamportAccounts = (): PublicKey[] => [s.buyer.publicKey, s.seller.publicKey, mallory.publicKey, ch.address, ...tokenAccounts(), other.address];
  const outcomes = new Map<string, number>();

  fc.assert(fc.property(caseArb, (c) => {
    if (s.channel(ch.address) === null) ch = open(); // a closed channel is replaced, so later cases still reach deep
    const keys = lamportAccounts();
    const before = s.snapshot(keys);
    const stateBefore = s.channel(ch.address);
    const metas: AccountMeta[] = planAccounts(c.accounts, c.data[0] ?? 0).map((r) => ({
      pubkey: key(r),
      isSigner: (r === 'buyer' && c.buyerSigns) || (r === 'seller' && c.sellerSigns) || r === 'mallory',
      isWritable: !READONLY.has(r),
    }));
    const signers = [mallory];
    if (metas.some((m) => m.isSigner && m.pubkey.equals(s.buyer.publicKey))) signers.push(s.buyer);
    if (metas.some((m) => m.isSigner && m.pubkey.equals(s.seller.publicKey))) signers.push(s.seller);
    const ixs: TransactionInstruction[] = [];
    const data = Buffer.from(c.data);
    if (c.voucher && c.matchVoucher && data.length >= 9 && data[0] === 3) data.writeBigUInt64LE(c.voucher.amount, 1);
    if (c.voucher) {
      const target = c.voucher.otherChannel ? other.address : ch.address;
      ixs.push(voucherVerifyInstruction({ programId: s.programId, voucherKey: s.buyer.publicKey, voucher: s.voucher(target, c.voucher.amount) }));
    }
    ixs.push(new TransactionInstruction({ programId: s.programId, keys: metas, data }));
    const now = s.now();
    if (c.late) s.setClock(stateBefore?.expiry ?? ch.expiry);
    const r = s.send(ixs, signers);
    s.setClock(now);
    const after = s.snapshot(keys);
    const d = (k: PublicKey, f: 'lamports' | 'tokens'): bigint => (after.get(k.toBase58())![f] ?? 0n) - (before.get(k.toBase58())![f] ?? 0n);

    if (!r.ok) {
      const raisedByToken = r.logs.some((l) => l.startsWith(`Program ${TOKEN_PROGRAM_ID.toBase58()} failed`));
      assert.ok(r.name !== null || raisedByToken, `undefined failure ${JSON.stringify(r.err)}\n${r.logs.join('\n')}`);
      for (const k of keys) {
        assert.equal(d(k, 'lamports'), k.equals(mallory.publicKey) ? -r.fee : 0n, `lamports moved on failure (${r.name})`);
        assert.equal(d(k, 'tokens'), 0n, `tokens moved on failure (${r.name})`);
      }
      outcomes.set(r.name ?? 'token-cpi', (outcomes.get(r.name ?? 'token-cpi') ?? 0) + 1);
      return;
    }
    outcomes.set(`ok:${data[0]}`, (outcomes.get(`ok:${data[0]}`) ?? 0) + 1);
    // Success: lamports and tokens only changed hands among these accounts.
    assert.equal(keys.reduce((a, k) => a + d(k, 'lamports'), 0n), -r.fee, 'lamports created or destroyed');
    assert.equal(tokenAccounts().reduce((a, k) => a + d(k, 'tokens'), 0n), 0n, 'tokens created or destroyed');
    assert.equal(d(malloryAta, 'tokens'), 0n, 'mallory gained tokens');
    assert.equal(d(mallory.publicKey, 'lamports'), -r.fee, 'mallory gained lamports');
    assert.equal(d(other.vault, 'tokens'), 0n, 'the other channel was touched');
    assert.ok((s.tokens(s.ata(s.seller.publicKey)) ?? 0n) <= MAX_VOUCHER * nonce, 'seller paid beyond the vouchers');
    const st = s.channel(ch.address);
    if (st !== null) {
      assert.ok(st.claimed <= st.deposit);
      assert.ok((s.tokens(st.vault) ?? 0n) >= st.deposit - st.claimed, 'vault holds less than deposit − claimed');
      if (stateBefore !== null && d(s.ata(s.seller.publicKey), 'tokens') > 0n) {
        assert.equal(d(s.ata(s.seller.publicKey), 'tokens'), st.claimed - stateBefore.claimed, 'seller paid more than the claim increase');
        assert.ok(c.voucher && !c.voucher.otherChannel && c.voucher.amount === st.claimed, 'a claim without a matching voucher paid out');
      }
    }
  }), { numRuns: 300 });
  t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
});
