/**
 * RC4 keystream throughput (wire/mse/rc4.ts): with MSE/PE 'rc4' selected every byte
 * sent and received goes through it, so it bounds an encrypted transfer.
 * Ours: in place on a 16 KiB block (a piece block) and on a 512 KiB buffer (a read
 * slab). Baseline: a textbook RC4 (Array state, `% 256`, a new output array per call),
 * the shape of common JS implementations; OpenSSL's RC4 is not in Node 20's default
 * provider. Alternating runs, medians (BENCH.md).
 *   node dist/bench/rc4.js [--json] [--quick] [--runs N]
 */
import { Rc4 } from '../wire/mse/rc4.js';
import { makeCase, report, log, parseRuns, quickMode } from '../testkit/bench-report.js';

class TextbookRc4 {
  private s: number[] = [];
  private i = 0;
  private j = 0;
  constructor(key: Uint8Array) {
    for (let k = 0; k < 256; k++) this.s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + this.s[k] + key[k % key.length]) % 256;
      [this.s[k], this.s[j]] = [this.s[j], this.s[k]];
    }
  }
  process(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    for (let k = 0; k < data.length; k++) {
      this.i = (this.i + 1) % 256;
      this.j = (this.j + this.s[this.i]) % 256;
      [this.s[this.i], this.s[this.j]] = [this.s[this.j], this.s[this.i]];
      out[k] = data[k] ^ this.s[(this.s[this.i] + this.s[this.j]) % 256];
    }
    return out;
  }
}

const key = Uint8Array.from({ length: 20 }, (_, i) => i * 7);
// Both must agree before anything is timed.
const probe = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
const a = new Rc4(key).process(new Uint8Array(probe));
const b = new TextbookRc4(key).process(probe);
if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) { log('keystreams differ'); process.exit(1); }

let sink = 0;
function mbps(chunk: number, bytes: number, ours: boolean): number {
  const buf = new Uint8Array(chunk);
  const n = Math.max(1, Math.round(bytes / chunk));
  const c = ours ? new Rc4(key) : new TextbookRc4(key);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink ^= c.process(buf)[0];
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  return (n * chunk) / 1e6 / sec;
}

const runs = parseRuns(quickMode ? 3 : 7);
const oursBytes = quickMode ? 16 << 20 : 256 << 20;
const baseBytes = quickMode ? 4 << 20 : 32 << 20;
for (const chunk of [16 * 1024, 512 * 1024]) {
  mbps(chunk, 8 << 20, true); mbps(chunk, 2 << 20, false); // warm-up (JIT)
  const ours: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < runs; r++) {
    ours.push(mbps(chunk, oursBytes, true));
    base.push(mbps(chunk, baseBytes, false));
  }
  report(makeCase({
    bench: 'rc4', case: `rc4-${chunk >> 10}KiB`, unit: 'MB/s', ours, baseline: base,
    baselineName: 'textbook JS RC4 (Array state, % 256, new output)',
    extra: { ours_name: 'wire/mse/rc4.ts in place' },
  }));
}
if (sink === -1) log('unreachable'); // keeps the output observable to the JIT
