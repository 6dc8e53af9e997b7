/**
 * The journal lock across real processes: racing openers never both hold it, and a
 * SIGKILLed holder's lock is free for the next opener at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../payment/journal.js';

// The children run this repo's journal module (tsx for .ts, plain node for the compiled .js).
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const journalUrl = new URL(`../../payment/journal${ext}`, import.meta.url).href;
const execArgv = process.execArgv.filter((a) => !a.startsWith('--test'));

/** Start a child running `body` (an async module body) with `Journal`, `path`, `me` and `credit(i)` in scope. */
function child(path: string, me: string, body: string): ChildProcess {
  const code = `
    const { Journal } = await import(${JSON.stringify(journalUrl)});
    const path = ${JSON.stringify(path)};
    const me = ${JSON.stringify(me)};
    const credit = (i) => ({
      kind: 'credit', signature: (me + 'z' + i).replace(/[0OIl]/g, 'x').padEnd(88, 'A'), amount: 1n,
      payer: 'P'.repeat(44), sessionHash: 'ab'.repeat(32), infoHash: 'cd'.repeat(20), seller: 'S'.repeat(44), time: i,
    });
    // Say we are loaded and wait for the parent's go, so that the children start racing
    // together (a loaded machine may take longer to start one child than the other to finish).
    console.log('READY');
    await new Promise((go) => process.stdin.once('data', go));
    ${body}`;
  return spawn(process.execPath, [...execArgv, '--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Lines a child prints, as they come. */
function lines(c: ChildProcess): { next: () => Promise<string>; all: string[]; err: () => string } {
  const all: string[] = [];
  let buf = '';
  let err = '';
  const waiting: Array<(l: string) => void> = [];
  c.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      all.push(l);
      waiting.shift()?.(l);
    }
  });
  c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  let read = 0;
  const next = (): Promise<string> => {
    if (read < all.length) return Promise.resolve(all[read++]);
    return new Promise((resolve, reject) => {
      waiting.push((l) => { read++; resolve(l); });
      c.once('exit', () => reject(new Error(`child exited: ${err}`)));
    });
  };
  return { next, all, err: () => err };
}

const exited = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

test('two processes racing to open one journal, 30 times each: never both hold it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-lock-'));
  try {
    const path = join(dir, 'journal');
    const marker = join(dir, 'holder');
    const ROUNDS = 30;
    // Each child opens the journal, and while it holds it, owns an O_EXCL marker file:
    // if the other process ever held the journal at the same time, one of the two
    // exclusive creates would fail.
    const body = `
      const { open, unlink } = await import('node:fs/promises');
      let held = 0, refused = 0;
      while (held < ${ROUNDS}) {
        let j;
        try {
          j = await Journal.open(path, { compactAfterBytes: 0 });
        } catch (e) {
          if (e.code !== 'LOCKED') throw e;
          refused++;
          await new Promise((r) => setTimeout(r, Math.random() * 2));
          continue;
        }
        let m;
        try { m = await open(${JSON.stringify(marker)}, 'wx'); } catch { console.log('BOTH'); process.exit(3); }
        await j.append(credit(held));
        await new Promise((r) => setTimeout(r, Math.random() * 2));
        await m.close();
        await unlink(${JSON.stringify(marker)});
        await j.close();
        held++;
      }
      console.log(JSON.stringify({ held, refused }));`;
    const kids = ['a', 'b'].map((me) => child(path, me, body));
    const outs = kids.map(lines);
    for (const o of outs) assert.equal(await o.next(), 'READY');
    for (const k of kids) k.stdin!.end('go\n');
    const codes = await Promise.all(kids.map(exited));
    assert.deepEqual(codes, [0, 0], `children failed: ${outs.map((o) => o.all.join(' ') + o.err()).join(' | ')}`);
    const results = outs.map((o) => JSON.parse(o.all.at(-1)!) as { held: number; refused: number });
    assert.deepEqual(results.map((r) => r.held), [ROUNDS, ROUNDS]);
    assert.ok(results[0].refused + results[1].refused > 0, 'they did contend for the lock');
    // One writer at a time: all appends are there, none overwrote another.
    const j = await Journal.open(path, { compactAfterBytes: 0 });
    assert.equal(j.records().length, 2 * ROUNDS);
    assert.equal(j.summary().totals.earned, BigInt(2 * ROUNDS));
    await j.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a SIGKILLed holder: two processes race for its lock, exactly one gets it; five times over', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seedpay-lock-'));
  try {
    const path = join(dir, 'journal');
    // Open once; on success append, say so, and hold until killed; else say 'locked' and exit.
    const body = `
      try {
        const j = await Journal.open(path, { compactAfterBytes: 0 });
        await j.append(credit(Date.now() % 1e9));
        console.log('held');
        setInterval(() => {}, 1 << 30);
      } catch (e) {
        if (e.code !== 'LOCKED') throw e;
        console.log('locked');
        process.exit(0);
      }`;
    const first = child(path, 'first', body);
    const firstOut = lines(first);
    assert.equal(await firstOut.next(), 'READY');
    first.stdin!.end('go\n');
    assert.equal(await firstOut.next(), 'held');
    let holder = first;
    for (let round = 0; round < 5; round++) {
      holder.kill('SIGKILL'); // its lock is left behind, as a crash leaves it
      await exited(holder);
      const racers = ['r', 's'].map((me) => child(path, `${me}${round}`, body));
      const outs = racers.map(lines);
      for (const o of outs) assert.equal(await o.next(), 'READY');
      for (const r of racers) r.stdin!.end('go\n');
      const said = await Promise.all(outs.map((o) => o.next()));
      assert.deepEqual([...said].sort(), ['held', 'locked'], `round ${round}: ${said.join(', ')}`);
      holder = racers[said.indexOf('held')];
      await exited(racers[said.indexOf('locked')]);
    }
    holder.kill('SIGKILL');
    await exited(holder);
    const j = await Journal.open(path, { compactAfterBytes: 0 }); // recovered at once
    assert.equal(j.records().length, 6, 'every holder wrote, one at a time');
    await j.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
