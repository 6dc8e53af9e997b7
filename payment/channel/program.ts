/**
 * The SeedPay channel escrow program (program/channel/channel.c) as clients see it:
 * its id, its addresses, its five instructions, its state account and its errors.
 * This file is the only place the program's account lists are encoded
 * (docs/CHANNEL-PROGRAM.md lists them; CHANNEL-SPEC.md fixes everything else).
 */
import { createAssociatedTokenAccountIdempotentInstruction, TOKEN_PROGRAM_ID } from '@solana/spl-token';
import {
  Ed25519Program, PublicKey, SystemProgram, SYSVAR_INSTRUCTIONS_PUBKEY, TransactionInstruction, type AccountMeta,
} from '@solana/web3.js';
import { U64_MAX } from '../amount.js';
import { associatedTokenAddress } from '../chain.js';
import type { ChannelState, Voucher } from './types.js';
import { voucherMessage } from './voucher.js';

/** The committed program keypair's public key (program/channel/program-keypair.json). */
export const DEFAULT_CHANNEL_PROGRAM_ID = new PublicKey('9r4hJAwpoHR2nSVQ9ZPWsoLcZHvZSg5r8Q2tuACGywcK');

export const CHANNEL_STATE_LEN = 200;
export const CHANNEL_STATE_VERSION = 1;
const CHANNEL_SEED = new TextEncoder().encode('channel');
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

export const ChannelTag = { Open: 0, TopUp: 1, Extend: 2, Claim: 3, Reclaim: 4 } as const;

/** Custom program error codes (Solana `{Custom: n}`) → names, exactly as the program returns them. */
export const CHANNEL_ERRORS = {
  1: 'InvalidInstructionData',
  2: 'NotEnoughAccounts',
  3: 'MissingSignature',
  4: 'WrongAccountOwner',
  5: 'WrongChannelAddress',
  6: 'WrongVault',
  7: 'WrongMint',
  8: 'WrongTokenAccount',
  9: 'AlreadyOpen',
  10: 'ChannelClosed',
  11: 'WrongBuyer',
  12: 'WrongSeller',
  13: 'ChannelExpired',
  14: 'NotExpired',
  15: 'ExpiryInPast',
  16: 'ExpiryNotLater',
  17: 'VoucherMissing',
  18: 'VoucherMismatch',
  19: 'AmountBelowClaimed',
  20: 'AmountAboveDeposit',
  21: 'ArithmeticOverflow',
  22: 'ZeroAmount',
  23: 'WrongProgram',
} as const;

export type ChannelErrorCode = keyof typeof CHANNEL_ERRORS;
export type ChannelErrorName = (typeof CHANNEL_ERRORS)[ChannelErrorCode];

/** The code of a name (tests and callers that compare codes). */
export function channelErrorCode(name: ChannelErrorName): ChannelErrorCode {
  for (const [k, v] of Object.entries(CHANNEL_ERRORS)) if (v === name) return Number(k) as ChannelErrorCode;
  throw new RangeError(`unknown channel error ${name}`);
}

const FAILED_LOG = /^Program (\w+) failed: custom program error: 0x([0-9a-f]+)$/;

/**
 * The failing program and custom code of a transaction error, from either shape it
 * reaches clients in: the JSON `TransactionError` of a landed transaction
 * (`{InstructionError: [i, {Custom: n}]}`), or the message of a preflight failure
 * ("… Error processing Instruction i: custom program error: 0x…", what web3.js keeps of it).
 */
function customError(err: unknown): { index: number; code: number } | null {
  if (err !== null && typeof err === 'object' && !(err instanceof Error)) {
    const ie = (err as { InstructionError?: unknown }).InstructionError;
    if (Array.isArray(ie) && ie.length === 2 && typeof ie[0] === 'number') {
      const c = ie[1] as { Custom?: unknown } | null;
      if (c !== null && typeof c === 'object' && typeof c.Custom === 'number') return { index: ie[0], code: c.Custom };
    }
    return null;
  }
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  const m = /Error processing Instruction (\d+): custom program error: 0x([0-9a-fA-F]+)/.exec(text);
  return m ? { index: Number(m[1]), code: parseInt(m[2], 16) } : null;
}

export interface ChannelErrorContext {
  /** The transaction's logs: a custom error raised by another program inside ours (an SPL
      Token CPI failing, say) is told apart from the program's own codes, which overlap in number. */
  logs?: readonly string[] | null;
  /** The program the logs must name as the failing one (default DEFAULT_CHANNEL_PROGRAM_ID). */
  programId?: PublicKey;
  /** The index of the channel instruction in the transaction: an error of another instruction
      (the Ed25519 precompile's, an ATA creation's) is not ours. */
  instructionIndex?: number;
}

/** The channel error name of a transaction error, or null when it is not one of ours. */
export function channelErrorName(err: unknown, ctx: ChannelErrorContext = {}): ChannelErrorName | null {
  const c = customError(err);
  if (c === null) return null;
  if (ctx.instructionIndex !== undefined && c.index !== ctx.instructionIndex) return null;
  const logs = ctx.logs;
  if (logs && logs.length > 0) {
    // The first "failed: custom program error" line with this code is the innermost program that raised it.
    let raisedBy: string | null = null;
    for (const l of logs) {
      const m = FAILED_LOG.exec(l);
      if (m && parseInt(m[2], 16) === c.code) { raisedBy = m[1]; break; }
    }
    if (raisedBy !== null && raisedBy !== (ctx.programId ?? DEFAULT_CHANNEL_PROGRAM_ID).toBase58()) return null;
  }
  return (CHANNEL_ERRORS as Record<number, ChannelErrorName>)[c.code] ?? null;
}

/** The channel address (PDA of ["channel", buyer, seller, mint, nonce u64 LE]) and its bump. */
export function channelAddressAndBump(programId: PublicKey, buyer: PublicKey, seller: PublicKey, mint: PublicKey, nonce: bigint): [PublicKey, number] {
  checkU64(nonce, 'nonce');
  return PublicKey.findProgramAddressSync([CHANNEL_SEED, buyer.toBytes(), seller.toBytes(), mint.toBytes(), u64le(nonce)], programId);
}

export function channelAddress(programId: PublicKey, buyer: PublicKey, seller: PublicKey, mint: PublicKey, nonce: bigint): PublicKey {
  return channelAddressAndBump(programId, buyer, seller, mint, nonce)[0];
}

/** The vault: the channel's associated token account (classic SPL Token) for `mint`. */
export function vaultAddress(channel: PublicKey, mint: PublicKey): PublicKey {
  return associatedTokenAddress(mint, channel, TOKEN_PROGRAM_ID);
}

// ---- instruction data ----------------------------------------------------------

function checkU64(v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`${what} must be a u64 bigint`);
}
function checkI64(v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw new RangeError(`${what} must be an i64 bigint`);
}
function u64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

export function encodeOpen(args: { nonce: bigint; deposit: bigint; expiry: bigint; voucherKey: PublicKey }): Buffer {
  checkU64(args.nonce, 'nonce');
  checkU64(args.deposit, 'deposit');
  checkI64(args.expiry, 'expiry');
  const b = Buffer.alloc(57);
  b[0] = ChannelTag.Open;
  b.writeBigUInt64LE(args.nonce, 1);
  b.writeBigUInt64LE(args.deposit, 9);
  b.writeBigInt64LE(args.expiry, 17);
  b.set(args.voucherKey.toBytes(), 25);
  return b;
}

export function encodeTopUp(amount: bigint): Buffer {
  checkU64(amount, 'amount');
  const b = Buffer.alloc(9);
  b[0] = ChannelTag.TopUp;
  b.writeBigUInt64LE(amount, 1);
  return b;
}

export function encodeExtend(expiry: bigint): Buffer {
  checkI64(expiry, 'expiry');
  const b = Buffer.alloc(9);
  b[0] = ChannelTag.Extend;
  b.writeBigInt64LE(expiry, 1);
  return b;
}

export function encodeClaim(amount: bigint, close: boolean): Buffer {
  checkU64(amount, 'amount');
  const b = Buffer.alloc(10);
  b[0] = ChannelTag.Claim;
  b.writeBigUInt64LE(amount, 1);
  b[9] = close ? 1 : 0;
  return b;
}

export function encodeReclaim(): Buffer {
  return Buffer.from([ChannelTag.Reclaim]);
}

// ---- instructions ---------------------------------------------------------------

const w = (pubkey: PublicKey, isSigner = false): AccountMeta => ({ pubkey, isSigner, isWritable: true });
const r = (pubkey: PublicKey, isSigner = false): AccountMeta => ({ pubkey, isSigner, isWritable: false });

/**
 * open: accounts 0 buyer (signer, writable), 1 channel, 2 vault, 3 buyer's token account
 * (the deposit's source), 4 seller, 5 mint, 6 system program, 7 token program.
 * The vault must exist: use `openInstructions`, which creates it first.
 */
export function openInstruction(args: {
  programId?: PublicKey; buyer: PublicKey; seller: PublicKey; mint: PublicKey; nonce: bigint;
  deposit: bigint; expiry: bigint; voucherKey: PublicKey; buyerTokenAccount?: PublicKey;
}): TransactionInstruction {
  const programId = args.programId ?? DEFAULT_CHANNEL_PROGRAM_ID;
  const channel = channelAddress(programId, args.buyer, args.seller, args.mint, args.nonce);
  return new TransactionInstruction({
    programId,
    data: encodeOpen(args),
    keys: [
      w(args.buyer, true), w(channel), w(vaultAddress(channel, args.mint)),
      w(args.buyerTokenAccount ?? associatedTokenAddress(args.mint, args.buyer)),
      r(args.seller), r(args.mint), r(SystemProgram.programId), r(TOKEN_PROGRAM_ID),
    ],
  });
}

/** The open transaction's instructions: create the vault (ATA, idempotent), then open. */
export function openInstructions(args: Parameters<typeof openInstruction>[0]): { channel: PublicKey; vault: PublicKey; instructions: TransactionInstruction[] } {
  const programId = args.programId ?? DEFAULT_CHANNEL_PROGRAM_ID;
  const channel = channelAddress(programId, args.buyer, args.seller, args.mint, args.nonce);
  const vault = vaultAddress(channel, args.mint);
  return {
    channel,
    vault,
    instructions: [
      createAssociatedTokenAccountIdempotentInstruction(args.buyer, vault, channel, args.mint, TOKEN_PROGRAM_ID),
      openInstruction(args),
    ],
  };
}

type ChannelRef = Pick<ChannelState, 'address' | 'programId' | 'buyer' | 'seller' | 'mint' | 'vault'>;

/** top_up: 0 buyer (signer), 1 channel, 2 vault, 3 buyer's token account, 4 token program. */
export function topUpInstruction(args: { channel: ChannelRef; amount: bigint; buyerTokenAccount?: PublicKey }): TransactionInstruction {
  const c = args.channel;
  return new TransactionInstruction({
    programId: c.programId,
    data: encodeTopUp(args.amount),
    keys: [
      w(c.buyer, true), w(c.address), w(c.vault),
      w(args.buyerTokenAccount ?? associatedTokenAddress(c.mint, c.buyer)), r(TOKEN_PROGRAM_ID),
    ],
  });
}

/** extend: 0 buyer (signer), 1 channel. */
export function extendInstruction(args: { channel: ChannelRef; expiry: bigint }): TransactionInstruction {
  const c = args.channel;
  return new TransactionInstruction({
    programId: c.programId,
    data: encodeExtend(args.expiry),
    keys: [w(c.buyer, true), w(c.address)],
  });
}

/** The Ed25519 precompile instruction that proves a voucher (everything inline, one signature). */
export function voucherVerifyInstruction(args: { programId: PublicKey; voucherKey: PublicKey; voucher: Voucher }): TransactionInstruction {
  return Ed25519Program.createInstructionWithPublicKey({
    publicKey: args.voucherKey.toBytes(),
    message: voucherMessage({ programId: args.programId.toBytes(), channel: args.voucher.channel.toBytes(), amount: args.voucher.amount }),
    signature: args.voucher.signature,
  });
}

/**
 * claim: 0 seller (signer), 1 channel, 2 vault, 3 seller's token account, 4 buyer (rent on
 * close), 5 buyer's token account (refund on close), 6 instructions sysvar, 7 token program.
 */
export function claimInstruction(args: {
  channel: ChannelRef; amount: bigint; close: boolean; sellerTokenAccount?: PublicKey; buyerTokenAccount?: PublicKey;
}): TransactionInstruction {
  const c = args.channel;
  return new TransactionInstruction({
    programId: c.programId,
    data: encodeClaim(args.amount, args.close),
    keys: [
      w(c.seller, true), w(c.address), w(c.vault),
      w(args.sellerTokenAccount ?? associatedTokenAddress(c.mint, c.seller)),
      w(c.buyer), w(args.buyerTokenAccount ?? associatedTokenAddress(c.mint, c.buyer)),
      r(SYSVAR_INSTRUCTIONS_PUBKEY), r(TOKEN_PROGRAM_ID),
    ],
  });
}

/**
 * The claim's instructions: the seller's token account (idempotent; paid by the seller), the
 * voucher check, then claim — the voucher check must come right before the claim.
 */
export function claimInstructions(args: {
  channel: ChannelRef & Pick<ChannelState, 'voucherKey'>; voucher: Voucher; close: boolean;
  sellerTokenAccount?: PublicKey; buyerTokenAccount?: PublicKey; createSellerTokenAccount?: boolean;
}): TransactionInstruction[] {
  const c = args.channel;
  if (!args.voucher.channel.equals(c.address)) throw new RangeError('voucher is for another channel');
  const out: TransactionInstruction[] = [];
  if (args.createSellerTokenAccount !== false && args.sellerTokenAccount === undefined) {
    out.push(createAssociatedTokenAccountIdempotentInstruction(c.seller, associatedTokenAddress(c.mint, c.seller), c.seller, c.mint, TOKEN_PROGRAM_ID));
  }
  out.push(voucherVerifyInstruction({ programId: c.programId, voucherKey: c.voucherKey, voucher: args.voucher }));
  out.push(claimInstruction({ channel: c, amount: args.voucher.amount, close: args.close, sellerTokenAccount: args.sellerTokenAccount, buyerTokenAccount: args.buyerTokenAccount }));
  return out;
}

/** reclaim: 0 buyer (signer, writable), 1 channel, 2 vault, 3 buyer's token account, 4 token program. */
export function reclaimInstruction(args: { channel: ChannelRef; buyerTokenAccount?: PublicKey }): TransactionInstruction {
  const c = args.channel;
  return new TransactionInstruction({
    programId: c.programId,
    data: encodeReclaim(),
    keys: [
      w(c.buyer, true), w(c.address), w(c.vault),
      w(args.buyerTokenAccount ?? associatedTokenAddress(c.mint, c.buyer)), r(TOKEN_PROGRAM_ID),
    ],
  });
}

// ---- state ----------------------------------------------------------------------

export type ChannelDecodeErrorCode = 'bad_length' | 'bad_version' | 'bad_padding';

/** Bytes that are not a channel state account of this version. */
export class ChannelDecodeError extends Error {
  readonly code: ChannelDecodeErrorCode;
  constructor(code: ChannelDecodeErrorCode, message: string) {
    super(message);
    this.name = 'ChannelDecodeError';
    this.code = code;
  }
}

/** Decode a state account's data (the caller checks the account's owner is the program). */
export function decodeChannel(address: PublicKey, programId: PublicKey, data: Uint8Array): ChannelState {
  if (!(data instanceof Uint8Array) || data.length !== CHANNEL_STATE_LEN) {
    throw new ChannelDecodeError('bad_length', `channel account must be ${CHANNEL_STATE_LEN} bytes, got ${data?.length}`);
  }
  if (data[0] !== CHANNEL_STATE_VERSION) throw new ChannelDecodeError('bad_version', `unknown channel state version ${data[0]}`);
  for (let i = 2; i < 8; i++) if (data[i] !== 0) throw new ChannelDecodeError('bad_padding', 'channel state padding is not zero');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const key = (at: number): PublicKey => new PublicKey(data.subarray(at, at + 32));
  return {
    address,
    programId,
    buyer: key(8),
    seller: key(40),
    mint: key(72),
    vault: key(104),
    voucherKey: key(136),
    deposit: dv.getBigUint64(168, true),
    claimed: dv.getBigUint64(176, true),
    expiry: dv.getBigInt64(184, true),
    nonce: dv.getBigUint64(192, true),
  };
}
