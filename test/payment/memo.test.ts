import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { MAX_MEMO_BYTES, MemoError, buildMemo, buildMemoBytes, parseMemo, type MemoParseResult } from '../../payment/memo.js';

// Next to this file when run from source (tsx); when run compiled from dist/test/payment,
// tsc has not copied the JSON, so read the source copy at <repo>/test/payment.
function vectorsText(): string {
  for (const rel of ['./seedpay-vectors.json', '../../../test/payment/seedpay-vectors.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return readFileSync(url, 'utf8');
  }
  throw new Error('seedpay-vectors.json not found next to the test or in <repo>/test/payment');
}

const V = JSON.parse(vectorsText()) as { memo_utf8: string; session_hash_hex: string };
const HASH = V.session_hash_hex;

const reason = (r: MemoParseResult): string => (r.ok ? 'ok' : r.reason);

test('buildMemo reproduces the vectors memo byte for byte', () => {
  assert.equal(buildMemo(HASH, 1_795_000_000_000), V.memo_utf8);
  assert.deepEqual(buildMemoBytes(HASH, 1_795_000_000_000), new TextEncoder().encode(V.memo_utf8));
});

test('buildMemo refuses bad arguments (typed)', () => {
  assert.throws(() => buildMemo(HASH.toUpperCase(), 1), (e: unknown) => e instanceof MemoError && e.code === 'BAD_SESSION_HASH');
  assert.throws(() => buildMemo(HASH.slice(1), 1), (e: unknown) => e instanceof MemoError && e.code === 'BAD_SESSION_HASH');
  assert.throws(() => buildMemo(HASH, -1), (e: unknown) => e instanceof MemoError && e.code === 'BAD_NONCE');
  assert.throws(() => buildMemo(HASH, 1.5), (e: unknown) => e instanceof MemoError && e.code === 'BAD_NONCE');
  assert.throws(() => buildMemo(HASH, 2 ** 53), (e: unknown) => e instanceof MemoError && e.code === 'BAD_NONCE');
});

test('parseMemo accepts the vectors memo (text and bytes)', () => {
  for (const input of [V.memo_utf8, new TextEncoder().encode(V.memo_utf8)]) {
    const r = parseMemo(input);
    assert.ok(r.ok);
    assert.deepEqual(r.memo, { protocol: 'seedpay', version: '1.0', sessionHash: HASH, nonce: 1_795_000_000_000 });
    assert.equal(r.canonical, true);
  }
  const spaced = parseMemo(`{ "nonce": 5, "session_hash": "${HASH}", "version": "1.0", "protocol": "seedpay" }`);
  assert.ok(spaced.ok && spaced.canonical === false && spaced.memo.nonce === 5);
});

test('parseMemo: each rejection reason', () => {
  const m = (o: Record<string, unknown>): string => JSON.stringify({ protocol: 'seedpay', version: '1.0', session_hash: HASH, nonce: 1, ...o });
  assert.equal(reason(parseMemo('x'.repeat(MAX_MEMO_BYTES + 1))), 'too_long');
  assert.equal(reason(parseMemo(new Uint8Array(MAX_MEMO_BYTES + 1))), 'too_long');
  assert.equal(reason(parseMemo('é'.repeat(MAX_MEMO_BYTES / 2 + 1))), 'too_long'); // short in UTF-16, long in UTF-8
  assert.equal(reason(parseMemo(new Uint8Array([0x7b, 0xff, 0x7d]))), 'not_utf8');
  assert.equal(reason(parseMemo('hello')), 'not_json');
  assert.equal(reason(parseMemo('')), 'not_json');
  assert.equal(reason(parseMemo('[1,2]')), 'not_json');
  assert.equal(reason(parseMemo('null')), 'not_json');
  assert.equal(reason(parseMemo('"seedpay"')), 'not_json');
  assert.equal(reason(parseMemo('{"protocol":"other","version":"1.0"}')), 'not_seedpay');
  assert.equal(reason(parseMemo('{}')), 'not_seedpay');
  assert.equal(reason(parseMemo(m({ protocol: 'SeedPay' }))), 'not_seedpay');
  assert.equal(reason(parseMemo(m({ version: '2.0' }))), 'bad_version');
  assert.equal(reason(parseMemo(m({ version: 1 }))), 'bad_version');
  assert.equal(reason(parseMemo(m({ session_hash: HASH.toUpperCase() }))), 'bad_hash');
  assert.equal(reason(parseMemo(m({ session_hash: HASH + '0' }))), 'bad_hash');
  assert.equal(reason(parseMemo(m({ session_hash: undefined }))), 'bad_hash');
  assert.equal(reason(parseMemo(m({ session_hash: 12 }))), 'bad_hash');
  assert.equal(reason(parseMemo(m({ nonce: -1 }))), 'bad_nonce');
  assert.equal(reason(parseMemo(m({ nonce: '1' }))), 'bad_nonce');
  assert.equal(reason(parseMemo(m({ nonce: 1.5 }))), 'bad_nonce');
  assert.equal(reason(parseMemo(m({ nonce: undefined }))), 'bad_nonce');
  assert.equal(reason(parseMemo(m({ nonce: 1e300 }))), 'bad_nonce');
  assert.equal(reason(parseMemo(m({ peer_id: 'abc' }))), 'unknown_key');
});

test('property: build then parse round-trips', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (h, nonce) => {
    const hash = Buffer.from(h).toString('hex');
    const r = parseMemo(buildMemo(hash, nonce));
    assert.ok(r.ok && r.canonical);
    assert.equal(r.memo.sessionHash, hash);
    assert.equal(r.memo.nonce, nonce);
  }), { numRuns: 300 });
});

test('property: arbitrary bytes and JSON never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
    parseMemo(b);
  }), { numRuns: 300 });
  fc.assert(fc.property(fc.json(), (s) => {
    const r = parseMemo(s);
    if (r.ok) assert.match(r.memo.sessionHash, /^[0-9a-f]{64}$/);
  }), { numRuns: 300 });
});
