/**
 * How many payment verifications a seller starts, per peer address and in all.
 *
 * Every proof a buyer sends makes the seller ask its RPC (a metered quota on public
 * clusters). Per connection a SeedPay session already ends a proof flood; this bounds
 * what many connections from many addresses can make the seller spend, so honest
 * proofs still get answered: a token bucket per address (IPv6 per /64, as the
 * violation throttle counts them) and one for the whole process. A proof over budget
 * is answered `rpc_unavailable` (try later) without any RPC call.
 *
 * Time is an argument (`now`, ms); memory is bounded (least recently used addresses go).
 */
import { addressKey } from '../net/violation-throttle.js';

export interface BucketSize {
  /** Verifications that may start at once after a quiet spell. */
  readonly burst: number;
  /** Verifications per minute in the long run. */
  readonly perMinute: number;
}

export interface VerifyBudgetOptions {
  readonly perAddress: BucketSize;
  readonly global: BucketSize;
  /** Addresses remembered at most. Default 8192. */
  readonly maxAddresses?: number;
}

/**
 * An honest buyer proves one payment per few MiB (its risk cap): at 160 MB/s with
 * 8 MiB payments that is 20 a second, within the per-address rate. Made-up proofs
 * cost a share of a batched status call each, so these bound the RPC work too.
 */
export const DEFAULT_VERIFY_BUDGET: VerifyBudgetOptions = {
  perAddress: { burst: 32, perMinute: 1200 },
  global: { burst: 256, perMinute: 12_000 },
};

class Bucket {
  private tokens: number;
  private at: number;
  constructor(private readonly size: BucketSize, now: number) {
    this.tokens = size.burst;
    this.at = now;
  }
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  giveBack(): void { this.tokens = Math.min(this.size.burst, this.tokens + 1); }
  private refill(now: number): void {
    const dt = Math.max(0, now - this.at);
    this.at = Math.max(this.at, now);
    this.tokens = Math.min(this.size.burst, this.tokens + (dt * this.size.perMinute) / 60_000);
  }
}

export class VerifyBudget {
  private readonly global: Bucket;
  private readonly byAddress = new Map<string, Bucket>();
  private readonly max: number;

  constructor(private readonly opts: VerifyBudgetOptions = DEFAULT_VERIFY_BUDGET, now = 0) {
    this.global = new Bucket(opts.global, now);
    this.max = opts.maxAddresses ?? 8192;
  }

  /** May a verification for a proof from `host` (an IP address, no port) start now? */
  take(host: string, now: number): boolean {
    const key = addressKey(host);
    let b = this.byAddress.get(key);
    if (b === undefined) {
      if (this.byAddress.size >= this.max) this.byAddress.delete(this.byAddress.keys().next().value as string);
      b = new Bucket(this.opts.perAddress, now);
    } else {
      this.byAddress.delete(key); // re-inserted: most recently used last
    }
    this.byAddress.set(key, b);
    if (!b.take(now)) return false;
    if (!this.global.take(now)) { b.giveBack(); return false; }
    return true;
  }

  /** Addresses remembered (tests). */
  get size(): number { return this.byAddress.size; }
}
