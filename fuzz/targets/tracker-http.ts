/**
 * HTTP tracker answer target: parseAnnounceResponse (and parseScrapeResponse) on the
 * input as a body give an answer or a TrackerError; an answer holds at most the peer
 * cap, valid ports, and its compact IPv4 peers re-encode to bytes that parse the same.
 */
import { TrackerError } from '../../discovery/errors.js';
import { parseAnnounceResponse, parseScrapeResponse } from '../../discovery/http-announce.js';
import { encodeCompactPeers, parseIpv4 } from '../../discovery/peers.js';
import { encode } from '../../wire/bencode.js';
import { type FuzzTarget, ascii, check, expectTyped } from '../target.js';

const MAX_PEERS = 64;
const typed = (e: unknown): boolean => e instanceof TrackerError;

export const trackerHttpTarget: FuzzTarget = {
  name: 'tracker-http',
  about: 'discovery/http-announce.ts parseAnnounceResponse / parseScrapeResponse on a hostile body',
  maxInputLength: 16 * 1024,
  run(input) {
    const r = expectTyped('parseAnnounceResponse', () => parseAnnounceResponse(input, { maxPeers: MAX_PEERS, maxBytes: 8 * 1024 }), typed);
    if (r !== undefined) {
      check(r.peers.length <= MAX_PEERS, `${r.peers.length} peers over the cap`);
      check(Number.isInteger(r.interval) && r.interval >= 0 && r.interval <= 86_400, `interval ${r.interval}`);
      for (const p of r.peers) check(Number.isInteger(p.port) && p.port >= 0 && p.port <= 65535, `port ${p.port}`);
      const v4 = r.peers.filter((p) => parseIpv4(p.host) !== null);
      const again = parseAnnounceResponse(encode({ interval: r.interval, peers: encodeCompactPeers(v4, 6) }));
      check(JSON.stringify(again.peers) === JSON.stringify(v4), 'IPv4 peers do not survive a compact round trip');
    }
    expectTyped('parseScrapeResponse', () => parseScrapeResponse(input, { maxBytes: 8 * 1024 }), typed);
  },
  seeds() {
    return [
      'd8:completei1e10:incompletei2e8:intervali1800e12:min intervali900e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e',
      'd8:intervali60e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eeee',
      'd8:intervali60e5:peers0:6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e',
      'd14:failure reason17:not authorized!!e',
      'd5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1e10:downloadedi2e10:incompletei3eeee',
      'd8:intervali60e10:tracker id3:abc15:warning message4:slow5:peers0:e',
    ].map(ascii);
  },
  dictionary: ['d', 'e', 'l', 'i0e', '8:interval', '12:min interval', '5:peers', '6:peers6', '2:ip', '4:port', '14:failure reason', '5:files', '10:tracker id', '6:', '18:'].map(ascii),
};
