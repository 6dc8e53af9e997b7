/**
 * A paid seller for the tests that put a real BitTorrent client (one that knows nothing
 * of SeedPay) in front of it: a local ledger and a fresh seller wallet and journal, both
 * closed after the test; and the checks every such test ends with.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Keypair } from '@solana/web3.js';
import type { NonSeedPayPolicy } from '../extensions/seedpay/policy.js';
import type { PeerCloseReason, PeerSession } from '../lib/engine/peer-session.js';
import type { Torrent } from '../lib/engine/torrent.js';
import { PaidSeller, type PaidSellerOptions } from '../lib/paid/seller.js';
import { chainFromUrl } from '../payment/chain.js';
import { LocalLedger } from '../payment/ledger/ledger.js';
import { walletFromSecretKey } from '../payment/session.js';
import type { InteropScope } from './clients.js';
import type { OurPeer } from './ours-helpers.js';

export interface InteropSeller {
  seller: PaidSeller;
  /** Errors the seller emitted. */
  errors: Error[];
}

/** A paid seller at 1000 base units per MiB under `policy` (and `extra` options), on a ledger of its own. */
export async function openInteropSeller(t: TestContext, s: InteropScope, policy: NonSeedPayPolicy, extra: Partial<PaidSellerOptions> = {}): Promise<InteropSeller> {
  const ledger = await LocalLedger.start();
  t.after(() => ledger.stop());
  const seller = await PaidSeller.open({
    chain: chainFromUrl(ledger.url), wallet: walletFromSecretKey(Keypair.generate().secretKey),
    journalPath: path.join(await s.tempDir('journal'), 'seller.journal'), price: 1000n, mint: ledger.mint.toBase58(), policy, ...extra,
  });
  t.after(() => seller.close());
  const errors: Error[] = [];
  seller.on('error', (e) => errors.push(e));
  return { seller, errors };
}

/** 'paid-only' against a peer without SeedPay: it stayed interested, got nothing, and no side closed. */
export function assertRefusedQuietly(p: PeerSession, tor: Torrent, closes: readonly unknown[]): void {
  assert.equal(p.conn.peerInterested, true, 'the peer is interested all along');
  assert.equal(tor.stats().uploaded, 0, 'a peer without SeedPay gets nothing from a paid-only seller');
  assert.equal(p.uploaded, 0);
  assert.deepEqual(closes, [], 'no connection was closed: no protocol error on either side');
}

/** No money moved (the peer never paid) and nothing went wrong on our side. */
export function assertNoMoneyNoErrors(x: InteropSeller, ours: OurPeer): void {
  assert.equal(x.seller.totals().credited, 0n);
  assert.deepEqual(x.errors.map((e) => e.message), []);
  assert.deepEqual(ours.reportedErrors().map((e) => e.message), []);
}

/** 'free': the connection closed (if it did) only the way a finished transfer closes. */
export function assertCleanCloses(closes: readonly PeerCloseReason[]): void {
  for (const c of closes) assert.match(c.code, /^(NOT_NEEDED|END|CLOSED)$/, `closed with ${c.code}: ${c.error?.message ?? ''}`);
}
