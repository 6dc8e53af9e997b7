/**
 * SHA-1 over 512 KiB pieces: node:crypto (ours, chosen in lib/files/sha1.ts) vs @noble/hashes
 * (pure JS). Alternating runs, medians, per BENCH.md.
 */
import { createHash } from 'node:crypto';
import { sha1 as nobleSha1 } from '@noble/hashes/legacy.js';
import { sha1 } from '../lib/files/sha1.js';
import { makeCase, report, log, quickMode } from '../testkit/bench-report.js';

const PIECE = 512 * 1024;
const piece = new Uint8Array(PIECE);
for (let i = 0; i < PIECE; i++) piece[i] = (i * 2654435761) >>> 24;

// Both must agree before anything is timed.
const a = Buffer.from(sha1(piece)).toString('hex');
const b = Buffer.from(nobleSha1(piece)).toString('hex');
const c = createHash('sha1').update(piece).digest('hex');
if (a !== b || a !== c) { log(`digest mismatch: ${a} ${b} ${c}`); process.exit(1); }

let sink = 0;
function mbps(fn: (d: Uint8Array) => Uint8Array, bytes: number): number {
  const n = Math.max(1, Math.round(bytes / PIECE));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink ^= fn(piece)[0];
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return (n * PIECE) / 1e6 / sec;
}

const runs = quickMode ? 3 : 7;
const oursBytes = quickMode ? 32 << 20 : 256 << 20;
const baseBytes = quickMode ? 8 << 20 : 48 << 20;
mbps(sha1, 8 << 20); mbps(nobleSha1, 4 << 20); // warm-up (JIT)
const ours: number[] = [];
const base: number[] = [];
for (let r = 0; r < runs; r++) {
  ours.push(mbps(sha1, oursBytes));
  base.push(mbps(nobleSha1, baseBytes));
}
if (sink === -1) log("unreachable"); // keeps the digests observable to the JIT
report(makeCase({
  bench: 'sha1', case: 'sha1-512KiB', unit: 'MB/s', ours, baseline: base,
  baselineName: '@noble/hashes@2.4.0 sha1',
  extra: { ours_name: 'node:crypto sha1 (OpenSSL)' },
}));
