/**
 * A SeedPay seller (b, acceptor) and buyer (a, initiator) over test/wire/pair.ts,
 * with an in-memory fake chain standing in for the payer and the verifier: the test
 * controls whether payments succeed and what the verifier answers. The harness plays
 * the torrent session: it serves the buyer's requests through the piece gate, applies
 * refusals (reject_request / choke), unchokes on 'resume' when the choker filter
 * (`unchokeAllowed`) agrees, and makes the buyer download blocks in order, reporting
 * each complete piece as verified.
 */
import crypto from 'node:crypto';
import bs58 from 'bs58';
import { Pair, fill } from '../wire/pair.js';
import type { ConnectionOptions } from '../../wire/connection.js';
import type { ExtensionHook } from '../../wire/extension-hooks.js';
import type { Encodable } from '../../wire/bencode.js';
import { walletFromSeed, type WalletKeypair } from '../../payment/session.js';
import type { Terms } from '../../payment/terms.js';
import { BuyerHook, SellerHook, applyRefusal } from '../../extensions/seedpay/hook.js';
import { Budget, type BuyerPolicy } from '../../extensions/seedpay/policy.js';
import { walletSigner, type SellerEvent, type SellerOptions, type Signer, type VerifyOutcome } from '../../extensions/seedpay/seller-session.js';
import type { BuyerEvent } from '../../extensions/seedpay/buyer-session.js';

export const CLUSTER = 'EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG';
export const MINT = 'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v';
export const BLOCK = 16 * 1024;

export function seededWallet(n: number): WalletKeypair {
  return walletFromSeed(new Uint8Array(crypto.createHash('sha256').update(`wallet ${n}`).digest()));
}

export function makeTerms(wallet: string, over: Partial<Terms> = {}): Terms {
  return { v: 1, chain: 'solana', cluster: CLUSTER, mint: MINT, wallet, price: 1_000_000n, minPrepay: 1_000n, modes: ['prepaid'], ...over };
}

export function randomTx(): string {
  for (;;) {
    const s = bs58.encode(crypto.randomBytes(64));
    if (s.length >= 64) return s;
  }
}

export interface HarnessOptions {
  numPieces?: number;
  pieceLength?: number;
  fast?: boolean;
  terms?: Partial<Terms>;
  seller?: Partial<SellerOptions>;
  /** Sign with this instead of the wallet the terms name. */
  signer?: Signer;
  policy?: Partial<BuyerPolicy>;
  /** Rewrite the seller's extended handshake dict after the hook filled it (a man in the middle). */
  mitmHandshake?: (d: Map<string, Encodable>) => void;
  /** Rewrite each seedpay payload the seller sends (a man in the middle). */
  mitmSend?: (payload: Uint8Array) => Uint8Array;
  /** Wire tap. */
  onTransit?: (from: "a" | "b", chunk: Uint8Array) => void;
  /** Pieces whose data the seller corrupts. */
  badPieces?: readonly number[];
}

/** A transaction on the fake chain. */
export interface FakeTx { amount: bigint; sessionHash: string; to: string }

export class Harness {
  readonly pair: Pair;
  readonly seller: SellerHook;
  readonly buyer: BuyerHook;
  readonly wallet: WalletKeypair;
  readonly terms: Terms;
  readonly budgetTorrent: Budget;
  readonly budgetTotal: Budget;
  readonly sellerEvents: SellerEvent[] = [];
  readonly buyerEvents: BuyerEvent[] = [];
  readonly chain = new Map<string, FakeTx>();
  /** Verifications asked for and not answered (when autoVerify is off). */
  readonly pendingVerify: { tx: string; sessionHash: string }[] = [];
  readonly pendingPay: { amount: bigint; sessionHash: string; to: string }[] = [];
  autoVerify = true;
  autoPay = true;
  /** Override the fake verifier. */
  verifyWith: ((tx: string, sessionHash: string) => VerifyOutcome) | null = null;
  readonly numPieces: number;
  readonly pieceLength: number;
  /** Blocks the buyer still wants, in order; received blocks per piece. */
  private readonly wanted: { index: number; begin: number; length: number }[] = [];
  private readonly got = new Map<number, number>();
  private readonly received = new Set<string>();
  readonly verified = new Set<number>();
  downloading = false;
  maxInFlight = 8;
  refusals: ('rejected' | 'choked' | 'none')[] = [];
  disconnected = false;
  /** The buyer saw a reject: it waits for a confirmed payment before requesting again. */
  stalled = false;
  private readonly bad: ReadonlySet<number>;

  constructor(o: HarnessOptions = {}) {
    this.numPieces = o.numPieces ?? 16;
    this.pieceLength = o.pieceLength ?? 4 * BLOCK;
    this.bad = new Set(o.badPieces ?? []);
    this.wallet = seededWallet(1);
    this.terms = makeTerms(this.wallet.address, o.terms);
    this.budgetTorrent = new Budget(o.policy?.budgets ? 0n : 1_000_000_000n, 'torrent');
    this.budgetTotal = new Budget(o.policy?.budgets ? 0n : 1_000_000_000n, 'total');
    const signer = o.signer ?? walletSigner(this.wallet);
    const sellerHook = new SellerHook({
      terms: this.terms, infoHash: INFO, signer: { wallet: this.terms.wallet, sign: (m) => signer.sign(m) }, ...o.seller,
    });
    this.seller = sellerHook;
    let sHook: ExtensionHook = sellerHook;
    if (o.mitmHandshake !== undefined || o.mitmSend !== undefined) {
      const mh = o.mitmHandshake;
      const ms = o.mitmSend;
      // The hook as a man in the middle would make it look on the wire.
      sHook = {
        name: sellerHook.name,
        attach: (ctx) => sellerHook.attach({
          localId: ctx.localId,
          get remoteId() { return ctx.remoteId; },
          send: (p) => ctx.send(ms ? ms(p) : p),
          control: ctx.control,
        }),
        addHandshakeKeys: (d) => { sellerHook.addHandshakeKeys(d); mh?.(d); },
        onPeerHandshake: (hs) => sellerHook.onPeerHandshake(hs),
        onMessage: (p) => sellerHook.onMessage(p),
        canSendPiece: (i, b, l) => sellerHook.canSendPiece(i, b, l),
        onPieceSent: (i, b, l) => sellerHook.onPieceSent(i, b, l),
      };
    }
    this.buyer = new BuyerHook({
      infoHash: INFO,
      policy: { maxPricePerMiB: 10_000_000n, budgets: [this.budgetTorrent, this.budgetTotal], ...o.policy },
    });
    const common: Partial<ConnectionOptions> = { fast: o.fast ?? true };
    this.pair = new Pair({ numPieces: this.numPieces, infoHash: INFO, common, a: { extensions: [this.buyer] }, bExtensions: [sHook], onTransit: o.onTransit });
  }

  /** The buyer wants every block of these pieces (default all). */
  want(pieces?: readonly number[]): void {
    for (const index of pieces ?? [...Array(this.numPieces).keys()]) {
      for (let begin = 0; begin < this.pieceLength; begin += BLOCK) {
        this.wanted.push({ index, begin, length: Math.min(BLOCK, this.pieceLength - begin) });
      }
    }
    this.downloading = true;
  }

  get done(): boolean { return this.verified.size === this.numPieces; }

  /**
   * Run the session loop until nothing moves. Without fast, requests that crossed a
   * choke are never answered (BEP 3): as a real session does, let them time out and
   * ask again.
   */
  run(maxRounds = 100_000): void {
    const p = this.pair;
    let timeouts = 0;
    for (let round = 0; round < maxRounds; round++) {
      let moved = p.drive() > 0;
      moved = this.sessionB() || moved;
      moved = this.sessionA() || moved;
      if (moved) continue;
      const stuck = this.downloading && !this.done && p.a.state === 'open' && p.a.requestsInFlight > 0
        && p.b.pendingPeerRequests().length === 0 && !p.b.amChoking && !this.stalled;
      if (!stuck || ++timeouts > 50) return;
      p.advance(60_001);
    }
    throw new Error('harness: no quiescence');
  }

  private rewant(r: { index: number; begin: number; length: number }): void {
    if (!this.received.has(`${r.index}:${r.begin}:${r.length}`)) this.wanted.unshift({ index: r.index, begin: r.begin, length: r.length });
  }

  /** Answer the oldest pending verification (autoVerify off). */
  answerVerify(outcome?: VerifyOutcome): void {
    const v = this.pendingVerify.shift();
    if (v === undefined) throw new Error('no verification pending');
    this.seller.verified(v.tx, outcome ?? this.fakeVerify(v.tx, v.sessionHash));
  }

  fakeVerify(tx: string, sessionHash: string): VerifyOutcome {
    if (this.verifyWith !== null) return this.verifyWith(tx, sessionHash);
    const t = this.chain.get(tx);
    if (t === undefined) return { ok: false, reason: 'tx_not_found' };
    if (t.to !== this.terms.wallet) return { ok: false, reason: 'wrong_recipient' };
    if (t.sessionHash !== sessionHash) return { ok: false, reason: 'session_mismatch' };
    if (t.amount < this.terms.minPrepay) return { ok: false, reason: 'insufficient_amount' };
    return { ok: true, credited: t.amount };
  }

  /** Complete the oldest pending payment (autoPay off). */
  completePay(): string {
    const r = this.pendingPay.shift();
    if (r === undefined) throw new Error('no payment pending');
    const tx = randomTx();
    this.chain.set(tx, { amount: r.amount, sessionHash: r.sessionHash, to: r.to });
    this.buyer.paid(tx, r.amount);
    return tx;
  }

  /** Money that reached the seller's wallet on the fake chain. */
  paidToSeller(): bigint {
    let s = 0n;
    for (const t of this.chain.values()) if (t.to === this.terms.wallet) s += t.amount;
    return s;
  }

  private sessionB(): boolean {
    const p = this.pair;
    let moved = p.take('b', 'request').length > 0;
    for (;;) {
      let step = false;
      for (let ev = this.seller.pollEvent(); ev !== null; ev = this.seller.pollEvent()) {
        step = true;
        this.sellerEvents.push(ev);
        if (ev.type === 'verify') {
          if (this.autoVerify) this.seller.verified(ev.tx, this.fakeVerify(ev.tx, ev.sessionHash));
          else this.pendingVerify.push({ tx: ev.tx, sessionHash: ev.sessionHash });
        } else if (ev.type === 'refuse') {
          this.refusals.push(applyRefusal(p.b, ev, p.now));
        }
      }
      if (p.b.state !== 'open') return moved || step;
      // The choker with the seedpay filter: unchoke an interested peer when allowed.
      if (p.b.amChoking && p.b.peerInterested && this.seller.unchokeAllowed()) { p.b.unchoke(p.now); step = true; }
      // Serve what the gate lets through; a refused block queues a 'refuse' event (handled above).
      for (const r of p.b.pendingPeerRequests()) {
        if (p.b.canSendPiece(r.index, r.begin, r.length)) {
          const data = fill(r.length, this.bad.has(r.index) ? 0xee : (r.index & 0xff));
          p.b.sendPiece(r.index, r.begin, data, p.now);
          step = true;
        }
      }
      if (!step) return moved;
      moved = true;
    }
  }

  private sessionA(): boolean {
    const p = this.pair;
    let moved = false;
    for (let ev = this.buyer.pollEvent(); ev !== null; ev = this.buyer.pollEvent()) {
      moved = true;
      this.buyerEvents.push(ev);
      if (ev.type === 'pay') {
        const r = { amount: ev.amount, sessionHash: ev.sessionHash, to: ev.terms.wallet };
        if (this.autoPay) {
          this.pendingPay.push(r);
          this.completePay();
        } else {
          this.pendingPay.push(r);
        }
      } else if (ev.type === 'confirmed') {
        this.stalled = false;
      } else if (ev.type === 'retry_proof') {
        this.buyer.retryProof(ev.tx);
      } else if (ev.type === 'disconnect') {
        this.disconnected = true;
        p.a.close();
        p.b.close();
      }
    }
    if (p.a.state !== 'open' || !this.downloading) return moved;
    for (const ev of p.take('a', 'piece')) {
      moved = true;
      const key = `${ev.index}:${ev.begin}:${ev.block.length}`;
      if (this.received.has(key)) continue; // a duplicate answer (BEP 3 choke races)
      this.received.add(key);
      const n = (this.got.get(ev.index) ?? 0) + ev.block.length;
      this.got.set(ev.index, n);
      if (n === this.pieceLength) {
        const ok = ev.block.every((x) => x === (ev.index & 0xff));
        this.verified.add(ev.index);
        this.buyer.pieceVerified(ev.index, ok);
      }
    }
    // A reject means no credit: wait for the next confirmed payment before asking again.
    for (const ev of p.take('a', 'reject')) {
      moved = true;
      this.stalled = true;
      this.rewant(ev);
      this.buyer.topUp();
    }
    if (this.stalled) return moved;
    for (const ev of p.take('a', 'choke')) { moved = true; for (const r of ev.dropped) this.rewant(r); }
    for (const ev of p.take('a', 'request_timeout')) {
      moved = true;
      p.a.cancel(ev.index, ev.begin, ev.length, p.now);
      this.rewant(ev);
    }
    if (p.take('a', 'bitfield').length > 0 || p.take('a', 'unchoke').length > 0) moved = true;
    if (this.wanted.length > 0 && !p.a.amInterested) { p.a.interested(p.now); moved = true; }
    while (this.wanted.length > 0 && p.a.requestsInFlight < this.maxInFlight && p.a.canRequest(this.wanted[0].index)) {
      const r = this.wanted.shift()!;
      if (this.received.has(`${r.index}:${r.begin}:${r.length}`) || p.a.inFlightRequests().some((x) => x.index === r.index && x.begin === r.begin && x.length === r.length)) continue;
      p.a.request(r.index, r.begin, r.length, p.now);
      moved = true;
    }
    return moved;
  }

  /** The seller announces all pieces (and its free sample as allowed_fast). */
  announce(freePieces: readonly number[] = []): void {
    const p = this.pair;
    p.drive();
    if (p.b.fastEnabled) p.b.haveAll(p.now);
    else p.b.bitfield(new Uint8Array(Math.ceil(this.numPieces / 8)).fill(0xff).map((x, i, arr) => (i === arr.length - 1 && this.numPieces % 8 !== 0 ? (0xff << (8 - (this.numPieces % 8))) & 0xff : x)), p.now);
    for (const i of freePieces) p.b.allowedFast(i, p.now);
  }
}

export const INFO = fill(20, 0x5a);
