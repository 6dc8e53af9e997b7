/**
 * PaidBuyer: downloads with a Client and pays SeedPay sellers (SEEDPAY.md §3, §4, §6, §7).
 *
 *   const buyer = await PaidBuyer.open({ chain, payer, journalPath, mint, maxPricePerMiB: 200n, budget: 1_000_000n });
 *   const torrent = await buyer.add(client, 'file.torrent', { dir: './dl', peers: ['127.0.0.1:6881'] });
 *
 * Each paid torrent gets one torrent plugin (extensions/plugin.ts) and each of its
 * connections one BuyerHook (extensions/seedpay/hook.ts); this object is the hooks'
 * driver and the only writer of the buyer's journal (through the payer):
 *  - the hook's policy: price ≤ max price, the RPC's cluster and the buyer's mint (no
 *    other is ever paid), budgets (per torrent and in total, shared by all
 *    connections: reserved before paying), and a risk cap on every payment;
 *    it pays only a seller whose session signature verified against its wallet;
 *  - a 'pay' request goes to payment/payer.ts, which journals the payment (fsync)
 *    before the proof is sent; one payment outstanding per seller; the first covers
 *    a small amount of data and later ones grow while pieces verify;
 *  - transient rejections (rpc_unavailable, tx_not_found, unconfirmed) are retried
 *    at the hook's tick; a top-up goes out before the balance runs out (low-water mark or the
 *    seller's payment_required);
 *  - piece verdicts (the plugin's onPiecePassed / onPieceFailed, with the peers that
 *    sent the blocks) feed the hooks: a seller that sent a bad piece is never paid
 *    again and is disconnected;
 *  - after a payment is confirmed the request pipeline is refilled at once (a seller
 *    out of credit rejected our requests);
 *  - at completion a connection with a payment outstanding (being paid, its proof
 *    sent or waiting to be resent) stays open until the payment is settled, so the
 *    seller credits it and we see the answer (the plugin's `isBusy`; bounded by the
 *    torrent's `lingerTimeoutMs`). No payment starts once the torrent is complete: the need
 *    budget is then zero;
 *  - session resume (docs/PROTOCOL.md §4, with sellers whose terms offer it): when a
 *    connection to a seller ends, what its session leaves (unspent balance, payments
 *    whose proof was never answered — also one that lands on chain after the cut) is
 *    kept per seller wallet and torrent; the next session with that seller asks for it,
 *    signed with the payer's wallet key, and proves those payments again there;
 *  - late payments (docs/PROTOCOL.md §7): a payment whose fate the payer could not learn
 *    (not confirmed within confirmTimeoutMs, the RPC failing) is journaled as pending and
 *    watched (payment/payer.ts settlePending, every `pendingCheckMs`), as are the pending
 *    payments an earlier run left in the journal (on open). Meanwhile its connection
 *    still waits for it (one payment outstanding, its budget reserved). When it lands,
 *    its `payment` is journaled and it is proven: in the session that paid it if that
 *    connection is still open, else like a payment that landed after a cut (session
 *    resume). When it provably never can (expired blockhash), it is settled as void
 *    and its budget is free again;
 *  - payment channels (docs/PROTOCOL.md, "Payment channels"; `channel`, unless
 *    `prepaidOnly`): a seller offering mode `channel` on our chain's program is paid by
 *    vouchers on one escrow channel per seller and mint (lib/paid/buyer-channels.ts: from
 *    the journal, or opened — deposit `channel.deposit`, default the torrent budget),
 *    reused by later sessions and torrents; each voucher is journaled (`voucher_sent`,
 *    fsync) before it is signed and sent, and keeps about `aheadBytes` paid ahead of
 *    what was received. A seller without channels is paid prepaid as before.
 */
import { BuyerHook, type BuyerDriver } from '../../extensions/seedpay/hook.js';
import { Budget, remainingOf, type BuyerPolicy } from '../../extensions/seedpay/policy.js';
import type { BuyerEvent, PaymentRef, ResumeRequest } from '../../extensions/seedpay/buyer-session.js';
import type { PluginPeer, TorrentPlugin } from '../../extensions/plugin.js';
import type { ExtensionConnectionInfo } from '../../extensions/registry.js';
import type { Chain } from '../../payment/chain.js';
import type { Terms } from '../../payment/terms.js';
import { MIB } from '../../payment/amount.js';
import { Journal, type PaymentPendingRecord } from '../../payment/journal.js';
import { payPrepaid, PayError, settlePending, type PaymentProof, type PendingFate } from '../../payment/payer.js';
import { resumeMessage, signResume } from '../../payment/resume.js';
import type { Keypair } from '@solana/web3.js';
import { processFlushGate } from '../files/flush-gate.js';
import type { Client, TorrentSource } from '../net/client.js';
import type { PeerSession } from '../engine/peer-session.js';
import type { Torrent, TorrentOptions } from '../engine/torrent.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { NeedBudget } from './need-budget.js';
import { SwarmPurchases, type PaymentGate } from './swarm-purchases.js';
import { ratioCredits, type CreditSink } from '../../extensions/ratio/plugin.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { walletFromSecretKey } from '../../payment/session.js';
import type { ChannelChain } from '../../payment/channel/types.js';
import { BuyerChannels } from './buyer-channels.js';

export interface PaidBuyerOptions {
  chain: Chain;
  /** The buyer's wallet (pays from its associated token account for the terms' mint). */
  payer: Keypair;
  /** The buyer's journal of payments (created if absent). */
  journalPath: string;
  /** Highest price accepted, base units per MiB. */
  maxPricePerMiB: bigint;
  /** Most this buyer pays per torrent (base units), counting what earlier runs on the same journal paid for it. */
  budget: bigint;
  /** Most paid in total by this buyer across torrents (default: `budget`). A Budget may be shared between buyers. */
  totalBudget?: bigint | Budget;
  /**
   * The only mint paid (base58). Budgets and prices are in its base units, so a seller
   * asking any other mint is refused before anything is paid.
   */
  mint: string;
  /**
   * The most this buyer risks with one seller at once (base units): paid (vouchers
   * included) and not yet backed by its data that passed the hash check; so also the
   * largest payment. Unset: earned — DEFAULT_RISK_BYTES worth at the seller's price at
   * first, growing to a quarter of the value of the seller's verified data
   * (extensions/seedpay/policy.ts).
   */
  maxPrepay?: bigint;
  /** Policy knobs of extensions/seedpay BuyerPolicy (payment sizes, low water, retries). */
  policy?: Partial<Omit<BuyerPolicy, 'maxPricePerMiB' | 'budgets' | 'cluster' | 'mint' | 'maxPrepay'>>;
  /** Payer confirmation polling (default 400 ms, a Solana slot). */
  pollIntervalMs?: number;
  /** How long the payer waits for `confirmed` (default 60 s); a payment not confirmed by then is watched (see pendingCheckMs). */
  confirmTimeoutMs?: number;
  /** How often payments whose fate is not known yet are looked up (default 2 s). */
  pendingCheckMs?: number;
  /**
   * Ratio credits (docs/PROTOCOL.md §10): prove the payer wallet as our credit identity
   * on this buyer's torrents, so sellers that take credit draw on what we earned there
   * by uploading before we pay (and peers credit what we upload to them). `sink`: where
   * what peers upload to us in these torrents is credited (a node's credit book), if
   * anywhere. Default: off (we pay, and claim nothing).
   */
  ratio?: boolean | { sink?: CreditSink | null };
  /**
   * Payment channels (docs/PROTOCOL.md, "Payment channels"): pay sellers that offer them
   * on `chain`'s program through an escrow channel. `deposit` (default: `budget`) is what
   * a new channel holds; `voucherKey` signs vouchers (default the payer); `aheadBytes`
   * how much data vouchers keep paid ahead (default 1 MiB: the most a seller can take
   * without serving). false / unset: prepaid only.
   */
  channel?: {
    chain: ChannelChain; deposit?: bigint; voucherKey?: Keypair; aheadBytes?: bigint; expirySeconds?: number; renewMarginSeconds?: number;
  } | false;
  /** Pay prepaid even where a channel could be used (overrides `channel`). */
  prepaidOnly?: boolean;
  /**
   * Paying in a swarm (docs/PROTOCOL.md): the download rate wanted, bytes/s. Set: free
   * peers are used first and sellers are bought from, cheapest first, only for the rate
   * they do not deliver. Unset (default): as fast as possible within the max price —
   * every seller at or below it is paid, the cheapest given the most requests.
   */
  targetRate?: number;
  /** Requests in flight that count as a seller's full pipeline for the purchase policy (default 64). */
  fullPipeline?: number;
}

/** A voucher this buyer signed and sent (payment channels). */
export interface VoucherMade {
  readonly channel: string;
  /** Cumulative on the channel. */
  readonly amount: bigint;
  /** What it added. */
  readonly delta: bigint;
  readonly seller: string;
  readonly peer: string;
  readonly infoHash: string;
}

/** What this buyer did with one seller (a wallet) for one torrent, over this process's sessions with it. */
export interface SellerSummary {
  readonly wallet: string;
  readonly infoHash: string;
  /** The addresses its sessions were on. */
  readonly peers: readonly string[];
  /** Its price, base units per MiB (the last terms seen). */
  readonly pricePerMiB: bigint;
  /** Piece bytes received from it. */
  readonly bytes: bigint;
  /** Base units paid to it by this process (landed payments), and how many payments. */
  readonly paid: bigint;
  readonly payments: number;
}

export interface BuyerPeerInfo {
  readonly peer: string;
  readonly sessionHash: string | null;
}

export interface PaymentMade {
  readonly tx: string;
  readonly amount: bigint;
  readonly seller: string;
  readonly peer: string;
  readonly infoHash: string;
}

export interface PaidBuyerEvents {
  /** The seller's signature verified: a paid session is bound. */
  session: [peer: BuyerPeerInfo];
  /** This seller will never be paid (policy, bad signature). */
  refused: [peer: BuyerPeerInfo, reason: string];
  /** A payment is being submitted (the chain's time starts here). */
  paying: [peer: BuyerPeerInfo, amount: bigint];
  /** A payment landed on chain and was journaled; its proof goes out now. */
  paid: [peer: BuyerPeerInfo, payment: PaymentMade];
  confirmed: [peer: BuyerPeerInfo, tx: string, credited: bigint, balance: bigint];
  rejected: [peer: BuyerPeerInfo, tx: string, reason: string, final: boolean];
  /** A payment attempt failed (nothing proven to the seller). */
  pay_failed: [peer: BuyerPeerInfo, error: Error];
  /** A payment was sent but not confirmed in time (or the RPC failed): journaled as pending, watched until it lands or provably cannot. */
  pay_pending: [peer: BuyerPeerInfo, tx: string, error: Error];
  /** A pending payment's fate is known and journaled: landed (then proven), or never landed (its budget freed). */
  pay_settled: [tx: string, landed: boolean];
  /** No further payment to this seller. */
  stopped: [peer: BuyerPeerInfo, reason: string, detail: string];
  budget_exhausted: [peer: BuyerPeerInfo, needed: bigint];
  /** Disconnected for a bad piece. */
  disconnected: [peer: BuyerPeerInfo, index: number];
  ended: [peer: BuyerPeerInfo, error: Error];
  /** Session resume: the earlier session `prev` resumed here, `credited` of its balance moved, `payments` proven again. */
  resumed: [peer: BuyerPeerInfo, prev: string, credited: bigint, payments: number];
  /** Payment channels: the seller confirmed our channel (or rejected it: `reason`). */
  channel: [peer: BuyerPeerInfo, channel: string, ok: boolean, reason: string | null];
  /** Payment channels: a voucher was journaled, signed and sent. */
  voucher: [peer: BuyerPeerInfo, voucher: VoucherMade];
  resume_rejected: [peer: BuyerPeerInfo, prev: string, reason: string];
  error: [error: Error];
}

/** Earlier sessions kept per seller and torrent, at most (the oldest is dropped). */
const MAX_CARRIED_SESSIONS = 8;
/** Sellers (wallet and torrent) with sessions kept, at most. */
const MAX_CARRIED_SELLERS = 1024;
/** Payments re-proven per earlier session, at most (each answered replayed_tx costs the seller nothing but counts toward its flood limit). */
const MAX_CARRIED_PAYMENTS = 2;
/** From the journal after a restart: sessions with a payment this recent, and payments this recent. */
const RESUME_SESSION_AGE_MS = 60 * 60_000;
const RESUME_PAYMENT_AGE_MS = 15 * 60_000;

/** A payment whose fate is not known yet (an unsettled payment_pending in the journal). */
interface Watched {
  readonly record: PaymentPendingRecord;
  /** The connection that paid it and still waits for it ('paying'); null for one an earlier run left. */
  readonly live: { readonly hook: BuyerHook; readonly conn: Conn; readonly info: BuyerPeerInfo; readonly terms: Terms } | null;
  /** An earlier run's: reserved in this torrent budget (spentOn counted it), spent or released once settled. */
  reservedIn: Budget | null;
}

const DEFAULT_PENDING_CHECK_MS = 2_000;

/** What the buyer keeps per connection. */
interface Conn {
  readonly peer: string;
  readonly infoHashHex: string;
  readonly need: NeedBudget;
  readonly torrentBudget: Budget;
  /** The purchase policy's say on paying this seller (swarm-purchases.ts). */
  readonly gate: PaymentGate;
}

/** Per seller wallet and torrent: what sessions that ended received, where they were, the last price. */
interface SellerTally {
  bytes: bigint;
  readonly peers: Set<string>;
  price: bigint;
}

export class PaidBuyer extends TypedEmitter<PaidBuyerEvents> {
  readonly journal: Journal;
  readonly cluster: string;
  readonly totalBudget: Budget;
  private readonly opts: PaidBuyerOptions;
  private readonly conns = new Map<BuyerHook, Conn>();
  /** The connection of each hook (the plugin's view of it), once registered. */
  private readonly peerOf = new WeakMap<BuyerHook, PluginPeer>();
  private readonly torrentBudgets = new Map<string, Budget>();
  private readonly torrents = new Set<Torrent>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly made: PaymentMade[] = [];
  private readonly vouchersMade: VoucherMade[] = [];
  /** Payment channels (null: prepaid only). */
  readonly channels: BuyerChannels | null;
  /**
   * Session resume: per "seller wallet/info hash", the earlier sessions a new one
   * should resume → their payments never answered (tx → amount).
   */
  private readonly carried = new Map<string, Map<string, Map<string, bigint>>>();
  /** Payments whose fate is not known yet, by signature (see `checkPending`). */
  private readonly watched = new Map<string, Watched>();
  /** The purchase policy per torrent (info hash hex). */
  private readonly purchases = new Map<string, SwarmPurchases>();
  /** Per "seller wallet/info hash": what its ended sessions received (perSeller adds the live ones). */
  private readonly tallies = new Map<string, SellerTally>();
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  private watching: Promise<void> | null = null;
  private closed = false;
  /** How this buyer answers its hooks. */
  private readonly driver: BuyerDriver = {
    pay: (h, req) => this.pay(h, req.amount, req.terms, req.sessionHash),
    channel: (h, req) => this.useChannel(h, req.terms, req.sessionHash),
    voucher: (h, req) => this.raiseVoucher(h, req.channel, req.delta, req.terms),
    event: (h, ev) => this.event(h, ev),
    connectionClosed: (h) => this.forget(h),
  };

  private constructor(opts: PaidBuyerOptions, cluster: string, journal: Journal) {
    super();
    this.opts = opts;
    this.cluster = cluster;
    this.journal = journal;
    const tb = opts.totalBudget;
    this.totalBudget = tb instanceof Budget ? tb : new Budget(tb ?? opts.budget, 'total');
    const ch = opts.channel;
    this.channels = ch === undefined || ch === false || opts.prepaidOnly === true ? null : new BuyerChannels(journal, {
      chain: ch.chain, payer: opts.payer, voucherKey: ch.voucherKey, deposit: ch.deposit ?? opts.budget,
      expirySeconds: ch.expirySeconds, renewMarginSeconds: ch.renewMarginSeconds,
    });
  }
  /** Learn the RPC's cluster (sellers settling elsewhere are refused) and open the journal. */
  static async open(opts: PaidBuyerOptions): Promise<PaidBuyer> {
    const cluster = await opts.chain.genesisHash();
    const journal = await Journal.open(opts.journalPath, { syncGate: processFlushGate });
    const b = new PaidBuyer(opts, cluster, journal);
    b.keepFromJournal(Date.now());
    // Payments an earlier run signed and whose fate it never learnt (a crash, a late
    // confirmation): looked up now, before any session (one that landed is resumed).
    for (const r of journal.pendingPayments()) b.watched.set(r.signature, { record: r, live: null, reservedIn: null });
    await b.checkPending();
    return b;
  }

  /** Signatures of payments whose fate is not known yet (being watched). */
  pendingPayments(): string[] { return [...this.watched.keys()]; }

  /** Look up the payments whose fate is not known yet now (also done every `pendingCheckMs`). */
  checkPending(): Promise<void> {
    if (this.watching !== null) return this.watching;
    if (this.watched.size === 0) return Promise.resolve();
    const run = (async () => {
      const fates = await settlePending(this.opts.chain, this.journal, [...this.watched.values()].map((w) => w.record));
      for (const f of fates) {
        try {
          this.settled(f);
        } catch (e) {
          this.emit('error', e instanceof Error ? e : new Error(String(e)));
        }
      }
    })().catch((e: unknown) => { this.emit('error', e instanceof Error ? e : new Error(String(e))); }).finally(() => {
      this.watching = null;
      if (this.watched.size === 0 && this.watchTimer !== null) {
        clearInterval(this.watchTimer);
        this.watchTimer = null;
      } else {
        this.scheduleWatch();
      }
    });
    this.watching = run;
    return run;
  }

  private scheduleWatch(): void {
    if (this.watchTimer !== null || this.closed || this.watched.size === 0) return;
    this.watchTimer = setInterval(() => void this.checkPending(), this.opts.pendingCheckMs ?? DEFAULT_PENDING_CHECK_MS);
    this.watchTimer.unref();
  }

  /** A pending payment's fate, journaled: answer whoever waits for it. */
  private settled(f: PendingFate): void {
    if (f.state === 'pending') return;
    const w = this.watched.get(f.record.signature);
    if (w === undefined) return;
    this.watched.delete(f.record.signature);
    const r = f.record;
    const ref: PaymentRef = { tx: r.signature, amount: r.amount };
    if (f.state === 'landed') {
      w.reservedIn?.spend(r.amount);
      this.emit('pay_settled', r.signature, true);
      if (w.live !== null) this.landed(w.live.hook, w.live.conn, w.live.info, w.live.terms, r.sessionHash, ref);
      else this.lateLandingFor(r.seller, r.infoHash, r.sessionHash, ref, true);
      return;
    }
    w.reservedIn?.release(r.amount);
    this.emit('pay_settled', r.signature, false);
    // Landed with an error: counted as spent and the seller dropped, as when the payer sees it
    // (payment/payer.ts tx_failed). Never landed: the reservation is released.
    if (w.live !== null) {
      const failed = f.reason === 'failed';
      w.live.hook.payFailed({
        code: failed ? 'tx_failed' : 'expired', signature: failed ? r.signature : undefined,
        message: failed ? 'the transaction landed with an error' : 'the transaction never landed (blockhash expired)',
      });
    }
  }

  /**
   * After a restart (or a crash), what this buyer's earlier sessions may have left,
   * from its journal: per seller and torrent, the sessions with a payment in the last
   * hour (their balance), and the payments of the last 15 minutes — an unanswered one
   * may still be credited (the seller's freshness window is 10 minutes); one already
   * credited is answered replayed_tx at no RPC cost. Used only with sellers that offer
   * resume.
   */
  private keepFromJournal(now: number): void {
    const bySeller = new Map<string, Map<string, { last: number; payments: PaymentRef[] }>>();
    for (const r of this.journal.records()) {
      if (r.kind !== 'payment' || now - r.time > RESUME_SESSION_AGE_MS) continue;
      const key = this.carryKey({ wallet: r.seller }, r.infoHash);
      let sessions = bySeller.get(key);
      if (sessions === undefined) bySeller.set(key, sessions = new Map());
      const e = sessions.get(r.sessionHash) ?? { last: 0, payments: [] };
      e.last = Math.max(e.last, r.time);
      if (now - r.time <= RESUME_PAYMENT_AGE_MS) e.payments.push({ tx: r.signature, amount: r.amount });
      sessions.set(r.sessionHash, e);
    }
    for (const [key, sessions] of bySeller) {
      const recent = [...sessions].sort((a, b) => a[1].last - b[1].last).slice(-MAX_CARRIED_SESSIONS);
      for (const [sessionHash, e] of recent) this.keep(key, sessionHash, e.payments.slice(-MAX_CARRIED_PAYMENTS));
    }
  }

  /** Add a torrent to `client`, paying its sellers within this buyer's policy. */
  async add(client: Client, src: TorrentSource, opts: TorrentOptions): Promise<Torrent> {
    const t = await client.add(src, { ...opts, ...this.torrentOptions(opts) });
    this.attach(t);
    return t;
  }

  /** Options that make a torrent's connections pay (for embedders calling `client.add`); then call `attach`. */
  torrentOptions(base: Pick<TorrentOptions, 'extensions'> = {}): Pick<TorrentOptions, 'extensions'> {
    const r = this.opts.ratio;
    const credit = r === undefined || r === false ? [] : [ratioCredits({
      signer: walletSigner(walletFromSecretKey(this.opts.payer.secretKey)),
      sink: typeof r === 'object' ? r.sink ?? null : null,
    })];
    return { extensions: [...(base.extensions ?? []), ...credit, this.plugin()] };
  }

  /**
   * Whether a payment to this peer is outstanding: being paid, its proof sent and not
   * answered, or waiting to be resent. Closing the connection then would lose it.
   */
  paymentOutstanding(peer: PeerSession | PluginPeer): boolean {
    const h = this.hookOf(peer);
    return h !== null && !h.isClosed && h.buyer.paymentOutstanding;
  }

  /** The torrent this buyer pays for: its progress caps what a payment may cover. */
  attach(t: Torrent): void { this.torrents.add(t); }

  /** Payments made by this process, in order. */
  payments(): PaymentMade[] { return [...this.made]; }

  /** Vouchers this process signed and sent (payment channels), in order. */
  vouchers(): VoucherMade[] { return [...this.vouchersMade]; }

  /** Base units this process paid (payments, and what its vouchers added). */
  get spent(): bigint { return this.made.reduce((s, p) => s + p.amount, 0n) + this.vouchersMade.reduce((s, v) => s + v.delta, 0n); }

  /**
   * Per seller (wallet) and torrent: bytes received, its price, what this process paid
   * it. Sellers we had a paid session with or paid, in the order first met.
   */
  perSeller(): SellerSummary[] {
    const rows = new Map<string, { wallet: string; infoHash: string; peers: Set<string>; price: bigint; bytes: bigint; paid: bigint; payments: number }>();
    const row = (wallet: string, infoHash: string): { wallet: string; infoHash: string; peers: Set<string>; price: bigint; bytes: bigint; paid: bigint; payments: number } => {
      const key = `${wallet}/${infoHash}`;
      let r = rows.get(key);
      if (r === undefined) rows.set(key, r = { wallet, infoHash, peers: new Set(), price: 0n, bytes: 0n, paid: 0n, payments: 0 });
      return r;
    };
    for (const [key, t] of this.tallies) {
      const [wallet, infoHash] = key.split('/');
      const r = row(wallet, infoHash);
      r.bytes += t.bytes;
      r.price = t.price;
      for (const p of t.peers) r.peers.add(p);
    }
    for (const [h, c] of this.conns) {
      const t = h.buyer.terms;
      if (t === null || h.buyer.sessionHash === null) continue;
      const r = row(t.wallet, c.infoHashHex);
      r.bytes += h.buyer.bytesReceived;
      r.price = t.price;
      r.peers.add(c.peer);
    }
    for (const p of this.made) {
      const r = row(p.seller, p.infoHash);
      r.paid += p.amount;
      r.payments++;
      r.peers.add(p.peer);
    }
    return [...rows.values()].map((r) => ({
      wallet: r.wallet, infoHash: r.infoHash, peers: [...r.peers], pricePerMiB: r.price, bytes: r.bytes, paid: r.paid, payments: r.payments,
    }));
  }

  /** Earlier sessions with this seller kept for session resume (what a new session with it would ask to resume). */
  resumableWith(wallet: string, infoHashHex: string): string[] {
    return [...(this.carried.get(this.carryKey({ wallet }, infoHashHex))?.keys() ?? [])];
  }

  /** The purchase policy's current decisions for a torrent (displays, tests). */
  purchasePlan(infoHashHex: string): ReturnType<SwarmPurchases['snapshot']> {
    return this.purchases.get(infoHashHex)?.snapshot() ?? [];
  }

  /** The buyer hook of a connection (tests, progress displays). */
  hookOf(peer: PeerSession | PluginPeer): BuyerHook | null {
    const h = peer.hook('seedpay');
    return h instanceof BuyerHook && this.conns.has(h) ? h : null;
  }

  /** Wait for payments in flight (they are journaled either way), close the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    // Pending payments stay in the journal: the next run on it looks them up.
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.watchTimer = null;
    await this.watching;
    for (const h of [...this.conns.keys()]) this.forget(h);
    await this.journal.close();
  }

  // ------------------------------------------------------------------ internals

  private budgetFor(infoHashHex: string): Budget {
    let b = this.torrentBudgets.get(infoHashHex);
    if (b === undefined) {
      b = new Budget(this.opts.budget, `torrent ${infoHashHex.slice(0, 8)}`);
      // What earlier runs paid for this torrent (the journal) counts: a restart does not
      // refill its budget. Their payments still pending are reserved instead, released
      // if they never land.
      const held = new Set(this.journal.pendingPayments().map((r) => r.signature));
      const pending = [...this.watched.values()].filter((w) => w.live === null && w.record.infoHash === infoHashHex && held.has(w.record.signature));
      b.spentBefore(this.journal.spentOn(infoHashHex) - pending.reduce((a, w) => a + w.record.amount, 0n));
      for (const w of pending) {
        if (b.reserve(w.record.amount)) w.reservedIn = b;
        else b.spentBefore(w.record.amount);
      }
      this.torrentBudgets.set(infoHashHex, b);
    }
    return b;
  }

  // ------------------------------------------------------------------ the torrent plugin

  private plugin(): TorrentPlugin {
    const verdict = (index: number, peers: readonly PluginPeer[], ok: boolean): void => {
      for (const p of peers) this.hookOf(p)?.pieceVerified(index, ok);
    };
    // One plugin per torrent: its purchase policy is found by the info hash its connections name.
    let ih: string | null = null;
    const purchases = (): SwarmPurchases | null => (ih === null ? null : this.purchases.get(ih) ?? null);
    return {
      name: 'seedpay',
      create: (info) => {
        ih ??= Buffer.from(info.infoHash).toString('hex');
        return this.create(info);
      },
      onPeerAdded: (peer) => {
        const h = this.hookOf(peer);
        const c = h === null ? undefined : this.conns.get(h);
        if (h !== null && c !== undefined) {
          this.peerOf.set(h, peer);
          purchases()?.add(peer, h, c.gate);
        }
      },
      onPeerRemoved: (peer) => purchases()?.remove(peer),
      tick: (now) => purchases()?.tick(now),
      onPiecePassed: (index, peers) => verdict(index, peers, true),
      onPieceFailed: (index, peers) => verdict(index, peers, false),
      isBusy: (peer) => this.paymentOutstanding(peer),
    };
  }

  /** The purchase policy of a torrent (made with its first connection). */
  private purchasesFor(infoHashHex: string): SwarmPurchases {
    let p = this.purchases.get(infoHashHex);
    if (p === undefined) {
      const torrentBudget = this.budgetFor(infoHashHex);
      p = new SwarmPurchases(
        { targetRate: this.opts.targetRate ?? null, maxPricePerMiB: this.opts.maxPricePerMiB, fullPipeline: this.opts.fullPipeline },
        () => {
          for (const t of this.torrents) if (t.infoHashHex === infoHashHex) return t.metainfo === null ? null : t.stats().downloaded;
          return null;
        },
        () => remainingOf([torrentBudget, this.totalBudget]) ?? 0n,
      );
      this.purchases.set(infoHashHex, p);
    }
    return p;
  }

  private create(info: ExtensionConnectionInfo): BuyerHook | null {
    if (this.closed) return null;
    const ih = Buffer.from(info.infoHash).toString('hex');
    const torrentBudget = this.budgetFor(ih);
    const gate = this.purchasesFor(ih).newGate();
    // Filled in below: the need budget reads the hook's own estimate.
    let self: BuyerHook | null = null;
    const need = new NeedBudget(
      () => this.missingBytes(ih, Number(self?.buyer.bytesReceived ?? 0n)),
      () => ({
        terms: self?.buyer.terms ?? null, bytesReceived: self?.buyer.chargeableReceived ?? 0n,
        credited: (self?.buyer.creditedTotal ?? 0n) + (self?.buyer.unansweredTotal ?? 0n), creditLeft: self?.buyer.creditLeft ?? 0n,
      }),
      // In a swarm, this seller's expected part of what is missing (the purchase policy's measure).
      () => (self === null ? 1 : this.purchases.get(ih)?.shareOf(self) ?? 1),
      // And the horizon of its prepaid credit there (null when it is our only source).
      () => (self === null ? null : this.purchases.get(ih)?.aheadOf(self) ?? null),
    );
    const policy: BuyerPolicy = {
      // The first payment must outlast the low-water mark, or every top-up fires
      // before a piece could verify and payments never grow.
      // Payments double up to 256 MiB while pieces verify: at loopback speeds (~500 MB/s)
      // the top-up (half the last payment ahead: 280 ms) then outlasts a payment's
      // settlement (pay, confirm, proof, the seller's lookup and journal: 100-150 ms
      // while the disk is busy); 128 MiB ran dry at every payment.
      firstPaymentBytes: 16n * MIB, lowWaterBytes: 8n * MIB, maxPaymentBytes: 256n * MIB,
      ...this.opts.policy,
      maxPricePerMiB: this.opts.maxPricePerMiB,
      cluster: this.cluster,
      budgets: [torrentBudget, this.totalBudget, need, gate],
      mint: this.opts.mint,
      ...(this.opts.maxPrepay !== undefined ? { maxPrepay: this.opts.maxPrepay } : {}),
    };
    const resumes = (session: string, terms: Terms): ResumeRequest[] => this.resumeRequests(ih, session, terms);
    const creditIdentity = this.opts.ratio !== undefined && this.opts.ratio !== false;
    const chan = this.channels === null ? null : {
      programId: this.channels.programId.toBase58(),
      ...(this.opts.channel !== false && this.opts.channel?.aheadBytes !== undefined ? { aheadBytes: this.opts.channel.aheadBytes } : {}),
    };
    const pieceLength = (): number | null => {
      for (const t of this.torrents) if (t.infoHashHex === ih) return t.metainfo?.pieceLength ?? null;
      return null;
    };
    const hook = self = new BuyerHook({ infoHash: info.infoHash, policy, resumes, creditIdentity, channel: chan, pieceLength }, this.driver);
    this.conns.set(hook, { peer: info.peer, infoHashHex: ih, need, torrentBudget, gate });
    return hook;
  }

  /** Whether a 'budget_exhausted' is only the need cap (the torrent needs nothing more from this seller), not money. */
  private onlyNeedCapped(h: BuyerHook): boolean {
    const b = this.conns.get(h);
    const t = h.buyer.terms;
    if (b === undefined || t === null) return false;
    const money = b.torrentBudget.remaining < this.totalBudget.remaining ? b.torrentBudget.remaining : this.totalBudget.remaining;
    // The purchase policy not buying from this seller now is not the money running out either.
    return money >= t.minPrepay && (b.need.remaining < t.minPrepay || !b.gate.open);
  }

  /** Bytes the torrent still misses (null while its size is unknown). */
  private missingBytes(infoHashHex: string, fromThisSeller: number): number | null {
    for (const t of this.torrents) {
      if (t.infoHashHex !== infoHashHex) continue;
      if (t.metainfo === null) return null;
      // Bytes received but not yet hash-checked are not missing (do not pay twice for them).
      const p = t.progress();
      const st = t.stats();
      // The hook counts a block before the torrent does (it sees it first): take the larger.
      const got = Math.max(p.bytesHave, st.downloaded - st.wasted, fromThisSeller);
      return Math.max(0, p.bytesTotal - got);
    }
    return null;
  }

  private info(h: BuyerHook): BuyerPeerInfo {
    return { peer: this.conns.get(h)?.peer ?? '?', sessionHash: h.buyer.sessionHash };
  }

  /** What a hook reports (the connection-level part, refill and close, the hook did itself). */
  private event(h: BuyerHook, ev: BuyerEvent): void {
    const info = this.info(h);
    switch (ev.type) {
      case 'session': {
        const c = this.conns.get(h);
        const peer = this.peerOf.get(h);
        if (c !== undefined && peer !== undefined) this.purchases.get(c.infoHashHex)?.sessionBound(peer);
        this.emit('session', info);
        break;
      }
      case 'resumed': this.emit('resumed', info, ev.prev, ev.credited, ev.payments); break;
      case 'resume_rejected': this.emit('resume_rejected', info, ev.prev, ev.reason); break;
      case 'refused': this.emit('refused', info, ev.reason); break;
      case 'confirmed': this.emit('confirmed', info, ev.tx, ev.credited, ev.balance); break;
      case 'rejected': this.emit('rejected', info, ev.tx, ev.reason, ev.final); break;
      case 'stopped': this.emit('stopped', info, ev.reason, ev.detail); break;
      case 'budget_exhausted':
        if (!this.onlyNeedCapped(h)) this.emit('budget_exhausted', info, ev.needed);
        break;
      case 'disconnect': this.emit('disconnected', info, ev.index); break;
      case 'channel_confirmed':
        if (ev.credited === 0n) this.emit('channel', info, ev.channel, true, null);
        break;
      case 'channel_rejected':
        // A channel the seller refuses (closed, expiring, drained, …) is not named again.
        this.channels?.markDead(ev.channel);
        this.emit('channel', info, ev.channel, false, ev.reason);
        break;
      case 'channel_closed':
        this.channels?.markDead(ev.channel);
        break;
      case 'ended': this.emit('ended', info, ev.error); break;
      default: break;
    }
  }

  /** A connection ended: keep what its session leaves for the next one with this seller. */
  private forget(h: BuyerHook): void {
    const c = this.conns.get(h);
    if (c === undefined) return;
    const t = h.buyer.terms;
    if (t !== null && h.buyer.sessionHash !== null) {
      const key = this.carryKey(t, c.infoHashHex);
      let tally = this.tallies.get(key);
      if (tally === undefined) this.tallies.set(key, tally = { bytes: 0n, peers: new Set(), price: t.price });
      tally.bytes += h.buyer.bytesReceived;
      tally.price = t.price;
      tally.peers.add(c.peer);
    }
    this.keepLeftovers(h);
    this.conns.delete(h);
  }

  private carryKey(terms: Pick<Terms, 'wallet'>, infoHashHex: string): string { return `${terms.wallet}/${infoHashHex}`; }

  /** Keep what an earlier session left (session resume), bounded per seller and in all. */
  private carry(terms: Terms, infoHashHex: string, sessionHash: string, payments: readonly PaymentRef[]): void {
    if (terms.resume !== true) return;
    this.keep(this.carryKey(terms, infoHashHex), sessionHash, payments);
  }

  private keep(key: string, sessionHash: string, payments: readonly PaymentRef[]): void {
    let sessions = this.carried.get(key);
    if (sessions === undefined) {
      if (this.carried.size >= MAX_CARRIED_SELLERS) this.carried.delete(this.carried.keys().next().value as string);
      this.carried.set(key, sessions = new Map());
    }
    const txs = sessions.get(sessionHash) ?? new Map<string, bigint>();
    sessions.delete(sessionHash); // re-inserted: the most recent last
    for (const p of payments) txs.set(p.tx, p.amount);
    sessions.set(sessionHash, txs);
    while (sessions.size > MAX_CARRIED_SESSIONS) sessions.delete(sessions.keys().next().value as string);
  }

  /** What a closed connection's session leaves, kept for the next one with this seller. */
  private keepLeftovers(h: BuyerHook): void {
    const terms = h.buyer.terms;
    const c = this.conns.get(h);
    if (terms === null || c === undefined) return;
    for (const l of h.buyer.leftovers()) this.carry(terms, c.infoHashHex, l.sessionHash, l.payments);
  }

  /**
   * A payment that landed after its connection was cut: proven in a live session with
   * the same seller that is resuming its session, else kept for the next one.
   */
  private lateLanding(terms: Terms, infoHashHex: string, sessionHash: string, p: PaymentRef): void {
    this.lateLandingFor(terms.wallet, infoHashHex, sessionHash, p, terms.resume === true);
  }

  /** lateLanding by seller wallet (`keep`: the seller offers resume, or unknown: a payment an earlier run left). */
  private lateLandingFor(wallet: string, infoHashHex: string, sessionHash: string, p: PaymentRef, keep: boolean): void {
    for (const [other, c] of this.conns) {
      if (other.isClosed || c.infoHashHex !== infoHashHex || other.buyer.terms?.wallet !== wallet) continue;
      if (other.addResumedPayment(sessionHash, p)) return;
    }
    if (keep) this.keep(this.carryKey({ wallet }, infoHashHex), sessionHash, [p]);
  }

  /** A payment of connection `h` landed and is journaled: proven there, or (cut meanwhile) in a later session. */
  private landed(h: BuyerHook, c: Conn, info: BuyerPeerInfo, terms: Terms, sessionHash: string, proof: PaymentProof): void {
    const made: PaymentMade = { tx: proof.tx, amount: proof.amount, seller: terms.wallet, peer: c.peer, infoHash: c.infoHashHex };
    this.made.push(made);
    this.emit('paid', info, made);
    // Landed after its connection was cut: a later session with this seller proves it.
    if (h.isClosed && h.buyer.state === 'ready') this.lateLanding(terms, c.infoHashHex, sessionHash, { tx: proof.tx, amount: proof.amount });
    h.paid(proof.tx, proof.amount);
  }

  /**
   * A session with a seller is bound (BuyerOptions.resumes): what our earlier sessions
   * with it left, signed with the payer's key. Handed over: if this session is cut
   * too, its leftovers() return them.
   */
  private resumeRequests(infoHashHex: string, current: string, terms: Terms): ResumeRequest[] {
    const key = this.carryKey(terms, infoHashHex);
    const sessions = this.carried.get(key);
    if (sessions === undefined) return [];
    this.carried.delete(key);
    const seed = this.opts.payer.secretKey.subarray(0, 32);
    const payer = this.opts.payer.publicKey.toBytes();
    const infoHash = Buffer.from(infoHashHex, 'hex');
    const out: ResumeRequest[] = [];
    for (const [prev, txs] of sessions) {
      if (prev === current) continue;
      const sig = signResume(seed, resumeMessage(infoHash, prev, current));
      out.push({ prev, payer, sig, payments: [...txs].map(([tx, amount]) => ({ tx, amount })) });
    }
    return out;
  }

  /** Payment channels: name our channel for this seller (from the journal, or a new one) with the proof it is ours. */
  private useChannel(h: BuyerHook, terms: Terms, sessionHash: string): void {
    const c = this.conns.get(h);
    const channels = this.channels;
    if (c === undefined || channels === null) { h.channelFailed('channels not enabled'); return; }
    const p = channels.channelFor(terms.wallet, terms.mint).then(
      (u) => {
        const proof = channels.openProof(Buffer.from(c.infoHashHex, 'hex'), sessionHash, u.address);
        const address58 = u.address.toBase58();
        h.channelReady({ channel: u.address.toBytes(), buyer: proof.buyer, sig: proof.sig, deposit: u.deposit, sent: u.sent, sentNow: () => channels.sentOf(address58) });
      },
      (e: unknown) => {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        h.channelFailed(e instanceof Error ? e.message : String(e));
      },
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Payment channels: journal and sign a raised voucher. */
  private raiseVoucher(h: BuyerHook, channel: string, delta: bigint, terms: Terms): void {
    const c = this.conns.get(h);
    const channels = this.channels;
    if (c === undefined || channels === null) { h.voucherFailed('channels not enabled'); return; }
    const p = channels.raise(channel, terms.wallet, c.infoHashHex, delta).then(
      (v) => {
        const made: VoucherMade = { channel, amount: v.amount, delta: v.delta, seller: terms.wallet, peer: c.peer, infoHash: c.infoHashHex };
        this.vouchersMade.push(made);
        this.emit('voucher', this.info(h), made);
        h.voucherSigned(v.amount, v.delta, v.sig);
      },
      (e: unknown) => {
        if ((e as { code?: string }).code !== 'CLOSED') this.emit('error', e instanceof Error ? e : new Error(String(e)));
        h.voucherFailed(e instanceof Error ? e.message : String(e));
      },
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private pay(h: BuyerHook, amount: bigint, terms: Terms, sessionHash: string): void {
    const c = this.conns.get(h);
    if (c === undefined) return;
    const info = this.info(h);
    this.emit('paying', info, amount);
    const p = payPrepaid({
      chain: this.opts.chain, payer: this.opts.payer, terms, sessionHash, infoHash: c.infoHashHex, amount,
      journal: this.journal, acceptedMint: this.opts.mint,
      pollIntervalMs: this.opts.pollIntervalMs, confirmTimeoutMs: this.opts.confirmTimeoutMs,
    }).then(
      (proof) => this.landed(h, c, info, terms, sessionHash, proof),
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        const pe = e instanceof PayError ? e : null;
        const pending = pe?.signature !== undefined ? this.journal.pendingPayment(pe.signature) : undefined;
        if (pending !== undefined && !this.closed) {
          // Sent, fate unknown, journaled as pending: the connection keeps waiting for it
          // (still 'paying': one payment outstanding, its budget reserved) while it is watched.
          this.emit('pay_pending', info, pending.signature, err);
          this.watched.set(pending.signature, { record: pending, live: { hook: h, conn: c, info, terms }, reservedIn: null });
          this.scheduleWatch();
          return;
        }
        this.emit('pay_failed', info, err);
        h.payFailed({ code: pe?.code ?? 'send_failed', signature: pe?.signature, message: err.message });
      },
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
