/** HTTP announce URLs and answers (BEP 3, 7, 23, 48): exact lengths, bounds, only TrackerErrors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode } from '../../wire/bencode.js';
import { TrackerError } from '../../discovery/errors.js';
import {
  buildAnnounceUrl, buildScrapeUrl, parseAnnounceResponse, parseScrapeResponse, percentEncodeBytes, scrapeUrlOf,
} from '../../discovery/http-announce.js';
import { encodeCompactPeers } from '../../discovery/peers.js';
import type { AnnounceRequest } from '../../discovery/announce.js';

const hash = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const req: AnnounceRequest = {
  infoHash: hash, peerId: Buffer.from('-SY0100-abcdefghijkl'), port: 6881,
  uploaded: 10, downloaded: 20, left: 30, event: 'started', numwant: 50, key: 0xdeadbeef,
};

/** Percent-decoding of one query value to bytes (what a tracker does). */
function unescapeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') { out.push(parseInt(s.slice(i + 1, i + 3), 16)); i += 2; } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}

function query(url: string): Map<string, string> {
  return new Map(url.slice(url.indexOf('?') + 1).split('&').map((kv) => kv.split('=') as [string, string]));
}

test('announce URL: every field, bytes percent-encoded, an existing query kept', () => {
  const u = buildAnnounceUrl('http://t.example/announce?passkey=abc', { ...req, trackerId: Buffer.from('id 1') });
  assert.ok(u.startsWith('http://t.example/announce?passkey=abc&info_hash='));
  const q = query(u);
  assert.deepEqual(unescapeBytes(q.get('info_hash')!), hash);
  assert.equal(q.get('peer_id'), '-SY0100-abcdefghijkl');
  assert.equal(q.get('port'), '6881');
  assert.equal(q.get('uploaded'), '10');
  assert.equal(q.get('downloaded'), '20');
  assert.equal(q.get('left'), '30');
  assert.equal(q.get('compact'), '1');
  assert.equal(q.get('event'), 'started');
  assert.equal(q.get('numwant'), '50');
  assert.equal(q.get('key'), 'deadbeef');
  assert.equal(q.get('trackerid'), 'id%201');
  assert.ok(!query(buildAnnounceUrl('http://t/announce', { ...req, event: 'none' })).has('event'));
});

test('announce URL: our misuse is a BAD_ARGUMENT, never sent', () => {
  for (const bad of [{ infoHash: hash.subarray(1) }, { port: 70000 }, { left: -1 }, { uploaded: 1.5 }, { key: -1 }]) {
    assert.throws(() => buildAnnounceUrl('http://t/announce', { ...req, ...bad }), (e: unknown) => e instanceof TrackerError && e.code === 'BAD_ARGUMENT');
  }
});

test('percent-encoding round trip for any bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
    const s = percentEncodeBytes(b);
    assert.match(s, /^[A-Za-z0-9._~%-]*$/);
    assert.deepEqual(unescapeBytes(s), Buffer.from(b));
  }));
});

test('scrape URL (BEP 48): only when the last segment starts with "announce"', () => {
  assert.equal(scrapeUrlOf('http://t/announce'), 'http://t/scrape');
  assert.equal(scrapeUrlOf('http://t/x/announce.php?k=1'), 'http://t/x/scrape.php?k=1');
  assert.equal(scrapeUrlOf('http://t/a'), null);
  assert.equal(scrapeUrlOf('http://t/announce/x'), null);
  const u = buildScrapeUrl('http://t/scrape', [hash, hash]);
  assert.equal(u.split('info_hash=').length, 3);
});

const peers4 = [{ host: '127.0.0.2', port: 6881 }, { host: '10.1.2.3', port: 65535 }];
const peers6 = [{ host: '::1', port: 51413 }, { host: '2001:db8::ff00:42:8329', port: 1 }];

test('answer: compact peers and peers6, intervals, counts, tracker id, warning', () => {
  const body = encode({
    interval: 1800, 'min interval': 900, complete: 2, incomplete: 3, 'tracker id': Buffer.from('tid'),
    'warning message': 'careful\n', peers: encodeCompactPeers(peers4, 6), peers6: encodeCompactPeers(peers6, 18),
  });
  const r = parseAnnounceResponse(body);
  assert.equal(r.interval, 1800);
  assert.equal(r.minInterval, 900);
  assert.equal(r.complete, 2);
  assert.equal(r.incomplete, 3);
  assert.deepEqual(Buffer.from(r.trackerId!), Buffer.from('tid'));
  assert.equal(r.warning, 'careful ');
  assert.deepEqual(r.peers, [...peers4, ...peers6]);
});

test('answer: the dictionary peer list (BEP 3), host names included', () => {
  const body = encode({ interval: 60, peers: [{ ip: '127.0.0.9', port: 1, 'peer id': Buffer.alloc(20) }, { ip: 'peer.example', port: 2 }, { ip: '::1', port: 3 }] });
  assert.deepEqual(parseAnnounceResponse(body).peers, [{ host: '127.0.0.9', port: 1 }, { host: 'peer.example', port: 2 }, { host: '::1', port: 3 }]);
});

function code(f: () => unknown): string {
  try { f(); } catch (e) { assert.ok(e instanceof TrackerError, `not a TrackerError: ${String(e)}`); return e.code; }
  return 'OK';
}

test('answer: each hostile shape has its own code', () => {
  const p = (v: Parameters<typeof encode>[0]): string => code(() => parseAnnounceResponse(encode(v)));
  assert.equal(p({ 'failure reason': 'not authorized' }), 'TRACKER_FAILURE');
  assert.equal(p({ peers: Buffer.alloc(0) }), 'MISSING_KEY');
  assert.equal(p({ interval: 60 }), 'MISSING_KEY');
  assert.equal(p({ interval: -1, peers: Buffer.alloc(0) }), 'OUT_OF_RANGE');
  assert.equal(p({ interval: 'x', peers: Buffer.alloc(0) }), 'WRONG_TYPE');
  assert.equal(p({ interval: 60, peers: Buffer.alloc(7) }), 'BAD_COMPACT_LENGTH');
  assert.equal(p({ interval: 60, peers: Buffer.alloc(6), peers6: Buffer.alloc(17) }), 'BAD_COMPACT_LENGTH');
  assert.equal(p({ interval: 60, peers: Buffer.alloc(6 * 1001) }), 'TOO_MANY_PEERS');
  assert.equal(p({ interval: 60, peers: [{ ip: 'a b', port: 1 }] }), 'BAD_PEER');
  assert.equal(p({ interval: 60, peers: [{ ip: '1.2.3.4', port: 65536 }] }), 'BAD_PEER');
  assert.equal(p({ interval: 60, peers: [5] }), 'BAD_PEER');
  assert.equal(p({ interval: 60, peers: 5 }), 'WRONG_TYPE');
  assert.equal(p([1, 2]), 'NOT_A_DICT');
  assert.equal(code(() => parseAnnounceResponse(Buffer.from('d8:intervali60e5:peers0:'))), 'BAD_BENCODE');
  assert.equal(code(() => parseAnnounceResponse(Buffer.from('l'.repeat(10_000)))), 'BAD_BENCODE');
  assert.equal(code(() => parseAnnounceResponse(Buffer.alloc(600 * 1024))), 'TOO_LARGE');
  assert.equal(code(() => parseAnnounceResponse(encode({ interval: 60, peers: Buffer.alloc(60) }), { maxPeers: 9 })), 'TOO_MANY_PEERS');
});

test('property: compact peers round trip, any count within the cap', () => {
  const v4 = fc.record({ host: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) });
  fc.assert(fc.property(fc.array(v4, { maxLength: 200 }), fc.integer({ min: 0, max: 100_000 }), (ps, interval) => {
    const r = parseAnnounceResponse(encode({ interval, peers: encodeCompactPeers(ps, 6) }));
    assert.deepEqual(r.peers, ps.map((p) => ({ ...p })));
    assert.equal(r.interval, Math.min(interval, 86_400));
  }));
});

test('property: hostile bodies give an answer or a TrackerError, never more peers than the cap', () => {
  const bencodeish = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.array(fc.constantFrom('d', 'l', 'e', 'i', '1', '0', ':', '5', '6', '8:interval', '5:peers', '6:peers6', 'i60e', '6:abcdef', '4:port', '2:ip'), { maxLength: 60 })
      .map((xs) => Buffer.from(xs.join(''))),
  );
  fc.assert(fc.property(bencodeish, (b) => {
    try {
      const r = parseAnnounceResponse(b, { maxPeers: 20 });
      assert.ok(r.peers.length <= 20);
      for (const p of r.peers) assert.ok(p.port >= 0 && p.port <= 65535);
    } catch (e) {
      assert.ok(e instanceof TrackerError, String(e));
    }
  }), { numRuns: 3000 });
});

test('scrape answer: counts per info hash; bad keys and types refused', () => {
  const files = new Map([[hash.toString('latin1'), { complete: 1, downloaded: 2, incomplete: 3 }]]);
  const m = parseScrapeResponse(encode({ files }));
  assert.deepEqual(m.get(hash.toString('hex')), { complete: 1, downloaded: 2, incomplete: 3 });
  assert.equal(code(() => parseScrapeResponse(encode({ files: new Map([['short', { complete: 1 }]]) }))), 'OUT_OF_RANGE');
  assert.equal(code(() => parseScrapeResponse(encode({ nofiles: 1 }))), 'MISSING_KEY');
  assert.equal(code(() => parseScrapeResponse(encode({ 'failure reason': 'no' }))), 'TRACKER_FAILURE');
});
