/**
 * Which peers a paid `seedpay get` may still use. One peer's refusal (a price above
 * --max-price, a bad session signature, payments stopped, a protocol breach) or one
 * unreachable address drops THAT peer — one line on stderr — and the download goes
 * on with the others; only when every peer is dropped and no other connection is
 * open does the command fail, with one line that names each peer and its reason.
 *
 * The torrent keeps redialling addresses it was given (it has no "forget this
 * peer"), so a dropped peer that connects again is closed at once and its repeat
 * refusals are not reported again.
 */
import type { PaidBuyer } from '../paid/buyer.js';
import type { BuyerHook } from '../../extensions/seedpay/hook.js';
import type { PeerSession } from '../engine/peer-session.js';
import type { Torrent } from '../engine/torrent.js';
import { formatPeerAddress, parsePeerAddress } from '../../format/magnet.js';

/** Connection attempts in a row that never reach a handshake before a peer counts as unreachable. */
export const UNREACHABLE_AFTER = 3;

export interface PeerPoolEvents {
  /** A peer is dropped while others remain usable. */
  dropped(peer: string, why: string): void;
  /** No usable peer is left: `summary` names each dropped peer and why. */
  exhausted(summary: string): void;
}

/** Bookkeeping only (no I/O): candidates, dial failures, drops. */
export class PeerPool {
  private readonly candidates: Set<string>;
  private readonly failures = new Map<string, number>();
  private readonly dropped = new Map<string, string>();
  private over = false;

  /** `candidates`: the "host:port" addresses the torrent dials. */
  constructor(candidates: readonly string[], private readonly events: PeerPoolEvents, private readonly openElsewhere: () => number = () => 0) {
    this.candidates = new Set(candidates.map(normalize));
  }

  isDropped(peer: string): boolean { return this.dropped.has(normalize(peer)); }

  /** Why each dropped peer was dropped, in order. */
  droppedPeers(): [peer: string, why: string][] { return [...this.dropped]; }

  /** A handshake completed with `peer`: its failure count starts over. */
  connected(peer: string): void { this.failures.delete(normalize(peer)); }

  /** A connection to `peer` ended before its handshake (refused, reset, timed out). */
  dialFailed(peer: string, why: string): void {
    const p = normalize(peer);
    if (!this.candidates.has(p) || this.dropped.has(p)) return;
    const n = (this.failures.get(p) ?? 0) + 1;
    this.failures.set(p, n);
    if (n >= UNREACHABLE_AFTER) this.drop(p, `unreachable: ${n} connection attempts failed (last: ${why})`);
  }

  /** Stop using `peer`. Returns false when it was already dropped. */
  drop(peer: string, why: string): boolean {
    const p = normalize(peer);
    if (this.dropped.has(p)) return false;
    this.dropped.set(p, why);
    if (this.over) return true;
    if (this.usableLeft()) {
      this.events.dropped(p, why);
    } else {
      this.over = true;
      this.events.exhausted(`no usable peer left: ${[...this.dropped].map(([a, w]) => `${a} ${w}`).join('; ')}`);
    }
    return true;
  }

  /** Re-check after a connection not among the candidates closed. */
  recheck(): void {
    if (this.over || this.dropped.size === 0 || this.usableLeft()) return;
    this.over = true;
    this.events.exhausted(`no usable peer left: ${[...this.dropped].map(([a, w]) => `${a} ${w}`).join('; ')}`);
  }

  private usableLeft(): boolean {
    for (const c of this.candidates) if (!this.dropped.has(c)) return true;
    return this.openElsewhere() > 0;
  }
}

function normalize(peer: string): string {
  try { return formatPeerAddress(parsePeerAddress(peer)); } catch { return peer; }
}

/** Why a buyer-side hook will never pay this seller again, or null while it may. */
function hookVerdict(h: BuyerHook): string | null {
  const s = h.buyer.state;
  if (s === 'ended' && h.buyer.error?.code === 'TERMS_CHANGED') return null;
  return s === 'refused' || s === 'stopped' || s === 'ended' ? s : null;
}

/**
 * Wire a PeerPool to a buyer (before its torrent is added, so no early refusal is
 * missed) and then, through `watch`, to the torrent: buyer refusals and stops, bad
 * pieces and protocol breaches drop the peer (`describe` words the reason); sessions
 * that never reach a handshake count towards "unreachable"; a dropped peer that
 * reconnects is closed at once.
 */
export function bindPeerPool(
  pool: PeerPool, buyer: PaidBuyer,
  describe: { refused(peer: PeerSession | null, reason: string): string },
): { watch(t: Torrent): void } {
  let torrent: Torrent | null = null;
  const sessions = (): PeerSession[] => torrent?.peers() ?? [];
  const sessionAt = (addr: string): PeerSession | null => sessions().find((s) => s.address === addr) ?? null;
  const dropPeer = (addr: string, why: string): void => {
    const targets: PeerSession[] = [];
    if (addr !== '?') {
      const s = sessionAt(addr);
      if (s !== null) targets.push(s);
      pool.drop(addr, why);
    } else {
      // The event came before its session was bound: find the session by its hook's state.
      for (const s of sessions()) {
        const h = buyer.hookOf(s);
        if (h !== null && hookVerdict(h) !== null && !pool.isDropped(s.address)) { targets.push(s); pool.drop(s.address, why); }
      }
    }
    // Not from inside the buyer's event dispatch: on the next turn, close it and stop
    // redialling it (forgetPeer; it was given with --peer).
    if (targets.length > 0) {
      setImmediate(() => {
        for (const s of targets) {
          s.close('CLOSED');
          try { torrent?.forgetPeer(s.address); } catch { /* an address we never dialled: nothing to forget */ }
        }
      });
    }
  };
  buyer.on('refused', (p, reason) => dropPeer(p.peer, describe.refused(p.peer === '?' ? null : sessionAt(p.peer), reason)));
  buyer.on('stopped', (p, reason, detail) => dropPeer(p.peer, `stopped being paid: ${reason.replace(/_/g, ' ')} (${detail})`));
  buyer.on('disconnected', (p, index) => dropPeer(p.peer, `sent piece ${index}, which failed its hash check`));
  buyer.on('ended', (p, e) => {
    // New terms mid-session are no breach: that connection ends (what it leaves is kept
    // for resume) and the next one is judged by the new terms.
    if ((e as { code?: string }).code === 'TERMS_CHANGED') return;
    dropPeer(p.peer, `broke the SeedPay protocol: ${e.message}`);
  });
  return {
    watch(t: Torrent): void {
      torrent = t;
      t.on('peer', (s) => {
        if (pool.isDropped(s.address)) { setImmediate(() => s.close('CLOSED')); return; }
        pool.connected(s.address);
      });
      t.on('peer_closed', (s, reason) => {
        if (!s.registered) {
          pool.dialFailed(s.address, reason.error?.message ?? reason.code);
          // Unreachable too often: dropped, so stop redialling it.
          if (pool.isDropped(s.address)) { try { t.forgetPeer(s.address); } catch { /* not an address we dial */ } }
        } else {
          pool.recheck();
        }
      });
    },
  };
}
