/**
 * A real libtorrent 2.0 leecher (python3-libtorrent, test/interop/scripts/lt_peer.py)
 * against our PAID seller: its extended handshake carries SeedPay terms, which
 * libtorrent must ignore. Policy 'free': served in full, not disturbed. Policy
 * 'paid-only': never unchoked, receives nothing. requireClient: skipped locally
 * when libtorrent is missing, a failure in CI. The same two cases against Transmission:
 * paid-transmission.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openInteropSeller } from '../../testkit/paid-interop.js';
import { assertSameBytes, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor } from '../../testkit/ours-helpers.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 60_000;

for (const policy of ['free', 'paid-only'] as const) {
  test(`libtorrent leecher vs our paid seller, policy ${policy}`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('libtorrent', t)) return;
    const s = scopeFor(t, `paid-lt-${policy}`);
    const f = await makeFixture(s, SIZE);
    const ours = await OurPeer.start(t);
    const { seller } = await openInteropSeller(t, s, policy);
    const tor = await seller.add(ours.client, f.info.torrentPath, { dir: f.dir });
    assert.equal(tor.isComplete, true);
    const out = await s.tempDir('lt-dl');
    const leecher = await s.startLibtorrent({
      mode: 'leech', torrentPath: f.info.torrentPath, saveDir: out, connect: [ours.endpoint],
      ...(policy === 'paid-only' ? { timeoutS: 8 } : {}),
    });
    const r = await leecher.result(TIMEOUT_MS);
    assert.ok(r.peers.length >= 1, 'libtorrent connected to us');
    assert.match(r.peers[0].client, /SeedPay|BitSpirit/);
    if (policy === 'free') {
      assert.equal(r.complete, true, 'served in full despite the SeedPay terms in our handshake');
      await assertSameBytes(path.join(out, f.info.name), f.sha256);
      assert.ok(tor.stats().uploaded >= SIZE);
    } else {
      assert.equal(r.complete, false);
      assert.equal(r.payload_down, 0, 'a peer without SeedPay gets nothing from a paid-only seller');
      assert.equal(tor.stats().uploaded, 0);
    }
    assert.equal(seller.totals().credited, 0n);
  });
}
