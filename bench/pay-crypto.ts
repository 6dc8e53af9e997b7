/**
 * Session crypto throughput (issue 3 item 8): ed25519 sign and signature check, x25519
 * agreement, and a whole seller-side session setup — payment/session.ts (node:crypto,
 * the implementation the library uses) against @noble (the other candidate), measured
 * in the same run, alternating, medians (BENCH.md). This is what chose node:crypto for
 * session.ts.
 *
 * Case names avoid the word "verify": bench/pay.ts reports payment verifications under
 * that word.
 *
 * Library use:   `import { payCryptoCases } from './pay-crypto.js'` (bench/pay.ts).
 * Alone:         node dist/bench/pay-crypto.js [--json] [--quick]
 */
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as ed from '@noble/ed25519';
import { x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { log, makeCase, quickMode, report, type BenchCase } from '../testkit/bench-report.js';
import {
  buildTranscript, deriveSession, generateEphemeral, signTranscript, verifyTranscript, walletFromSeed, x25519Shared,
} from '../payment/session.js';

ed.hashes.sha512 = sha512;

const NOBLE_ED = '@noble/ed25519@3.2.0';
const NOBLE_CURVES = '@noble/curves@2.4.0 (+@noble/hashes@2.4.0)';
const INFO = new TextEncoder().encode('seedpay-v1-session');

/** Ops/s of `op` over about `ms` milliseconds (checks the clock every 8 ops). */
function rate(op: (i: number) => void, ms: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 8; k++) op(n++);
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

function pair(args: {
  name: string; ours: (i: number) => void; base: (i: number) => void; baseName: string; runs: number; ms: number;
  extra?: Record<string, string>;
}): BenchCase {
  // Warm up both (JIT, lazy tables in noble) before measuring.
  rate(args.ours, 30);
  rate(args.base, 30);
  const ours: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < args.runs; r++) {
    // Alternate which goes first so drift on a shared machine hits both alike.
    if (r % 2 === 0) {
      ours.push(rate(args.ours, args.ms));
      base.push(rate(args.base, args.ms));
    } else {
      base.push(rate(args.base, args.ms));
      ours.push(rate(args.ours, args.ms));
    }
  }
  return makeCase({ bench: 'pay', case: args.name, unit: 'ops/s', ours, baseline: base, baselineName: args.baseName, extra: args.extra });
}

export async function payCryptoCases(opts: { quick?: boolean } = {}): Promise<BenchCase[]> {
  const quick = opts.quick ?? quickMode;
  const runs = quick ? 3 : 7;
  const ms = quick ? 60 : 200;
  const K = 64; // distinct inputs, cycled, so no call sees the same bytes twice in a row
  const infoHash = new Uint8Array(crypto.randomBytes(20));
  const wallet = walletFromSeed(new Uint8Array(crypto.randomBytes(32)));
  const transcripts = Array.from({ length: K }, () => buildTranscript({
    infoHash, sellerPublic: new Uint8Array(crypto.randomBytes(32)), buyerPublic: new Uint8Array(crypto.randomBytes(32)),
    termsBencoded: new Uint8Array(crypto.randomBytes(200)),
  }));
  const sigs = transcripts.map((t) => signTranscript(wallet.seed, t));
  const secrets = Array.from({ length: K }, () => generateEphemeral());
  const peers = Array.from({ length: K }, () => generateEphemeral().public);
  let sink = 0; // keep results alive so nothing is optimised away

  const cases: BenchCase[] = [];
  log('pay-crypto: ed25519 sign');
  cases.push(pair({
    name: 'ed25519-sign', runs, ms, baseName: NOBLE_ED, extra: { ours_impl: 'node:crypto, wallet KeyObject cached' },
    ours: (i) => { sink ^= signTranscript(wallet.seed, transcripts[i % K])[0]; },
    base: (i) => { sink ^= ed.sign(transcripts[i % K], wallet.seed)[0]; },
  }));
  log('pay-crypto: ed25519 signature check');
  cases.push(pair({
    name: 'ed25519-sigcheck', runs, ms, baseName: NOBLE_ED, extra: { ours_impl: 'node:crypto, key imported per call' },
    ours: (i) => { if (!verifyTranscript(wallet.publicKey, transcripts[i % K], sigs[i % K])) throw new Error('bad sig'); },
    base: (i) => { if (!ed.verify(sigs[i % K], transcripts[i % K], wallet.publicKey)) throw new Error('bad sig'); },
  }));
  log('pay-crypto: x25519 agreement');
  cases.push(pair({
    name: 'x25519-agree', runs, ms, baseName: NOBLE_CURVES, extra: { ours_impl: 'node:crypto' },
    ours: (i) => { sink ^= x25519Shared(secrets[i % K].secret, peers[i % K])[0]; },
    base: (i) => { sink ^= x25519.getSharedSecret(secrets[i % K].secret, peers[i % K])[0]; },
  }));
  log('pay-crypto: x25519 agreement + HKDF (session derivation)');
  cases.push(pair({
    name: 'x25519-session-derive', runs, ms, baseName: NOBLE_CURVES,
    ours: (i) => { sink ^= deriveSession({ ownSecret: secrets[i % K].secret, peerPublic: peers[i % K], infoHash }).sessionUuid[0]; },
    base: (i) => {
      const shared = x25519.getSharedSecret(secrets[i % K].secret, peers[i % K]);
      sink ^= sha256(hkdf(sha256, shared, infoHash, INFO, 32))[0];
    },
  }));
  log('pay-crypto: seller session setup (fresh key, derive, transcript, sign)');
  const terms = new Uint8Array(crypto.randomBytes(200));
  cases.push(pair({
    name: 'seller-session-setup', runs, ms, baseName: `${NOBLE_ED} + ${NOBLE_CURVES}`,
    ours: (i) => {
      const e = generateEphemeral();
      sink ^= deriveSession({ ownSecret: e.secret, peerPublic: peers[i % K], infoHash }).sessionUuid[0];
      const tr = buildTranscript({ infoHash, sellerPublic: e.public, buyerPublic: peers[i % K], termsBencoded: terms });
      sink ^= signTranscript(wallet.seed, tr)[0];
    },
    base: (i) => {
      const sk = x25519.utils.randomSecretKey();
      const pk = x25519.getPublicKey(sk);
      sink ^= sha256(hkdf(sha256, x25519.getSharedSecret(sk, peers[i % K]), infoHash, INFO, 32))[0];
      const tr = new Uint8Array(INFO.length + 116);
      tr.set(INFO, 0); tr.set(infoHash, 18); tr.set(pk, 38); tr.set(peers[i % K], 70); tr.set(sha256(terms), 102);
      sink ^= ed.sign(tr, wallet.seed)[0];
    },
  }));
  if (sink === -1) log('unreachable');
  return cases;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const t0 = performance.now();
  const cases = await payCryptoCases();
  for (const c of cases) report(c);
  log(`pay-crypto: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
