/**
 * Ratio credits one hop away (docs/PROTOCOL.md §10, "Beyond one node"), sans-IO: what
 * an uploader carries and what a node makes of it.
 *
 *  - An **issuer** (a node that credits uploaders and has a wallet) hands each bound
 *    uploader a signed statement of everything it verified from it (`issueStatement`).
 *  - The **holder** keeps the latest statement per issuer (`StatementStore`, one per
 *    node, bounded) and presents them to the other nodes it uploads to.
 *  - A **verifier** credits a presented statement (`checkPresented`) only if it names
 *    the identity bound on that very connection, is signed by an issuer the verifier
 *    names as trusted (one hop: a trusted node's own trusted nodes count for nothing;
 *    never itself, never the presenter), and then only the increase of its total over
 *    what it redeemed before, at its discount, within the issuer's budget (the credit
 *    book does the arithmetic and journals it).
 * So a Sybil gains nothing: statements by nodes nobody trusts are worthless, and a
 * trusted node that inflates its statements spends at most the budget it was given.
 */
import bs58 from 'bs58';
import { bytesEqual } from '../../wire/bytes.js';
import { creditStatementMessage, verifyCreditStatement } from '../../payment/credit-statement.js';
import type { CreditStatement } from './messages.js';

/** How a verifier credits one trusted issuer's statements. */
export interface TrustRule {
  /** Credit per byte of the statement's increase, as [numerator, denominator] (default 1/4). */
  readonly discount: readonly [bigint, bigint];
  /** Most credit this issuer's statements may bring in all (default 1 GiB). */
  readonly budget: bigint;
}

export const DEFAULT_TRUST: TrustRule = Object.freeze({ discount: Object.freeze([1n, 4n] as const), budget: 1n << 30n });

/** Trusted issuers: wallets (base58), each with its rule or the default. */
export type TrustList = ReadonlyMap<string, TrustRule> | readonly string[];

export function trustMap(t: TrustList | undefined): ReadonlyMap<string, TrustRule> {
  if (t === undefined) return new Map();
  if (!Array.isArray(t)) return t as ReadonlyMap<string, TrustRule>;
  return new Map((t as readonly string[]).map((w) => [w, DEFAULT_TRUST]));
}

/** Statements looked at per connection, and carried per node. */
export const MAX_STATEMENTS_PER_CONNECTION = 16;
export const MAX_STATEMENTS_PRESENTED = 8;
const DEFAULT_STORE_SIZE = 64;

/**
 * The holder's statements: the latest (highest total) per issuer, for the wallet
 * `wallet`; at most `max` issuers (the lowest totals go first). In memory: an issuer
 * hands a fresh one on every connection where our identity binds.
 */
export class StatementStore {
  private readonly byIssuer = new Map<string, CreditStatement>();
  private readonly walletKey: Uint8Array;

  constructor(readonly wallet: string, private readonly max = DEFAULT_STORE_SIZE) {
    this.walletKey = bs58.decode(wallet);
  }

  /** Keep a statement handed to us, if it names our wallet and its issuer's signature holds. */
  add(s: CreditStatement): boolean {
    if (!bytesEqual(s.identity, this.walletKey) || bytesEqual(s.issuer, this.walletKey)) return false;
    const issuer = bs58.encode(s.issuer);
    const have = this.byIssuer.get(issuer);
    if (have !== undefined && have.total >= s.total) return false;
    if (!verifyCreditStatement(s.issuer, creditStatementMessage(s), s.sig)) return false;
    this.byIssuer.set(issuer, s);
    if (this.byIssuer.size > this.max) {
      let low: string | null = null;
      for (const [k, v] of this.byIssuer) if (low === null || v.total < this.byIssuer.get(low)!.total) low = k;
      this.byIssuer.delete(low!);
    }
    return true;
  }

  /** The statements to present to a peer (`peer`: its identity, whose own statements are useless to it). */
  best(limit = MAX_STATEMENTS_PRESENTED, peer: string | null = null): CreditStatement[] {
    return [...this.byIssuer].filter(([k]) => k !== peer).map(([, v]) => v)
      .sort((a, b) => (a.total === b.total ? 0 : a.total > b.total ? -1 : 1)).slice(0, limit);
  }

  get size(): number { return this.byIssuer.size; }
}

/** Sign the statement an issuer hands `identity` (base58): it verified `total` bytes from it, in all. */
export function issueStatement(issuer: { wallet: string; sign(m: Uint8Array): Uint8Array }, identity: string, total: bigint, time: number): CreditStatement {
  const id = bs58.decode(identity);
  const sig = issuer.sign(creditStatementMessage({ identity: id, total, time }));
  return { type: 'credit_statement', issuer: bs58.decode(issuer.wallet), identity: id, total, time, sig };
}

/**
 * A statement presented on a connection whose peer bound `presenter`: the issuer (base58)
 * and its rule if the verifier should credit it, else null. `self`: the verifier's own
 * wallet (its own statements are not credit from elsewhere).
 */
export function checkPresented(s: CreditStatement, presenter: string, trusted: ReadonlyMap<string, TrustRule>, self: string | null): { issuer: string; rule: TrustRule } | null {
  const issuer = bs58.encode(s.issuer);
  const rule = trusted.get(issuer);
  if (rule === undefined || issuer === self || issuer === presenter || bs58.encode(s.identity) !== presenter) return null;
  if (!verifyCreditStatement(s.issuer, creditStatementMessage(s), s.sig)) return null;
  return { issuer, rule };
}
