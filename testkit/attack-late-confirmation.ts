/**
 * late-confirmation: the buyer's RPC shows its payments as confirmed only after the
 * buyer stopped waiting for them (confirmTimeoutMs), though they land on the ledger at
 * once — a slow or lagging RPC node, a congested cluster. Before payments were journaled
 * as pending before being sent (docs/PROTOCOL.md §7), such a payment was neither
 * journaled nor proven: paid, never credited, and the seller was dropped.
 *
 * Only the buyer's view of the chain is slowed (a wrapper of env.chain); the seller
 * verifies on the real one. `lost_base_units` = what left the buyer's token account −
 * what the seller credited to this buyer (bound 0).
 */
import type { PublicKey } from '@solana/web3.js';
import { Client } from '../lib/net/client.js';
import { associatedTokenAddress, type Chain } from '../payment/chain.js';
import { funded, leechDir, makeContent, openBuyer, startSeller, until, USDC, whenComplete, type Env } from './paid-helpers.js';

import type { AttackResult, MoneyAttack } from './attack-result.js';

const MiB = 1024 * 1024;
const PRICE = 1_000n;
/** How long the buyer's RPC hides a sent transaction's status, and how long the buyer waits for it. */
const HIDE_MS = 1_500;
const CONFIRM_TIMEOUT_MS = 300;
const BUYER_ADDRESS = '127.0.0.31';

/**
 * `chain` as a lagging RPC shows it: a transaction sent through it lands at once, but
 * its signature status and the transaction itself stay unknown for `hideMs` after the send.
 */
export function laggingChain(chain: Chain, hideMs: number): Chain {
  const sentAt = new Map<string, number>();
  const hidden = (s: string): boolean => {
    const at = sentAt.get(s);
    return at !== undefined && Date.now() - at < hideMs;
  };
  return {
    genesisHash: () => chain.genesisHash(),
    latestBlockhash: () => chain.latestBlockhash(),
    blockHeight: () => chain.blockHeight(),
    async sendRawTransaction(raw) {
      const signature = await chain.sendRawTransaction(raw);
      sentAt.set(signature, Date.now());
      return signature;
    },
    signatureStatus: async (s) => (hidden(s) ? null : chain.signatureStatus(s)),
    signatureStatuses: async (ss) => (await chain.signatureStatuses(ss)).map((st, i) => (hidden(ss[i]) ? null : st)),
    transaction: async (s) => (hidden(s) ? null : chain.transaction(s)),
    tokenAccount: (a) => chain.tokenAccount(a),
    mint: (a) => chain.mint(a),
  };
}

async function tokenBalance(env: Env, owner: PublicKey): Promise<bigint> {
  return (await env.chain.tokenAccount(associatedTokenAddress(env.ledger.mint, owner)))?.amount ?? 0n;
}

async function run(env: Env): Promise<AttackResult> {
  const content = await makeContent(env, 8 * MiB);
  const s = await startSeller(env, content, funded(env, 0n), { price: PRICE });
  const key = funded(env, 1n * USDC);
  const client = new Client({ localAddress: BUYER_ADDRESS });
  const buyer = await openBuyer(env, key, {
    chain: laggingChain(env.chain, HIDE_MS), maxPricePerMiB: PRICE, confirmTimeoutMs: CONFIRM_TIMEOUT_MS, pendingCheckMs: 200,
  });
  try {
    let late = 0;
    buyer.on('pay_pending', () => { late++; });
    const before = await tokenBalance(env, key.publicKey);
    const t = await buyer.add(client, content.meta, { dir: await leechDir(env), peers: [`127.0.0.1:${s.port}`] });
    const done = await whenComplete(t, 20_000).then(() => true, () => false);
    const credited = (): bigint => s.seller.totals().payments.filter((p) => p.peer.startsWith(`${BUYER_ADDRESS}:`)).reduce((a, p) => a + p.credited, 0n);
    const paid = async (): Promise<bigint> => before - await tokenBalance(env, key.publicKey);
    // A last payment may still be settling: give it the time a late one needs.
    const end = Date.now() + HIDE_MS + 3_000;
    while (Date.now() < end && (await paid()) !== credited()) await until(() => false, 100).catch(() => undefined);
    const lost = (await paid()) - credited();
    return {
      attack: 'late-confirmation', victim: 'buyer', lost_base_units: Number(lost), bound_base_units: 0, unpaid_bytes: 0,
      outcome: `${late} payment(s) confirmed after the buyer's ${CONFIRM_TIMEOUT_MS} ms wait; ${done ? 'download complete' : 'download stalled'}; `
        + `paid ${await paid()}, credited ${credited()}`,
    };
  } finally {
    await client.close();
    await buyer.close();
    await s.client.close();
    await s.seller.close();
  }
}

export const lateConfirmation: MoneyAttack = { name: 'late-confirmation', victim: 'buyer', run };
