/**
 * `jsonParsed` instructions for the programs SeedPay transactions use, in the
 * shapes agave's transaction-status parser produces. Anything else is returned
 * raw (`{programId, accounts, data}`), which is also what real nodes do for
 * programs they cannot parse.
 */
import bs58 from 'bs58';
import { TOKEN_PROGRAM, TOKEN_2022_PROGRAM, uiTokenAmount } from './token-accounts.js';

const MEMO_PROGRAM = 'MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr';
const MEMO_V1_PROGRAM = 'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo';
const ATA_PROGRAM = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';
const SYSTEM_PROGRAM = '11111111111111111111111111111111';

export type JsonInstruction =
  | { program: string; programId: string; parsed: unknown; stackHeight: number | null }
  | { programId: string; accounts: string[]; data: string; stackHeight: number | null };

function u64(data: Uint8Array, at: number): bigint | null {
  if (data.length < at + 8) return null;
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(at, true);
}

function parseToken(data: Uint8Array, acc: string[]): unknown {
  const amount = u64(data, 1);
  switch (data[0]) {
    case 3:
      if (amount === null || acc.length < 3) return null;
      return { type: 'transfer', info: { source: acc[0], destination: acc[1], authority: acc[2], amount: amount.toString() } };
    case 12:
      if (amount === null || data.length < 10 || acc.length < 4) return null;
      return {
        type: 'transferChecked',
        info: { source: acc[0], mint: acc[1], destination: acc[2], authority: acc[3], tokenAmount: uiTokenAmount(amount, data[9]) },
      };
    case 7:
      if (amount === null || acc.length < 3) return null;
      return { type: 'mintTo', info: { mint: acc[0], account: acc[1], mintAuthority: acc[2], amount: amount.toString() } };
    default:
      return null;
  }
}

function parseAta(data: Uint8Array, acc: string[]): unknown {
  if (acc.length < 6) return null;
  const type = data.length === 0 || data[0] === 0 ? 'create' : data[0] === 1 ? 'createIdempotent' : null;
  if (type === null) return null;
  return { type, info: { source: acc[0], account: acc[1], wallet: acc[2], mint: acc[3], systemProgram: acc[4], tokenProgram: acc[5] } };
}

function parseSystem(data: Uint8Array, acc: string[]): unknown {
  if (data.length < 4) return null;
  const kind = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
  if (kind === 2 && acc.length >= 2) {
    const lamports = u64(data, 4);
    return lamports === null ? null : { type: 'transfer', info: { source: acc[0], destination: acc[1], lamports: Number(lamports) } };
  }
  if (kind === 0 && acc.length >= 2 && data.length >= 52) {
    return {
      type: 'createAccount',
      info: { source: acc[0], newAccount: acc[1], lamports: Number(u64(data, 4)), space: Number(u64(data, 12)), owner: bs58.encode(data.subarray(20, 52)) },
    };
  }
  return null;
}

export function toJsonParsedInstruction(programId: string, accounts: string[], data: Uint8Array, stackHeight: number | null): JsonInstruction {
  let program: string | null = null;
  let parsed: unknown = null;
  if (programId === MEMO_PROGRAM || programId === MEMO_V1_PROGRAM) {
    const text = new TextDecoder('utf-8', { fatal: true });
    try {
      parsed = text.decode(data);
      program = 'spl-memo';
    } catch {
      parsed = null;
    }
  } else if (programId === TOKEN_PROGRAM || programId === TOKEN_2022_PROGRAM) {
    parsed = parseToken(data, accounts);
    program = 'spl-token';
  } else if (programId === ATA_PROGRAM) {
    parsed = parseAta(data, accounts);
    program = 'spl-associated-token-account';
  } else if (programId === SYSTEM_PROGRAM) {
    parsed = parseSystem(data, accounts);
    program = 'system';
  }
  if (program !== null && parsed !== null) return { program, programId, parsed, stackHeight };
  return { programId, accounts, data: bs58.encode(data), stackHeight };
}
