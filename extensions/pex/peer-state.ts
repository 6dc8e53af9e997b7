/**
 * Peer exchange on one connection, both directions, sans-IO (time comes in as `now`).
 *
 * Sending: what we have told this peer is live (`told`), so each message is the diff
 * since the last one — the peers connected since (`added`) and those gone since
 * (`dropped`), never the same address twice in a message and never one both added and
 * dropped (BEP 11). At most one message per `sendIntervalMs` (a minute); the first may
 * go as soon as there is something to say (right after the handshake). At most 50
 * added and 50 dropped per message, like the Azureus / µTorrent convention BEP 11
 * adopted; what does not fit goes in the next one. Nothing to say: no message (µTorrent
 * took an empty one for a broken peer).
 *
 * Receiving: one message acted on per `minReceiveIntervalMs`; one sooner is ignored
 * and counted (a peer's timer and ours drift, and a congested link delivers two
 * messages back to back, so the bound is under a minute). A malformed message is
 * ignored and counted too; a payload over the size cap, or more than `maxStrikes`
 * ignored messages net of the good ones, is hostile: the caller ends the connection.
 * A connection teaches us at most `maxLearned` addresses in its life, each a valid
 * unicast address (address.ts) whose IP it has not given us before (BEP 11: "duplicate
 * IP addresses (e.g. with different ports) should be ignored").
 */
import type { PeerAddress } from '../../format/magnet.js';
import { acceptableFrom, type AddressScope } from './address.js';
import { decodePex, encodePex, MAX_PEX_ENTRIES, PexError, type PexPeer } from './codec.js';

export interface PexLimits {
  /** Shortest time between two messages we send. Default 60 s (BEP 11). */
  readonly sendIntervalMs: number;
  /** Added and dropped entries per message we send. Default 50 each. */
  readonly maxPerMessage: number;
  /** Shortest time between two received messages we act on. Default 45 s. */
  readonly minReceiveIntervalMs: number;
  /** Entries taken per list of a received message. Default 200. */
  readonly maxEntries: number;
  /** Addresses one connection may teach us over its life. Default 200. */
  readonly maxLearned: number;
  /** Ignored messages (net of acted-on ones) before the connection counts as hostile. Default 10. */
  readonly maxStrikes: number;
}

export const PEX_LIMITS: PexLimits = {
  sendIntervalMs: 60_000,
  maxPerMessage: 50,
  minReceiveIntervalMs: 45_000,
  maxEntries: MAX_PEX_ENTRIES,
  maxLearned: 200,
  maxStrikes: 10,
};

/** One peer we may tell others about: its key (formatPeerAddress), listen address and flags. */
export interface PexCandidate {
  readonly key: string;
  readonly address: PeerAddress;
  readonly flags: number;
}

export type PexReceived =
  /** Acted on: the fresh, acceptable added peers (possibly none) and the dropped list as sent. */
  | { readonly kind: 'peers'; readonly added: readonly PexPeer[]; readonly dropped: readonly PeerAddress[] }
  /** Ignored (the connection is kept). */
  | { readonly kind: 'ignored'; readonly error: PexError }
  /** Hostile: end the connection. */
  | { readonly kind: 'hostile'; readonly error: PexError };

export interface PexPeerStats {
  readonly sent: number;
  readonly received: number;
  /** Received messages acted on. */
  readonly accepted: number;
  /** Received messages ignored as too frequent. */
  readonly tooFrequent: number;
  /** Received messages ignored as malformed. */
  readonly malformed: number;
  /** Addresses taken from this peer. */
  readonly learned: number;
  /** Added entries passed over: invalid, local from a stranger, a repeated IP, over `maxLearned`. */
  readonly refused: number;
}

export class PexPeerState {
  readonly limits: PexLimits;
  /** key → address of what this peer was told is connected (and not yet told dropped). */
  private readonly told = new Map<string, PeerAddress>();
  private lastSentAt: number | null = null;
  private lastAcceptedAt: number | null = null;
  private strikes = 0;
  /** IPs this peer has given us (at most maxLearned). */
  private readonly learnedIps = new Set<string>();
  private counts = { sent: 0, received: 0, accepted: 0, tooFrequent: 0, malformed: 0, learned: 0, refused: 0 };

  constructor(limits: Partial<PexLimits> = {}) {
    this.limits = { ...PEX_LIMITS, ...limits };
  }

  get stats(): PexPeerStats { return { ...this.counts }; }

  /** Whether a message may go out at `now` (if there is something to say). */
  canSend(now: number): boolean {
    return this.lastSentAt === null || now - this.lastSentAt >= this.limits.sendIntervalMs;
  }

  /**
   * The message to send at `now` given the peers connected now (`current`, keyed like
   * PexCandidate.key; `self`, this peer's own key, is left out), or null: too soon, or
   * nothing changed. What it returns counts as sent.
   */
  nextMessage(now: number, current: ReadonlyMap<string, PexCandidate>, self: string | null): Uint8Array | null {
    if (!this.canSend(now)) return null;
    const cap = this.limits.maxPerMessage;
    const added: PexCandidate[] = [];
    for (const c of current.values()) {
      if (added.length >= cap) break;
      if (c.key !== self && !this.told.has(c.key)) added.push(c);
    }
    const dropped: [string, PeerAddress][] = [];
    for (const [key, address] of this.told) {
      if (dropped.length >= cap) break;
      if (key === self || !current.has(key)) dropped.push([key, address]);
    }
    if (added.length === 0 && dropped.length === 0) return null;
    for (const c of added) this.told.set(c.key, c.address);
    for (const [key] of dropped) this.told.delete(key);
    this.lastSentAt = now;
    this.counts.sent++;
    return encodePex({
      added: added.map((c) => ({ host: c.address.host, port: c.address.port, flags: c.flags })),
      dropped: dropped.map(([, a]) => a),
    });
  }

  /** One received payload at `now`, from a peer whose own address has scope `source`. */
  receive(payload: Uint8Array, now: number, source: AddressScope): PexReceived {
    this.counts.received++;
    if (this.lastAcceptedAt !== null && now - this.lastAcceptedAt < this.limits.minReceiveIntervalMs) {
      this.counts.tooFrequent++;
      return this.strike(new PexError('TOO_FREQUENT', `a message ${now - this.lastAcceptedAt} ms after the last one`));
    }
    let msg;
    try {
      msg = decodePex(payload, this.limits.maxEntries);
    } catch (e) {
      if (!(e instanceof PexError)) throw e;
      if (e.reason === 'TOO_LARGE') return { kind: 'hostile', error: e };
      this.counts.malformed++;
      return this.strike(e);
    }
    this.lastAcceptedAt = now;
    this.counts.accepted++;
    if (this.strikes > 0) this.strikes--;
    const fresh: PexPeer[] = [];
    for (const p of msg.added) {
      if (this.learnedIps.size >= this.limits.maxLearned || this.learnedIps.has(p.host) || !acceptableFrom(p, source)) {
        this.counts.refused++;
        continue;
      }
      this.learnedIps.add(p.host);
      fresh.push(p);
    }
    this.counts.learned += fresh.length;
    return { kind: 'peers', added: fresh, dropped: msg.dropped };
  }

  private strike(error: PexError): PexReceived {
    if (++this.strikes < this.limits.maxStrikes) return { kind: 'ignored', error };
    return { kind: 'hostile', error: new PexError('FLOOD', `${this.strikes} ignored messages (last: ${error.reason})`) };
  }
}
