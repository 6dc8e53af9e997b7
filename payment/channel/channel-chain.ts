/**
 * ChannelChain on a web3.js Connection: read channel accounts and the cluster clock,
 * and send the five channel transactions (send-tx.ts: preflight, confirmation polled, no
 * websockets — any HTTP JSON-RPC endpoint works, the local ledger included). Every failure
 * is a ChannelTxError; when the program refused, it carries the program's error name.
 */
import {
  Connection, PublicKey, SYSVAR_CLOCK_PUBKEY, type Keypair, type TransactionInstruction,
} from '@solana/web3.js';
import {
  CHANNEL_STATE_LEN, claimInstructions, decodeChannel, DEFAULT_CHANNEL_PROGRAM_ID, extendInstruction,
  openInstructions, reclaimInstruction, topUpInstruction,
} from './program.js';
import { ChannelTxError, rpc, sendChannelTransaction } from './send-tx.js';
import type { ChannelChain, ChannelState, ChannelTx } from './types.js';
import { verifyVoucher, voucherMessage } from './voucher.js';

export { ChannelTxError, type ChannelTxErrorCode } from './send-tx.js';

export interface ConnectionChannelChainOptions {
  programId?: PublicKey;
  /** Give up waiting for `confirmed` after this long (default 60 s). */
  confirmTimeoutMs?: number;
  /** Status poll interval (default 400 ms, one slot). */
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** A ChannelChain on an existing Connection. */
export function connectionChannelChain(conn: Connection, opts: ConnectionChannelChainOptions = {}): ChannelChain {
  const programId = opts.programId ?? DEFAULT_CHANNEL_PROGRAM_ID;

  const send = (what: string, instructions: TransactionInstruction[], payer: Keypair): Promise<ChannelTx> =>
    sendChannelTransaction(conn, what, instructions, [payer], { programId, confirmTimeoutMs: opts.confirmTimeoutMs, pollIntervalMs: opts.pollIntervalMs, sleep: opts.sleep });

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
