/**
 * The ledger's state machine around litesvm: accepts signed transaction bytes,
 * runs them on the real SPL programs, and keeps what litesvm does not (LEDGER.md):
 * the raw transaction, slot, block time, fee, lamport and token balances before
 * and after, so `getTransaction` can answer like a real RPC node.
 *
 * Time model: one transaction = one slot. After each recorded transaction the
 * slot advances and a fresh blockhash is issued; blockhashes stay valid for
 * MAX_BLOCKHASH_AGE slots like on a real cluster (litesvm alone only accepts the
 * newest one, so we do the check ourselves and turn litesvm's off). Every recorded
 * transaction is final at once.
 */
import { readFileSync } from 'node:fs';
import { bytesEqual } from '../../wire/bytes.js';
import { DEFAULT_CHANNEL_PROGRAM_ID } from '../channel/program.js';
import { defaultChannelProgramPath } from '../channel/program-binary.js';
import { LiteSVM } from 'litesvm';
import { getTransactionDecoder } from '@solana/kit';
import {
  AddressLookupTableAccount, Keypair, PublicKey, SystemProgram, TransactionInstruction, TransactionMessage, VersionedTransaction,
} from '@solana/web3.js';
import bs58 from 'bs58';
import {
  LedgerRpcError, RPC_INVALID_PARAMS, RPC_SEND_TX_PREFLIGHT_FAILURE, RPC_SIGVERIFY_FAILURE,
  txErrorMessage, txErrorToJson, type TxErrorJson,
} from './errors.js';
import { TOKEN_PROGRAM, TOKEN_2022_PROGRAM, parseMint, parseTokenAccount, uiTokenAmount, type UiTokenAmount } from './token-accounts.js';

const MAX_BLOCKHASH_AGE = 150;
export const LAMPORTS_PER_SIGNATURE = 5000;
/** Lamports the faucet starts with (1 000 000 SOL): enough for any test or bench. */
const FAUCET_LAMPORTS = 1_000_000_000_000_000n;
const MAX_TX_BYTES = 1232;

export interface TokenBalance {
  accountIndex: number;
  mint: string;
  owner: string;
  programId: string;
  uiTokenAmount: UiTokenAmount;
}

export interface InnerInstructionRecord {
  programIdIndex: number;
  accounts: number[];
  data: Uint8Array;
  stackHeight: number;
}

/** Everything a real node can tell about one processed transaction. */
export interface TxRecord {
  signature: string;
  raw: Uint8Array;
  tx: VersionedTransaction;
  /** static keys, then lookup-loaded writable, then lookup-loaded readonly */
  accountKeys: PublicKey[];
  loadedAddresses: { writable: string[]; readonly: string[] };
  slot: number;
  blockTime: number;
  err: TxErrorJson | null;
  fee: number;
  preBalances: number[];
  postBalances: number[];
  preTokenBalances: TokenBalance[];
  postTokenBalances: TokenBalance[];
  logMessages: string[];
  innerInstructions: { index: number; instructions: InnerInstructionRecord[] }[];
  computeUnitsConsumed: number;
}

export interface SimulationResult {
  err: TxErrorJson | null;
  logs: string[];
  unitsConsumed: number;
  replacementBlockhash: { blockhash: string; lastValidBlockHeight: number } | null;
}

/** A raw account as litesvm's native binding hands it out. */
interface NativeAccount {
  lamports(): bigint;
  data(): Uint8Array;
  owner(): Uint8Array;
  executable(): boolean;
  rentEpoch(): bigint;
}
interface NativeSvm {
  getAccount(pubkey: Uint8Array): NativeAccount | null;
  setSigverify(on: boolean): void;
}
interface NativeMeta {
  logs(): string[];
  innerInstructions(): { instruction(): { programIdIndex(): number; accounts(): Uint8Array; data(): Uint8Array }; stackHeight(): number }[][];
  computeUnitsConsumed(): bigint;
}

export interface AccountView {
  lamports: bigint;
  owner: PublicKey;
  data: Uint8Array;
  executable: boolean;
  rentEpoch: bigint;
}

interface KeySnapshot {
  lamports: bigint;
  token: { mint: string; owner: string; amount: bigint; programId: string } | null;
}

const TOKEN_PROGRAM_BYTES = new PublicKey(TOKEN_PROGRAM).toBytes();
const TOKEN_2022_PROGRAM_BYTES = new PublicKey(TOKEN_2022_PROGRAM).toBytes();

const PRECOMPILES = new Set([
  'Ed25519SigVerify111111111111111111111111111', 'KeccakSecp256k11111111111111111111111111111', 'Secp256r1SigVerify1111111111111111111111111',
]);

/** Signatures the precompile instructions verify: each costs a signature fee, as on a cluster. */
function precompileSignatures(vtx: VersionedTransaction): number {
  const keys = vtx.message.staticAccountKeys;
  let n = 0;
  for (const ix of vtx.message.compiledInstructions) {
    const program = keys[ix.programIdIndex];
    if (program !== undefined && PRECOMPILES.has(program.toBase58()) && ix.data.length > 0) n += ix.data[0];
  }
  return n;
}

function preflightError(err: TxErrorJson, logs: string[], unitsConsumed: number): LedgerRpcError {
  return new LedgerRpcError(RPC_SEND_TX_PREFLIGHT_FAILURE, `Transaction simulation failed: ${txErrorMessage(err)}`, {
    accounts: null, err, innerInstructions: null, logs, replacementBlockhash: null, returnData: null, unitsConsumed,
  });
}

export interface EngineOptions {
  /**
   * The SeedPay channel escrow (program/channel/), loaded at DEFAULT_CHANNEL_PROGRAM_ID:
   * a path to its .so, or false for none. Default: the checkout's
   * program/channel/build/seedpay_channel.so when it was built.
   */
  channelProgram?: string | false;
  /** Base58 genesis hash this ledger answers with; random when absent. */
  genesisHash?: string;
  /** Recorded transactions kept for lookups (oldest forgotten first). */
  historyCapacity?: number;
  /** Wall clock in ms; the ledger's block time follows it unless frozen. */
  now?: () => number;
}

export class LedgerEngine {
  readonly genesisHash: string;
  readonly faucet: Keypair = Keypair.generate();
  private readonly svm: LiteSVM;
  private readonly native: NativeSvm;
  private readonly decoder = getTransactionDecoder();
  private readonly history = new Map<string, TxRecord>();
  private readonly historyCapacity: number;
  private readonly blockhashes = new Map<string, number>();
  private readonly mintDecimals = new Map<string, number>();
  private readonly now: () => number;
  private frozenUnixSeconds: number | null = null;
  private readonly listeners: ((rec: TxRecord) => void)[] = [];
  private currentSlot = 1;
  /** Whether the channel escrow program is loaded (at DEFAULT_CHANNEL_PROGRAM_ID). */
  readonly channelProgramLoaded: boolean = false;
  private txCount = 0;

  constructor(opts: EngineOptions = {}) {
    this.genesisHash = opts.genesisHash ?? bs58.encode(Keypair.generate().publicKey.toBytes());
    this.historyCapacity = opts.historyCapacity ?? 1_000_000;
    this.now = opts.now ?? Date.now;
    // History in litesvm too, as a second guard against duplicates (LEDGER.md: the
    // default forgets after ~32 transactions).
    this.svm = new LiteSVM()
      .withLamports(FAUCET_LAMPORTS * 2n)
      .withTransactionHistory(10_000n)
      .withBlockhashCheck(false);
    // The public getAccount re-creates a kit codec per call (~65 µs); the native
    // binding takes raw key bytes (~6 µs). Snapshots read ~10 accounts per transaction.
    this.native = (this.svm as unknown as { inner: NativeSvm }).inner;
    const funded = this.svm.airdrop(this.faucet.publicKey.toBase58() as never, FAUCET_LAMPORTS as never);
    if (funded === null || 'err' in funded) throw new Error('local ledger: could not fund its faucet');
    const so = opts.channelProgram === undefined ? defaultChannelProgramPath() : opts.channelProgram;
    if (so !== false && so !== null) {
      // A missing explicit path throws here: a ledger without the program the caller asked for is a setup bug.
      this.svm.addProgram(DEFAULT_CHANNEL_PROGRAM_ID.toBase58() as never, readFileSync(so));
      this.channelProgramLoaded = true;
    }
    this.applyClock();
    this.issueBlockhash();
  }

  get slot(): number { return this.currentSlot; }
  get transactionCount(): number { return this.txCount; }

  /** Freeze block time at `unixSeconds`, or follow the wall clock again with null. */
  setClock(unixSeconds: number | null): void {
    this.frozenUnixSeconds = unixSeconds;
    this.applyClock();
  }

  unixTimestamp(): number {
    return this.frozenUnixSeconds ?? Math.floor(this.now() / 1000);
  }

  latestBlockhash(): { blockhash: string; lastValidBlockHeight: number } {
    const blockhash = this.svm.latestBlockhash();
    return { blockhash, lastValidBlockHeight: this.blockhashes.get(blockhash) ?? this.currentSlot + MAX_BLOCKHASH_AGE };
  }

  isBlockhashValid(blockhash: string): boolean {
    const last = this.blockhashes.get(blockhash);
    return last !== undefined && last >= this.currentSlot;
  }

  /** Make every outstanding blockhash invalid (tests of expiry). */
  expireAllBlockhashes(): void {
    this.blockhashes.clear();
    this.advanceSlot();
  }

  minimumBalanceForRentExemption(dataLen: number): bigint {
    return this.svm.minimumBalanceForRentExemption(BigInt(dataLen));
  }

  getAccount(key: PublicKey): AccountView | null {
    const a = this.native.getAccount(key.toBytes());
    if (a === null) return null;
    const lamports = a.lamports();
    // litesvm keeps zero-lamport accounts around after they are closed; a node does not.
    if (lamports === 0n) return null;
    return { lamports, owner: new PublicKey(a.owner()), data: a.data(), executable: a.executable(), rentEpoch: a.rentEpoch() };
  }

  /** Called after each recorded transaction (websocket signature notifications). */
  onRecorded(listener: (rec: TxRecord) => void): void {
    this.listeners.push(listener);
  }

  getTransaction(signature: string): TxRecord | undefined {
    return this.history.get(signature);
  }

  /**
   * Run a signed transaction. Recorded (and returned by signature) when it
   * executed, successfully or not (a fee was charged), as on a real cluster.
   * Transactions that never execute (bad blockhash, signature, fee payer, or a
   * failed preflight) are answered with the RPC error a node's preflight gives —
   * even with skipPreflight, so that local mistakes are loud rather than silent.
   */
  submit(raw: Uint8Array, opts: { skipPreflight?: boolean } = {}): string {
    const vtx = this.deserialize(raw);
    const signature = bs58.encode(vtx.signatures[0]);
    if (this.history.has(signature)) throw preflightError('AlreadyProcessed', [], 0);
    if (!this.isBlockhashValid(vtx.message.recentBlockhash)) throw preflightError('BlockhashNotFound', [], 0);
    const keys = this.resolveKeys(vtx);
    const kitTx = this.decodeForSvm(raw);
    this.applyClock();
    if (!opts.skipPreflight) {
      const sim = this.svm.simulateTransaction(kitTx);
      if ('err' in sim) {
        const m = sim.meta();
        throw preflightError(txErrorToJson(sim.err()), m.logs(), Number(m.computeUnitsConsumed()));
      }
    }
    const pre = keys.all.map((k) => this.snapshot(k));
    const res = this.svm.sendTransaction(kitTx);
    const failed = 'err' in res;
    const meta = (failed ? res.meta() : res) as unknown as NativeMeta;
    const err = failed ? txErrorToJson(res.err()) : null;
    const post = keys.all.map((k, i) => (vtx.message.isAccountWritable(i) ? this.snapshot(k) : pre[i]));
    if (failed && !(post[0].lamports < pre[0].lamports)) {
      // Not executed (no fee charged): a real node never records it.
      if (err === 'SignatureFailure') throw new LedgerRpcError(RPC_SIGVERIFY_FAILURE, 'Transaction signature verification failure');
      throw preflightError(err ?? 'SanitizeFailure', meta.logs(), Number(meta.computeUnitsConsumed()));
    }
    const rec: TxRecord = {
      signature,
      raw: Uint8Array.from(raw),
      tx: vtx,
      accountKeys: keys.all,
      loadedAddresses: keys.loaded,
      slot: this.currentSlot,
      blockTime: this.unixTimestamp(),
      err,
      fee: LAMPORTS_PER_SIGNATURE * (vtx.message.header.numRequiredSignatures + precompileSignatures(vtx)),
      preBalances: pre.map((s) => Number(s.lamports)),
      postBalances: post.map((s) => Number(s.lamports)),
      preTokenBalances: this.tokenBalances(pre),
      postTokenBalances: this.tokenBalances(post),
      logMessages: meta.logs(),
      innerInstructions: this.innerInstructions(meta),
      computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
    };
    this.record(rec);
    this.advanceSlot();
    for (const l of this.listeners) l(rec);
    return signature;
  }

  simulate(raw: Uint8Array, opts: { sigVerify?: boolean; replaceRecentBlockhash?: boolean }): SimulationResult {
    const vtx = this.deserialize(raw);
    const replacementBlockhash = opts.replaceRecentBlockhash ? this.latestBlockhash() : null;
    if (!opts.replaceRecentBlockhash && !this.isBlockhashValid(vtx.message.recentBlockhash)) {
      return { err: 'BlockhashNotFound', logs: [], unitsConsumed: 0, replacementBlockhash };
    }
    this.applyClock();
    const sigVerify = opts.sigVerify === true;
    if (!sigVerify) this.native.setSigverify(false);
    try {
      const sim = this.svm.simulateTransaction(this.decodeForSvm(raw));
      const m = sim.meta() as unknown as NativeMeta;
      return {
        err: 'err' in sim ? txErrorToJson(sim.err()) : null,
        logs: m.logs(),
        unitsConsumed: Number(m.computeUnitsConsumed()),
        replacementBlockhash,
      };
    } finally {
      if (!sigVerify) this.native.setSigverify(true);
    }
  }

  /** Move SOL from the faucet (a recorded system transfer, like a faucet's airdrop). */
  airdrop(to: PublicKey, lamports: bigint): string {
    const ix = SystemProgram.transfer({ fromPubkey: this.faucet.publicKey, toPubkey: to, lamports });
    return this.submitInstructions([ix], [this.faucet]);
  }

  /** Build, sign (first signer pays) and submit a v0 transaction with the current blockhash. */
  submitInstructions(ixs: TransactionInstruction[], signers: Keypair[]): string {
    const msg = new TransactionMessage({
      payerKey: signers[0].publicKey,
      recentBlockhash: this.svm.latestBlockhash(),
      instructions: ixs,
    }).compileToV0Message();
    const tx = new VersionedTransaction(msg);
    tx.sign(signers);
    return this.submit(tx.serialize(), { skipPreflight: false });
  }

  private deserialize(raw: Uint8Array): VersionedTransaction {
    if (raw.length > MAX_TX_BYTES) {
      throw new LedgerRpcError(RPC_INVALID_PARAMS, `base64 encoded solana_transaction::versioned::VersionedTransaction too large: ${raw.length} bytes (max: encoded/raw 1644/${MAX_TX_BYTES})`);
    }
    try {
      const vtx = VersionedTransaction.deserialize(raw);
      if (vtx.signatures.length === 0) throw new Error('no signatures');
      return vtx;
    } catch (e) {
      throw new LedgerRpcError(RPC_INVALID_PARAMS, `failed to deserialize solana_transaction::versioned::VersionedTransaction: ${(e as Error).message}`);
    }
  }

  private decodeForSvm(raw: Uint8Array): ReturnType<LedgerEngine['decoder']['decode']> {
    try {
      return this.decoder.decode(raw);
    } catch (e) {
      throw new LedgerRpcError(RPC_INVALID_PARAMS, `failed to deserialize transaction: ${(e as Error).message}`);
    }
  }

  private resolveKeys(vtx: VersionedTransaction): { all: PublicKey[]; loaded: { writable: string[]; readonly: string[] } } {
    const lookups = vtx.message.addressTableLookups;
    if (lookups.length === 0) return { all: vtx.message.staticAccountKeys, loaded: { writable: [], readonly: [] } };
    const tables = lookups.map((l) => {
      const acc = this.getAccount(l.accountKey);
      if (acc === null) throw preflightError('AddressLookupTableNotFound', [], 0);
      try {
        return new AddressLookupTableAccount({ key: l.accountKey, state: AddressLookupTableAccount.deserialize(acc.data) });
      } catch {
        throw preflightError('InvalidAddressLookupTableData', [], 0);
      }
    });
    try {
      const mk = vtx.message.getAccountKeys({ addressLookupTableAccounts: tables });
      const loaded = mk.accountKeysFromLookups ?? { writable: [], readonly: [] };
      return {
        all: [...mk.staticAccountKeys, ...loaded.writable, ...loaded.readonly],
        loaded: { writable: loaded.writable.map((k) => k.toBase58()), readonly: loaded.readonly.map((k) => k.toBase58()) },
      };
    } catch {
      throw preflightError('InvalidAddressLookupTableIndex', [], 0);
    }
  }

  private snapshot(key: PublicKey): KeySnapshot {
    const a = this.native.getAccount(key.toBytes());
    if (a === null) return { lamports: 0n, token: null };
    const lamports = a.lamports();
    const owner = a.owner();
    const is2022 = bytesEqual(owner, TOKEN_2022_PROGRAM_BYTES);
    if (!is2022 && !bytesEqual(owner, TOKEN_PROGRAM_BYTES)) return { lamports, token: null };
    const t = parseTokenAccount(a.data());
    return { lamports, token: t && { mint: t.mint, owner: t.owner, amount: t.amount, programId: is2022 ? TOKEN_2022_PROGRAM : TOKEN_PROGRAM } };
  }

  private decimalsOf(mint: string): number {
    let d = this.mintDecimals.get(mint);
    if (d === undefined) {
      const acc = this.getAccount(new PublicKey(mint));
      d = (acc && parseMint(acc.data)?.decimals) ?? 0;
      this.mintDecimals.set(mint, d); // decimals never change once a mint exists
    }
    return d;
  }

  private tokenBalances(snaps: KeySnapshot[]): TokenBalance[] {
    const out: TokenBalance[] = [];
    snaps.forEach((s, accountIndex) => {
      if (s.token === null) return;
      out.push({
        accountIndex,
        mint: s.token.mint,
        owner: s.token.owner,
        programId: s.token.programId,
        uiTokenAmount: uiTokenAmount(s.token.amount, this.decimalsOf(s.token.mint)),
      });
    });
    return out;
  }

  private innerInstructions(meta: NativeMeta): TxRecord['innerInstructions'] {
    const out: TxRecord['innerInstructions'] = [];
    meta.innerInstructions().forEach((list, index) => {
      if (list.length === 0) return;
      out.push({
        index,
        instructions: list.map((ii) => {
          const ci = ii.instruction();
          return { programIdIndex: ci.programIdIndex(), accounts: Array.from(ci.accounts()), data: ci.data(), stackHeight: ii.stackHeight() };
        }),
      });
    });
    return out;
  }

  private record(rec: TxRecord): void {
    this.history.set(rec.signature, rec);
    this.txCount++;
    if (this.history.size > this.historyCapacity) {
      const oldest = this.history.keys().next().value;
      if (oldest !== undefined) this.history.delete(oldest);
    }
  }

  private applyClock(): void {
    const c = this.svm.getClock();
    c.slot = BigInt(this.currentSlot);
    c.unixTimestamp = BigInt(this.unixTimestamp());
    this.svm.setClock(c);
  }

  private issueBlockhash(): void {
    this.blockhashes.set(this.svm.latestBlockhash(), this.currentSlot + MAX_BLOCKHASH_AGE);
    for (const [bh, last] of this.blockhashes) {
      if (last >= this.currentSlot) break; // insertion order = age order
      this.blockhashes.delete(bh);
    }
  }

  private advanceSlot(): void {
    this.currentSlot++;
    this.svm.expireBlockhash();
    this.issueBlockhash();
    this.applyClock();
  }
}
