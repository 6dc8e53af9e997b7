/**
 * PaidSeller: sells a Client's upload bandwidth under SeedPay (SEEDPAY.md §2–§5, §7).
 *
 *   const seller = await PaidSeller.open({ chain, wallet, journalPath, price: 100n });
 *   const torrent = await seller.add(client, 'file.torrent', { dir: './data' });
 *
 * Each paid torrent gets one torrent plugin (extensions/plugin.ts) and each of its
 * connections one SellerHook (extensions/seedpay/hook.ts); this object is the hooks'
 * driver and owns the books (SellerLedger, the only writer of the journal):
 *  - the hook puts the terms in the extended handshake, binds the signed session,
 *    and gates the serving path (lib/engine/block-server.ts asks before reading and
 *    again before sending each block) — no block beyond credit (plus the declared
 *    allowed_fast sample); a refused block is rejected under the fast extension,
 *    else the peer is choked and held until the next confirmed payment;
 *  - the plugin's `canUnchoke`: peers without SeedPay are served free or never
 *    unchoked (`policy: 'paid-only'`), buyers only with credit;
 *  - a proof goes hook → `verify` here → the ledger (RPC lookup, then the credit
 *    journaled with fsync) → `hook.verified` → payment_confirmed and service resumes;
 *  - charges are journaled every few MiB and when the connection ends (a crash loses
 *    at most the charges since the last record: in the buyer's favour);
 *  - session resume (docs/PROTOCOL.md §4; `resume`, default on): a buyer cut off
 *    mid-transfer names its earlier session, signed by the wallet that paid it; the
 *    seller closes that session if it is still open, journals the move of its unspent
 *    balance (fsync, `transfer` record; the journal refuses to move more than is left)
 *    and credits it here, and from then on credits that wallet's payments whose memo
 *    names the earlier session. Balances are rebuilt from the journal, so this also
 *    works across a restart.
 *
 *  - payment channels (docs/PROTOCOL.md, "Payment channels"; `channels`): the terms
 *    offer mode `channel` on the chain's program; a buyer names its escrow channel, the
 *    seller fetches it and checks it (payment/channel/check.ts: this buyer, this seller,
 *    this mint, this program, not expiring within the margin, not drained) before
 *    anything is served against it; each voucher is journaled (fsync) before its
 *    increase is credited; claims (lib/paid/channel-claims.ts) go out near expiry, past
 *    a threshold, at start (vouchers a crashed run left) and at shutdown.
 *
 * One PaidSeller may serve many torrents; it owns its journal (closed by `close()`).
 */
import { SellerHook, type SellerDriver } from '../../extensions/seedpay/hook.js';
import { walletSigner, type SellerEvent, type Signer, type VerifyOutcome } from '../../extensions/seedpay/seller-session.js';
import type { NonSeedPayPolicy } from '../../extensions/seedpay/policy.js';
import type { PluginPeer, TorrentPlugin } from '../../extensions/plugin.js';
import type { ExtensionConnectionInfo } from '../../extensions/registry.js';
import type { Chain } from '../../payment/chain.js';
import type { Journal } from '../../payment/journal.js';
import type { WalletKeypair } from '../../payment/session.js';
import { CHANNEL_MODE, validateTerms, type Terms } from '../../payment/terms.js';
import bs58 from 'bs58';
import type { RejectReason } from '../../payment/verify-rules.js';
import type { RetryPolicy } from '../../payment/verifier.js';
import type { Client, TorrentSource } from '../net/client.js';
import type { PeerSession } from '../engine/peer-session.js';
import type { Torrent, TorrentOptions } from '../engine/torrent.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { SellerLedger } from './seller-ledger.js';
import { CreditBook, type CreditReservation } from '../../payment/credit-book.js';
import { U64_MAX } from '../../payment/amount.js';
import { CreditHook } from '../../extensions/ratio/hook.js';
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { CREDIT_EXTENSION } from '../../extensions/ratio/messages.js';
import type { TrustList } from '../../extensions/ratio/statements.js';
import { DEFAULT_VERIFY_BUDGET, VerifyBudget, type VerifyBudgetOptions } from './verify-budget.js';
import { Keypair, PublicKey } from '@solana/web3.js';
import type { ChannelChain } from '../../payment/channel/types.js';
import { checkChannel } from '../../payment/channel/check.js';
import { ChannelClaims, type ClaimDone } from './channel-claims.js';

/** Payment channels offered by a seller. */
export interface SellerChannelOptions {
  /** The escrow program's client (payment/channel/channel-chain.ts); its program id goes into the terms. */
  chain: ChannelChain;
  /** Claim once this much (base units) is vouchered and unclaimed on a channel (default 1 USDC: 1,000,000). */
  claimThreshold?: bigint;
  /** Refuse channels expiring within this many seconds, and claim (and close) them once they get this close (default 600). */
  expiryMarginSeconds?: number;
  /** At shutdown, close the channels no live session uses (refunds the rest to their buyers; default true). */
  closeOnShutdown?: boolean;
  /** How often claims and expiries are looked at (default 5000 ms). */
  claimIntervalMs?: number;
}
export interface PaidSellerOptions {
  /** The chain the seller verifies payments on (payment/chain.ts: chainFromUrl). */
  chain: Chain;
  /** The wallet paid (its ATA for `mint`) and whose key signs every session. */
  wallet: WalletKeypair | { readonly address: string };
  /** Signs session transcripts (a remote or hardware signer); default the `wallet` key, which must then be a full keypair. */
  signer?: Signer;
  /** The seller's journal file (credits, charges); created if absent, replays rejected across restarts. */
  journalPath: string;
  /** Base units per MiB. */
  price: bigint;
  /** Token mint (base58). */
  mint: string;
  /** Smallest payment credited (default: the price of 1 MiB, at least 1). */
  minPrepay?: bigint;
  /** Peers without SeedPay: 'free' (default) or 'paid-only' (never unchoked). */
  policy?: NonSeedPayPolicy;
  /** payment_required when the balance covers less than this (default 8 MiB). */
  lowWaterBytes?: bigint;
  /** Free sample: these piece indices are announced with allowed_fast and served free, up to `freeBytes`. */
  freePieces?: readonly number[];
  freeBytes?: bigint;
  /** Payment freshness window (default 10 min). */
  freshnessMs?: number;
  /** Verifier RPC retries (default payment/verifier.ts DEFAULT_RETRY). */
  retry?: RetryPolicy;
  /**
   * Journal a charge every this many paid bytes (default 32 MiB), and when the
   * connection ends. Each record is an fsync: every 4 MiB cost ~35% of loopback
   * throughput when the buyer's writes share the disk. A crash loses at most this
   * much of charges, in the buyer's favour.
   */
  chargeEventBytes?: bigint;
  /** Wall clock for verification (ms). Default Date.now. */
  now?: () => number;
  /** Offer session resume (terms key `resume`). Default true. */
  resume?: boolean;
  /**
   * Offer message authentication (terms key `mac`, docs/PROTOCOL.md §3): SeedPay
   * messages after the binding carry a MAC with buyers that ask for it. Default true.
   */
  mac?: boolean;
  /**
   * Verifications started per peer address and in all (lib/paid/verify-budget.ts);
   * a proof over budget is answered rpc_unavailable without an RPC call. Default
   * DEFAULT_VERIFY_BUDGET; false: no limit beyond each session's own flood limit.
   */
  verifyBudget?: VerifyBudgetOptions | false;
  /**
   * Ratio credits (docs/PROTOCOL.md §10): accept credit that buyers' identities earned at
   * this node by uploading to it, `served` piece bytes per `credit` bytes of credit
   * (terms key `ratio`), drawn before money. The credit book lives in this seller's
   * journal (`credits`): give it to the node's downloading torrents
   * (extensions/ratio `ratioCredits({ sink: seller.credits })`) so what peers upload
   * there is spendable here. `cap` (bytes) and `ttlSeconds` bound it (terms keys
   * `ratio_cap`, `ratio_ttl`). Default: no credit.
   */
  /** Payment channels: offer mode `channel` (terms key `channel` = the program id). Default: prepaid only. */
  channels?: SellerChannelOptions;
  ratio?: {
    served: bigint; credit: bigint; cap?: bigint; ttlSeconds?: number;
    /** One hop (docs/PROTOCOL.md §10): nodes whose statements buyers may present here, credited at a discount. */
    trusted?: TrustList;
  };
}

export interface SellerPeerInfo {
  readonly peer: string;
  readonly sessionHash: string | null;
}

export interface PaidSellerEvents {
  /** A payment was verified, journaled and confirmed to the buyer. */
  credited: [peer: SellerPeerInfo, tx: string, credited: bigint, balance: bigint];
  rejected: [peer: SellerPeerInfo, tx: string, reason: RejectReason];
  /** A SeedPay buyer bound its session. */
  session: [peer: SellerPeerInfo];
  /** A paid session ended (the peer broke the protocol); its connection is closed. */
  ended: [peer: SellerPeerInfo, error: Error];
  /** Session resume: the earlier session `prev` resumed in this one, `moved` of its balance credited here. */
  resumed: [peer: SellerPeerInfo, prev: string, moved: bigint];
  /** Payment channels: a buyer's channel passed the check (confirmed) or failed it (`reason`). */
  channel: [peer: SellerPeerInfo, channel: string, ok: boolean, reason: string | null];
  /** Payment channels: a voucher was journaled and its increase credited. */
  voucher: [peer: SellerPeerInfo, channel: string, amount: bigint, increase: bigint];
  voucher_rejected: [peer: SellerPeerInfo, channel: string, amount: bigint, reason: string];
  /** Payment channels: a claim landed and was journaled. */
  claimed: [claim: ClaimDone];
  error: [error: Error];
}

/** Totals over every connection since this seller started (credits also from the journal). */
export interface SellerTotals {
  /** Base units credited by this process. */
  credited: bigint;
  /** Base units charged for bytes served by this process. */
  charged: bigint;
  /** Piece bytes served against credit / from the free sample. */
  paidBytes: bigint;
  freeBytes: bigint;
  /** Credited signatures, in order. */
  payments: { tx: string; credited: bigint; peer: string }[];
  /** Piece bytes served from buyers' ratio credit, and the credit bytes that cost them. */
  creditBytes: bigint;
  creditSpent: bigint;
  /** Payment channels: vouchers accepted by this process (each increase credited), and claims that landed. */
  vouchers: { channel: string; amount: bigint; increase: bigint; peer: string }[];
  voucherCredited: bigint;
  claims: ClaimDone[];
}

/** What the seller keeps per connection. */
interface Conn {
  readonly peer: string;
  readonly infoHashHex: string;
  /** Paid bytes last written to the journal as a charge. */
  journaledBytes: bigint;
  /** The connection's ratio credit hook (the buyer's identity), once the peer is added. */
  credit: CreditHook | null;
  /** Credit set aside for this connection's session (more is set aside as the identity earns more). */
  reservations: CreditReservation[];
  /** The session heard what credit it has (once). */
  creditTold: boolean;
}

export class PaidSeller extends TypedEmitter<PaidSellerEvents> {
  readonly terms: Terms;
  readonly policy: NonSeedPayPolicy;
  private readonly opts: PaidSellerOptions;
  private readonly ledger: SellerLedger;
  private readonly signer: Signer;
  /** Live connections' hooks. */
  private readonly conns = new Map<SellerHook, Conn>();
  /** Bound sessions: session hash → its hook (session resume closes an earlier one still open). */
  private readonly bySession = new Map<string, SellerHook>();
  private readonly pending = new Set<Promise<void>>();
  /** The verification in flight per session hash (one at a time per session). */
  private readonly verifyingSession = new Map<string, Promise<void>>();
  private closedTotals = { charged: 0n, paidBytes: 0n, freeBytes: 0n, creditBytes: 0n };
  /** Ratio credits: the node's credit book (in this seller's journal), or null when credit is not accepted. */
  readonly credits: CreditBook | null;
  private creditedTotal = 0n;
  private readonly payments: { tx: string; credited: bigint; peer: string }[] = [];
  private closed = false;
  private readonly budget: VerifyBudget | null;
  /** Payment channels: claims, live sessions per channel, and what was accepted. */
  private readonly claims: ChannelClaims | null;
  private readonly liveChannels = new Map<string, Set<SellerHook>>();
  private readonly vouchersAccepted: SellerTotals['vouchers'] = [];
  private readonly claimsDone: ClaimDone[] = [];
  private claimTimer: ReturnType<typeof setInterval> | null = null;
  /** How this seller answers its hooks. */
  private readonly driver: SellerDriver = {
    verify: (h, req) => this.verify(h, req),
    checkChannel: (h, req) => this.track(this.checkChannel(h, req.channel, req.buyer), h),
    voucher: (h, req) => this.track(this.acceptVoucher(h, req), h),
    resume: (h, req) => this.track(this.moveBalance(h, req.prev, req.payer, req.sessionHash), h),
    charge: (h) => this.charge(h),
    event: (h, ev) => this.event(h, ev),
    connectionClosed: (h) => this.forget(h),
  };

  private constructor(opts: PaidSellerOptions, terms: Terms, ledger: SellerLedger) {
    super();
    this.opts = opts;
    this.terms = terms;
    this.ledger = ledger;
    this.policy = opts.policy ?? 'free';
    this.budget = opts.verifyBudget === false ? null : new VerifyBudget(opts.verifyBudget ?? DEFAULT_VERIFY_BUDGET, this.now());
    const w = opts.wallet;
    const signer = opts.signer ?? ('seed' in w ? walletSigner(w) : null);
    if (signer === null) throw new Error('PaidSeller: a wallet keypair or a signer is needed to sign sessions');
    this.signer = signer;
    const ch = opts.channels;
    if (ch !== undefined && !('seed' in w)) throw new Error('PaidSeller: payment channels need the wallet keypair (it signs the claims)');
    this.claims = ch === undefined || !('seed' in w) ? null : new ChannelClaims({
      chain: ch.chain, seller: Keypair.fromSeed(w.seed), ledger,
      policy: {
        threshold: ch.claimThreshold ?? 1_000_000n, expiryMarginSeconds: BigInt(ch.expiryMarginSeconds ?? DEFAULT_EXPIRY_MARGIN_S),
        closeOnShutdown: ch.closeOnShutdown,
      },
      isLive: (c) => (this.liveChannels.get(c)?.size ?? 0) > 0,
      closing: (c) => { for (const h of this.liveChannels.get(c) ?? []) h.closeChannel('closed'); },
      claimed: (c) => { this.claimsDone.push(c); this.emit('claimed', c); },
      error: (e) => this.emit('error', e),
    });
    const r = opts.ratio;
    this.credits = r === undefined ? null : new CreditBook(ledger.journal, {
      cap: r.cap, ttlSeconds: r.ttlSeconds, now: opts.now,
      onError: (e) => this.emit('error', e),
    });
  }

  /**
   * Learn the cluster from the RPC (the terms name its genesis hash), open the
   * journal. Fails if the RPC is unreachable or the journal cannot be opened.
   */
  static async open(opts: PaidSellerOptions): Promise<PaidSeller> {
    const cluster = await opts.chain.genesisHash();
    const price = opts.price;
    const minPrepay = opts.minPrepay ?? (price > 0n ? price : 1n);
    const terms = validateTerms({
      v: 1, chain: 'solana', cluster, mint: opts.mint, wallet: opts.wallet.address, price, minPrepay,
      modes: opts.channels === undefined ? ['prepaid'] : ['prepaid', CHANNEL_MODE],
      ...(opts.channels === undefined ? {} : { channel: opts.channels.chain.programId.toBase58() }),
      ...(opts.resume === false ? {} : { resume: true }),
      ...(opts.mac === false ? {} : { mac: true }),
      ...(opts.ratio === undefined ? {} : {
        ratio: {
          served: opts.ratio.served, credit: opts.ratio.credit,
          ...(opts.ratio.cap !== undefined && { cap: opts.ratio.cap }),
          ...(opts.ratio.ttlSeconds !== undefined && { ttl: BigInt(opts.ratio.ttlSeconds) }),
        },
      }),
    });
    if (!('seed' in opts.wallet) && opts.signer === undefined) throw new Error('PaidSeller: a wallet keypair or a signer is needed to sign sessions');
    const ledger = await SellerLedger.open({ chain: opts.chain, journalPath: opts.journalPath, retry: opts.retry });
    const seller = new PaidSeller(opts, terms, ledger);
    if (seller.claims !== null) {
      // Vouchers a crashed (or stopped) run journaled and never claimed: claimed now.
      await seller.claims.run('start');
      seller.claimTimer = setInterval(() => seller.channelTick(), opts.channels?.claimIntervalMs ?? 5_000);
      seller.claimTimer.unref();
    }
    return seller;
  }

  /**
   * Payment channels: claims due (threshold, near expiry), and live sessions whose
   * channel now expires within the margin stop taking vouchers.
   */
  channelTick(): Promise<void> {
    const claims = this.claims;
    const ch = this.opts.channels;
    if (claims === null || ch === undefined || this.closed) return Promise.resolve();
    const margin = BigInt(ch.expiryMarginSeconds ?? DEFAULT_EXPIRY_MARGIN_S);
    const p = ch.chain.clock().then((now) => {
      for (const [c, hooks] of this.liveChannels) {
        const expiry = claims.expiryOf(c);
        if (expiry !== null && expiry - now <= margin) for (const h of hooks) h.closeChannel('expiring');
      }
      return claims.run('run');
    }).catch((e: unknown) => { this.emit('error', e instanceof Error ? e : new Error(String(e))); });
    this.track(p);
    return p;
  }

  /** The seller's journal, to read (its path, records, balances). */
  get journal(): Journal { return this.ledger.journal; }

  /** Add a torrent to `client`, sold under these terms. */
  async add(client: Client, src: TorrentSource, opts: TorrentOptions): Promise<Torrent> {
    return client.add(src, { ...opts, ...this.torrentOptions(opts) });
  }

  /**
   * The torrent options that make a torrent paid (for embedders that call
   * `client.add` themselves; `add` uses them): `base` extensions plus this seller's plugin.
   */
  torrentOptions(base: Pick<TorrentOptions, 'extensions'> = {}): Pick<TorrentOptions, 'extensions'> {
    // With ratio credits, the torrent also runs the credit extension: it learns buyers'
    // identities (and credits whoever uploads to us there). A seller claims no credit
    // for what it sells: no identity of ours on paid torrents.
    const credit = this.credits === null ? [] : [ratioCredits({ sink: this.credits, signer: null, trusted: this.opts.ratio?.trusted })];
    return { extensions: [...(base.extensions ?? []), ...credit, this.plugin()] };
  }

  /** Totals of this process (live connections included). */
  totals(): SellerTotals {
    let charged = this.closedTotals.charged;
    let paidBytes = this.closedTotals.paidBytes;
    let freeBytes = this.closedTotals.freeBytes;
    let creditBytes = this.closedTotals.creditBytes;
    for (const h of this.conns.keys()) {
      const s = h.stats();
      charged += s.charged;
      paidBytes += s.paidBytes;
      freeBytes += s.freeBytes;
      creditBytes += s.creditBytes;
    }
    return {
      credited: this.creditedTotal, charged, paidBytes, freeBytes, payments: [...this.payments], creditBytes, creditSpent: this.creditSpentFor(creditBytes),
      vouchers: [...this.vouchersAccepted], voucherCredited: this.vouchersAccepted.reduce((a, v) => a + v.increase, 0n), claims: [...this.claimsDone],
    };
  }

  /** The seller hook of a connection (tests, progress displays). */
  hookOf(peer: PeerSession | PluginPeer): SellerHook | null {
    const h = peer.hook('seedpay');
    return h instanceof SellerHook && this.conns.has(h) ? h : null;
  }

  /** Wait for verifications in flight, journal the final charges, close the journal. Close the torrents / client first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    for (const h of [...this.conns.keys()]) this.forget(h);
    if (this.claimTimer !== null) clearInterval(this.claimTimer);
    this.claimTimer = null;
    // Payment channels: claim what is held (closing the channels whose buyers are gone).
    if (this.claims !== null) {
      await this.claims.run('shutdown');
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    }
    await this.credits?.close();
    await this.ledger.close();
  }

  // ------------------------------------------------------------------ the torrent plugin

  private plugin(): TorrentPlugin {
    return {
      name: 'seedpay',
      create: (info) => this.create(info),
      onPeerAdded: (peer) => {
        // The declared free sample, and nothing else, goes out as allowed_fast (the
        // engine sends it only under the fast extension and for pieces we have).
        const h = this.hookOf(peer);
        if (h === null) return;
        const c = this.conns.get(h);
        const credit = peer.hook(CREDIT_EXTENSION);
        if (c !== undefined && credit instanceof CreditHook) {
          c.credit = credit;
          this.maybeGrantCredit(h);
        }
        for (const i of this.opts.freePieces ?? []) peer.control.allowFast(i);
        peer.control.flush();
      },
      tick: () => {
        // What buyers spent of their credit reaches the book (journaled by its flush), and
        // credit an identity earned since (here, or vouched for) is set aside for it.
        for (const [h, c] of this.conns) {
          this.reportSpent(h, c);
          if (c.creditTold && c.credit?.identity != null) this.setAside(h, c, c.credit.identity);
        }
        this.credits?.flush().catch(() => undefined);
      },
      canUnchoke: (peer) => {
        const h = this.hookOf(peer);
        // No hook (client closing): only the free policy serves.
        return h === null ? this.policy === 'free' : h.unchokeAllowed();
      },
    };
  }

  private create(info: ExtensionConnectionInfo): SellerHook | null {
    if (this.closed) return null;
    const hook = new SellerHook({
      terms: this.terms, infoHash: info.infoHash, signer: this.signer, policy: this.policy,
      lowWaterBytes: this.opts.lowWaterBytes ?? 8n * 1024n * 1024n,
      freePieces: this.opts.freePieces, freeBytes: this.opts.freeBytes,
      chargeEventBytes: this.opts.chargeEventBytes ?? 32n * 1024n * 1024n,
    }, this.driver);
    this.conns.set(hook, { peer: info.peer, infoHashHex: Buffer.from(info.infoHash).toString('hex'), journaledBytes: 0n, credit: null, reservations: [], creditTold: false });
    return hook;
  }

  // ------------------------------------------------------------------ the hooks' driver

  /** A proof to look up: the ledger verifies and journals it, the hook hears the answer. */
  private verify(h: SellerHook, req: Extract<SellerEvent, { type: 'verify' }>): void {
    const c = this.conns.get(h);
    if (c === undefined) return;
    const { tx, sessionHash } = req;
    if (this.budget !== null && !this.budget.take(hostOf(c.peer), this.now())) {
      // Over this address's (or everyone's) budget: "try later", at no RPC cost.
      h.verified(tx, { ok: false, reason: 'rpc_unavailable' });
      return;
    }
    const p = this.ledger.verify({
      signature: tx, sessionHash, linkedSessions: req.linked, infoHash: c.infoHashHex, terms: this.terms,
      now: this.now(), freshnessMs: this.opts.freshnessMs,
    }).then(
      (r): VerifyOutcome => (r.ok ? { ok: true, credited: r.credited } : { ok: false, reason: r.reason }),
      (e: unknown): VerifyOutcome => {
        // The journal failed: nothing was credited. Say "try later" rather than a final no.
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        return { ok: false, reason: 'rpc_unavailable' };
      },
    ).then((outcome) => h.verified(tx, outcome));
    this.verifyingSession.set(sessionHash, p);
    // (A rejection of p is track()'s to report; this chain only forgets it.)
    p.finally(() => { if (this.verifyingSession.get(sessionHash) === p) this.verifyingSession.delete(sessionHash); }).catch(() => undefined);
    this.track(p, h);
  }

  /**
   * Payment channels: fetch the channel a buyer named and check it for this session
   * (payment/channel/check.ts); nothing is served against one that fails.
   */
  private async checkChannel(h: SellerHook, channel: string, buyer: string): Promise<void> {
    const ch = this.opts.channels;
    if (ch === undefined || this.claims === null) {
      h.channelChecked(channel, { ok: false, reason: 'unavailable' });
      return;
    }
    let outcome: Parameters<SellerHook['channelChecked']>[1];
    try {
      const [state, now] = await Promise.all([ch.chain.fetchChannel(new PublicKey(channel)), ch.chain.clock()]);
      const v = checkChannel(state, {
        address: channel, programId: ch.chain.programId.toBase58(), mint: this.terms.mint, seller: this.terms.wallet, buyer, now,
        marginSeconds: BigInt(ch.expiryMarginSeconds ?? DEFAULT_EXPIRY_MARGIN_S), accepted: this.ledger.acceptedOf(channel),
      });
      const closedHere = this.ledger.journal.channelOf(channel)?.claimed?.closed === true;
      if (v.ok && !closedHere) {
        this.claims.note(channel, v.state.expiry);
        outcome = { ok: true, deposit: v.state.deposit, voucherKey: v.state.voucherKey.toBytes(), accepted: v.accepted };
      } else {
        outcome = { ok: false, reason: v.ok ? 'not_found' : v.reason };
      }
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
      outcome = { ok: false, reason: 'unavailable' };
    }
    if (!this.conns.has(h)) return;
    if (outcome.ok) {
      let set = this.liveChannels.get(channel);
      if (set === undefined) this.liveChannels.set(channel, set = new Set());
      set.add(h);
    }
    h.channelChecked(channel, outcome);
  }

  /** Payment channels: journal a voucher the session verified (fsync), then credit its increase. */
  private async acceptVoucher(h: SellerHook, req: Extract<SellerEvent, { type: 'voucher' }>): Promise<void> {
    const c = this.conns.get(h);
    let increase: bigint;
    try {
      increase = await this.ledger.voucher({
        channel: req.channel, amount: req.amount, signature: bs58.encode(req.sig), buyer: req.buyer, sessionHash: req.sessionHash,
        infoHash: c?.infoHashHex ?? '0'.repeat(40), time: Date.now(),
      });
    } catch (e) {
      const stale = (e as { code?: string }).code === 'STALE_VOUCHER';
      if (!stale && (e as { code?: string }).code !== 'CLOSED') this.report(e);
      h.voucherRejected(req.amount, stale ? 'not_increasing' : 'unavailable');
      return;
    }
    // Journaled: it is credited (a session that cannot take it is closed by track()).
    this.vouchersAccepted.push({ channel: req.channel, amount: req.amount, increase, peer: c?.peer ?? '?' });
    h.voucherAccepted(req.amount, increase);
    // Past the claim threshold: claim now rather than at the next tick.
    const b = this.ledger.journal.channelOf(req.channel);
    const threshold = this.opts.channels?.claimThreshold ?? 1_000_000n;
    if (b?.voucher !== undefined && b.voucher.amount - (b.claimed?.amount ?? 0n) >= threshold) void this.channelTick();
  }

  /** Journal the cumulative charge of one session (no-op if nothing new was served). */
  private charge(h: SellerHook): void {
    const c = this.conns.get(h);
    const sessionHash = h.seller.sessionHash;
    const s = h.stats();
    if (c === undefined || sessionHash === null || s.paidBytes <= c.journaledBytes) return;
    c.journaledBytes = s.paidBytes;
    this.ledger.charge(sessionHash, c.infoHashHex, s.paidBytes, s.charged, Date.now()).catch((e: unknown) => {
      if ((e as { code?: string })?.code !== 'CLOSED') this.emit('error', e instanceof Error ? e : new Error(String(e)));
    });
  }

  private event(h: SellerHook, ev: SellerEvent): void {
    const info = this.info(h);
    switch (ev.type) {
      case 'session': {
        this.bySession.set(ev.sessionHash, h);
        const c = this.conns.get(h);
        if (c !== undefined) {
          this.ledger.openSession(ev.sessionHash, c.infoHashHex, this.now()).catch((e: unknown) => {
            if ((e as { code?: string })?.code !== 'CLOSED') this.emit('error', e instanceof Error ? e : new Error(String(e)));
          });
        }
        this.maybeGrantCredit(h);
        this.emit('session', info);
        break;
      }
      case 'resumed':
        this.emit('resumed', info, ev.prev, ev.moved);
        break;
      case 'channel_confirmed':
        this.emit('channel', info, ev.channel, true, null);
        break;
      case 'channel_rejected':
        this.emit('channel', info, ev.channel, false, ev.reason);
        break;
      case 'voucher_credited':
        this.emit('voucher', info, ev.channel, ev.amount, ev.increase);
        break;
      case 'voucher_rejected':
        this.emit('voucher_rejected', info, ev.channel, ev.amount, ev.reason);
        break;
      case 'credited':
        this.creditedTotal += ev.credited;
        this.payments.push({ tx: ev.tx, credited: ev.credited, peer: info.peer });
        this.emit('credited', info, ev.tx, ev.credited, ev.balance);
        break;
      case 'rejected':
        this.emit('rejected', info, ev.tx, ev.reason);
        break;
      case 'ended':
        this.emit('ended', info, ev.error);
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ internals

  private now(): number { return (this.opts.now ?? Date.now)(); }

  private info(h: SellerHook): SellerPeerInfo {
    return { peer: this.conns.get(h)?.peer ?? '?', sessionHash: h.seller.sessionHash };
  }

  /**
   * Keep `p` until it settles (close waits for it). A step that throws closes that one
   * connection and is reported; it never becomes an unhandled rejection (the process
   * outlives any one peer).
   */
  private track(p: Promise<void>, h?: SellerHook): void {
    const done = p.catch((e: unknown) => {
      h?.closeConnection();
      this.report(e);
    }).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  private report(e: unknown): void {
    this.emit('error', e instanceof Error ? e : new Error(String(e)));
  }

  /**
   * Session resume: `payer` (its signature checked by the session) asks to move what
   * session `prev` left into `current`.
   *  0. Only a session this journal knows (opened here, or moved here) may be named.
   *  1. Proofs of `prev` being verified land first (they credit it there).
   *  2. Only a session every credit (and transfer in) of which came from `payer` is
   *     resumed; one with none yet is linked with nothing to move (its payments may
   *     still be on their way). `prev` is public (it is in every memo), so a stranger
   *     can sign a resume of it: it gets `wrong_payer` and the session is not touched.
   *  3. Its payer asking, a `prev` still open (the cut not seen yet) is closed and its
   *     final charge journaled, so its balance cannot be spent twice.
   *  4. The move is journaled (fsync; the journal refuses more than is left), then
   *     credited here.
   */
  private async moveBalance(h: SellerHook, prev: string, payer: string, current: string): Promise<void> {
    for (let v = this.verifyingSession.get(prev); v !== undefined; v = this.verifyingSession.get(prev)) await v;
    // A session another process (another journal) opened is not ours to link: its
    // payments are credited there, and crediting them here too would count them twice.
    if (!this.ledger.knows(prev)) {
      h.resumeRejected(prev, 'unknown_session');
      return;
    }
    const payers = this.ledger.payersOf(prev);
    if (payers.size > 1 || (payers.size === 1 && !payers.has(payer))) {
      h.resumeRejected(prev, 'wrong_payer');
      return;
    }
    const open = this.bySession.get(prev);
    if (payers.size === 1 && open !== undefined && open !== h) {
      // Its books close now (final charge journaled); the connection follows.
      open.closeConnection();
      this.forget(open);
    }
    const amount = this.ledger.balanceOf(prev);
    if (amount <= 0n) {
      h.resumed(prev, 0n);
      return;
    }
    const c = this.conns.get(h);
    try {
      await this.ledger.transfer(prev, current, amount, payer, c?.infoHashHex ?? '', this.now());
      h.resumed(prev, amount);
    } catch (e) {
      // OVERDRAWN: another session moved it first (a race the journal settles); else the journal failed.
      if ((e as { code?: string }).code !== 'OVERDRAWN') this.emit('error', e instanceof Error ? e : new Error(String(e)));
      h.resumeRejected(prev, 'unavailable');
    }
  }

  /**
   * Ratio credits: once the session is bound and the buyer's identity decided on the
   * same connection, set aside what that identity may spend here and tell the session
   * (a `credit_state`, 0 for a peer without credit — a buyer waits for it before paying).
   * A peer that never proves an identity never gets one (and does not wait for it).
   */
  private maybeGrantCredit(h: SellerHook): void {
    const c = this.conns.get(h);
    const r = this.terms.ratio;
    const sessionHash = h.seller.sessionHash;
    if (c === undefined || c.credit === null || r === undefined || this.credits === null || sessionHash === null) return;
    c.credit.onDecided((credit) => {
      // After the messages that came with the proof: statements a buyer presents right
      // behind it (one hop) count for this first grant.
      queueMicrotask(() => {
        if (!this.conns.has(h) || c.creditTold) return;
        c.creditTold = true;
        const identity = credit.identity;
        if (identity === null || !this.setAside(h, c, identity)) h.grantCredit(0n, 0n);
      });
    });
  }

  /** Set aside what `identity` may spend now for this session and tell it; false if there was nothing. */
  private setAside(h: SellerHook, c: Conn, identity: string): boolean {
    const r = this.terms.ratio;
    const sessionHash = h.seller.sessionHash;
    if (r === undefined || this.credits === null || sessionHash === null) return false;
    const res = this.credits.reserve(identity, U64_MAX, c.infoHashHex, sessionHash);
    if (res === null) return false;
    c.reservations.push(res);
    let served = (res.granted * r.served) / r.credit;
    const room = U64_MAX - h.stats().creditAllowance;
    if (served > room) served = room;
    h.grantCredit(served, this.credits.balanceOf(identity).available);
    return true;
  }

  /**
   * What this session spent of its credit, spread over its reservations in order (each
   * one spent in full before the next): the book journals it.
   */
  private reportSpent(h: SellerHook, c: Conn): void {
    let spent = this.creditSpentFor(h.stats().creditBytes);
    for (const res of c.reservations) {
      const part = spent < res.granted ? spent : res.granted;
      res.spend(part);
      spent -= part;
    }
  }

  /** Credit bytes that `bytes` of service cost at the terms' rate (rounded up: the node's favour by less than a byte). */
  private creditSpentFor(bytes: bigint): bigint {
    const r = this.terms.ratio;
    if (r === undefined || bytes === 0n) return 0n;
    return (bytes * r.credit + r.served - 1n) / r.served;
  }

  /** Close a connection's books (it ended, or its session resumed elsewhere): final charge, credit spent, totals. */
  private forget(h: SellerHook): void {
    const c = this.conns.get(h);
    if (c === undefined) return;
    this.charge(h);
    const s = h.stats();
    this.reportSpent(h, c);
    for (const res of c.reservations) res.release().catch(() => undefined);
    this.closedTotals.charged += s.charged;
    this.closedTotals.paidBytes += s.paidBytes;
    this.closedTotals.freeBytes += s.freeBytes;
    this.closedTotals.creditBytes += s.creditBytes;
    this.conns.delete(h);
    const ch = h.seller.channel;
    if (ch !== null) {
      const set = this.liveChannels.get(ch.address);
      set?.delete(h);
      if (set?.size === 0) this.liveChannels.delete(ch.address);
    }
    const sh = h.seller.sessionHash;
    if (sh !== null && this.bySession.get(sh) === h) this.bySession.delete(sh);
  }
}

/** Default margin before a channel's expiry (seconds): refused when closer, claimed and closed once this close. */
const DEFAULT_EXPIRY_MARGIN_S = 600;

/** The host of "host:port" or "[v6]:port". */
function hostOf(peer: string): string {
  const i = peer.lastIndexOf(':');
  const host = i > 0 ? peer.slice(0, i) : peer;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
