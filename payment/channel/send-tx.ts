/**
 * Sending one transaction the way the channel code does: latest blockhash, sign, send
 * with preflight, confirm by polling getSignatureStatuses (no websockets: any HTTP
 * JSON-RPC endpoint works). Every failure is a ChannelTxError; when the channel program
 * refused, it carries the program's error name.
 */
import {
  Connection, TransactionMessage, VersionedTransaction, type Keypair, type PublicKey, type TransactionInstruction,
} from '@solana/web3.js';
import { channelErrorName, type ChannelErrorName } from './program.js';
import type { ChannelTx } from './types.js';

export type ChannelTxErrorCode =
  /** The transaction was refused at preflight or landed with an error: no money moved. */
  | 'tx_failed'
  /** Its blockhash expired before it landed: it never will, no money moved. */
  | 'expired'
  /** Not confirmed within the timeout: it may still land (`signature` says which to watch). */
  | 'not_confirmed'
  /** The RPC failed (network, HTTP error) while sending or polling. */
  | 'rpc_unavailable'
  /** An account read back is not what a channel or the clock looks like. */
  | 'bad_account'
  /** The voucher does not verify with the channel's voucher key (checked before sending: no fee). */
  | 'bad_voucher';

export class ChannelTxError extends Error {
  readonly code: ChannelTxErrorCode;
  /** The program's error name when the channel program refused the transaction. */
  readonly channelError: ChannelErrorName | null;
  /** The transaction error as the RPC gave it (JSON or the preflight message). */
  readonly txError: unknown;
  readonly signature: string | undefined;
  readonly logs: readonly string[];
  constructor(code: ChannelTxErrorCode, message: string, extra: { channelError?: ChannelErrorName | null; txError?: unknown; signature?: string; logs?: readonly string[] } = {}) {
    super(message);
    this.name = 'ChannelTxError';
    this.code = code;
    this.channelError = extra.channelError ?? null;
    this.txError = extra.txError;
    this.signature = extra.signature;
    this.logs = extra.logs ?? [];
  }
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run one RPC call; a failure is ChannelTxError rpc_unavailable. */
export async function rpc<T>(what: string, call: () => Promise<T>, signature?: string): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw new ChannelTxError('rpc_unavailable', `${what}: ${(e as Error).message}`, signature === undefined ? {} : { signature });
  }
}

/** What a preflight refusal looks like from web3.js: a message and, usually, the logs. */
function preflightFailure(e: unknown): { message: string; logs: string[] } | null {
  if (!(e instanceof Error)) return null;
  if (!/Transaction simulation failed|Simulation failed|custom program error|Error processing Instruction/.test(e.message)) return null;
  const logs = (e as { logs?: unknown }).logs;
  return { message: e.message, logs: Array.isArray(logs) ? logs.filter((l): l is string => typeof l === 'string') : [] };
}

export interface SendOptions {
  /** The channel program (its errors are named); default: none named. */
  programId?: PublicKey;
  /** Give up waiting for `confirmed` after this long (default 60 s). */
  confirmTimeoutMs?: number;
  /** Status poll interval (default 400 ms, one slot). */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Send `instructions` signed by `signers` (the first pays) and wait for `confirmed`. */
export async function sendChannelTransaction(conn: Connection, what: string, instructions: TransactionInstruction[], signers: Keypair[], opts: SendOptions = {}): Promise<ChannelTx> {
  const confirmTimeoutMs = opts.confirmTimeoutMs ?? 60_000;
  const pollIntervalMs = opts.pollIntervalMs ?? 400;
  const sleep = opts.sleep ?? defaultSleep;
  const programId = opts.programId;
  const payer = signers[0];
  const { blockhash, lastValidBlockHeight } = await rpc('getLatestBlockhash', () => conn.getLatestBlockhash('confirmed'));
  const msg = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions }).compileToV0Message();
  const tx = new VersionedTransaction(msg);
  tx.sign(signers);
  let signature: string;
  try {
    signature = await conn.sendRawTransaction(tx.serialize(), { skipPreflight: false, preflightCommitment: 'confirmed', maxRetries: 5 });
  } catch (e) {
    const f = preflightFailure(e);
    if (f === null) throw new ChannelTxError('rpc_unavailable', `${what}: sendTransaction: ${(e as Error).message}`);
    const name = channelErrorName(f.message, programId ? { logs: f.logs, programId, instructionIndex: instructions.length - 1 } : { instructionIndex: -1 });
    throw new ChannelTxError('tx_failed', `${what} refused${name ? `: ${name}` : ''}: ${f.message.split('\n')[0]}`, { channelError: name, txError: f.message, logs: f.logs });
  }
  const deadline = Date.now() + confirmTimeoutMs;
  for (;;) {
    const st = (await rpc('getSignatureStatuses', () => conn.getSignatureStatuses([signature], { searchTransactionHistory: true }), signature)).value[0];
    if (st) {
      if (st.err) {
        const landed = await conn.getTransaction(signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 }).catch(() => null);
        const logs = landed?.meta?.logMessages ?? [];
        const name = channelErrorName(st.err, programId ? { logs, programId, instructionIndex: instructions.length - 1 } : { instructionIndex: -1 });
        throw new ChannelTxError('tx_failed', `${what} failed${name ? `: ${name}` : ''}: ${JSON.stringify(st.err)}`, { channelError: name, txError: st.err, signature, logs });
      }
      if (st.confirmationStatus === 'confirmed' || st.confirmationStatus === 'finalized') return { signature };
    } else {
      const height = await rpc('getBlockHeight', () => conn.getBlockHeight('confirmed'), signature);
      if (height > lastValidBlockHeight) throw new ChannelTxError('expired', `${what}: blockhash expired before the transaction landed`, { signature });
    }
    if (Date.now() >= deadline) throw new ChannelTxError('not_confirmed', `${what}: not confirmed within ${confirmTimeoutMs} ms`, { signature });
    await sleep(pollIntervalMs);
  }
}
