/**
 * The arguments `seedpay node` parses itself (lib/cli/node-args.ts): `T[:dir]` splits
 * at the last ':' (magnet links and drive letters excepted) and round-trips any path
 * without ':' and any directory; `--ratio S:C` takes two positive integers, the cap a
 * size and the TTL positive seconds, and each needs --ratio; misuse is a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CliError } from '../../lib/cli/args.js';
import { parseRatioTerms, parseTorrentSpec } from '../../lib/cli/node-args.js';

const usage = (f: () => unknown, pattern: RegExp): void => {
  assert.throws(f, (e: unknown) => e instanceof CliError && e.exitCode === 2 && pattern.test(e.message));
};

test('parseTorrentSpec: a torrent and its data directory', () => {
  assert.deepEqual(parseTorrentSpec('--seed', 'a.torrent', 'D'), { src: 'a.torrent', dir: 'D' });
  assert.deepEqual(parseTorrentSpec('--seed', 'a.torrent:data', 'D'), { src: 'a.torrent', dir: 'data' });
  assert.deepEqual(parseTorrentSpec('--get', '/x/a.torrent:/y/z', 'D'), { src: '/x/a.torrent', dir: '/y/z' });
  assert.deepEqual(parseTorrentSpec('--get', 'C:\\t\\a.torrent', 'D'), { src: 'C:\\t\\a.torrent', dir: 'D' }, 'a drive letter is not a separator');
  const magnet = 'magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&x.pe=127.0.0.1:1';
  assert.deepEqual(parseTorrentSpec('--get', magnet, 'D'), { src: magnet, dir: 'D' }, 'a magnet keeps its colons');
  usage(() => parseTorrentSpec('--seed', 'a.torrent:', 'D'), /empty data directory/);
  usage(() => parseTorrentSpec('--get', '', 'D'), /--get needs a torrent/);
});

test('property: T:dir round-trips for any path without a colon and any directory without one (drive letters aside)', () => {
  const seg = fc.stringMatching(/^[^:\0]{1,30}$/);
  fc.assert(fc.property(seg, fc.stringMatching(/^[^\0]{1,30}$/), (src, dir) => {
    fc.pre(!src.startsWith('magnet:') && !dir.includes(':'));
    // The one exception: "C:\…" reads as a drive letter.
    fc.pre(!(/^[A-Za-z]$/.test(src) && /^[\\/]/.test(dir)));
    assert.deepEqual(parseTorrentSpec('--seed', `${src}:${dir}`, 'D'), { src, dir });
    assert.deepEqual(parseTorrentSpec('--seed', src, 'D'), { src, dir: 'D' });
  }));
});

test('parseRatioTerms: S:C, cap, TTL; each piece of misuse is a usage error', () => {
  assert.equal(parseRatioTerms(undefined, undefined, undefined), undefined);
  assert.deepEqual(parseRatioTerms('1:1', undefined, undefined), { served: 1n, credit: 1n });
  assert.deepEqual(parseRatioTerms('2:1', '1G', '86400'), { served: 2n, credit: 1n, cap: 1024n ** 3n, ttlSeconds: 86400 });
  for (const bad of ['1', '0:1', '1:0', '-1:1', '1:1:1', 'a:b', '1.5:1', '']) usage(() => parseRatioTerms(bad, undefined, undefined), /bad --ratio/);
  usage(() => parseRatioTerms(undefined, '1G', undefined), /--ratio-cap needs --ratio/);
  usage(() => parseRatioTerms(undefined, undefined, '60'), /--ratio-ttl needs --ratio/);
  usage(() => parseRatioTerms('1:1', 'lots', undefined), /bad size 'lots'/);
  for (const bad of ['0', '-5', '1.5', 'soon', '1e3']) usage(() => parseRatioTerms('1:1', undefined, bad), /bad --ratio-ttl/);
});
