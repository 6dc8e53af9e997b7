/**
 * The DHT from the command line, all on loopback: `seedpay seed --dht-bootstrap` announces
 * to a DHT node; `seedpay get <magnet>` with only the info hash and `--dht-bootstrap`
 * finds the seeder through the DHT alone and downloads (sha256 checked). Flag misuse
 * is one usage line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { buildMagnet, formatPeerAddress } from '../../format/magnet.js';
import { Client } from '../../lib/net/client.js';
import { assertOneLine, runCli, startCli } from '../../testkit/run-cli.js';
import { checkFiles, makeFixture } from '../../testkit/torrent-helpers.js';
import { until } from '../../testkit/paid-helpers.js';

test('seed announces to the DHT; get <magnet> finds it through the DHT alone', { timeout: 30_000 }, async (t) => {
  const fx = await makeFixture({ files: [['d.bin', 600_000]], pieceLength: 32768, name: 'dhtcli' });
  const torrent = join(fx.root, 'd.torrent');
  await writeFile(torrent, fx.torrent);
  const node = new Client({ dht: { bootstrap: [] } });
  await node.listen(0, '127.0.0.95');
  const boot = formatPeerAddress(node.dhtAddress!);
  const seed = startCli(['seed', torrent, '--dir', fx.seedDir, '--port', '0', '--host', '127.0.0.96', '--dht-bootstrap', boot]);
  t.after(async () => { seed.child.kill('SIGTERM'); await seed.exited; await node.close(); await fx.cleanup(); });
  await until(() => /dht: announce reached 1 node/.test(seed.stderr()) || seed.child.exitCode !== null, 15_000, 'the seeder announced');
  assert.match(seed.stderr(), /dht: node on 127\.0\.0\.96:\d+, bootstrapping from 127\.0\.0\.95:\d+/);

  const dir = join(fx.root, 'got');
  const got = await runCli(['get', buildMagnet({ infoHash: fx.meta.infoHash }), '--dir', dir, '--dht-bootstrap', boot], {}, 25_000);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stderr, /peer sources: DHT, peer exchange\n/);
  assert.match(got.stderr, /^peer 127\.0\.0\.96:\d+ connected \(SeedPay 0\.1\)$/m);
  assert.match(got.stderr, /dht: (announce|lookup) reached \d+ node\(s\), 1 new peer\(s\)/);
  assert.deepEqual(await checkFiles(fx, dir), []);
});

test('DHT flag misuse is one usage line', async () => {
  const m = buildMagnet({ infoHash: new Uint8Array(20) });
  assertOneLine(await runCli(['get', m, '--no-dht', '--dht-bootstrap', '127.0.0.1:1']), /--no-dht and --dht-bootstrap contradict/, { code: 2 });
  assertOneLine(await runCli(['get', m, '--dht-bootstrap', 'nohost']), /bad --dht-bootstrap 'nohost'/, { code: 2 });
  assertOneLine(await runCli(['get', m, '--dht-bootstrap', ',']), /--dht-bootstrap needs host:port/, { code: 2 });
  assertOneLine(await runCli(['get', m, '--no-dht', '--no-trackers']), /get needs --peer host:port \(trackers are off, the DHT is off\)/, { code: 2 });
  assertOneLine(await runCli(['seed', 'x.torrent', '--dir', '.', '--no-dht', '--dht-bootstrap', '127.0.0.1:1']), /contradict/, { code: 2 });
});
