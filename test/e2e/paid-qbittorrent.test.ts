/**
 * A real qBittorrent 4.5 leecher (qbittorrent-nox, libtorrent 2.0 inside) against our
 * PAID seller: our extended handshake carries SeedPay terms, which qBittorrent must
 * ignore. qBittorrent dials us (`addPeers`, the only way to point it at a peer).
 *  - policy 'free': qBittorrent is served in full, sha256 verified;
 *  - policy 'paid-only': qBittorrent connects and says interested, and is never
 *    unchoked: no piece data for a window longer than its own rechoke period, while
 *    the connection stays up (no protocol error on either side).
 * requireClient: skipped locally when qbittorrent-nox is missing, a failure in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { PeerCloseReason, PeerSession } from '../../lib/engine/peer-session.js';
import { assertSameBytes, requireClient, sleep } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor } from '../../testkit/ours-helpers.js';
import { assertCleanCloses, assertNoMoneyNoErrors, assertRefusedQuietly, openInteropSeller } from '../../testkit/paid-interop.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 90_000;
/** Paid-only: how long qBittorrent is watched once it said interested (libtorrent rechokes every 15 s). */
const REFUSED_WINDOW_MS = 17_000;

for (const policy of ['free', 'paid-only'] as const) {
  test(`qBittorrent leecher vs our paid seller (it dials us), policy ${policy}`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('qbittorrent', t)) return;
    const s = scopeFor(t, `paid-qbt-${policy}`);
    const f = await makeFixture(s, SIZE);
    const ours = await OurPeer.start(t);
    const paid = await openInteropSeller(t, s, policy);
    const { seller } = paid;
    const sessions: PeerSession[] = [];
    const closes: PeerCloseReason[] = [];
    const tor = await seller.add(ours.client, f.info.torrentPath, { dir: f.dir });
    tor.on('peer', (p) => sessions.push(p));
    tor.on('peer_closed', (p, reason) => { if (p.registered) closes.push(reason); });
    assert.equal(tor.isComplete, true);
    const qbt = await s.startQbittorrent();
    const out = await s.tempDir('qbt-dl');
    await qbt.addTorrent(f.info.torrentPath, out);
    await qbt.waitDownloading(f.info.infoHash);
    await qbt.addPeers(f.info.infoHash, [ours.endpoint]);
    const isQbt = (x: PeerSession): boolean => /qBittorrent|libtorrent/.test(x.conn.peerExtendedHandshake?.v ?? '');

    if (policy === 'free') {
      const done = await qbt.waitComplete(f.info.infoHash, TIMEOUT_MS - 30_000);
      assert.equal(done.size, SIZE);
      await assertSameBytes(path.join(out, f.info.name), f.sha256);
      assert.ok(tor.stats().uploaded >= SIZE, 'we uploaded it all');
      const p = sessions.find(isQbt);
      assert.ok(p !== undefined, `met qBittorrent among ${sessions.map((x) => x.address).join(', ')}`);
      assert.equal(p.role, 'acceptor', 'qBittorrent dialled us');
      assert.ok((p.extensions?.hook('seedpay') ?? null) !== null, 'the SeedPay hook ran on this connection (terms in our handshake)');
      assertCleanCloses(closes);
    } else {
      // Connected and interested (it wants our pieces).
      const deadline = Date.now() + 40_000;
      let p: PeerSession | undefined;
      while (Date.now() < deadline) {
        p = sessions.find((x) => isQbt(x) && !x.isClosed && x.conn.peerInterested);
        if (p !== undefined) break;
        await sleep(200);
      }
      assert.ok(p !== undefined, `qBittorrent connected and is interested (sessions: ${sessions.map((x) => x.address).join(', ')}; closes: ${JSON.stringify(closes)})`);
      assert.equal(p.role, 'acceptor', 'qBittorrent dialled us');
      assert.ok((p.extensions?.hook('seedpay') ?? null) !== null, 'the SeedPay hook ran on this connection (terms in our handshake)');
      const watchUntil = Date.now() + REFUSED_WINDOW_MS;
      while (Date.now() < watchUntil) {
        const st = await qbt.info(f.info.infoHash);
        assert.ok(st !== null);
        assert.equal(st.downloaded, 0, 'qBittorrent received no piece data');
        assert.equal(st.progress, 0);
        assert.equal(p.conn.amChoking, true, 'never unchoked');
        assert.equal(p.isClosed, false, `the connection is still up (closes: ${JSON.stringify(closes)})`);
        await sleep(500);
      }
      assertRefusedQuietly(p, tor, closes);
    }
    assertNoMoneyNoErrors(paid, ours);
  });
}
