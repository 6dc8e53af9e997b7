/**
 * The payment_proof flood, shared by test/hostile/proof-flood.test.ts and
 * testkit/hostile-proof.ts: a SeedPay buyer session that, once ready, sends made-up
 * payment_proof messages (random signatures) as fast as it can. The seller is
 * expected to end that session with PROOF_FLOOD and to look up only a bounded
 * number of the made-up signatures on its RPC.
 */
import { randomBytes } from 'node:crypto';
import bs58 from 'bs58';
import type { BuyerHook } from '../extensions/seedpay/hook.js';
import type { PaidBuyer } from '../lib/paid/buyer.js';
import type { Chain } from '../payment/chain.js';
import type { SeedPayMessage } from '../extensions/seedpay/messages.js';

/** A random base58 string shaped like a Solana transaction signature. */
export function madeUpTx(): string {
  for (;;) {
    const s = bs58.encode(randomBytes(64));
    if (s.length >= 64) return s;
  }
}

/** `chain` with every call naming a signature of `watched` counted. */
export function countingChain(chain: Chain, watched: { has(x: string): boolean }, counter: { calls: number }): Chain {
  return new Proxy(chain, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        // One call counts once, whether it asks one watched signature or a batch of them.
        const asks = (x: unknown): boolean => (typeof x === 'string' && watched.has(x)) || (Array.isArray(x) && x.some(asks));
        if (args.some(asks)) counter.calls++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** The buyer's session that is ready to pay (SeedPay handshake done), if any. */
export function readyHook(b: PaidBuyer): BuyerHook | undefined {
  const hooks = (b as unknown as { conns: Map<BuyerHook, unknown> }).conns;
  return [...hooks.keys()].find((h) => h.buyer.state === 'ready' && !h.isClosed);
}

/**
 * Send one SeedPay message in `h`'s session as the session itself would (authenticated
 * when the session uses message MACs): what a buyer that owns its session keys can
 * send. Returns false once the session cannot send any more.
 */
export function sendInSession(h: BuyerHook, msg: SeedPayMessage): boolean {
  if (h.isClosed || h.buyer.state !== 'ready') return false;
  (h.buyer as unknown as { out: SeedPayMessage[] }).out.push(msg);
  (h as unknown as { pump(external: boolean): void }).pump(true);
  return !h.isClosed && h.buyer.state === 'ready';
}

/**
 * Send up to `n` made-up payment_proofs in `h`'s session (stops when the seller
 * closed it); each signature is passed to `onTx` first. Returns how many were sent.
 */
export function floodProofs(h: BuyerHook, n: number, onTx: (tx: string) => void = () => {}): number {
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const tx = madeUpTx();
    onTx(tx);
    if (!sendInSession(h, { type: 'payment_proof', tx, amount: 5n })) break;
    sent++;
  }
  return sent;
}
