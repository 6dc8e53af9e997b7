/**
 * Piece picker micro-benchmark: our bucketed picker against a straightforward
 * full-scan rarest-first picker (the shape webtorrent's `getRarestPiece` has:
 * every fresh pick walks every piece), both in one run, alternating.
 *
 *  - pick-1M-pieces: pick + receive + verify cycles on a 1 Mi-piece torrent
 *    with 20 peers (5 seeds, 15 holding ~60 % of the pieces), picks/s.
 *  - download-16Ki-pieces: a whole simulated download (one block per piece),
 *    pieces/s.
 *  - pipeline-64Ki-pieces-x16-blocks: ours only (no baseline implements
 *    blocks/endgame the same way): 30 peers (3 seeds) with 64-deep request
 *    queues, one pick per arriving block, cancels and hash verification, until
 *    complete; blocks/s of picker bookkeeping.
 *
 * Run: npx tsc -p . --outDir /tmp/build-x && node /tmp/build-x/bench/picker.js [--json] [--quick]
 */
import { PiecePicker } from '../lib/engine/piece-picker.js';
import { jsonMode, log, makeCase, quickMode, report } from '../testkit/bench-report.js';
import { rng } from '../testkit/seeded-rng.js';

const getBit = (b: Uint8Array, i: number): boolean => (b[i >>> 3] & (0x80 >>> (i & 7))) !== 0;

/** Baseline: availability array, fresh picks by a full scan with reservoir tie-break. */
class NaivePicker {
  private readonly avail: Uint32Array;
  private readonly have: Uint8Array;
  private readonly open = new Set<number>();
  private readonly peers = new Map<number, Uint8Array | 'seed'>();
  constructor(private readonly n: number, private readonly rand: () => number) {
    this.avail = new Uint32Array(n);
    this.have = new Uint8Array(n);
  }
  bitfield(peer: number, bits: Uint8Array): void {
    this.peers.set(peer, bits);
    for (let i = 0; i < this.n; i++) if (getBit(bits, i)) this.avail[i]++;
  }
  haveAll(peer: number): void {
    this.peers.set(peer, 'seed');
    for (let i = 0; i < this.n; i++) this.avail[i]++;
  }
  pick(peer: number, max: number): number[] {
    const bits = this.peers.get(peer)!;
    const has = (i: number): boolean => bits === 'seed' || getBit(bits, i);
    const out: number[] = [];
    while (out.length < max) {
      let best = -1;
      let bestAvail = Infinity;
      let ties = 0;
      for (let i = 0; i < this.n; i++) {
        if (this.have[i] || this.open.has(i) || !has(i)) continue;
        const a = this.avail[i];
        if (a < bestAvail) { best = i; bestAvail = a; ties = 1; }
        else if (a === bestAvail && this.rand() * ++ties < 1) best = i;
      }
      if (best < 0) break;
      this.open.add(best);
      out.push(best);
    }
    return out;
  }
  received(i: number): void {
    this.open.delete(i);
    this.have[i] = 1;
  }
}

interface Swarm { seeds: number; partial: Uint8Array[] }

function makeSwarm(n: number, seed: number): Swarm {
  const r = rng(seed);
  const partial: Uint8Array[] = [];
  for (let p = 0; p < 15; p++) {
    const b = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (r() < 0.6) b[i >>> 3] |= 0x80 >>> (i & 7);
    partial.push(b);
  }
  return { seeds: 5, partial };
}

const PEERS = 20;

function oursSetup(n: number, swarm: Swarm): PiecePicker {
  const p = new PiecePicker(n, 16384, n * 16384, { rng: rng(1) });
  for (let s = 0; s < swarm.seeds; s++) p.peerHaveAll(s);
  swarm.partial.forEach((b, k) => p.peerBitfield(swarm.seeds + k, b));
  return p;
}

function naiveSetup(n: number, swarm: Swarm): NaivePicker {
  const p = new NaivePicker(n, rng(1));
  for (let s = 0; s < swarm.seeds; s++) p.haveAll(s);
  swarm.partial.forEach((b, k) => p.bitfield(swarm.seeds + k, b));
  return p;
}

/** Cycles of: a peer asks for 4 blocks, they arrive, the piece verifies. Returns picks/s. */
function cyclesOurs(p: PiecePicker, cycles: number): number {
  const t0 = performance.now();
  let picks = 0;
  for (let c = 0; c < cycles; c++) {
    const peer = c % PEERS;
    for (const r of p.pick(peer, 4)) {
      picks++;
      if (p.blockReceived(peer, r.index, r.begin, r.length).pieceComplete) p.pieceVerified(r.index);
    }
  }
  return picks / ((performance.now() - t0) / 1000);
}

function cyclesNaive(p: NaivePicker, cycles: number): number {
  const t0 = performance.now();
  let picks = 0;
  for (let c = 0; c < cycles; c++) {
    for (const i of p.pick(c % PEERS, 4)) {
      picks++;
      p.received(i);
    }
  }
  return picks / ((performance.now() - t0) / 1000);
}

function downloadOurs(n: number, swarm: Swarm): number {
  const p = new PiecePicker(n, 16384, n * 16384, { rng: rng(1) });
  for (let s = 0; s < swarm.seeds; s++) p.peerHaveAll(s);
  swarm.partial.forEach((b, k) => p.peerBitfield(swarm.seeds + k, b));
  const t0 = performance.now();
  for (let c = 0; !p.isComplete(); c++) {
    const peer = c % PEERS;
    for (const r of p.pick(peer, 4)) {
      if (p.blockReceived(peer, r.index, r.begin, r.length).pieceComplete) p.pieceVerified(r.index);
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

function downloadNaive(n: number, swarm: Swarm): number {
  const p = naiveSetup(n, swarm);
  const t0 = performance.now();
  let got = 0;
  for (let c = 0; got < n; c++) {
    for (const i of p.pick(c % PEERS, 4)) {
      p.received(i);
      got++;
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

/** A whole download with 16 blocks per piece, each peer keeping a 64-request pipeline full. Returns blocks/s. */
function pipelineOurs(n: number, seed: number): number {
  const r = rng(seed);
  const PL = 256 * 1024;
  const peers = 30;
  const p = new PiecePicker(n, PL, n * PL, { rng: rng(1) });
  for (let k = 0; k < peers; k++) {
    if (k < 3) { p.peerHaveAll(k); continue; }
    const b = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (r() < 0.5) b[i >>> 3] |= 0x80 >>> (i & 7);
    p.peerBitfield(k, b);
  }
  const queues: { index: number; begin: number; length: number }[][] = [];
  for (let k = 0; k < peers; k++) queues.push(p.pick(k, 64));
  const t0 = performance.now();
  let blocks = 0;
  while (!p.isComplete()) {
    let progressed = false;
    for (let k = 0; k < peers; k++) {
      const x = queues[k].shift();
      if (x === undefined) {
        const more = p.pick(k, 64);
        if (more.length > 0) progressed = true;
        queues[k].push(...more);
        continue;
      }
      progressed = true;
      blocks++;
      const res = p.blockReceived(k, x.index, x.begin, x.length);
      for (const c of res.cancel) {
        const q = queues[c as number];
        const at = q.findIndex((y) => y.index === x.index && y.begin === x.begin);
        if (at >= 0) q.splice(at, 1);
      }
      if (res.pieceComplete) p.pieceVerified(x.index);
      queues[k].push(...p.pick(k, 1));
    }
    if (!progressed) throw new Error('pipeline stalled');
  }
  return blocks / ((performance.now() - t0) / 1000);
}

function main(): void {
  const runs = quickMode ? 1 : 3;
  const bigN = quickMode ? 1 << 16 : 1 << 20;
  const simN = quickMode ? 1 << 12 : 1 << 14;
  const name = 'full-scan rarest-first';

  log(`building a ${bigN}-piece swarm ...`);
  const big = makeSwarm(bigN, 42);
  const oursBig: number[] = [];
  const naiveBig: number[] = [];
  for (let r = 0; r < runs; r++) {
    const po = oursSetup(bigN, big);
    cyclesOurs(po, 2000); // warm-up
    oursBig.push(cyclesOurs(po, quickMode ? 5000 : 50_000));
    const pn = naiveSetup(bigN, big);
    naiveBig.push(cyclesNaive(pn, quickMode ? 10 : 25));
    log(`  run ${r + 1}: ours ${oursBig[r].toFixed(0)} picks/s, baseline ${naiveBig[r].toFixed(0)} picks/s`);
  }
  report(makeCase({ bench: 'picker', case: `pick-${bigN >= 1 << 20 ? '1M' : bigN}-pieces`, unit: 'picks/s', ours: oursBig, baseline: naiveBig, baselineName: name }));

  const sim = makeSwarm(simN, 7);
  const oursSim: number[] = [];
  const naiveSim: number[] = [];
  downloadOurs(simN, sim); // warm-up (JIT)
  for (let r = 0; r < runs; r++) {
    oursSim.push(downloadOurs(simN, sim));
    naiveSim.push(downloadNaive(simN, sim));
    log(`  run ${r + 1}: ours ${oursSim[r].toFixed(0)} pieces/s, baseline ${naiveSim[r].toFixed(0)} pieces/s`);
  }
  report(makeCase({ bench: 'picker', case: `download-${simN}-pieces`, unit: 'pieces/s', ours: oursSim, baseline: naiveSim, baselineName: name }));

  const pipeN = quickMode ? 1 << 12 : 1 << 16;
  const pipe: number[] = [];
  pipelineOurs(1 << 10, 5); // warm-up
  for (let r = 0; r < runs; r++) {
    pipe.push(pipelineOurs(pipeN, 5 + r));
    log(`  run ${r + 1}: ours ${pipe[r].toFixed(0)} blocks/s`);
  }
  report(makeCase({ bench: 'picker', case: `pipeline-${pipeN}-pieces-x16-blocks`, unit: 'blocks/s', ours: pipe }));
  if (!jsonMode) log('done');
}

main();
