/**
 * Ratio credits against a real client that knows nothing of them (libtorrent 2.0,
 * python3-libtorrent): it must see an ordinary BitTorrent peer.
 *  - Our paid seller offering ratio terms (and running the `seedpay_credit` extension):
 *    libtorrent ignores both, and under policy 'free' is served in full; no credit, no
 *    money moves.
 *  - Our downloader crediting uploaders: a libtorrent seeder proves no identity, so it
 *    earns nothing, and the download is unharmed.
 * requireClient: skipped locally when libtorrent is missing, a failure in CI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openInteropSeller } from '../../testkit/paid-interop.js';
import { assertSameBytes, requireClient } from '../../testkit/clients.js';
import { MiB, OurPeer, makeFixture, scopeFor } from '../../testkit/ours-helpers.js';
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { CreditBook } from '../../payment/credit-book.js';

const SIZE = 4 * MiB;
const TIMEOUT_MS = 60_000;

test('libtorrent leecher vs our paid seller offering ratio credits (policy free): served in full, nothing credited or charged', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'ratio-lt-leech');
  const f = await makeFixture(s, SIZE);
  const ours = await OurPeer.start(t);
  const { seller, errors } = await openInteropSeller(t, s, 'free', { ratio: { served: 1n, credit: 1n, cap: 64n * BigInt(MiB) } });
  assert.deepEqual(seller.terms.ratio, { served: 1n, credit: 1n, cap: 64n * BigInt(MiB) });
  const tor = await seller.add(ours.client, f.info.torrentPath, { dir: f.dir });
  const out = await s.tempDir('lt-dl');
  const leecher = await s.startLibtorrent({ mode: 'leech', torrentPath: f.info.torrentPath, saveDir: out, connect: [ours.endpoint] });
  const r = await leecher.result(TIMEOUT_MS);
  assert.equal(r.complete, true, 'served in full despite the ratio terms and the credit extension in our handshake');
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  assert.ok(tor.stats().uploaded >= SIZE);
  const totals = seller.totals();
  assert.deepEqual([totals.credited, totals.creditBytes], [0n, 0n]);
  assert.equal(seller.credits!.balances().size, 0);
  assert.deepEqual(errors.map((e) => e.message), []);
});

test('libtorrent seeder → our downloader crediting uploaders: it proves no identity, earns nothing, the download is unharmed', { timeout: TIMEOUT_MS }, async (t) => {
  if (!requireClient('libtorrent', t)) return;
  const s = scopeFor(t, 'ratio-lt-seed');
  const f = await makeFixture(s, SIZE);
  const seeder = await s.startLibtorrent({ mode: 'seed', torrentPath: f.info.torrentPath, saveDir: f.dir });
  const ours = await OurPeer.start(t);
  const book = await CreditBook.open(path.join(await s.tempDir('journal'), 'node.journal'));
  t.after(() => book.close());
  const plugin = ratioCredits({ sink: book });
  const out = await s.tempDir('ours-dl');
  const tor = await ours.add(f.info.torrentPath, out, { dial: [seeder.endpoint], extensions: [plugin] });
  await new Promise<void>((resolve) => (tor.isComplete ? resolve() : tor.once('done', () => resolve())));
  await assertSameBytes(path.join(out, f.info.name), f.sha256);
  await book.flush();
  assert.equal(book.balances().size, 0, 'no identity, no credit');
  assert.deepEqual(ours.reportedErrors().map((e) => e.message), []);
});
