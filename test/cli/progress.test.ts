/**
 * The progress display (lib/cli/progress.ts): off a terminal at most one line per
 * interval (PIPE_LINE_EVERY_MS, injected short here) and none that says nothing new,
 * the final line always; on a terminal redrawn in place; the line shows the peers
 * connected and extra fields such as the USDC a paid get spent so far.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { PIPE_LINE_EVERY_MS, ProgressBar, progressLine, type ProgressFigures } from '../../lib/cli/progress.js';

function stream(tty: boolean): { s: PassThrough & { isTTY?: boolean }; text: () => string } {
  const s: PassThrough & { isTTY?: boolean } = new PassThrough();
  if (tty) s.isTTY = true;
  let out = '';
  s.on('data', (d: Buffer) => { out += d.toString(); });
  return { s, text: () => out };
}

const fig = (have: number, peers = 1): ProgressFigures => ({ bytesHave: have, bytesTotal: 1000, downloaded: have, elapsedMs: 0, peers });

test('the line: bar, percentage, sizes, rate, peers and extra fields (paid: USDC spent)', () => {
  const l = progressLine({ bytesHave: 1024 * 1024, bytesTotal: 2 * 1024 * 1024, downloaded: 2e6, elapsedMs: 1000, peers: 2, extra: ['spent 0.000301 USDC'] });
  assert.equal(l, `[${'#'.repeat(15)}${'.'.repeat(15)}]  50.0% 1.0 MiB/2.0 MiB 2.0 MB/s, 2 peers, spent 0.000301 USDC`);
  assert.match(progressLine({ ...fig(0), peers: 1 }), /, 1 peer$/);
  assert.match(progressLine({ ...fig(0), bytesTotal: 0, peers: 0 }), /  0\.0% .*, 0 peers$/, 'unknown size (magnet): no division by zero');
});

test('off a terminal: at most one line per interval, none without news, the final line always', () => {
  assert.equal(PIPE_LINE_EVERY_MS, 5000);
  const { s, text } = stream(false);
  const clock = { now: 0 };
  const spent = { v: '0 USDC' };
  const bar = new ProgressBar(s, { pipeEveryMs: 50, now: () => clock.now, extra: () => [`spent ${spent.v}`] });
  // 10 draws per interval for 20 intervals, progress moving every draw: 20 lines, not 200.
  let have = 0;
  for (let i = 0; i < 200; i++) { clock.now = i * 5; bar.draw(fig(++have)); }
  const lines = text().split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 20);
  assert.ok(lines.every((l) => !l.includes('\r')), 'no carriage returns in a log');
  // Stalled: the progress not shown yet is one more line, then nothing however long.
  for (let i = 0; i < 100; i++) { clock.now += 100; bar.draw(fig(have)); }
  assert.equal(text().split('\n').filter((l) => l !== '').length, 21);
  // A payment is news.
  spent.v = '0.000301 USDC';
  clock.now += 100;
  bar.draw(fig(have));
  assert.match(text(), /spent 0\.000301 USDC\n$/);
  // The final line, forced, inside the interval and without news.
  bar.draw(fig(have), true);
  assert.equal(text().split('\n').filter((l) => l !== '').length, 23);
  bar.done();
  assert.equal(text().split('\n').filter((l) => l !== '').length, 23, 'done adds nothing off a terminal');
});

test('on a terminal: redrawn in place, a line above it wipes it first', () => {
  const { s, text } = stream(true);
  const clock = { now: 0 };
  const bar = new ProgressBar(s, { now: () => clock.now });
  bar.draw(fig(1));
  clock.now = 50;
  bar.draw(fig(2));
  assert.equal(text().split('\r').length - 1, 1, 'within 100 ms: not redrawn');
  clock.now = 150;
  bar.draw(fig(2));
  assert.equal((text().match(/\r\[/g) ?? []).length, 2, 'redrawn without news (the rate moves)');
  bar.line('peer 127.0.0.1:1 connected');
  assert.ok(text().endsWith('\r\x1b[Kpeer 127.0.0.1:1 connected\n'));
  bar.draw(fig(3));
  assert.equal((text().match(/\r\[/g) ?? []).length, 3, 'redrawn at once after a line');
  bar.done();
  assert.ok(text().endsWith('\n'));
});
