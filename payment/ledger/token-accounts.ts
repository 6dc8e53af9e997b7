/**
 * Reading SPL Token / Token-2022 account and mint bytes, and the `uiTokenAmount`
 * shape RPC nodes put in token balances. The ledger needs this because litesvm
 * records no token balances: we snapshot token accounts around each transaction.
 */
import { PublicKey } from '@solana/web3.js';
import bs58 from 'bs58';

export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
export const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';

const ACCOUNT_LEN = 165;
const MINT_LEN = 82;
const ACCOUNT_TYPE_MINT = 1;
const ACCOUNT_TYPE_ACCOUNT = 2;

export function isTokenProgram(owner: string): boolean {
  return owner === TOKEN_PROGRAM || owner === TOKEN_2022_PROGRAM;
}

export interface TokenAccountState {
  mint: string;
  owner: string;
  amount: bigint;
  /** 0 uninitialized, 1 initialized, 2 frozen */
  state: number;
}

/** Token account layout: mint(32) owner(32) amount(u64 LE) ... state at 108. */
export function parseTokenAccount(data: Uint8Array): TokenAccountState | null {
  const isAccount = data.length === ACCOUNT_LEN || (data.length > ACCOUNT_LEN && data[ACCOUNT_LEN] === ACCOUNT_TYPE_ACCOUNT);
  if (!isAccount) return null;
  const state = data[108];
  if (state === 0) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    mint: bs58.encode(data.subarray(0, 32)),
    owner: bs58.encode(data.subarray(32, 64)),
    amount: view.getBigUint64(64, true),
    state,
  };
}

export interface MintState {
  decimals: number;
  supply: bigint;
  mintAuthority: string | null;
  freezeAuthority: string | null;
  isInitialized: boolean;
}

/** Mint layout: authority option(4+32) supply(u64) decimals(u8) initialized(u8) freeze option(4+32). */
export function parseMint(data: Uint8Array): MintState | null {
  const isMint = data.length === MINT_LEN || (data.length > ACCOUNT_LEN && data[ACCOUNT_LEN] === ACCOUNT_TYPE_MINT);
  if (!isMint) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const opt = (at: number): string | null => (view.getUint32(at, true) === 1 ? new PublicKey(data.subarray(at + 4, at + 36)).toBase58() : null);
  return {
    mintAuthority: opt(0),
    supply: view.getBigUint64(36, true),
    decimals: data[44],
    isInitialized: data[45] === 1,
    freezeAuthority: opt(46),
  };
}

export interface UiTokenAmount {
  amount: string;
  decimals: number;
  uiAmount: number | null;
  uiAmountString: string;
}

/** Exact decimal string with trailing zeros trimmed, as agave's `real_number_string_trimmed`. */
export function decimalString(amount: bigint, decimals: number): string {
  const s = amount.toString();
  if (decimals === 0) return s;
  const padded = s.padStart(decimals + 1, '0');
  const int = padded.slice(0, padded.length - decimals);
  const frac = padded.slice(padded.length - decimals).replace(/0+$/, '');
  return frac.length > 0 ? `${int}.${frac}` : int;
}

/**
 * `uiAmount` is a float in the RPC format (display only; nothing in SeedPay reads
 * it — money is always taken from `amount`).
 */
export function uiTokenAmount(amount: bigint, decimals: number): UiTokenAmount {
  const uiAmountString = decimalString(amount, decimals);
  return { amount: amount.toString(), decimals, uiAmount: Number(uiAmountString), uiAmountString };
}
