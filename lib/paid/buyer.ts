/**
 * PaidBuyer: downloads with a Client and pays SeedPay sellers (SEEDPAY.md §3, §4, §6, §7).
 *
 *   const buyer = await PaidBuyer.open({ chain, payer, journalPath, maxPricePerMiB: 200n, budget: 1_000_000n });
 *   const torrent = await buyer.add(client, 'file.torrent', { dir: './dl', peers: ['127.0.0.1:6881'] });
 *
 * Binds the sans-IO buyer hooks (extensions/seedpay) to the client's sessions:
 *  - the hook's policy: price ≤ max price, the RPC's cluster and the mint, budgets
 *    (per torrent and in total, shared by all connections: reserved before paying);
 *    it pays only a seller whose session signature verified against its wallet;
 *  - a 'pay' request goes to payment/payer.ts, which journals the payment (fsync)
 *    before the proof is sent; one payment outstanding per seller; the first covers
 *    a small amount of data and later ones grow while pieces verify;
 *  - transient rejections (rpc_unavailable, tx_not_found, unconfirmed) are retried
 *    on a timer; a top-up goes out before the balance runs out (low-water mark or the
 *    seller's payment_required);
 *  - per-peer piece verdicts (the torrent's `peer_piece` event) feed the hook: a
 *    seller that sent a bad piece is never paid again and is disconnected;
 *  - after a payment is confirmed the request pipeline is refilled at once (a seller
 *    out of credit rejected our requests);
 *  - at completion a connection with a payment outstanding (being paid, its proof
 *    sent or waiting to be resent) stays open until the payment is settled, so the
 *    seller credits it and we see the answer (the torrent's `lingerWhile`; bounded by
 *    its `lingerTimeoutMs`). No payment starts once the torrent is complete: the need
 *    budget is then zero;
 *  - session resume (docs/PROTOCOL.md §4, with sellers whose terms offer it): when a
 *    connection to a seller ends, what its session leaves (unspent balance, payments
 *    whose proof was never answered — also one that lands on chain after the cut) is
 *    kept per seller wallet and torrent; the next session with that seller asks for it,
 *    signed with the payer's wallet key, and proves those payments again there.
 */
import { Budget, type BuyerPolicy } from '../../extensions/seedpay/policy.js';
import type { ExtensionFactory } from '../../extensions/registry.js';
import type { Chain } from '../../payment/chain.js';
import type { Terms } from '../../payment/terms.js';
import { MIB } from '../../payment/amount.js';
import { Journal } from '../../payment/journal.js';
import { processFlushGate } from '../flush-gate.js';
import { payPrepaid, PayError } from '../../payment/payer.js';
import { resumeMessage, signResume } from '../../payment/resume.js';
import type { PaymentRef, ResumeRequest } from '../../extensions/seedpay/buyer.js';
import type { Keypair } from '@solana/web3.js';
import type { ConnectionEvent } from '../../wire/connection.js';
import type { Client, TorrentSource } from '../client.js';
import type { PeerSession } from '../peer-session.js';
import type { Torrent, TorrentOptions } from '../torrent.js';
import { TypedEmitter } from '../typed-emitter.js';
import { PaidBuyerHook } from './hooks.js';
import { NeedBudget } from './need-budget.js';

export interface PaidBuyerOptions {
  chain: Chain;
  /** The buyer's wallet (pays from its associated token account for the terms' mint). */
  payer: Keypair;
  /** The buyer's journal of payments (created if absent). */
  journalPath: string;
  /** Highest price accepted, base units per MiB. */
  maxPricePerMiB: bigint;
  /** Most this buyer pays per torrent (base units). */
  budget: bigint;
  /** Most paid in total by this buyer across torrents (default: `budget`). A Budget may be shared between buyers. */
  totalBudget?: bigint | Budget;
  /** The only mint paid (base58); default: any mint the payer can pay in. */
  mint?: string;
  /** Policy knobs of extensions/seedpay BuyerPolicy (payment sizes, low water, retries). */
  policy?: Partial<Omit<BuyerPolicy, 'maxPricePerMiB' | 'budgets' | 'cluster' | 'mint'>>;
  /** Payer confirmation polling (default 400 ms, a Solana slot). */
  pollIntervalMs?: number;
  confirmTimeoutMs?: number;
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
  /** No further payment to this seller. */
  stopped: [peer: BuyerPeerInfo, reason: string, detail: string];
  budget_exhausted: [peer: BuyerPeerInfo, needed: bigint];
  /** Disconnected for a bad piece. */
  disconnected: [peer: BuyerPeerInfo, index: number];
  ended: [peer: BuyerPeerInfo, error: Error];
  /** Session resume: the earlier session `prev` resumed here, `credited` of its balance moved, `payments` proven again. */
  resumed: [peer: BuyerPeerInfo, prev: string, credited: bigint, payments: number];
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

export class PaidBuyer extends TypedEmitter<PaidBuyerEvents> {
  readonly journal: Journal;
  readonly cluster: string;
  readonly totalBudget: Budget;
  private readonly opts: PaidBuyerOptions;
  private readonly hooks = new Set<PaidBuyerHook>();
  private readonly torrentBudgets = new Map<string, Budget>();
  private readonly torrents = new Set<Torrent>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly made: PaymentMade[] = [];
  private readonly needs = new WeakMap<PaidBuyerHook, { need: NeedBudget; torrent: Budget }>();
  /**
   * Session resume: per "seller wallet/info hash", the earlier sessions a new one
   * should resume → their payments never answered (tx → amount).
   */
  private readonly carried = new Map<string, Map<string, Map<string, bigint>>>();
  private closed = false;

  private constructor(opts: PaidBuyerOptions, cluster: string, journal: Journal) {
    super();
    this.opts = opts;
    this.cluster = cluster;
    this.journal = journal;
    const tb = opts.totalBudget;
    this.totalBudget = tb instanceof Budget ? tb : new Budget(tb ?? opts.budget, 'total');
  }

  /** Learn the RPC's cluster (sellers settling elsewhere are refused) and open the journal. */
  static async open(opts: PaidBuyerOptions): Promise<PaidBuyer> {
    const cluster = await opts.chain.genesisHash();
    const journal = await Journal.open(opts.journalPath, { syncGate: processFlushGate });
    const b = new PaidBuyer(opts, cluster, journal);
    b.keepFromJournal(Date.now());
    return b;
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
  torrentOptions(base: Pick<TorrentOptions, 'extensions' | 'onPeerEvent' | 'lingerWhile'> = {}): Pick<TorrentOptions, 'extensions' | 'onPeerEvent' | 'lingerWhile'> {
    const userEvent = base.onPeerEvent;
    const userLinger = base.lingerWhile;
    return {
      extensions: [...(base.extensions ?? []), this.factory()],
      onPeerEvent: (peer, ev) => { this.onPeerEvent(peer, ev); userEvent?.(peer, ev); },
      lingerWhile: (peer) => this.paymentOutstanding(peer) || (userLinger?.(peer) ?? false),
    };
  }

  /**
   * Whether a payment to this peer is outstanding: being paid, its proof sent and not
   * answered, or waiting to be resent. Closing the connection then would lose it.
   */
  paymentOutstanding(peer: PeerSession): boolean {
    const h = this.hookOf(peer);
    return h !== null && !h.isClosed && h.buyer.paymentOutstanding;
  }

  /** Feed the torrent's per-peer piece verdicts to the hooks. */
  attach(t: Torrent): void {
    if (this.torrents.has(t)) return;
    this.torrents.add(t);
    t.on('peer_piece', (peer, index, ok) => {
      const h = this.hookOf(peer);
      if (h === null) return;
      h.session ??= peer;
      h.pieceVerified(index, ok);
      this.drain(h);
    });
  }

  /** Payments made by this process, in order. */
  payments(): PaymentMade[] { return [...this.made]; }

  /** Base units this process paid. */
  get spent(): bigint { return this.made.reduce((s, p) => s + p.amount, 0n); }

  hookOf(peer: PeerSession): PaidBuyerHook | null {
    const h = peer.extensions?.hook('seedpay');
    return h instanceof PaidBuyerHook ? h : null;
  }

  /** Wait for payments in flight (they are journaled either way), close the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    for (const h of this.hooks) h.close();
    await this.journal.close();
  }

  // ------------------------------------------------------------------ internals

  private budgetFor(infoHashHex: string): Budget {
    let b = this.torrentBudgets.get(infoHashHex);
    if (b === undefined) {
      b = new Budget(this.opts.budget, `torrent ${infoHashHex.slice(0, 8)}`);
      this.torrentBudgets.set(infoHashHex, b);
    }
    return b;
  }

  private factory(): ExtensionFactory {
    return {
      name: 'seedpay',
      create: (info) => {
        if (this.closed) return null;
        const ih = Buffer.from(info.infoHash).toString('hex');
        const torrentBudget = this.budgetFor(ih);
        // Filled in below: the need budget reads the hook's own estimate.
        let self: PaidBuyerHook | null = null;
        const need = new NeedBudget(
          () => this.missingBytes(ih, Number(self?.buyer.bytesReceived ?? 0n)),
          () => ({ terms: self?.buyer.terms ?? null, bytesReceived: self?.buyer.bytesReceived ?? 0n, credited: self?.buyer.creditedTotal ?? 0n }),
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
          budgets: [torrentBudget, this.totalBudget, need],
          ...(this.opts.mint !== undefined ? { mint: this.opts.mint } : {}),
        };
        const resumes = (session: string, terms: Terms): ResumeRequest[] => this.resumeRequests(ih, session, terms);
        const hook = self = new PaidBuyerHook({ infoHash: info.infoHash, policy, resumes, onOutput: info.flush }, {
          wake: (h) => this.drain(h),
          closed: (h) => { this.drain(h); this.keepLeftovers(h); this.hooks.delete(h); },
        });
        this.needs.set(hook, { need, torrent: torrentBudget });
        this.hooks.add(hook);
        return hook;
      },
    };
  }

  /** Whether a 'budget_exhausted' is only the need cap (the torrent needs nothing more from this seller), not money. */
  private onlyNeedCapped(h: PaidBuyerHook): boolean {
    const b = this.needs.get(h);
    const t = h.buyer.terms;
    if (b === undefined || t === null) return false;
    const money = b.torrent.remaining < this.totalBudget.remaining ? b.torrent.remaining : this.totalBudget.remaining;
    return money >= t.minPrepay && b.need.remaining < t.minPrepay;
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

  private onPeerEvent(peer: PeerSession, ev: ConnectionEvent): void {
    const h = this.hookOf(peer);
    if (h === null) return;
    h.session ??= peer;
    if (ev.type === 'reject' && h.buyer.state === 'ready') {
      // The seller is out of our credit: a top-up if the policy allows one.
      h.topUp();
    }
    this.drain(h);
  }

  private sessionOf(h: PaidBuyerHook): PeerSession | null {
    if (h.session !== null) return h.session;
    for (const t of this.torrents) {
      for (const s of t.peers()) if (s.extensions?.hook('seedpay') === h) { h.session = s; return s; }
    }
    return null;
  }

  private info(h: PaidBuyerHook): BuyerPeerInfo {
    return { peer: h.session?.address ?? '?', sessionHash: h.buyer.sessionHash };
  }

  private drain(h: PaidBuyerHook): void {
    for (let ev = h.pollEvent(); ev !== null; ev = h.pollEvent()) {
      switch (ev.type) {
        case 'session': this.emit('session', this.info(h)); break;
        case 'resumed': this.emit('resumed', this.info(h), ev.prev, ev.credited, ev.payments); break;
        case 'resume_rejected': this.emit('resume_rejected', this.info(h), ev.prev, ev.reason); break;
        case 'refused': this.emit('refused', this.info(h), ev.reason); break;
        case 'pay': this.pay(h, ev.amount, ev.terms, ev.sessionHash); break;
        case 'confirmed': {
          this.emit('confirmed', this.info(h), ev.tx, ev.credited, ev.balance);
          const s = this.sessionOf(h);
          s?.fill(true);
          break;
        }
        case 'rejected': this.emit('rejected', this.info(h), ev.tx, ev.reason, ev.final); break;
        case 'retry_proof': {
          if (h.isClosed) break;
          const tx = ev.tx;
          const timer = setTimeout(() => {
            h.timers.delete(timer);
            if (h.isClosed) return;
            h.retryProof(tx);
            this.drain(h);
          }, ev.delayMs);
          timer.unref();
          h.timers.add(timer);
          break;
        }
        case 'stopped': this.emit('stopped', this.info(h), ev.reason, ev.detail); break;
        case 'budget_exhausted':
          if (!this.onlyNeedCapped(h)) this.emit('budget_exhausted', this.info(h), ev.needed);
          break;
        case 'disconnect':
          this.emit('disconnected', this.info(h), ev.index);
          this.sessionOf(h)?.close('BANNED');
          break;
        case 'ended':
          this.emit('ended', this.info(h), ev.error);
          this.sessionOf(h)?.close('CLOSED', ev.error);
          break;
        default: break;
      }
    }
    // Settled (or nothing outstanding): a torrent holding this connection open since
    // completion closes it now, not at its next tick (a no-op before completion).
    if (!h.isClosed && !h.buyer.paymentOutstanding) h.session?.torrent?.lingerCheck();
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

  /** A connection ended: keep what its session leaves for the next one with this seller. */
  private keepLeftovers(h: PaidBuyerHook): void {
    const terms = h.buyer.terms;
    if (terms === null) return;
    for (const l of h.buyer.leftovers()) this.carry(terms, h.infoHashHex, l.sessionHash, l.payments);
  }

  /**
   * A payment that landed after its connection was cut: proven in a live session with
   * the same seller that is resuming its session, else kept for the next one.
   */
  private lateLanding(terms: Terms, infoHashHex: string, sessionHash: string, p: PaymentRef): void {
    for (const other of this.hooks) {
      if (other.isClosed || other.infoHashHex !== infoHashHex || other.buyer.terms?.wallet !== terms.wallet) continue;
      if (other.addResumedPayment(sessionHash, p)) { this.drain(other); return; }
    }
    this.carry(terms, infoHashHex, sessionHash, [p]);
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

  private pay(h: PaidBuyerHook, amount: bigint, terms: Terms, sessionHash: string): void {
    this.emit('paying', this.info(h), amount);
    const p = payPrepaid({
      chain: this.opts.chain, payer: this.opts.payer, terms, sessionHash, infoHash: h.infoHashHex, amount,
      journal: this.journal, acceptedMint: this.opts.mint,
      pollIntervalMs: this.opts.pollIntervalMs, confirmTimeoutMs: this.opts.confirmTimeoutMs,
    }).then(
      (proof) => {
        const made: PaymentMade = { tx: proof.tx, amount: proof.amount, seller: terms.wallet, peer: h.session?.address ?? '?', infoHash: h.infoHashHex };
        this.made.push(made);
        this.emit('paid', this.info(h), made);
        // Landed after its connection was cut: a later session with this seller proves it.
        if (h.isClosed && h.buyer.state === 'ready') this.lateLanding(terms, h.infoHashHex, sessionHash, { tx: proof.tx, amount: proof.amount });
        h.paid(proof.tx, proof.amount);
      },
      (e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        this.emit('pay_failed', this.info(h), err);
        const pe = e instanceof PayError ? e : null;
        h.payFailed({ code: pe?.code ?? 'send_failed', signature: pe?.signature, message: err.message });
      },
    ).then(() => this.drain(h));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}
