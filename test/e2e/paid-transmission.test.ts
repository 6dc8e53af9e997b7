/**
 * A real Transmission 3.00 leecher (transmission-daemon) against our PAID seller.
 * Our extended handshake carries SeedPay terms, which Transmission must ignore.
 * Transmission never dials a loopback peer (INTEROP.md rule 1): the seller dials it
 * (`peers` of the seller's torrent) from its own 127.0.0.x address, and each test runs
 * a fresh daemon (rule 3).
 *  - policy 'free': Transmission is served in full, sha256 verified;
 *  - policy 'paid-only': Transmission gets connected, says interested, and is never
 *    unchoked: no piece data for a window longer than its own rechoke period, while
 *    the connection stays up — neither side closed it (our close reasons would name a
 *    protocol error; Transmission's RPC peer list still shows us).
 * requireClient: skipped locally when transmission-daemon is missing, a failure in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { PeerCloseReason, PeerSession } from '../../lib/engine/peer-session.js';
import { assertCleanCloses, assertNoMoneyNoErrors, assertRefusedQuietly, openInteropSeller } from '../../testkit/paid-interop.js';
import { assertSameBytes, endpointString, requireClient, sleep, type TransmissionDaemon, type TransmissionPeer } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor } from '../../testkit/ours-helpers.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 90_000;
/** Paid-only: how long Transmission is watched after it said interested (Transmission rechokes every ~10 s). */
const REFUSED_WINDOW_MS = 15_000;

/** Transmission's view of our seller (its RPC peer list), matched by our bind address. */
async function trPeerFor(tr: TransmissionDaemon, id: number, host: string): Promise<TransmissionPeer | null> {
  return (await tr.peers(id)).find((p) => p.address === host) ?? null;
}

for (const policy of ['free', 'paid-only'] as const) {
  test(`Transmission leecher vs our paid seller (we dial), policy ${policy}`, { timeout: TIMEOUT_MS }, async (t) => {
    if (!requireClient('transmission', t)) return;
    const s = scopeFor(t, `paid-tr-${policy}`);
    const f = await makeFixture(s, SIZE);
    const tr = await s.startTransmission();
    const id = await tr.addTorrent(f.info.torrentPath);
    await tr.waitActive(id);
    const ours = await OurPeer.start(t);
    const paid = await openInteropSeller(t, s, policy);
    const { seller } = paid;
    const sessions: PeerSession[] = [];
    const closes: { at: number; reason: PeerCloseReason }[] = [];
    const tor = await seller.add(ours.client, f.info.torrentPath, { dir: f.dir, peers: [endpointString(tr.peerEndpoint)] });
    tor.on('peer', (p) => sessions.push(p));
    tor.on('peer_closed', (p, reason) => { if (p.registered) closes.push({ at: Date.now(), reason }); });
    assert.equal(tor.isComplete, true);

    if (policy === 'free') {
      const done = await tr.waitComplete(id, TIMEOUT_MS - 20_000);
      assert.equal(done.totalSize, SIZE);
      await assertSameBytes(path.join(tr.downloadDir, f.info.name), f.sha256);
      assert.ok(tor.stats().uploaded >= SIZE, 'we uploaded it all');
      // Served through the paid seller's hook, and no connection ended on a protocol error.
      const p = sessions.find((x) => /Transmission/.test(x.conn.peerExtendedHandshake?.v ?? ''));
      assert.ok(p !== undefined, `met Transmission among ${sessions.map((x) => x.address).join(', ')}`);
      assert.equal(p.role, 'initiator', 'we dialled Transmission');
      assert.ok((p.extensions?.hook('seedpay') ?? null) !== null, 'the SeedPay hook ran on this connection (terms in our handshake)');
      assertCleanCloses(closes.map((c) => c.reason));
    } else {
      // Connected, and Transmission wants our pieces: flag 'd' = it would download if we unchoked it.
      const deadline = Date.now() + 40_000;
      let seen: TransmissionPeer | null = null;
      while (Date.now() < deadline) {
        seen = await trPeerFor(tr, id, ours.endpoint.host);
        if (seen !== null && seen.flagStr.includes('d')) break;
        await sleep(200);
      }
      assert.ok(seen !== null && seen.flagStr.includes('d'), `Transmission connected to us and is interested: ${JSON.stringify(seen)}`);
      assert.equal(sessions.length, 1, 'one connection');
      const p = sessions[0];
      assert.equal(p.role, 'initiator', 'we dialled Transmission');
      assert.match(p.conn.peerExtendedHandshake?.v ?? '', /Transmission/);
      assert.ok((p.extensions?.hook('seedpay') ?? null) !== null, 'the SeedPay hook ran on this connection (terms in our handshake)');
      const watchUntil = Date.now() + REFUSED_WINDOW_MS;
      while (Date.now() < watchUntil) {
        const st = await tr.torrent(id);
        assert.equal(st.downloadedEver, 0, 'Transmission received no piece data');
        assert.equal(st.haveValid, 0);
        assert.equal(p.conn.amChoking, true, 'never unchoked');
        assert.equal(p.isClosed, false, `the connection is still up (closed: ${JSON.stringify(closes)})`);
        await sleep(500);
      }
      assertRefusedQuietly(p, tor, closes);
      const after = await trPeerFor(tr, id, ours.endpoint.host);
      assert.ok(after !== null, 'Transmission still lists us as a peer (it did not drop us)');
      assert.ok(after.flagStr.includes('d') && !after.flagStr.includes('D'), `still choked by us: flags ${after.flagStr}`);
      assert.equal((await tr.torrent(id)).downloadedEver, 0);
    }
    assertNoMoneyNoErrors(paid, ours);
  });
}
