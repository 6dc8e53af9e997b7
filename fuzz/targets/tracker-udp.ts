/**
 * UDP tracker target: the input is a series of datagrams (2-byte length prefix each)
 * fed to a UdpExchange announce with time advancing between them; each datagram is also
 * parsed alone. Only TrackerErrors, and the exchange always ends once time runs out.
 */
import { TrackerError } from '../../discovery/errors.js';
import { parseUdpResponse } from '../../discovery/udp-packets.js';
import { UdpExchange } from '../../discovery/udp-exchange.js';
import { type FuzzTarget, type Record, check, concat, expectTyped } from '../target.js';

const typed = (e: unknown): boolean => e instanceof TrackerError;
const TID = 0x01020304;

function datagrams(input: Uint8Array): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let o = 0; o + 2 <= input.length;) {
    const n = (input[o] << 8) | input[o + 1];
    const end = Math.min(input.length, o + 2 + n);
    out.push({ start: o + 2, end });
    o = end;
  }
  return out;
}

function frame(b: Uint8Array): Uint8Array { return concat([new Uint8Array([b.length >> 8, b.length & 0xff]), b]); }

export const trackerUdpTarget: FuzzTarget = {
  name: 'tracker-udp',
  about: 'discovery/udp-exchange.ts an announce exchange fed hostile datagrams (and parseUdpResponse on each)',
  maxInputLength: 8 * 1024,
  run(input) {
    const x = new UdpExchange({
      kind: 'announce',
      request: { infoHash: new Uint8Array(20), peerId: new Uint8Array(20), port: 1, uploaded: 0, downloaded: 0, left: 1, event: 'started', numwant: 50, key: 1 },
    }, { transactionId: () => TID, maxRetransmits: 2, maxPeers: 100 });
    let now = 0;
    x.start(now);
    for (const { start, end } of datagrams(input)) {
      const d = input.subarray(start, end);
      const r = expectTyped('parseUdpResponse', () => parseUdpResponse(d, { maxPeers: 100 }), typed);
      if (r?.action === 'announce') check(r.response.peers.length * 6 === d.length - 20, 'announce peers do not fill the datagram exactly');
      const step = expectTyped('handleDatagram', () => x.handleDatagram(d, now), () => false)!;
      if (step.type === 'failed') check(step.error instanceof TrackerError, 'a failure that is not a TrackerError');
      now += d.length * 1000;
      expectTyped('handleTimeout', () => x.handleTimeout(now), () => false);
    }
    for (let i = 0; i < 5 && !x.isOver; i++) { now = x.nextTimeout() ?? now; x.handleTimeout(now); }
    check(x.isOver, 'the exchange outlived its retransmissions');
  },
  seeds() {
    const connect = new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 42]);
    const announce = new Uint8Array([0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2, 127, 0, 0, 1, 0x1a, 0xe1]);
    const error = new Uint8Array([0, 0, 0, 3, 1, 2, 3, 4, 0x6e, 0x6f]);
    const scrape = new Uint8Array([0, 0, 0, 2, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    return [concat([frame(connect), frame(announce)]), concat([frame(connect), frame(error)]), frame(scrape), frame(connect)];
  },
  records(input): Record[] {
    return datagrams(input).map(({ start, end }) => ({ start: start - 2, end, lenAt: start - 2, lenSize: 2 as const }));
  },
};
