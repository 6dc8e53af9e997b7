/**
 * The small chain interface the payer and verifier use, and its implementation on
 * `@solana/web3.js` `Connection` — the same code against the embedded local
 * ledger, a validator, devnet or mainnet. Only plain RPC requests: no websocket
 * subscriptions (confirmation is polled), so any HTTP JSON-RPC endpoint works.
 */
import {
  getAssociatedTokenAddressSync, unpackAccount, unpackMint, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID,
} from '@solana/spl-token';
import {
  Connection, PublicKey, type SignatureStatus, type VersionedTransactionResponse,
} from '@solana/web3.js';

export interface TokenAccountInfo {
  mint: string;
  owner: string;
  amount: bigint;
}

export interface MintInfo {
  decimals: number;
  /** Token program that owns the mint (SPL Token or Token-2022). */
  programId: PublicKey;
}

export interface Chain {
  /** Genesis hash of the cluster the RPC serves (cached: it never changes). */
  genesisHash(): Promise<string>;
  latestBlockhash(): Promise<{ blockhash: string; lastValidBlockHeight: number }>;
  blockHeight(): Promise<number>;
  /** Submit signed bytes (with preflight); resolves to the base58 signature. */
  sendRawTransaction(raw: Uint8Array): Promise<string>;
  /** Status including history; null when the cluster has never seen it. */
  signatureStatus(signature: string): Promise<SignatureStatus | null>;
  /** The same for up to 256 signatures in one RPC call (same order; null for unknown ones). */
  signatureStatuses(signatures: readonly string[]): Promise<(SignatureStatus | null)[]>;
  /** The transaction at `confirmed` or better (legacy or v0); null when not found there. */
  transaction(signature: string): Promise<VersionedTransactionResponse | null>;
  /** A token account (SPL Token or Token-2022); null when absent or not a token account. */
  tokenAccount(address: PublicKey): Promise<TokenAccountInfo | null>;
  /** A mint; null when absent or not a mint. */
  mint(address: PublicKey): Promise<MintInfo | null>;
}

export interface ConnectionChainOptions {
  /** Give up on one HTTP request after this long (web3.js itself never times out). */
  requestTimeoutMs?: number;
}

// Deriving an associated token account is a PDA search (SHA-256 + curve checks,
// ~0.7 ms in JS); buyers and sellers derive the same few over and over.
const ataCache = new Map<string, PublicKey>();
const ATA_CACHE_MAX = 1024;

/** The associated token account of `owner` for `mint` (owner may be off-curve), memoised. */
export function associatedTokenAddress(mint: PublicKey, owner: PublicKey, tokenProgram: PublicKey = TOKEN_PROGRAM_ID): PublicKey {
  const k = `${mint.toBase58()}:${owner.toBase58()}:${tokenProgram.toBase58()}`;
  let a = ataCache.get(k);
  if (a === undefined) {
    a = getAssociatedTokenAddressSync(mint, owner, true, tokenProgram);
    if (ataCache.size >= ATA_CACHE_MAX) ataCache.clear();
    ataCache.set(k, a);
  }
  return a;
}

function isTokenProgram(owner: PublicKey): boolean {
  return owner.equals(TOKEN_PROGRAM_ID) || owner.equals(TOKEN_2022_PROGRAM_ID);
}

/** A Chain on an existing web3.js Connection. */
export function connectionChain(conn: Connection): Chain {
  let genesis: Promise<string> | null = null;
  const mints = new Map<string, MintInfo>();
  return {
    genesisHash() {
      if (!genesis) {
        genesis = conn.getGenesisHash();
        genesis.catch(() => { genesis = null; }); // do not cache a failure
      }
      return genesis;
    },
    latestBlockhash: () => conn.getLatestBlockhash('confirmed'),
    blockHeight: () => conn.getBlockHeight('confirmed'),
    sendRawTransaction: (raw) => conn.sendRawTransaction(raw, { skipPreflight: false, preflightCommitment: 'confirmed', maxRetries: 5 }),
    async signatureStatus(signature) {
      const r = await conn.getSignatureStatuses([signature], { searchTransactionHistory: true });
      return r.value[0] ?? null;
    },
    async signatureStatuses(signatures) {
      const r = await conn.getSignatureStatuses([...signatures], { searchTransactionHistory: true });
      return signatures.map((_, i) => r.value[i] ?? null);
    },
    transaction: (signature) => conn.getTransaction(signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 }),
    async tokenAccount(address) {
      const info = await conn.getAccountInfo(address, 'confirmed');
      if (info === null || !isTokenProgram(info.owner)) return null;
      try {
        const a = unpackAccount(address, info, info.owner);
        return { mint: a.mint.toBase58(), owner: a.owner.toBase58(), amount: a.amount };
      } catch {
        return null;
      }
    },
    async mint(address) {
      const cached = mints.get(address.toBase58());
      if (cached) return cached;
      const info = await conn.getAccountInfo(address, 'confirmed');
      if (info === null || !isTokenProgram(info.owner)) return null;
      try {
        const m = unpackMint(address, info, info.owner);
        if (!m.isInitialized) return null;
        const out = { decimals: m.decimals, programId: info.owner };
        mints.set(address.toBase58(), out); // decimals and program never change
        return out;
      } catch {
        return null;
      }
    },
  };
}

/** A Chain on a JSON-RPC URL, with a per-request timeout. */
export function chainFromUrl(url: string, opts: ConnectionChainOptions = {}): Chain {
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const conn = new Connection(url, {
    commitment: 'confirmed',
    disableRetryOnRateLimit: true, // our callers retry with their own bounded backoff
    fetch: (input, init) => fetch(input as string, { ...(init as RequestInit), signal: AbortSignal.timeout(timeout) }) as never,
  });
  return connectionChain(conn);
}
