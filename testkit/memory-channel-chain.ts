/**
 * An in-memory ChannelChain for tests: token balances and channel accounts in maps,
 * enforcing the escrow program's rules (/work/CHANNEL-SPEC.md; program/channel/): open
 * needs deposit > 0, expiry > now and the buyer's tokens; claim needs the seller's
 * signature, now < expiry, a voucher for THIS program and channel signed by the channel's
 * voucher key (payment/channel/voucher.ts verifyVoucher), claimed ≤ amount ≤ deposit, and
 * pays amount − claimed; close refunds the rest to the buyer and removes the channel;
 * reclaim needs the buyer and now ≥ expiry. Errors carry the program's error names.
 * The real one (payment/channel/channel-chain.ts, on RPC) replaces it at merge.
 */
import { randomBytes } from 'node:crypto';
import bs58 from 'bs58';
import { Keypair, PublicKey } from '@solana/web3.js';
import type { ChannelChain, ChannelState, ChannelTx, Voucher } from '../payment/channel/types.js';
import { verifyVoucher, voucherMessage } from '../payment/channel/voucher.js';
import { channelAddress } from '../payment/channel/program.js';

export type ChannelErrorName =
  | 'ChannelClosed' | 'AlreadyOpen' | 'WrongBuyer' | 'WrongSeller' | 'ChannelExpired' | 'NotExpired' | 'ExpiryInPast'
  | 'ExpiryNotLater' | 'VoucherMismatch' | 'AmountBelowClaimed' | 'AmountAboveDeposit' | 'ZeroAmount' | 'InsufficientFunds'
  | 'WrongChannelAddress';

/** A refused instruction, named as the program names its custom errors. */
export class ChannelProgramError extends Error {
  constructor(readonly code: ChannelErrorName, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ChannelProgramError';
  }
}

export { channelAddress };

export interface MemoryChannelChainOptions {
  programId?: PublicKey;
  /** A fixed cluster clock (unix seconds); default the wall clock. */
  now?: bigint;
}

export interface ClaimMade { readonly channel: string; readonly amount: bigint; readonly paid: bigint; readonly close: boolean; readonly signature: string }

export class MemoryChannelChain implements ChannelChain {
  readonly programId: PublicKey;
  private fixedNow: bigint | null;
  private offset = 0n;
  private readonly balances = new Map<string, bigint>();
  private readonly accounts = new Map<string, ChannelState>();
  /** Every claim that landed, in order. */
  readonly claims: ClaimMade[] = [];
  /** Transactions sent (opens, top-ups, claims, …) and RPC reads. */
  transactions = 0;
  fetches = 0;
  /** Tests: claims fail (an RPC outage, a crash before the claim) while set. */
  failClaims = false;

  constructor(o: MemoryChannelChainOptions = {}) {
    this.programId = o.programId ?? Keypair.generate().publicKey;
    this.fixedNow = o.now ?? null;
  }

  /** Give `owner` `amount` tokens of `mint`. */
  fund(owner: PublicKey, mint: PublicKey, amount: bigint): void {
    const k = key(owner, mint);
    this.balances.set(k, (this.balances.get(k) ?? 0n) + amount);
  }

  balanceOf(owner: PublicKey, mint: PublicKey): bigint { return this.balances.get(key(owner, mint)) ?? 0n; }

  /** Move the cluster clock forward. */
  advance(seconds: bigint): void { this.offset += seconds; }
  setClock(now: bigint): void { this.fixedNow = now; this.offset = 0n; }

  private now(): bigint { return (this.fixedNow ?? BigInt(Math.floor(Date.now() / 1000))) + this.offset; }

  /** A channel's state now (a copy), without counting an RPC read. */
  peek(address: PublicKey): ChannelState | null {
    const s = this.accounts.get(address.toBase58());
    return s === undefined ? null : { ...s };
  }

  /** Tests: put a channel account in place as-is (e.g. one of another program), bypassing the rules. */
  inject(state: ChannelState): void { this.accounts.set(state.address.toBase58(), { ...state }); }

  async fetchChannel(address: PublicKey): Promise<ChannelState | null> {
    await Promise.resolve();
    this.fetches++;
    return this.peek(address);
  }

  async clock(): Promise<bigint> {
    await Promise.resolve();
    return this.now();
  }

  async open(a: { buyer: Keypair; seller: PublicKey; mint: PublicKey; nonce: bigint; deposit: bigint; expiry: bigint; voucherKey: PublicKey }): Promise<ChannelTx & { channel: PublicKey }> {
    await Promise.resolve();
    this.transactions++;
    if (a.deposit <= 0n) throw new ChannelProgramError('ZeroAmount', 'deposit must be > 0');
    if (a.expiry <= this.now()) throw new ChannelProgramError('ExpiryInPast', 'expiry must be in the future');
    const address = channelAddress(this.programId, a.buyer.publicKey, a.seller, a.mint, a.nonce);
    if (this.accounts.has(address.toBase58())) throw new ChannelProgramError('AlreadyOpen', address.toBase58());
    this.debit(a.buyer.publicKey, a.mint, a.deposit);
    this.accounts.set(address.toBase58(), {
      address, programId: this.programId, buyer: a.buyer.publicKey, seller: a.seller, mint: a.mint,
      vault: channelAddress(this.programId, address, address, a.mint, 0n), voucherKey: a.voucherKey, nonce: a.nonce,
      deposit: a.deposit, claimed: 0n, expiry: a.expiry,
    });
    return { signature: txSig(), channel: address };
  }

  async topUp(a: { buyer: Keypair; channel: ChannelState; amount: bigint }): Promise<ChannelTx> {
    await Promise.resolve();
    this.transactions++;
    const s = this.live(a.channel.address);
    if (!s.buyer.equals(a.buyer.publicKey)) throw new ChannelProgramError('WrongBuyer', 'not the channel buyer');
    if (this.now() >= s.expiry) throw new ChannelProgramError('ChannelExpired', 'top-up after expiry');
    if (a.amount <= 0n) throw new ChannelProgramError('ZeroAmount', 'amount must be > 0');
    this.debit(s.buyer, s.mint, a.amount);
    this.accounts.set(s.address.toBase58(), { ...s, deposit: s.deposit + a.amount });
    return { signature: txSig() };
  }

  async extend(a: { buyer: Keypair; channel: ChannelState; expiry: bigint }): Promise<ChannelTx> {
    await Promise.resolve();
    this.transactions++;
    const s = this.live(a.channel.address);
    if (!s.buyer.equals(a.buyer.publicKey)) throw new ChannelProgramError('WrongBuyer', 'not the channel buyer');
    if (a.expiry <= s.expiry) throw new ChannelProgramError('ExpiryNotLater', 'new expiry not later');
    this.accounts.set(s.address.toBase58(), { ...s, expiry: a.expiry });
    return { signature: txSig() };
  }

  async claim(a: { seller: Keypair; channel: ChannelState; voucher: Voucher; close: boolean }): Promise<ChannelTx> {
    await Promise.resolve();
    if (this.failClaims) throw new Error('claim failed: the cluster is unreachable');
    this.transactions++;
    const s = this.live(a.channel.address);
    if (!s.seller.equals(a.seller.publicKey)) throw new ChannelProgramError('WrongSeller', 'not the channel seller');
    if (this.now() >= s.expiry) throw new ChannelProgramError('ChannelExpired', 'claim after expiry');
    const v = a.voucher;
    const msg = voucherMessage({ programId: this.programId.toBytes(), channel: s.address.toBytes(), amount: v.amount });
    if (!v.channel.equals(s.address) || !verifyVoucher(s.voucherKey.toBytes(), msg, v.signature)) {
      throw new ChannelProgramError('VoucherMismatch', 'voucher not signed by the voucher key for this program, channel and amount');
    }
    if (v.amount < s.claimed) throw new ChannelProgramError('AmountBelowClaimed', `${v.amount} < claimed ${s.claimed}`);
    if (v.amount > s.deposit) throw new ChannelProgramError('AmountAboveDeposit', `${v.amount} > deposit ${s.deposit}`);
    const paid = v.amount - s.claimed;
    this.fund(s.seller, s.mint, paid);
    const signature = txSig();
    if (a.close) {
      this.fund(s.buyer, s.mint, s.deposit - v.amount);
      this.accounts.delete(s.address.toBase58());
    } else {
      this.accounts.set(s.address.toBase58(), { ...s, claimed: v.amount });
    }
    this.claims.push({ channel: s.address.toBase58(), amount: v.amount, paid, close: a.close, signature });
    return { signature };
  }

  async reclaim(a: { buyer: Keypair; channel: ChannelState }): Promise<ChannelTx> {
    await Promise.resolve();
    this.transactions++;
    const s = this.live(a.channel.address);
    if (!s.buyer.equals(a.buyer.publicKey)) throw new ChannelProgramError('WrongBuyer', 'not the channel buyer');
    if (this.now() < s.expiry) throw new ChannelProgramError('NotExpired', 'reclaim before expiry');
    this.fund(s.buyer, s.mint, s.deposit - s.claimed);
    this.accounts.delete(s.address.toBase58());
    return { signature: txSig() };
  }

  private live(address: PublicKey): ChannelState {
    const s = this.accounts.get(address.toBase58());
    if (s === undefined) throw new ChannelProgramError('ChannelClosed', `no channel at ${address.toBase58()}`);
    return s;
  }

  private debit(owner: PublicKey, mint: PublicKey, amount: bigint): void {
    const k = key(owner, mint);
    const have = this.balances.get(k) ?? 0n;
    if (have < amount) throw new ChannelProgramError('InsufficientFunds', `${owner.toBase58()} holds ${have} < ${amount}`);
    this.balances.set(k, have - amount);
  }
}

const key = (owner: PublicKey, mint: PublicKey): string => `${owner.toBase58()}:${mint.toBase58()}`;
const txSig = (): string => bs58.encode(randomBytes(64));
