/**
 * CI's short fuzz pass, part 2: a few thousand fast-check-generated inputs per target
 * (raw bytes, token soups and structure-aware mutations of the seeds), seeded so the
 * run is the same every time; plus checks that the machinery itself works: the seeds
 * still reach deep states, coverage guidance sees new blocks and grows the corpus, and
 * a planted bug is caught and minimized.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import vm from 'node:vm';
import { TARGETS } from '../../fuzz/targets/index.js';
import { type FuzzTarget, runOne } from '../../fuzz/target.js';
import { inputArbitrary } from '../../fuzz/arbitrary.js';
import { Coverage } from '../../fuzz/coverage.js';
import { fuzzTarget } from '../../fuzz/engine.js';
import { mutate } from '../../fuzz/mutate.js';
import { Rng } from '../../fuzz/target.js';
import { connectionTarget, lastConnRun } from '../../fuzz/targets/connection.js';
import { utMetadataTarget, lastUtRun } from '../../fuzz/targets/ut-metadata.js';
import { judgeError } from '../../fuzz/targets/conn-driver.js';
import { WireError } from '../../wire/errors.js';
import { UtMetadataError } from '../../extensions/ut-metadata-codec.js';

/** Slow targets (a whole connection per input) get fewer runs so the file stays well under 30 s. */
const RUNS: { [name: string]: number } = { connection: 600, 'ut-metadata': 500, framer: 800 };

for (const t of TARGETS) {
  test(`${t.name}: seeded short pass`, () => {
    const seeds = t.seeds();
    fc.assert(fc.property(inputArbitrary(t, () => seeds), (input) => {
      const f = runOne(t, input);
      if (f !== null) throw new Error(`${f.signature}\n${f.stack}`);
    }), { seed: 0x5eed, numRuns: RUNS[t.name] ?? 2000 });
  });
}

test('seeds reach deep states (so mutations start from there)', () => {
  const conn = connectionTarget.seeds().map((s) => { connectionTarget.run(s); return lastConnRun.events; });
  for (const ev of ['handshake', 'extended_handshake', 'bitfield', 'request', 'piece', 'allowed_fast', 'choke', 'handshake_info_hash', 'reject', 'suggest', 'request_timeout', 'cancel']) {
    assert.ok(conn.some((e) => e.includes(ev)), `no connection seed reaches '${ev}'`);
  }
  const completes = utMetadataTarget.seeds().filter((s) => { utMetadataTarget.run(s); return lastUtRun.complete; });
  assert.ok(completes.length >= 2, 'ut_metadata seeds no longer complete a metadata fetch');
});

test('mutations stay within the target bound and are deterministic by seed', () => {
  for (const t of TARGETS) {
    const seeds = t.seeds();
    for (let i = 0; i < 50; i++) {
      const a = mutate(seeds[i % seeds.length], { rng: new Rng(i + 1), corpus: seeds, target: t }, 8);
      const b = mutate(seeds[i % seeds.length], { rng: new Rng(i + 1), corpus: seeds, target: t }, 8);
      assert.ok(a.length <= t.maxInputLength);
      assert.deepEqual(a, b);
    }
  }
});

test('coverage guidance: new blocks are seen, and the corpus grows from them', () => {
  // V8 adds block counters only to code compiled after coverage started (functions
  // compiled earlier report whole-function counts), which is why run.ts starts coverage
  // before importing the targets. Here the probe is compiled after start().
  const cov = new Coverage((url) => url === 'fuzz-coverage-probe.js');
  cov.start();
  try {
    const probe = vm.runInThisContext(`(function (b) {
      if (b.length > 0 && b[0] === 0x61) {
        if (b.length > 1 && b[1] === 0x62) {
          if (b.length > 2 && b[2] === 0x63) { return 3; }
          return 2;
        }
        return 1;
      }
      return 0;
    })`, { filename: 'fuzz-coverage-probe.js' }) as (b: Uint8Array) => number;
    probe(new Uint8Array([0x7a]));
    cov.add(cov.fresh());
    probe(new Uint8Array([0x7a]));
    assert.equal(cov.fresh().length, 0, 'the same input reached new blocks');
    probe(new Uint8Array([0x61]));
    assert.ok(cov.fresh().length > 0, 'a new branch was not seen');

    let deepest = 0;
    const target: FuzzTarget = {
      name: 'probe', about: 'nested byte checks', maxInputLength: 16,
      run(b) { deepest = Math.max(deepest, probe(b)); },
      seeds: () => [new Uint8Array([0x7a])],
    };
    const corpus = target.seeds();
    const rep = fuzzTarget(target, corpus, { ms: 60_000, maxRuns: 3000, seed: 11, coverage: cov, batch: 32 });
    assert.equal(rep.failures.length, 0);
    assert.ok(rep.added.length >= 2, `only ${rep.added.length} inputs joined the corpus`);
    assert.ok(corpus.some((c) => probe(c) >= 2), 'the corpus did not keep an input two branches deep');
  } finally {
    cov.stop();
  }
});

test('a planted bug is caught, deduplicated and minimized', () => {
  const planted: FuzzTarget = {
    name: 'planted', about: 'throws a TypeError on 0xAB 0xCD', maxInputLength: 256,
    run(input) {
      for (let i = 0; i + 1 < input.length; i++) {
        if (input[i] === 0xab && input[i + 1] === 0xcd) throw new TypeError('planted');
      }
    },
    seeds: () => [new Uint8Array([1, 2, 0xab, 3, 4, 5, 6, 7, 8])],
    dictionary: [new Uint8Array([0xcd])],
  };
  const rep = fuzzTarget(planted, planted.seeds(), { ms: 60_000, maxRuns: 3000, seed: 3 });
  assert.equal(rep.failures.length, 1);
  const f = rep.failures[0];
  assert.match(f.signature, /^TypeError: planted/);
  assert.deepEqual([...f.input], [0xab, 0xcd]);
});

test('connection targets tell a typed error event from a crash wrapped as one', () => {
  // PeerConnection turns a stray exception into ILLEGAL_STATE "internal error", and a
  // hook's non-typed throw into EXTENSION_ERROR "extension hook failed": both are bugs.
  assert.throws(() => judgeError(new WireError('ILLEGAL_STATE', 'internal error: x is undefined', false)), /non-typed exception/);
  assert.throws(() => judgeError(new WireError('EXTENSION_ERROR', 'extension hook failed: boom')), /hook threw a non-typed/);
  assert.throws(() => judgeError(new TypeError('boom')), /error event carries/);
  judgeError(new WireError('BAD_MESSAGE_SIZE', 'have frame is 4 bytes'));
  judgeError(new UtMetadataError('BAD_METADATA_MESSAGE', 'not a dictionary'));
});
