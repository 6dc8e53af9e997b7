/**
 * The channel program on a bare litesvm (no RPC): fast enough for the failure matrix and
 * the fuzz property. One ChannelSvm = one fresh chain with the program at its default id,
 * a mint, and funded buyer/seller wallets with token accounts.
 */
import { readFileSync } from 'node:fs';
import { LiteSVM } from 'litesvm';
import { getTransactionDecoder } from '@solana/kit';
import {
  createAssociatedTokenAccountIdempotentInstruction, createInitializeMint2Instruction, createMintToInstruction,
  getAssociatedTokenAddressSync, MINT_SIZE, TOKEN_PROGRAM_ID, unpackAccount,
} from '@solana/spl-token';
import { Ed25519Program, Keypair, PublicKey, SystemProgram, Transaction, type TransactionInstruction } from '@solana/web3.js';
import { txErrorToJson, type TxErrorJson } from '../../payment/ledger/errors.js';
import { channelErrorName, decodeChannel, DEFAULT_CHANNEL_PROGRAM_ID, openInstructions, type ChannelErrorName } from '../../payment/channel/program.js';
import { signVoucher, voucherMessage } from '../../payment/channel/voucher.js';
import type { ChannelState, Voucher } from '../../payment/channel/types.js';

export interface SendResult {
  ok: boolean;
  err: TxErrorJson | null;
  /** The channel error name when the program failed with one of its codes. */
  name: ChannelErrorName | null;
  logs: string[];
  cu: number;
  /** Lamports the fee payer was charged: 5000 per transaction signature and per precompile signature. */
  fee: bigint;
}

interface SvmResult {
  logs(): string[];
  computeUnitsConsumed(): bigint;
}

const decoder = getTransactionDecoder();

/** The fee of a legacy transaction: its signatures plus the Ed25519 precompile's (data[0] each). */
export function feeOf(raw: Uint8Array): bigint {
  const tx = Transaction.from(raw);
  let sigs = tx.signatures.length;
  for (const ix of tx.instructions) if (ix.programId.equals(Ed25519Program.programId) && ix.data.length > 0) sigs += ix.data[0];
  return 5000n * BigInt(sigs);
}

export class ChannelSvm {
  readonly svm: LiteSVM;
  readonly programId: PublicKey;
  readonly faucet = Keypair.generate();
  readonly mintAuthority = Keypair.generate();
  readonly mint: PublicKey;
  readonly buyer = Keypair.generate();
  readonly seller = Keypair.generate();
  /** The buyer's voucher key (its own wallet unless a test says otherwise). */
  readonly voucherKey: Keypair;

  constructor(so: string, opts: { programId?: PublicKey; buyerTokens?: bigint; now?: bigint } = {}) {
    this.programId = opts.programId ?? DEFAULT_CHANNEL_PROGRAM_ID;
    this.svm = new LiteSVM();
    this.svm.addProgram(this.programId.toBase58() as never, readFileSync(so));
    this.svm.airdrop(this.faucet.publicKey.toBase58() as never, 1_000_000_000_000n as never);
    this.setClock(opts.now ?? 1_700_000_000n);
    for (const k of [this.buyer, this.seller]) this.svm.airdrop(k.publicKey.toBase58() as never, 10_000_000_000n as never);
    this.voucherKey = this.buyer;
    this.mint = this.createMint();
    this.fundTokens(this.buyer.publicKey, opts.buyerTokens ?? 1_000_000n);
    this.fundTokens(this.seller.publicKey, 0n);
  }

  setClock(unix: bigint): void {
    const c = this.svm.getClock();
    c.unixTimestamp = unix;
    this.svm.setClock(c);
  }

  now(): bigint {
    return this.svm.getClock().unixTimestamp;
  }

  createMint(): PublicKey {
    const mint = Keypair.generate();
    const r = this.send([
      SystemProgram.createAccount({
        fromPubkey: this.faucet.publicKey, newAccountPubkey: mint.publicKey, space: MINT_SIZE, programId: TOKEN_PROGRAM_ID,
        lamports: Number(this.svm.minimumBalanceForRentExemption(BigInt(MINT_SIZE))),
      }),
      createInitializeMint2Instruction(mint.publicKey, 6, this.mintAuthority.publicKey, null),
    ], [this.faucet, mint]);
    if (!r.ok) throw new Error(`createMint: ${JSON.stringify(r.err)}`);
    return mint.publicKey;
  }

  /** Mint to `owner`'s associated token account (created if needed). */
  fundTokens(owner: PublicKey, amount: bigint, mint: PublicKey = this.mint): PublicKey {
    const ata = getAssociatedTokenAddressSync(mint, owner, true);
    const ixs: TransactionInstruction[] = [createAssociatedTokenAccountIdempotentInstruction(this.faucet.publicKey, ata, owner, mint)];
    if (amount > 0n) ixs.push(createMintToInstruction(mint, ata, this.mintAuthority.publicKey, amount));
    const r = this.send(ixs, amount > 0n ? [this.faucet, this.mintAuthority] : [this.faucet]);
    if (!r.ok) throw new Error(`fundTokens: ${JSON.stringify(r.err)} ${r.logs.join('\n')}`);
    return ata;
  }

  /** Sign with `signers` (the first pays), run, and move to a fresh blockhash. */
  send(ixs: TransactionInstruction[], signers: Keypair[]): SendResult {
    const tx = new Transaction({ feePayer: signers[0].publicKey, recentBlockhash: this.svm.latestBlockhash() }).add(...ixs);
    tx.sign(...signers);
    return this.sendRaw(tx.serialize());
  }

  sendRaw(raw: Uint8Array): SendResult {
    const fee = feeOf(raw);
    const res = this.svm.sendTransaction(decoder.decode(raw));
    this.svm.expireBlockhash();
    if ('err' in res) {
      const meta = res.meta() as unknown as SvmResult;
      const err = txErrorToJson(res.err());
      const logs = meta.logs();
      const tx = Transaction.from(raw);
      let instructionIndex = -1;
      tx.instructions.forEach((ix, i) => { if (ix.programId.equals(this.programId)) instructionIndex = i; });
      return { ok: false, err, name: channelErrorName(err, { logs, programId: this.programId, instructionIndex }), logs, cu: Number(meta.computeUnitsConsumed()), fee };
    }
    const r = res as unknown as SvmResult;
    return { ok: true, err: null, name: null, logs: r.logs(), cu: Number(r.computeUnitsConsumed()), fee };
  }

  private get(key: PublicKey): { lamports: bigint; data: Uint8Array; programAddress: string; executable: boolean } | null {
    const a = this.svm.getAccount(key.toBase58() as never);
    if (!a.exists) return null;
    return { lamports: BigInt(a.lamports), data: a.data as Uint8Array, programAddress: String(a.programAddress), executable: a.executable };
  }

  lamports(key: PublicKey): bigint {
    const a = this.get(key);
    return a === null ? 0n : a.lamports;
  }

  /** Token amount of a token account; null when it does not exist (or was closed). */
  tokens(key: PublicKey): bigint | null {
    const a = this.get(key);
    if (a === null || BigInt(a.lamports) === 0n) return null;
    const info = { data: Buffer.from(a.data), owner: new PublicKey(a.programAddress), lamports: Number(a.lamports), executable: a.executable };
    return unpackAccount(key, info, TOKEN_PROGRAM_ID).amount;
  }

  /** The decoded channel, or null when the account is gone (no lamports) or not ours. */
  channel(address: PublicKey): ChannelState | null {
    const a = this.get(address);
    if (a === null || BigInt(a.lamports) === 0n) return null;
    if (a.programAddress !== this.programId.toBase58()) return null;
    return decodeChannel(address, this.programId, Uint8Array.from(a.data));
  }

  /** Raw account (owner, data length) for close checks. */
  account(address: PublicKey): { lamports: bigint; owner: string; dataLen: number } | null {
    const a = this.get(address);
    return a === null ? null : { lamports: BigInt(a.lamports), owner: a.programAddress, dataLen: a.data.length };
  }

  ata(owner: PublicKey, mint: PublicKey = this.mint): PublicKey {
    return getAssociatedTokenAddressSync(mint, owner, true);
  }

  voucher(channel: PublicKey, amount: bigint, key: Keypair = this.voucherKey, programId: PublicKey = this.programId): Voucher {
    const msg = voucherMessage({ programId: programId.toBytes(), channel: channel.toBytes(), amount });
    return { channel, amount, signature: signVoucher(key.secretKey.subarray(0, 32), msg) };
  }

  rentExempt(len: number): bigint {
    return this.svm.minimumBalanceForRentExemption(BigInt(len));
  }

  /** Open a channel buyer → seller (defaults: nonce 1, deposit 1000, expiry now + 1 h). */
  openChannel(o: { nonce?: bigint; deposit?: bigint; expiry?: bigint; voucherKey?: PublicKey; mint?: PublicKey } = {}): {
    res: SendResult; address: PublicKey; vault: PublicKey; state: ChannelState | null;
  } {
    const opened = openInstructions({
      programId: this.programId, buyer: this.buyer.publicKey, seller: this.seller.publicKey, mint: o.mint ?? this.mint,
      nonce: o.nonce ?? 1n, deposit: o.deposit ?? 1000n, expiry: o.expiry ?? this.now() + 3600n,
      voucherKey: o.voucherKey ?? this.voucherKey.publicKey,
    });
    const res = this.send(opened.instructions, [this.buyer]);
    return { res, address: opened.channel, vault: opened.vault, state: res.ok ? this.channel(opened.channel) : null };
  }

  /** Lamports and token amounts of `keys` (to compare before/after a transaction). */
  snapshot(keys: PublicKey[]): Map<string, { lamports: bigint; tokens: bigint | null }> {
    const out = new Map<string, { lamports: bigint; tokens: bigint | null }>();
    for (const k of keys) {
      const a = this.get(k);
      let tokens: bigint | null = null;
      if (a !== null && a.lamports > 0n && a.programAddress === TOKEN_PROGRAM_ID.toBase58() && a.data.length === 165) tokens = this.tokens(k);
      out.set(k.toBase58(), { lamports: a?.lamports ?? 0n, tokens });
    }
    return out;
  }
}

/** Compute units our program consumed (its top-level "consumed" log line, CPIs included). */
export function programCu(logs: readonly string[], programId: PublicKey): number | null {
  const re = new RegExp(`^Program ${programId.toBase58()} consumed (\\d+) of \\d+ compute units$`);
  for (const l of logs) {
    const m = re.exec(l);
    if (m) return Number(m[1]);
  }
  return null;
}
