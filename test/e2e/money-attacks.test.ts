/**
 * Attacks on a buyer's or a seller's money (testkit/money-attacks.ts), each end to end
 * on the embedded ledger: the victim loses no more than the protocol's bound (one
 * payment increment against a cheating seller, nothing otherwise). `npm run
 * bench:attacks` prints the same runs as JSON lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MONEY_ATTACKS, runAttack } from '../../testkit/money-attacks.js';
import { requireChannelProgram } from '../../testkit/channel-program.js';

for (const a of MONEY_ATTACKS) {
  test(`money attack ${a.name}: the ${a.victim} loses at most the protocol's bound`, { timeout: 120_000 }, async (t) => {
    // Channel attacks run on the real escrow program: no compiler skips them (CI=true: fails).
    if (a.requires === 'channel-program' && requireChannelProgram(t) === null) return;
    const r = await runAttack(a);
    assert.equal(r.attack, a.name);
    assert.ok(r.lost_base_units <= r.bound_base_units, `lost ${r.lost_base_units} > bound ${r.bound_base_units}: ${r.outcome}`);
    assert.equal(r.unpaid_bytes, 0, r.outcome);
    // A made-up proof costs a share of a batched status call (one look each was a
    // transaction fetch plus a status call before: 0.03 per proof sent in this run).
    if (r.rpc_calls_per_proof !== undefined) assert.ok(r.rpc_calls_per_proof <= 0.01, `${r.rpc_calls_per_proof} RPC calls per fake proof: ${r.outcome}`);
  });
}
