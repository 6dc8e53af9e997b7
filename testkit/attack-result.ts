/** What a money attack reports (`npm run bench:attacks` prints one per line). */
import type { Env } from './paid-helpers.js';

export interface AttackResult {
  readonly attack: string;
  readonly victim: 'buyer' | 'seller';
  /** What the victim lost beyond what it got (base units of the mint the attack is about). */
  readonly lost_base_units: number;
  /** The most the protocol allows: one payment increment against a cheating seller, 0 otherwise. */
  readonly bound_base_units: number;
  /** Bytes a seller served without being paid for them. */
  readonly unpaid_bytes: number;
  readonly outcome: string;
  readonly rpc_calls_per_proof?: number;
}

export interface MoneyAttack {
  readonly name: string;
  readonly victim: 'buyer' | 'seller';
  /** Built before the ledger starts (which loads it when present): the channel escrow program. */
  readonly requires?: 'channel-program';
  run(env: Env): Promise<AttackResult>;
}
