/**
 * What `seedpay get` (free and paid) tells its user about peers: one line per peer
 * event, so that a download that does not move says why.
 *
 *   peer 1.2.3.4:5 connected (qBittorrent 4.6.3)
 *   peer 1.2.3.4:5 refused (nothing listens there), retrying in 2 s
 *   peer 1.2.3.4:5 dropped (went silent), retrying in 1 s
 *   no peer connected now; retrying 1.2.3.4:5 (connected before)
 *   still looking for peers via tracker udp://…, DHT (nobody connected; 12 peers tried: 9 refused, 3 unreachable)
 *
 * Not flooding: each distinct event of one peer (connected; dropped for one kind of
 * reason; failed to connect for one kind of reason) is reported the 1st, 2nd, 4th, 8th…
 * time it happens (powers of two, with the count from the 2nd on), so a peer that stays
 * dead for an hour at the 30 s back-off costs about 7 lines, and a new kind of failure
 * is always reported at once. Peers found by trackers, the DHT or peer exchange may be
 * hundreds, most of them unreachable: their failed dials are not lines but counted in
 * the "still looking" line; their connections and drops are lines as for given peers.
 *
 * Giving up (only when `gaveUp` is set: the command has no other source of peers): a
 * peer the user gave that failed GIVE_UP_AFTER dials in a row and never connected is
 * handed to `gaveUp` (which drops it: peer-pool.ts) instead of a line. A peer that
 * connected once is never given up: it is retried (a seed restarting), and said so.
 */
import type { PeerCloseReason } from '../engine/peer-session.js';
import type { Torrent } from '../engine/torrent.js';
import { normalizePeer } from './peer-pool.js';
import { clientName, peerCloseWords, type PeerFailureKind } from './peer-words.js';

/**
 * Failed dials in a row, never connected, before a given peer is given up. Three: with
 * the back-off (retry after 2 s, then 4 s) that is about 6–7 s for a refused
 * connection — long enough for a seed that is still starting, short enough that a
 * mistyped address fails before a user wonders; a hang-up during the handshake is
 * redialled at once with the other handshake (plain / encrypted), so three dials also
 * cover both handshakes.
 */
export const GIVE_UP_AFTER = 3;

/** While nobody is connected and trackers or the DHT are searching: a line this often. */
export const LOOKING_EVERY_MS = 30_000;

/** Entries kept for the growing-silence counts (beyond: forgotten, at worst a repeat line). */
const MAX_TRACKED = 10_000;

export interface PeerReportOptions {
  /** The addresses the user gave (--peer, a magnet's x.pe): every event of theirs can be a line. */
  readonly given: readonly string[];
  /** Writes one line (the command wipes its progress bar first). */
  readonly line: (text: string) => void;
  /** The other sources of peers ("tracker udp://…", "DHT"), named in "still looking" lines; empty: none. */
  readonly lookingVia?: readonly string[];
  /** Give up on a given peer that never connects (see above); absent: retry for ever. */
  readonly gaveUp?: (peer: string, why: string) => void;
  /** Peers the command dropped on purpose: their events are not news. */
  readonly ignore?: (peer: string) => boolean;
  readonly now?: () => number;
}

interface Given { everConnected: boolean; streak: number; givenUp: boolean }

/** Bookkeeping and lines; `watch` wires it to a torrent, the methods are its events. */
export class PeerReport {
  private readonly given = new Map<string, Given>();
  private readonly counts = new Map<string, number>();
  /** Peers whose last dial failed (not connected since), with the kind of failure. */
  private readonly failing = new Map<string, PeerFailureKind>();
  private readonly via: readonly string[];
  private readonly now: () => number;
  private lastLooking: number;
  private anyConnected = false;
  /** "no peer connected now" said since the last connection (several may close at once). */
  private goneSaid = false;

  constructor(private readonly o: PeerReportOptions) {
    for (const g of o.given) this.given.set(normalizePeer(g), { everConnected: false, streak: 0, givenUp: false });
    this.via = o.lookingVia ?? [];
    this.now = o.now ?? Date.now;
    this.lastLooking = this.now();
  }

  /** A handshake completed with `peer`. */
  connected(peer: string, client: string | null): void {
    if (this.o.ignore?.(peer) === true) return;
    const g = this.given.get(peer);
    if (g !== undefined) { g.everConnected = true; g.streak = 0; }
    this.failing.delete(peer);
    this.anyConnected = true;
    this.goneSaid = false;
    this.lastLooking = this.now();
    const n = this.count(peer, 'connected');
    if (n === null) return;
    const notes = [client, n > 1 ? `${n} times so far` : null].filter((x) => x !== null);
    this.o.line(`peer ${peer} connected${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`);
  }

  /** A dial to `peer` ended before its handshake; it is dialled again in about `retryInMs`. */
  dialFailed(peer: string, reason: PeerCloseReason, retryInMs: number): void {
    if (this.o.ignore?.(peer) === true) return;
    const w = peerCloseWords(reason, false);
    if (this.failing.size < MAX_TRACKED || this.failing.has(peer)) this.failing.set(peer, w.kind);
    const g = this.given.get(peer);
    if (g === undefined) return;
    if (g.givenUp) return;
    g.streak++;
    if (!g.everConnected && this.o.gaveUp !== undefined && g.streak >= GIVE_UP_AFTER) {
      g.givenUp = true;
      this.o.gaveUp(peer, `${w.text}, ${g.streak} attempts in a row`);
      return;
    }
    const n = this.count(peer, `failed ${w.kind}`);
    if (n !== null) this.o.line(`peer ${peer} ${w.text}, ${retrying(retryInMs)}${n > 1 ? ` (${n} times so far)` : ''}`);
  }

  /** A connection to `peer` that had completed its handshake ended; it is dialled again in about `retryInMs` (null: not). */
  dropped(peer: string, reason: PeerCloseReason, retryInMs: number | null): void {
    if (this.o.ignore?.(peer) === true) return;
    const w = peerCloseWords(reason, true);
    if (w.kind === 'ours' && reason.code !== 'STORAGE') return; // we closed it: nothing the user needs to hear
    const n = this.count(peer, `dropped ${w.kind}`);
    if (n === null) return;
    const then = retryInMs === null ? '' : `, ${retrying(retryInMs)}`;
    this.o.line(`peer ${peer} ${retryInMs === null ? 'disconnected' : 'dropped'} (${w.text})${then}${n > 1 ? ` (${n} times so far)` : ''}`);
  }

  /** The last connected peer is gone and the download is not complete. */
  allGone(): void {
    if (!this.anyConnected || this.goneSaid) return;
    this.goneSaid = true;
    this.lastLooking = this.now();
    const back = [...this.given].filter(([a, g]) => !g.givenUp && this.o.ignore?.(a) !== true)
      .map(([a, g]) => `${a}${g.everConnected ? ' (connected before)' : ''}`);
    const parts = [
      ...(back.length > 0 ? [`retrying ${back.join(', ')}`] : []),
      ...(this.via.length > 0 ? [`still looking via ${this.via.join(', ')}`] : []),
    ];
    // Nothing to retry and nowhere to look: the command is ending (peer-pool.ts), not waiting.
    if (parts.length > 0) this.o.line(`no peer connected now; ${parts.join('; ')}`);
  }

  /** Call every so often: while nobody is connected, a "still looking" line every LOOKING_EVERY_MS. */
  tick(connectedNow: number): void {
    const now = this.now();
    if (connectedNow > 0 || this.via.length === 0) { this.lastLooking = now; return; }
    if (now - this.lastLooking < LOOKING_EVERY_MS) return;
    this.lastLooking = now;
    this.o.line(`still looking for peers via ${this.via.join(', ')} (${this.triedSummary()})`);
  }

  /** "nobody connected; 12 peers tried: 9 refused, 3 unreachable". */
  triedSummary(): string {
    const n = this.failing.size;
    if (n === 0) return this.anyConnected ? 'nobody connected now' : 'none found yet';
    const byKind = new Map<PeerFailureKind, number>();
    for (const k of this.failing.values()) byKind.set(k, (byKind.get(k) ?? 0) + 1);
    const kinds = [...byKind].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${c} ${KIND_WORDS[k]}`);
    return `nobody connected; ${n} peer${n === 1 ? '' : 's'} tried: ${kinds.join(', ')}`;
  }

  /** Wire to `t`'s events (before it starts dialling, so no early event is missed). */
  watch(t: Torrent): void {
    t.on('peer', (s) => this.connected(s.address, clientName(s.peerId)));
    t.on('dial_failed', (addr, reason, inMs) => this.dialFailed(addr, reason, inMs));
    // A connection that ended: peer_retry follows its peer_closed at once (same call) for
    // a peer dialled again; a connection that dialled us is not, and gets its line here.
    let closing: object | null = null;
    const retried = new WeakSet<object>();
    t.on('peer_retry', (addr, reason, inMs) => {
      if (closing !== null) retried.add(closing);
      this.dropped(addr, reason, inMs);
    });
    t.on('peer_closed', (s, reason) => {
      if (!s.registered) return;
      closing = s;
      queueMicrotask(() => {
        if (!retried.has(s) && !knows(t, s.address) && reason.code !== 'BANNED') this.dropped(s.address, reason, null);
        if (!t.isComplete && t.peers().length === 0) this.allGone();
      });
    });
    t.on('banned', (s) => this.banned(s.address));
  }

  /** `peer` sent data that failed the hash check and is banned. */
  banned(peer: string): void {
    if (this.o.ignore?.(peer) !== true) this.o.line(`peer ${peer} banned: it sent data that failed the hash check`);
  }

  /** This event's count for `peer` when it is to be reported (1, 2, 4, 8…), else null. */
  private count(peer: string, what: string): number | null {
    const key = `${peer} ${what}`;
    if (this.counts.size >= MAX_TRACKED && !this.counts.has(key)) this.counts.clear();
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return (n & (n - 1)) === 0 ? n : null;
  }
}

const KIND_WORDS: Readonly<Record<PeerFailureKind, string>> = {
  refused: 'refused', unreachable: 'unreachable', 'timed out': 'did not answer', 'hung up': 'hung up', reset: 'reset',
  'wrong torrent': 'without this torrent', 'not bittorrent': 'not BitTorrent', encryption: 'encryption mismatch',
  protocol: 'protocol error', silent: 'went silent', ours: 'closed by us', other: 'other',
};

function knows(t: Torrent, peer: string): boolean {
  try { return t.knowsPeer(peer); } catch { return false; }
}

function retrying(ms: number): string {
  return ms < 500 ? 'retrying now' : `retrying in ${Math.round(ms / 1000)} s`;
}
