/**
 * PaidSeller: sells a Client's upload bandwidth under SeedPay (SEEDPAY.md §2–§5, §7).
 *
 *   const seller = await PaidSeller.open({ chain, wallet, journalPath, price: 100n });
 *   const torrent = await seller.add(client, 'file.torrent', { dir: './data' });
 *
 * It binds the sans-IO seller hooks (extensions/seedpay) to the client's sessions:
 *  - every connection of a paid torrent gets a seller hook: terms in the extended
 *    handshake, the signed session binding, proofs, and the piece gate that the
 *    serving path (lib/serve-blocks.ts) asks before reading and again before sending
 *    each block — no block beyond credit (plus the declared allowed_fast sample);
 *  - a refused block: reject_request under the fast extension, else the peer is
 *    choked and held until the next confirmed payment (lib/peer-session.ts);
 *  - the choker's filter is the hook's `unchokeAllowed()`: peers without SeedPay are
 *    served free or never unchoked (`policy: 'paid-only'`), buyers only with credit;
 *  - a proof is verified on the seller's own RPC (payment/verifier.ts), which journals
 *    the credit (fsync) before the hook may answer payment_confirmed; a confirmed
 *    payment resumes service at once;
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
 * One PaidSeller may serve many torrents; it owns its journal (closed by `close()`).
 */
import { applyRefusal } from '../../extensions/seedpay/hook.js';
import { walletSigner, type Signer, type VerifyOutcome } from '../../extensions/seedpay/seller.js';
import type { NonSeedPayPolicy } from '../../extensions/seedpay/policy.js';
import type { ExtensionFactory } from '../../extensions/registry.js';
import type { Chain } from '../../payment/chain.js';
import { Journal } from '../../payment/journal.js';
import { processFlushGate } from '../flush-gate.js';
import type { WalletKeypair } from '../../payment/session.js';
import { validateTerms, type Terms } from '../../payment/terms.js';
import type { RejectReason } from '../../payment/verify-rules.js';
import { PaymentVerifier, type RetryPolicy } from '../../payment/verifier.js';
import type { ConnectionEvent } from '../../wire/connection.js';
import type { Client, TorrentSource } from '../client.js';
import type { PeerSession } from '../peer-session.js';
import type { Torrent, TorrentOptions } from '../torrent.js';
import { TypedEmitter } from '../typed-emitter.js';
import { PaidSellerHook } from './hooks.js';

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
}

export class PaidSeller extends TypedEmitter<PaidSellerEvents> {
  readonly terms: Terms;
  readonly journal: Journal;
  readonly policy: NonSeedPayPolicy;
  private readonly opts: PaidSellerOptions;
  private readonly verifier: PaymentVerifier;
  private readonly hooks = new Set<PaidSellerHook>();
  private readonly torrents = new Set<Torrent>();
  private readonly pendingVerifications = new Set<Promise<void>>();
  /** The verification in flight per session hash (one at a time per session). */
  private readonly verifyingSession = new Map<string, Promise<void>>();
  private closedTotals = { charged: 0n, paidBytes: 0n, freeBytes: 0n };
  private creditedTotal = 0n;
  private readonly payments: { tx: string; credited: bigint; peer: string }[] = [];
  private closed = false;

  private constructor(opts: PaidSellerOptions, terms: Terms, journal: Journal) {
    super();
    this.opts = opts;
    this.terms = terms;
    this.journal = journal;
    this.policy = opts.policy ?? 'free';
    this.verifier = new PaymentVerifier({ chain: opts.chain, journal, retry: opts.retry });
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
      v: 1, chain: 'solana', cluster, mint: opts.mint, wallet: opts.wallet.address, price, minPrepay, modes: ['prepaid'],
      ...(opts.resume === false ? {} : { resume: true }),
    });
    const journal = await Journal.open(opts.journalPath, { syncGate: processFlushGate });
    return new PaidSeller(opts, terms, journal);
  }

  /** Add a torrent to `client`, sold under these terms. */
  async add(client: Client, src: TorrentSource, opts: TorrentOptions): Promise<Torrent> {
    const t = await client.add(src, { ...opts, ...this.torrentOptions(opts) });
    this.torrents.add(t);
    return t;
  }

  /**
   * The torrent options that make a torrent paid (for embedders that call
   * `client.add` themselves; `add` uses them). `base` extensions and onPeerEvent are kept.
   */
  torrentOptions(base: Pick<TorrentOptions, 'extensions' | 'onPeerEvent' | 'chokeFilter'> = {}): Pick<TorrentOptions, 'extensions' | 'onPeerEvent' | 'chokeFilter'> {
    const userEvent = base.onPeerEvent;
    const userFilter = base.chokeFilter;
    return {
      extensions: [...(base.extensions ?? []), this.factory()],
      chokeFilter: (peer) => this.unchokeAllowed(peer) && (userFilter === undefined || userFilter(peer)),
      onPeerEvent: (peer, ev) => { this.onPeerEvent(peer, ev); userEvent?.(peer, ev); },
    };
  }

  /** Totals of this process (live connections included). */
  totals(): SellerTotals {
    let charged = this.closedTotals.charged;
    let paidBytes = this.closedTotals.paidBytes;
    let freeBytes = this.closedTotals.freeBytes;
    for (const h of this.hooks) {
      const s = h.stats();
      charged += s.charged;
      paidBytes += s.paidBytes;
      freeBytes += s.freeBytes;
    }
    return { credited: this.creditedTotal, charged, paidBytes, freeBytes, payments: [...this.payments] };
  }

  /** The hook of a connection (tests, progress displays). */
  hookOf(peer: PeerSession): PaidSellerHook | null {
    const h = peer.extensions?.hook('seedpay');
    return h instanceof PaidSellerHook ? h : null;
  }

  /** Wait for verifications in flight, journal the final charges, close the journal. Close the torrents / client first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.pendingVerifications.size > 0) await Promise.allSettled([...this.pendingVerifications]);
    for (const h of [...this.hooks]) this.closed_(h);
    await this.journal.close();
  }

  // ------------------------------------------------------------------ internals

  private factory(): ExtensionFactory {
    const w = this.opts.wallet;
    const signer = this.opts.signer ?? ('seed' in w ? walletSigner(w) : null);
    if (signer === null) throw new Error('PaidSeller: a wallet keypair or a signer is needed to sign sessions');
    return {
      name: 'seedpay',
      create: (info) => {
        if (this.closed) return null;
        const hook = new PaidSellerHook({
          terms: this.terms, infoHash: info.infoHash, signer, policy: this.policy,
          lowWaterBytes: this.opts.lowWaterBytes ?? 8n * 1024n * 1024n,
          freePieces: this.opts.freePieces, freeBytes: this.opts.freeBytes,
          chargeEventBytes: this.opts.chargeEventBytes ?? 32n * 1024n * 1024n,
          onOutput: info.flush,
        }, { wake: (h) => this.drain(h), closed: (h) => this.closed_(h) });
        this.hooks.add(hook);
        return hook;
      },
    };
  }

  private unchokeAllowed(peer: PeerSession): boolean {
    const h = this.hookOf(peer);
    // No hook (client closing): only the free policy serves.
    return h === null ? this.policy === 'free' : h.unchokeAllowed();
  }

  private onPeerEvent(peer: PeerSession, ev: ConnectionEvent): void {
    const h = this.hookOf(peer);
    if (h === null) return;
    h.session ??= peer;
    if (ev.type === 'handshake' && peer.conn.fastEnabled && peer.conn.state === 'open') {
      // The declared free sample, and nothing else, goes out as allowed_fast.
      const now = peer.now();
      for (const i of this.opts.freePieces ?? []) if (peer.hasPiece(i)) peer.conn.allowedFast(i, now);
      peer.flushSoon();
    }
    this.drain(h);
  }

  private sessionOf(h: PaidSellerHook): PeerSession | null {
    if (h.session !== null) return h.session;
    for (const t of this.torrents) {
      for (const s of t.peers()) if (s.extensions?.hook('seedpay') === h) { h.session = s; return s; }
    }
    return null;
  }

  private info(h: PaidSellerHook): SellerPeerInfo {
    return { peer: h.session?.address ?? '?', sessionHash: h.seller.sessionHash };
  }

  private drain(h: PaidSellerHook): void {
    for (let ev = h.pollEvent(); ev !== null; ev = h.pollEvent()) {
      switch (ev.type) {
        case 'session':
          this.emit('session', this.info(h));
          break;
        case 'verify':
          this.verify(h, ev.tx, ev.sessionHash, ev.linked);
          break;
        case 'resume_request':
          this.resume(h, ev.prev, ev.payer, ev.sessionHash);
          break;
        case 'resumed':
          this.emit('resumed', this.info(h), ev.prev, ev.moved);
          break;
        case 'credited':
          this.creditedTotal += ev.credited;
          this.payments.push({ tx: ev.tx, credited: ev.credited, peer: h.session?.address ?? '?' });
          this.emit('credited', this.info(h), ev.tx, ev.credited, ev.balance);
          break;
        case 'rejected':
          this.emit('rejected', this.info(h), ev.tx, ev.reason);
          break;
        case 'resume':
          this.sessionOf(h)?.resume();
          break;
        case 'refuse': {
          // The serving path already refused it (reject_request / choke); this only
          // covers a request refused outside it.
          const s = this.sessionOf(h);
          if (s !== null && applyRefusal(s.conn, ev, s.now()) !== 'none') s.flushSoon();
          break;
        }
        case 'charge':
          this.journalCharge(h);
          break;
        case 'ended': {
          this.emit('ended', this.info(h), ev.error);
          // The buyer's fault (remote): a typed close its address is throttled for
          // (lib/violation-throttle.ts), so reconnect-and-flood loops are refused at accept.
          this.sessionOf(h)?.close(ev.error.remote ? 'SEEDPAY_VIOLATION' : 'CLOSED', ev.error);
          break;
        }
        default:
          break;
      }
    }
  }

  private verify(h: PaidSellerHook, tx: string, sessionHash: string, linkedSessions: ReadonlyMap<string, string>): void {
    const p = this.verifier.verifyPayment({
      signature: tx, sessionHash, linkedSessions, infoHash: h.infoHashHex, terms: this.terms,
      now: (this.opts.now ?? Date.now)(), freshnessMs: this.opts.freshnessMs,
    }).then(
      (r): VerifyOutcome => (r.ok ? { ok: true, credited: r.credited } : { ok: false, reason: r.reason }),
      (e: unknown): VerifyOutcome => {
        // The journal failed: nothing was credited. Say "try later" rather than a final no.
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        return { ok: false, reason: 'rpc_unavailable' };
      },
    ).then((outcome) => {
      h.verified(tx, outcome);
      this.drain(h);
    });
    this.verifyingSession.set(sessionHash, p);
    void p.finally(() => { if (this.verifyingSession.get(sessionHash) === p) this.verifyingSession.delete(sessionHash); });
    this.pendingVerifications.add(p);
    void p.finally(() => this.pendingVerifications.delete(p));
  }

  /**
   * Session resume: `payer` (its signature checked by the session) asks to move what
   * session `prev` left into `current`.
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
  private resume(h: PaidSellerHook, prev: string, payer: string, current: string): void {
    const p = this.moveBalance(h, prev, payer, current);
    this.pendingVerifications.add(p);
    void p.finally(() => this.pendingVerifications.delete(p));
  }

  private async moveBalance(h: PaidSellerHook, prev: string, payer: string, current: string): Promise<void> {
    for (let v = this.verifyingSession.get(prev); v !== undefined; v = this.verifyingSession.get(prev)) await v;
    const payers = this.journal.payersOf(prev);
    if (payers.size > 1 || (payers.size === 1 && !payers.has(payer))) {
      h.resumeRejected(prev, 'wrong_payer');
      this.drain(h);
      return;
    }
    if (payers.size === 1) {
      for (const other of [...this.hooks]) {
        if (other === h || other.seller.sessionHash !== prev) continue;
        this.sessionOf(other)?.close('CLOSED');
        this.closed_(other);
      }
    }
    const amount = this.journal.balanceOf(prev);
    if (amount <= 0n) {
      h.resumed(prev, 0n);
      this.drain(h);
      return;
    }
    try {
      await this.journal.append({
        kind: 'transfer', from: prev, to: current, amount, payer, infoHash: h.infoHashHex, time: (this.opts.now ?? Date.now)(),
      });
      h.resumed(prev, amount);
    } catch (e) {
      // OVERDRAWN: another session moved it first (a race the journal settles); else the journal failed.
      if ((e as { code?: string }).code !== 'OVERDRAWN') this.emit('error', e instanceof Error ? e : new Error(String(e)));
      h.resumeRejected(prev, 'unavailable');
    }
    this.drain(h);
  }

  /** Journal the cumulative charge of one session (no-op if nothing new was served). */
  private journalCharge(h: PaidSellerHook): void {
    const sessionHash = h.seller.sessionHash;
    const s = h.stats();
    if (sessionHash === null || s.paidBytes <= h.journaledBytes) return;
    h.journaledBytes = s.paidBytes;
    // Not fsync'd: a crash may lose charges since the last credit's sync, which errs in
    // the buyer's favour (SEEDPAY.md §7); a flush per 32 MiB served slowed serving.
    this.journal.append({ kind: 'charge', sessionHash, infoHash: h.infoHashHex, bytes: s.paidBytes, units: s.charged, time: Date.now() }, { sync: false })
      .catch((e: unknown) => {
        if (!this.closedJournalError(e)) this.emit('error', e instanceof Error ? e : new Error(String(e)));
      });
  }

  private closedJournalError(e: unknown): boolean {
    return (e as { code?: string })?.code === 'CLOSED';
  }

  private closed_(h: PaidSellerHook): void {
    if (!this.hooks.has(h)) return;
    this.drain(h);
    this.journalCharge(h);
    const s = h.stats();
    this.closedTotals.charged += s.charged;
    this.closedTotals.paidBytes += s.paidBytes;
    this.closedTotals.freeBytes += s.freeBytes;
    this.hooks.delete(h);
  }

}
