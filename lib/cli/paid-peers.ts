/**
 * A paid `seedpay get`'s refusals, wired to the pool of given peers (peer-pool.ts): one
 * seller's refusal (a price above --max-price, a bad session signature, payments
 * stopped, a bad piece, a protocol breach) drops THAT seller — one line on stderr — and
 * the download goes on with the others. Sellers that never connect are given up by the
 * peer report (peer-report.ts) into the same pool.
 *
 * A dropped seller is no longer dialled (forgetPeer); one that connects to us again is
 * closed at once and its repeat refusals are not reported again.
 */
import type { PaidBuyer } from '../paid/buyer.js';
import type { BuyerHook } from '../../extensions/seedpay/hook.js';
import type { PeerSession } from '../engine/peer-session.js';
import type { Torrent } from '../engine/torrent.js';
import type { PeerPool } from './peer-pool.js';

/** Why a buyer-side hook will never pay this seller again, or null while it may. */
function hookVerdict(h: BuyerHook): string | null {
  const s = h.buyer.state;
  if (s === 'ended' && h.buyer.error?.code === 'TERMS_CHANGED') return null;
  return s === 'refused' || s === 'stopped' || s === 'ended' ? s : null;
}

/**
 * Wire a PeerPool to a buyer (before its torrent is added, so no early refusal is
 * missed) and then, through `watch`, to the torrent: buyer refusals and stops, bad
 * pieces and protocol breaches drop the peer (`describe` words the reason); a dropped
 * peer that reconnects is closed at once.
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
        if (pool.isDropped(s.address)) setImmediate(() => s.close('CLOSED'));
      });
    },
  };
}
