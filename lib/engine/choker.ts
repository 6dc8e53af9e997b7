/**
 * Upload-side unchoke policy (BEP 3 tit-for-tat, as libtorrent's choker does it):
 * sans-IO, no timers. The session tells it who is connected, who is interested
 * and how many payload bytes moved each way; every `rechokeIntervalMs` (10 s)
 * it calls `rechoke(now)` and sends the `choke` / `unchoke` messages returned.
 *
 *  - Up to `slots` regular unchoke slots go to interested peers, ranked by
 *      leeching:  payload bytes they gave us since the last rechoke (reciprocity);
 *      seeding:   `round_robin` (default): each peer holds a slot for
 *                 `roundRobinMs`, then yields it to the peer that has waited longest;
 *                 `fastest_upload`: payload bytes we sent them since the last rechoke.
 *    Ties keep the peers already unchoked (fewer choke/unchoke flaps), then random.
 *  - Plus `optimisticSlots` (1) optimistic unchokes, given to the eligible peer
 *    that was optimistically unchoked least recently (never: first), and
 *    rotated every `optimisticIntervalMs` (30 s = 3 rechoke periods): this is how
 *    a new peer with nothing to offer gets its first pieces.
 *  - Uninterested peers get no slot. A peer for which `filter` returns false
 *    (e.g. SeedPay: has not paid, or its balance ran out) is never unchoked and
 *    is choked at the next `rechoke`/`refresh`.
 *
 * `refresh(now)` is the cheap in-between step: call it after an interest,
 * membership or filter change to choke peers that lost eligibility and to fill
 * free slots at once, without waiting for the next rechoke. It does not rotate
 * the optimistic slot or reset the byte windows.
 *
 * Never more than slots + optimisticSlots peers are unchoked.
 * Cost: O(P log P) per rechoke/refresh for P peers.
 */

export type SeedPolicy = 'round_robin' | 'fastest_upload';

export interface ChokerOptions<K> {
  /** Regular unchoke slots (default 4). */
  slots?: number;
  /** Optimistic unchoke slots (default 1). */
  optimisticSlots?: number;
  /** How often the session should call rechoke (default 10 000 ms); only used by `nextRechoke`. */
  rechokeIntervalMs?: number;
  /** Optimistic unchoke rotation period (default 30 000 ms). */
  optimisticIntervalMs?: number;
  /** Seeding policy (default round_robin). */
  seedPolicy?: SeedPolicy;
  /** round_robin: how long a peer keeps a regular slot while others wait (default 30 000 ms). */
  roundRobinMs?: number;
  /** Start in seeding mode (we have every piece). */
  seeding?: boolean;
  /** Return false to keep a peer choked whatever its rank (paid-only seeding). */
  filter?: (peer: K) => boolean;
  /** Uniform [0, 1) for tie-breaks; inject a seeded one for deterministic tests. */
  rng?: () => number;
}

export interface ChokeDecision<K> {
  /** Send `unchoke` to these. */
  readonly unchoke: K[];
  /** Send `choke` to these. */
  readonly choke: K[];
}

export class ChokerError extends Error {
  readonly code: 'bad_config';
  constructor(message: string) {
    super(message);
    this.name = 'ChokerError';
    this.code = 'bad_config';
  }
}

interface PeerRecord {
  interested: boolean;
  unchoked: boolean;
  optimistic: boolean;
  /** Payload bytes from / to this peer in the current window. */
  down: number;
  up: number;
  /** When it was last unchoked (if unchoked) or choked / added (if choked). */
  since: number;
  /** When it last became the optimistic unchoke (-Infinity: never). */
  lastOptimistic: number;
}

export class Choker<K> {
  private slots: number;
  private readonly optimisticSlots: number;
  private readonly rechokeIntervalMs: number;
  private readonly optimisticIntervalMs: number;
  private readonly seedPolicy: SeedPolicy;
  private readonly roundRobinMs: number;
  private readonly filter: ((peer: K) => boolean) | null;
  private readonly rng: () => number;
  private seeding: boolean;
  private readonly peers = new Map<K, PeerRecord>();
  private lastRechoke: number | null = null;
  private optimisticAt: number | null = null;

  constructor(options: ChokerOptions<K> = {}) {
    const count = (name: string, v: number): number => {
      if (!Number.isSafeInteger(v) || v < 0) throw new ChokerError(`bad ${name}: ${v}`);
      return v;
    };
    this.slots = count('slots', options.slots ?? 4);
    this.optimisticSlots = count('optimisticSlots', options.optimisticSlots ?? 1);
    this.rechokeIntervalMs = count('rechokeIntervalMs', options.rechokeIntervalMs ?? 10_000);
    this.optimisticIntervalMs = count('optimisticIntervalMs', options.optimisticIntervalMs ?? 30_000);
    this.roundRobinMs = count('roundRobinMs', options.roundRobinMs ?? 30_000);
    this.seedPolicy = options.seedPolicy ?? 'round_robin';
    this.seeding = options.seeding ?? false;
    this.filter = options.filter ?? null;
    this.rng = options.rng ?? Math.random;
  }

  // ---- membership and inputs --------------------------------------------

  /** A new connection; it starts choked (as every BitTorrent connection does). */
  addPeer(peer: K, now: number): void {
    if (this.peers.has(peer)) return;
    this.peers.set(peer, { interested: false, unchoked: false, optimistic: false, down: 0, up: 0, since: now, lastOptimistic: -Infinity });
  }

  /** The connection is gone: its slot frees up (no message to send). */
  removePeer(peer: K): void {
    this.peers.delete(peer);
  }

  setInterested(peer: K, interested: boolean): void {
    const p = this.peers.get(peer);
    if (p !== undefined) p.interested = interested;
  }

  /** Payload bytes the peer sent us (what leeching reciprocates). */
  recordDownload(peer: K, bytes: number): void {
    const p = this.peers.get(peer);
    if (p !== undefined && bytes > 0) p.down += bytes;
  }

  /** Payload bytes we sent the peer. */
  recordUpload(peer: K, bytes: number): void {
    const p = this.peers.get(peer);
    if (p !== undefined && bytes > 0) p.up += bytes;
  }

  /** Switch to seeding ranking once the download completes (or back). */
  setSeeding(seeding: boolean): void {
    this.seeding = seeding;
  }

  /** Change the number of regular slots; takes effect at the next rechoke/refresh. */
  setSlots(slots: number): void {
    if (!Number.isSafeInteger(slots) || slots < 0) throw new ChokerError(`bad slots: ${slots}`);
    this.slots = slots;
  }

  // ---- queries -------------------------------------------------------------

  isUnchoked(peer: K): boolean {
    return this.peers.get(peer)?.unchoked ?? false;
  }

  isOptimistic(peer: K): boolean {
    return this.peers.get(peer)?.optimistic ?? false;
  }

  unchokedPeers(): K[] {
    const out: K[] = [];
    for (const [k, p] of this.peers) if (p.unchoked) out.push(k);
    return out;
  }

  optimisticPeers(): K[] {
    const out: K[] = [];
    for (const [k, p] of this.peers) if (p.optimistic) out.push(k);
    return out;
  }

  get size(): number {
    return this.peers.size;
  }

  /** When the session should call rechoke next (now, if it never has). */
  nextRechoke(now: number): number {
    return this.lastRechoke === null ? now : this.lastRechoke + this.rechokeIntervalMs;
  }

  // ---- decisions -------------------------------------------------------------

  private eligible(peer: K, p: PeerRecord): boolean {
    return p.interested && (this.filter === null || this.filter(peer));
  }

  /** Shuffle (random tie-break), then a stable sort by the policy's rank. */
  private rank(cands: [K, PeerRecord][], now: number): [K, PeerRecord][] {
    for (let i = cands.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      const t = cands[i];
      cands[i] = cands[j];
      cands[j] = t;
    }
    const stay = (a: PeerRecord, b: PeerRecord): number => Number(b.unchoked) - Number(a.unchoked);
    if (!this.seeding) {
      cands.sort(([, a], [, b]) => b.down - a.down || stay(a, b));
    } else if (this.seedPolicy === 'fastest_upload') {
      cands.sort(([, a], [, b]) => b.up - a.up || stay(a, b));
    } else {
      // Tier 0: holding a slot within its turn; 1: waiting (longest first); 2: turn used up.
      const tier = (p: PeerRecord): number => (!p.unchoked ? 1 : now - p.since < this.roundRobinMs ? 0 : 2);
      cands.sort(([, a], [, b]) => tier(a) - tier(b) || a.since - b.since);
    }
    return cands;
  }

  /** Optimistic candidates: least recently optimistic first, random among equals. */
  private pickOptimistic(cands: [K, PeerRecord][], n: number): [K, PeerRecord][] {
    if (n <= 0 || cands.length === 0) return [];
    for (let i = cands.length - 1; i > 0; i--) {
      const j = Math.floor(this.rng() * (i + 1));
      const t = cands[i];
      cands[i] = cands[j];
      cands[j] = t;
    }
    cands.sort(([, a], [, b]) => (a.lastOptimistic === b.lastOptimistic ? 0 : a.lastOptimistic < b.lastOptimistic ? -1 : 1));
    return cands.slice(0, n);
  }

  /** Apply a new unchoked set and report the differences. */
  private apply(regular: Set<K>, optimistic: Set<K>, now: number): ChokeDecision<K> {
    const unchoke: K[] = [];
    const choke: K[] = [];
    for (const [k, p] of this.peers) {
      const isOpt = optimistic.has(k);
      const want = isOpt || regular.has(k);
      if (isOpt && !p.optimistic) p.lastOptimistic = now;
      p.optimistic = isOpt;
      if (want === p.unchoked) continue;
      p.unchoked = want;
      p.since = now;
      (want ? unchoke : choke).push(k);
    }
    return { unchoke, choke };
  }

  /**
   * The periodic round: rank, refill the regular slots, rotate the optimistic
   * slot when its period is up, and start new byte windows.
   */
  rechoke(now: number): ChokeDecision<K> {
    this.lastRechoke = now;
    const rotate = this.optimisticAt === null || now - this.optimisticAt >= this.optimisticIntervalMs;
    if (rotate) this.optimisticAt = now;
    const keepOpt = new Set<K>();
    const cands: [K, PeerRecord][] = [];
    for (const [k, p] of this.peers) {
      if (!this.eligible(k, p)) continue;
      if (!rotate && p.optimistic) keepOpt.add(k);
      else cands.push([k, p]);
    }
    const ranked = this.rank(cands, now);
    const regular = new Set<K>();
    for (const [k] of ranked.slice(0, this.slots)) regular.add(k);
    const rest = ranked.slice(this.slots);
    // On rotation the old optimistic peer competes like anyone: its lastOptimistic puts it last.
    for (const [k] of this.pickOptimistic(rest, this.optimisticSlots - keepOpt.size)) keepOpt.add(k);
    const decision = this.apply(regular, keepOpt, now);
    for (const p of this.peers.values()) {
      p.down = 0;
      p.up = 0;
    }
    return decision;
  }

  /**
   * Between rounds: choke peers that are no longer eligible (uninterested,
   * filtered out) and fill any free slot. Unchoked eligible peers keep their slots.
   */
  refresh(now: number): ChokeDecision<K> {
    const regular = new Set<K>();
    const optimistic = new Set<K>();
    const waiting: [K, PeerRecord][] = [];
    for (const [k, p] of this.peers) {
      const ok = this.eligible(k, p);
      if (ok && p.unchoked) (p.optimistic ? optimistic : regular).add(k);
      else if (ok) waiting.push([k, p]);
    }
    // Slots may have shrunk (setSlots): keep the best-ranked regulars.
    if (regular.size > this.slots) {
      const keep = this.rank([...regular].map((k) => [k, this.peers.get(k)!] as [K, PeerRecord]), now).slice(0, this.slots);
      regular.clear();
      for (const [k] of keep) regular.add(k);
    }
    const ranked = this.rank(waiting, now);
    const free = this.slots - regular.size;
    for (const [k] of ranked.slice(0, Math.max(0, free))) regular.add(k);
    const rest = ranked.slice(Math.max(0, free));
    for (const [k] of this.pickOptimistic(rest, this.optimisticSlots - optimistic.size)) optimistic.add(k);
    return this.apply(regular, optimistic, now);
  }
}
