/**
 * Which of the peers a user named (--peer, a magnet's x.pe) `seedpay get` may still use
 * (bookkeeping only, no I/O). A peer is dropped for good — one line on stderr — when it
 * refuses us (paid: a price above --max-price, a bad session signature, payments
 * stopped…) or never connects at all (peer-report.ts gives up on it), and the download
 * goes on with the others; only when every peer is dropped and no other connection is
 * open does the command fail, with one line that names each peer and its reason.
 */
import { formatPeerAddress, parsePeerAddress } from '../../format/magnet.js';

export interface PeerPoolEvents {
  /** A peer is dropped while others remain usable. */
  dropped(peer: string, why: string): void;
  /** No usable peer is left: `summary` names each dropped peer and why. */
  exhausted(summary: string): void;
}

export class PeerPool {
  private readonly candidates: Set<string>;
  private readonly dropped = new Map<string, string>();
  private over = false;

  /** `candidates`: the "host:port" addresses the torrent dials; `openElsewhere`: other connections open now. */
  constructor(candidates: readonly string[], private readonly events: PeerPoolEvents, private readonly openElsewhere: () => number = () => 0) {
    this.candidates = new Set(candidates.map(normalizePeer));
  }

  isDropped(peer: string): boolean { return this.dropped.has(normalizePeer(peer)); }

  /** Why each dropped peer was dropped, in order. */
  droppedPeers(): [peer: string, why: string][] { return [...this.dropped]; }

  /** Stop using `peer`. Returns false when it was already dropped. */
  drop(peer: string, why: string): boolean {
    const p = normalizePeer(peer);
    if (this.dropped.has(p)) return false;
    this.dropped.set(p, why);
    if (this.over) return true;
    if (this.usableLeft()) {
      this.events.dropped(p, why);
    } else {
      this.over = true;
      this.events.exhausted(this.summary());
    }
    return true;
  }

  /** Re-check after a connection not among the candidates closed. */
  recheck(): void {
    if (this.over || this.dropped.size === 0 || this.usableLeft()) return;
    this.over = true;
    this.events.exhausted(this.summary());
  }

  private summary(): string {
    return `no usable peer left: ${[...this.dropped].map(([a, w]) => `${a} ${w}`).join('; ')}`;
  }

  private usableLeft(): boolean {
    for (const c of this.candidates) if (!this.dropped.has(c)) return true;
    return this.openElsewhere() > 0;
  }
}

/** "host:port" as the engine writes it (PeerSession.address, Torrent events). */
export function normalizePeer(peer: string): string {
  try { return formatPeerAddress(parsePeerAddress(peer)); } catch { return peer; }
}
