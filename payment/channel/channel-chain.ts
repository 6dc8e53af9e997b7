/**
 * ChannelChain on a web3.js Connection: read channel accounts and the cluster clock,
 * and send the five channel transactions (build, sign, send with preflight, confirm by
 * polling getSignatureStatuses — no websockets, so any HTTP JSON-RPC endpoint works,
 * the local ledger included). Every failure is a ChannelTxError; when the program
 * refused, it carries the program's error name (CHANNEL_ERRORS).
 */
import {
  Connection, PublicKey, SYSVAR_CLOCK_PUBKEY, TransactionMessage, VersionedTransaction,
  type Keypair, type TransactionInstruction,
} from '@solana/web3.js';
import {
  CHANNEL_STATE_LEN, channelErrorName, claimInstructions, decodeChannel, DEFAULT_CHANNEL_PROGRAM_ID, extendInstruction,
  openInstructions, reclaimInstruction, topUpInstruction, type ChannelErrorName,
} from './program.js';
import type { ChannelChain, ChannelState, ChannelTx } from './types.js';
import { verifyVoucher, voucherMessage } from './voucher.js';

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

export interface ConnectionChannelChainOptions {
  programId?: PublicKey;
  /** Give up waiting for `confirmed` after this long (default 60 s). */
  confirmTimeoutMs?: number;
  /** Status poll interval (default 400 ms, one slot). */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rpc<T>(what: string, call: () => Promise<T>, signature?: string): Promise<T> {
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

/** A ChannelChain on an existing Connection. */
export function connectionChannelChain(conn: Connection, opts: ConnectionChannelChainOptions = {}): ChannelChain {
  const programId = opts.programId ?? DEFAULT_CHANNEL_PROGRAM_ID;
  const confirmTimeoutMs = opts.confirmTimeoutMs ?? 60_000;
  const pollIntervalMs = opts.pollIntervalMs ?? 400;
  const sleep = opts.sleep ?? defaultSleep;

  async function send(what: string, instructions: TransactionInstruction[], payer: Keypair): Promise<ChannelTx> {
    const { blockhash, lastValidBlockHeight } = await rpc('getLatestBlockhash', () => conn.getLatestBlockhash('confirmed'));
    const msg = new TransactionMessage({ payerKey: payer.publicKey, recentBlockhash: blockhash, instructions }).compileToV0Message();
    const tx = new VersionedTransaction(msg);
    tx.sign([payer]);
    let signature: string;
    try {
      signature = await conn.sendRawTransaction(tx.serialize(), { skipPreflight: false, preflightCommitment: 'confirmed', maxRetries: 5 });
    } catch (e) {
      const f = preflightFailure(e);
      if (f === null) throw new ChannelTxError('rpc_unavailable', `${what}: sendTransaction: ${(e as Error).message}`);
      const name = channelErrorName(f.message, { logs: f.logs, programId, instructionIndex: instructions.length - 1 });
      throw new ChannelTxError('tx_failed', `${what} refused${name ? `: ${name}` : ''}: ${f.message.split('\n')[0]}`, { channelError: name, txError: f.message, logs: f.logs });
    }
    const deadline = Date.now() + confirmTimeoutMs;
    for (;;) {
      const st = (await rpc('getSignatureStatuses', () => conn.getSignatureStatuses([signature], { searchTransactionHistory: true }), signature)).value[0];
      if (st) {
        if (st.err) {
          const landed = await conn.getTransaction(signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 }).catch(() => null);
          const logs = landed?.meta?.logMessages ?? [];
          const name = channelErrorName(st.err, { logs, programId, instructionIndex: instructions.length - 1 });
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

  return {
    programId,
    async fetchChannel(address) {
      const info = await rpc('getAccountInfo(channel)', () => conn.getAccountInfo(address, 'confirmed'));
      if (info === null) return null;
      // Lamports sent to a channel address that was never opened (or was closed) leave a
      // system-owned account there: that is not a channel.
      if (info.owner.equals(PublicKey.default) && info.data.length === 0) return null;
      if (!info.owner.equals(programId)) {
        throw new ChannelTxError('bad_account', `account ${address.toBase58()} is owned by ${info.owner.toBase58()}, not the channel program`);
      }
      if (info.data.length !== CHANNEL_STATE_LEN) throw new ChannelTxError('bad_account', `channel ${address.toBase58()} has ${info.data.length} bytes`);
      try {
        return decodeChannel(address, programId, new Uint8Array(info.data));
      } catch (e) {
        throw new ChannelTxError('bad_account', `channel ${address.toBase58()}: ${(e as Error).message}`);
      }
    },
    async clock() {
      const info = await rpc('getAccountInfo(clock)', () => conn.getAccountInfo(SYSVAR_CLOCK_PUBKEY, 'confirmed'));
      // Clock: slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp (i64 at 32).
      if (info === null || info.data.length < 40) throw new ChannelTxError('bad_account', 'the Clock sysvar is missing or short');
      return Buffer.from(info.data).readBigInt64LE(32);
    },
    async open(a) {
      const o = openInstructions({
        programId, buyer: a.buyer.publicKey, seller: a.seller, mint: a.mint, nonce: a.nonce, deposit: a.deposit, expiry: a.expiry, voucherKey: a.voucherKey,
      });
      const tx = await send('open', o.instructions, a.buyer);
      return { ...tx, channel: o.channel };
    },
    async topUp(a) {
      return send('top_up', [topUpInstruction({ channel: own(a.channel), amount: a.amount })], a.buyer);
    },
    async extend(a) {
      return send('extend', [extendInstruction({ channel: own(a.channel), expiry: a.expiry })], a.buyer);
    },
    async claim(a) {
      const c = own(a.channel);
      const msg = voucherMessage({ programId: programId.toBytes(), channel: c.address.toBytes(), amount: a.voucher.amount });
      if (!a.voucher.channel.equals(c.address) || !verifyVoucher(c.voucherKey.toBytes(), msg, a.voucher.signature)) {
        throw new ChannelTxError('bad_voucher', `voucher for ${a.voucher.amount} does not verify for channel ${c.address.toBase58()}`);
      }
      return send('claim', claimInstructions({ channel: own(a.channel), voucher: a.voucher, close: a.close }), a.seller);
    },
    async reclaim(a) {
      return send('reclaim', [reclaimInstruction({ channel: own(a.channel) })], a.buyer);
    },
  };

  /** A channel of another program id would send our instructions elsewhere: refuse it. */
  function own(c: ChannelState): ChannelState {
    if (!c.programId.equals(programId)) throw new ChannelTxError('bad_account', `channel ${c.address.toBase58()} belongs to program ${c.programId.toBase58()}`);
    return c;
  }
}

/** A ChannelChain on a JSON-RPC URL, with a per-request timeout. */
export function channelChainFromUrl(url: string, opts: ConnectionChannelChainOptions & { requestTimeoutMs?: number } = {}): ChannelChain {
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const conn = new Connection(url, {
    commitment: 'confirmed',
    disableRetryOnRateLimit: true,
    fetch: (input, init) => fetch(input as string, { ...(init as RequestInit), signal: AbortSignal.timeout(timeout) }) as never,
  });
  return connectionChannelChain(conn, opts);
}
