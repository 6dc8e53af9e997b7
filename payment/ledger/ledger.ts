/**
 * LocalLedger: the embedded Solana ledger SeedPay's tests, benchmarks and demo
 * settle on — litesvm with the real SPL Token, ATA and Memo programs, served as
 * Solana JSON-RPC on 127.0.0.1. At start it creates a 6-decimal USDC-like mint
 * whose authority the ledger keeps, and it funds wallets on request.
 */
import {
  createAssociatedTokenAccountIdempotentInstruction, createInitializeMint2Instruction, createMintToInstruction,
  getAssociatedTokenAddressSync, MINT_SIZE, TOKEN_PROGRAM_ID,
} from '@solana/spl-token';
import { Keypair, PublicKey, SystemProgram } from '@solana/web3.js';
import { LedgerEngine, type EngineOptions } from './engine.js';
import { LedgerHttpServer, type FaultMode } from './http.js';

export interface LedgerOptions extends EngineOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Loopback address to bind; default 127.0.0.1. */
  host?: string;
  /** Decimals of the USDC-like mint; default 6. */
  decimals?: number;
}

export class LocalLedger {
  /** The USDC-like mint created at start (authority held by the ledger). */
  readonly mint: PublicKey;
  /** Authority of `mint` and of mints made by `createMint`. */
  readonly mintAuthority: Keypair;
  private readonly http: LedgerHttpServer;
  private stopped = false;

  /** PubSub websocket (signatureSubscribe); also served on the HTTP port + 1 when that was free. */
  readonly wsUrl: string;

  private constructor(readonly engine: LedgerEngine, readonly url: string, wsUrl: string, http: LedgerHttpServer, mint: PublicKey, mintAuthority: Keypair) {
    this.wsUrl = wsUrl;
    this.http = http;
    this.mint = mint;
    this.mintAuthority = mintAuthority;
  }

  /** Start a ledger and its RPC server; resolves when it is listening. */
  static async start(opts: LedgerOptions = {}): Promise<LocalLedger> {
    const engine = new LedgerEngine(opts);
    const http = new LedgerHttpServer(engine);
    const { url, wsUrl } = await http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
    const authority = Keypair.generate();
    const mint = createMintOn(engine, authority, opts.decimals ?? 6);
    return new LocalLedger(engine, url, wsUrl, http, mint, authority);
  }

  get genesisHash(): string { return this.engine.genesisHash; }

  /** Send SOL from the ledger's faucet (a recorded system transfer). */
  fundSol(to: PublicKey, lamports: bigint): string {
    return this.engine.airdrop(to, lamports);
  }

  /**
   * Mint `amount` base units to `owner`'s associated token account for `mint`
   * (default: the USDC-like mint), creating the account if needed. Returns the ATA.
   */
  fundTokens(owner: PublicKey, amount: bigint, mint: PublicKey = this.mint, authority: Keypair = this.mintAuthority): PublicKey {
    const ata = getAssociatedTokenAddressSync(mint, owner, true);
    const faucet = this.engine.faucet;
    const ixs = [createAssociatedTokenAccountIdempotentInstruction(faucet.publicKey, ata, owner, mint)];
    if (amount > 0n) ixs.push(createMintToInstruction(mint, ata, authority.publicKey, amount));
    this.engine.submitInstructions(ixs, authority.publicKey.equals(faucet.publicKey) ? [faucet] : [faucet, authority]);
    return ata;
  }

  /** Create another mint (authority: the ledger's mint authority), e.g. a fake "USDC". */
  createMint(decimals = 6): PublicKey {
    return createMintOn(this.engine, this.mintAuthority, decimals);
  }

  /** Freeze block time at `unixSeconds` (tests), or follow the wall clock again with null. */
  setClock(unixSeconds: number | null): void {
    this.engine.setClock(unixSeconds);
  }

  /**
   * Live websocket signature subscriptions. web3.js reconnects forever if its socket
   * closes while a subscription is still being torn down; stop the ledger after this
   * drops to 0.
   */
  get websocketSubscriptions(): number {
    return this.http.subscriptionCount;
  }

  /** Test-only fault switch: make the RPC answer 503 or drop connections; false heals it. */
  setFailing(mode: FaultMode | true): void {
    this.http.setFault(mode === true ? 'http503' : mode);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.http.close();
  }
}

function createMintOn(engine: LedgerEngine, authority: Keypair, decimals: number): PublicKey {
  const mint = Keypair.generate();
  const faucet = engine.faucet;
  engine.submitInstructions([
    SystemProgram.createAccount({
      fromPubkey: faucet.publicKey,
      newAccountPubkey: mint.publicKey,
      lamports: Number(engine.minimumBalanceForRentExemption(MINT_SIZE)),
      space: MINT_SIZE,
      programId: TOKEN_PROGRAM_ID,
    }),
    createInitializeMint2Instruction(mint.publicKey, decimals, authority.publicKey, null),
  ], [faucet, mint]);
  return mint.publicKey;
}
