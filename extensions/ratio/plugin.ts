/**
 * Ratio credits, the earning side, as a torrent plugin (docs/PROTOCOL.md, "Ratio
 * credits"): a peer whose wallet identity is bound to its connection (identity.ts)
 * earns, at this node, the bytes of the blocks it delivered that
 *  - answered one of our requests (the wire refuses any other block),
 *  - were the copy our piece was built from (attribution.ts),
 *  - and passed our own hash check (`onPiecePassed`).
 * A piece that fails its hash earns nothing and gives each of its contributors a
 * strike. Nothing else earns: no claim, no statement from a third party, no bytes of
 * a piece we never verified. So an identity invented by a Sybil gains nothing at
 * this node unless it delivers useful, verified data to it.
 *
 * Verified bytes of a peer whose identity is not decided yet wait on its connection
 * and are credited if it binds; they are lost with the connection otherwise. So are
 * the blocks of a peer that is gone before its piece passes (the torrent names only
 * connected contributors).
 *
 * What is earned goes to a `CreditSink` (payment/credit-book.ts: the node's journal);
 * the plugin is sans-IO and keeps only per-connection state.
 */
import type { PluginPeer, TorrentPlugin } from '../plugin.js';
import type { ExtensionConnectionInfo } from '../registry.js';
import type { Signer } from '../seedpay/seller-session.js';
import { BlockAttribution } from './attribution.js';
import { CreditHook, type CreditHookHost } from './hook.js';
import { CREDIT_EXTENSION } from './messages.js';
import { checkPresented, issueStatement, MAX_STATEMENTS_PRESENTED, trustMap, type StatementStore, type TrustList, type TrustRule } from './statements.js';

/** Where earned credit goes (one per node, shared by its torrents). */
export interface CreditSink {
  /** `identity` delivered `bytes` of verified data in torrent `infoHash`. */
  earn(identity: string, bytes: number, infoHash: Uint8Array): void;
  /** A piece `identity` contributed to failed its hash check. */
  strike(identity: string, infoHash: Uint8Array): void;
  /** About once a second: write out what has accumulated. */
  flush?(): void;
  /** One hop: credit a trusted issuer's statement that `identity` delivered `total` bytes to it (payment/credit-book.ts vouch). */
  vouch?(identity: string, issuer: string, total: bigint, rule: TrustRule): bigint;
  /** One hop: verified bytes `identity` delivered to this node itself (what we may vouch for). */
  verifiedBy?(identity: string): bigint;
}

export interface RatioPluginOptions {
  /** Our wallet, proved to peers so they credit what we upload (null / absent: we claim nothing). */
  signer?: Signer | null;
  /** Where what peers earn from us goes (null / absent: we prove our identity but credit nobody). */
  sink?: CreditSink | null;
  /** Fresh per-connection keys (tests); default fresh x25519 public keys. */
  freshKey?: () => Uint8Array;
  /** Blocks tracked at once (default 2^18). */
  maxBlocks?: number;
  /**
   * One hop (docs/PROTOCOL.md §10, "Beyond one node"): nodes whose statements we credit
   * (their wallets, each with its discount and budget, default 1/4 and 1 GiB). Default none.
   */
  trusted?: TrustList;
  /**
   * One hop: where statements handed to us are kept (for our `signer`'s wallet), and
   * presented from to the other nodes we upload to. Default none.
   */
  statements?: StatementStore | null;
  /** One hop: hand bound uploaders signed statements of what we verified from them (needs `signer` and `sink`). Default true. */
  issueStatements?: boolean;
}

/** Between ticks, a statement goes out again to a peer when what it verified here grew by this much. */
const REISSUE_BYTES = 1n << 20n;

/** A peer's identity as this torrent sees it. */
export interface PeerIdentity {
  readonly address: string;
  readonly identity: string | null;
  readonly state: CreditHook['state'];
}

export class RatioPlugin implements TorrentPlugin {
  readonly name = CREDIT_EXTENSION;
  private readonly attribution: BlockAttribution<CreditHook>;
  private readonly sink: CreditSink | null;
  private readonly signer: Signer | null;
  private readonly live = new Map<CreditHook, string>();
  private infoHash: Uint8Array | null = null;
  private readonly trusted: ReadonlyMap<string, TrustRule>;
  private readonly store: StatementStore | null;
  /** The latest tick's time (statements issued between ticks carry it). */
  private now = 0;

  constructor(private readonly opts: RatioPluginOptions = {}) {
    this.sink = opts.sink ?? null;
    this.signer = opts.signer ?? null;
    this.attribution = new BlockAttribution(opts.maxBlocks);
    this.trusted = trustMap(opts.trusted);
    this.store = opts.statements ?? null;
    if (this.store !== null && this.store.wallet !== this.signer?.wallet) throw new RangeError('the statement store must be for the signer\'s wallet');
  }

  create(info: ExtensionConnectionInfo): CreditHook {
    this.infoHash ??= info.infoHash.slice();
    const hook = new CreditHook({ infoHash: info.infoHash, signer: this.signer, freshKey: this.opts.freshKey }, this.host);
    this.live.set(hook, info.peer);
    return hook;
  }

  /** Every live connection's peer identity (bound, pending, refused or ended). */
  identities(): PeerIdentity[] {
    return [...this.live].map(([h, address]) => ({ address, identity: h.identity, state: h.state }));
  }

  onPiecePassed(index: number, contributors: readonly PluginPeer[]): void {
    const sent = this.attribution.take(index, true);
    for (const h of this.hooksOf(contributors)) {
      const bytes = sent.get(h) ?? 0;
      if (bytes === 0) continue;
      if (h.identity !== null) {
        this.sink?.earn(h.identity, bytes, this.infoHash!);
        this.vouchTo(h, this.now, REISSUE_BYTES);
      } else if (h.state === 'pending') h.pendingBytes += bytes;
    }
  }

  onPieceFailed(index: number, contributors: readonly PluginPeer[]): void {
    this.attribution.take(index, false);
    for (const h of this.hooksOf(contributors)) {
      if (h.identity !== null) this.sink?.strike(h.identity, this.infoHash!);
      else if (h.state === 'pending') h.pendingStrikes++;
    }
  }

  tick(now: number): void {
    this.now = now;
    this.sink?.flush?.();
    for (const h of this.live.keys()) this.vouchTo(h, now, 1n);
  }

  /**
   * One hop: hand the peer a signed statement of everything we verified from it, when it
   * grew by `step` since the last one (the first at once): about once a second, and at
   * every `REISSUE_BYTES` of passed pieces in between (a fast transfer may end, and its
   * connection close, before a tick).
   */
  private vouchTo(h: CreditHook, now: number, step: bigint): void {
    const signer = this.signer;
    const id = h.identity;
    if (signer === null || id === null || h.isClosed || this.opts.issueStatements === false || this.sink?.verifiedBy === undefined) return;
    const total = this.sink.verifiedBy(id);
    if (total > h.issuedTotal && (h.issuedTotal === 0n || total - h.issuedTotal >= step)) {
      h.issuedTotal = total;
      h.send(issueStatement(signer, id, total, now));
    }
  }

  /** One hop: right behind our proof, the statements others signed for us (a verifier binds us first, then reads them). */
  private present(h: CreditHook): void {
    if (this.store === null || h.presented) return;
    h.presented = true;
    for (const st of this.store.best(MAX_STATEMENTS_PRESENTED, h.identity)) h.send(st);
  }

  onTorrentClosed(): void {
    this.attribution.clear();
    this.sink?.flush?.();
  }

  /** The credit hooks of these peers (connected, hook active). */
  private *hooksOf(peers: readonly PluginPeer[]): Generator<CreditHook> {
    for (const p of peers) {
      const h = p.hook(CREDIT_EXTENSION);
      if (h instanceof CreditHook && this.live.has(h)) yield h;
    }
  }

  private readonly host: CreditHookHost = {
    received: (hook, index, begin, length) => this.attribution.received(hook, index, begin, length),
    bound: (hook) => {
      const id = hook.identity;
      if (id === null || this.infoHash === null) return;
      for (; hook.pendingStrikes > 0; hook.pendingStrikes--) this.sink?.strike(id, this.infoHash);
      if (hook.pendingBytes > 0) this.sink?.earn(id, hook.pendingBytes, this.infoHash);
      hook.pendingBytes = 0;
    },
    closed: (hook) => { this.live.delete(hook); },
    proved: (hook) => this.present(hook),
    statement: (hook, st) => {
      // Ours, handed by an issuer: keep it. Else one presented by the peer: credit it if we trust its issuer.
      if (this.store !== null && this.store.add(st)) return;
      const presenter = hook.identity;
      if (presenter === null || this.sink?.vouch === undefined) return;
      const ok = checkPresented(st, presenter, this.trusted, this.signer?.wallet ?? null);
      if (ok !== null) this.sink.vouch(presenter, ok.issuer, st.total, ok.rule);
    },
  };
}

/** The plugin for one torrent (give each torrent its own). */
export function ratioCredits(opts: RatioPluginOptions = {}): RatioPlugin {
  return new RatioPlugin(opts);
}
